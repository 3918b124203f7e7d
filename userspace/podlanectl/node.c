// SPDX-License-Identifier: GPL-2.0-only
/*
 * node.c - `podlanectl node add|del|list`: the other nodes of the cluster whose pod CIDRs this
 * node routes to (api_ops.h: node_add, node_del, node_list). With a control plane (etcd sync)
 * the agent learns them itself; these commands are for standalone clusters and for looking.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int node_add(struct ctl_opts *o, int argc, char **argv)
{
	struct api_node_add_req req;
	struct api_node_add_reply r;
	struct json_object *raw;
	struct api_error e;
	int rc = node_opts(argc, argv, o, "podlanectl node add");

	if (rc)
		return rc < 0 ? 0 : rc;
	if (argc - optind != 3)
		return usage_error("podlanectl node add", "'node add' wants NAME NODE_IP POD_CIDR");
	req = (struct api_node_add_req){
		.name = argv[optind], .node_ip = argv[optind + 1], .pod_cidr = argv[optind + 2],
	};
	rc = api_node_add_call(o->socket_path, CTL_TIMEOUT_MS, &req, &r, &raw, &e);
	if (rc)
		return ctl_failed(o, PODLANE_OP_NODE_ADD, rc, &e);
	if (o->json)
		ctl_print_json(raw);
	else
		printf("node %s %s (%s via %s, %s routing)\n", req.name,
		       r.changed ? "added" : "unchanged", req.pod_cidr, req.node_ip,
		       ctl_text(r.node.routing));
	api_node_add_reply_free(&r);
	json_object_put(raw);
	return 0;
}

static int node_del(struct ctl_opts *o, int argc, char **argv)
{
	struct api_node_del_req req;
	struct api_node_del_reply r;
	struct json_object *raw;
	struct api_error e;
	int rc = node_opts(argc, argv, o, "podlanectl node del"), i, failed = 0;

	if (rc)
		return rc < 0 ? 0 : rc;
	if (optind >= argc)
		return usage_error("podlanectl node del", "'node del' wants at least one NAME");
	for (i = optind; i < argc; i++) {
		req.name = argv[i];
		rc = api_node_del_call(o->socket_path, CTL_TIMEOUT_MS, &req, &r, &raw, &e);
		if (rc) {
			failed = ctl_failed(o, PODLANE_OP_NODE_DEL, rc, &e);
			continue;
		}
		if (o->json)
			ctl_print_json(raw);
		else
			printf("node %s %s\n", argv[i],
			       r.removed ? "removed" : "not found (nothing to do)");
		api_node_del_reply_free(&r);
		json_object_put(raw);
	}
	return failed;
}

/* The next page of node_list: 1 (req set), 0 after the last, -1 when it would not advance. */
static int nodes_next(const void *reply, void *req)
{
	const struct api_node_list_reply *r = reply;
	struct api_node_list_req *q = req;

	if (!r->has_next_offset)
		return 0;
	if (r->next_offset <= q->offset)
		return -1;
	q->offset = r->next_offset;
	return 1;
}

static int node_list(struct ctl_opts *o, int argc, char **argv)
{
	static const char *const head[] = { "NAME", "NODE-IP", "POD-CIDR", "ROUTING",
					    "INSTALLED" };
	const struct api_op *op = &api_op_node_list;
	struct api_node_list_req req = { .has_offset = true };
	struct api_node_list_reply r = {}, *page;
	const struct api_node_routing *nr;
	struct ctl_pages pages;
	struct table t;
	size_t i, k;
	int rc = node_opts(argc, argv, o, "podlanectl node list");

	if (rc)
		return rc < 0 ? 0 : rc;
	if (optind < argc)
		return usage_error("podlanectl node list", "unexpected argument '%s'",
				   argv[optind]);
	rc = ctl_list_pages(o, op, &req, CTL_TIMEOUT_MS, nodes_next, &pages);
	if (rc)
		goto out;
	/* Every page's nodes in one reply, with the last page's routing and total. */
	for (k = 0; k < pages.n; k++)
		r.n_nodes += ((struct api_node_list_reply *)ctl_page(op, &pages, k))->n_nodes;
	r.nodes = calloc(r.n_nodes ? r.n_nodes : 1, sizeof(*r.nodes));
	if (!r.nodes) {
		fprintf(stderr, "podlanectl: out of memory\n");
		rc = 1;
		goto out;
	}
	for (r.n_nodes = 0, k = 0; k < pages.n; k++) {
		page = ctl_page(op, &pages, k);
		if (page->n_nodes)	/* an empty page's array is NULL */
			memcpy(&r.nodes[r.n_nodes], page->nodes,
			       page->n_nodes * sizeof(*page->nodes));
		r.n_nodes += page->n_nodes;
		r.node_routing = page->node_routing;
		r.has_total = page->has_total;
		r.total = page->total;
	}
	if (o->json) {
		struct json_object *j = api_encode(op->reply, &r);

		ctl_print_json(j);
		json_object_put(j);
		goto out;
	}
	nr = &r.node_routing;
	printf("this node: %s, %s routing%s%s\n", nr->node_name ? nr->node_name : "?",
	       nr->routing, nr->vxlan_dev ? " through " : "", nr->vxlan_dev ? nr->vxlan_dev : "");
	table_init(&t, 5, head);
	for (i = 0; i < r.n_nodes; i++) {
		const struct api_node *n = &r.nodes[i];

		table_add(&t, (const char *const[]){
			ctl_text(n->name), ctl_text(n->node_ip), ctl_text(n->pod_cidr),
			ctl_text(n->routing), n->installed ? "yes" : "no" });
	}
	table_print(&t);
	table_free(&t);
out:
	free(r.nodes);
	ctl_pages_free(op, &pages);
	return rc;
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
