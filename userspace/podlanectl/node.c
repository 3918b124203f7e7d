// SPDX-License-Identifier: GPL-2.0-only
/*
 * node.c - `podlanectl node add|del|list`: the other nodes of the cluster whose pod CIDRs this
 * node routes to (api.h ops node_add, node_del, node_list). With a control plane (etcd sync)
 * the agent learns them itself; these commands are for standalone clusters and for looking.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "ctl.h"

static const char node_usage[] =
	"Usage: podlanectl [--socket PATH] [--json] node COMMAND\n"
	"\n"
	"Commands:\n"
	"  add NAME NODE_IP POD_CIDR   route POD_CIDR to node NAME at NODE_IP (replaces NAME)\n"
	"  del NAME...                 forget nodes and their routes\n"
	"  list                        the nodes this node routes to\n"
	"\n"
	"How packets get there is the agent's --routing: direct (FIB lookup for NODE_IP out of\n"
	"the uplink) or vxlan (encapsulated to NODE_IP through the agent's vxlan device).\n";

/* Parse -s/-p/-j/-h anywhere; leaves the positional arguments in argv[optind..]. */
static int node_opts(int argc, char **argv, struct ctl_opts *o, const char *hint)
{
	static const struct option opts[] = {
		{ "socket",	required_argument, NULL, 's' },
		{ "pin-root",	required_argument, NULL, 'p' },
		{ "json",	no_argument,	   NULL, 'j' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ NULL }
	};
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:p:jh", opts, NULL)) != -1) {
		if (common_opt(c, o))
			continue;
		switch (c) {
		case 'h':
			fputs(node_usage, stdout);
			return -1;
		default:
			return opt_error(c, hint, argv);
		}
	}
	return 0;
}

/* One request with fields; prints the agent's reason on failure. */
static int node_call(const struct ctl_opts *o, struct json_object *req, struct json_object **reply)
{
	struct json_object *v;
	char why[256];
	int rc;

	rc = api_call(o->socket_path, req, reply, 10000, why, sizeof(why));
	if (rc < 0) {
		fprintf(stderr, "podlanectl: cannot reach podlaned at %s: %s; is it running? "
			"(--socket)\n", o->socket_path, rc == -EPROTO ? why : strerror(-rc));
		return 1;
	}
	if (!json_object_object_get_ex(*reply, "ok", &v) || !json_object_get_boolean(v)) {
		fprintf(stderr, "podlanectl: podlaned refused '%s': %s\n",
			ctl_str(req, "op", "?"), ctl_str(*reply, "msg", "no reason given"));
		json_object_put(*reply);
		*reply = NULL;
		return 1;
	}
	json_object_object_del(*reply, "ok");
	return 0;
}

static void print_json(struct json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						       JSON_C_TO_STRING_SPACED |
						       JSON_C_TO_STRING_NOSLASHESCAPE));
}

static int node_add(struct ctl_opts *o, int argc, char **argv)
{
	struct json_object *req, *reply = NULL;
	int rc = node_opts(argc, argv, o, "podlanectl node add");

	if (rc)
		return rc < 0 ? 0 : rc;
	if (argc - optind != 3)
		return usage_error("podlanectl node add", "'node add' wants NAME NODE_IP POD_CIDR");
	req = json_object_new_object();
	json_object_object_add(req, "op", json_object_new_string(PODLANE_OP_NODE_ADD));
	json_object_object_add(req, "name", json_object_new_string(argv[optind]));
	json_object_object_add(req, "node_ip", json_object_new_string(argv[optind + 1]));
	json_object_object_add(req, "pod_cidr", json_object_new_string(argv[optind + 2]));
	rc = node_call(o, req, &reply);
	json_object_put(req);
	if (rc)
		return rc;
	if (o->json)
		print_json(reply);
	else
		printf("node %s %s (%s via %s, %s routing)\n", argv[optind],
		       json_object_get_boolean(json_object_object_get(reply, "changed")) ?
		       "added" : "unchanged", argv[optind + 2], argv[optind + 1],
		       ctl_str(json_object_object_get(reply, "node"), "routing", "?"));
	json_object_put(reply);
	return 0;
}

static int node_del(struct ctl_opts *o, int argc, char **argv)
{
	struct json_object *req, *reply = NULL;
	int rc = node_opts(argc, argv, o, "podlanectl node del"), i, failed = 0;

	if (rc)
		return rc < 0 ? 0 : rc;
	if (optind >= argc)
		return usage_error("podlanectl node del", "'node del' wants at least one NAME");
	for (i = optind; i < argc; i++) {
		req = json_object_new_object();
		json_object_object_add(req, "op", json_object_new_string(PODLANE_OP_NODE_DEL));
		json_object_object_add(req, "name", json_object_new_string(argv[i]));
		rc = node_call(o, req, &reply);
		json_object_put(req);
		if (rc) {
			failed = 1;
			continue;
		}
		if (o->json)
			print_json(reply);
		else
			printf("node %s %s\n", argv[i],
			       json_object_get_boolean(json_object_object_get(reply, "removed")) ?
			       "removed" : "not found (nothing to do)");
		json_object_put(reply);
	}
	return failed;
}

static int node_list(struct ctl_opts *o, int argc, char **argv)
{
	static const char *const head[] = { "NAME", "NODE-IP", "POD-CIDR", "ROUTING",
					    "INSTALLED" };
	struct json_object *req, *reply = NULL, *nodes;
	struct table t;
	size_t i;
	int rc = node_opts(argc, argv, o, "podlanectl node list");

	if (rc)
		return rc < 0 ? 0 : rc;
	if (optind < argc)
		return usage_error("podlanectl node list", "unexpected argument '%s'",
				   argv[optind]);
	req = json_object_new_object();
	json_object_object_add(req, "op", json_object_new_string(PODLANE_OP_NODE_LIST));
	rc = node_call(o, req, &reply);
	json_object_put(req);
	if (rc)
		return rc;
	if (o->json) {
		print_json(reply);
		json_object_put(reply);
		return 0;
	}
	printf("this node: %s, %s routing%s%s\n", ctl_str(reply, "node_name", "?"),
	       ctl_str(reply, "routing", "?"),
	       json_object_object_get(reply, "vxlan_dev") ? " through " : "",
	       ctl_str(reply, "vxlan_dev", ""));
	table_init(&t, 5, head);
	if (json_object_object_get_ex(reply, "nodes", &nodes) &&
	    json_object_is_type(nodes, json_type_array)) {
		for (i = 0; i < json_object_array_length(nodes); i++) {
			struct json_object *n = json_object_array_get_idx(nodes, i);
			struct json_object *inst = json_object_object_get(n, "installed");
			bool installed = json_object_get_boolean(inst);

			table_add(&t, (const char *const[]){
				ctl_str(n, "name", "-"), ctl_str(n, "node_ip", "-"),
				ctl_str(n, "pod_cidr", "-"), ctl_str(n, "routing", "-"),
				installed ? "yes" : "no" });
		}
	}
	table_print(&t);
	table_free(&t);
	json_object_put(reply);
	return 0;
}

int cmd_node(struct ctl_opts *o, int argc, char **argv)
{
	const char *hint = "podlanectl node";

	if (argc < 2)
		return usage_error(hint, "'node' needs a subcommand (add, del, list)");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(node_usage, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "add"))
		return node_add(o, argc - 1, argv + 1);
	if (!strcmp(argv[1], "del") || !strcmp(argv[1], "delete") || !strcmp(argv[1], "rm"))
		return node_del(o, argc - 1, argv + 1);
	if (!strcmp(argv[1], "list") || !strcmp(argv[1], "ls"))
		return node_list(o, argc - 1, argv + 1);
	if (argv[1][0] == '-')
		return usage_error(hint, "unknown option '%s'", argv[1]);
	return usage_error(hint, "unknown node command '%s'", argv[1]);
}
