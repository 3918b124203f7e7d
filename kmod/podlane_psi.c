// SPDX-License-Identifier: GPL-2.0-only
/*
 * podlane_psi.c - read pressure stall information (PSI) for the node and for one cgroup.
 *
 * Why through files: on 6.1 neither psi_system nor psi_show() is exported, and the averages in
 * struct psi_group are only brought up to date by psi_show() or by a worker that stops while a
 * group is idle, so reading the structure directly would report stale numbers. The kernel's own
 * text, <cgroup>/<res>.pressure, is the one fresh source a module can reach: we open it with
 * file_open_root() on a private kernel mount of cgroup2, which makes the result independent of
 * the caller's mount namespace, and parse the two lines. The node-wide numbers come from the
 * root cgroup's files, which show psi_system exactly as /proc/pressure does; /proc/pressure
 * itself cannot be used because procfs's PSI files have no ->read_iter and kernel_read()
 * refuses them on 6.1. So without cgroup PSI (psi=0, cgroup_disable=pressure) there is none.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cgroup.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/kernfs.h>
#include <linux/mount.h>
#include <linux/nsproxy.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <net/netlink.h>

#include "podlane.h"

static struct vfsmount *podlane_cgroup2_mnt;
static bool podlane_psi_node_ok, podlane_psi_cgroup_ok;

static const char * const podlane_psi_cgroup_file[PODLANE_PSI_NR] = {
	[PODLANE_PSI_CPU]	= "cpu.pressure",
	[PODLANE_PSI_MEMORY]	= "memory.pressure",
	[PODLANE_PSI_IO]	= "io.pressure",
};

static struct vfsmount *podlane_mount(const char *fstype)
{
	struct file_system_type *type;
	struct vfsmount *mnt;

	type = get_fs_type(fstype);
	if (!type)
		return ERR_PTR(-ENODEV);
	/*
	 * get_fs_type() pinned the owner module, and put_filesystem() is not exported; cgroup2
	 * is built in (no owner, nothing pinned), anything else we refuse.
	 */
	if (type->owner)
		return ERR_PTR(-EOPNOTSUPP);
	mnt = kern_mount(type);
	if (IS_ERR(mnt))
		pr_info("failed to mount %s internally: %ld\n", fstype, PTR_ERR(mnt));
	return mnt;
}

int podlane_psi_init(void)
{
	struct podlane_psi psi;
	struct vfsmount *mnt;

	/*
	 * A cgroup2 mount shows the hierarchy from the mounting task's cgroup namespace;
	 * cgroup paths we build are global, so only a load from the initial one can use it.
	 */
	if (current->nsproxy->cgroup_ns->root_cset->dfl_cgrp != &cgrp_dfl_root.cgrp) {
		pr_info("loaded from a child cgroup namespace: no PSI\n");
		return 0;
	}
	mnt = podlane_mount("cgroup2");
	if (IS_ERR(mnt))
		return 0;
	podlane_cgroup2_mnt = mnt;
	/* Probe once: PSI may be compiled in yet switched off for cgroups or altogether. */
	podlane_psi_node_ok = !podlane_psi_read_cgroup(&cgrp_dfl_root.cgrp, PODLANE_PSI_CPU,
						       NULL, 0, &psi);
	podlane_psi_cgroup_ok = podlane_psi_node_ok;
	if (!podlane_psi_node_ok)
		pr_info("the kernel shows no cgroup pressure files: no PSI\n");
	return 0;
}

void podlane_psi_exit(void)
{
	if (podlane_cgroup2_mnt)
		kern_unmount(podlane_cgroup2_mnt);
	podlane_cgroup2_mnt = NULL;
	podlane_psi_node_ok = false;
	podlane_psi_cgroup_ok = false;
}

bool podlane_psi_node_available(void)
{
	return podlane_psi_node_ok;
}

bool podlane_psi_cgroup_available(void)
{
	return podlane_psi_cgroup_ok;
}

/* Parse one "some|full avg10=A.BB avg60=A.BB avg300=A.BB total=N" line. */
static int podlane_psi_parse_line(const char *line, struct podlane_psi *psi)
{
	unsigned int ai[3], af[3];
	unsigned long long total;
	char kind[5];
	u32 *avg;
	int i;

	if (sscanf(line, "%4s avg10=%u.%u avg60=%u.%u avg300=%u.%u total=%llu", kind,
		   &ai[0], &af[0], &ai[1], &af[1], &ai[2], &af[2], &total) != 8)
		return -EPROTO;
	if (!strcmp(kind, "some")) {
		avg = psi->some_avg;
		psi->some_total_us = total;
	} else if (!strcmp(kind, "full")) {
		avg = psi->full_avg;
		psi->full_total_us = total;
		psi->has_full = true;
	} else {
		return -EPROTO;
	}
	/* psi_show() prints two fraction digits, so A.BB is A * 100 + BB hundredths. */
	for (i = 0; i < 3; i++)
		avg[i] = ai[i] * 100 + min(af[i], 99U);
	return 0;
}

static int podlane_psi_read_file(struct vfsmount *mnt, const char *path, struct podlane_psi *psi)
{
	/* Two lines of at most ~90 characters each. */
	char buf[256], *line, *next;
	struct file *file;
	size_t len = 0;
	loff_t pos = 0;
	ssize_t n;
	int err = 0;

	file = file_open_root_mnt(mnt, path, O_RDONLY, 0);
	if (IS_ERR(file))
		return PTR_ERR(file);
	while (len < sizeof(buf) - 1) {
		n = kernel_read(file, buf + len, sizeof(buf) - 1 - len, &pos);
		if (n < 0) {
			err = n;
			break;
		}
		if (!n)
			break;
		len += n;
	}
	filp_close(file, NULL);
	if (err)
		return err;
	buf[len] = '\0';

	memset(psi, 0, sizeof(*psi));
	for (line = buf; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		err = podlane_psi_parse_line(line, psi);
		if (err)
			return err;
	}
	return 0;
}

int podlane_psi_read_node(enum podlane_psi_res res, struct podlane_psi *psi)
{
	if (!podlane_psi_node_ok)
		return -EOPNOTSUPP;
	return podlane_psi_read_file(podlane_cgroup2_mnt, podlane_psi_cgroup_file[res], psi);
}

/* @buf is scratch space for the file's path, PATH_MAX is plenty; the root cgroup needs none. */
int podlane_psi_read_cgroup(struct cgroup *cgrp, enum podlane_psi_res res, char *buf,
			    size_t buf_len, struct podlane_psi *psi)
{
	const char *file = podlane_psi_cgroup_file[res];
	int len;

	if (!podlane_cgroup2_mnt)
		return -EOPNOTSUPP;
	if (!cgroup_parent(cgrp))
		return podlane_psi_read_file(podlane_cgroup2_mnt, file, psi);
	len = kernfs_path_from_node(cgrp->kn, NULL, buf, buf_len);
	if (len < 0)
		return len;
	if (len + 1 + strlen(file) + 1 > buf_len)
		return -ENAMETOOLONG;
	/* The kernfs path is absolute; the mount wants it relative. */
	snprintf(buf + len, buf_len - len, "/%s", file);
	return podlane_psi_read_file(podlane_cgroup2_mnt, buf + 1, psi);
}

int podlane_psi_put(struct sk_buff *skb, int attrtype, const struct podlane_psi *psi)
{
	struct nlattr *nest;

	nest = nla_nest_start(skb, attrtype);
	if (!nest)
		return -EMSGSIZE;
	if (nla_put_u32(skb, PODLANE_PSI_A_SOME_AVG10, psi->some_avg[0]) ||
	    nla_put_u32(skb, PODLANE_PSI_A_SOME_AVG60, psi->some_avg[1]) ||
	    nla_put_u32(skb, PODLANE_PSI_A_SOME_AVG300, psi->some_avg[2]) ||
	    nla_put_u64_64bit(skb, PODLANE_PSI_A_SOME_TOTAL_US, psi->some_total_us,
			      PODLANE_PSI_A_PAD))
		goto cancel;
	if (psi->has_full &&
	    (nla_put_u32(skb, PODLANE_PSI_A_FULL_AVG10, psi->full_avg[0]) ||
	     nla_put_u32(skb, PODLANE_PSI_A_FULL_AVG60, psi->full_avg[1]) ||
	     nla_put_u32(skb, PODLANE_PSI_A_FULL_AVG300, psi->full_avg[2]) ||
	     nla_put_u64_64bit(skb, PODLANE_PSI_A_FULL_TOTAL_US, psi->full_total_us,
			       PODLANE_PSI_A_PAD)))
		goto cancel;
	nla_nest_end(skb, nest);
	return 0;

cancel:
	nla_nest_cancel(skb, nest);
	return -EMSGSIZE;
}
