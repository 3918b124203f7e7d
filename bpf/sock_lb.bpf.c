// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sock_lb.bpf.c - service load balancing at the socket: the cgroup sock_addr hooks translate a
 * service address into a backend once, when a socket connects (or sends an unconnected UDP
 * datagram), so TCP and connected UDP carry the backend address from the first packet and need
 * no per-packet NAT. What the application sees stays the service: getpeername() and the source
 * of received UDP datagrams are mapped back through podlane_revnat.
 *
 * Attached to the cgroup v2 root (or a pod's cgroup), so it covers pods and the node's own
 * sockets. IPv4 only; connect6 and friends come with the IPv6 service maps.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "podlane.h"
#include "lib/lb.h"

/* cgroup sock_addr verdicts: 1 lets the call go on, 0 fails it with EPERM. */
#define SOCK_ALLOW	1
#define SOCK_REJECT	0

/* Set by podlaned through the skeleton's rodata: off turns the hooks into no-ops. */
const volatile bool sock_lb_enabled = true;

static __always_inline bool l4_proto_supported(__u32 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP;
}

/*
 * Translate ctx's destination if it is a service. Returns SOCK_ALLOW when there is nothing
 * to do or the rewrite is done, SOCK_REJECT when the service has no usable backend (as
 * kube-proxy rejects a service without endpoints).
 */
static __always_inline int sock_translate(struct bpf_sock_addr *ctx, enum lb_stat done)
{
	struct lb_revnat_key rkey = {};
	struct lb_revnat orig = {};
	struct lb_service *svc;
	struct lb_backend *be;
	__be32 addr = ctx->user_ip4;
	__be16 port = (__be16)ctx->user_port;
	__u32 proto = ctx->protocol;
	bool local_only;

	if (!sock_lb_enabled || !l4_proto_supported(proto))
		return SOCK_ALLOW;
	svc = lb_service_lookup(addr, port, proto);
	if (!svc)
		return SOCK_ALLOW;

	local_only = svc->flags & PODLANE_SVC_F_INT_LOCAL;
	/* No flow hash exists before the source port is chosen: Maglev gets a random one. */
	be = lb_choose(svc, bpf_get_netns_cookie(ctx), bpf_get_prandom_u32(), local_only);
	if (!be)
		return SOCK_REJECT;

	rkey.cookie = bpf_get_socket_cookie(ctx);
	rkey.addr = be->addr;
	rkey.port = be->port;
	orig.addr = addr;
	orig.port = port;
	ctx->user_ip4 = be->addr;
	ctx->user_port = be->port;
	if (bpf_map_update_elem(&podlane_revnat, &rkey, &orig, BPF_ANY))
		lb_count(PODLANE_LB_REVNAT_FULL);
	lb_count(done);
	return SOCK_ALLOW;
}

/* Put the service address back where the application reads its peer. */
static __always_inline void sock_restore(struct bpf_sock_addr *ctx, enum lb_stat done)
{
	struct lb_revnat_key rkey = {};
	struct lb_revnat *orig;

	if (!sock_lb_enabled)
		return;
	rkey.cookie = bpf_get_socket_cookie(ctx);
	rkey.addr = ctx->user_ip4;
	rkey.port = (__be16)ctx->user_port;
	orig = bpf_map_lookup_elem(&podlane_revnat, &rkey);
	if (!orig)
		return;
	ctx->user_ip4 = orig->addr;
	ctx->user_port = orig->port;
	lb_count(done);
}

SEC("cgroup/connect4")
int sock_connect4(struct bpf_sock_addr *ctx)
{
	return sock_translate(ctx, PODLANE_LB_CONNECT);
}

SEC("cgroup/sendmsg4")
int sock_sendmsg4(struct bpf_sock_addr *ctx)
{
	return sock_translate(ctx, PODLANE_LB_SENDMSG);
}

SEC("cgroup/recvmsg4")
int sock_recvmsg4(struct bpf_sock_addr *ctx)
{
	sock_restore(ctx, PODLANE_LB_RECVMSG);
	return SOCK_ALLOW;	/* recvmsg hooks must allow: the datagram is already queued */
}

SEC("cgroup/getpeername4")
int sock_getpeername4(struct bpf_sock_addr *ctx)
{
	sock_restore(ctx, PODLANE_LB_PEERNAME);
	return SOCK_ALLOW;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
