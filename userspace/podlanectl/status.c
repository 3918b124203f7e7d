// SPDX-License-Identifier: GPL-2.0-only
/*
 * status.c - `podlanectl status` and `podlanectl endpoint list`: what podlaned runs, and the
 * pods it wired on this node with their counters and drops.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "commands.h"
#include "ctl.h"

static const char status_usage[] =
	"Usage: podlanectl [--socket PATH] [--json] status\n"
	"\n"
	"Show what podlaned runs: version, BPF pin root, uplink, kernel features it found,\n"
	"programs it attached, number of endpoints and address pools.\n";

static const char endpoint_usage[] =
	"Usage: podlanectl [--socket PATH] [--json] endpoint list\n"
	"\n"
	"Subcommands:\n"
	"  list    one line per pod endpoint on this node\n";

static const char endpoint_list_usage[] =
	"Usage: podlanectl [--socket PATH] [--json] endpoint list\n"
	"\n"
	"One line per pod endpoint: container id (first 12 characters; --json shows all),\n"
	"network, pod interface, IP, MACs, host veth, packets and bytes the pod received (RX)\n"
	"and sent (TX), drops by reason, the pod's netns path, and its cgroup v2 path and id\n"
	"(found through the processes in the pod's netns).\n";

static void print_pretty(struct json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						       JSON_C_TO_STRING_SPACED |
						       JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* A JSON value as one line of text: strings bare, booleans yes/no, containers k=v / a,b. */
static void value_text(struct json_object *v, char *buf, size_t len)
{
	size_t used = 0, i;

	buf[0] = '\0';
	switch (json_object_get_type(v)) {
	case json_type_null:
		snprintf(buf, len, "-");
		break;
	case json_type_boolean:
		snprintf(buf, len, "%s", json_object_get_boolean(v) ? "yes" : "no");
		break;
	case json_type_string:
		snprintf(buf, len, "%s", *json_object_get_string(v) ? json_object_get_string(v) :
			 "-");
		break;
	case json_type_object: {
		json_object_object_foreach(v, key, val) {
			char inner[256];

			value_text(val, inner, sizeof(inner));
			used += snprintf(buf + used, used < len ? len - used : 0, "%s%s=%s",
					 used ? " " : "", key, inner);
		}
		break;
	}
	case json_type_array:
		for (i = 0; i < json_object_array_length(v); i++) {
			char inner[256];

			value_text(json_object_array_get_idx(v, i), inner, sizeof(inner));
			used += snprintf(buf + used, used < len ? len - used : 0, "%s%s",
					 i ? ", " : "", inner);
		}
		break;
	default:
		snprintf(buf, len, "%s", json_object_get_string(v));
	}
}

static const char *field(struct json_object *ep, const char *key, char *buf, size_t len)
{
	struct json_object *v;

	if (!json_object_object_get_ex(ep, key, &v))
		return "-";
	value_text(v, buf, len);
	return buf;
}

/* The reasons that happened, as reason=n,...; "0" when the pod lost nothing. */
static const char *drops_text(struct json_object *ep, char *buf, size_t len)
{
	struct json_object *drops;
	size_t used = 0;

	buf[0] = '\0';
	if (!json_object_object_get_ex(ep, "drops", &drops) ||
	    !json_object_is_type(drops, json_type_object))
		return "0";
	json_object_object_foreach(drops, reason, n) {
		if (!json_object_get_int64(n))
			continue;
		used += snprintf(buf + used, used < len ? len - used : 0, "%s%s=%" PRId64,
				 used ? "," : "", reason, json_object_get_int64(n));
	}
	return used ? buf : "0";
}

int cmd_status(struct ctl_opts *o, int argc, char **argv)
{
	static const char *const order[] = { "version", "pin_root", "uplink", "endpoints" };
	struct json_object *reply, *v;
	char text[1024];
	size_t i;
	int rc;

	rc = parse_command_opts(argc, argv, o, "status", status_usage, NULL);
	if (rc)
		return rc < 0 ? 0 : rc;
	rc = ctl_request(o, PODLANE_OP_STATUS, &reply);
	if (rc)
		return rc;
	if (o->json) {
		print_pretty(reply);
		json_object_put(reply);
		return 0;
	}
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if (!json_object_object_get_ex(reply, order[i], &v))
			continue;
		value_text(v, text, sizeof(text));
		printf("%-14s %s\n", order[i], text);
	}
	if (json_object_object_get_ex(reply, "features", &v)) {
		value_text(v, text, sizeof(text));
		printf("%-14s %s\n", "features", text);
	}
	if (json_object_object_get_ex(reply, "programs", &v) &&
	    json_object_is_type(v, json_type_array)) {
		static const char *const head[] = { "  NAME", "ID", "HOOK" };
		struct table t;

		printf("%-14s %zu\n", "programs", json_object_array_length(v));
		table_init(&t, 3, head);
		for (i = 0; i < json_object_array_length(v); i++) {
			struct json_object *p = json_object_array_get_idx(v, i);
			char name[80], id[32], hook[128];

			snprintf(name, sizeof(name), "  %.76s", field(p, "name", text, sizeof(text)));
			field(p, "id", id, sizeof(id));
			field(p, "hook", hook, sizeof(hook));
			table_add(&t, (const char *const[]){ name, id, hook });
		}
		table_print(&t);
		table_free(&t);
	}
	if (json_object_object_get_ex(reply, "ipam", &v) &&
	    json_object_is_type(v, json_type_object) && json_object_object_length(v)) {
		static const char *const head[] = { "  NETWORK", "SUBNET", "ALLOCATED" };
		struct table t;

		printf("ipam\n");
		table_init(&t, 3, head);
		json_object_object_foreach(v, net, pool) {
			char name[80], subnet[64], alloc[32];
			struct json_object *f;

			snprintf(name, sizeof(name), "  %s", net);
			snprintf(subnet, sizeof(subnet), "%s",
				 json_object_object_get_ex(pool, "subnet", &f) ?
				 json_object_get_string(f) : "-");
			snprintf(alloc, sizeof(alloc), "%s",
				 json_object_object_get_ex(pool, "allocated", &f) ?
				 json_object_get_string(f) : "-");
			table_add(&t, (const char *const[]){ name, subnet, alloc });
		}
		table_print(&t);
		table_free(&t);
	}
	if (json_object_object_get_ex(reply, "drops", &v))
		printf("%-14s %s\n", "drops", drops_text(reply, text, sizeof(text)));
	/* Fields this build does not know yet still reach the operator. */
	json_object_object_foreach(reply, key, val) {
		static const char *const known[] = { "version", "pin_root", "uplink", "endpoints",
						     "features", "programs", "ipam", "drops" };
		bool seen = false;

		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			seen |= !strcmp(key, known[i]);
		if (seen)
			continue;
		value_text(val, text, sizeof(text));
		printf("%-14s %s\n", key, text);
	}
	json_object_put(reply);
	return 0;
}

/* "<cgroup v2 path> (id <n>)" of the pod, "-" until podlaned has found its processes. */
static const char *cgroup_text(struct json_object *ep, char *buf, size_t len)
{
	struct json_object *path, *id;

	if (!json_object_object_get_ex(ep, "cgroup", &path) || !path ||
	    !json_object_object_get_ex(ep, "cgroup_id", &id) || !id)
		return "-";
	snprintf(buf, len, "%s (id %" PRId64 ")", json_object_get_string(path),
		 json_object_get_int64(id));
	return buf;
}

static int endpoint_list(struct ctl_opts *o, int argc, char **argv)
{
	static const char *const head[] = {
		"CONTAINER", "NETWORK", "IFNAME", "IP", "POD-MAC", "HOST-IF", "HOST-MAC",
		"RX-PKTS", "RX-BYTES", "TX-PKTS", "TX-BYTES", "DROPS", "NETNS", "CGROUP",
	};
	struct json_object *reply, *eps, *ep;
	char f[14][256];
	struct table t;
	size_t i;
	int rc;

	rc = parse_command_opts(argc, argv, o, "endpoint list", endpoint_list_usage, NULL);
	if (rc)
		return rc < 0 ? 0 : rc;
	rc = ctl_request(o, PODLANE_OP_ENDPOINTS, &reply);
	if (rc)
		return rc;
	if (o->json) {
		print_pretty(reply);
		json_object_put(reply);
		return 0;
	}
	table_init(&t, 14, head);
	if (json_object_object_get_ex(reply, "endpoints", &eps) &&
	    json_object_is_type(eps, json_type_array)) {
		for (i = 0; i < json_object_array_length(eps); i++) {
			const char *row[14];

			ep = json_object_array_get_idx(eps, i);
			row[0] = field(ep, "container_id", f[0], sizeof(f[0]));
			f[0][12] = '\0';
			row[1] = field(ep, "network", f[1], sizeof(f[1]));
			row[2] = field(ep, "ifname", f[2], sizeof(f[2]));
			row[3] = field(ep, "ip", f[3], sizeof(f[3]));
			row[4] = field(ep, "pod_mac", f[4], sizeof(f[4]));
			row[5] = field(ep, "host_ifname", f[5], sizeof(f[5]));
			row[6] = field(ep, "host_mac", f[6], sizeof(f[6]));
			row[7] = field(ep, "rx_packets", f[7], sizeof(f[7]));
			row[8] = field(ep, "rx_bytes", f[8], sizeof(f[8]));
			row[9] = field(ep, "tx_packets", f[9], sizeof(f[9]));
			row[10] = field(ep, "tx_bytes", f[10], sizeof(f[10]));
			row[11] = drops_text(ep, f[11], sizeof(f[11]));
			row[12] = field(ep, "netns", f[12], sizeof(f[12]));
			row[13] = cgroup_text(ep, f[13], sizeof(f[13]));
			table_add(&t, row);
		}
	}
	table_print(&t);
	table_free(&t);
	json_object_put(reply);
	return 0;
}

int cmd_endpoint(struct ctl_opts *o, int argc, char **argv)
{
	if (argc < 2)
		return usage_error("podlanectl endpoint", "'endpoint' needs a subcommand (list)");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(endpoint_usage, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "list") || !strcmp(argv[1], "ls"))
		return endpoint_list(o, argc - 1, argv + 1);
	if (argv[1][0] == '-')
		return usage_error("podlanectl endpoint", "unknown option '%s'", argv[1]);
	return usage_error("podlanectl endpoint", "unknown endpoint command '%s'", argv[1]);
}

