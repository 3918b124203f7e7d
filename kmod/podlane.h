/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * podlane.h - what the parts of podlane.ko share: the generic-netlink family, the run-time
 * configuration, and the pressure (PSI) and cgroup readers behind the commands.
 */
#ifndef _PODLANE_KMOD_H
#define _PODLANE_KMOD_H

#include <linux/types.h>
#include <net/genetlink.h>

#include "uapi/podlane_genl.h"

struct cgroup;

extern struct genl_family podlane_genl_family;

/* SET_CONFIG writes it, CGROUP_DUMP reads it; a lone flag needs no lock. */
extern bool podlane_cgroup_psi_enabled;

enum podlane_psi_res {
	PODLANE_PSI_CPU,
	PODLANE_PSI_MEMORY,
	PODLANE_PSI_IO,
	PODLANE_PSI_NR,
};

/* One resource's pressure as the kernel prints it: averages in 1/100 %, totals in us. */
struct podlane_psi {
	u32 some_avg[3];
	u64 some_total_us;
	u32 full_avg[3];
	u64 full_total_us;
	bool has_full;
};

int podlane_psi_init(void);
void podlane_psi_exit(void);
bool podlane_psi_node_available(void);
bool podlane_psi_cgroup_available(void);
int podlane_psi_read_node(enum podlane_psi_res res, struct podlane_psi *psi);
int podlane_psi_read_cgroup(struct cgroup *cgrp, enum podlane_psi_res res, char *buf,
			    size_t buf_len, struct podlane_psi *psi);
int podlane_psi_put(struct sk_buff *skb, int attrtype, const struct podlane_psi *psi);

bool podlane_cgroup_memory_available(void);
int podlane_cgroup_dump_start(struct netlink_callback *cb);
int podlane_cgroup_dump(struct sk_buff *skb, struct netlink_callback *cb);
int podlane_cgroup_dump_done(struct netlink_callback *cb);

#endif /* _PODLANE_KMOD_H */
