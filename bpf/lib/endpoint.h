/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lib/endpoint.h - finding local endpoints in podlane_eps and delivering packets to them
 * straight into the pod's namespace with bpf_redirect_peer().
 */
#ifndef PODLANE_LIB_ENDPOINT_H
#define PODLANE_LIB_ENDPOINT_H

static __always_inline struct endpoint_value *endpoint_lookup4(__be32 addr)
{
	struct endpoint_key key;

	/* The key is hashed byte for byte: padding and the unused IPv6 words must be zero. */
	__builtin_memset(&key, 0, sizeof(key));
	key.addr.family = PODLANE_AF_INET;
	key.addr.ip4 = addr;
	return bpf_map_lookup_elem(&podlane_eps, &key);
}

/* Only endpoints the agent marked READY (programs attached, neighbours set) take the fast path. */
static __always_inline bool endpoint_is_ready(const struct endpoint_value *ep)
{
	return ep && (ep->flags & PODLANE_EP_F_READY);
}

static __always_inline bool endpoint_known(__u32 ifindex)
{
	return bpf_map_lookup_elem(&podlane_ep_stat, &ifindex) != NULL;
}

/*
 * Forward an already parsed IPv4 packet to a local endpoint as a router would: check what a
 * router checks, become the pod's gateway (src MAC = host veth, dst MAC = pod), spend one TTL,
 * and hand the packet to the pod end of the veth without a trip through the host stack.
 * Returns TC_ACT_REDIRECT or a drop reason; the caller passes it to pkt_exit().
 */
static __always_inline int endpoint_forward(struct pkt_meta *m, struct __sk_buff *skb,
					    struct ethhdr *eth, struct iphdr *ip,
					    const struct endpoint_value *dst)
{
	__u32 ifindex = dst->ifindex;
	int ret;

	ret = ipv4_check_l4(skb, ip);
	if (ret)
		return ret;
	if (ip->ttl <= 1)
		return PODLANE_DROP_TTL_EXCEEDED;

	eth_rewrite(eth, dst->host_mac, dst->pod_mac);
	ipv4_decrement_ttl(ip);

	m->redirect_ifindex = ifindex;
	/* It only fails on bad flags today; the real check (peer exists) happens after we return. */
	if (bpf_redirect_peer(ifindex, 0) != TC_ACT_REDIRECT)
		return PODLANE_DROP_REDIRECT_FAILED;
	return TC_ACT_REDIRECT;
}

#endif /* PODLANE_LIB_ENDPOINT_H */
