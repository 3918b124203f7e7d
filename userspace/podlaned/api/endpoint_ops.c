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
#include "labels.h"
#include "log.h"

struct json_object *api_add(struct agent *a, struct json_object *req)
{
	struct api_add_req rq;
	struct add_request ar;
	struct add_result res;
	struct api_error e = {};
	struct label_set labels = {};
	struct json_object *o;
	char ip[INET_ADDRSTRLEN], host_mac[18], pod_mac[18];

	if (api_add_req_decode(req, &rq, &e))
		return api_reply_error(&e);
	if (api_labels_to_set(rq.labels, rq.n_labels, "labels", &labels, &e)) {
		api_add_req_free(&rq);
		return api_reply_error(&e);
	}
	ar = (struct add_request){
		.container_id = rq.container_id,
		.netns = rq.netns,
		.ifname = rq.ifname,
		.network = rq.network,
		.subnet = rq.subnet,
		.ip = rq.ip && rq.ip[0] ? rq.ip : NULL,
		.mtu = rq.has_mtu ? rq.mtu : 0,
		.default_route = rq.has_default_route ? rq.default_route : -1,
		.pod_namespace = rq.pod_namespace,
		.pod_name = rq.pod_name,
		.labels = &labels,
	};
	if (endpoint_add(a, &ar, &res, &e)) {
		log_warn("add failed container_id=%s ifname=%s netns=%s code=%d err=\"%s\"",
			 ar.container_id, ar.ifname, ar.netns, e.code, e.msg);
		label_set_free(&labels);
		api_add_req_free(&rq);
		return api_reply_error(&e);
	}
	inet_ntop(AF_INET, &res.addr, ip, sizeof(ip));
	log_info("endpoint added container_id=%s ifname=%s network=%s ip=%s host_ifname=%s "
		 "pod=%s/%s", ar.container_id, ar.ifname, ar.network, ip, res.host_ifname,
		 ar.pod_namespace ? ar.pod_namespace : "", ar.pod_name ? ar.pod_name : "");
	acct_endpoint_changed(a);
	label_set_free(&labels);
	api_add_req_free(&rq);
	o = api_add_reply_encode(&(struct api_add_reply){
		.ip = ip,
		.prefix_len = 32,
		.gateway = PODLANE_GATEWAY4,
		.host_ifname = res.host_ifname,
		.host_ifindex = res.host_ifindex,
		.host_mac = nl_mac_str(res.host_mac, host_mac),
		.pod_mac = nl_mac_str(res.pod_mac, pod_mac),
		.pod_ifindex = res.pod_ifindex,
		.has_default_route = true,
		.default_route = res.default_route,
	});
	return o;
}

struct json_object *api_del(struct agent *a, struct json_object *req)
{
	struct api_del_req rq;
	struct api_error e = {};

	if (api_del_req_decode(req, &rq, &e) ||
	    endpoint_del(a, rq.container_id, rq.ifname, rq.network, &e))
		return api_reply_error(&e);
	return api_del_reply_encode(&(struct api_del_reply){});
}

struct json_object *api_check(struct agent *a, struct json_object *req)
{
	struct api_check_req rq;
	struct api_error e = {};

	if (api_check_req_decode(req, &rq, &e) ||
	    endpoint_check(a, rq.container_id, rq.ifname, rq.network, rq.netns, rq.ip, &e))
		return api_reply_error(&e);
	return api_check_reply_encode(&(struct api_check_reply){});
}

struct json_object *api_gc(struct agent *a, struct json_object *req)
{
	struct api_gc_req rq;
	struct gc_keep *keep;
	struct api_error e = {};
	int released;
	size_t i;

	if (api_gc_req_decode(req, &rq, &e))
		return api_reply_error(&e);
	keep = calloc(rq.n_attachments ? rq.n_attachments : 1, sizeof(*keep));
	if (!keep) {
		api_gc_req_free(&rq);
		return api_reply_oom();
	}
	for (i = 0; i < rq.n_attachments; i++)
		keep[i] = (struct gc_keep){ .container_id = rq.attachments[i].container_id,
					    .ifname = rq.attachments[i].ifname };
	released = endpoint_gc(a, rq.network, keep, rq.n_attachments, &e);
	free(keep);
	api_gc_req_free(&rq);
	if (released < 0)
		return api_reply_error(&e);
	return api_gc_reply_encode(&(struct api_gc_reply){ .released = released });
}

struct list_state {
	struct agent *a;
	struct api_endpoint_list_reply r;
	size_t cap;
	struct api_strs strs;
	bool oom;
};

static int list_cb(__u32 ifindex, const struct endpoint_meta *meta, void *data)
{
	struct list_state *ls = data;
	struct agent *a = ls->a;
	struct endpoint_stats sum = {};
	struct endpoint_value val = {};
	struct api_endpoint *ep;
	char ip[INET_ADDRSTRLEN], mac[18];

	if (ls->r.n_endpoints == ls->cap) {
		size_t cap = ls->cap ? 2 * ls->cap : 64;
		struct api_endpoint *v = realloc(ls->r.endpoints, cap * sizeof(*v));

		if (!v) {
			ls->oom = true;
			return 1;
		}
		ls->r.endpoints = v;
		ls->cap = cap;
	}
	ep = &ls->r.endpoints[ls->r.n_endpoints++];
	*ep = (struct api_endpoint){};

	eps_stat_read(a, ifindex, &sum);
	eps_lookup(a, meta->addr.ip4, &val);
	inet_ntop(AF_INET, &meta->addr.ip4, ip, sizeof(ip));
	/* meta lives for this call only: keep copies of its strings. */
	ep->container_id = api_strs_add(&ls->strs, "%s", meta->container_id);
	ep->netns = api_strs_add(&ls->strs, "%s", meta->netns);
	ep->network = api_strs_add(&ls->strs, "%s", meta->network);
	ep->ifname = api_strs_add(&ls->strs, "%s", meta->ifname);
	ep->host_ifname = api_strs_add(&ls->strs, "%s", meta->host_ifname);
	ep->ifindex = ifindex;
	ep->pod_ifindex = meta->pod_ifindex;
	ep->ip = api_strs_add(&ls->strs, "%s", ip);
	ep->pod_mac = api_strs_add(&ls->strs, "%s", nl_mac_str(val.pod_mac, mac));
	ep->host_mac = api_strs_add(&ls->strs, "%s", nl_mac_str(val.host_mac, mac));
	ep->ready = val.ifindex == ifindex && (val.flags & PODLANE_EP_F_READY);
	ep->ipam_delegated = meta->flags & PODLANE_META_F_IPAM_DELEGATED;
	ep->created_ns = meta->created_ns;
	ep->rx_packets = sum.rx_packets;
	ep->rx_bytes = sum.rx_bytes;
	ep->tx_packets = sum.tx_packets;
	ep->tx_bytes = sum.tx_bytes;
	if (api_drop_counts(sum.drops, &ls->strs, &ep->drops, &ep->n_drops)) {
		ls->oom = true;
		return 1;
	}
	api_acct_endpoint(a, ifindex, ep);
	return 0;
}

/* Every endpoint's ifindex: a page lists them in that order. */
struct ifindexes {
	__u32 *v;
	size_t n, cap;
	bool oom;
};

static int ifindex_cb(__u32 ifindex, const struct endpoint_meta *meta, void *data)
{
	struct ifindexes *ix = data;

	if (ix->n == ix->cap) {
		size_t cap = ix->cap ? 2 * ix->cap : 256;
		__u32 *v = realloc(ix->v, cap * sizeof(*v));

		if (!v) {
			ix->oom = true;
			return 1;
		}
		ix->v = v;
		ix->cap = cap;
	}
	ix->v[ix->n++] = ifindex;
	return 0;
}

static int cmp_u32(const void *x, const void *y)
{
	__u32 a = *(const __u32 *)x, b = *(const __u32 *)y;

	return a < b ? -1 : a > b;
}

struct json_object *api_endpoint_list(struct agent *a, struct json_object *req)
{
	struct list_state ls = { .a = a };
	struct api_endpoint_list_req rq;
	struct json_object *o = NULL;
	struct endpoint_meta meta;
	struct ifindexes ix = {};
	struct api_error e = {};
	size_t i, len, used = 0, limit;

	if (api_endpoint_list_req_decode(req, &rq, &e))
		return api_reply_error(&e);
	eps_walk(a, ifindex_cb, &ix);
	if (ix.oom) {
		free(ix.v);
		return api_reply_oom();
	}
	if (ix.n)	/* no endpoints: ix.v is NULL, which qsort() must not get */
		qsort(ix.v, ix.n, sizeof(*ix.v), cmp_u32);
	ls.r.has_total = true;
	ls.r.total = ix.n;
	limit = rq.has_limit ? (size_t)rq.limit : SIZE_MAX;
	for (i = rq.has_offset ? (size_t)rq.offset : 0; i < ix.n; i++) {
		struct api_endpoint *ep;

		if (ls.r.n_endpoints == limit)
			break;
		if (eps_meta_get(a, ix.v[i], &meta))
			continue;	/* removed since the walk */
		if (list_cb(ix.v[i], &meta, &ls))
			break;
		ep = &ls.r.endpoints[ls.r.n_endpoints - 1];
		len = api_endpoint_encoded_len(ep) + (ls.r.n_endpoints > 1);
		if (ls.r.n_endpoints > 1 && used + len > PODLANE_API_PAGE_BYTES) {
			/* The next page starts with it. */
			free(ep->drops);
			ls.r.n_endpoints--;
			break;
		}
		used += len;
	}
	if (i < ix.n) {
		ls.r.has_next_offset = true;
		ls.r.next_offset = i;
	}
	free(ix.v);
	if (!ls.oom && !ls.strs.oom)
		o = api_endpoint_list_reply_encode(&ls.r);
	api_endpoint_list_reply_free(&ls.r);
	api_strs_free(&ls.strs);
	return o ? o : api_reply_oom();
}
