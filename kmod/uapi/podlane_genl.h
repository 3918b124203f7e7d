/* SPDX-License-Identifier: (GPL-2.0-only WITH Linux-syscall-note) OR BSD-2-Clause */
/*
 * podlane_genl.h - the generic-netlink interface of podlane.ko: family name, version, commands
 * and attributes. The only place these numbers are defined; the module, podlaned and the tests
 * all include this file. Append only: a number once shipped keeps its meaning.
 *
 * Conventions: every reply and dump message is a genlmsghdr with cmd == the request's command
 * and version == PODLANE_GENL_VERSION, followed by attributes of enum podlane_attr. Requests are
 * validated strictly: an attribute a command does not list is rejected, never ignored, and
 * every rejection carries an extended-ACK message (set NETLINK_EXT_ACK on the socket).
 */
#ifndef _UAPI_PODLANE_GENL_H
#define _UAPI_PODLANE_GENL_H

#define PODLANE_GENL_NAME	"podlane"
#define PODLANE_GENL_VERSION	1

/* PODLANE_A_FEATURES bits: what this module build can report on the running kernel. */
#define PODLANE_F_NODE_PRESSURE	0x01ULL	/* NODE_PRESSURE answers */
#define PODLANE_F_CGROUP_DUMP	0x02ULL	/* CGROUP_DUMP answers (cgroup v2 hierarchy) */
#define PODLANE_F_CGROUP_CPU	0x04ULL	/* dump carries CPU_* */
#define PODLANE_F_CGROUP_MEMORY	0x08ULL	/* dump carries MEMORY_* (memcg on cgroup v2) */
#define PODLANE_F_CGROUP_PSI	0x10ULL	/* dump can carry PSI_* per cgroup */

enum podlane_cmd {
	PODLANE_CMD_UNSPEC,
	/*
	 * doit, any user, no attributes. Reply: VERSION, FEATURES, KERNEL_RELEASE,
	 * CONFIG_CGROUP_PSI.
	 */
	PODLANE_CMD_GET_VERSION,
	/*
	 * doit, any user, no attributes. Reply: PSI_CPU, PSI_MEMORY, PSI_IO (nests of
	 * enum podlane_psi_attr) - the node-wide pressure the kernel shows in /proc/pressure.
	 */
	PODLANE_CMD_NODE_PRESSURE,
	/*
	 * dumpit, any user. Request: optional CGROUP_ID or CGROUP_PATH (not both) naming the
	 * subtree to walk; default: the root of the caller's cgroup namespace. One message per
	 * cgroup, parents before children: CGROUP_ID, CGROUP_PATH, CGROUP_LEVEL, then what the
	 * kernel has for it: CPU_USAGE_US/CPU_USER_US/CPU_SYSTEM_US, MEMORY_CURRENT/MEMORY_MAX,
	 * PSI_CPU/PSI_MEMORY/PSI_IO.
	 */
	PODLANE_CMD_CGROUP_DUMP,
	/* doit, CAP_NET_ADMIN. Request: CONFIG_* attributes to change. No reply payload. */
	PODLANE_CMD_SET_CONFIG,

	__PODLANE_CMD_MAX,
};

#define PODLANE_CMD_MAX (__PODLANE_CMD_MAX - 1)

enum podlane_attr {
	PODLANE_A_UNSPEC,
	PODLANE_A_PAD,
	PODLANE_A_VERSION,		/* u32: PODLANE_GENL_VERSION */
	PODLANE_A_FEATURES,		/* u64: PODLANE_F_* */
	PODLANE_A_KERNEL_RELEASE,	/* string: uname -r of the running kernel */
	PODLANE_A_PSI_CPU,		/* nest: enum podlane_psi_attr */
	PODLANE_A_PSI_MEMORY,		/* nest: enum podlane_psi_attr */
	PODLANE_A_PSI_IO,		/* nest: enum podlane_psi_attr */
	PODLANE_A_CGROUP_ID,		/* u64: cgroup v2 id (== inode number of its directory) */
	PODLANE_A_CGROUP_PATH,		/* string: path relative to the caller's cgroup ns root */
	PODLANE_A_CGROUP_LEVEL,		/* u32: depth below the global cgroup root */
	/*
	 * u64 microseconds: the cgroup's CPU time as cpu.stat shows it, as of the kernel's last
	 * rstat flush (a module cannot trigger one; memcg flushes every 2 s).
	 */
	PODLANE_A_CPU_USAGE_US,
	PODLANE_A_CPU_USER_US,		/* u64 microseconds, same source */
	PODLANE_A_CPU_SYSTEM_US,	/* u64 microseconds, same source */
	PODLANE_A_MEMORY_CURRENT,	/* u64 bytes: memory.current */
	PODLANE_A_MEMORY_MAX,		/* u64 bytes: memory.max; absent when "max" */
	PODLANE_A_CONFIG_CGROUP_PSI,	/* u8 0/1: CGROUP_DUMP reads per-cgroup PSI (default 1) */

	__PODLANE_A_MAX,
};

#define PODLANE_A_MAX (__PODLANE_A_MAX - 1)

/*
 * One PSI resource, as in /proc/pressure/<res> and <cgroup>/<res>.pressure. Averages are in
 * hundredths of a percent (avg10=1.25 -> 125); totals in microseconds of stall time. FULL_* is
 * absent where the kernel defines no "full" line (node-wide CPU reports zeros, as the kernel does).
 */
enum podlane_psi_attr {
	PODLANE_PSI_A_UNSPEC,
	PODLANE_PSI_A_PAD,
	PODLANE_PSI_A_SOME_AVG10,	/* u32 */
	PODLANE_PSI_A_SOME_AVG60,	/* u32 */
	PODLANE_PSI_A_SOME_AVG300,	/* u32 */
	PODLANE_PSI_A_SOME_TOTAL_US,	/* u64 */
	PODLANE_PSI_A_FULL_AVG10,	/* u32 */
	PODLANE_PSI_A_FULL_AVG60,	/* u32 */
	PODLANE_PSI_A_FULL_AVG300,	/* u32 */
	PODLANE_PSI_A_FULL_TOTAL_US,	/* u64 */

	__PODLANE_PSI_A_MAX,
};

#define PODLANE_PSI_A_MAX (__PODLANE_PSI_A_MAX - 1)

/* Longest CGROUP_PATH a request may carry, terminating NUL included. */
#define PODLANE_CGROUP_PATH_MAX	4096

#endif /* _UAPI_PODLANE_GENL_H */
