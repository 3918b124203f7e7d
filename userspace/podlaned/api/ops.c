// SPDX-License-Identifier: GPL-2.0-only
/*
 * ops.c - request handlers of podlaned's local API (protocol in userspace/lib/api.h): decode
 * and type-check the request, call into endpoint/ipam/datapath, encode the reply.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "agent.h"
#include "api.h"
#include "log.h"
#include "nodes.h"
#include "service.h"
#include "sync.h"

static struct json_object *reply_ok(void)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(1));
	return o;
}

static struct json_object *reply_err(const struct op_error *e)
{
	return api_error(e->code, e->msg, e->details);
}

/*
 * Optional string field: NULL when absent or null. A present field of the wrong type is an
 * error, so a client bug is reported instead of being treated like a missing field.
 */
static int get_str(struct json_object *req, const char *key, const char **out, bool required,
		   struct op_error *e)
{
	struct json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(req, key, &v) || json_object_is_type(v, json_type_null)) {
		if (required)
			return op_fail(e, PODLANE_ERR_DECODE, "missing field '%s'", key);
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return op_fail(e, PODLANE_ERR_DECODE, "field '%s' must be a string", key);
	*out = json_object_get_string(v);
	return 0;
}

static struct json_object *op_add(struct agent *a, struct json_object *req)
{
	struct add_request ar = {};
	struct add_result res;
	struct op_error e = {};
	struct json_object *v, *o;
	char ip[INET_ADDRSTRLEN], mac[18];

	if (get_str(req, "container_id", &ar.container_id, true, &e) ||
	    get_str(req, "netns", &ar.netns, true, &e) ||
	    get_str(req, "ifname", &ar.ifname, true, &e) ||
	    get_str(req, "network", &ar.network, true, &e) ||
	    get_str(req, "subnet", &ar.subnet, false, &e) ||
	    get_str(req, "ip", &ar.ip, false, &e))
		return reply_err(&e);
	if (ar.ip && !ar.ip[0])
		ar.ip = NULL;
	if (json_object_object_get_ex(req, "mtu", &v) && !json_object_is_type(v, json_type_null)) {
		int64_t mtu = json_object_get_int64(v);

		if (!json_object_is_type(v, json_type_int) || mtu < 0 || mtu > 65535) {
			op_fail(&e, PODLANE_ERR_INVALID_CONFIG, "field 'mtu' must be an integer "
				"0-65535");
			return reply_err(&e);
		}
		ar.mtu = mtu;
	}
	if (endpoint_add(a, &ar, &res, &e)) {
		log_warn("add failed container_id=%s ifname=%s netns=%s code=%d err=\"%s\"",
			 ar.container_id, ar.ifname, ar.netns, e.code, e.msg);
		return reply_err(&e);
	}
	inet_ntop(AF_INET, &res.addr, ip, sizeof(ip));
	log_info("endpoint added container_id=%s ifname=%s network=%s ip=%s host_ifname=%s",
		 ar.container_id, ar.ifname, ar.network, ip, res.host_ifname);
	acct_endpoint_changed(a);
	o = reply_ok();
	json_object_object_add(o, "ip", json_object_new_string(ip));
	json_object_object_add(o, "prefix_len", json_object_new_int(32));
	json_object_object_add(o, "gateway", json_object_new_string(PODLANE_GATEWAY4));
	json_object_object_add(o, "host_ifname", json_object_new_string(res.host_ifname));
	json_object_object_add(o, "host_ifindex", json_object_new_int(res.host_ifindex));
	json_object_object_add(o, "host_mac", json_object_new_string(nl_mac_str(res.host_mac,
										 mac)));
	json_object_object_add(o, "pod_mac", json_object_new_string(nl_mac_str(res.pod_mac, mac)));
	json_object_object_add(o, "pod_ifindex", json_object_new_int(res.pod_ifindex));
	return o;
}

static struct json_object *op_del(struct agent *a, struct json_object *req)
{
	const char *cid, *ifname, *network, *netns;
	struct op_error e = {};

	if (get_str(req, "container_id", &cid, true, &e) ||
	    get_str(req, "ifname", &ifname, true, &e) ||
	    get_str(req, "network", &network, true, &e) ||
	    get_str(req, "netns", &netns, false, &e))
		return reply_err(&e);
	if (endpoint_del(a, cid, ifname, network, &e))
		return reply_err(&e);
	return reply_ok();
}

static struct json_object *op_check(struct agent *a, struct json_object *req)
{
	const char *cid, *ifname, *network, *netns, *ip;
	struct op_error e = {};

	if (get_str(req, "container_id", &cid, true, &e) ||
	    get_str(req, "ifname", &ifname, true, &e) ||
	    get_str(req, "network", &network, true, &e) ||
	    get_str(req, "netns", &netns, false, &e) ||
	    get_str(req, "ip", &ip, false, &e))
		return reply_err(&e);
	if (endpoint_check(a, cid, ifname, network, netns, ip, &e))
		return reply_err(&e);
	return reply_ok();
}

static struct json_object *op_gc(struct agent *a, struct json_object *req)
{
	struct json_object *list = NULL, *o;
	struct gc_keep *keep = NULL;
	struct op_error e = {};
	const char *network;
	size_t i, n = 0;
	int released;

	if (get_str(req, "network", &network, true, &e))
		return reply_err(&e);
	if (json_object_object_get_ex(req, "attachments", &list) &&
	    !json_object_is_type(list, json_type_null)) {
		if (!json_object_is_type(list, json_type_array)) {
			op_fail(&e, PODLANE_ERR_DECODE, "field 'attachments' must be an array");
			return reply_err(&e);
		}
		n = json_object_array_length(list);
	}
	keep = calloc(n ? n : 1, sizeof(*keep));
	if (!keep) {
		op_fail(&e, PODLANE_ERR_INTERNAL, "out of memory");
		return reply_err(&e);
	}
	for (i = 0; i < n; i++) {
		struct json_object *item = json_object_array_get_idx(list, i);

		if (!json_object_is_type(item, json_type_object) ||
		    get_str(item, "container_id", &keep[i].container_id, true, &e) ||
		    get_str(item, "ifname", &keep[i].ifname, true, &e)) {
			if (!e.code)
				op_fail(&e, PODLANE_ERR_DECODE,
					"attachments[%zu] must be an object", i);
			free(keep);
			return reply_err(&e);
		}
	}
	released = endpoint_gc(a, network, keep, n, &e);
	free(keep);
	if (released < 0)
		return reply_err(&e);
	o = reply_ok();
	json_object_object_add(o, "released", json_object_new_int(released));
	return o;
}

static int count_cb(__u32 ifindex, const struct endpoint_meta *meta, void *data)
{
	(*(int *)data)++;
	return 0;
}

static struct json_object *program_obj(const char *name, const char *hook, int fd)
{
	struct json_object *p = json_object_new_object();

	json_object_object_add(p, "name", json_object_new_string(name));
	json_object_object_add(p, "hook", json_object_new_string(hook));
	json_object_object_add(p, "id", json_object_new_int64(datapath_prog_id(fd)));
	json_object_object_add(p, "tc_handle", json_object_new_int(PODLANED_TC_HANDLE));
	json_object_object_add(p, "tc_priority", json_object_new_int(PODLANED_TC_PRIO));
	return p;
}

/* Sum a per-CPU podlane_drops slot array into { reason: packets }. */
static struct json_object *node_drops(struct agent *a)
{
	struct json_object *o = json_object_new_object();
	struct drop_counter *vals = calloc(a->ncpus, sizeof(*vals));
	__u32 slot;
	int cpu;

	if (!vals)
		return o;
	for (slot = 0; slot < PODLANE_DROP_SLOTS; slot++) {
		int reason = -(int)(slot + PODLANE_DROP_FIRST);
		const char *name = podlane_drop_name(reason);
		__u64 packets = 0;
		char unknown[32];

		if (bpf_map_lookup_elem(a->drops_fd, &slot, vals))
			continue;
		for (cpu = 0; cpu < a->ncpus; cpu++)
			packets += vals[cpu].packets;
		if (!name) {
			if (!packets)
				continue;
			snprintf(unknown, sizeof(unknown), "reason_%d", reason);
			name = unknown;
		}
		json_object_object_add(o, name, json_object_new_int64(packets));
	}
	free(vals);
	return o;
}

static struct json_object *op_status(struct agent *a, struct json_object *req)
{
	struct json_object *o = reply_ok(), *f, *progs, *ipam;
	int n = 0;

	endpoint_walk(a, count_cb, &n);
	json_object_object_add(o, "version", json_object_new_string(PODLANE_VERSION));
	json_object_object_add(o, "pin_root", json_object_new_string(a->pin_root));
	json_object_object_add(o, "state_dir", json_object_new_string(a->state_dir));
	json_object_object_add(o, "uplink", a->uplink ? json_object_new_string(a->uplink) : NULL);
	json_object_object_add(o, "max_endpoints", json_object_new_int64(a->max_endpoints));

	f = json_object_new_object();
	json_object_object_add(f, "redirect_peer", json_object_new_boolean(a->feat.redirect_peer));
	json_object_object_add(f, "ringbuf", json_object_new_boolean(a->feat.ringbuf));
	json_object_object_add(f, "percpu_hash", json_object_new_boolean(a->feat.percpu_hash));
	json_object_object_add(f, "kernel_btf", json_object_new_boolean(a->feat.kernel_btf));
	json_object_object_add(f, "drop_events", json_object_new_boolean(a->drop_events));
	json_object_object_add(o, "features", f);

	progs = json_object_new_array();
	json_object_array_add(progs, program_obj("tc_from_pod", "tc ingress, pod host veth",
						 a->from_pod_fd));
	json_object_array_add(progs, program_obj("tc_to_pod", "tc egress, pod host veth",
						 a->to_pod_fd));
	if (a->from_uplink_fd >= 0)
		json_object_array_add(progs, program_obj("tc_from_uplink", "tc ingress, uplink",
							 a->from_uplink_fd));
	if (a->lb)
		lb_datapath_status(a, progs);
	json_object_object_add(o, "programs", progs);
	json_object_object_add(o, "endpoints", json_object_new_int(n));
	json_object_object_add(o, "drops", node_drops(a));
	acct_status(a, o);
	nodes_status(a, o);

	ipam = json_object_new_object();
	ipam_status(a, ipam);
	json_object_object_add(o, "ipam", ipam);
	return o;
}

struct list_state {
	struct agent *a;
	struct json_object *arr;
	struct endpoint_stats *vals;
};

static int list_cb(__u32 ifindex, const struct endpoint_meta *meta, void *data)
{
	struct list_state *ls = data;
	struct agent *a = ls->a;
	struct endpoint_stats sum = {};
	struct endpoint_value val = {};
	struct endpoint_key key = { .addr = meta->addr };
	struct json_object *ep, *drops;
	char ip[INET_ADDRSTRLEN], mac[18];
	bool ready, delegated;
	int cpu, slot;

	if (!bpf_map_lookup_elem(a->stat_fd, &ifindex, ls->vals)) {
		for (cpu = 0; cpu < a->ncpus; cpu++) {
			const struct endpoint_stats *s = &ls->vals[cpu];

			sum.rx_packets += s->rx_packets;
			sum.rx_bytes += s->rx_bytes;
			sum.tx_packets += s->tx_packets;
			sum.tx_bytes += s->tx_bytes;
			for (slot = 0; slot < PODLANE_DROP_SLOTS; slot++)
				sum.drops[slot] += s->drops[slot];
		}
	}
	bpf_map_lookup_elem(a->eps_fd, &key, &val);
	inet_ntop(AF_INET, &meta->addr.ip4, ip, sizeof(ip));

	ep = json_object_new_object();
	json_object_object_add(ep, "container_id", json_object_new_string(meta->container_id));
	json_object_object_add(ep, "netns", json_object_new_string(meta->netns));
	json_object_object_add(ep, "network", json_object_new_string(meta->network));
	json_object_object_add(ep, "ifname", json_object_new_string(meta->ifname));
	json_object_object_add(ep, "host_ifname", json_object_new_string(meta->host_ifname));
	json_object_object_add(ep, "ifindex", json_object_new_int64(ifindex));
	json_object_object_add(ep, "pod_ifindex", json_object_new_int64(meta->pod_ifindex));
	json_object_object_add(ep, "ip", json_object_new_string(ip));
	json_object_object_add(ep, "pod_mac", json_object_new_string(nl_mac_str(val.pod_mac,
										  mac)));
	json_object_object_add(ep, "host_mac", json_object_new_string(nl_mac_str(val.host_mac,
										   mac)));
	ready = val.ifindex == ifindex && (val.flags & PODLANE_EP_F_READY);
	delegated = meta->flags & PODLANE_META_F_IPAM_DELEGATED;
	json_object_object_add(ep, "ready", json_object_new_boolean(ready));
	json_object_object_add(ep, "ipam_delegated", json_object_new_boolean(delegated));
	json_object_object_add(ep, "created_ns", json_object_new_int64(meta->created_ns));
	json_object_object_add(ep, "rx_packets", json_object_new_int64(sum.rx_packets));
	json_object_object_add(ep, "rx_bytes", json_object_new_int64(sum.rx_bytes));
	json_object_object_add(ep, "tx_packets", json_object_new_int64(sum.tx_packets));
	json_object_object_add(ep, "tx_bytes", json_object_new_int64(sum.tx_bytes));
	drops = json_object_new_object();
	for (slot = 0; slot < PODLANE_DROP_SLOTS; slot++) {
		int reason = -(slot + PODLANE_DROP_FIRST);
		const char *name = podlane_drop_name(reason);
		char unknown[32];

		if (!name) {
			if (!sum.drops[slot])
				continue;
			snprintf(unknown, sizeof(unknown), "reason_%d", reason);
			name = unknown;
		}
		json_object_object_add(drops, name, json_object_new_int64(sum.drops[slot]));
	}
	json_object_object_add(ep, "drops", drops);
	acct_endpoint_fields(a, ifindex, ep);
	json_object_array_add(ls->arr, ep);
	return 0;
}

static struct json_object *op_endpoints(struct agent *a, struct json_object *req)
{
	struct list_state ls = { .a = a };
	struct op_error e = {};
	struct json_object *o;

	ls.vals = calloc(a->ncpus, sizeof(*ls.vals));
	if (!ls.vals) {
		op_fail(&e, PODLANE_ERR_INTERNAL, "out of memory");
		return reply_err(&e);
	}
	ls.arr = json_object_new_array();
	endpoint_walk(a, list_cb, &ls);
	free(ls.vals);
	o = reply_ok();
	json_object_object_add(o, "endpoints", ls.arr);
	return o;
}

static const struct {
	const char *name;
	struct json_object *(*handler)(struct agent *a, struct json_object *req);
} ops[] = {
	{ PODLANE_OP_ADD, op_add },
	{ PODLANE_OP_DEL, op_del },
	{ PODLANE_OP_CHECK, op_check },
	{ PODLANE_OP_GC, op_gc },
	{ PODLANE_OP_STATUS, op_status },
	{ PODLANE_OP_ENDPOINTS, op_endpoints },
	{ PODLANE_OP_ACCT, acct_op },
	{ PODLANE_OP_HINTS, hints_op },
	{ PODLANE_OP_SERVICE_ADD, op_service_add },
	{ PODLANE_OP_SERVICE_DEL, op_service_del },
	{ PODLANE_OP_SERVICE_LIST, op_service_list },
	{ PODLANE_OP_NODE_ADD, nodes_op_add },
	{ PODLANE_OP_NODE_DEL, nodes_op_del },
	{ PODLANE_OP_NODE_LIST, nodes_op_list },
	{ PODLANE_OP_SYNC_STATUS, sync_status_op },
	{ PODLANE_OP_DEADLETTERS, sync_deadletters_op },
};

struct json_object *ops_handle(struct agent *a, struct json_object *req)
{
	struct json_object *reply;
	struct timespec t0, t1;
	struct op_error e = {};
	const char *op;
	size_t i;

	if (!req || !json_object_is_type(req, json_type_object)) {
		op_fail(&e, PODLANE_ERR_DECODE, "request is not a JSON object");
		return reply_err(&e);
	}
	if (get_str(req, "op", &op, true, &e))
		return reply_err(&e);
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (strcmp(op, ops[i].name))
			continue;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		reply = ops[i].handler(a, req);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		log_debug("request served op=%s us=%ld", op,
			  (long)((t1.tv_sec - t0.tv_sec) * 1000000 +
				 (t1.tv_nsec - t0.tv_nsec) / 1000));
		return reply;
	}
	op_fail(&e, PODLANE_ERR_DECODE, "unknown op '%s'", op);
	return reply_err(&e);
}
