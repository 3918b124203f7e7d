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
 * podlane_ct already tracks pass, so they keep their backend.
 *
 * NodePort fast path (rodata nodeport_fastpath): a packet of a flow podlane_ct already tracks,
 * whose backend is a ready local pod, is translated here (DNAT with incremental checksums,
 * MACs, TTL, conntrack refresh and the same counters as tc) and sent with bpf_redirect() to
 * the pod's host veth, which hands it to the pod end. New flows stay in tc_from_uplink (one
 * place chooses backends and writes conntrack). The kernel drops a frame redirected into a
 * veth whose peer has no NAPI (no XDP program and GRO off on the pod's interface), after the
 * program returned and without a trace in our counters, so the fast path is only taken for
 * endpoints the agent flagged PODLANE_EP_F_XDP_RX; every other packet is XDP_PASS and tc
 * handles it as before. What it saves is the uplink skb and the tc run, not the skb: the
 * pod's NAPI builds that one. Frames for a pod that a network policy isolates for ingress
 * are left to tc too, which judges them (lib/policy.h).
 *
 * The checksum updates assume what a NIC hands XDP: complete checksums. A veth uplink whose
 * peer offloads transmit checksums (every veth by default) carries CHECKSUM_PARTIAL frames,
 * whose TCP/UDP field holds only the pseudo-header sum; XDP cannot tell (an xdp_md has no
 * ip_summed, and a partial sum looks like any other checksum), the incremental update is then
 * wrong and the pod drops the segment (TcpInCsumErrors). So the knob defaults off here, and
 * podlaned sets it from --xdp-nodeport (lb/datapath.c): auto turns it on for a NIC uplink in
 * native XDP mode only, never for a veth; `on` forces it (the tests emulate a wire by turning
 * the client's transmit checksum offload off). Endpoints get PODLANE_EP_F_XDP_RX from their
 * ADD, or at agent start, once GRO is on at the pod end (endpoint/).
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
#include "lib/common.h"
#include "lib/endpoint.h"
#include "lib/policy.h"
#include "lib/lb.h"
#include "lib/nat.h"

#ifndef ETH_P_IPV6
#define ETH_P_IPV6	0x86DD
#define ETH_P_8021Q	0x8100
#define ETH_P_8021AD	0x88A8
#endif

/* Set by podlaned through the skeleton's rodata before load (drop_events is in lib/common.h). */
const volatile bool prefilter_enabled = true;
const volatile bool nodeport_early_drop = true;
/* Off unless podlaned turns it on (--xdp-nodeport): see the top of the file for why. */
const volatile bool nodeport_fastpath = false;

/* What the prefilter learned about a frame, for the counters and the drop event. */
struct xdp_meta {
	__u32	len;
	__be32	saddr;		/* IPv4 only; zero otherwise */
	__be32	daddr;
	__u16	eth_proto;	/* host byte order */
	__u8	ip_proto;
};

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
		drop_event_emit(verdict, ctx->ingress_ifindex, m->len, m->saddr, m->daddr,
				m->eth_proto, m->ip_proto, PODLANE_HOOK_XDP_UPLINK);
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
 * A packet of a flow podlane_ct already tracks, whose backend is a ready pod on this node:
 * translate and deliver it as service_from_uplink() would, without an skb on the uplink. Only
 * the plain case is taken: untagged, no IP options, sane lengths, TTL to spare, a frame that
 * fits the pod's MTU, a pod end that accepts redirected frames (PODLANE_EP_F_XDP_RX). Anything
 * else returns XDP_PASS before a byte or a counter changed, and tc does the work (and gives the
 * drop reasons). New flows never come here: choosing a backend and writing both entries stays
 * in one place, tc.
 */
static __always_inline int nodeport_fast(struct xdp_md *ctx, struct xdp_meta *m,
					 struct ethhdr *eth, struct iphdr *ip, void *data_end,
					 const struct ct_key *k, struct ct_entry *ct, __u64 now)
{
	struct endpoint_value *ep;
	struct endpoint_stats *st;
	__u32 tot_len, need, mtu_len;
	struct l4_tuple t;
	__sum16 *check;
	__be16 *ports;

	if (!eth || !(ct->flags & PODLANE_CT_F_LOCAL))
		return XDP_PASS;
	ep = endpoint_lookup4(ct->nat_addr);
	/* A vanished pod is tc's to handle: it re-chooses and counts PODLANE_LB_CT_STALE. */
	if (!endpoint_is_ready(ep) || !(ep->flags & PODLANE_EP_F_XDP_RX))
		return XDP_PASS;
	/* Ingress policy is judged in tc (lib/policy.h): never let XDP deliver around it. */
	if (policy_ingress_isolated(ep->ifindex))
		return XDP_PASS;
	if (ip->version != 4 || ip->ttl <= 1)
		return XDP_PASS;
	ports = (void *)(ip + 1);
	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *th = (void *)ports;

		if ((void *)(th + 1) > data_end)
			return XDP_PASS;
		t.tcp_flags = ((__u8 *)th)[13];
		check = &th->check;
		need = sizeof(*ip) + sizeof(*th);
	} else {
		struct udphdr *uh = (void *)ports;

		if ((void *)(uh + 1) > data_end)
			return XDP_PASS;
		t.tcp_flags = 0;
		check = &uh->check;
		need = sizeof(*ip) + sizeof(*uh);
	}
	tot_len = bpf_ntohs(ip->tot_len);
	if (tot_len < need || tot_len > data_end - (void *)ip)
		return XDP_PASS;
	/*
	 * A frame longer than the pod's MTU (vxlan mode gives pods 50 bytes less than the
	 * uplink) would be dropped by the veth's XDP transmit without a trace: tc's then.
	 */
	mtu_len = 0;
	if (bpf_check_mtu(ctx, ep->ifindex, &mtu_len, 0, 0))
		return XDP_PASS;

	t.saddr = k->saddr;
	t.daddr = k->daddr;
	t.sport = k->sport;
	t.dport = k->dport;
	t.proto = k->proto;
	t.l4_off = ETH_HLEN + sizeof(*ip);
	if (ct_refresh(ct, k, &t, m->len, now))
		ct_sync_peer(k, ct, now);
	lb_count(PODLANE_LB_NAT_CT_HIT);
	lb_count(PODLANE_LB_XDP_FAST);

	nat_rewrite_dst_raw(ip, &ports[1], check, ip->protocol == IPPROTO_UDP, ct->nat_addr,
			    ct->nat_port);
	eth_rewrite(eth, ep->host_mac, ep->pod_mac);
	ipv4_decrement_ttl(ip);

	st = bpf_map_lookup_elem(&podlane_ep_stat, &ep->ifindex);
	if (st) {
		st->rx_packets++;
		st->rx_bytes += m->len;
	}
	/* Redirecting to the host veth hands the frame to its peer, the pod's interface. */
	return bpf_redirect(ep->ifindex, 0);
}

/*
 * Whether an IPv4 TCP or UDP packet without options is whole as tc_from_uplink's parse would
 * judge it (lib/common.h: parse_ipv4, ipv4_check_l4): version 4, a total length inside the
 * frame, and a transport header whose own length (TCP data offset, UDP length) fits. Anything
 * else is tc's to drop with its reason: XDP neither drops it for another one nor translates
 * it.
 */
static __always_inline bool l4_whole(const struct iphdr *ip, void *data_end)
{
	__u32 tot_len = bpf_ntohs(ip->tot_len), l4_len, len;
	const __u8 *l4 = (const void *)(ip + 1);

	/* Lengths compared as numbers: 6.1's verifier refuses ip + tot_len (up to 64k). */
	if (ip->version != 4 || tot_len < sizeof(*ip) || tot_len > data_end - (void *)ip)
		return false;
	l4_len = tot_len - sizeof(*ip);
	if (ip->protocol == IPPROTO_TCP) {
		if ((void *)(l4 + sizeof(struct tcphdr)) > data_end || l4_len < sizeof(struct tcphdr))
			return false;
		len = (l4[12] >> 4) * 4;
		return len >= sizeof(struct tcphdr) && len <= l4_len;
	}
	if ((void *)(l4 + sizeof(struct udphdr)) > data_end || l4_len < sizeof(struct udphdr))
		return false;
	len = (__u32)l4[4] << 8 | l4[5];
	return len >= sizeof(struct udphdr) && len <= l4_len;
}

/*
 * A TCP/UDP packet to a service frontend. A flow podlane_ct tracks may take the fast path
 * above; a new one to a frontend without a backend it may use is dropped now (unless tracked:
 * then tc_from_uplink keeps it on its backend). Everything else, including every doubt
 * (fragments, options that hide the ports, a malformed header), is left to tc.
 */
static __always_inline int nodeport_verdict(struct xdp_md *ctx, struct xdp_meta *m,
					    struct ethhdr *eth, struct iphdr *ip, void *data_end)
{
	struct lb_service *svc;
	struct ct_entry *ct;
	bool local_only, has_pool;
	__be16 *ports;
	struct ct_key k;
	__u64 now;

	if (!nodeport_early_drop && !nodeport_fastpath)
		return XDP_PASS;
	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
		return XDP_PASS;
	if (ip->ihl != 5 || (ip->frag_off & bpf_htons(0x3fff)) || !l4_whole(ip, data_end))
		return XDP_PASS;
	ports = (void *)(ip + 1);
	if ((void *)(ports + 2) > data_end)
		return XDP_PASS;
	svc = lb_service_lookup(ip->daddr, ports[1], ip->protocol);
	if (!svc)
		return XDP_PASS;
	local_only = (svc->flags & PODLANE_SVC_F_EXT_LOCAL) &&
		     (svc->flags & (PODLANE_SVC_F_NODEPORT | PODLANE_SVC_F_EXTERNAL));
	has_pool = lb_pool_size(svc, local_only) != 0;
	if (has_pool && !nodeport_fastpath)
		return XDP_PASS;
	ct_key_fill(&k, ip->saddr, ip->daddr, ports[0], ports[1], ip->protocol,
		    PODLANE_CT_ORIGINAL);
	ct = bpf_map_lookup_elem(&podlane_ct, &k);
	now = bpf_ktime_get_ns();
	if (!ct || now > ct->expires_ns) {
		if (has_pool || !nodeport_early_drop)
			return XDP_PASS;
		return local_only ? PODLANE_DROP_NO_LOCAL_BACKEND : PODLANE_DROP_NO_BACKEND;
	}
	if (!nodeport_fastpath || !service_nat)
		return XDP_PASS;
	return nodeport_fast(ctx, m, eth, ip, data_end, &k, ct, now);
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
	if (!prefilter_enabled && !nodeport_early_drop && !nodeport_fastpath)
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
		/* The fast path delivers untagged frames only: the pod knows no VLANs. */
		return nodeport_verdict(ctx, m, l3 == (void *)(eth + 1) ? eth : NULL, ip,
					data_end);
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
