// SPDX-License-Identifier: GPL-2.0-only
/*
 * podlanectl - the operator's view of a node's podlane dataplane: the global options and the
 * dispatch to a command (commands.h). Most commands ask podlaned over its local API; drops
 * reads the pinned maps directly (pinned.c), and monitor does when the agent is down, so they
 * still work then.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "ctl.h"
#include "podlane.h"

static const char main_usage[] =
	"Usage: podlanectl [OPTIONS] COMMAND [COMMAND OPTIONS]\n"
	"\n"
	"Inspect podlane, the node dataplane for pods.\n"
	"\n"
	"Commands:\n"
	"  status           agent version, pin root, uplink, kernel features, programs, endpoints\n"
	"  endpoint list    pods on this node: addresses, interfaces, netns, counters, drops\n"
	"  drops            node-wide drop counters by reason (pinned map, no agent needed)\n"
	"  monitor          print each dropped packet as it happens (through podlaned, or the\n"
	"                   pinned ring buffer when it is down)\n"
	"  observe          the flow log: policy verdicts naming pods, policy and rule; drops\n"
	"  top              pods by CPU, run-queue delay, memory or traffic, refreshed in place\n"
	"  hints            node and pod pressure scores (0 idle .. 100 saturated)\n"
	"                   --cluster: every node as the scheduler extender scores it\n"
	"  recommend        CPU and memory request recommendations per pod (VPA's formula)\n"
	"  service          add, delete and list services (ClusterIP, NodePort, external IPs)\n"
	"  node             add, delete and list the other nodes and their pod CIDRs\n"
	"  policy           add, delete and list Kubernetes NetworkPolicies\n"
	"  pod              label pods, set their named ports, list them with their isolation\n"
	"  namespace        label namespaces (what namespaceSelectors select), list them\n"
	"  sync status      the control-plane sync with etcd: state, revision, lease, latency\n"
	"  deadletters      store records the sync refused, with the reason\n"
	"\n"
	"Options (also accepted after the command):\n"
	"  -s, --socket PATH    podlaned's API socket (default " PODLANE_SOCKET ")\n"
	"  -p, --pin-root PATH  BPF pin root for drops/monitor (default " PODLANE_PIN_ROOT ")\n"
	"  -j, --json           print JSON instead of tables\n"
	"  -h, --help           this help; 'podlanectl COMMAND --help' for one command\n"
	"\n"
	"Exit status: 0 ok, 1 the operation failed (e.g. agent unreachable), 2 usage error.\n";

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket",	required_argument, NULL, 's' },
		{ "pin-root",	required_argument, NULL, 'p' },
		{ "json",	no_argument,	   NULL, 'j' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ NULL }
	};
	struct ctl_opts o = {
		.socket_path = PODLANE_SOCKET,
		.pin_root = PODLANE_PIN_ROOT,
	};
	const char *cmd;
	int c;

	opterr = 0;
	/* '+': stop at the command so its own options are parsed by the command. */
	while ((c = getopt_long(argc, argv, "+:s:p:jh", opts, NULL)) != -1) {
		if (common_opt(c, &o))
			continue;
		switch (c) {
		case 'h':
			fputs(main_usage, stdout);
			return 0;
		default:
			return opt_error(c, "podlanectl", argv);
		}
	}
	if (optind >= argc)
		return usage_error("podlanectl", "no command given");
	cmd = argv[optind];
	argc -= optind;
	argv += optind;

	if (!strcmp(cmd, "status"))
		return cmd_status(&o, argc, argv);
	if (!strcmp(cmd, "endpoint") || !strcmp(cmd, "endpoints") || !strcmp(cmd, "ep"))
		return cmd_endpoint(&o, argc, argv);
	if (!strcmp(cmd, "drops"))
		return cmd_drops(&o, argc, argv);
	if (!strcmp(cmd, "monitor"))
		return cmd_monitor(&o, argc, argv);
	if (!strcmp(cmd, "observe"))
		return cmd_observe(&o, argc, argv);
	if (!strcmp(cmd, "top"))
		return cmd_top(&o, argc, argv);
	if (!strcmp(cmd, "hints"))
		return cmd_hints(&o, argc, argv);
	if (!strcmp(cmd, "recommend"))
		return cmd_recommend(&o, argc, argv);
	if (!strcmp(cmd, "service") || !strcmp(cmd, "services") || !strcmp(cmd, "svc"))
		return cmd_service(&o, argc, argv);
	if (!strcmp(cmd, "node") || !strcmp(cmd, "nodes"))
		return cmd_node(&o, argc, argv);
	if (!strcmp(cmd, "policy") || !strcmp(cmd, "policies") || !strcmp(cmd, "netpol"))
		return cmd_policy(&o, argc, argv);
	if (!strcmp(cmd, "pod") || !strcmp(cmd, "pods"))
		return cmd_pod(&o, argc, argv);
	if (!strcmp(cmd, "namespace") || !strcmp(cmd, "namespaces") || !strcmp(cmd, "ns"))
		return cmd_namespace(&o, argc, argv);
	if (!strcmp(cmd, "sync"))
		return cmd_sync(&o, argc, argv);
	if (!strcmp(cmd, "deadletters"))
		return cmd_deadletters(&o, argc, argv);
	if (!strcmp(cmd, "help")) {
		fputs(main_usage, stdout);
		return 0;
	}
	return usage_error("podlanectl", "unknown command '%s'", cmd);
}
