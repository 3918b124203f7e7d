// SPDX-License-Identifier: GPL-2.0-only
/*
 * acct/bpf.c - accounting's BPF objects: bpf/sched_acct.bpf.c (task iterator and task-free
 * tracepoint, held by this process only) and bpf/cgroup_skb_acct.bpf.c (cgroup_skb programs
 * at the cgroup v2 root, on links pinned under <pin-root>/links/ so they keep counting while
 * podlaned restarts). acct/ is the one writer of podlane_cgacct (the collector deletes the
 * entries of removed cgroups).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "acct/acct.h"
#include "core/agent.h"
#include "datapath/loader.h"
#include "log.h"
#include "sched_acct.skel.h"
#include "cgroup_skb_acct.skel.h"

static const char *const skb_link_names[2] = { "acct_skb_ingress", "acct_skb_egress" };

void acct_bpf_iterate(struct acct *ac)
{
	char buf[64];
	int fd;

	if (!ac->bpf)
		return;
	fd = bpf_iter_create(bpf_link__fd(ac->sched->links.acct_iter_tasks));
	if (fd < 0) {
		log_warn("failed to create task iterator: %s", strerror(errno));
		return;
	}
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
}

/* Both cgroup_skb programs at the cgroup v2 root, adopting the links of a previous run. */
static int attach_skb(struct agent *a, struct acct *ac)
{
	struct bpf_program *progs[2] = { ac->skb->progs.acct_skb_ingress,
					 ac->skb->progs.acct_skb_egress };
	enum bpf_attach_type types[2] = { BPF_CGROUP_INET_INGRESS, BPF_CGROUP_INET_EGRESS };
	struct stat st;
	int cg, i, err = 0;

	cg = open(ac->cg2_mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0 || fstat(cg, &st)) {
		err = -errno;
		if (cg >= 0)
			close(cg);
		return err;
	}
	/* On cgroup v2 the cgroup id is the kernfs inode number of its directory. */
	for (i = 0; i < 2 && !err; i++)
		err = link_attach(a->pin_root, skb_link_names[i], bpf_program__fd(progs[i]), cg,
				  types[i], LINK_CGROUP, st.st_ino, &ac->skb_adopted[i]);
	close(cg);
	return err;
}

int acct_bpf_open(struct agent *a, struct acct *ac)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts);
	int err;

	loader_open_opts(a, &opts);
	ac->sched = sched_acct__open_opts(&opts);
	if (!ac->sched)
		return loader_open_failed("sched_acct");
	err = loader_size_maps(a, ac->sched->obj) ?: sched_acct__load(ac->sched);
	if (err)
		return loader_load_failed(a, "sched_acct", err);
	ac->sched->links.acct_iter_tasks =
		bpf_program__attach_iter(ac->sched->progs.acct_iter_tasks, NULL);
	if (!ac->sched->links.acct_iter_tasks) {
		err = -errno;
		log_warn("failed to attach program 'acct_iter_tasks': %s", strerror(errno));
		return err;
	}
	ac->sched->links.acct_task_free = bpf_program__attach(ac->sched->progs.acct_task_free);
	if (!ac->sched->links.acct_task_free) {
		err = -errno;
		log_warn("failed to attach program 'acct_task_free': %s", strerror(errno));
		return err;
	}

	ac->skb = cgroup_skb_acct__open_opts(&opts);
	if (!ac->skb)
		return loader_open_failed("cgroup_skb_acct");
	err = loader_size_maps(a, ac->skb->obj) ?: cgroup_skb_acct__load(ac->skb);
	if (err)
		return loader_load_failed(a, "cgroup_skb_acct", err);
	err = attach_skb(a, ac);
	if (err) {
		log_warn("failed to attach the cgroup_skb programs to cgroup '%s': %s",
			 ac->cg2_mount, strerror(-err));
		return err;
	}
	err = loader_map_open(a, "podlane_cgacct", PIN_RW, &ac->cgacct_fd) ?:
	      loader_map_open(a, "podlane_cgerrs", PIN_RDONLY, &ac->cgerrs_fd);
	if (err)
		return err;
	/* One buffer for both maps' per-CPU values. */
	_Static_assert(sizeof(struct cgroup_acct) >= sizeof(struct cgroup_acct_errors),
		       "vals holds either value");
	ac->vals = calloc(ac->ncpus, sizeof(struct cgroup_acct));
	if (!ac->vals)
		return -ENOMEM;
	ac->bpf = true;
	/* Tasks born before now are charged from the first iteration on: run it right away. */
	acct_bpf_iterate(ac);
	log_info("accounting programs attached cgroup2=%s skb_links=%s", ac->cg2_mount,
		 ac->skb_adopted[0] && ac->skb_adopted[1] ? "adopted" : "new");
	return 0;
}

void acct_bpf_close(struct acct *ac)
{
	/* Closing leaves the pinned cgroup links attached: they outlive the agent. */
	if (ac->cgacct_fd >= 0)
		close(ac->cgacct_fd);
	if (ac->cgerrs_fd >= 0)
		close(ac->cgerrs_fd);
	ac->cgacct_fd = ac->cgerrs_fd = -1;
	cgroup_skb_acct__destroy(ac->skb);
	sched_acct__destroy(ac->sched);
	ac->skb = NULL;
	ac->sched = NULL;
	ac->bpf = false;
}

void acct_bpf_off(struct agent *a)
{
	int i;

	for (i = 0; i < 2; i++)
		link_remove(a->pin_root, skb_link_names[i]);
}
