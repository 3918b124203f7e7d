// SPDX-License-Identifier: GPL-2.0-only
/* api/endpoint_ops.c - the CNI operations (add, del, check, gc) and endpoint_list. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "api.h"
#include "api/ops.h"
#include "acct/acct.h"
#include "core/agent.h"
#include "datapath/eps.h"
#include "endpoint/endpoint.h"
#include "log.h"

struct json_object *api_add(struct agent *a, struct json_object *req)
{
	struct add_request ar = {};
	struct add_result res;
	struct api_error e = {};
	struct json_object *v, *o;
	char ip[INET_ADDRSTRLEN], mac[18];

	if (api_get_str(req, "container_id", &ar.container_id, true, &e) ||
	    api_get_str(req, "netns", &ar.netns, true, &e) ||
	    api_get_str(req, "ifname", &ar.ifname, true, &e) ||
	    api_get_str(req, "network", &ar.network, true, &e) ||
	    api_get_str(req, "subnet", &ar.subnet, false, &e) ||
	    api_get_str(req, "ip", &ar.ip, false, &e))
		return api_reply_error(&e);
	if (ar.ip && !ar.ip[0])
		ar.ip = NULL;
	if (json_object_object_get_ex(req, "mtu", &v) && !json_object_is_type(v, json_type_null)) {
		int64_t mtu = json_object_get_int64(v);

		if (!json_object_is_type(v, json_type_int) || mtu < 0 || mtu > 65535) {
			api_fail(&e, PODLANE_ERR_INVALID_CONFIG, "field 'mtu' must be an integer "
				"0-65535");
			return api_reply_error(&e);
		}
		ar.mtu = mtu;
	}
	if (endpoint_add(a, &ar, &res, &e)) {
		log_warn("add failed container_id=%s ifname=%s netns=%s code=%d err=\"%s\"",
			 ar.container_id, ar.ifname, ar.netns, e.code, e.msg);
		return api_reply_error(&e);
	}
	inet_ntop(AF_INET, &res.addr, ip, sizeof(ip));
	log_info("endpoint added container_id=%s ifname=%s network=%s ip=%s host_ifname=%s",
		 ar.container_id, ar.ifname, ar.network, ip, res.host_ifname);
	acct_endpoint_changed(a);
	o = api_reply_ok();
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

struct json_object *api_del(struct agent *a, struct json_object *req)
{
	const char *cid, *ifname, *network, *netns;
	struct api_error e = {};

	if (api_get_str(req, "container_id", &cid, true, &e) ||
	    api_get_str(req, "ifname", &ifname, true, &e) ||
	    api_get_str(req, "network", &network, true, &e) ||
	    api_get_str(req, "netns", &netns, false, &e))
		return api_reply_error(&e);
	if (endpoint_del(a, cid, ifname, network, &e))
		return api_reply_error(&e);
	return api_reply_ok();
}

struct json_object *api_check(struct agent *a, struct json_object *req)
{
	const char *cid, *ifname, *network, *netns, *ip;
	struct api_error e = {};

	if (api_get_str(req, "container_id", &cid, true, &e) ||
	    api_get_str(req, "ifname", &ifname, true, &e) ||
	    api_get_str(req, "network", &network, true, &e) ||
	    api_get_str(req, "netns", &netns, false, &e) ||
	    api_get_str(req, "ip", &ip, false, &e))
		return api_reply_error(&e);
	if (endpoint_check(a, cid, ifname, network, netns, ip, &e))
		return api_reply_error(&e);
	return api_reply_ok();
}

struct json_object *api_gc(struct agent *a, struct json_object *req)
{
	struct json_object *list = NULL, *o;
	struct gc_keep *keep = NULL;
	struct api_error e = {};
	const char *network;
	size_t i, n = 0;
	int released;

	if (api_get_str(req, "network", &network, true, &e))
		return api_reply_error(&e);
	if (json_object_object_get_ex(req, "attachments", &list) &&
	    !json_object_is_type(list, json_type_null)) {
		if (!json_object_is_type(list, json_type_array)) {
			api_fail(&e, PODLANE_ERR_DECODE, "field 'attachments' must be an array");
			return api_reply_error(&e);
		}
		n = json_object_array_length(list);
	}
	keep = calloc(n ? n : 1, sizeof(*keep));
	if (!keep) {
		api_fail(&e, PODLANE_ERR_INTERNAL, "out of memory");
		return api_reply_error(&e);
	}
	for (i = 0; i < n; i++) {
		struct json_object *item = json_object_array_get_idx(list, i);

		if (!json_object_is_type(item, json_type_object) ||
		    api_get_str(item, "container_id", &keep[i].container_id, true, &e) ||
		    api_get_str(item, "ifname", &keep[i].ifname, true, &e)) {
			if (!e.code)
				api_fail(&e, PODLANE_ERR_DECODE,
					"attachments[%zu] must be an object", i);
			free(keep);
			return api_reply_error(&e);
		}
	}
	released = endpoint_gc(a, network, keep, n, &e);
	free(keep);
	if (released < 0)
		return api_reply_error(&e);
	o = api_reply_ok();
	json_object_object_add(o, "released", json_object_new_int(released));
	return o;
}

struct list_state {
	struct agent *a;
	struct json_object *arr;
};

static int list_cb(__u32 ifindex, const struct endpoint_meta *meta, void *data)
{
	struct list_state *ls = data;
	struct agent *a = ls->a;
	struct endpoint_stats sum = {};
	struct endpoint_value val = {};
	struct json_object *ep, *drops;
	char ip[INET_ADDRSTRLEN], mac[18];
	bool ready, delegated;
	int slot;

	eps_stat_read(a, ifindex, &sum);
	eps_lookup(a, meta->addr.ip4, &val);
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
	api_acct_endpoint_fields(a, ifindex, ep);
	json_object_array_add(ls->arr, ep);
	return 0;
}

struct json_object *api_endpoint_list(struct agent *a, struct json_object *req)
{
	struct list_state ls = { .a = a, .arr = json_object_new_array() };
	struct json_object *o;

	eps_walk(a, list_cb, &ls);
	o = api_reply_ok();
	json_object_object_add(o, "endpoints", ls.arr);
	return o;
}

