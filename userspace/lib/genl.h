/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * genl.h - per-cgroup and node figures the kernel keeps (CPU time, memory, pressure), from
 * either of two sources that fill the same records:
 *   the podlane.ko generic-netlink family (kmod/uapi/podlane_genl.h), one dump for a whole
 *	subtree, when the module is loaded;
 *   cgroupfs and /proc/pressure otherwise (cpu.stat, memory.current, <res>.pressure).
 * Used by podlaned (acct.c) and by the snapshot benchmark in the 6.1 guest, which needs
 * nothing but libmnl from this file.
 */
#ifndef PODLANE_GENL_H
#define PODLANE_GENL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/netlink.h>

#include "podlane_genl.h"

struct mnl_socket;

enum pl_psi_res { PL_PSI_CPU, PL_PSI_MEMORY, PL_PSI_IO, PL_PSI_NR };

/* One pressure resource; averages in percent (avg10=1.25 -> 1.25), totals in microseconds. */
struct pl_psi {
	bool	valid;
	bool	has_full;
	double	some_avg[3];	/* 10 s, 60 s, 300 s */
	double	full_avg[3];
	uint64_t some_total_us;
	uint64_t full_total_us;
};

/* What one source knows about one cgroup; has_* says which fields are filled. */
struct pl_cgroup_info {
	uint64_t	id;		/* cgroup v2 id (inode of its directory) */
	const char	*path;		/* relative to the cgroup2 root; valid in the callback */
	uint32_t	level;
	bool		has_cpu;
	bool		has_memory;
	bool		has_memory_max;
	uint64_t	cpu_usage_us;
	uint64_t	cpu_user_us;
	uint64_t	cpu_system_us;
	uint64_t	memory_current;
	uint64_t	memory_max;
	struct pl_psi	psi[PL_PSI_NR];
};

typedef int (*pl_cgroup_cb)(const struct pl_cgroup_info *info, void *data);

/* ---- the module ---- */
struct pl_genl {
	struct mnl_socket *nl;
	uint32_t	portid;
	uint32_t	seq;
	uint16_t	family;
	char		errmsg[256];	/* the kernel's extended ACK of the last failure */
	char		*rx;		/* receive buffer of this handle (a dump fills it) */
};

struct pl_genl_version {
	uint32_t	version;
	uint64_t	features;	/* PODLANE_F_* */
	char		kernel_release[65];
	bool		cgroup_psi;	/* CONFIG_CGROUP_PSI as the module has it */
};

/* Open a generic-netlink socket and resolve the family: -ENOENT when the module is absent. */
int pl_genl_open(struct pl_genl *g);
void pl_genl_close(struct pl_genl *g);
int pl_genl_version(struct pl_genl *g, struct pl_genl_version *v);
int pl_genl_node_pressure(struct pl_genl *g, struct pl_psi psi[PL_PSI_NR]);
/*
 * CGROUP_DUMP of the subtree at id (0: the whole hierarchy), parents first; cb returning
 * non-zero stops the reading (the rest of the dump is drained). Returns 0 or -errno.
 */
int pl_genl_cgroup_dump(struct pl_genl *g, uint64_t id, pl_cgroup_cb cb, void *data);

/*
 * Reading the module's answers, without a socket (what the calls above do with what they
 * receive; selftests/fuzz/fuzz_genl feeds them anything). pl_genl_rx() reads one datagram of
 * the answer to request seq: messages of other requests or ports are skipped, each data
 * message goes to cb until cb stops (then *stopped is -ECANCELED and the rest is drained), an
 * NLMSG_ERROR or NLMSG_DONE ends the answer (the kernel's extended ACK message into
 * g->errmsg). Returns 1 when the answer continues in the next datagram, else its status.
 */
typedef int (*pl_genl_msg_cb)(const struct nlmsghdr *nlh, void *data);

int pl_genl_rx(struct pl_genl *g, const void *buf, size_t len, uint32_t seq, pl_genl_msg_cb cb,
	       void *data, int *stopped);
/* The data messages of each answer; they return MNL_CB_OK (1). family: a uint16_t. */
int pl_genl_family_parse(const struct nlmsghdr *nlh, void *family);
int pl_genl_version_parse(const struct nlmsghdr *nlh, void *version);
int pl_genl_pressure_parse(const struct nlmsghdr *nlh, void *psi);
/* One CGROUP_DUMP record: 0, or -EINVAL without id or path; info->path points into nlh. */
int pl_genl_cgroup_parse(const struct nlmsghdr *nlh, struct pl_cgroup_info *info);

/* ---- cgroupfs ---- */
/* The cgroup2 mount point ("/sys/fs/cgroup" or ".../unified"); -ENOENT without one. */
int pl_cgroup2_mount(char *buf, size_t len);
/* Parse a PSI file (/proc/pressure/<res> or <cgroup>/<res>.pressure). */
int pl_psi_read_file(const char *path, struct pl_psi *psi);
/* Node pressure from /proc/pressure; -errno when the kernel shows none. */
int pl_psi_read_node(struct pl_psi psi[PL_PSI_NR]);
/*
 * The same figures as one CGROUP_DUMP message, from the files of cgroup dir (absolute path
 * under mount): cpu.stat, memory.current/memory.max, <res>.pressure. with_psi false skips the
 * pressure files.
 */
int pl_cgroupfs_read(const char *mount, const char *rel, bool with_psi,
		     struct pl_cgroup_info *info);
/* Walk the subtree under mount/rel, parents first, reading each cgroup as above. */
int pl_cgroupfs_walk(const char *mount, const char *rel, bool with_psi, pl_cgroup_cb cb,
		     void *data);

#endif /* PODLANE_GENL_H */
