/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lib/route.h - reaching pods on other nodes: the podlane_nodes LPM map (remote pod CIDR ->
 * node), direct routing through the uplink with a FIB lookup, VXLAN through the kernel's
 * collect-metadata vxlan device, and the check on what comes out of the tunnel.
 *
 * Include after lib/common.h and lib/endpoint.h.
 */
#ifndef PODLANE_LIB_ROUTE_H
#define PODLANE_LIB_ROUTE_H

#ifndef AF_INET
#define AF_INET			2
#endif

/* Outer IPv4 TTL of encapsulated packets (0 would leave it to the vxlan device's default). */
#define VXLAN_TTL		64

/*
 * bpf_tunnel_key as far as tunnel_label: the layout every kernel since 4.x accepts, so the
 * helpers need not know which fields a newer struct appended.
 */
#define TUNNEL_KEY_SIZE		__builtin_offsetof(struct bpf_tunnel_key, tunnel_label)

/* remote pod CIDR -> node that owns it (struct node_value); podlaned writes, tc programs read. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, PODLANE_MAX_NODES);
	__type(key, struct node_key);
	__type(value, struct node_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} podlane_nodes SEC(".maps");

static __always_inline struct node_value *node_lookup4(__be32 addr)
{
	struct node_key key = { .prefixlen = 32, .addr = addr };

	return bpf_map_lookup_elem(&podlane_nodes, &key);
}

/*
 * Direct routing: the next hop toward node_ip as the kernel would pick it for a packet that
 * entered on the pod's veth. It must leave through the device the agent named (the uplink),
 * so a pod CIDR can never be steered out of an interface podlane does not own.
 */
static __always_inline int node_route_direct(struct __sk_buff *skb, struct ethhdr *eth,
					      struct iphdr *ip, const struct node_value *node)
{
	struct bpf_redir_neigh nh = { .nh_family = AF_INET };
	struct bpf_fib_lookup fib = {};
	int rc;

	fib.family = AF_INET;
	fib.tos = ip->tos;
	fib.l4_protocol = ip->protocol;
	fib.ipv4_src = ip->saddr;
	fib.ipv4_dst = node->node_ip;
	fib.ifindex = skb->ingress_ifindex;
	/* tot_len 0: the helper checks the skb itself against the MTU, GSO-aware. */
	rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED)
		return PODLANE_DROP_FRAG_NEEDED;
	if ((rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH) ||
	    fib.ifindex != node->ifindex)
		return PODLANE_DROP_NODE_UNREACHABLE;

	ipv4_decrement_ttl(ip);
	if (rc == BPF_FIB_LKUP_RET_SUCCESS) {
		eth_rewrite(eth, fib.smac, fib.dmac);
		return bpf_redirect(fib.ifindex, 0);
	}
	/* No valid neighbour yet: the kernel resolves the next hop and sends when it can. */
	nh.ipv4_nh = fib.ipv4_dst;
	return bpf_redirect_neigh(fib.ifindex, &nh, sizeof(nh), 0);
}

/*
 * VXLAN: the vxlan device encapsulates toward whatever the skb's tunnel metadata says. The
 * inner Ethernet header stays as the pod sent it; the receiving tc_from_tunnel rewrites it
 * for the destination pod anyway.
 */
static __always_inline int node_route_vxlan(struct __sk_buff *skb, struct iphdr *ip,
					    const struct node_value *node)
{
	struct bpf_tunnel_key key = {};

	key.tunnel_id = node->vni;
	key.remote_ipv4 = bpf_ntohl(node->node_ip);
	key.tunnel_ttl = VXLAN_TTL;
	if (bpf_skb_set_tunnel_key(skb, &key, TUNNEL_KEY_SIZE, 0))
		return PODLANE_DROP_TUNNEL_FAILED;
	ipv4_decrement_ttl(ip);
	if (bpf_redirect(node->ifindex, 0) != TC_ACT_REDIRECT)
		return PODLANE_DROP_TUNNEL_FAILED;
	return TC_ACT_REDIRECT;
}

/*
 * A pod's packet to an address that is not a local endpoint: send it to the node owning the
 * destination's pod CIDR. TC_ACT_OK (the host stack decides) when no node owns it.
 */
static __always_inline int node_forward(struct __sk_buff *skb, struct pkt_meta *m,
					struct ethhdr *eth, struct iphdr *ip)
{
	const struct node_value *node;
	int ret;

	node = node_lookup4(m->daddr);
	if (!node || (node->flags & PODLANE_NODE_F_ADDR))
		return TC_ACT_OK;
	ret = ipv4_check_l4(skb, ip);
	if (ret)
		return ret;
	if (ip->ttl <= 1)
		return PODLANE_DROP_TTL_EXCEEDED;
	if (node->flags & PODLANE_NODE_F_VXLAN)
		return node_route_vxlan(skb, ip, node);
	return node_route_direct(skb, eth, ip, node);
}

/*
 * What the vxlan device decapsulated must come from a node we know, on our VNI, and carry a
 * source address inside that node's pod CIDR: the tunnel accepts UDP from anywhere, and
 * without this check anyone who can reach port 4789 could inject packets with any pod's
 * address. Returns 0 or a drop reason.
 */
static __always_inline int tunnel_check_source(struct __sk_buff *skb, const struct pkt_meta *m)
{
	struct bpf_tunnel_key key = {};
	const struct node_value *node;

	if (bpf_skb_get_tunnel_key(skb, &key, TUNNEL_KEY_SIZE, 0))
		return PODLANE_DROP_TUNNEL_SOURCE;
	node = node_lookup4(m->saddr);
	if (!node || !(node->flags & PODLANE_NODE_F_VXLAN) || node->vni != key.tunnel_id ||
	    node->node_ip != bpf_htonl(key.remote_ipv4))
		return PODLANE_DROP_TUNNEL_SOURCE;
	return 0;
}

#endif /* PODLANE_LIB_ROUTE_H */
