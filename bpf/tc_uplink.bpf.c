// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tc_uplink.bpf.c - the program on the node uplink's clsact ingress.
 *
 * tc_from_uplink delivers traffic for a local pod straight into the pod's namespace with
 * bpf_redirect_peer(), skipping the host routing step. Packets to a service frontend
 * (NodePort, external IP, ClusterIP from another node) are first translated to a backend and
 * tracked (lib/nat.h); a NodePort flow whose backend is a pod on another node leaves again
 * toward that node (lib/route.h), source-translated to this node, and its replies coming back
 * are translated back here. Malformed IPv4 is dropped here with a reason (the stack would drop it
 * silently anyway); everything else goes to the host stack. What is delivered to a local pod
 * is first judged for the pod's ingress (lib/policy.h), after service translation.
 *
 * tc_from_tunnel runs on the clsact ingress of the agent's vxlan device instead (VXLAN
 * routing): decapsulated packets from pods on other nodes. It has its own program rather than
 * tc_from_uplink's because what comes out of a tunnel needs its origin checked (lib/route.h)
 * and never carries service frontends: a pod's service connection was already translated to
 * a backend on the client's node.
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

/* Decide what happens to a packet from the outside; returns a verdict or a drop reason. */
static __always_inline int from_uplink(struct __sk_buff *skb, struct pkt_meta *m)
{
	struct endpoint_value *dst;
	struct ethhdr *eth;
	struct iphdr *ip;
	int ret;

	ret = parse_ipv4(skb, m, &eth, &ip);
	if (ret == PARSE_OTHER)
		return TC_ACT_OK;
	if (ret != PARSE_IPV4)
		return ret;

	ret = service_from_uplink(skb, m, ip);
	if (ret == SVC_REMOTE) {
		/* NodePort to another node's pod, now from this node: on as a pod's packet goes. */
		ret = reload_ipv4(skb, &eth, &ip);
		if (ret)
			return ret;
		return node_forward(skb, m, eth, ip);
	}
	if (ret != SVC_PASS)
		return ret;

	dst = endpoint_lookup4(m->daddr);
	if (!endpoint_is_ready(dst))
		return TC_ACT_OK;
	/* From here on a drop is the destination pod's loss: charge it there. */
	m->ep_ifindex = dst->ifindex;
	ret = policy_to_endpoint(skb, m, dst->ifindex);
	if (ret)
		return ret;
	return endpoint_forward(m, skb, eth, ip, dst);
}

SEC("tc")
int tc_from_uplink(struct __sk_buff *skb)
{
	struct pkt_meta m = {
		.ifindex = skb->ifindex,
		.hook = PODLANE_HOOK_FROM_UPLINK,
	};

	return pkt_exit(skb, &m, from_uplink(skb, &m));
}

static __always_inline int from_tunnel(struct __sk_buff *skb, struct pkt_meta *m)
{
	struct endpoint_value *dst;
	struct ethhdr *eth;
	struct iphdr *ip;
	int ret;

	ret = parse_ipv4(skb, m, &eth, &ip);
	if (ret == PARSE_OTHER)
		return TC_ACT_OK;
	if (ret != PARSE_IPV4)
		return ret;
	ret = tunnel_check_source(skb, m);
	if (ret)
		return ret;

	dst = endpoint_lookup4(m->daddr);
	if (!endpoint_is_ready(dst))
		return TC_ACT_OK;
	m->ep_ifindex = dst->ifindex;
	ret = policy_to_endpoint(skb, m, dst->ifindex);
	if (ret)
		return ret;
	return endpoint_forward(m, skb, eth, ip, dst);
}

SEC("tc")
int tc_from_tunnel(struct __sk_buff *skb)
{
	struct pkt_meta m = {
		.ifindex = skb->ifindex,
		.hook = PODLANE_HOOK_FROM_TUNNEL,
	};

	return pkt_exit(skb, &m, from_tunnel(skb, &m));
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
