// SPDX-License-Identifier: GPL-2.0-only
/*
 * nl.c - rtnetlink helpers over libmnl (see nl.h). One request at a time per socket: send,
 * then read until the kernel's ACK (or NLMSG_DONE for dumps), handing data messages to a
 * callback. Attribute callbacks validate the types they use and skip everything else, so a
 * newer kernel adding attributes never breaks parsing.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/time.h>
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <endian.h>
#include <linux/if_link.h>
#include <linux/lwtunnel.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>

#include "nl.h"

/* Big enough that the kernel never truncates a link dump message (stats, af_spec...). */
#define NL_RECV_BUF	(64 * 1024)
#define NL_SEND_BUF	4096

typedef int (*nl_data_cb)(const struct nlmsghdr *nlh, void *data);

int nl_open(struct nl_sock *nl)
{
	struct timeval timeout = { .tv_sec = 10 };
	int one = 1, err;

	memset(nl, 0, sizeof(*nl));
	nl->buf = malloc(NL_RECV_BUF);
	if (!nl->buf)
		return -ENOMEM;
	nl->mnl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl->mnl) {
		err = -errno;
		goto fail;
	}
	if (mnl_socket_bind(nl->mnl, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		goto fail;
	}
	/* A reply the kernel never sends must fail the request, not wedge the caller forever. */
	if (setsockopt(mnl_socket_get_fd(nl->mnl), SOL_SOCKET, SO_RCVTIMEO, &timeout,
		       sizeof(timeout)) < 0) {
		err = -errno;
		goto fail;
	}
	/* Best effort: an old kernel without these still reports the errno. */
	mnl_socket_setsockopt(nl->mnl, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl->mnl, NETLINK_CAP_ACK, &one, sizeof(one));
	nl->portid = mnl_socket_get_portid(nl->mnl);
	nl->seq = (unsigned int)getpid() << 8;
	return 0;
fail:
	nl_close(nl);
	return err;
}

void nl_close(struct nl_sock *nl)
{
	if (nl->mnl)
		mnl_socket_close(nl->mnl);
	free(nl->buf);
	nl->mnl = NULL;
	nl->buf = NULL;
}

int nl_open_netns(struct nl_sock *nl, int netns_fd)
{
	int self, err;

	self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return -errno;
	if (setns(netns_fd, CLONE_NEWNET) < 0) {
		err = -errno;
		close(self);
		return err;
	}
	err = nl_open(nl);
	if (setns(self, CLONE_NEWNET) < 0) {
		/* Staying in the pod's netns would turn every later host operation into a bug. */
		fprintf(stderr, "fatal: failed to return to own netns: %s\n", strerror(errno));
		abort();
	}
	close(self);
	return err;
}

const char *nl_strerror(struct nl_sock *nl, int err)
{
	if (nl->ext_msg[0])
		snprintf(nl->err, sizeof(nl->err), "%s (%s)", strerror(-err), nl->ext_msg);
	else
		snprintf(nl->err, sizeof(nl->err), "%s", strerror(-err));
	return nl->err;
}

const char *nl_mac_str(const uint8_t mac[6], char *buf)
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
	return buf;
}

/* Pull NLMSGERR_ATTR_MSG out of an error message, if the kernel attached one. */
static void nl_parse_ext_ack(struct nl_sock *nl, const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *attr;
	size_t off = sizeof(*err);

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	/* Without NLM_F_CAPPED the whole request is echoed before the TLVs. */
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += err->msg.nlmsg_len - sizeof(struct nlmsghdr);
	if (mnl_nlmsg_size(off) > nlh->nlmsg_len)
		return;
	mnl_attr_for_each(attr, nlh, off) {
		if (mnl_attr_get_type(attr) != NLMSGERR_ATTR_MSG)
			continue;
		if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0)
			return;
		snprintf(nl->ext_msg, sizeof(nl->ext_msg), "%s", mnl_attr_get_str(attr));
		return;
	}
}

/*
 * Send nlh and process replies until the ACK (or DONE for a dump). Data messages go to cb.
 * Returns 0, a callback's negative return, or -errno from the kernel.
 */
static int nl_transact(struct nl_sock *nl, struct nlmsghdr *nlh, nl_data_cb cb, void *data)
{
	/*
	 * Only GET requests can be dumps: NLM_F_DUMP shares its bits with NLM_F_EXCL and
	 * NLM_F_REPLACE, so the flags alone cannot tell a dump from a NEWLINK with EXCL.
	 */
	bool dump = nlh->nlmsg_type % 4 == 2 && (nlh->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
	int cb_err = 0;

	nl->ext_msg[0] = '\0';
	nlh->nlmsg_seq = ++nl->seq;
	if (!dump)
		nlh->nlmsg_flags |= NLM_F_ACK;
	if (mnl_socket_sendto(nl->mnl, nlh, nlh->nlmsg_len) < 0)
		return -errno;

	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl->mnl, nl->buf, NL_RECV_BUF);
		const struct nlmsghdr *msg;
		int len;

		if (n < 0)
			return -errno;
		len = n;
		for (msg = (const struct nlmsghdr *)nl->buf; mnl_nlmsg_ok(msg, len);
		     msg = mnl_nlmsg_next(msg, &len)) {
			if (msg->nlmsg_seq != nl->seq || msg->nlmsg_pid != nl->portid)
				continue;
			switch (msg->nlmsg_type) {
			case NLMSG_ERROR: {
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(msg);

				if (msg->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
					return -EBADMSG;
				if (e->error == 0)
					return cb_err;
				nl_parse_ext_ack(nl, msg);
				return e->error < 0 ? e->error : -e->error;
			}
			case NLMSG_DONE: {
				const int *status = mnl_nlmsg_get_payload(msg);

				if (msg->nlmsg_len >= mnl_nlmsg_size(sizeof(int)) && *status < 0)
					return *status;
				return cb_err;
			}
			case NLMSG_NOOP:
				break;
			case NLMSG_OVERRUN:
				return -ENOBUFS;
			default:
				/* After a callback error keep draining to stay in sync. */
				if (cb && !cb_err)
					cb_err = cb(msg, data);
				if (cb_err > 0)
					cb_err = 0;
			}
		}
	}
}

/* buf is NL_SEND_BUF bytes; zeroed so attribute padding never carries stack garbage. */
static struct nlmsghdr *nl_msg_start(char *buf, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh;

	memset(buf, 0, NL_SEND_BUF);
	nlh = mnl_nlmsg_put_header(buf);

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	return nlh;
}

/* ---- links ---- */

static int link_linkinfo_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(attr);

	if (mnl_attr_type_valid(attr, IFLA_INFO_MAX) < 0)
		return MNL_CB_OK;
	if (type == IFLA_INFO_KIND && mnl_attr_validate(attr, MNL_TYPE_STRING) < 0)
		return MNL_CB_OK;
	tb[type] = attr;
	return MNL_CB_OK;
}

static int link_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(attr);

	if (mnl_attr_type_valid(attr, IFLA_MAX) < 0)
		return MNL_CB_OK;
	switch (type) {
	case IFLA_IFNAME:
		if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0)
			return MNL_CB_OK;
		break;
	case IFLA_MTU:
	case IFLA_GROUP:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
			return MNL_CB_OK;
		break;
	case IFLA_ADDRESS:
		if (mnl_attr_get_payload_len(attr) < 6)
			return MNL_CB_OK;
		break;
	case IFLA_LINKINFO:
		if (mnl_attr_validate(attr, MNL_TYPE_NESTED) < 0)
			return MNL_CB_OK;
		break;
	default:
		return MNL_CB_OK;
	}
	tb[type] = attr;
	return MNL_CB_OK;
}

static int link_get_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[IFLA_MAX + 1] = {};
	struct nl_link *link = data;

	if (nlh->nlmsg_type != RTM_NEWLINK)
		return 0;
	if (mnl_attr_parse(nlh, sizeof(*ifm), link_attr_cb, tb) < 0)
		return -EBADMSG;
	memset(link, 0, sizeof(*link));
	link->ifindex = ifm->ifi_index;
	link->flags = ifm->ifi_flags;
	if (tb[IFLA_IFNAME])
		snprintf(link->name, sizeof(link->name), "%s", mnl_attr_get_str(tb[IFLA_IFNAME]));
	if (tb[IFLA_MTU])
		link->mtu = mnl_attr_get_u32(tb[IFLA_MTU]);
	if (tb[IFLA_GROUP])
		link->group = mnl_attr_get_u32(tb[IFLA_GROUP]);
	if (tb[IFLA_ADDRESS])
		memcpy(link->mac, mnl_attr_get_payload(tb[IFLA_ADDRESS]), 6);
	if (tb[IFLA_LINKINFO]) {
		const struct nlattr *li[IFLA_INFO_MAX + 1] = {};

		mnl_attr_parse_nested(tb[IFLA_LINKINFO], link_linkinfo_attr_cb, li);
		if (li[IFLA_INFO_KIND])
			snprintf(link->kind, sizeof(link->kind), "%s",
				 mnl_attr_get_str(li[IFLA_INFO_KIND]));
	}
	return 0;
}

int nl_link_get(struct nl_sock *nl, const char *name, int ifindex, struct nl_link *link)
{
	char buf[NL_SEND_BUF];
	struct nlmsghdr *nlh = nl_msg_start(buf, RTM_GETLINK, 0);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	int err;

	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = ifindex;
	if (name) {
		if (strlen(name) >= IF_NAMESIZE)
			return -ENODEV;
		mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	}
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	memset(link, 0, sizeof(*link));
	err = nl_transact(nl, nlh, link_get_cb, link);
	if (!err && !link->ifindex)
		err = -ENODEV;
	return err;
}

struct link_list {
	nl_link_fn fn;
	void *ctx;
};

static int link_list_cb(const struct nlmsghdr *nlh, void *data)
{
	struct link_list *l = data;
	struct nl_link link;
	int err;

	err = link_get_cb(nlh, &link);
	if (!err && nlh->nlmsg_type == RTM_NEWLINK)
		l->fn(&link, l->ctx);
	return err;
}

int nl_link_list(struct nl_sock *nl, nl_link_fn fn, void *ctx)
{
	struct link_list l = { .fn = fn, .ctx = ctx };
	char buf[NL_SEND_BUF];
	struct nlmsghdr *nlh = nl_msg_start(buf, RTM_GETLINK, NLM_F_DUMP);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));

	ifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	return nl_transact(nl, nlh, link_list_cb, &l);
}

int nl_veth_create(struct nl_sock *nl, const char *name, const char *peer_name, int peer_netns_fd,
		   unsigned int mtu, uint32_t group)
{
	char buf[NL_SEND_BUF];
	struct nlmsghdr *nlh = nl_msg_start(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	struct nlattr *linkinfo, *info_data, *peer;

	ifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	if (mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	if (group)
		mnl_attr_put_u32(nlh, IFLA_GROUP, group);
	linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	info_data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	/* The peer's attributes follow its own ifinfomsg, like a nested RTM_NEWLINK. */
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, peer_name);
	if (peer_netns_fd >= 0)
		mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, peer_netns_fd);
	if (mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, info_data);
	mnl_attr_nest_end(nlh, linkinfo);
	return nl_transact(nl, nlh, NULL, NULL);
}

int nl_link_set_up(struct nl_sock *nl, int ifindex)
{
	char buf[NL_SEND_BUF];
	struct nlmsghdr *nlh = nl_msg_start(buf, RTM_NEWLINK, 0);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));

	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = ifindex;
	ifm->ifi_flags = IFF_UP;
	ifm->ifi_change = IFF_UP;
	return nl_transact(nl, nlh, NULL, NULL);
}

int nl_link_del(struct nl_sock *nl, int ifindex)
{
	char buf[NL_SEND_BUF];
	struct nlmsghdr *nlh = nl_msg_start(buf, RTM_DELLINK, 0);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));

	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = ifindex;
	return nl_transact(nl, nlh, NULL, NULL);
}

int nl_link_set_group(struct nl_sock *nl, int ifindex, uint32_t group)
{
	char buf[NL_SEND_BUF];
	struct nlmsghdr *nlh = nl_msg_start(buf, RTM_NEWLINK, 0);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));

	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = ifindex;
	mnl_attr_put_u32(nlh, IFLA_GROUP, group);
	return nl_transact(nl, nlh, NULL, NULL);
}

int nl_link_del_group(struct nl_sock *nl, uint32_t group)
{
	char buf[NL_SEND_BUF];
	struct nlmsghdr *nlh = nl_msg_start(buf, RTM_DELLINK, 0);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));

	ifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_u32(nlh, IFLA_GROUP, group);
	return nl_transact(nl, nlh, NULL, NULL);
}

/* ---- addresses ---- */

int nl_addr_add(struct nl_sock *nl, int ifindex, in_addr_t addr, unsigned int prefix_len)
{
	char buf[NL_SEND_BUF];
	struct nlmsghdr *nlh = nl_msg_start(buf, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));

	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = prefix_len;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = ifindex;
	mnl_attr_put_u32(nlh, IFA_LOCAL, addr);
	mnl_attr_put_u32(nlh, IFA_ADDRESS, addr);
	return nl_transact(nl, nlh, NULL, NULL);
}

struct addr_match {
	int ifindex;
	in_addr_t addr;
	unsigned int prefix_len;
	bool found;
};

static int addr_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(attr);

	if (mnl_attr_type_valid(attr, IFA_MAX) < 0)
		return MNL_CB_OK;
	if ((type == IFA_LOCAL || type == IFA_ADDRESS) &&
	    mnl_attr_validate(attr, MNL_TYPE_U32) == 0)
		tb[type] = attr;
	return MNL_CB_OK;
}

static int addr_has_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[IFA_MAX + 1] = {};
	struct addr_match *m = data;
	const struct nlattr *a;

	if (nlh->nlmsg_type != RTM_NEWADDR || ifa->ifa_family != AF_INET ||
	    (int)ifa->ifa_index != m->ifindex || ifa->ifa_prefixlen != m->prefix_len)
		return 0;
	if (mnl_attr_parse(nlh, sizeof(*ifa), addr_attr_cb, tb) < 0)
		return 0;
	a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	if (a && mnl_attr_get_u32(a) == m->addr)
		m->found = true;
	return 0;
}

int nl_addr_has(struct nl_sock *nl, int ifindex, in_addr_t addr, unsigned int prefix_len)
{
	struct addr_match m = { .ifindex = ifindex, .addr = addr, .prefix_len = prefix_len };
	char buf[NL_SEND_BUF];
	struct nlmsghdr *nlh = nl_msg_start(buf, RTM_GETADDR, NLM_F_DUMP);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	int err;

	ifa->ifa_family = AF_INET;
	err = nl_transact(nl, nlh, addr_has_cb, &m);
	return err ? err : m.found;
}

struct addr_list {
	nl_addr_fn fn;
	void *ctx;
};

static int addr_list_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[IFA_MAX + 1] = {};
	struct addr_list *l = data;
	const struct nlattr *a;

	if (nlh->nlmsg_type != RTM_NEWADDR || ifa->ifa_family != AF_INET)
		return 0;
	if (mnl_attr_parse(nlh, sizeof(*ifa), addr_attr_cb, tb) < 0)
		return 0;
	a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	if (a)
		l->fn(ifa->ifa_index, mnl_attr_get_u32(a), ifa->ifa_prefixlen, l->ctx);
	return 0;
}

int nl_addr_list4(struct nl_sock *nl, nl_addr_fn fn, void *ctx)
{
	struct addr_list l = { .fn = fn, .ctx = ctx };
	char buf[NL_SEND_BUF];
	struct nlmsghdr *nlh = nl_msg_start(buf, RTM_GETADDR, NLM_F_DUMP);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));

	ifa->ifa_family = AF_INET;
	return nl_transact(nl, nlh, addr_list_cb, &l);
}

/* ---- routes ---- */

int nl_route_add(struct nl_sock *nl, int ifindex, in_addr_t dst, unsigned int prefix_len,
		 in_addr_t gw)
{
	char buf[NL_SEND_BUF];
	struct nlmsghdr *nlh = nl_msg_start(buf, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));

	rtm->rtm_family = AF_INET;
	rtm->rtm_dst_len = prefix_len;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_STATIC;
	rtm->rtm_scope = gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
	rtm->rtm_type = RTN_UNICAST;
	if (prefix_len)
		mnl_attr_put_u32(nlh, RTA_DST, dst);
	mnl_attr_put_u32(nlh, RTA_OIF, ifindex);
	if (gw)
		mnl_attr_put_u32(nlh, RTA_GATEWAY, gw);
	return nl_transact(nl, nlh, NULL, NULL);
}

struct route_match {
	int ifindex;
	in_addr_t dst;
	unsigned int prefix_len;
	in_addr_t gw;
	bool found;
};

static int route_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(attr);

	if (mnl_attr_type_valid(attr, RTA_MAX) < 0)
		return MNL_CB_OK;
	switch (type) {
	case RTA_DST:
	case RTA_OIF:
	case RTA_GATEWAY:
	case RTA_TABLE:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) == 0)
			tb[type] = attr;
		break;
	case RTA_ENCAP_TYPE:
		if (mnl_attr_validate(attr, MNL_TYPE_U16) == 0)
			tb[type] = attr;
		break;
	case RTA_ENCAP:
		if (mnl_attr_validate(attr, MNL_TYPE_NESTED) == 0)
			tb[type] = attr;
		break;
	}
	return MNL_CB_OK;
}

static int route_has_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[RTA_MAX + 1] = {};
	struct route_match *m = data;
	unsigned int table;

	if (nlh->nlmsg_type != RTM_NEWROUTE || rtm->rtm_family != AF_INET ||
	    rtm->rtm_dst_len != m->prefix_len)
		return 0;
	if (mnl_attr_parse(nlh, sizeof(*rtm), route_attr_cb, tb) < 0)
		return 0;
	table = tb[RTA_TABLE] ? mnl_attr_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
	if (table != RT_TABLE_MAIN)
		return 0;
	if (m->prefix_len && (!tb[RTA_DST] || mnl_attr_get_u32(tb[RTA_DST]) != m->dst))
		return 0;
	if (!tb[RTA_OIF] || (int)mnl_attr_get_u32(tb[RTA_OIF]) != m->ifindex)
		return 0;
	if ((tb[RTA_GATEWAY] ? mnl_attr_get_u32(tb[RTA_GATEWAY]) : 0) != m->gw)
		return 0;
	m->found = true;
	return 0;
}

int nl_route_has(struct nl_sock *nl, int ifindex, in_addr_t dst, unsigned int prefix_len,
		 in_addr_t gw)
{
	struct route_match m = {
		.ifindex = ifindex, .dst = dst, .prefix_len = prefix_len, .gw = gw,
	};
	char buf[NL_SEND_BUF];
	struct nlmsghdr *nlh = nl_msg_start(buf, RTM_GETROUTE, NLM_F_DUMP);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	int err;

	rtm->rtm_family = AF_INET;
	err = nl_transact(nl, nlh, route_has_cb, &m);
	return err ? err : m.found;
}

/* RTA_ENCAP of LWTUNNEL_ENCAP_IP: the attributes a struct nl_route carries. */
static int route_encap_attr_cb(const struct nlattr *attr, void *data)
{
	struct nl_route *r = data;

	switch (mnl_attr_get_type(attr)) {
	case LWTUNNEL_IP_ID:
		if (mnl_attr_validate(attr, MNL_TYPE_U64) == 0)
			r->tun_id = be64toh(mnl_attr_get_u64(attr));
		break;
	case LWTUNNEL_IP_DST:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) == 0)
			r->tun_dst = mnl_attr_get_u32(attr);
		break;
	case LWTUNNEL_IP_TTL:
		if (mnl_attr_validate(attr, MNL_TYPE_U8) == 0)
			r->tun_ttl = mnl_attr_get_u8(attr);
		break;
	}
	return MNL_CB_OK;
}

struct route_list {
	unsigned char protocol;
	int ifindex;
	nl_route_fn fn;
	void *ctx;
};

static int route_list_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[RTA_MAX + 1] = {};
	struct route_list *l = data;
	struct nl_route r = {};
	unsigned int table;

	if (nlh->nlmsg_type != RTM_NEWROUTE || rtm->rtm_family != AF_INET ||
	    rtm->rtm_protocol != l->protocol || rtm->rtm_type != RTN_UNICAST)
		return 0;
	if (mnl_attr_parse(nlh, sizeof(*rtm), route_attr_cb, tb) < 0)
		return 0;
	table = tb[RTA_TABLE] ? mnl_attr_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
	if (table != RT_TABLE_MAIN || !tb[RTA_OIF] ||
	    (int)mnl_attr_get_u32(tb[RTA_OIF]) != l->ifindex)
		return 0;
	r.ifindex = l->ifindex;
	r.protocol = rtm->rtm_protocol;
	r.prefix_len = rtm->rtm_dst_len;
	r.dst = tb[RTA_DST] ? mnl_attr_get_u32(tb[RTA_DST]) : 0;
	r.gw = tb[RTA_GATEWAY] ? mnl_attr_get_u32(tb[RTA_GATEWAY]) : 0;
	if (tb[RTA_ENCAP_TYPE] && tb[RTA_ENCAP] &&
	    mnl_attr_get_u16(tb[RTA_ENCAP_TYPE]) == LWTUNNEL_ENCAP_IP)
		mnl_attr_parse_nested(tb[RTA_ENCAP], route_encap_attr_cb, &r);
	l->fn(&r, l->ctx);
	return 0;
}

int nl_route_list(struct nl_sock *nl, unsigned char protocol, int ifindex, nl_route_fn fn,
		  void *ctx)
{
	struct route_list l = { .protocol = protocol, .ifindex = ifindex, .fn = fn, .ctx = ctx };
	char buf[NL_SEND_BUF];
	struct nlmsghdr *nlh = nl_msg_start(buf, RTM_GETROUTE, NLM_F_DUMP);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));

	rtm->rtm_family = AF_INET;
	return nl_transact(nl, nlh, route_list_cb, &l);
}

static void route_msg(struct nlmsghdr *nlh, const struct nl_route *r)
{
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	struct nlattr *encap;

	rtm->rtm_family = AF_INET;
	rtm->rtm_dst_len = r->prefix_len;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = r->protocol ? r->protocol : RTPROT_STATIC;
	rtm->rtm_scope = r->gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
	rtm->rtm_type = RTN_UNICAST;
	if (r->prefix_len)
		mnl_attr_put_u32(nlh, RTA_DST, r->dst);
	mnl_attr_put_u32(nlh, RTA_OIF, r->ifindex);
	if (r->gw)
		mnl_attr_put_u32(nlh, RTA_GATEWAY, r->gw);
	if (!r->tun_dst)
		return;
	mnl_attr_put_u16(nlh, RTA_ENCAP_TYPE, LWTUNNEL_ENCAP_IP);
	encap = mnl_attr_nest_start(nlh, RTA_ENCAP);
	mnl_attr_put_u64(nlh, LWTUNNEL_IP_ID, htobe64(r->tun_id));
	mnl_attr_put_u32(nlh, LWTUNNEL_IP_DST, r->tun_dst);
	if (r->tun_ttl)
		mnl_attr_put_u8(nlh, LWTUNNEL_IP_TTL, r->tun_ttl);
	mnl_attr_nest_end(nlh, encap);
}

int nl_route_replace(struct nl_sock *nl, const struct nl_route *r)
{
	char buf[NL_SEND_BUF];
	struct nlmsghdr *nlh = nl_msg_start(buf, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE);

	route_msg(nlh, r);
	return nl_transact(nl, nlh, NULL, NULL);
}

int nl_route_del(struct nl_sock *nl, const struct nl_route *r)
{
	char buf[NL_SEND_BUF];
	struct nlmsghdr *nlh = nl_msg_start(buf, RTM_DELROUTE, 0);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));

	/* Only what identifies the route: a delete matches on every attribute it is given. */
	rtm->rtm_family = AF_INET;
	rtm->rtm_dst_len = r->prefix_len;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = r->protocol ? r->protocol : RTPROT_STATIC;
	rtm->rtm_scope = RT_SCOPE_NOWHERE;
	if (r->prefix_len)
		mnl_attr_put_u32(nlh, RTA_DST, r->dst);
	if (r->ifindex)
		mnl_attr_put_u32(nlh, RTA_OIF, r->ifindex);
	return nl_transact(nl, nlh, NULL, NULL);
}

int nl_link_set_noarp(struct nl_sock *nl, int ifindex, bool on)
{
	char buf[NL_SEND_BUF];
	struct nlmsghdr *nlh = nl_msg_start(buf, RTM_NEWLINK, 0);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));

	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_index = ifindex;
	ifm->ifi_flags = on ? IFF_NOARP : 0;
	ifm->ifi_change = IFF_NOARP;
	return nl_transact(nl, nlh, NULL, NULL);
}

/* ---- neighbours ---- */

int nl_neigh_add(struct nl_sock *nl, int ifindex, in_addr_t addr, const uint8_t mac[6])
{
	char buf[NL_SEND_BUF];
	struct nlmsghdr *nlh = nl_msg_start(buf, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE);
	struct ndmsg *ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));

	ndm->ndm_family = AF_INET;
	ndm->ndm_ifindex = ifindex;
	ndm->ndm_state = NUD_PERMANENT;
	ndm->ndm_type = RTN_UNICAST;
	mnl_attr_put_u32(nlh, NDA_DST, addr);
	mnl_attr_put(nlh, NDA_LLADDR, 6, mac);
	return nl_transact(nl, nlh, NULL, NULL);
}
