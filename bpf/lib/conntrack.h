/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lib/conntrack.h - connection tracking for the per-packet service path: the podlane_ct map,
 * reading a packet's ports and TCP flags, and the small TCP state machine that decides how
 * long an entry lives. What is tracked and why (two entries per flow) is described with the
 * layouts in podlane.h. Expired entries are deleted by userspace (userspace/lib/ct_gc.c).
 *
 * Needs nothing but podlane.h and the libbpf headers: include it before lib/maps.h, so that
 * podlane_ct comes first among the object's maps (a tool that unpins an object's maps in
 * order stops at the first one another object already removed).
 */
#ifndef PODLANE_LIB_CONNTRACK_H
#define PODLANE_LIB_CONNTRACK_H

#define TCP_FLAG_FIN	0x01
#define TCP_FLAG_SYN	0x02
#define TCP_FLAG_RST	0x04
#define TCP_FLAG_ACK	0x10

/* {5-tuple, direction} -> translation and state; tc programs write, ct_gc() deletes. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PODLANE_MAX_CT);
	__type(key, struct ct_key);
	__type(value, struct ct_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} podlane_ct SEC(".maps");

/* A TCP or UDP packet's tuple, as carried on the wire. */
struct l4_tuple {
	__be32	saddr;
	__be32	daddr;
	__be16	sport;
	__be16	dport;
	__u8	proto;
	__u8	tcp_flags;	/* byte 13 of the TCP header; 0 for UDP */
	__u16	l4_off;		/* transport header offset from the start of the frame */
};

static __always_inline void ct_key_fill(struct ct_key *k, __be32 saddr, __be32 daddr,
					__be16 sport, __be16 dport, __u8 proto, __u8 dir)
{
	k->saddr = saddr;
	k->daddr = daddr;
	k->sport = sport;
	k->dport = dport;
	k->proto = proto;
	k->dir = dir;
	k->pad = 0;
}

/* The other direction's key, from an entry and its key (both directions hold enough). */
static __always_inline void ct_key_peer(struct ct_key *peer, const struct ct_key *k,
					const struct ct_entry *ct)
{
	bool snat = ct->flags & PODLANE_CT_F_SNAT;

	if (k->dir == PODLANE_CT_ORIGINAL)
		/* client -> frontend, nat = backend  =>  backend -> client (or -> rev with SNAT) */
		ct_key_fill(peer, ct->nat_addr, snat ? ct->rev_addr : k->saddr, ct->nat_port,
			    snat ? ct->rev_port : k->sport, k->proto, PODLANE_CT_REPLY);
	else
		/* backend -> client, nat = frontend  =>  client -> frontend (client = rev with SNAT) */
		ct_key_fill(peer, snat ? ct->rev_addr : k->daddr, ct->nat_addr,
			    snat ? ct->rev_port : k->dport, ct->nat_port, k->proto,
			    PODLANE_CT_ORIGINAL);
}

static __always_inline __u64 ct_lifetime_ns(__u8 proto, __u16 flags)
{
	__u64 s;

	if (proto != IPPROTO_TCP)
		s = PODLANE_CT_UDP_LIFETIME_S;
	else if (flags & PODLANE_CT_F_CLOSING)
		s = PODLANE_CT_CLOSE_LIFETIME_S;
	else if (flags & PODLANE_CT_F_ESTABLISHED)
		s = PODLANE_CT_TCP_LIFETIME_S;
	else
		s = PODLANE_CT_SYN_LIFETIME_S;
	return s * 1000000000ULL;
}

/* The state a new entry starts in, from the packet that creates it. */
static __always_inline __u16 ct_initial_state(const struct l4_tuple *t)
{
	__u8 f = t->tcp_flags;

	if (t->proto != IPPROTO_TCP)
		return 0;
	if (f & (TCP_FLAG_FIN | TCP_FLAG_RST))
		return PODLANE_CT_F_CLOSING | PODLANE_CT_F_MIDFLOW;
	if ((f & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN)
		return PODLANE_CT_F_SYN_SEEN;
	/* Data or ACK of a flow we no longer know: it was established. */
	return PODLANE_CT_F_ESTABLISHED | PODLANE_CT_F_MIDFLOW;
}

/*
 * Count a packet on its entry, advance the state and refresh the lifetime. Returns true when
 * the state changed: the caller then copies it to the other direction's entry with
 * ct_sync_peer(), which only happens a few times per connection.
 */
static __always_inline bool ct_refresh(struct ct_entry *ct, const struct ct_key *k,
				       const struct l4_tuple *t, __u32 len, __u64 now)
{
	__u16 old = ct->flags, flags = old;
	__u8 f = t->tcp_flags;

	if (k->proto == IPPROTO_TCP) {
		if (f & (TCP_FLAG_FIN | TCP_FLAG_RST))
			flags |= PODLANE_CT_F_CLOSING;
		else if (k->dir == PODLANE_CT_ORIGINAL &&
			 (f & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN &&
			 (flags & PODLANE_CT_F_CLOSING))
			/* The client reuses the tuple of a closed connection: start over. */
			flags = (flags & ~PODLANE_CT_F_STATE) | PODLANE_CT_F_SYN_SEEN;
		else if (k->dir == PODLANE_CT_REPLY && !(flags & PODLANE_CT_F_CLOSING))
			flags |= PODLANE_CT_F_ESTABLISHED;
	} else if (k->dir == PODLANE_CT_REPLY) {
		flags |= PODLANE_CT_F_ESTABLISHED;
	}
	ct->packets++;
	ct->bytes += len;
	ct->expires_ns = now + ct_lifetime_ns(k->proto, flags);
	if (flags == old)
		return false;
	ct->flags = flags;
	return true;
}

static __always_inline void ct_sync_peer(const struct ct_key *k, const struct ct_entry *ct,
					 __u64 now)
{
	struct ct_entry *peer;
	struct ct_key pk;

	ct_key_peer(&pk, k, ct);
	peer = bpf_map_lookup_elem(&podlane_ct, &pk);
	if (!peer)
		return;
	peer->flags = (peer->flags & ~PODLANE_CT_F_STATE) | (ct->flags & PODLANE_CT_F_STATE);
	peer->expires_ns = now + ct_lifetime_ns(k->proto, peer->flags);
}

#endif /* PODLANE_LIB_CONNTRACK_H */
