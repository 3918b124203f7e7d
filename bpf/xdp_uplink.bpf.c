// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xdp_uplink.bpf.c - XDP on the node uplink, before the kernel allocates an skb: the
 * prefilter drops traffic whose source is in a deny-listed CIDR (LPM tries for IPv4 and IPv6,
 * longest prefix wins so an ALLOW rule can carve an exception out of a wider DENY). Denied
 * packets are counted in podlane_drops as PODLANE_DROP_PREFILTER_DENIED and on the rule that
 * matched, and reported on podlane_events like every other drop.
 *
 * Everything else passes: malformed frames are tc_from_uplink's business (it drops them with a
 * reason), so the cost for legitimate traffic is one trie lookup.
 *
 * NodePort at XDP: a new flow to a service frontend that has no backend to offer (no backend
 * at all, or externalTrafficPolicy Local on a node without one of its pods) is dropped here,
 * before an skb exists, with the reason tc would give (no_backend, no_local_backend); flows
 * podlane_ct already tracks pass, so they keep their backend. Translation and delivery stay
 * in tc_from_uplink: the backends are local pods, which need an skb in the pod's namespace
 * anyway, and XDP_REDIRECT into a veth would need an XDP program on the pod's own interface
 * (veth only accepts redirected frames when its peer runs XDP or NAPI), hand the skb
 * allocation to the veth's NAPI instead of saving it, and lose the uplink's GRO.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "podlane.h"

/*
 * The prefilter's own maps come first in the object, before the shared ones: a tool that
 * unpins an object's maps in order and stops at the first one already gone (another object
 * shared it) then still removes these.
 */

/* IPv4 source prefix -> rule; podlaned writes, the prefilter reads and counts hits. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, PODLANE_MAX_PREFILTER);
	__type(key, struct prefilter_key4);
	__type(value, struct prefilter_rule);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} podlane_deny4 SEC(".maps");

/* IPv6 source prefix -> rule; as podlane_deny4. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, PODLANE_MAX_PREFILTER);
	__type(key, struct prefilter_key6);
	__type(value, struct prefilter_rule);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} podlane_deny6 SEC(".maps");

#include "lib/conntrack.h"
#include "lib/maps.h"
#include "lib/lb.h"

#ifndef ETH_P_IP
#define ETH_P_IP	0x0800
#define ETH_P_IPV6	0x86DD
#define ETH_P_8021Q	0x8100
#define ETH_P_8021AD	0x88A8
#endif

/* Set by podlaned through the skeleton's rodata before load. */
const volatile bool drop_events = true;
const volatile bool prefilter_enabled = true;
const volatile bool nodeport_early_drop = true;

/* What the prefilter learned about a frame, for the counters and the drop event. */
struct xdp_meta {
	__u32	len;
	__be32	saddr;		/* IPv4 only; zero otherwise */
	__be32	daddr;
	__u16	eth_proto;	/* host byte order */
	__u8	ip_proto;
};

static __always_inline void xdp_emit_drop(struct xdp_md *ctx, const struct xdp_meta *m,
					  int reason)
{
	struct drop_event *ev;

	ev = bpf_ringbuf_reserve(&podlane_events, sizeof(*ev), 0);
	if (!ev)
		return;	/* reader too slow: the counters still have it */
	ev->type = PODLANE_EVENT_DROP;
	ev->reason = reason;
	ev->ifindex = ctx->ingress_ifindex;
	ev->len = m->len;
	ev->ts_ns = bpf_ktime_get_ns();
	ev->saddr = m->saddr;
	ev->daddr = m->daddr;
	ev->eth_proto = m->eth_proto;
	ev->ip_proto = m->ip_proto;
	ev->hook = PODLANE_HOOK_XDP_UPLINK;
	ev->pad = 0;
	bpf_ringbuf_submit(ev, 0);
}

/* The only way out: drop reasons are counted and reported, then become XDP_DROP. */
static __always_inline int xdp_exit(struct xdp_md *ctx, const struct xdp_meta *m, int verdict)
{
	struct drop_counter *dc;
	__u32 slot;

	if (verdict >= 0)
		return verdict;
	slot = PODLANE_DROP_INDEX(verdict);
	if (slot < PODLANE_DROP_SLOTS) {
		dc = bpf_map_lookup_elem(&podlane_drops, &slot);
		if (dc) {
			dc->packets++;
			dc->bytes += m->len;
		}
	}
	if (drop_events)
		xdp_emit_drop(ctx, m, verdict);
	return XDP_DROP;
}

/* A matching rule decides; deny hits are counted on the rule itself for `podlanectl`. */
static __always_inline int prefilter_verdict(struct prefilter_rule *rule)
{
	if (!rule || rule->action != PODLANE_PREFILTER_DENY) {
		lb_count(PODLANE_LB_PREFILTER_PASS);
		return XDP_PASS;
	}
	__sync_fetch_and_add(&rule->packets, 1);
	return PODLANE_DROP_PREFILTER_DENIED;
}

/*
 * A TCP/UDP packet to a service frontend without a backend it may use: drop it now, unless
 * podlane_ct tracks its flow (then tc_from_uplink keeps it on its backend). Everything else,
 * including every doubt (fragments, options that hide the ports), is left to tc.
 */
static __always_inline int nodeport_verdict(struct iphdr *ip, void *data_end)
{
	struct lb_service *svc;
	struct ct_key k = {};
	struct ct_entry *ct;
	__be16 *ports;
	bool local_only;

	if (!nodeport_early_drop)
		return XDP_PASS;
	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
		return XDP_PASS;
	if (ip->ihl != 5 || (ip->frag_off & bpf_htons(0x3fff)))
		return XDP_PASS;
	ports = (void *)(ip + 1);
	if ((void *)(ports + 2) > data_end)
		return XDP_PASS;
	svc = lb_service_lookup(ip->daddr, ports[1], ip->protocol);
	if (!svc)
		return XDP_PASS;
	local_only = (svc->flags & PODLANE_SVC_F_EXT_LOCAL) &&
		     (svc->flags & (PODLANE_SVC_F_NODEPORT | PODLANE_SVC_F_EXTERNAL));
	if (lb_pool_size(svc, local_only))
		return XDP_PASS;
	k.saddr = ip->saddr;
	k.daddr = ip->daddr;
	k.sport = ports[0];
	k.dport = ports[1];
	k.proto = ip->protocol;
	k.dir = PODLANE_CT_ORIGINAL;
	ct = bpf_map_lookup_elem(&podlane_ct, &k);
	if (ct && bpf_ktime_get_ns() <= ct->expires_ns)
		return XDP_PASS;
	return local_only ? PODLANE_DROP_NO_LOCAL_BACKEND : PODLANE_DROP_NO_BACKEND;
}

static __always_inline int prefilter(struct xdp_md *ctx, struct xdp_meta *m)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u16 proto;
	void *l3;
	int ret;

	m->len = data_end - data;
	if (!prefilter_enabled && !nodeport_early_drop)
		return XDP_PASS;
	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	proto = eth->h_proto;
	l3 = eth + 1;
	/* One VLAN tag, so that a tagged uplink is filtered too. */
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		struct vlan_hdr *vh = l3;

		if ((void *)(vh + 1) > data_end)
			return XDP_PASS;
		proto = vh->h_vlan_encapsulated_proto;
		l3 = vh + 1;
	}
	m->eth_proto = bpf_ntohs(proto);

	if (proto == bpf_htons(ETH_P_IP)) {
		struct prefilter_key4 key = { .prefixlen = 32 };
		struct iphdr *ip = l3;

		if ((void *)(ip + 1) > data_end)
			return XDP_PASS;
		m->saddr = ip->saddr;
		m->daddr = ip->daddr;
		m->ip_proto = ip->protocol;
		key.addr = ip->saddr;
		if (prefilter_enabled) {
			ret = prefilter_verdict(bpf_map_lookup_elem(&podlane_deny4, &key));
			if (ret != XDP_PASS)
				return ret;
		}
		return nodeport_verdict(ip, data_end);
	}
	if (proto == bpf_htons(ETH_P_IPV6)) {
		struct prefilter_key6 key = { .prefixlen = 128 };
		struct ipv6hdr *ip6 = l3;

		if (!prefilter_enabled || (void *)(ip6 + 1) > data_end)
			return XDP_PASS;
		m->ip_proto = ip6->nexthdr;
		__builtin_memcpy(key.addr, &ip6->saddr, sizeof(key.addr));
		return prefilter_verdict(bpf_map_lookup_elem(&podlane_deny6, &key));
	}
	return XDP_PASS;
}

SEC("xdp")
int xdp_from_uplink(struct xdp_md *ctx)
{
	struct xdp_meta m = {};

	return xdp_exit(ctx, &m, prefilter(ctx, &m));
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
