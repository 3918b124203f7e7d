/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lib/policy.h - Kubernetes NetworkPolicy in the datapath: the policy maps, and
 * policy_enforce4(), which the tc programs call for a parsed IPv4 packet before they hand it
 * on. The model (identities, rule sets, the LPM policy map, the policy conntrack) is described
 * with the layouts in podlane.h, "network policy"; this file holds what is decided per packet.
 *
 * Who judges what (each judgement happens once per packet and node):
 *   tc_from_pod      the sender's egress, and the receiver's ingress when the destination is
 *                    any endpoint of this node (ready or not: one that is not ready is reached
 *                    through the stack, whose delivery then finds the connection known)
 *   tc_from_uplink,  the receiver's ingress, for what they deliver to a local pod (after
 *   tc_from_tunnel   service translation: lib/nat.h calls it for a local backend)
 *   tc_to_pod        the receiver's ingress, for what the host stack delivers
 *   xdp_from_uplink  judges nothing: its NodePort fast path leaves frames for an endpoint
 *                    isolated for ingress to tc (policy_ingress_isolated())
 *
 * Per packet:
 *   1. No endpoint involved has an isolating podlane_ep_policy entry: the packet goes on,
 *      nothing else is looked up (one hash lookup per local endpoint). Pods that no policy
 *      isolates behave exactly as without this file.
 *   2. Otherwise the packet's tuple is looked up in podlane_pol_ct as the original direction,
 *      then as the reply direction: a known connection goes on (PODLANE_POL_STAT_CT_HIT). An
 *      original-direction packet whose entry was judged under an older podlane_pol_rev is
 *      judged again first; when the rules no longer allow it, the entry is removed and the
 *      packet dropped (PODLANE_DROP_POLICY_DENIED). Replies are never judged: they pass while
 *      the entry lives.
 *   3. An unknown packet that may open a connection is judged for every isolated direction;
 *      an allowed one creates the entry (also when only the reverse directions are isolated,
 *      so that its replies pass). What may open: TCP SYN without ACK, SCTP INIT, any UDP
 *      datagram, ICMP echo and timestamp requests, and any packet of another protocol (those
 *      are judged with port 0, so only a rule without ports allows them). What never opens:
 *      other TCP and SCTP packets, ICMP echo and timestamp replies, other ICMP (an ICMP error
 *      passes when the datagram it quotes belongs to a known connection). Such a packet in an
 *      isolated direction is dropped with PODLANE_DROP_POLICY_NO_FLOW; in a direction no policy
 *      isolates it goes on without an entry, so a reply-direction packet never starts a flow.
 *      A TCP connection that was open before a policy isolated one of its directions
 *      therefore ends at its next packet in that direction (NO_FLOW), replies included:
 *      Kubernetes leaves existing connections undefined, and this errs on the side of the
 *      policy. UDP has no such packets: any datagram an allowed direction carries opens a flow
 *      whose replies pass, as every stateful firewall treats UDP.
 *   4. Later fragments (offset > 0) carry no ports and go on unjudged: the stack cannot
 *      reassemble them without their first fragment, which was judged with its ports, and it
 *      discards overlapping fragments.
 *
 * Traffic from this node (PODLANE_ID_HOST) to a pod is always allowed for ingress, new or not
 * (PODLANE_POL_STAT_HOST), as Kubernetes requires for kubelet's probes. Only in tc_to_pod,
 * where the host stack delivers what the node itself sent: on the uplink a packet could claim
 * a node address (tc_from_uplink hands packets to pods without the stack's check of local
 * sources), so there such a source is judged like any other.
 *
 * A policy conntrack insert that fails (PODLANE_POL_STAT_CT_FULL) still lets the judged packet
 * go on: it was allowed. The connection is just not remembered, so its later packets are judged
 * again (UDP) or dropped as NO_FLOW (TCP) in isolated directions: never open without a rule.
 *
 * Flow records (struct flow_event on podlane_events): every policy drop, and one per isolated
 * direction of a newly allowed connection (a connection judged for the sender's egress and the
 * receiver's ingress on one node gives two, as it would on two nodes). A full ring buffer is
 * counted per CPU (PODLANE_POL_STAT_EVENTS_LOST). They do not depend on drop_events: the flow
 * log is on whenever a policy isolates something.
 *
 * IPv4 only, as the rest of the datapath: other EtherTypes are the caller's (they pass).
 * Include after lib/maps.h and lib/common.h.
 */
#ifndef PODLANE_LIB_POLICY_H
#define PODLANE_LIB_POLICY_H

#ifndef IPPROTO_SCTP
#define IPPROTO_SCTP		132
#endif

/* address prefix -> {identity, CIDR id}; podlaned's policy module writes, tc programs read. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, PODLANE_MAX_IPCACHE);
	__type(key, struct ipcache_key);
	__type(value, struct ipcache_value);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} podlane_ipcache SEC(".maps");

/* host veth ifindex -> rule set per direction; podlaned's policy module writes, tc/XDP read. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PODLANE_MAX_ENDPOINTS);
	__type(key, __u32);
	__type(value, struct ep_policy);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} podlane_ep_policy SEC(".maps");

/* {rule set, peer, proto, port prefix} -> policy and rule; policy module writes, tc reads. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, PODLANE_MAX_POLICY);
	__type(key, struct policy_key);
	__type(value, struct policy_entry);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} podlane_policy SEC(".maps");

/* allowed connections by original tuple; tc programs create, the policy module expires. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PODLANE_MAX_POL_CT);
	__type(key, struct pol_ct_key);
	__type(value, struct pol_ct_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} podlane_pol_ct SEC(".maps");

/* [0]: the policy revision; the policy module bumps it after every change, tc reads. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} podlane_pol_rev SEC(".maps");

/* PODLANE_POL_STAT_* -> per-CPU count; tc programs count, podlaned and metrics read. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PODLANE_POL_STAT_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} podlane_pol_stat SEC(".maps");

#define POL_TCP_SYN		0x02
#define POL_TCP_ACK		0x10
#define POL_SCTP_INIT		1	/* chunk type */
#define POL_ICMP_ECHOREPLY	0
#define POL_ICMP_DEST_UNREACH	3
#define POL_ICMP_ECHO		8
#define POL_ICMP_TIME_EXCEEDED	11
#define POL_ICMP_PARAMETERPROB	12
#define POL_ICMP_TIMESTAMP	13
#define POL_ICMP_TIMESTAMPREPLY	14
#define POL_PREFIX_FULL		88	/* set, peer, proto and port: every bit of the key */

enum pol_kind {
	POL_OPENS	= 0,	/* may open a connection: judged when no entry knows it */
	POL_FOLLOWS	= 1,	/* belongs to a connection or to nothing: never opens one */
	POL_RELATED	= 2,	/* ICMP error: the datagram it quotes names the connection */
	POL_FRAGMENT	= 3,	/* a later fragment: judged by its first */
};

/* What the policy needs of a packet. */
struct pol_pkt {
	struct pol_ct_key key;		/* the packet's tuple, as if it were the original */
	struct pol_ct_key inner;	/* POL_RELATED: the quoted datagram's tuple, as sent */
	__be16 port;			/* destination port for the rules; 0: ICMP, others */
	__u8 kind;			/* enum pol_kind */
	__u8 related;			/* inner is filled in */
};

/* What judging one packet gave (beside the entry it fills), for the flow records. */
struct pol_judgement {
	__s32 reason;		/* 0: allowed; else the drop reason */
	__u32 denied_policy;	/* drops: the policy isolating the direction that dropped */
	__u8 denied_dir;	/* drops: enum flow_dir */
	__u8 pad[3];
};

/*
 * policy_enforce4()'s working memory. The verifier allows 512 bytes of stack to a program and
 * the functions it calls together, and tc_from_uplink's service path already takes most of
 * them: so what the policy keeps while it judges lives here, one per CPU (a tc program runs to
 * its end on its CPU, and nothing it calls runs another one there).
 */
struct pol_scratch {
	struct ep_policy sp;		/* the sender's policy (a copy), flags 0: none */
	struct ep_policy dp;		/* the receiver's */
	__u64 now;
	__u32 src_ep;			/* policy_enforce4()'s arguments */
	__u32 dst_ep;
	__u32 hook;
	__u32 zero;
	struct pol_pkt p;
	struct pol_ct_key rk;		/* a reversed key */
	struct ipcache_value src;	/* the sender's identity and CIDR id */
	struct ipcache_value dst;
	struct pol_judgement j;
	struct pol_ct_entry ct;		/* the judged connection's entry */
	struct iphdr ip;		/* headers read from the packet */
	__u8 l4[TCP_MIN_HLEN];
	struct ipcache_key ik;		/* lookup keys */
	struct policy_key pk;
	struct endpoint_key ek;
};

/* Private to each object (never pinned): one element, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pol_scratch);
} pol_scratch SEC(".maps");

static __always_inline void pol_count(__u32 slot)
{
	__u64 *c = bpf_map_lookup_elem(&podlane_pol_stat, &slot);

	if (c)
		(*c)++;
}

/* The endpoint's policy when something isolates it, else NULL (also for ifindex 0). */
static __always_inline struct ep_policy *pol_endpoint(__u32 ifindex)
{
	struct ep_policy *p;

	if (!ifindex)
		return NULL;
	p = bpf_map_lookup_elem(&podlane_ep_policy, &ifindex);
	return p && (p->flags & (PODLANE_POL_F_INGRESS | PODLANE_POL_F_EGRESS)) ? p : NULL;
}

/* Copy the endpoint's policy into out when something isolates it; else out->flags = 0. */
static __always_inline void pol_endpoint_copy(__u32 ifindex, struct ep_policy *out)
{
	struct ep_policy *p = pol_endpoint(ifindex);

	if (p)
		*out = *p;
	else
		out->flags = 0;
}

/* For XDP: whether frames to this endpoint must be judged for ingress (in tc, then). */
static __always_inline bool policy_ingress_isolated(__u32 ifindex)
{
	struct ep_policy *p = bpf_map_lookup_elem(&podlane_ep_policy, &ifindex);

	return p && (p->flags & PODLANE_POL_F_INGRESS);
}

static __always_inline void pol_key_reverse(struct pol_ct_key *r, const struct pol_ct_key *k)
{
	r->saddr = k->daddr;
	r->daddr = k->saddr;
	/* ICMP keys are {echo id, 0} in both directions. */
	if (k->proto == IPPROTO_ICMP) {
		r->sport = k->sport;
		r->dport = k->dport;
	} else {
		r->sport = k->dport;
		r->dport = k->sport;
	}
	r->proto = k->proto;
	r->pad[0] = 0;
	r->pad[1] = 0;
	r->pad[2] = 0;
}

/*
 * The datagram an ICMP error quotes (its IPv4 header and the first 8 bytes after it, as
 * RFC 792 requires at least), at off in the frame, end the end of the outer datagram. Leaves
 * p.related 0 when it is not all there.
 */
static __always_inline void pol_read_quoted(struct __sk_buff *skb, struct pol_scratch *s,
					    __u32 off, __u32 end)
{
	struct pol_pkt *p = &s->p;
	__u32 hdr_len;

	if (off + sizeof(s->ip) > end || bpf_skb_load_bytes(skb, off, &s->ip, sizeof(s->ip)))
		return;
	hdr_len = s->ip.ihl * 4;
	if (s->ip.version != 4 || hdr_len < sizeof(s->ip) || off + hdr_len + 8 > end ||
	    bpf_skb_load_bytes(skb, off + (hdr_len & 0x3c), s->l4, 8))
		return;
	p->inner.saddr = s->ip.saddr;
	p->inner.daddr = s->ip.daddr;
	p->inner.proto = s->ip.protocol;
	if (s->ip.protocol == IPPROTO_ICMP) {
		__builtin_memcpy(&p->inner.sport, s->l4 + 4, 2);	/* echo id */
	} else if (s->ip.protocol == IPPROTO_TCP || s->ip.protocol == IPPROTO_UDP ||
		   s->ip.protocol == IPPROTO_SCTP) {
		__builtin_memcpy(&p->inner.sport, s->l4, 2);
		__builtin_memcpy(&p->inner.dport, s->l4 + 2, 2);
	}
	p->related = 1;
}

/*
 * Read the tuple and the kind of an IPv4 packet the caller has parsed (lib/common.h
 * parse_ipv4) into s->p. The transport header is checked as ipv4_check_l4() does and a bad
 * one gives the same drop reason, so a malformed frame is dropped for what is wrong with it,
 * whichever check sees it first. Returns 0 or a drop reason.
 */
static __always_inline int pol_pkt_read(struct __sk_buff *skb, struct pol_scratch *s)
{
	__u32 hdr_len, tot_len, l4_off, end, len;
	struct pol_pkt *p = &s->p;
	__u8 *l4 = s->l4;
	__u16 frag_off;
	__u8 proto;

	__builtin_memset(p, 0, sizeof(*p));
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &s->ip, sizeof(s->ip)))
		return PODLANE_DROP_IP4_TRUNCATED;
	hdr_len = s->ip.ihl * 4;
	tot_len = bpf_ntohs(s->ip.tot_len);
	if (tot_len == 0 && skb->gso_size)
		tot_len = skb->len - ETH_HLEN;
	if (hdr_len < IP4_MIN_HLEN || tot_len < hdr_len || ETH_HLEN + tot_len > skb->len)
		return PODLANE_DROP_IP4_BAD_LENGTH;
	proto = s->ip.protocol;
	frag_off = s->ip.frag_off;
	p->key.saddr = s->ip.saddr;
	p->key.daddr = s->ip.daddr;
	p->key.proto = proto;
	if (frag_off & bpf_htons(IP_OFFSET)) {
		p->kind = POL_FRAGMENT;
		return 0;
	}
	l4_off = ETH_HLEN + (hdr_len & 0x3c);
	end = ETH_HLEN + tot_len;

	switch (proto) {
	case IPPROTO_TCP:
		if (l4_off + TCP_MIN_HLEN > end ||
		    bpf_skb_load_bytes(skb, l4_off, l4, TCP_MIN_HLEN))
			return PODLANE_DROP_L4_TRUNCATED;
		len = (l4[12] >> 4) * 4;
		if (!skb->gso_size && len < TCP_MIN_HLEN)
			return PODLANE_DROP_L4_BAD_HEADER;
		if (!skb->gso_size && l4_off + len > end)
			return PODLANE_DROP_L4_TRUNCATED;
		__builtin_memcpy(&p->key.sport, l4, 2);
		__builtin_memcpy(&p->key.dport, l4 + 2, 2);
		p->port = p->key.dport;
		p->kind = (l4[13] & (POL_TCP_SYN | POL_TCP_ACK)) == POL_TCP_SYN ? POL_OPENS :
									     POL_FOLLOWS;
		return 0;
	case IPPROTO_UDP:
		if (l4_off + UDP_HLEN > end || bpf_skb_load_bytes(skb, l4_off, l4, UDP_HLEN))
			return PODLANE_DROP_L4_TRUNCATED;
		len = (__u32)l4[4] << 8 | l4[5];
		if (!skb->gso_size && len < UDP_HLEN)
			return PODLANE_DROP_L4_BAD_HEADER;
		/* A first fragment's UDP length is the whole datagram's. */
		if (!skb->gso_size && !(frag_off & bpf_htons(IP_MF)) && l4_off + len > end)
			return PODLANE_DROP_L4_TRUNCATED;
		__builtin_memcpy(&p->key.sport, l4, 2);
		__builtin_memcpy(&p->key.dport, l4 + 2, 2);
		p->port = p->key.dport;
		p->kind = POL_OPENS;
		return 0;
	case IPPROTO_SCTP:
		/* Common header (ports, verification tag, checksum), then the first chunk. */
		if (l4_off + 12 > end || bpf_skb_load_bytes(skb, l4_off, l4, 12))
			return PODLANE_DROP_L4_TRUNCATED;
		__builtin_memcpy(&p->key.sport, l4, 2);
		__builtin_memcpy(&p->key.dport, l4 + 2, 2);
		p->port = p->key.dport;
		p->kind = POL_FOLLOWS;
		if (l4_off + 13 <= end && !bpf_skb_load_bytes(skb, l4_off + 12, l4, 1) &&
		    l4[0] == POL_SCTP_INIT)
			p->kind = POL_OPENS;
		return 0;
	case IPPROTO_ICMP:
		if (l4_off + ICMP_MIN_HLEN > end ||
		    bpf_skb_load_bytes(skb, l4_off, l4, ICMP_MIN_HLEN))
			return PODLANE_DROP_L4_TRUNCATED;
		switch (l4[0]) {
		case POL_ICMP_ECHO:
		case POL_ICMP_TIMESTAMP:
			__builtin_memcpy(&p->key.sport, l4 + 4, 2);
			p->kind = POL_OPENS;
			break;
		case POL_ICMP_ECHOREPLY:
		case POL_ICMP_TIMESTAMPREPLY:
			__builtin_memcpy(&p->key.sport, l4 + 4, 2);
			p->kind = POL_FOLLOWS;
			break;
		case POL_ICMP_DEST_UNREACH:
		case POL_ICMP_TIME_EXCEEDED:
		case POL_ICMP_PARAMETERPROB:
			p->kind = POL_RELATED;
			pol_read_quoted(skb, s, l4_off + ICMP_MIN_HLEN, end);
			break;
		default:
			p->kind = POL_FOLLOWS;
			break;
		}
		return 0;
	}
	/* Other protocols: no ports; every packet may open (replies find the entry first). */
	p->kind = POL_OPENS;
	return 0;
}

/* The entry allowing the packet's {proto, port} to or from peer in rule set set, or NULL. */
static __always_inline struct policy_entry *pol_rule_find(struct pol_scratch *s, __u32 set,
							  __u32 peer)
{
	s->pk.prefixlen = POL_PREFIX_FULL;
	s->pk.set = bpf_htonl(set);
	s->pk.peer = bpf_htonl(peer);
	s->pk.proto = s->p.key.proto;
	s->pk.port = s->p.port;
	return bpf_map_lookup_elem(&podlane_policy, &s->pk);
}

/* A peer is allowed by its identity, the CIDR id of the address, or a rule with no peers. */
static __always_inline struct policy_entry *pol_rules_allow(struct pol_scratch *s, __u32 set,
							    const struct ipcache_value *peer)
{
	struct policy_entry *e;

	e = pol_rule_find(s, set, peer->id);
	if (!e && peer->cidr_id)
		e = pol_rule_find(s, set, peer->cidr_id);
	if (!e)
		e = pol_rule_find(s, set, PODLANE_ID_ANY);
	return e;
}

/* The identity and CIDR id of an address; an address nobody knows is WORLD in no ipBlock. */
static __always_inline void pol_identity(struct pol_scratch *s, __be32 addr,
					 struct ipcache_value *out)
{
	struct ipcache_value *v;

	s->ik.prefixlen = 32;
	s->ik.addr = addr;
	v = bpf_map_lookup_elem(&podlane_ipcache, &s->ik);
	out->id = v ? v->id : PODLANE_ID_WORLD;
	out->cidr_id = v ? v->cidr_id : 0;
}

/*
 * The sender's identity. A packet from the uplink that claims the address of a pod of this
 * node is not that pod's (its packets never come that way): it gets no pod identity, only
 * what an ipBlock says of the address. (The tunnel checks sources itself, lib/route.h.)
 */
static __always_inline void pol_sender(struct pol_scratch *s)
{
	pol_identity(s, s->p.key.saddr, &s->src);
	if (s->hook != PODLANE_HOOK_FROM_UPLINK || s->src.id < PODLANE_ID_POD_BASE ||
	    s->src.id >= PODLANE_ID_CIDR_BASE)
		return;
	__builtin_memset(&s->ek, 0, sizeof(s->ek));
	s->ek.addr.family = PODLANE_AF_INET;
	s->ek.addr.ip4 = s->p.key.saddr;
	if (bpf_map_lookup_elem(&podlane_eps, &s->ek))
		s->src.id = PODLANE_ID_WORLD;
}

/* Sent by this node itself: a node address as source, delivered by the host stack. */
static __always_inline bool pol_from_host(const struct pol_scratch *s)
{
	return s->src.id == PODLANE_ID_HOST && s->hook == PODLANE_HOOK_TO_POD;
}

/*
 * Judge a connection's first packet (or a known one after a policy change) for the isolated
 * directions: the sender's egress against the receiver's identity, then the receiver's
 * ingress against the sender's. The first direction that finds no rule drops it (s->j);
 * allowed, s->ct holds who allowed it.
 */
static __always_inline void pol_judge(struct pol_scratch *s)
{
	const struct ep_policy *sp = &s->sp, *dp = &s->dp;
	struct pol_ct_entry *ct = &s->ct;
	struct policy_entry *e;

	__builtin_memset(&s->j, 0, sizeof(s->j));
	ct->egress_policy = 0;
	ct->ingress_policy = 0;
	ct->egress_rule = PODLANE_POLICY_NO_RULE;
	ct->ingress_rule = PODLANE_POLICY_NO_RULE;
	ct->flags = 0;
	if (sp->flags & PODLANE_POL_F_EGRESS) {
		e = pol_rules_allow(s, sp->egress_set, &s->dst);
		if (!e) {
			s->j.reason = PODLANE_DROP_POLICY_DENIED;
			s->j.denied_dir = PODLANE_FLOW_EGRESS;
			s->j.denied_policy = sp->egress_policy;
			return;
		}
		ct->egress_policy = e->policy;
		ct->egress_rule = e->rule;
	}
	if (dp->flags & PODLANE_POL_F_INGRESS) {
		if (pol_from_host(s)) {
			ct->flags |= PODLANE_POL_CT_F_HOST;
			return;
		}
		e = pol_rules_allow(s, dp->ingress_set, &s->src);
		if (!e) {
			s->j.reason = PODLANE_DROP_POLICY_DENIED;
			s->j.denied_dir = PODLANE_FLOW_INGRESS;
			s->j.denied_policy = dp->ingress_policy;
			return;
		}
		ct->ingress_policy = e->policy;
		ct->ingress_rule = e->rule;
	}
}

/* One flow record; a full ring buffer is counted, never silent. */
static __always_inline void pol_event(const struct pol_scratch *s, __u8 verdict, __s32 reason,
				      __u8 dir, __u32 ifindex, __u32 policy, __u16 rule)
{
	struct flow_event *ev;

	ev = bpf_ringbuf_reserve(&podlane_events, sizeof(*ev), 0);
	if (!ev) {
		pol_count(PODLANE_POL_STAT_EVENTS_LOST);
		return;
	}
	ev->type = PODLANE_EVENT_FLOW;
	ev->reason = reason;
	ev->ts_ns = bpf_ktime_get_ns();
	ev->saddr = s->p.key.saddr;
	ev->daddr = s->p.key.daddr;
	ev->sport = s->p.key.sport;
	ev->dport = s->p.key.dport;
	ev->proto = s->p.key.proto;
	ev->verdict = verdict;
	ev->dir = dir;
	ev->hook = s->hook;
	ev->ifindex = ifindex;
	ev->src_id = s->src.id;
	ev->dst_id = s->dst.id;
	ev->policy = policy;
	ev->rule = rule;
	ev->pad = 0;
	ev->pad2 = 0;
	bpf_ringbuf_submit(ev, 0);
}

/* A policy drop: counted, recorded with the policy that isolates, returned as the reason. */
static __always_inline int pol_deny(const struct pol_scratch *s)
{
	const struct pol_judgement *j = &s->j;

	pol_count(j->reason == PODLANE_DROP_POLICY_NO_FLOW ? PODLANE_POL_STAT_NO_FLOW :
							     PODLANE_POL_STAT_DENIED);
	pol_event(s, PODLANE_FLOW_DENIED, j->reason, j->denied_dir,
		  j->denied_dir == PODLANE_FLOW_EGRESS ? s->src_ep : s->dst_ep, j->denied_policy,
		  PODLANE_POLICY_NO_RULE);
	return j->reason;
}

static __always_inline __u32 pol_revision(void)
{
	__u32 zero = 0, *rev = bpf_map_lookup_elem(&podlane_pol_rev, &zero);

	return rev ? *rev : 0;
}

/* Steps 2 and 3 of the top of this file, for the packet in s->p. */
static __always_inline int pol_decide(struct pol_scratch *s)
{
	bool isolated = s->sp.flags || s->dp.flags;
	struct pol_ct_entry *ct;
	__u32 rev;

	ct = bpf_map_lookup_elem(&podlane_pol_ct, &s->p.key);
	if (ct) {
		rev = pol_revision();
		if (ct->rev != rev) {
			/* Rules changed since it was judged: judge this packet as a first one. */
			pol_count(PODLANE_POL_STAT_REJUDGED);
			pol_sender(s);
			pol_identity(s, s->p.key.daddr, &s->dst);
			pol_judge(s);
			if (s->j.reason) {
				bpf_map_delete_elem(&podlane_pol_ct, &s->p.key);
				return pol_deny(s);
			}
			if (s->ct.flags & PODLANE_POL_CT_F_HOST)
				pol_count(PODLANE_POL_STAT_HOST);
			ct->rev = rev;
			ct->egress_policy = s->ct.egress_policy;
			ct->egress_rule = s->ct.egress_rule;
			ct->ingress_policy = s->ct.ingress_policy;
			ct->ingress_rule = s->ct.ingress_rule;
			ct->flags = (ct->flags & ~PODLANE_POL_CT_F_HOST) | s->ct.flags;
		}
		ct->last_ns = s->now;
		pol_count(PODLANE_POL_STAT_CT_HIT);
		return 0;
	}
	pol_key_reverse(&s->rk, &s->p.key);
	ct = bpf_map_lookup_elem(&podlane_pol_ct, &s->rk);
	if (ct) {
		ct->last_ns = s->now;
		if (!(ct->flags & PODLANE_POL_CT_F_REPLY_SEEN))
			ct->flags |= PODLANE_POL_CT_F_REPLY_SEEN;
		pol_count(PODLANE_POL_STAT_CT_HIT);
		return 0;
	}
	if (s->p.kind == POL_RELATED && s->p.related) {
		pol_key_reverse(&s->rk, &s->p.inner);
		if (bpf_map_lookup_elem(&podlane_pol_ct, &s->p.inner) ||
		    bpf_map_lookup_elem(&podlane_pol_ct, &s->rk)) {
			pol_count(PODLANE_POL_STAT_CT_HIT);
			return 0;
		}
	}
	if (s->p.kind != POL_OPENS && !isolated)
		return 0;	/* no isolated direction to start a flow in: as without policy */

	pol_sender(s);
	pol_identity(s, s->p.key.daddr, &s->dst);
	if (s->p.kind != POL_OPENS) {
		/* This node's own traffic needs no connection to reach a pod. */
		if (!s->sp.flags && pol_from_host(s)) {
			pol_count(PODLANE_POL_STAT_HOST);
			return 0;
		}
		s->j.reason = PODLANE_DROP_POLICY_NO_FLOW;
		if (s->sp.flags) {
			s->j.denied_dir = PODLANE_FLOW_EGRESS;
			s->j.denied_policy = s->sp.egress_policy;
		} else {
			s->j.denied_dir = PODLANE_FLOW_INGRESS;
			s->j.denied_policy = s->dp.ingress_policy;
		}
		return pol_deny(s);
	}

	pol_judge(s);
	if (s->j.reason)
		return pol_deny(s);
	if (s->ct.flags & PODLANE_POL_CT_F_HOST)
		pol_count(PODLANE_POL_STAT_HOST);

	s->ct.last_ns = s->now;
	s->ct.rev = pol_revision();
	s->ct.pad = 0;
	if (bpf_map_update_elem(&podlane_pol_ct, &s->p.key, &s->ct, BPF_ANY))
		pol_count(PODLANE_POL_STAT_CT_FULL);	/* allowed, not remembered */

	if (isolated)
		pol_count(PODLANE_POL_STAT_ALLOWED);
	if (s->sp.flags)
		pol_event(s, PODLANE_FLOW_ALLOWED, 0, PODLANE_FLOW_EGRESS, s->src_ep,
			  s->ct.egress_policy, s->ct.egress_rule);
	if (s->dp.flags)
		pol_event(s, PODLANE_FLOW_ALLOWED, 0, PODLANE_FLOW_INGRESS, s->dst_ep,
			  s->ct.ingress_policy, s->ct.ingress_rule);
	return 0;
}

/*
 * Judge an IPv4 packet (parsed by the caller: parse_ipv4) for the sender's egress when src_ep
 * (its host veth) is given and the receiver's ingress when dst_ep is; 0 for an endpoint that
 * is not on this node or whose direction the caller does not judge. Returns 0 when the packet
 * may go on, else a drop reason for pkt_exit(). Reads the packet, never changes it, so the
 * caller's packet pointers stay valid.
 *
 * A global function: the verifier checks it once, not once per caller and path, which keeps
 * the tc objects well within the limits of 6.1's verifier too.
 */
__attribute__((noinline)) int policy_enforce4(struct __sk_buff *skb, __u32 src_ep, __u32 dst_ep,
					      __u32 hook)
{
	struct pol_scratch *s;
	__u32 zero = 0;
	int ret;

	s = bpf_map_lookup_elem(&pol_scratch, &zero);
	if (!s)
		return 0;	/* cannot happen: a per-CPU array always has its element */
	/* Everything lives in s from here on: the stack is the caller's (see pol_scratch). */
	pol_endpoint_copy(src_ep, &s->sp);
	pol_endpoint_copy(dst_ep, &s->dp);
	if (!s->sp.flags && !s->dp.flags)
		return 0;
	s->src_ep = src_ep;
	s->dst_ep = dst_ep;
	s->hook = hook;
	/* Only the isolated directions are judged. */
	s->sp.flags &= PODLANE_POL_F_EGRESS;
	s->dp.flags &= PODLANE_POL_F_INGRESS;
	ret = pol_pkt_read(skb, s);
	if (ret)
		return ret;
	if (s->p.kind == POL_FRAGMENT)
		return 0;
	s->now = bpf_ktime_get_ns();
	return pol_decide(s);
}

/*
 * What a global function returns is any number to the verifier and the compiler: keep only
 * what it can mean (0 or a negative drop reason), so that no caller's branch for its own
 * positive codes (lib/nat.h's SVC_PASS) is taken with packet pointers the call left stale.
 */
static __always_inline int pol_result(int ret)
{
	return ret < 0 ? ret : 0;
}

/*
 * tc_from_pod: the sender's egress, and the receiver's ingress when the destination is an
 * endpoint of this node (dst, NULL otherwise). One map lookup per endpoint when neither is
 * isolated.
 */
static __always_inline int policy_from_pod(struct __sk_buff *skb, const struct pkt_meta *m,
					   const struct endpoint_value *dst)
{
	__u32 dst_ep = dst ? dst->ifindex : 0;

	if (!pol_endpoint(m->ifindex) && !pol_endpoint(dst_ep))
		return 0;
	return pol_result(policy_enforce4(skb, m->ifindex, dst_ep, m->hook));
}

/* Delivery to the endpoint behind host veth ep from anywhere else: its ingress. */
static __always_inline int policy_to_endpoint(struct __sk_buff *skb, const struct pkt_meta *m,
					      __u32 ep)
{
	if (!pol_endpoint(ep))
		return 0;
	return pol_result(policy_enforce4(skb, 0, ep, m->hook));
}

#endif /* PODLANE_LIB_POLICY_H */
