// SPDX-License-Identifier: GPL-2.0-only
/*
 * policy/ctgc.c - the collector of podlane_pol_ct, the connections network policy allowed
 * (bpf/podlane.h): the datapath creates entries and refreshes last_ns, podlaned deletes the
 * ones idle past their lifetime, as conntrack does. An expired connection's next packet is
 * judged again as an opener (a TCP packet that is not a SYN never opens one): so TCP's
 * lifetime, once the reply was seen, is the six hours established TCP keeps in podlane_ct.
 *
 *   TCP, reply seen              PODLANE_CT_TCP_LIFETIME_S   (6 h)
 *   TCP, no reply yet            PODLANE_CT_SYN_LIFETIME_S   (60 s)
 *   UDP, SCTP, ICMP, others      PODLANE_CT_UDP_LIFETIME_S   (60 s), twice that with replies
 *
 * The LRU map would push stale entries out on its own, but only when full and without regard
 * to age. A pass runs every POL_CT_GC_EVERY ticks of the main loop.
 */
#include <errno.h>
#include <string.h>
#include <netinet/in.h>
#include <bpf/bpf.h>

#include "core/agent.h"
#include "ct_gc.h"
#include "log.h"
#include "policy/policy_int.h"

static __u64 lifetime_ns(const struct pol_ct_key *k, const struct pol_ct_entry *e)
{
	bool replied = e->flags & PODLANE_POL_CT_F_REPLY_SEEN;
	__u64 s;

	if (k->proto == IPPROTO_TCP)
		s = replied ? PODLANE_CT_TCP_LIFETIME_S : PODLANE_CT_SYN_LIFETIME_S;
	else
		s = replied ? 2 * PODLANE_CT_UDP_LIFETIME_S : PODLANE_CT_UDP_LIFETIME_S;
	return s * 1000000000ULL;
}

void pol_ct_gc(struct agent *a)
{
	struct pol_state *s = a->policy;
	struct pol_ct_key key, next, doomed;
	struct pol_ct_entry e;
	bool have_key = false, pending = false;
	__u64 now = ct_now_ns(), scanned = 0, live = 0, limit;
	int err = 0;

	if (s->ct_fd < 0)
		return;
	/* The walk restarts when the key it stands on goes: bounded, as ct_gc() is. */
	limit = 4ULL * s->ct_max + 16;
	while (scanned < limit) {
		if (bpf_map_get_next_key(s->ct_fd, have_key ? &key : NULL, &next)) {
			if (errno != ENOENT)
				err = -errno;
			break;
		}
		/* The expired key is deleted once the walk stands past it. */
		if (pending && !bpf_map_delete_elem(s->ct_fd, &doomed))
			s->ct_expired++;
		pending = false;
		key = next;
		have_key = true;
		scanned++;
		if (bpf_map_lookup_elem(s->ct_fd, &key, &e))
			continue;
		if (e.last_ns + lifetime_ns(&key, &e) < now) {
			doomed = key;
			pending = true;
			continue;
		}
		live++;
	}
	if (pending && !bpf_map_delete_elem(s->ct_fd, &doomed))
		s->ct_expired++;
	s->ct_live = live;
	if (err)
		log_warn("failed to walk podlane_pol_ct err=\"%s\"", strerror(-err));
}
