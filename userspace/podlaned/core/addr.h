/* SPDX-License-Identifier: GPL-2.0-only */
/* core/addr.h - IPv4 addresses and prefixes as the agent parses, compares and prints them. */
#ifndef PODLANED_CORE_ADDR_H
#define PODLANED_CORE_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <arpa/inet.h>

/* An IPv4 prefix with its host bits cleared. */
struct subnet4 {
	in_addr_t net;		/* network order */
	unsigned int prefix_len;
};

/* The netmask of a prefix length 0-32, network order. */
in_addr_t prefix_mask4(unsigned int len);

/* "a.b.c.d/len" as written, host bits kept: -EINVAL unless it is exactly that. */
int cidr4_parse(const char *s, in_addr_t *addr, unsigned int *len);
/* cidr4_parse() with the host bits cleared. */
int subnet_parse(const char *s, struct subnet4 *sn);
bool subnet_contains(const struct subnet4 *sn, in_addr_t addr);
/* Whether two prefixes share an address. */
bool cidr4_overlap(in_addr_t a, unsigned int alen, in_addr_t b, unsigned int blen);

/*
 * The IPv4 ranges that no pod, pod CIDR or node may use: this network (0/8), loopback (127/8),
 * link-local (169.254/16, where the pods' gateway PODLANE_GATEWAY4 lives), multicast (224/4) and
 * reserved (240/4, the limited broadcast with it). addr4_reserved() gives the first one that
 * net/len overlaps (len 32: that address is in it), NULL when none.
 */
struct addr4_range {
	uint32_t	net;		/* host order */
	unsigned int	len;
	const char	*cidr;		/* "127.0.0.0/8" */
	const char	*what;		/* "loopback" */
};
const struct addr4_range *addr4_reserved(in_addr_t net, unsigned int len);

/* Text forms; buf must hold INET_ADDRSTRLEN, or CIDR4_STRLEN for a prefix. Return buf. */
#define CIDR4_STRLEN	(INET_ADDRSTRLEN + 3)
const char *ip4_str(in_addr_t ip, char *buf);
const char *cidr4_str(in_addr_t net, unsigned int len, char *buf);

#endif /* PODLANED_CORE_ADDR_H */
