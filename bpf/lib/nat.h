/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lib/nat.h - the per-packet service path for traffic that did not start at a local socket
 * (NodePort and external IPs from other machines, ClusterIPs reached from other nodes):
 * service_from_uplink() translates a client's packet to a backend and tracks the flow in
 * podlane_ct; service_reply() translates the backend's reply back to the frontend and sends it
 * toward the client through a FIB lookup. For a local backend the client's address is kept
 * (no SNAT): replies come back through this node because the pod is routed by it. A NodePort
 * flow to a backend on another node is also source-translated to this node and handed to
 * lib/route.h; its replies come back here over the underlay (PODLANE_CT_F_SNAT, podlane.h).
 *
 * Include after lib/common.h, lib/endpoint.h, lib/policy.h, lib/lb.h and lib/conntrack.h.
 */
#ifndef PODLANE_LIB_NAT_H
#define PODLANE_LIB_NAT_H

#ifndef AF_INET
#define AF_INET		2
#endif

/*
 * Set by podlaned through the skeleton's rodata: off skips the service lookups entirely
 * (a node without per-packet services pays nothing).
 */
const volatile bool service_nat = true;

enum l4_result {
	L4_PORTS	= 0,	/* tuple filled in */
	L4_NONE		= 1,	/* not TCP/UDP, or a later fragment: no ports to read */
};

static __always_inline bool ipv4_is_fragment(const struct iphdr *ip)
{
	return ip->frag_off & bpf_htons(IP_MF | IP_OFFSET);
}

/*
 * Read ports (and TCP flags) of an already parsed IPv4 packet. The header is normally in the
 * linear area and read in place; otherwise one bpf_skb_load_bytes() fetches it. Returns an
 * l4_result or PODLANE_DROP_L4_TRUNCATED.
 */
static __always_inline int l4_tuple_read(struct __sk_buff *skb, const struct iphdr *ip,
					 struct l4_tuple *t)
{
	__u32 hdr_len = ip->ihl * 4, need;
	__u8 buf[14];
	void *l4;

	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
		return L4_NONE;
	if (ip->frag_off & bpf_htons(IP_OFFSET))
		return L4_NONE;
	t->saddr = ip->saddr;
	t->daddr = ip->daddr;
	t->proto = ip->protocol;
	t->l4_off = ETH_HLEN + hdr_len;
	need = ip->protocol == IPPROTO_TCP ? 14 : 4;
	if (ipv4_check_l4(skb, ip))
		return PODLANE_DROP_L4_TRUNCATED;

	l4 = (void *)ip + (hdr_len & 0x3c);
	if (l4 + 14 <= skb_data_end(skb)) {
		__builtin_memcpy(buf, l4, 14);
	} else if (bpf_skb_load_bytes(skb, t->l4_off, buf, need)) {
		return PODLANE_DROP_L4_TRUNCATED;
	}
	__builtin_memcpy(&t->sport, buf, 2);
	__builtin_memcpy(&t->dport, buf + 2, 2);
	t->tcp_flags = ip->protocol == IPPROTO_TCP ? buf[13] : 0;
	return L4_PORTS;
}

/* A service_* function's answer when the packet is none of its business. */
#define SVC_PASS	1000
/* service_from_uplink(): translated for a backend on another node; the caller sends it there. */
#define SVC_REMOTE	1001

/*
 * A flow hash that every node computes alike for the same 5-tuple (no per-boot seed, unlike
 * skb->hash), so Maglev sends a flow to the same backend whichever node it enters. It mixes
 * like MurmurHash3's 32-bit body and finaliser.
 */
static __always_inline __u32 hash_mix(__u32 h, __u32 k)
{
	k *= 0xcc9e2d51;
	k = (k << 15) | (k >> 17);
	k *= 0x1b873593;
	h ^= k;
	h = (h << 13) | (h >> 19);
	return h * 5 + 0xe6546b64;
}

static __always_inline __u32 flow_hash4(const struct l4_tuple *t)
{
	__u32 h = 0x9747b28c ^ t->proto;

	h = hash_mix(h, t->saddr);
	h = hash_mix(h, t->daddr);
	h = hash_mix(h, (__u32)t->sport << 16 | t->dport);
	h ^= 12;
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

/*
 * Rewrite one address and port of a TCP/UDP packet: L4 checksum first (the address is part
 * of the pseudo header), then the IPv4 header checksum, then the bytes. The helpers keep
 * CHECKSUM_PARTIAL and CHECKSUM_COMPLETE skbs right; a UDP checksum of 0 (none) stays 0.
 * Invalidates packet pointers.
 */
static __always_inline int nat_rewrite(struct __sk_buff *skb, const struct l4_tuple *t, bool dst,
				       __be32 new_addr, __be16 new_port)
{
	__u32 addr_off = ETH_HLEN + (dst ? offsetof(struct iphdr, daddr) :
				     offsetof(struct iphdr, saddr));
	__u32 port_off = t->l4_off + (dst ? 2 : 0);
	__u32 csum_off, flags = 0;
	__be32 old_addr = dst ? t->daddr : t->saddr;
	__be16 old_port = dst ? t->dport : t->sport;

	if (t->proto == IPPROTO_TCP) {
		csum_off = t->l4_off + offsetof(struct tcphdr, check);
	} else {
		csum_off = t->l4_off + offsetof(struct udphdr, check);
		flags = BPF_F_MARK_MANGLED_0;
	}
	if (bpf_l4_csum_replace(skb, csum_off, old_addr, new_addr,
				flags | BPF_F_PSEUDO_HDR | sizeof(new_addr)) ||
	    bpf_l4_csum_replace(skb, csum_off, old_port, new_port, flags | sizeof(new_port)) ||
	    bpf_l3_csum_replace(skb, ETH_HLEN + offsetof(struct iphdr, check), old_addr,
				new_addr, sizeof(new_addr)) ||
	    bpf_skb_store_bytes(skb, addr_off, &new_addr, sizeof(new_addr), 0) ||
	    bpf_skb_store_bytes(skb, port_off, &new_port, sizeof(new_port), 0))
		return PODLANE_DROP_NAT_FAILED;
	return 0;
}

/* One's-complement update of a 16-bit checksum after a 32-bit word changed (RFC 1624). */
static __always_inline void csum_replace_u32(__sum16 *check, __be32 old, __be32 new)
{
	__u32 sum = (__u16)~*check;

	sum += (__u16)~(old & 0xffff) + (__u16)~(old >> 16);
	sum += (new & 0xffff) + (new >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	*check = (__sum16)~sum;
}

/*
 * nat_rewrite()'s destination half on bytes the caller has bounds-checked, for XDP (no skb,
 * no checksum helpers). Checksums must be complete, as a NIC hands frames to XDP: a
 * CHECKSUM_PARTIAL pseudo-header sum would need the other formula, and XDP cannot tell.
 * A UDP checksum of 0 (none) stays 0; a computed 0 is sent as 0xffff (RFC 768).
 */
static __always_inline void nat_rewrite_dst_raw(struct iphdr *ip, __be16 *dport, __sum16 *l4_check,
						bool udp, __be32 new_addr, __be16 new_port)
{
	if (!udp || *l4_check) {
		csum_replace_u32(l4_check, ip->daddr, new_addr);
		csum_replace_u16(l4_check, *dport, new_port);
		if (udp && !*l4_check)
			*l4_check = (__sum16)0xffff;
	}
	csum_replace_u32(&ip->check, ip->daddr, new_addr);
	ip->daddr = new_addr;
	*dport = new_port;
}

/* Packet pointers again after a rewrite; the header was valid before, so this only fails on
 * a kernel bug, which then counts as a failed rewrite. */
static __always_inline int reload_ipv4(struct __sk_buff *skb, struct ethhdr **ethp,
				       struct iphdr **ipp)
{
	struct ethhdr *eth = skb_data(skb);
	struct iphdr *ip = (void *)(eth + 1);

	if ((void *)(ip + 1) > skb_data_end(skb))
		return PODLANE_DROP_NAT_FAILED;
	*ethp = eth;
	*ipp = ip;
	return 0;
}

/*
 * A source port for a NodePort flow to a remote backend: one whose REPLY entry {backend ->
 * frontend address:port} is free (or expired), tried from a flow hash, so that two flows
 * never share a reply tuple.
 */
static __always_inline int snat_port_choose(const struct l4_tuple *t, const struct lb_backend *be,
					    __u64 now, __be16 *port)
{
	const __u32 range = PODLANE_SNAT_PORT_MAX - PODLANE_SNAT_PORT_MIN + 1;
	__u32 h = flow_hash4(t), i;
	struct ct_entry *old;
	struct ct_key rk;

	/*
	 * Unrolled: the loop's back edge would land on the helper call, and verifiers before
	 * 6.3 reject a loop closed through a call's fall-through ("back-edge from insn").
	 */
#pragma unroll
	for (i = 0; i < PODLANE_SNAT_TRIES; i++) {
		__be16 p = bpf_htons(PODLANE_SNAT_PORT_MIN + (h + i * 4099) % range);

		ct_key_fill(&rk, be->addr, t->daddr, be->port, p, t->proto, PODLANE_CT_REPLY);
		old = bpf_map_lookup_elem(&podlane_ct, &rk);
		if (!old || now > old->expires_ns) {
			*port = p;
			return 0;
		}
	}
	return PODLANE_DROP_SNAT_NO_PORT;
}

/*
 * A new flow to svc: choose a backend (Maglev for NodePort, so every node agrees; weighted
 * random otherwise; ClientIP affinity when the service asks) and write both podlane_ct
 * entries. externalTrafficPolicy Local restricts the choice to this node's backends.
 */
static __always_inline int service_new_flow(const struct lb_service *svc,
					    const struct l4_tuple *t, const struct ct_key *k,
					    struct ct_entry *out, __u64 now)
{
	bool local_only = (svc->flags & PODLANE_SVC_F_EXT_LOCAL) &&
			  (svc->flags & (PODLANE_SVC_F_NODEPORT | PODLANE_SVC_F_EXTERNAL));
	struct ct_entry reply = {};
	struct lb_backend *be;
	struct ct_key rk;

	/* Client IPs go in the high half so they never meet the netns cookies sock_lb uses. */
	be = lb_choose(svc, 1ULL << 63 | t->saddr, flow_hash4(t), local_only);
	if (!be)
		return local_only ? PODLANE_DROP_NO_LOCAL_BACKEND : PODLANE_DROP_NO_BACKEND;

	__builtin_memset(out, 0, sizeof(*out));
	out->created_ns = now;
	out->flags = ct_initial_state(t);
	if (be->flags & PODLANE_BACKEND_F_LOCAL)
		out->flags |= PODLANE_CT_F_LOCAL;
	out->expires_ns = now + ct_lifetime_ns(t->proto, out->flags);
	out->nat_addr = be->addr;
	out->nat_port = be->port;
	out->svc_id = svc->id;
	out->backend_id = be->id;

	/* NodePort to another node's pod: answers must come back here (podlane.h). */
	if (!(be->flags & PODLANE_BACKEND_F_LOCAL) && (svc->flags & PODLANE_SVC_F_NODEPORT)) {
		int ret = snat_port_choose(t, be, now, &out->rev_port);

		if (ret)
			return ret;
		out->flags |= PODLANE_CT_F_SNAT;
		out->rev_addr = t->daddr;
		reply.rev_addr = t->saddr;
		reply.rev_port = t->sport;
	}

	reply.created_ns = now;
	reply.flags = out->flags;
	reply.expires_ns = out->expires_ns;
	reply.nat_addr = t->daddr;
	reply.nat_port = t->dport;
	reply.svc_id = svc->id;
	reply.backend_id = be->id;
	ct_key_peer(&rk, k, out);

	/* Reply first: an ORIGINAL entry without its REPLY would translate one way only. */
	if (bpf_map_update_elem(&podlane_ct, &rk, &reply, BPF_ANY))
		return PODLANE_DROP_CT_FULL;
	if (bpf_map_update_elem(&podlane_ct, k, out, BPF_ANY)) {
		bpf_map_delete_elem(&podlane_ct, &rk);
		return PODLANE_DROP_CT_FULL;
	}
	lb_count(PODLANE_LB_NAT_NEW);
	if (out->flags & PODLANE_CT_F_MIDFLOW)
		lb_count(PODLANE_LB_CT_MIDFLOW);
	return 0;
}

/*
 * Send a translated reply toward the client as a router would: FIB lookup, MACs from the
 * neighbour table, one TTL spent. Without a complete answer (no neighbour yet, packet too big
 * for the route, TTL about to run out) the host stack forwards it and does the rest (ARP,
 * ICMP errors).
 */
static __always_inline int reply_forward(struct __sk_buff *skb, struct ethhdr *eth,
					 struct iphdr *ip)
{
	struct bpf_fib_lookup fib = {};
	int rc;

	if (ip->ttl <= 1)
		goto stack;
	fib.family = AF_INET;
	fib.tos = ip->tos;
	fib.l4_protocol = ip->protocol;
	/*
	 * No tot_len: the helper then checks the skb against the route's MTU, GSO-aware. A TSO
	 * backend's reply is one GSO skb whose IP tot_len exceeds the MTU; compared by tot_len
	 * it was sent to the stack, which drops a forwarded packet from a local (frontend)
	 * source, and bulk replies stalled.
	 */
	fib.ipv4_src = ip->saddr;
	fib.ipv4_dst = ip->daddr;
	fib.ifindex = skb->ifindex;
	rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	/* The redirect helpers only fail on bad flags; spell the verdict out for the caller. */
	if (rc == BPF_FIB_LKUP_RET_SUCCESS) {
		eth_rewrite(eth, fib.smac, fib.dmac);
		ipv4_decrement_ttl(ip);
		if (bpf_redirect(fib.ifindex, 0) != TC_ACT_REDIRECT)
			return PODLANE_DROP_REDIRECT_FAILED;
		return TC_ACT_REDIRECT;
	}
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
		ipv4_decrement_ttl(ip);
		if (bpf_redirect_neigh(fib.ifindex, NULL, 0, 0) != TC_ACT_REDIRECT)
			return PODLANE_DROP_REDIRECT_FAILED;
		return TC_ACT_REDIRECT;
	}
stack:
	lb_count(PODLANE_LB_REPLY_STACK);
	return TC_ACT_OK;
}

/*
 * The backend's answer to a source-translated NodePort flow, back from its node over the
 * underlay to this node's address and a SNAT port: put the frontend back as its source and
 * the client as its destination, and forward it. SVC_PASS when it is no such answer.
 */
static __always_inline int service_snat_reply(struct __sk_buff *skb, struct pkt_meta *m,
					      struct iphdr *ip, const struct l4_tuple *t)
{
	struct ethhdr *eth;
	struct ct_entry *ct;
	struct ct_key k;
	__u64 now;
	int ret;

	/* Only the SNAT port range can hold such flows: everything else skips the lookup. */
	if (bpf_ntohs(t->dport) < PODLANE_SNAT_PORT_MIN)
		return SVC_PASS;
	ct_key_fill(&k, t->saddr, t->daddr, t->sport, t->dport, t->proto, PODLANE_CT_REPLY);
	ct = bpf_map_lookup_elem(&podlane_ct, &k);
	if (!ct || !(ct->flags & PODLANE_CT_F_SNAT))
		return SVC_PASS;
	now = bpf_ktime_get_ns();
	if (now > ct->expires_ns)
		return SVC_PASS;
	if (ipv4_is_fragment(ip))
		return PODLANE_DROP_SERVICE_FRAGMENT;
	if (ct_refresh(ct, &k, t, skb->len, now))
		ct_sync_peer(&k, ct, now);

	ret = nat_rewrite(skb, t, false, ct->nat_addr, ct->nat_port);
	if (ret)
		return ret;
	ret = nat_rewrite(skb, t, true, ct->rev_addr, ct->rev_port);
	if (ret)
		return ret;
	ret = reload_ipv4(skb, &eth, &ip);
	if (ret)
		return ret;
	m->saddr = ip->saddr;
	m->daddr = ip->daddr;
	lb_count(PODLANE_LB_NAT_REPLY);
	return reply_forward(skb, eth, ip);
}

/*
 * A packet from outside to a service frontend: find or create its flow, DNAT it to the
 * backend, and deliver it to a local backend pod with bpf_redirect_peer(). A NodePort flow to
 * a backend on another node is source-translated too and returned as SVC_REMOTE, for the
 * caller to send on (lib/route.h); other flows to a backend elsewhere go to the host stack.
 * A packet to no service may still be an answer to such a flow (service_snat_reply()).
 * Returns SVC_PASS when it is neither, else a verdict or a drop reason for pkt_exit().
 */
static __always_inline int service_from_uplink(struct __sk_buff *skb, struct pkt_meta *m,
					       struct iphdr *ip)
{
	struct endpoint_value *ep = NULL;
	struct ct_entry *ct, fresh;
	struct lb_service *svc;
	struct ethhdr *eth;
	struct l4_tuple t;
	struct ct_key k;
	__u64 now;
	int ret;

	if (!service_nat)
		return SVC_PASS;
	/* Without ports (not TCP/UDP, later fragment, cut header) it cannot be a service. */
	if (l4_tuple_read(skb, ip, &t) != L4_PORTS)
		return SVC_PASS;
	svc = lb_service_lookup(t.daddr, t.dport, t.proto);
	if (!svc)
		return service_snat_reply(skb, m, ip, &t);
	if (ipv4_is_fragment(ip))
		return PODLANE_DROP_SERVICE_FRAGMENT;

	now = bpf_ktime_get_ns();
	ct_key_fill(&k, t.saddr, t.daddr, t.sport, t.dport, t.proto, PODLANE_CT_ORIGINAL);
	ct = bpf_map_lookup_elem(&podlane_ct, &k);
	if (ct && now <= ct->expires_ns) {
		ep = endpoint_lookup4(ct->nat_addr);
		if (!ep && (ct->flags & PODLANE_CT_F_LOCAL)) {
			/* The pod behind this flow is gone: choose again, as for a new flow. */
			lb_count(PODLANE_LB_CT_STALE);
			ct = NULL;
		}
	} else {
		ct = NULL;
	}
	if (ct) {
		if (ct_refresh(ct, &k, &t, skb->len, now))
			ct_sync_peer(&k, ct, now);
		lb_count(PODLANE_LB_NAT_CT_HIT);
	} else {
		ret = service_new_flow(svc, &t, &k, &fresh, now);
		if (ret)
			return ret;
		fresh.packets = 1;
		fresh.bytes = skb->len;
		ct = bpf_map_lookup_elem(&podlane_ct, &k);
		if (ct) {
			ct->packets++;
			ct->bytes += skb->len;
		} else {
			ct = &fresh;	/* evicted at once by a full map: translate this packet */
		}
		ep = endpoint_lookup4(fresh.nat_addr);
	}

	ret = nat_rewrite(skb, &t, true, ct->nat_addr, ct->nat_port);
	if (ret)
		return ret;
	if (ct->flags & PODLANE_CT_F_SNAT) {
		ret = nat_rewrite(skb, &t, false, ct->rev_addr, ct->rev_port);
		if (ret)
			return ret;
		m->saddr = ct->rev_addr;
		m->daddr = ct->nat_addr;
		return SVC_REMOTE;
	}
	ret = reload_ipv4(skb, &eth, &ip);
	if (ret)
		return ret;
	if (!endpoint_is_ready(ep))
		return TC_ACT_OK;	/* backend elsewhere or not wired: the stack routes it */
	/* From here on a drop is the backend pod's loss: charge it there. */
	m->ep_ifindex = ep->ifindex;
	/* Translated: the backend's ingress policy judges the flow as the backend sees it. */
	ret = policy_to_endpoint(skb, m, ep->ifindex);
	if (ret)
		return ret;
	return endpoint_forward(m, skb, eth, ip, ep);
}

/*
 * A packet a pod sends: if it answers a translated flow, put the frontend back as its source
 * and forward it to the client. Returns SVC_PASS when it belongs to no translated flow.
 */
static __always_inline int service_reply(struct __sk_buff *skb, struct pkt_meta *m,
					 struct iphdr *ip)
{
	struct ethhdr *eth;
	struct ct_entry *ct;
	struct l4_tuple t;
	struct ct_key k;
	__u64 now;
	int ret;

	if (!service_nat)
		return SVC_PASS;
	ret = l4_tuple_read(skb, ip, &t);
	if (ret != L4_PORTS)
		return SVC_PASS;	/* truncated headers: the normal path judges them */
	ct_key_fill(&k, t.saddr, t.daddr, t.sport, t.dport, t.proto, PODLANE_CT_REPLY);
	ct = bpf_map_lookup_elem(&podlane_ct, &k);
	if (!ct)
		return SVC_PASS;
	now = bpf_ktime_get_ns();
	if (now > ct->expires_ns)
		return SVC_PASS;
	if (ipv4_is_fragment(ip))
		return PODLANE_DROP_SERVICE_FRAGMENT;
	if (ct_refresh(ct, &k, &t, skb->len, now))
		ct_sync_peer(&k, ct, now);

	ret = nat_rewrite(skb, &t, false, ct->nat_addr, ct->nat_port);
	if (ret)
		return ret;
	ret = reload_ipv4(skb, &eth, &ip);
	if (ret)
		return ret;
	m->saddr = ip->saddr;
	lb_count(PODLANE_LB_NAT_REPLY);
	return reply_forward(skb, eth, ip);
}

#endif /* PODLANE_LIB_NAT_H */
