// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cgroup_skb_acct.bpf.c - per-cgroup packets and bytes, from the cgroup socket-buffer hooks.
 *
 * Attached (BPF_F_ALLOW_MULTI) at the cgroup v2 root, or at a pod's cgroup, these see every
 * packet a socket of the subtree sends (cgroup_skb/egress, before fragmentation) or receives
 * (cgroup_skb/ingress, after the socket lookup). The socket decides the cgroup charged: the
 * cgroup v2 cgroup of the task that created it (bpf_skb_cgroup_id), not whoever happens to
 * run the softirq, so received packets land on the receiving pod. Counting only: every packet
 * is allowed.
 *
 * Bytes are skb->len here, which at both hooks starts at the IP header: the IP packet length
 * with no L2 header (see struct cgroup_acct in podlane.h for how that meets device counters).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "podlane.h"
#include "lib/acct.h"

#define CGROUP_SKB_ALLOW	1

/* Set by podlaned through the skeleton's rodata before load. */
const volatile bool acct_traffic = true;

/*
 * Atomic adds: egress runs in process context (preemptible, interruptible by softirqs that
 * send TCP ACKs), so two programs can update the same per-CPU counters at once.
 */
static __always_inline void count_packet(struct __sk_buff *skb, bool ingress)
{
	struct cgroup_acct *a;
	__u32 len = skb->len;

	/* 0 only without a full socket, which these hooks do not run for: kept, not hidden. */
	a = cgroup_acct_get(bpf_skb_cgroup_id(skb));
	if (!a) {
		acct_error(ACCT_ERR_FULL_SKB);
		return;
	}
	if (ingress) {
		__sync_fetch_and_add(&a->rx_packets, 1);
		__sync_fetch_and_add(&a->rx_bytes, len);
	} else {
		__sync_fetch_and_add(&a->tx_packets, 1);
		__sync_fetch_and_add(&a->tx_bytes, len);
	}
}

SEC("cgroup_skb/ingress")
int acct_skb_ingress(struct __sk_buff *skb)
{
	if (acct_traffic)
		count_packet(skb, true);
	return CGROUP_SKB_ALLOW;
}

SEC("cgroup_skb/egress")
int acct_skb_egress(struct __sk_buff *skb)
{
	if (acct_traffic)
		count_packet(skb, false);
	return CGROUP_SKB_ALLOW;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
