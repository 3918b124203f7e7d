// SPDX-License-Identifier: GPL-2.0-only
/* core/addr.c - IPv4 address and prefix helpers (core/addr.h). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/addr.h"

in_addr_t prefix_mask4(unsigned int len)
{
	return len ? htonl(~0U << (32 - len)) : 0;
}

int cidr4_parse(const char *s, in_addr_t *addr, unsigned int *len)
{
	char buf[INET_ADDRSTRLEN], *end;
	const char *slash;
	struct in_addr in;
	unsigned long n;

	slash = s ? strchr(s, '/') : NULL;
	if (!slash || (size_t)(slash - s) >= sizeof(buf) || !isdigit((unsigned char)slash[1]))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%.*s", (int)(slash - s), s);
	errno = 0;
	n = strtoul(slash + 1, &end, 10);
	if (errno || *end || n > 32 || inet_pton(AF_INET, buf, &in) != 1)
		return -EINVAL;
	*addr = in.s_addr;
	*len = n;
	return 0;
}

int subnet_parse(const char *s, struct subnet4 *sn)
{
	in_addr_t addr;
	unsigned int len;

	if (cidr4_parse(s, &addr, &len))
		return -EINVAL;
	sn->net = addr & prefix_mask4(len);
	sn->prefix_len = len;
	return 0;
}

bool subnet_contains(const struct subnet4 *sn, in_addr_t addr)
{
	return (addr & prefix_mask4(sn->prefix_len)) == sn->net;
}

bool cidr4_overlap(in_addr_t a, unsigned int alen, in_addr_t b, unsigned int blen)
{
	in_addr_t mask = prefix_mask4(alen < blen ? alen : blen);

	return (a & mask) == (b & mask);
}

const struct addr4_range *addr4_reserved(in_addr_t net, unsigned int len)
{
	static const struct addr4_range ranges[] = {
		{ 0x00000000, 8, "0.0.0.0/8", "\"this network\"" },
		{ 0x7f000000, 8, "127.0.0.0/8", "loopback" },
		{ 0xa9fe0000, 16, "169.254.0.0/16", "link-local, where the pods' gateway lives" },
		{ 0xe0000000, 4, "224.0.0.0/4", "multicast" },
		{ 0xf0000000, 4, "240.0.0.0/4", "reserved, with the broadcast address" },
	};
	size_t i;

	for (i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
		if (cidr4_overlap(htonl(ranges[i].net), ranges[i].len, net, len))
			return &ranges[i];
	return NULL;
}

const char *ip4_str(in_addr_t ip, char *buf)
{
	return inet_ntop(AF_INET, &ip, buf, INET_ADDRSTRLEN);
}

const char *cidr4_str(in_addr_t net, unsigned int len, char *buf)
{
	char ip[INET_ADDRSTRLEN];

	snprintf(buf, CIDR4_STRLEN, "%s/%u", ip4_str(net, ip), len);
	return buf;
}
