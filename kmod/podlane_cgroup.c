// SPDX-License-Identifier: GPL-2.0-only
/*
 * podlane_cgroup.c - CGROUP_DUMP: one message per cgroup of the v2 hierarchy with the kernel's
 * own accounting for it.
 *
 * What a module can reach on 6.1 and what we report:
 *  - CPU: struct cgroup's rstat base counters (bstat), the numbers behind cpu.stat. The call
 *    that folds the per-CPU deltas in, cgroup_rstat_flush(), is not exported, so the values are
 *    as of the last flush somebody else did (memcg's periodic one runs every 2 s, any read of a
 *    cpu.stat or memory.stat file flushes too). utime/stime are the raw tick-based split that
 *    cpu.stat scales with cputime_adjust(), which is not exported either. The root cgroup has
 *    no bstat; like cpu.stat there we sum kcpustat over all CPUs.
 *  - Memory: memcg's page counter, exactly what memory.current and memory.max read, for every
 *    cgroup with the memory controller enabled (not the root: the kernel does not charge it).
 *  - PSI: the cgroup's <res>.pressure text, see podlane_psi.c.
 *
 * The walk is resumable: between dump rounds we keep a reference on the last cgroup we sent
 * and continue from it with css_next_descendant_pre(), which stays correct even if that cgroup
 * was removed meanwhile. Cgroups created behind the cursor are missed and removed ones are
 * skipped, as with any netlink dump; none is sent twice.
 */
#include <linux/cgroup.h>
#include <linux/kernel_stat.h>
#include <linux/kernfs.h>
#include <linux/limits.h>
#include <linux/memcontrol.h>
#include <linux/nsproxy.h>
#include <linux/slab.h>
#include <net/genetlink.h>

#include "podlane.h"

struct podlane_dump_state {
	struct cgroup *root;	/* subtree being walked, referenced */
	struct cgroup *pos;	/* last cgroup sent, referenced; NULL before the first */
	char *buf;		/* PATH_MAX scratch for paths */
};

static struct podlane_dump_state *podlane_dump_state(struct netlink_callback *cb)
{
	BUILD_BUG_ON(sizeof(struct podlane_dump_state) > sizeof(cb->ctx));
	return (struct podlane_dump_state *)cb->ctx;
}

bool podlane_cgroup_memory_available(void)
{
	return !mem_cgroup_disabled() && cgroup_subsys_on_dfl(memory_cgrp_subsys);
}

/*
 * Only allocation happens here: on 6.1 a dump's ->start has no extended ACK to explain a
 * rejection (cb->extack is NULL there), while ->dumpit's message reaches the NLMSG_DONE. So the
 * request is resolved in the first dumpit round, see podlane_cgroup_dump_root().
 */
int podlane_cgroup_dump_start(struct netlink_callback *cb)
{
	struct podlane_dump_state *state = podlane_dump_state(cb);

	state->buf = kmalloc(PATH_MAX, GFP_KERNEL);
	if (!state->buf)
		return -ENOMEM;
	state->root = NULL;
	state->pos = NULL;
	return 0;
}

/*
 * The cgroup at @path below the root of the caller's cgroup namespace, referenced. Not
 * cgroup_get_from_path(): on 6.1 its walk takes every name on the way for a directory, and a
 * path through a file ("/a/cgroup.procs/x") reads the file's data as a tree of children and
 * oopses. So walk one name at a time and stop at a file. As in the kernel's walk, "." and ".."
 * are plain names that no cgroup has. @name is scratch space of at least NAME_MAX + 1 bytes.
 */
static struct cgroup *podlane_cgroup_from_path(const char *path, char *name)
{
	struct kernfs_node *kn, *next;
	struct cgroup *cgrp;
	size_t len;
	u64 id;

	cgrp = cgroup_get_from_path("/");
	if (IS_ERR(cgrp))
		return cgrp;
	kn = cgrp->kn;
	kernfs_get(kn);
	cgroup_put(cgrp);
	for (;;) {
		path += strspn(path, "/");
		len = strcspn(path, "/");
		if (!len)
			break;
		if (kernfs_type(kn) != KERNFS_DIR) {
			kernfs_put(kn);
			return ERR_PTR(-ENOTDIR);
		}
		if (len > NAME_MAX) {
			kernfs_put(kn);
			return ERR_PTR(-ENOENT);
		}
		memcpy(name, path, len);
		name[len] = '\0';
		next = kernfs_find_and_get(kn, name);
		kernfs_put(kn);
		if (!next)
			return ERR_PTR(-ENOENT);
		kn = next;
		path += len;
	}
	if (kernfs_type(kn) != KERNFS_DIR) {
		kernfs_put(kn);
		return ERR_PTR(-ENOTDIR);
	}
	id = kn->id;
	kernfs_put(kn);
	/* Takes the reference, and checks again that it is a cgroup in our namespace. */
	return cgroup_get_from_id(id);
}

static int podlane_cgroup_dump_root(struct netlink_callback *cb, struct podlane_dump_state *state)
{
	struct nlattr **attrs = genl_dumpit_info(cb)->attrs;
	struct nlattr *id_attr = attrs[PODLANE_A_CGROUP_ID];
	struct nlattr *path_attr = attrs[PODLANE_A_CGROUP_PATH];
	struct cgroup *root;

	if (id_attr && path_attr) {
		NL_SET_ERR_MSG(cb->extack, "CGROUP_ID and CGROUP_PATH are mutually exclusive");
		return -EINVAL;
	}
	/* Both lookups resolve inside the caller's cgroup namespace. */
	if (id_attr) {
		root = cgroup_get_from_id(nla_get_u64(id_attr));
		if (IS_ERR(root)) {
			NL_SET_ERR_MSG(cb->extack,
				       "no cgroup with this CGROUP_ID in the caller's cgroup namespace");
			return PTR_ERR(root);
		}
	} else {
		root = podlane_cgroup_from_path(path_attr ? nla_data(path_attr) : "/", state->buf);
		if (PTR_ERR_OR_ZERO(root) == -ENOTDIR) {
			NL_SET_ERR_MSG(cb->extack, "CGROUP_PATH names a file, not a cgroup");
			return -ENOTDIR;
		}
		if (IS_ERR(root)) {
			NL_SET_ERR_MSG(cb->extack, "no cgroup v2 directory at CGROUP_PATH");
			return PTR_ERR(root);
		}
	}
	state->root = root;
	return 0;
}

int podlane_cgroup_dump_done(struct netlink_callback *cb)
{
	struct podlane_dump_state *state = podlane_dump_state(cb);

	if (state->pos)
		cgroup_put(state->pos);
	if (state->root)
		cgroup_put(state->root);
	kfree(state->buf);
	memset(state, 0, sizeof(*state));
	return 0;
}

static void podlane_cgroup_cputime(struct cgroup *cgrp, u64 *usage, u64 *user, u64 *system)
{
	int cpu;

	if (cgroup_parent(cgrp)) {
		*usage = READ_ONCE(cgrp->bstat.cputime.sum_exec_runtime);
		*user = READ_ONCE(cgrp->bstat.cputime.utime);
		*system = READ_ONCE(cgrp->bstat.cputime.stime);
		return;
	}
	/* The same sum cpu.stat of the root cgroup shows. */
	*user = 0;
	*system = 0;
	for_each_possible_cpu(cpu) {
		struct kernel_cpustat kcpustat;
		u64 *cpustat = kcpustat.cpustat;

		kcpustat_cpu_fetch(&kcpustat, cpu);
		*user += cpustat[CPUTIME_USER] + cpustat[CPUTIME_NICE];
		*system += cpustat[CPUTIME_SYSTEM] + cpustat[CPUTIME_IRQ] +
			   cpustat[CPUTIME_SOFTIRQ];
	}
	*usage = *user + *system;
}

static int podlane_cgroup_put_memory(struct sk_buff *skb, struct cgroup *cgrp)
{
	struct cgroup_subsys_state *css;
	unsigned long current_pages, max_pages;
	struct mem_cgroup *memcg;

	if (!podlane_cgroup_memory_available() || !cgroup_parent(cgrp))
		return 0;
	rcu_read_lock();
	css = rcu_dereference(cgrp->subsys[memory_cgrp_id]);
	if (!css) {
		/* The parent does not delegate the memory controller to this cgroup. */
		rcu_read_unlock();
		return 0;
	}
	memcg = container_of(css, struct mem_cgroup, css);
	current_pages = page_counter_read(&memcg->memory);
	max_pages = READ_ONCE(memcg->memory.max);
	rcu_read_unlock();

	if (nla_put_u64_64bit(skb, PODLANE_A_MEMORY_CURRENT, (u64)current_pages * PAGE_SIZE,
			      PODLANE_A_PAD))
		return -EMSGSIZE;
	if (max_pages != PAGE_COUNTER_MAX &&
	    nla_put_u64_64bit(skb, PODLANE_A_MEMORY_MAX, (u64)max_pages * PAGE_SIZE,
			      PODLANE_A_PAD))
		return -EMSGSIZE;
	return 0;
}

static int podlane_cgroup_put_psi(struct sk_buff *skb, struct cgroup *cgrp, char *buf)
{
	static const int attr_of_res[PODLANE_PSI_NR] = {
		[PODLANE_PSI_CPU]	= PODLANE_A_PSI_CPU,
		[PODLANE_PSI_MEMORY]	= PODLANE_A_PSI_MEMORY,
		[PODLANE_PSI_IO]	= PODLANE_A_PSI_IO,
	};
	struct podlane_psi psi;
	int res;

	if (!READ_ONCE(podlane_cgroup_psi_enabled))
		return 0;
	for (res = 0; res < PODLANE_PSI_NR; res++) {
		/*
		 * A cgroup removed since we took it, or with cgroup.pressure turned off, has
		 * no file: it simply carries no PSI.
		 */
		if (podlane_psi_read_cgroup(cgrp, res, buf, PATH_MAX, &psi))
			continue;
		if (podlane_psi_put(skb, attr_of_res[res], &psi))
			return -EMSGSIZE;
	}
	return 0;
}

static int podlane_cgroup_fill(struct sk_buff *skb, struct netlink_callback *cb,
			       struct cgroup *cgrp, char *buf)
{
	u64 usage, user, system;
	void *hdr;
	int len;

	hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
			  &podlane_genl_family, NLM_F_MULTI, PODLANE_CMD_CGROUP_DUMP);
	if (!hdr)
		return -EMSGSIZE;

	len = cgroup_path_ns(cgrp, buf, PATH_MAX, current->nsproxy->cgroup_ns);
	if (len < 0 || len >= PATH_MAX)
		strscpy(buf, "?", PATH_MAX);
	podlane_cgroup_cputime(cgrp, &usage, &user, &system);

	if (nla_put_u64_64bit(skb, PODLANE_A_CGROUP_ID, cgroup_id(cgrp), PODLANE_A_PAD) ||
	    nla_put_string(skb, PODLANE_A_CGROUP_PATH, buf) ||
	    nla_put_u32(skb, PODLANE_A_CGROUP_LEVEL, cgrp->level) ||
	    nla_put_u64_64bit(skb, PODLANE_A_CPU_USAGE_US, div_u64(usage, NSEC_PER_USEC),
			      PODLANE_A_PAD) ||
	    nla_put_u64_64bit(skb, PODLANE_A_CPU_USER_US, div_u64(user, NSEC_PER_USEC),
			      PODLANE_A_PAD) ||
	    nla_put_u64_64bit(skb, PODLANE_A_CPU_SYSTEM_US, div_u64(system, NSEC_PER_USEC),
			      PODLANE_A_PAD) ||
	    podlane_cgroup_put_memory(skb, cgrp) ||
	    podlane_cgroup_put_psi(skb, cgrp, buf)) {
		genlmsg_cancel(skb, hdr);
		return -EMSGSIZE;
	}
	genlmsg_end(skb, hdr);
	return 0;
}

/* The live cgroup after @pos in pre-order below the dump root, referenced; NULL at the end. */
static struct cgroup *podlane_cgroup_next(struct podlane_dump_state *state)
{
	struct cgroup_subsys_state *css = state->pos ? &state->pos->self : NULL;

	rcu_read_lock();
	do {
		css = css_next_descendant_pre(css, &state->root->self);
	} while (css && !css_tryget_online(css));
	rcu_read_unlock();
	return css ? css->cgroup : NULL;
}

int podlane_cgroup_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct podlane_dump_state *state = podlane_dump_state(cb);
	struct cgroup *cgrp;
	int err;

	if (!state->root) {
		err = podlane_cgroup_dump_root(cb, state);
		if (err)
			return err;
	}
	while ((cgrp = podlane_cgroup_next(state))) {
		err = podlane_cgroup_fill(skb, cb, cgrp, state->buf);
		if (err) {
			cgroup_put(cgrp);
			/* Not even one cgroup fits an empty message: give up, don't loop. */
			return skb->len ? skb->len : err;
		}
		if (state->pos)
			cgroup_put(state->pos);
		state->pos = cgrp;
		cond_resched();
	}
	return skb->len;
}
