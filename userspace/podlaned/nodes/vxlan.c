// SPDX-License-Identifier: GPL-2.0-only
/*
 * nodes/vxlan.c - the collect-metadata vxlan device of --routing vxlan: created (or adopted)
 * at start-up, recorded in <state-dir>/vxlan so that a later run without VXLAN and
 * --uninstall find it, and given tc_from_tunnel on its ingress.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <libmnl/libmnl.h>

#include "core/agent.h"
#include "core/fs.h"
#include "datapath/datapath.h"
#include "log.h"
#include "nodes/nodes.h"
#include "nodes/nodes_int.h"

/* RTM_NEWLINK for a collect-metadata vxlan device; the kernel's extended ACK goes to why. */
static int vxlan_create(const char *name, char *why, size_t why_len)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlattr *linkinfo, *data, *attr;
	const struct nlmsgerr *err;
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifm;
	unsigned int seq, portid;
	int one = 1, ret = -EPROTO, len;
	ssize_t n;

	why[0] = '\0';
	nlh = mnl_nlmsg_put_header(memset(buf, 0, sizeof(buf)));
	nlh->nlmsg_type = RTM_NEWLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
	nlh->nlmsg_seq = seq = getpid();
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "vxlan");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	/* "external": destination and VNI come with each skb, set by tc_from_pod. */
	mnl_attr_put_u8(nlh, IFLA_VXLAN_COLLECT_METADATA, 1);
	mnl_attr_put_u16(nlh, IFLA_VXLAN_PORT, htons(PODLANE_VXLAN_PORT));
	mnl_attr_put_u8(nlh, IFLA_VXLAN_LEARNING, 0);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, linkinfo);

	nl = mnl_socket_open(NETLINK_ROUTE);
	if (!nl)
		return -errno;
	mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof(one));
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		ret = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (n < 0) {
		ret = -errno;
		goto out;
	}
	len = n;
	for (nlh = (struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, len);
	     nlh = mnl_nlmsg_next(nlh, &len)) {
		if (nlh->nlmsg_seq != seq || nlh->nlmsg_pid != portid ||
		    nlh->nlmsg_type != NLMSG_ERROR)
			continue;
		err = mnl_nlmsg_get_payload(nlh);
		ret = err->error;
		if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
			break;
		mnl_attr_for_each(attr, nlh, sizeof(*err)) {
			if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
			    !mnl_attr_validate(attr, MNL_TYPE_NUL_STRING))
				snprintf(why, why_len, " (%s)", mnl_attr_get_str(attr));
		}
		break;
	}
out:
	mnl_socket_close(nl);
	return ret;
}

static void vxlan_record(struct agent *a, const char *name)
{
	char path[PATH_MAX], text[IF_NAMESIZE + 2];
	int err = 0;

	snprintf(path, sizeof(path), "%s/vxlan", a->state_dir);
	if (!name) {
		unlink(path);
		return;
	}
	snprintf(text, sizeof(text), "%s\n", name);
	err = write_file_atomic(path, text, false);
	if (err)
		log_warn("failed to record the vxlan device path=%s err=\"%s\"", path,
			 strerror(-err));
}

/* The device an earlier run recorded; 0 when none. */
static int vxlan_recorded(const char *state_dir, char name[IF_NAMESIZE + 2])
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/vxlan", state_dir);
	if (read_small_file(path, name, IF_NAMESIZE + 2) <= 0)
		return 0;
	name[strcspn(name, "\n")] = '\0';
	return name[0] != '\0';
}

/* Delete a vxlan device we recorded, and only if it still is a vxlan device. */
static int vxlan_delete(struct nl_sock *nl, const char *name)
{
	struct nl_link link;
	int err;

	err = nl_link_get(nl, name, 0, &link);
	if (err == -ENODEV)
		return 0;
	if (err)
		return err;
	if (strcmp(link.kind, "vxlan")) {
		log_warn("leaving a device that is not podlane's vxlan dev=%s kind=%s", name,
			 link.kind[0] ? link.kind : "none");
		return 0;
	}
	err = nl_link_del(nl, link.ifindex);
	if (!err)
		log_info("deleted vxlan device dev=%s", name);
	return err;
}

int vxlan_setup(struct agent *a)
{
	struct nl_link link;
	char why[300];
	int err;

	err = nl_link_get(&a->nl, a->vxlan_dev, 0, &link);
	if (err == -ENODEV) {
		err = vxlan_create(a->vxlan_dev, why, sizeof(why));
		if (err) {
			log_error("failed to create vxlan device '%s': %s%s", a->vxlan_dev,
				  strerror(-err), why);
			return err;
		}
		log_info("created vxlan device dev=%s dstport=%d external=1", a->vxlan_dev,
			 PODLANE_VXLAN_PORT);
		err = nl_link_get(&a->nl, a->vxlan_dev, 0, &link);
	} else if (!err && strcmp(link.kind, "vxlan")) {
		log_error("failed to adopt vxlan device '%s': it exists and is a '%s' device",
			  a->vxlan_dev, link.kind[0] ? link.kind : "plain");
		return -EEXIST;
	} else if (!err) {
		log_info("adopted vxlan device dev=%s ifindex=%d", a->vxlan_dev, link.ifindex);
	}
	if (err) {
		log_error("failed to find vxlan device '%s': %s", a->vxlan_dev,
			  nl_strerror(&a->nl, err));
		return err;
	}
	vxlan_record(a, a->vxlan_dev);
	/* The node's routes into the tunnel must not wait for ARP: see nodes/nodes.c. */
	err = nl_link_set_noarp(&a->nl, link.ifindex, true);
	if (err) {
		log_error("failed to set vxlan device '%s' NOARP: %s", a->vxlan_dev,
			  nl_strerror(&a->nl, err));
		return err;
	}
	err = nl_link_set_up(&a->nl, link.ifindex);
	if (err) {
		log_error("failed to set vxlan device '%s' up: %s", a->vxlan_dev,
			  nl_strerror(&a->nl, err));
		return err;
	}
	err = datapath_attach_tunnel(a, link.ifindex);
	if (err)
		return err;
	a->vxlan_ifindex = link.ifindex;
	return 0;
}

void vxlan_forget(struct agent *a)
{
	char recorded[IF_NAMESIZE + 2];

	/* An earlier run used VXLAN: its device is ours and no longer used. */
	if (vxlan_recorded(a->state_dir, recorded) && !vxlan_delete(&a->nl, recorded))
		vxlan_record(a, NULL);
}

int vxlan_uninstall(struct nl_sock *nl, const char *state_dir)
{
	char name[IF_NAMESIZE + 2], path[PATH_MAX];
	int err;

	if (!vxlan_recorded(state_dir, name))
		return 0;
	err = vxlan_delete(nl, name);
	if (err) {
		log_error("failed to delete vxlan device '%s': %s", name, nl_strerror(nl, err));
		return err;
	}
	snprintf(path, sizeof(path), "%s/vxlan", state_dir);
	unlink(path);
	return 0;
}
