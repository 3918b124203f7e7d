// SPDX-License-Identifier: GPL-2.0-only
/*
 * observe.c - `podlanectl observe`: the flow log podlaned keeps (userspace/podlaned/flows/),
 * with the filters Hubble's users know, filtered on the agent's side: network policy verdicts
 * naming the pods, the policy and the rule behind each, and the other drops. A listing comes
 * page by page (flow_list); -f follows the stream the agent sends. Lost records are printed
 * where they were lost, never left out silently.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "ctl.h"

static const char observe_usage[] =
	"Usage: podlanectl [--socket PATH] observe [FILTERS] [--last N] [-f] [-o json]\n"
	"\n"
	"The flow log podlaned keeps: every network policy verdict (allowed: once per new\n"
	"connection and isolated direction; denied: every packet) and every other dropped\n"
	"packet, oldest first. Each record: time, verdict, drop reason, addresses and ports,\n"
	"protocol, the pod (namespace/name) on each side (or node, remote-node, world, the\n"
	"address), the direction judged, and the policy and rule that allowed or denied it.\n"
	"\n"
	"Filters (all must match):\n"
	"  --verdict V          allowed, denied (by network policy) or dropped (other reasons)\n"
	"  --from-pod NS/NAME   the source pod          --to-pod NS/NAME  the destination pod\n"
	"  --namespace NS       a pod of NS on either side\n"
	"  --ip A.B.C.D         either address           --port N          either port\n"
	"  --protocol P         tcp, udp, sctp, icmp or a number\n"
	"Output:\n"
	"  --last N             the last N matching records (default 20; with -f: none)\n"
	"  -f, --follow         then print records as they come, until interrupted\n"
	"  -t, --timeout S      stop following after S seconds\n"
	"  -o json (or --json)  one JSON object per line, as the agent sent it\n"
	"\n"
	"Records lost on the way are printed as 'lost N records: <where>': the datapath's ring\n"
	"buffer was full (per CPU), or the flow log (podlaned --flow-log-size) dropped them\n"
	"before they were read. The log lives in podlaned's memory: it starts empty when the\n"
	"agent starts, with what the datapath queued while it was down.\n";

enum {
	OPT_VERDICT = 256,
	OPT_FROM_POD,
	OPT_TO_POD,
	OPT_NAMESPACE,
	OPT_IP,
	OPT_PORT,
	OPT_PROTOCOL,
	OPT_LAST,
};

struct observe {
	const struct ctl_opts *o;
	bool json;
	int64_t told_datapath;		/* the datapath losses already printed (or the baseline) */
	int64_t told_stream;
	bool baseline;
};

static volatile int observe_stop;

static void on_signal(int sig)
{
	(void)sig;
	observe_stop = 1;
}

static bool number_opt(const char *arg, long long max, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(arg, &end, 10);
	if (errno || *end || !*arg || *arg == '-' || v > max)
		return false;
	*out = v;
	return true;
}

/* "ns/name (ip:port)", or "ip:port" alone when the side has no name. */
static void side(char *buf, size_t len, const char *name, const char *ip, bool has_port,
		 int64_t port)
{
	char addr[64];

	if (has_port)
		snprintf(addr, sizeof(addr), "%s:%" PRId64, ip, port);
	else
		snprintf(addr, sizeof(addr), "%s", ip);
	if (!strcmp(name, ip))
		snprintf(buf, len, "%s", addr);
	else
		snprintf(buf, len, "%s (%s)", name, addr);
}

static void print_flow(const struct observe *ob, const struct api_flow *f,
		       struct json_object *raw)
{
	char when[32], src[400], dst[400], verdict[16];
	time_t sec = f->time_ns / 1000000000;
	struct tm tm;
	size_t i;

	if (ob->json) {
		printf("%s\n", json_object_to_json_string_ext(raw, JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE));
		return;
	}
	localtime_r(&sec, &tm);
	strftime(when, sizeof(when), "%b %d %H:%M:%S", &tm);
	side(src, sizeof(src), f->src, f->src_ip, f->has_src_port, f->src_port);
	side(dst, sizeof(dst), f->dst, f->dst_ip, f->has_dst_port, f->dst_port);
	for (i = 0; f->verdict[i] && i < sizeof(verdict) - 1; i++)
		verdict[i] = f->verdict[i] >= 'a' && f->verdict[i] <= 'z' ?
			     f->verdict[i] - 'a' + 'A' : f->verdict[i];
	verdict[i] = '\0';
	printf("%s.%06" PRId64 " %-7s %s -> %s %s", when, (f->time_ns % 1000000000) / 1000,
	       verdict, src, dst, f->protocol);
	if (f->direction)
		printf(" %s", f->direction);
	if (f->reason && strcmp(f->verdict, "dropped"))
		printf(" %s", f->reason);
	if (!strcmp(f->verdict, "dropped"))
		printf(" %s (%s if%" PRId64 ")\n", f->reason, f->hook, f->ifindex);
	else
		printf(": %s\n", f->summary);
}

static void print_lost(const struct observe *ob, int64_t n, const char *why,
		       const struct api_flow_lost *l)
{
	size_t i;

	if (n <= 0)
		return;
	if (ob->json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "lost", json_object_new_int64(n));
		json_object_object_add(o, "why", json_object_new_string(why));
		if (l) {
			struct json_object *c = json_object_new_object();

			for (i = 0; i < l->n_datapath_cpus; i++) {
				const struct api_count *n = &l->datapath_cpus[i];

				json_object_object_add(c, n->key, json_object_new_int64(n->value));
			}
			json_object_object_add(o, "datapath_cpus", c);
		}
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
		return;
	}
	printf("lost %" PRId64 " records: %s", n, why);
	if (l) {
		printf(" (total per CPU:");
		for (i = 0; i < l->n_datapath_cpus; i++)
			printf(" cpu%s %" PRId64, l->datapath_cpus[i].key,
			       l->datapath_cpus[i].value);
		printf(")");
	}
	printf("\n");
}

static const char *const datapath_why = "the datapath's ring buffer was full";

/* One message: its records, then what was lost since the last one. */
static int on_message(const struct api_flow_list_reply *r, void *data)
{
	struct observe *ob = data;
	struct json_object *arr = NULL;
	size_t i;

	if (ob->json && r->n_flows) {
		/* The records as the agent sent them: encode the decoded reply again. */
		struct json_object *all = api_flow_list_reply_encode(r);

		json_object_object_get_ex(all, "flows", &arr);
		for (i = 0; i < r->n_flows; i++)
			print_flow(ob, &r->flows[i], json_object_array_get_idx(arr, i));
		json_object_put(all);
	} else {
		for (i = 0; i < r->n_flows; i++)
			print_flow(ob, &r->flows[i], NULL);
	}
	if (!ob->baseline) {
		ob->baseline = true;	/* losses before this stream are not its own */
		ob->told_datapath = r->lost.datapath;
	}
	print_lost(ob, r->lost.datapath - ob->told_datapath, datapath_why, &r->lost);
	if (r->lost.datapath > ob->told_datapath)
		ob->told_datapath = r->lost.datapath;
	print_lost(ob, r->lost.stream - ob->told_stream,
		   "the flow log dropped them before this stream took them", NULL);
	if (r->lost.stream > ob->told_stream)
		ob->told_stream = r->lost.stream;
	fflush(stdout);
	return 0;
}

/* The listing: --last N, then page after page up to the first page's newest record. */
static int observe_list(struct observe *ob, struct api_flow_list_req *req)
{
	struct api_flow_list_reply r;
	struct json_object *raw;
	struct api_error e;
	int64_t until = -1;
	unsigned int pages;
	int rc;

	for (pages = 0; pages < 100000; pages++) {
		rc = api_flow_list_call(ob->o->socket_path, CTL_TIMEOUT_MS, req, &r, &raw, &e);
		if (rc)
			return ctl_failed(ob->o, "flow_list", rc, &e);
		if (until < 0) {
			until = r.until;
			ob->baseline = true;
			ob->told_datapath = 0;	/* a listing tells every loss there was */
		}
		on_message(&r, ob);
		print_lost(ob, r.lost.evicted, "the flow log dropped them between pages", NULL);
		rc = r.has_next_after && r.next_after > (req->has_after ? req->after : -1);
		req->has_last = false;
		req->has_after = true;
		req->after = r.next_after;
		req->has_until = true;
		req->until = until;
		api_flow_list_reply_free(&r);
		json_object_put(raw);
		if (!rc)
			return 0;
	}
	fprintf(stderr, "podlanectl: podlaned's flow_list pages do not come to an end\n");
	return 1;
}

int cmd_observe(struct ctl_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket",	required_argument, NULL, 's' },
		{ "pin-root",	required_argument, NULL, 'p' },
		{ "json",	no_argument,	   NULL, 'j' },
		{ "help",	no_argument,	   NULL, 'h' },
		{ "output",	required_argument, NULL, 'o' },
		{ "follow",	no_argument,	   NULL, 'f' },
		{ "timeout",	required_argument, NULL, 't' },
		{ "verdict",	required_argument, NULL, OPT_VERDICT },
		{ "from-pod",	required_argument, NULL, OPT_FROM_POD },
		{ "to-pod",	required_argument, NULL, OPT_TO_POD },
		{ "namespace",	required_argument, NULL, OPT_NAMESPACE },
		{ "ip",		required_argument, NULL, OPT_IP },
		{ "port",	required_argument, NULL, OPT_PORT },
		{ "protocol",	required_argument, NULL, OPT_PROTOCOL },
		{ "last",	required_argument, NULL, OPT_LAST },
		{ NULL }
	};
	const char *hint = "podlanectl observe";
	struct api_flow_list_req req = { .has_limit = true, .limit = PODLANE_API_LIST_LIMIT_MAX };
	struct observe ob = { .o = o };
	struct sigaction sa = { .sa_handler = on_signal };
	bool follow = false;
	int64_t timeout_s = 0;
	int c, rc;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:p:jho:ft:", opts, NULL)) != -1) {
		if (common_opt(c, o))
			continue;
		switch (c) {
		case 'h':
			fputs(observe_usage, stdout);
			return 0;
		case 'o':
			if (strcmp(optarg, "json"))
				return usage_error(hint, "-o takes 'json' (the default is one line "
						   "per record), not '%s'", optarg);
			o->json = true;
			break;
		case 'f':
			follow = true;
			break;
		case 't':
			if (!number_opt(optarg, 1000000000, &timeout_s))
				return usage_error(hint, "option '--timeout' needs a non-negative "
						   "number, not '%s'", optarg);
			break;
		case OPT_VERDICT:
			if (strcmp(optarg, "allowed") && strcmp(optarg, "denied") &&
			    strcmp(optarg, "dropped"))
				return usage_error(hint, "--verdict takes allowed, denied or "
						   "dropped, not '%s'", optarg);
			req.verdict = optarg;
			break;
		case OPT_FROM_POD:
		case OPT_TO_POD:
			if (!strchr(optarg, '/') || optarg[0] == '/' || !strchr(optarg, '/')[1])
				return usage_error(hint, "--%s takes NAMESPACE/NAME, not '%s'",
						   c == OPT_FROM_POD ? "from-pod" : "to-pod",
						   optarg);
			*(c == OPT_FROM_POD ? &req.from_pod : &req.to_pod) = optarg;
			break;
		case OPT_NAMESPACE:
			req.namespace = optarg;
			break;
		case OPT_IP:
			req.ip = optarg;
			break;
		case OPT_PORT:
			if (!number_opt(optarg, 65535, &req.port))
				return usage_error(hint, "--port takes a number 0-65535, not '%s'",
						   optarg);
			req.has_port = true;
			break;
		case OPT_PROTOCOL:
			req.protocol = optarg;
			break;
		case OPT_LAST:
			if (!number_opt(optarg, INT64_MAX, &req.last))
				return usage_error(hint, "--last takes a non-negative number, not "
						   "'%s'", optarg);
			req.has_last = true;
			break;
		default:
			return opt_error(c, hint, argv);
		}
	}
	if (optind < argc)
		return usage_error(hint, "unexpected argument '%s'", argv[optind]);
	if (timeout_s && !follow)
		return usage_error(hint, "--timeout is for -f (a listing ends by itself)");
	ob.json = o->json;
	if (!follow) {
		if (!req.has_last) {
			req.has_last = true;
			req.last = 20;
		}
		return observe_list(&ob, &req);
	}
	req.has_follow = req.follow = true;
	req.has_limit = false;
	/* No SA_RESTART: Ctrl-C must end the wait for the next message. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	rc = ctl_flow_stream(o, &req, timeout_s, &observe_stop, on_message, &ob);
	if (rc == CTL_NO_AGENT) {
		fprintf(stderr, "podlanectl: cannot reach podlaned at %s, or it keeps no flow "
			"log; is it running? (--socket)\n", o->socket_path);
		return 1;
	}
	return rc;
}
