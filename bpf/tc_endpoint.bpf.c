// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tc_endpoint.bpf.c - the programs on a pod's host-side veth.
 *
 * tc_from_pod (clsact ingress: what the pod sends) enforces that the pod only uses its own
 * address, translates a service backend's replies back to the service frontend and sends them
 * toward the client (lib/nat.h), short-cuts pod-to-pod traffic on this node with
 * bpf_redirect_peer(), and sends traffic for pods on other nodes straight out of the uplink or
 * into the vxlan tunnel (lib/route.h); everything else goes to the host stack, which routes
 * it. tc_to_pod (clsact egress: what the stack delivers to the pod) counts, so traffic that
 * took the slow path is still accounted.
 *
 * Network policy (lib/policy.h): tc_from_pod judges the sender's egress and, for a destination
 * on this node, the receiver's ingress, before anything is translated or forwarded; tc_to_pod
 * judges the receiver's ingress for what the host stack delivers. Pods no policy isolates
 * cost one map lookup each.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "podlane.h"
#include "lib/conntrack.h"
#include "lib/maps.h"
#include "lib/common.h"
#include "lib/endpoint.h"
#include "lib/policy.h"
#include "lib/lb.h"
#include "lib/nat.h"
#include "lib/route.h"

/* Decide what happens to a packet the pod sent; returns a verdict or a drop reason. */
static __always_inline int from_pod(struct __sk_buff *skb, struct pkt_meta *m)
{
	struct endpoint_value *src, *dst;
	struct ethhdr *eth;
	struct iphdr *ip;
	int ret;

	ret = parse_ipv4(skb, m, &eth, &ip);
	if (ret == PARSE_OTHER)
		return TC_ACT_OK;
	if (ret != PARSE_IPV4)
		return ret;

	/*
	 * The source address must be one the agent gave to the pod behind this very veth. A veth
	 * the agent does not know at all gets its own reason, so a forgotten endpoint does not
	 * look like an attack.
	 */
	src = endpoint_lookup4(m->saddr);
	if (!src || src->ifindex != m->ifindex)
		return endpoint_known(m->ifindex) ? PODLANE_DROP_SOURCE_SPOOFED :
						    PODLANE_DROP_UNKNOWN_ENDPOINT;

	/*
	 * Policy sees the packet as the pod sent it: a backend's reply before the frontend is
	 * put back (its connection was judged translated, lib/nat.h). Any endpoint of this node
	 * is judged for ingress here, ready or not (one that is not is reached via the stack).
	 */
	dst = endpoint_lookup4(m->daddr);
	ret = policy_from_pod(skb, m, dst);
	if (ret)
		return ret;

	/* Only service backends can be answering a translated flow; other pods skip the lookup. */
	if (src->flags & PODLANE_EP_F_LB_BACKEND) {
		ret = service_reply(skb, m, ip);
		if (ret != SVC_PASS)
			return ret;
	}

	if (!endpoint_is_ready(dst))
		return node_forward(skb, m, eth, ip);
	return endpoint_forward(m, skb, eth, ip, dst);
}

SEC("tc")
int tc_from_pod(struct __sk_buff *skb)
{
	struct pkt_meta m = {
		.ifindex = skb->ifindex,
		.ep_ifindex = skb->ifindex,
		.hook = PODLANE_HOOK_FROM_POD,
	};

	return pkt_exit(skb, &m, from_pod(skb, &m));
}

/*
 * What the host stack delivers to the pod: judged for the pod's ingress when a policy isolates
 * it (from this node, from outside via the stack, from a pod whose packet took the stack);
 * untouched otherwise.
 */
static __always_inline int to_pod(struct __sk_buff *skb, struct pkt_meta *m)
{
	struct ethhdr *eth;
	struct iphdr *ip;
	int ret;

	if (!pol_endpoint(m->ifindex))
		return TC_ACT_OK;
	ret = parse_ipv4(skb, m, &eth, &ip);
	if (ret == PARSE_OTHER)
		return TC_ACT_OK;
	if (ret != PARSE_IPV4)
		return ret;
	ret = pol_result(policy_enforce4(skb, 0, m->ifindex, m->hook));
	return ret ? ret : TC_ACT_OK;
}

SEC("tc")
int tc_to_pod(struct __sk_buff *skb)
{
	struct pkt_meta m = {
		.ifindex = skb->ifindex,
		.ep_ifindex = skb->ifindex,
		.hook = PODLANE_HOOK_TO_POD,
	};

	return pkt_exit(skb, &m, to_pod(skb, &m));
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
