// SPDX-License-Identifier: GPL-2.0-only
/*
 * status.c - `podlanectl status` and `podlanectl endpoint list`: what podlaned runs, and the
 * pods it wired on this node with their counters and drops.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
		snprintf(buf, len, "%s", ctl_text(json_object_get_string(v)));
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

static const char *yes(bool b)
{
	return b ? "yes" : "no";
}

/* The reasons that happened, as reason=n,...; "0" when nothing was lost. */
static const char *drops_text(const struct api_count *drops, size_t n, char *buf, size_t len)
{
	size_t used = 0, i;

	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		if (!drops[i].value)
			continue;
		used += snprintf(buf + used, used < len ? len - used : 0, "%s%s=%" PRId64,
				 used ? "," : "", drops[i].key, drops[i].value);
	}
	return used ? buf : "0";
}

static void print_accounting(const struct api_acct_status *a)
{
	const struct api_acct_module *m = &a->module;
	const struct api_acct_errors *e = &a->errors;

	printf("accounting     enabled=%s", yes(a->enabled));
	if (a->has_details) {
		printf(" source=%s cpu_source=%s traffic_source=%s memory_source=%s psi_source=%s "
		       "cgroup2=%s memcg_v1=%s psi_node=%s psi_cgroup=%s skb_links=%s "
		       "map_entries=%" PRId64 " gc_deleted=%" PRId64 " tick_us=%" PRId64
		       " tie_us=%" PRId64, ctl_text(a->source), ctl_text(a->cpu_source),
		       ctl_text(a->traffic_source), ctl_text(a->memory_source),
		       ctl_text(a->psi_source), ctl_text(a->cgroup2), ctl_text(a->memcg_v1),
		       yes(a->psi_node), yes(a->psi_cgroup), ctl_text(a->skb_links),
		       a->map_entries, a->gc_deleted, a->tick_us, a->tie_us);
		printf(" module=present=%s", yes(m->present));
		if (m->has_version)
			printf(" version=%" PRId64, m->version);
		if (m->has_features)
			printf(" features=%" PRId64, m->features);
		if (m->kernel)
			printf(" kernel=%s", ctl_text(m->kernel));
		printf(" errors=full_sched=%" PRId64 " full_skb=%" PRId64 " task_state=%" PRId64,
		       e->full_sched, e->full_skb, e->task_state);
	}
	printf("\n");
}

/* Fields this build does not know yet still reach the operator. */
static void print_unknown(const char *key, struct json_object *val, void *data)
{
	char text[1024];

	value_text(val, text, sizeof(text));
	printf("%-14s %s\n", key, text);
}

int cmd_status(struct ctl_opts *o, int argc, char **argv)
{
	const struct api_node_routing *nr;
	struct api_status_req req = {};
	struct api_status_reply st;
	struct json_object *raw;
	struct api_error e;
	char text[1024];
	struct table t;
	size_t i;
	int rc;

	rc = parse_command_opts(argc, argv, o, "status", status_usage, NULL);
	if (rc)
		return rc < 0 ? 0 : rc;
	rc = api_status_call(o->socket_path, CTL_TIMEOUT_MS, &req, &st, &raw, &e);
	if (rc)
		return ctl_failed(o, PODLANE_OP_STATUS, rc, &e);
	if (o->json) {
		ctl_print_json(raw);
		goto out;
	}
	printf("version        %s\n", ctl_text(st.version));
	printf("pin_root       %s\n", ctl_text(st.pin_root));
	printf("uplink         %s\n", ctl_text(st.uplink));
	printf("endpoints      %" PRId64 "\n", st.endpoints);
	printf("features       redirect_peer=%s ringbuf=%s percpu_hash=%s kernel_btf=%s "
	       "drop_events=%s\n", yes(st.features.redirect_peer), yes(st.features.ringbuf),
	       yes(st.features.percpu_hash), yes(st.features.kernel_btf),
	       yes(st.features.drop_events));

	printf("programs       %zu\n", st.n_programs);
	table_init(&t, 3, (const char *const[]){ "  NAME", "ID", "HOOK" });
	for (i = 0; i < st.n_programs; i++) {
		const struct api_program *p = &st.programs[i];
		char name[80], id[32];

		snprintf(name, sizeof(name), "  %.76s", ctl_text(p->name));
		snprintf(id, sizeof(id), "%" PRId64, p->id);
		table_add(&t, (const char *const[]){ name, id, ctl_text(p->hook) });
	}
	table_print(&t);
	table_free(&t);

	if (st.n_ipam) {
		printf("ipam\n");
		table_init(&t, 3, (const char *const[]){ "  NETWORK", "SUBNET", "ALLOCATED" });
		for (i = 0; i < st.n_ipam; i++) {
			char name[80], alloc[32];

			snprintf(name, sizeof(name), "  %.76s", st.ipam[i].network);
			snprintf(alloc, sizeof(alloc), "%" PRId64, st.ipam[i].allocated);
			table_add(&t, (const char *const[]){ name, ctl_text(st.ipam[i].subnet),
							    alloc });
		}
		table_print(&t);
		table_free(&t);
	}
	printf("drops          %s\n", drops_text(st.drops, st.n_drops, text, sizeof(text)));

	printf("state_dir      %s\n", ctl_text(st.state_dir));
	printf("max_endpoints  %" PRId64 "\n", st.max_endpoints);
	print_accounting(&st.accounting);
	nr = &st.node_routing;
	printf("routing        %s\n", ctl_text(nr->routing));
	printf("node_name      %s\n", ctl_text(nr->node_name));
	printf("node_ip        %s\n", ctl_text(nr->node_ip));
	printf("vxlan_dev      %s\n", ctl_text(nr->vxlan_dev));
	printf("nodes          %" PRId64 "\n", st.nodes);
	api_unknown_fields(api_op_status.reply, raw, print_unknown, NULL);
out:
	api_status_reply_free(&st);
	json_object_put(raw);
	return 0;
}

/* "<cgroup v2 path> (id <n>)" of the pod, "-" until podlaned has found its processes. */
static const char *cgroup_text(const struct api_endpoint *ep, char *buf, size_t len)
{
	if (!ep->cgroup || !ep->has_cgroup_id)
		return "-";
	snprintf(buf, len, "%s (id %" PRId64 ")", ep->cgroup, ep->cgroup_id);
	return buf;
}

/* The next page of endpoint_list: 1 (req set), 0 after the last, -1 when it would not advance. */
static int endpoints_next(const void *reply, void *req)
{
	const struct api_endpoint_list_reply *r = reply;
	struct api_endpoint_list_req *q = req;

	if (!r->has_next_offset)
		return 0;
	if (r->next_offset <= q->offset)
		return -1;
	q->offset = r->next_offset;
	return 1;
}

static int endpoint_list(struct ctl_opts *o, int argc, char **argv)
{
	static const char *const head[] = {
		"CONTAINER", "NETWORK", "IFNAME", "IP", "POD-MAC", "HOST-IF", "HOST-MAC",
		"RX-PKTS", "RX-BYTES", "TX-PKTS", "TX-BYTES", "DROPS", "NETNS", "CGROUP",
	};
	struct api_endpoint_list_req req = { .has_offset = true };
	struct api_endpoint_list_reply r = {}, *page;
	const struct api_op *op = &api_op_endpoint_list;
	struct ctl_pages pages;
	char f[14][256];
	struct table t;
	size_t i, k;
	int rc;

	rc = parse_command_opts(argc, argv, o, "endpoint list", endpoint_list_usage, NULL);
	if (rc)
		return rc < 0 ? 0 : rc;
	rc = ctl_list_pages(o, op, &req, CTL_TIMEOUT_MS, endpoints_next, &pages);
	if (rc)
		goto out;
	/* Every page's endpoints in one reply (their strings stay in the pages' JSON). */
	for (k = 0; k < pages.n; k++)
		r.n_endpoints += ((struct api_endpoint_list_reply *)ctl_page(op, &pages, k))->
				 n_endpoints;
	r.endpoints = calloc(r.n_endpoints ? r.n_endpoints : 1, sizeof(*r.endpoints));
	if (!r.endpoints) {
		fprintf(stderr, "podlanectl: out of memory\n");
		rc = 1;
		goto out;
	}
	for (r.n_endpoints = 0, k = 0; k < pages.n; k++) {
		page = ctl_page(op, &pages, k);
		if (page->n_endpoints)	/* an empty page's array is NULL */
			memcpy(&r.endpoints[r.n_endpoints], page->endpoints,
			       page->n_endpoints * sizeof(*page->endpoints));
		r.n_endpoints += page->n_endpoints;
		r.has_total = page->has_total;
		r.total = page->total;
	}
	if (o->json) {
		struct json_object *j = api_encode(op->reply, &r);

		ctl_print_json(j);
		json_object_put(j);
		goto out;
	}
	table_init(&t, 14, head);
	for (i = 0; i < r.n_endpoints; i++) {
		const struct api_endpoint *ep = &r.endpoints[i];

		snprintf(f[0], sizeof(f[0]), "%.12s", ctl_text(ep->container_id));
		snprintf(f[7], sizeof(f[7]), "%" PRId64, ep->rx_packets);
		snprintf(f[8], sizeof(f[8]), "%" PRId64, ep->rx_bytes);
		snprintf(f[9], sizeof(f[9]), "%" PRId64, ep->tx_packets);
		snprintf(f[10], sizeof(f[10]), "%" PRId64, ep->tx_bytes);
		table_add(&t, (const char *const[]){
			f[0], ctl_text(ep->network), ctl_text(ep->ifname), ctl_text(ep->ip),
			ctl_text(ep->pod_mac), ctl_text(ep->host_ifname), ctl_text(ep->host_mac),
			f[7], f[8], f[9], f[10], drops_text(ep->drops, ep->n_drops, f[11],
							    sizeof(f[11])),
			ctl_text(ep->netns), cgroup_text(ep, f[13], sizeof(f[13])) });
	}
	table_print(&t);
	table_free(&t);
out:
	free(r.endpoints);
	ctl_pages_free(op, &pages);
	return rc;
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

