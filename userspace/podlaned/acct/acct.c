// SPDX-License-Identifier: GPL-2.0-only
/*
 * acct/acct.c - per-pod accounting in podlaned: loads bpf/sched_acct.bpf.c and
 * bpf/cgroup_skb_acct.bpf.c against the pin root, ties each endpoint to its pod's cgroups,
 * and once a second (ACCT_TICK_MS) gathers what every pod used:
 *
 *   CPU time, run-queue wait, packets, bytes: podlane_cgacct (BPF), summed over the pod
 *	cgroup's subtree;
 *   memory and pressure (PSI): podlane.ko's CGROUP_DUMP and NODE_PRESSURE when the module is
 *	loaded, else cgroupfs: memory.current (v2) or memory.usage_in_bytes (v1 memcg),
 *	<res>.pressure, /proc/pressure.
 *
 * Without the BPF programs (--no-accounting, or a kernel that refuses them) CPU comes from the
 * same kernel figures (cpu.stat usage_usec) and run-queue wait and traffic are not known.
 *
 * The tie is found without the runtime's help: the processes whose network namespace is the
 * endpoint's (the netns inode in endpoint_meta.netns_cookie), and their cgroups in
 * /proc/<pid>/cgroup. A pod's cgroup is the deepest one that holds all of them (a pod's
 * containers sit in sibling cgroups below the pod's). Processes in the root cgroup are left
 * out: a tool entering the netns (ip netns exec) must not make the whole node one pod.
 *
 * The cgroup_skb programs are attached at the cgroup v2 root through bpf_links pinned under
 * <pin-root>/links/, so they keep counting while podlaned restarts; a restarted agent adopts
 * the pinned links and swaps its freshly loaded programs in (BPF_LINK_UPDATE), never attaching
 * twice. The task iterator and the task-free tracepoint are held by this process only: while
 * the agent is down, CPU of tasks that exit is not charged.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "acct/acct.h"
#include "core/agent.h"
#include "core/loop.h"
#include "datapath/eps.h"
#include "log.h"

const char *acct_source(const struct acct *ac)
{
	return ac->module ? "module" : "cgroupfs";
}

const char *acct_memory_source(const struct acct *ac)
{
	if (ac->module && (ac->modver.features & PODLANE_F_CGROUP_MEMORY))
		return "module";
	if (ac->cg2 && !ac->memcg_v1)
		return "cgroupfs-v2";
	if (ac->memcg_v1)
		return "cgroupfs-v1";
	return "none";
}

const char *acct_psi_source(const struct acct *ac)
{
	if (ac->module && (ac->modver.features & PODLANE_F_CGROUP_PSI))
		return "module";
	if (ac->psi_cgroup || ac->psi_node)
		return "cgroupfs";
	return "none";
}

/* ---- discovery ---- */

/* Mount point of the v1 hierarchy that has the memory controller. */
/* The mount point of the cgroup v1 hierarchy that holds controller ctrl. */
static bool find_v1_mount(const char *ctrl, char *buf, size_t len)
{
	char line[1024], dev[256], dir[PATH_MAX], type[64], opts[512];
	FILE *f = fopen("/proc/self/mounts", "re");
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *tok, *save = NULL;

		if (sscanf(line, "%255s %4095s %63s %511s", dev, dir, type, opts) != 4 ||
		    strcmp(type, "cgroup"))
			continue;
		for (tok = strtok_r(opts, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
			if (!strcmp(tok, ctrl)) {
				snprintf(buf, len, "%s", dir);
				found = true;
			}
	}
	fclose(f);
	return found;
}

static void module_probe(struct acct *ac)
{
	int err;

	if (ac->module)
		return;
	err = pl_genl_open(&ac->genl);
	if (!err)
		err = pl_genl_version(&ac->genl, &ac->modver);
	if (err) {
		if (err != -ENOENT)
			log_warn("podlane.ko does not answer, reading cgroupfs err=\"%s\"",
				 strerror(-err));
		pl_genl_close(&ac->genl);
		return;
	}
	ac->module = true;
	log_info("accounting reads the kernel through podlane.ko version=%u features=0x%llx "
		 "kernel=%s", ac->modver.version, (unsigned long long)ac->modver.features,
		 ac->modver.kernel_release);
}

/* The module went away (unloaded): fall back to cgroupfs until it is back. */
static void module_lost(struct acct *ac, int err)
{
	log_warn("podlane.ko stopped answering, reading cgroupfs err=\"%s\"", strerror(-err));
	pl_genl_close(&ac->genl);
	ac->module = false;
	memset(&ac->modver, 0, sizeof(ac->modver));
}

/*
 * --node-cgroup PATH: the node is a cgroup (a kind or k3d node, a VM slice, a test's node).
 * PATH is one cgroup path, relative to the root of every hierarchy ("/kind-worker" or
 * "kind-worker"), looked up in each: the v2 hierarchy (cg2_mount) gives the PSI files, the
 * subtree whose podlane_cgacct entries make the run-queue wait, and, on a pure v2 host,
 * cpu.stat's usage_usec and cpu.max; the v1 cpu and cpuacct hierarchies (hybrid hosts) give
 * cfs_quota_us/cfs_period_us and cpuacct.usage, which win when present. A hierarchy that lacks
 * PATH gives nothing; one that has it is enough.
 */
static int node_cgroup_open(struct acct *ac, const char *path)
{
	char mnt[PATH_MAX];
	struct stat st;
	const char *rel = path;

	while (*rel == '/')
		rel++;
	snprintf(ac->node_cg, sizeof(ac->node_cg), "/%s", rel);
	if (ac->cg2) {
		snprintf(ac->node_cg_v2, sizeof(ac->node_cg_v2), "%s%s", ac->cg2_mount,
			 ac->node_cg);
		if (stat(ac->node_cg_v2, &st) || !S_ISDIR(st.st_mode))
			ac->node_cg_v2[0] = '\0';
	}
	if (find_v1_mount("cpu", mnt, sizeof(mnt))) {
		snprintf(ac->node_cg_cpu_v1, sizeof(ac->node_cg_cpu_v1), "%s%s", mnt, ac->node_cg);
		if (stat(ac->node_cg_cpu_v1, &st) || !S_ISDIR(st.st_mode))
			ac->node_cg_cpu_v1[0] = '\0';
	}
	if (find_v1_mount("cpuacct", mnt, sizeof(mnt))) {
		snprintf(ac->node_cg_cpuacct_v1, sizeof(ac->node_cg_cpuacct_v1), "%s%s", mnt,
			 ac->node_cg);
		if (stat(ac->node_cg_cpuacct_v1, &st) || !S_ISDIR(st.st_mode))
			ac->node_cg_cpuacct_v1[0] = '\0';
	}
	if (!ac->node_cg_v2[0] && !ac->node_cg_cpu_v1[0] && !ac->node_cg_cpuacct_v1[0]) {
		log_error("failed to find node cgroup '%s': in neither the cgroup v2 hierarchy "
			  "(%s) nor the v1 cpu and cpuacct ones", ac->node_cg,
			  ac->cg2 ? ac->cg2_mount : "not mounted");
		return -ENOENT;
	}
	log_info("node cgroup %s v2=%s cpu_v1=%s cpuacct_v1=%s", ac->node_cg,
		 ac->node_cg_v2[0] ? ac->node_cg_v2 : "none",
		 ac->node_cg_cpu_v1[0] ? ac->node_cg_cpu_v1 : "none",
		 ac->node_cg_cpuacct_v1[0] ? ac->node_cg_cpuacct_v1 : "none");
	return 0;
}

static bool read_i64_at(const char *dir, const char *file, long long *v)
{
	char path[PATH_MAX + ACCT_PATH_LEN + 64], buf[64];
	FILE *f;
	bool ok;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "re");
	if (!f)
		return false;
	ok = fgets(buf, sizeof(buf), f) && sscanf(buf, "%lld", v) == 1;
	fclose(f);
	return ok;
}

/* The node cgroup's CPU limit in CPUs: the v1 CFS quota, else cpu.max; online CPUs if none. */
static double node_cgroup_cpus(struct acct *ac)
{
	long long quota, period;
	double cpus = 0;

	if (ac->node_cg_cpu_v1[0] && read_i64_at(ac->node_cg_cpu_v1, "cpu.cfs_quota_us", &quota) &&
	    read_i64_at(ac->node_cg_cpu_v1, "cpu.cfs_period_us", &period) && quota > 0 &&
	    period > 0)
		cpus = (double)quota / period;
	if (!cpus && ac->node_cg_v2[0]) {
		char path[PATH_MAX + ACCT_PATH_LEN + 16], buf[64];
		double q, p;
		FILE *f;

		snprintf(path, sizeof(path), "%s/cpu.max", ac->node_cg_v2);
		f = fopen(path, "re");
		if (f) {
			if (fgets(buf, sizeof(buf), f) && sscanf(buf, "%lf %lf", &q, &p) == 2 &&
			    p > 0)
				cpus = q / p;
			fclose(f);
		}
	}
	if (cpus <= 0 || cpus > ac->online_cpus)
		cpus = ac->online_cpus;
	return cpus;
}

/* CPU time the node cgroup used, in ns: cpuacct.usage (v1), else cpu.stat usage_usec (v2). */
static bool node_cgroup_usage(struct acct *ac, uint64_t *ns)
{
	long long v;

	if (ac->node_cg_cpuacct_v1[0] && read_i64_at(ac->node_cg_cpuacct_v1, "cpuacct.usage", &v)) {
		*ns = v;
		return true;
	}
	if (ac->node_cg_v2[0]) {
		char path[PATH_MAX + ACCT_PATH_LEN + 16], line[128];
		unsigned long long us;
		bool ok = false;
		FILE *f;

		snprintf(path, sizeof(path), "%s/cpu.stat", ac->node_cg_v2);
		f = fopen(path, "re");
		if (!f)
			return false;
		while (!ok && fgets(line, sizeof(line), f))
			ok = sscanf(line, "usage_usec %llu", &us) == 1;
		fclose(f);
		if (ok)
			*ns = us * 1000;
		return ok;
	}
	return false;
}

static int id_cmp(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

/* The cgroup v2 ids (kernfs inode numbers) of the node cgroup's subtree, at most 4096 deep. */
static void node_cgroup_ids(struct acct *ac)
{
	char (*stack)[PATH_MAX] = NULL;
	size_t depth = 0, cap = 0;
	uint64_t *ids = NULL, *runq, *old_ids = ac->node.cg_ids, *old_runq = ac->node.cg_runq;
	size_t n = 0, idcap = 0, old_n = ac->node.cg_nids, i, j;

	if (!ac->node_cg_v2[0])
		return;
	/* An explicit stack of directories still to read: no recursion, no fd per level. */
	cap = 64;
	stack = malloc(cap * sizeof(*stack));
	if (!stack)
		return;
	if (strlen(ac->node_cg_v2) >= PATH_MAX) {
		free(stack);
		return;
	}
	memcpy(stack[depth++], ac->node_cg_v2, strlen(ac->node_cg_v2) + 1);
	while (depth && n < 65536) {
		char dir[PATH_MAX];
		struct dirent *de;
		struct stat st;
		DIR *d;

		memcpy(dir, stack[--depth], PATH_MAX);
		if (stat(dir, &st))
			continue;
		if (n == idcap) {
			uint64_t *p = realloc(ids, (idcap = idcap ? idcap * 2 : 64) * sizeof(*ids));

			if (!p)
				break;
			ids = p;
		}
		ids[n++] = st.st_ino;
		d = opendir(dir);
		if (!d)
			continue;
		while ((de = readdir(d))) {
			if (de->d_type != DT_DIR || de->d_name[0] == '.')
				continue;
			if (depth == cap) {
				char (*p)[PATH_MAX] = cap < 4096 ?
					realloc(stack, (cap *= 2) * sizeof(*stack)) : NULL;

				if (!p)
					break;
				stack = p;
			}
			if (snprintf(stack[depth], PATH_MAX, "%s/%s", dir, de->d_name) < PATH_MAX)
				depth++;
		}
		closedir(d);
	}
	free(stack);
	if (n)
		qsort(ids, n, sizeof(*ids), id_cmp);
	runq = calloc(n ? n : 1, sizeof(*runq));
	if (!runq) {
		free(ids);
		ids = NULL;
		n = 0;
	}
	/*
	 * Both lists are sorted: carry each cgroup's last wait over, and retire the wait of those
	 * that left the subtree (removed pods), so the node's total never goes back.
	 */
	for (i = j = 0; i < old_n; i++) {
		while (j < n && ids[j] < old_ids[i])
			j++;
		if (j < n && ids[j] == old_ids[i])
			runq[j] = old_runq[i];
		else
			ac->node.runq_retired_ns += old_runq[i];
	}
	free(old_ids);
	free(old_runq);
	ac->node.cg_ids = ids;
	ac->node.cg_runq = runq;
	ac->node.cg_nids = n;
}

/* Where id is in the node cgroup's subtree (cg_ids, cg_runq), or NULL when it is not. */
static uint64_t *node_cgroup_runq(const struct acct *ac, uint64_t id)
{
	uint64_t *at;

	if (!ac->node.cg_nids)
		return NULL;
	at = bsearch(&id, ac->node.cg_ids, ac->node.cg_nids, sizeof(id), id_cmp);
	return at ? &ac->node.cg_runq[at - ac->node.cg_ids] : NULL;
}

/* The node's figures from its cgroup (node_read for --node-cgroup). */
static void node_cgroup_read(struct acct *ac)
{
	uint64_t usage, now = mono_ns();
	char path[PATH_MAX + ACCT_PATH_LEN + 32];
	int err = 0, i;

	ac->node.cpus = node_cgroup_cpus(ac);
	if (node_cgroup_usage(ac, &usage)) {
		if (ac->node.cg_usage_valid && now > ac->node.cg_usage_at_ns &&
		    usage >= ac->node.cg_usage_ns)
			ac->node.busy = (double)(usage - ac->node.cg_usage_ns) /
					(now - ac->node.cg_usage_at_ns) / ac->node.cpus;
		if (ac->node.busy > 1)
			ac->node.busy = 1;	/* a quota is enforced per period: a tick may overshoot */
		ac->node.cg_usage_ns = usage;
		ac->node.cg_usage_at_ns = now;
		ac->node.cg_usage_valid = true;
	}
	memset(ac->node.psi, 0, sizeof(ac->node.psi));
	if (ac->node_cg_v2[0]) {
		static const char *const res[PL_PSI_NR] = { "cpu", "memory", "io" };

		for (i = 0; i < PL_PSI_NR; i++) {
			snprintf(path, sizeof(path), "%s/%s.pressure", ac->node_cg_v2, res[i]);
			err = pl_psi_read_file(path, &ac->node.psi[i]) ?: err;
		}
	} else {
		err = -ENOENT;
	}
	ac->node.has_psi = !err;
	node_cgroup_ids(ac);
}

int acct_open(struct agent *a)
{
	struct acct *ac = calloc(1, sizeof(*ac));
	struct {
		struct file_handle fh;
		char bytes[64];
	} h;
	int mount_id;

	if (!ac)
		return -ENOMEM;
	a->acct = ac;
	ac->cgacct_fd = ac->cgerrs_fd = ac->cg2_fd = -1;
	ac->ncpus = libbpf_num_possible_cpus();
	ac->online_cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (ac->ncpus <= 0)
		ac->ncpus = 1;
	if (ac->online_cpus <= 0)
		ac->online_cpus = 1;
	ac->tie_due = true;

	ac->cg2 = pl_cgroup2_mount(ac->cg2_mount, sizeof(ac->cg2_mount)) == 0;
	if (ac->cg2) {
		char path[PATH_MAX + 16];

		ac->cg2_fd = open(ac->cg2_mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		h.fh.handle_bytes = sizeof(h.bytes);
		ac->handle_type = -1;
		if (ac->cg2_fd >= 0 && !name_to_handle_at(ac->cg2_fd, "", &h.fh, &mount_id,
							  AT_EMPTY_PATH))
			ac->handle_type = h.fh.handle_type;
		snprintf(path, sizeof(path), "%s/cpu.pressure", ac->cg2_mount);
		ac->psi_cgroup = access(path, R_OK) == 0;
	}
	ac->memcg_v1 = find_v1_mount("memory", ac->memcg_v1_mount, sizeof(ac->memcg_v1_mount));
	ac->node.cpus = ac->online_cpus;
	if (a->node_cgroup && node_cgroup_open(ac, a->node_cgroup))
		return -ENOENT;
	ac->psi_node = access("/proc/pressure/cpu", R_OK) == 0;
	module_probe(ac);

	if (!a->accounting) {
		/* Off means no kernel hooks at all, also none a previous run left pinned. */
		acct_bpf_off(a);
		log_info("accounting programs off (--no-accounting) source=%s", acct_source(ac));
		return 0;
	}
	if (!ac->cg2) {
		log_warn("no cgroup v2 hierarchy mounted: per-cgroup accounting is off");
		return 0;
	}
	if (acct_bpf_open(a, ac)) {
		log_warn("accounting programs not loaded, CPU from cpu.stat, no run-queue or "
			 "traffic figures");
		acct_bpf_close(ac);
	}
	return 0;
}

void acct_close(struct agent *a)
{
	struct acct *ac = a->acct;
	size_t i;

	if (!ac)
		return;
	acct_bpf_close(ac);
	free(ac->vals);
	pl_genl_close(&ac->genl);
	if (ac->cg2_fd >= 0)
		close(ac->cg2_fd);
	for (i = 0; i < ac->npods; i++)
		free(ac->pods[i].members);
	free(ac->pods);
	free(ac->node.cg_ids);
	free(ac->node.cg_runq);
	free(ac);
	a->acct = NULL;
}

/* ---- pods: follow the endpoint map ---- */

struct acct_pod *acct_pod_find(struct acct *ac, __u32 ifindex)
{
	size_t i;

	for (i = 0; i < ac->npods; i++)
		if (ac->pods[i].ifindex == ifindex)
			return &ac->pods[i];
	return NULL;
}

static int sync_cb(__u32 ifindex, const struct endpoint_meta *meta, void *data)
{
	struct acct *ac = data;
	struct acct_pod *p = acct_pod_find(ac, ifindex), *n;

	/* A reused ifindex with another container is a new pod. */
	if (p && (strcmp(p->meta.container_id, meta->container_id) ||
		  p->meta.netns_cookie != meta->netns_cookie)) {
		free(p->members);
		memset(p, 0, sizeof(*p));
		p->ifindex = ifindex;
		ac->tie_due = true;
	}
	if (!p) {
		n = realloc(ac->pods, (ac->npods + 1) * sizeof(*n));
		if (!n)
			return 0;
		ac->pods = n;
		p = &ac->pods[ac->npods++];
		memset(p, 0, sizeof(*p));
		p->ifindex = ifindex;
		ac->tie_due = true;
	}
	p->meta = *meta;
	inet_ntop(AF_INET, &meta->addr.ip4, p->ip, sizeof(p->ip));
	p->present = true;
	return 0;
}

static void pods_sync(struct agent *a, struct acct *ac)
{
	size_t i = 0;

	for (i = 0; i < ac->npods; i++)
		ac->pods[i].present = false;
	eps_walk(a, sync_cb, ac);
	for (i = 0; i < ac->npods;) {
		if (ac->pods[i].present) {
			i++;
			continue;
		}
		free(ac->pods[i].members);
		ac->pods[i] = ac->pods[--ac->npods];
	}
}

/* ---- the tie ---- */

/* Deepest common ancestor of two cgroup paths, into a. */
static void common_ancestor(char *a, const char *b)
{
	size_t i = 0, last = 0;

	while (a[i] && a[i] == b[i]) {
		if (a[i] == '/')
			last = i;
		i++;
	}
	if (!a[i] && (!b[i] || b[i] == '/'))
		return;		/* a is b or an ancestor of b */
	if (a[i] == '/' && !b[i]) {
		a[i] = '\0';	/* b is an ancestor of a */
		return;
	}
	a[last ? last : 1] = '\0';
	if (!last)
		a[0] = '/';
}

static void scan_pid_cgroups(struct acct *ac, const char *pid, struct acct_pod *p)
{
	char path[300], line[1024], v2[ACCT_PATH_LEN] = "", mem[ACCT_PATH_LEN] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%s/cgroup", pid);
	f = fopen(path, "re");
	if (!f)
		return;
	/* Lines are "<hierarchy id>:<controllers>:<path>"; v2 is "0::<path>". */
	while (fgets(line, sizeof(line), f)) {
		char *ctrl = strchr(line, ':'), *cg, *t, *save = NULL;
		bool memory = false;

		if (!ctrl)
			continue;
		*ctrl++ = '\0';
		cg = strchr(ctrl, ':');
		if (!cg)
			continue;
		*cg++ = '\0';
		cg[strcspn(cg, "\n")] = '\0';
		if (!strcmp(line, "0") && !ctrl[0]) {
			snprintf(v2, sizeof(v2), "%s", cg);
			continue;
		}
		for (t = strtok_r(ctrl, ",", &save); t; t = strtok_r(NULL, ",", &save))
			memory |= !strcmp(t, "memory");
		if (memory)
			snprintf(mem, sizeof(mem), "%s", cg);
	}
	fclose(f);
	/* The root cgroup is everyone's, not a pod's. */
	if (!v2[0] || !strcmp(v2, "/"))
		return;
	if (!p->scan_v2[0])
		snprintf(p->scan_v2, sizeof(p->scan_v2), "%s", v2);
	else
		common_ancestor(p->scan_v2, v2);
	p->scan_procs++;
	if (!ac->memcg_v1 || !mem[0])
		return;
	if (!p->scan_mem[0])
		snprintf(p->scan_mem, sizeof(p->scan_mem), "%s", mem);
	else
		common_ancestor(p->scan_mem, mem);
}

static void tie_refresh(struct acct *ac)
{
	uint64_t t0 = mono_ns();
	char self[32], link[64], path[300];
	struct dirent *de;
	size_t i;
	DIR *d;

	for (i = 0; i < ac->npods; i++) {
		ac->pods[i].scan_v2[0] = ac->pods[i].scan_mem[0] = '\0';
		ac->pods[i].scan_procs = 0;
	}
	snprintf(self, sizeof(self), "%d", getpid());
	d = opendir("/proc");
	if (!d)
		return;
	while (ac->npods && (de = readdir(d))) {
		unsigned long long ino;
		ssize_t n;

		if (de->d_name[0] < '1' || de->d_name[0] > '9' || !strcmp(de->d_name, self))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/ns/net", de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (sscanf(link, "net:[%llu]", &ino) != 1)
			continue;
		for (i = 0; i < ac->npods; i++)
			if (PODLANE_NETNS_INO(ac->pods[i].meta.netns_cookie) == ino)
				scan_pid_cgroups(ac, de->d_name, &ac->pods[i]);
	}
	closedir(d);

	for (i = 0; i < ac->npods; i++) {
		struct acct_pod *p = &ac->pods[i];
		char dir[PATH_MAX + ACCT_PATH_LEN];
		struct stat st;

		p->nprocs = p->scan_procs;
		if (!p->scan_v2[0]) {
			/* Nobody home now: keep the last tie, its counters stay meaningful. */
			continue;
		}
		snprintf(dir, sizeof(dir), "%s%s", ac->cg2_mount, p->scan_v2);
		if (stat(dir, &st))
			continue;
		if (!p->tied || strcmp(p->cgroup, p->scan_v2))
			log_info("endpoint tied to cgroup host_ifname=%s container_id=%.12s "
				 "cgroup=%s cgroup_id=%llu", p->meta.host_ifname,
				 p->meta.container_id, p->scan_v2, (unsigned long long)st.st_ino);
		if (p->cgroup_id != st.st_ino)	/* another cgroup's counters: start over */
			memset(&p->psi_rate, 0, sizeof(p->psi_rate));
		p->tied = true;
		p->cgroup_id = st.st_ino;
		snprintf(p->cgroup, sizeof(p->cgroup), "%s", p->scan_v2);
		snprintf(p->memcg_v1, sizeof(p->memcg_v1), "%s", p->scan_mem);
	}
	ac->tie_us = (mono_ns() - t0) / 1e3;
}

/* ---- reading the counters ---- */

static void counters_add(struct acct_counters *s, const struct acct_counters *v)
{
	s->cpu_ns += v->cpu_ns;
	s->runq_wait_ns += v->runq_wait_ns;
	s->runq_waits += v->runq_waits;
	s->rx_packets += v->rx_packets;
	s->rx_bytes += v->rx_bytes;
	s->tx_packets += v->tx_packets;
	s->tx_bytes += v->tx_bytes;
}

/* A cgroup's counters summed over CPUs; false when it has no entry (never used anything). */
static bool cgacct_read(struct acct *ac, uint64_t id, struct acct_counters *out)
{
	const struct cgroup_acct *v = ac->vals;
	int cpu;

	memset(out, 0, sizeof(*out));
	if (bpf_map_lookup_elem(ac->cgacct_fd, &id, ac->vals))
		return false;
	for (cpu = 0; cpu < ac->ncpus; cpu++) {
		out->cpu_ns += v[cpu].cpu_ns;
		out->runq_wait_ns += v[cpu].runq_wait_ns;
		out->runq_waits += v[cpu].runq_waits;
		out->rx_packets += v[cpu].rx_packets;
		out->rx_bytes += v[cpu].rx_bytes;
		out->tx_packets += v[cpu].tx_packets;
		out->tx_bytes += v[cpu].tx_bytes;
	}
	return true;
}

/* Ids of the cgroups under dir, the pod cgroup first; bounded by ACCT_MAX_MEMBERS. */
static void subtree_ids(const char *dir, uint64_t *ids, size_t *n, int depth)
{
	char sub[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d;

	if (*n >= ACCT_MAX_MEMBERS || depth > 16 || stat(dir, &st))
		return;
	ids[(*n)++] = st.st_ino;
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d)) && *n < ACCT_MAX_MEMBERS) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if (snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name) >= (int)sizeof(sub))
			continue;
		subtree_ids(sub, ids, n, depth + 1);
	}
	closedir(d);
}

/*
 * The pod's totals: what its cgroups have now, plus what cgroups that left the subtree
 * (removed containers) had when last seen, so the totals never go backwards.
 */
static void pod_read_bpf(struct acct *ac, struct acct_pod *p)
{
	static uint64_t ids[ACCT_MAX_MEMBERS];
	char dir[PATH_MAX + ACCT_PATH_LEN];
	struct acct_member *m;
	size_t n = 0, i, j;

	if (!p->tied)
		return;
	snprintf(dir, sizeof(dir), "%s%s", ac->cg2_mount, p->cgroup);
	subtree_ids(dir, ids, &n, 0);
	m = calloc(n ? n : 1, sizeof(*m));
	if (!m)
		return;
	for (i = 0; i < p->nmembers; i++) {
		for (j = 0; j < n && ids[j] != p->members[i].id; j++)
			;
		if (j == n)
			counters_add(&p->retired, &p->members[i].last);
	}
	p->total = p->retired;
	for (j = 0; j < n; j++) {
		m[j].id = ids[j];
		if (!cgacct_read(ac, ids[j], &m[j].last)) {
			/* Not in the map (yet, or deleted by GC): keep what we knew. */
			for (i = 0; i < p->nmembers; i++)
				if (p->members[i].id == ids[j])
					m[j].last = p->members[i].last;
		}
		counters_add(&p->total, &m[j].last);
	}
	free(p->members);
	p->members = m;
	p->nmembers = n;
}

struct dump_first {
	uint64_t id;
	struct pl_cgroup_info info;
	bool found;
};

static int dump_first_cb(const struct pl_cgroup_info *info, void *data)
{
	struct dump_first *d = data;

	if (info->id != d->id)
		return 0;
	d->info = *info;
	d->info.path = NULL;
	d->found = true;
	return 1;	/* the subtree root comes first: nothing else is needed */
}

static uint64_t read_u64_file(const char *path, bool *ok)
{
	char buf[64];
	FILE *f = fopen(path, "re");

	*ok = false;
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f) && buf[0] >= '0' && buf[0] <= '9')
		*ok = true;
	fclose(f);
	return *ok ? strtoull(buf, NULL, 10) : 0;
}

/* Memory, PSI and (without BPF) CPU of the pod cgroup: the module, else cgroupfs. */
static void pod_read_kernel(struct acct *ac, struct acct_pod *p)
{
	struct pl_cgroup_info info = {};
	bool have = false;
	int err;

	if (!p->tied)
		return;
	if (ac->module) {
		struct dump_first d = { .id = p->cgroup_id };

		err = pl_genl_cgroup_dump(&ac->genl, p->cgroup_id, dump_first_cb, &d);
		if (err && err != -ECANCELED && err != -ENOENT)
			module_lost(ac, err);
		else if (d.found) {
			info = d.info;
			have = true;
		}
	}
	if (!have && pl_cgroupfs_read(ac->cg2_mount, p->cgroup, ac->psi_cgroup, &info))
		return;

	p->has_memory = info.has_memory;
	p->memory_bytes = info.memory_current;
	p->has_memory_max = info.has_memory_max;
	p->memory_max = info.memory_max;
	if (!p->has_memory && ac->memcg_v1 && p->memcg_v1[0]) {
		char path[PATH_MAX + 2 * ACCT_PATH_LEN];
		bool ok;

		snprintf(path, sizeof(path), "%s%s/memory.usage_in_bytes", ac->memcg_v1_mount,
			 p->memcg_v1);
		p->memory_bytes = read_u64_file(path, &ok);
		p->has_memory = ok;
		snprintf(path, sizeof(path), "%s%s/memory.limit_in_bytes", ac->memcg_v1_mount,
			 p->memcg_v1);
		p->memory_max = read_u64_file(path, &ok);
		/* v1 says "no limit" with a huge page-aligned number. */
		p->has_memory_max = ok && p->memory_max < (1ULL << 62);
	}
	memcpy(p->psi, info.psi, sizeof(p->psi));
	if (!ac->bpf && info.has_cpu) {
		p->total.cpu_ns = info.cpu_usage_us * 1000;
		p->cpu_from_kernel = true;
	}
}

static void node_read(struct acct *ac)
{
	unsigned long long v[10] = {};
	char line[512];
	FILE *f;
	int err = -ENOENT;

	if (ac->node_cg[0]) {
		node_cgroup_read(ac);
		return;
	}
	if (ac->module) {
		err = pl_genl_node_pressure(&ac->genl, ac->node.psi);
		if (err)
			module_lost(ac, err);
	}
	if (err && ac->psi_node)
		err = pl_psi_read_node(ac->node.psi);
	ac->node.has_psi = !err;

	f = fopen("/proc/stat", "re");
	if (f) {
		if (fgets(line, sizeof(line), f) &&
		    sscanf(line, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
			   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]) >= 4) {
			/* guest time is already in user/nice: not counted twice. */
			uint64_t idle = v[3] + v[4];
			uint64_t total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
			uint64_t busy = total - idle;

			if (ac->node.stat_valid && total > ac->node.stat_total)
				ac->node.busy = (double)(busy - ac->node.stat_busy) /
						(total - ac->node.stat_total);
			ac->node.stat_busy = busy;
			ac->node.stat_total = total;
			ac->node.stat_valid = true;
		}
		fclose(f);
	}
}

static bool cgroup_exists(struct acct *ac, uint64_t id)
{
	struct {
		struct file_handle fh;
		uint64_t id;
	} h = { .fh.handle_bytes = sizeof(uint64_t), .fh.handle_type = ac->handle_type };
	int fd;

	if (ac->handle_type < 0)
		return true;
	h.id = id;
	fd = open_by_handle_at(ac->cg2_fd, &h.fh, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		return true;
	}
	return errno != ESTALE && errno != ENOENT;
}

/*
 * Walk podlane_cgacct: count entries, add up the node's run-queue wait, and (gc) delete the
 * entries of cgroups that no longer exist. The node's total never goes back: a deleted entry's
 * wait is retired into it; with --node-cgroup each cgroup of the subtree keeps its last wait
 * in cg_runq, retired when it leaves the subtree (node_cgroup_ids).
 */
static void map_walk(struct acct *ac, bool gc)
{
	uint64_t key, next, *prev = NULL, n = 0, runq = 0, *mine;
	struct acct_counters c;
	__u32 zero = 0;
	size_t i;
	int cpu;

	while (!bpf_map_get_next_key(ac->cgacct_fd, prev, &next)) {
		key = next;
		prev = &key;
		if (!cgacct_read(ac, key, &c))
			continue;
		mine = ac->node_cg[0] ? node_cgroup_runq(ac, key) : NULL;
		if (mine && c.runq_wait_ns > *mine)
			*mine = c.runq_wait_ns;
		if (gc && !cgroup_exists(ac, key) && !bpf_map_delete_elem(ac->cgacct_fd, &key)) {
			if (!ac->node_cg[0])
				ac->node.runq_retired_ns += c.runq_wait_ns;
			ac->gc_deleted++;
			continue;
		}
		if (!ac->node_cg[0])
			runq += c.runq_wait_ns;
		n++;
	}
	for (i = 0; ac->node_cg[0] && i < ac->node.cg_nids; i++)
		runq += ac->node.cg_runq[i];
	ac->map_entries = n;
	ac->node.runq_total_ns = runq + ac->node.runq_retired_ns;
	ac->node.runq_valid = true;

	memset(&ac->errs, 0, sizeof(ac->errs));
	if (!bpf_map_lookup_elem(ac->cgerrs_fd, &zero, ac->vals)) {
		const struct cgroup_acct_errors *e = ac->vals;

		for (cpu = 0; cpu < ac->ncpus; cpu++) {
			ac->errs.full_sched += e[cpu].full_sched;
			ac->errs.full_skb += e[cpu].full_skb;
			ac->errs.task_state += e[cpu].task_state;
		}
	}
}

/* Bring the pods' cumulative counters up to this moment (the API calls it before answering). */
void acct_refresh(struct acct *ac)
{
	size_t i;

	acct_bpf_iterate(ac);
	for (i = 0; ac->bpf && i < ac->npods; i++)
		pod_read_bpf(ac, &ac->pods[i]);
}

void acct_refresh_counters(struct agent *a)
{
	if (a->acct)
		acct_refresh(a->acct);
}

/* The share of time since the last reading that some task stalled, from the total= counters. */
static void psi_rate_update(struct psi_rate *r, const struct pl_psi psi[PL_PSI_NR], bool have)
{
	uint64_t now = mono_ns();
	int i;

	for (i = 0; i < PL_PSI_NR; i++) {
		r->some_share[i] = -1;
		if (!have || !psi[i].valid) {
			r->valid[i] = false;
			continue;
		}
		if (r->valid[i] && now > r->at_ns && psi[i].some_total_us >= r->total_us[i]) {
			r->some_share[i] = (psi[i].some_total_us - r->total_us[i]) * 1e3 /
					   (now - r->at_ns);
			if (r->some_share[i] > 1)
				r->some_share[i] = 1;	/* read a little late after a slow read */
		}
		r->total_us[i] = psi[i].some_total_us;
		r->valid[i] = true;
	}
	r->at_ns = now;
}

static double rate(uint64_t now, uint64_t before, double dt)
{
	return now >= before ? (now - before) / dt : 0;
}

void acct_tick(struct agent *a)
{
	struct acct *ac = a->acct;
	uint64_t now, t0 = mono_ns(), prev_runq;
	bool prev_runq_valid;
	double dt;
	size_t i;

	if (!ac)
		return;
	now = t0;
	pods_sync(a, ac);
	if (ac->tie_due || now - ac->last_tie_ns >= ACCT_TIE_MS * 1000000ULL) {
		tie_refresh(ac);
		ac->last_tie_ns = now;
		ac->tie_due = false;
	}
	if (!ac->module && now >= ac->module_retry_ns) {
		/* Loaded after we started? Cheap to ask every half minute. */
		module_probe(ac);
		ac->module_retry_ns = now + 30000000000ULL;
	}
	acct_refresh(ac);
	for (i = 0; i < ac->npods; i++) {
		pod_read_kernel(ac, &ac->pods[i]);
		psi_rate_update(&ac->pods[i].psi_rate, ac->pods[i].psi, ac->pods[i].tied);
	}
	node_read(ac);
	psi_rate_update(&ac->node.psi_rate, ac->node.psi, ac->node.has_psi);
	prev_runq = ac->node.runq_total_ns;
	prev_runq_valid = ac->node.runq_valid;
	if (ac->bpf) {
		bool gc = now - ac->last_gc_ns >= ACCT_GC_MS * 1000000ULL;

		map_walk(ac, gc);
		if (gc)
			ac->last_gc_ns = now;
	}

	dt = ac->last_tick_ns ? (now - ac->last_tick_ns) / 1e9 : 0;
	ac->node.rx_bps = ac->node.tx_bps = 0;
	for (i = 0; i < ac->npods; i++) {
		struct acct_pod *p = &ac->pods[i];
		struct acct_counters *c = &p->total, *o = &p->tick_prev;

		if (p->tick_valid && dt > 0) {
			double ran = c->cpu_ns >= o->cpu_ns ? c->cpu_ns - o->cpu_ns : 0;
			double waited = c->runq_wait_ns >= o->runq_wait_ns ?
					c->runq_wait_ns - o->runq_wait_ns : 0;

			p->rate.cpu_cores = ran / 1e9 / dt;
			p->rate.runq_per_s = waited / 1e9 / dt;
			p->rate.runq_share = ran + waited > 0 ? waited / (ran + waited) : 0;
			p->rate.rx_bps = rate(c->rx_bytes, o->rx_bytes, dt);
			p->rate.tx_bps = rate(c->tx_bytes, o->tx_bytes, dt);
			p->rate.rx_pps = rate(c->rx_packets, o->rx_packets, dt);
			p->rate.tx_pps = rate(c->tx_packets, o->tx_packets, dt);
		}
		p->tick_prev = *c;
		p->tick_valid = p->tied;
		ac->node.rx_bps += p->rate.rx_bps;
		ac->node.tx_bps += p->rate.tx_bps;
	}
	/* The total never goes back (map_walk); were it to, the tick says 0, not the last value. */
	ac->node.runq_per_cpu = 0;
	if (dt > 0 && ac->bpf && prev_runq_valid && ac->node.runq_total_ns >= prev_runq)
		ac->node.runq_per_cpu = (ac->node.runq_total_ns - prev_runq) / 1e9 / dt /
					ac->node.cpus;
	hints_compute(ac, dt);
	ac->last_tick_ns = now;
	ac->seq++;
	ac->updated_ns = clock_ns(CLOCK_REALTIME);
	ac->tick_us = (mono_ns() - t0) / 1e3;
}

void acct_endpoint_changed(struct agent *a)
{
	if (a->acct)
		a->acct->tie_due = true;
}

