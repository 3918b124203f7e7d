/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * nl.h - small rtnetlink helpers over libmnl for podlane's userspace: links (veth pairs),
 * addresses, routes and neighbours, in the caller's netns or inside another one.
 *
 * Every socket asks the kernel for extended ACKs, so when a request fails the helpers return
 * -errno AND leave the kernel's own explanation (e.g. "Invalid prefix for given prefix
 * length") in nl->ext_msg; nl_strerror() formats both. IPv4 addresses are in network order.
 */
#ifndef PODLANE_NL_H
#define PODLANE_NL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <net/if.h>
#include <netinet/in.h>

struct mnl_socket;

struct nl_sock {
	struct mnl_socket *mnl;
	unsigned int portid;
	unsigned int seq;
	char *buf;			/* MNL_SOCKET_BUFFER_SIZE receive buffer */
	char ext_msg[256];		/* kernel's extended-ACK text of the last failure */
	char err[320];			/* nl_strerror() output */
};

struct nl_link {
	int ifindex;
	unsigned int flags;		/* IFF_* */
	unsigned int mtu;
	uint8_t mac[6];
	char name[IF_NAMESIZE];
	char kind[16];			/* IFLA_INFO_KIND, "" when the device has none */
	uint32_t group;			/* IFLA_GROUP, 0 = the default group */
};

/* Open a NETLINK_ROUTE socket in the current netns. Returns 0 or -errno. */
int nl_open(struct nl_sock *nl);

/*
 * Open a NETLINK_ROUTE socket that lives in the netns netns_fd refers to: the calling thread
 * enters that netns, creates the socket and returns to its own netns. A socket keeps the netns
 * it was created in, so every later request through it acts there.
 */
int nl_open_netns(struct nl_sock *nl, int netns_fd);
void nl_close(struct nl_sock *nl);

/* "<strerror(-err)>" or "<strerror(-err)> (<kernel's message>)"; valid until the next call. */
const char *nl_strerror(struct nl_sock *nl, int err);

/* Look a device up by name (ifindex 0) or by ifindex (name NULL). -ENODEV when absent. */
int nl_link_get(struct nl_sock *nl, const char *name, int ifindex, struct nl_link *link);

/*
 * Call fn for every device in nl's netns. Returns 0 or -errno; fn must not send requests
 * through the same socket (collect, then act).
 */
typedef void (*nl_link_fn)(const struct nl_link *link, void *ctx);
int nl_link_list(struct nl_sock *nl, nl_link_fn fn, void *ctx);

/*
 * Create a veth pair: name in nl's netns and peer_name directly inside the netns peer_netns_fd
 * refers to (so the pod end never exists in the host netns, not even for a moment). mtu 0 leaves
 * the kernel default; group != 0 puts name (not the peer) in that device group as it is created.
 * Fails with -EEXIST when either name is taken in its netns.
 */
int nl_veth_create(struct nl_sock *nl, const char *name, const char *peer_name, int peer_netns_fd,
		   unsigned int mtu, uint32_t group);
int nl_link_set_up(struct nl_sock *nl, int ifindex);
int nl_link_del(struct nl_sock *nl, int ifindex);
/*
 * Devices can be deleted as a group: the kernel unregisters all of a group's devices in one
 * batch, paying its RCU grace periods once instead of once per device. group must not be 0
 * (every device's default). nl_link_del_group fails with -ENODEV when the group is empty.
 */
int nl_link_set_group(struct nl_sock *nl, int ifindex, uint32_t group);
int nl_link_del_group(struct nl_sock *nl, uint32_t group);

int nl_addr_add(struct nl_sock *nl, int ifindex, in_addr_t addr, unsigned int prefix_len);
/* True when ifindex holds addr/prefix_len. Returns 1, 0 or -errno. */
int nl_addr_has(struct nl_sock *nl, int ifindex, in_addr_t addr, unsigned int prefix_len);
/*
 * Call fn for every IPv4 address in nl's netns (its local address, its device, its prefix
 * length). Returns 0 or -errno; fn must not send requests through the same socket.
 */
typedef void (*nl_addr_fn)(int ifindex, in_addr_t addr, unsigned int prefix_len, void *ctx);
int nl_addr_list4(struct nl_sock *nl, nl_addr_fn fn, void *ctx);

/* Add a main-table route dst/prefix_len dev ifindex, via gw when gw != 0 (scope link when 0). */
int nl_route_add(struct nl_sock *nl, int ifindex, in_addr_t dst, unsigned int prefix_len,
		 in_addr_t gw);
/* True when the main table routes dst/prefix_len dev ifindex via gw (gw 0: no gateway). */
int nl_route_has(struct nl_sock *nl, int ifindex, in_addr_t dst, unsigned int prefix_len,
		 in_addr_t gw);

/*
 * A main-table IPv4 route as the node-route helpers write and list it: dst/prefix_len dev
 * ifindex, via gw when gw != 0, tagged with an rtm_protocol of the owner's so that its routes
 * can be told apart from everyone else's. With tun_dst != 0 it also carries a lightweight
 * tunnel ("encap ip id <tun_id> dst <tun_dst> ttl <tun_ttl>"): a collect-metadata (external)
 * vxlan or geneve device takes destination and key of what it sends from it.
 */
struct nl_route {
	int		ifindex;
	in_addr_t	dst;
	unsigned int	prefix_len;
	in_addr_t	gw;
	unsigned char	protocol;
	uint64_t	tun_id;		/* host order */
	in_addr_t	tun_dst;
	uint8_t		tun_ttl;
};

/* Create or replace the route to r->dst/r->prefix_len (one route per prefix in the table). */
int nl_route_replace(struct nl_sock *nl, const struct nl_route *r);
/*
 * Delete the route to r->dst/r->prefix_len of r->protocol on r->ifindex (any device when
 * ifindex is 0); -ESRCH if there is none.
 */
int nl_route_del(struct nl_sock *nl, const struct nl_route *r);
/*
 * Call fn for every main-table IPv4 route of the given protocol through ifindex. Returns 0 or
 * -errno; fn must not send requests through the same socket (collect, then act).
 */
typedef void (*nl_route_fn)(const struct nl_route *r, void *ctx);
int nl_route_list(struct nl_sock *nl, unsigned char protocol, int ifindex, nl_route_fn fn,
		  void *ctx);

/* Set IFF_NOARP on ifindex (on = true) or clear it. */
int nl_link_set_noarp(struct nl_sock *nl, int ifindex, bool on);

/* Add (or replace) a PERMANENT neighbour addr -> mac on ifindex. */
int nl_neigh_add(struct nl_sock *nl, int ifindex, in_addr_t addr, const uint8_t mac[6]);

/* "aa:bb:cc:dd:ee:ff" into buf (at least 18 bytes). */
const char *nl_mac_str(const uint8_t mac[6], char *buf);

#endif /* PODLANE_NL_H */
