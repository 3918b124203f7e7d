// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sock_lb.bpf.c - service load balancing at the socket: the cgroup sock_addr hooks translate a
 * service address into a backend once, when a socket connects (or sends an unconnected UDP
 * datagram), so TCP and connected UDP carry the backend address from the first packet and need
 * no per-packet NAT. What the application sees stays the service: getpeername() and the source
 * of received UDP datagrams are mapped back.
 *
 * Where the service address is kept for that: a connected socket (TCP, connected UDP) has one
 * peer, so it lives in the socket's own storage (podlane_sk_svc), which the kernel frees with
 * the socket; a connection-heavy client costs no shared map entries and evicts nothing. Only
 * unconnected UDP, where one socket may talk to several services, needs the LRU podlane_revnat
 * keyed by {socket cookie, backend}.
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

/*
 * socket -> its translation (TCP and connected UDP); connect4 writes, getpeername4 and
 * recvmsg4 read, the kernel frees it with the socket. Pinned so that a restarted agent's
 * programs still find what the previous ones recorded for live sockets.
 */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct lb_sock_nat);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} podlane_sk_svc SEC(".maps");

static __always_inline bool l4_proto_supported(__u32 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP;
}

/*
 * The backend for addr:port when it is a service. NULL with *verdict SOCK_ALLOW when there is
 * nothing to translate, SOCK_REJECT when the service has no usable backend (as kube-proxy
 * rejects a service without endpoints). The caller reads ctx's fields once, up front: the
 * verifier refuses a ctx access through a pointer the compiler kept across calls.
 */
static __always_inline struct lb_backend *sock_backend(struct bpf_sock_addr *ctx, __be32 addr,
						       __be16 port, __u32 proto, int *verdict)
{
	struct lb_service *svc;
	struct lb_backend *be;
	bool local_only;

	*verdict = SOCK_ALLOW;
	if (!sock_lb_enabled || !l4_proto_supported(proto))
		return NULL;
	svc = lb_service_lookup(addr, port, proto);
	if (!svc)
		return NULL;

	local_only = svc->flags & PODLANE_SVC_F_INT_LOCAL;
	/* No flow hash exists before the source port is chosen: Maglev gets a random one. */
	be = lb_choose(svc, bpf_get_netns_cookie(ctx), bpf_get_prandom_u32(), local_only);
	if (!be)
		*verdict = SOCK_REJECT;
	return be;
}

SEC("cgroup/connect4")
int sock_connect4(struct bpf_sock_addr *ctx)
{
	__be32 addr = ctx->user_ip4;
	__be16 port = (__be16)ctx->user_port;
	__u32 proto = ctx->protocol;
	struct bpf_sock *sk = ctx->sk;
	struct lb_sock_nat *nat;
	struct lb_backend *be;
	int verdict;

	be = sock_backend(ctx, addr, port, proto, &verdict);
	if (!be) {
		/* A UDP socket may connect again, elsewhere: its old service no longer applies. */
		if (verdict == SOCK_ALLOW && proto == IPPROTO_UDP)
			bpf_sk_storage_delete(&podlane_sk_svc, sk);
		return verdict;
	}

	nat = bpf_sk_storage_get(&podlane_sk_svc, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
	if (nat) {
		nat->backend_addr = be->addr;
		nat->backend_port = be->port;
		nat->addr = addr;
		nat->port = port;
	} else {
		lb_count(PODLANE_LB_REVNAT_FULL);
	}
	ctx->user_ip4 = be->addr;
	ctx->user_port = be->port;
	lb_count(PODLANE_LB_CONNECT);
	return SOCK_ALLOW;
}

SEC("cgroup/sendmsg4")
int sock_sendmsg4(struct bpf_sock_addr *ctx)
{
	__be32 addr = ctx->user_ip4;
	__be16 port = (__be16)ctx->user_port;
	struct lb_revnat_key rkey = {};
	struct lb_revnat orig = {};
	struct lb_backend *be;
	int verdict;

	be = sock_backend(ctx, addr, port, ctx->protocol, &verdict);
	if (!be)
		return verdict;

	rkey.cookie = bpf_get_socket_cookie(ctx);
	rkey.addr = be->addr;
	rkey.port = be->port;
	orig.addr = addr;
	orig.port = port;
	ctx->user_ip4 = be->addr;
	ctx->user_port = be->port;
	if (bpf_map_update_elem(&podlane_revnat, &rkey, &orig, BPF_ANY))
		lb_count(PODLANE_LB_REVNAT_FULL);
	lb_count(PODLANE_LB_SENDMSG);
	return SOCK_ALLOW;
}

/*
 * Put the service address back where the application reads its peer: the socket's own record
 * when the peer is its connected backend, else podlane_revnat (unconnected UDP, and sockets
 * connected by an agent from before socket storage).
 */
static __always_inline void sock_restore(struct bpf_sock_addr *ctx, enum lb_stat done)
{
	__be32 addr = ctx->user_ip4;
	__be16 port = (__be16)ctx->user_port;
	struct lb_revnat_key rkey = {};
	struct lb_sock_nat *nat;
	struct lb_revnat *orig;

	if (!sock_lb_enabled)
		return;
	nat = bpf_sk_storage_get(&podlane_sk_svc, ctx->sk, NULL, 0);
	if (nat && nat->backend_addr == addr && nat->backend_port == port) {
		ctx->user_ip4 = nat->addr;
		ctx->user_port = nat->port;
		lb_count(done);
		return;
	}
	rkey.cookie = bpf_get_socket_cookie(ctx);
	rkey.addr = addr;
	rkey.port = port;
	orig = bpf_map_lookup_elem(&podlane_revnat, &rkey);
	if (!orig)
		return;
	ctx->user_ip4 = orig->addr;
	ctx->user_port = orig->port;
	lb_count(done);
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
