/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lib/common.h - what every podlane tc program needs: packet parsing with bounds checks, the
 * single exit function that counts every verdict and explains every drop, and the in-place
 * forwarding rewrites (MACs, TTL with incremental checksum).
 *
 * Include after vmlinux.h, the libbpf headers, podlane.h and lib/maps.h, once per object.
 */
#ifndef PODLANE_LIB_COMMON_H
#define PODLANE_LIB_COMMON_H

/* uapi macros: vmlinux.h only carries enums, so these are spelled out here. */
#ifndef TC_ACT_UNSPEC
#define TC_ACT_UNSPEC		(-1)
#define TC_ACT_OK		0
#define TC_ACT_SHOT		2
#define TC_ACT_REDIRECT		7
#endif
#ifndef ETH_HLEN
#define ETH_HLEN		14
#define ETH_ALEN		6
#endif
#ifndef ETH_P_IP
#define ETH_P_IP		0x0800
#endif
#ifndef IP_OFFSET
#define IP_MF			0x2000
#define IP_OFFSET		0x1fff
#endif

#define IP4_MIN_HLEN		20
#define TCP_MIN_HLEN		20
#define UDP_HLEN		8
#define ICMP_MIN_HLEN		8

/*
 * Set by podlaned through the skeleton's rodata before load. When off the verifier prunes the
 * ring buffer code entirely, so a node that never runs `podlanectl monitor` pays nothing.
 */
const volatile bool drop_events = true;

/* What one program run learned about its packet: feeds the counters and the drop event. */
struct pkt_meta {
	__u32	ifindex;		/* device the program runs on */
	__u32	ep_ifindex;		/* endpoint charged with this packet, 0 = none */
	__u32	redirect_ifindex;	/* endpoint receiving the packet on a redirect */
	__be32	saddr;
	__be32	daddr;
	__u16	eth_proto;		/* host byte order */
	__u8	ip_proto;
	__u8	hook;			/* enum podlane_hook */
};

enum parse_result {
	PARSE_IPV4	= 0,	/* eth and ip point at a sane IPv4 header */
	PARSE_OTHER	= 1,	/* not IPv4 (ARP, IPv6, ...): the stack decides */
};

static __always_inline bool verdict_is_drop(int verdict)
{
	return verdict <= -PODLANE_DROP_FIRST &&
	       verdict > -(PODLANE_DROP_FIRST + PODLANE_DROP_SLOTS);
}

/* One drop_event on the ring buffer; shared by the tc exit below and the XDP exit. */
static __always_inline void drop_event_emit(int reason, __u32 ifindex, __u32 len, __be32 saddr,
					    __be32 daddr, __u16 eth_proto, __u8 ip_proto, __u8 hook)
{
	struct drop_event *ev;

	ev = bpf_ringbuf_reserve(&podlane_events, sizeof(*ev), 0);
	if (!ev)
		return;	/* reader too slow: the counters still have it */
	ev->type = PODLANE_EVENT_DROP;
	ev->reason = reason;
	ev->ifindex = ifindex;
	ev->len = len;
	ev->ts_ns = bpf_ktime_get_ns();
	ev->saddr = saddr;
	ev->daddr = daddr;
	ev->eth_proto = eth_proto;
	ev->ip_proto = ip_proto;
	ev->hook = hook;
	ev->pad = 0;
	bpf_ringbuf_submit(ev, 0);
}

static __always_inline void emit_drop_event(struct __sk_buff *skb, const struct pkt_meta *m,
					    int reason)
{
	drop_event_emit(reason, m->ifindex, skb->len, m->saddr, m->daddr, m->eth_proto,
			m->ip_proto, m->hook);
}

/*
 * The only way out of a podlane program. Drops are counted per reason, node-wide and on the
 * charged endpoint, reported on the ring buffer and turned into TC_ACT_SHOT. Packets that go
 * on are counted in the endpoint's rx/tx (from the pod's point of view); a dropped packet shows
 * up in drops[] only, never in rx/tx.
 */
static __always_inline int pkt_exit(struct __sk_buff *skb, const struct pkt_meta *m, int verdict)
{
	struct endpoint_stats *st;

	if (verdict_is_drop(verdict)) {
		__u32 slot = PODLANE_DROP_INDEX(verdict);
		struct drop_counter *dc;

		if (slot >= PODLANE_DROP_SLOTS)
			return TC_ACT_SHOT;
		dc = bpf_map_lookup_elem(&podlane_drops, &slot);
		if (dc) {
			dc->packets++;
			dc->bytes += skb->len;
		}
		if (m->ep_ifindex) {
			st = bpf_map_lookup_elem(&podlane_ep_stat, &m->ep_ifindex);
			/*
			 * slot was spilled to the stack for the lookup above and 6.1's verifier
			 * forgets its bound on reload; the mask restores it (SLOTS is a power of 2).
			 */
			if (st)
				st->drops[slot & (PODLANE_DROP_SLOTS - 1)]++;
		}
		if (drop_events)
			emit_drop_event(skb, m, verdict);
		return TC_ACT_SHOT;
	}

	/* From the uplink or the tunnel, ep_ifindex only says whom to charge a drop. */
	if (m->ep_ifindex && m->hook != PODLANE_HOOK_FROM_UPLINK &&
	    m->hook != PODLANE_HOOK_FROM_TUNNEL) {
		st = bpf_map_lookup_elem(&podlane_ep_stat, &m->ep_ifindex);
		if (st && m->hook == PODLANE_HOOK_FROM_POD) {
			st->tx_packets++;
			st->tx_bytes += skb->len;
		} else if (st) {
			st->rx_packets++;
			st->rx_bytes += skb->len;
		}
	}
	if (verdict == TC_ACT_REDIRECT && m->redirect_ifindex) {
		st = bpf_map_lookup_elem(&podlane_ep_stat, &m->redirect_ifindex);
		if (st) {
			st->rx_packets++;
			st->rx_bytes += skb->len;
		}
	}
	return verdict;
}

/*
 * Packet pointers, loaded with an explicit ctx access. With plain C, clang keeps &skb->data in
 * a register and reuses it for the reads before and after bpf_skb_pull_data(), a load through
 * a computed ctx address that the verifier rejects ("dereference of modified ctx ptr").
 */
#define SKB_LOAD_PTR(skb, field)						\
({										\
	__u64 __v;								\
	asm volatile("%0 = *(u32 *)(%1 + %2)"					\
		     : "=r"(__v)						\
		     : "r"(skb), "i"(__builtin_offsetof(struct __sk_buff, field)));	\
	(void *)(long)__v;							\
})

static __always_inline void *skb_data(const struct __sk_buff *skb)
{
	return SKB_LOAD_PTR(skb, data);
}

static __always_inline void *skb_data_end(const struct __sk_buff *skb)
{
	return SKB_LOAD_PTR(skb, data_end);
}

/*
 * Make the first len bytes (or the whole packet if shorter) directly readable. Headers normally
 * sit in the linear area already; this only costs a helper call when they do not. Invalidates
 * packet pointers, so call it before taking any.
 */
static __always_inline void pkt_linearize(struct __sk_buff *skb, __u32 len)
{
	if (len > skb->len)
		len = skb->len;
	if (skb_data(skb) + len > skb_data_end(skb))
		bpf_skb_pull_data(skb, len);
}

/*
 * Parse Ethernet and the fixed IPv4 header. Lengths are judged against skb->len (the real
 * packet), pointers against data_end (what the verifier allows us to touch). Returns a
 * parse_result or a drop reason; fills the addresses in m as soon as they are known.
 */
static __always_inline int parse_ipv4(struct __sk_buff *skb, struct pkt_meta *m,
				      struct ethhdr **ethp, struct iphdr **ipp)
{
	__u32 len = skb->len, hdr_len, tot_len;
	struct ethhdr *eth;
	struct iphdr *ip;
	void *data, *data_end;

	if (len < ETH_HLEN)
		return PODLANE_DROP_ETH_TRUNCATED;
	pkt_linearize(skb, ETH_HLEN + IP4_MIN_HLEN);
	data = skb_data(skb);
	data_end = skb_data_end(skb);

	eth = data;
	if ((void *)(eth + 1) > data_end)
		return PODLANE_DROP_ETH_TRUNCATED;
	m->eth_proto = bpf_ntohs(eth->h_proto);
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return PARSE_OTHER;

	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return PODLANE_DROP_IP4_TRUNCATED;
	if (ip->version != 4)
		return PODLANE_DROP_IP4_BAD_VERSION;
	m->saddr = ip->saddr;
	m->daddr = ip->daddr;
	m->ip_proto = ip->protocol;

	hdr_len = ip->ihl * 4;
	if (hdr_len < IP4_MIN_HLEN || ETH_HLEN + hdr_len > len)
		return PODLANE_DROP_IP4_BAD_IHL;
	tot_len = bpf_ntohs(ip->tot_len);
	/* BIG TCP sends GSO packets over 64k with tot_len 0; the real length is skb->len. */
	if (tot_len == 0 && skb->gso_size)
		tot_len = len - ETH_HLEN;
	if (tot_len < hdr_len || tot_len > len - ETH_HLEN)
		return PODLANE_DROP_IP4_BAD_LENGTH;

	*ethp = eth;
	*ipp = ip;
	return PARSE_IPV4;
}

/*
 * Before forwarding or translating, the transport header of a TCP, UDP or ICMP packet must be
 * inside the IPv4 datagram, and say so itself: a TCP data offset of at least 5 words that ends
 * inside the datagram, a UDP length of at least 8 that does too (the receiving stack drops
 * anything else; podlane drops it first, with a reason, rather than redirect or rewrite it).
 * Non-first fragments carry no transport header and are not checked; a first fragment's UDP
 * length is the whole datagram's, so only its lower bound is. Returns 0 or a drop reason.
 */
static __always_inline int ipv4_check_l4(struct __sk_buff *skb, const struct iphdr *ip)
{
	__u32 hdr_len = ip->ihl * 4, tot_len = bpf_ntohs(ip->tot_len), need, len;
	__u8 buf[14];
	int err = 0;
	void *l4;

	if (ip->frag_off & bpf_htons(IP_OFFSET))
		return 0;
	switch (ip->protocol) {
	case IPPROTO_TCP:
		need = TCP_MIN_HLEN;
		break;
	case IPPROTO_UDP:
		need = UDP_HLEN;
		break;
	case IPPROTO_ICMP:
		need = ICMP_MIN_HLEN;
		break;
	default:
		return 0;
	}
	if (tot_len == 0 && skb->gso_size)
		tot_len = skb->len - ETH_HLEN;
	if (hdr_len + need > tot_len)
		return PODLANE_DROP_L4_TRUNCATED;
	/* A GSO or GRO packet's headers were built or checked by a stack: nothing more. */
	if (ip->protocol == IPPROTO_ICMP || skb->gso_size)
		return 0;

	/*
	 * The header's own length field: in the linear area normally, else one load of what
	 * the datagram is known to hold (TCP_MIN_HLEN or UDP_HLEN, checked above).
	 */
	l4 = (void *)ip + (hdr_len & 0x3c);
	if (l4 + 14 <= skb_data_end(skb))
		__builtin_memcpy(buf, l4, 14);
	else if (ip->protocol == IPPROTO_TCP)
		err = bpf_skb_load_bytes(skb, ETH_HLEN + hdr_len, buf, 14);
	else
		err = bpf_skb_load_bytes(skb, ETH_HLEN + hdr_len, buf, UDP_HLEN);
	if (err)
		return PODLANE_DROP_L4_TRUNCATED;
	if (ip->protocol == IPPROTO_TCP) {
		len = (buf[12] >> 4) * 4;
		if (len < TCP_MIN_HLEN)
			return PODLANE_DROP_L4_BAD_HEADER;
	} else {
		len = (__u32)buf[4] << 8 | buf[5];
		if (len < UDP_HLEN)
			return PODLANE_DROP_L4_BAD_HEADER;
		if (ip->frag_off & bpf_htons(IP_MF))
			return 0;
	}
	if (hdr_len + len > tot_len)
		return PODLANE_DROP_L4_TRUNCATED;
	return 0;
}

/* One's-complement update of a 16-bit checksum after one 16-bit word changed (RFC 1624 eq. 3). */
static __always_inline void csum_replace_u16(__sum16 *check, __be16 old, __be16 new)
{
	__u32 sum = (__u16)~*check + (__u16)~old + (__u16)new;

	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	*check = (__sum16)~sum;
}

/*
 * TTL shares a 16-bit word with the protocol; fix the header checksum for that word only. The
 * words are built from the fields rather than read through a cast pointer, which the compiler
 * may not reload after the byte store.
 */
static __always_inline void ipv4_decrement_ttl(struct iphdr *ip)
{
	__u8 ttl = ip->ttl, proto = ip->protocol;
	__be16 old = bpf_htons((__u16)ttl << 8 | proto);
	__be16 new = bpf_htons((__u16)(__u8)(ttl - 1) << 8 | proto);

	ip->ttl = ttl - 1;
	csum_replace_u16(&ip->check, old, new);
}

static __always_inline void eth_rewrite(struct ethhdr *eth, const __u8 *src, const __u8 *dst)
{
	__builtin_memcpy(eth->h_source, src, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, dst, ETH_ALEN);
}

#endif /* PODLANE_LIB_COMMON_H */
