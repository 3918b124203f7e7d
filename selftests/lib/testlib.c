// SPDX-License-Identifier: GPL-2.0-only
/*
 * testlib.c - the shared part of podlane's C selftests (see testlib.h). Compiled once and
 * linked into every test binary.
 *
 * The kselftest harness runs every test in a child of the binary's main process. The main
 * process is remembered here: cgroups made by any test are swept when it exits (normally or on
 * SIGINT/SIGTERM), so a test killed by its timeout leaves nothing behind.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "testlib.h"

bool tl_verbose;
static pid_t tl_main_pid;

void tl_log(const char *fmt, ...)
{
	char *text = NULL, *line, *save = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	if (!text)
		return;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		fprintf(stderr, "# %s\n", line);
	fflush(stderr);
	free(text);
}

__u64 tl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* libbpf's chatter as diagnostics; the verifier log only shows when a load fails. */
static int tl_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char *text = NULL;

	if (level == LIBBPF_DEBUG && !tl_verbose)
		return 0;
	if (vasprintf(&text, fmt, ap) < 0)
		return 0;
	tl_log("%s", text);
	free(text);
	return 0;
}

/* Namespaces and devices --------------------------------------------------------------- */

int tl_netns_enter(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int fd, err = 0;

	if (unshare(CLONE_NEWNET)) {
		err = -errno;
		tl_log("failed to create network namespace: %s", strerror(-err));
		return err;
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr))
			err = -errno;
	} else {
		err = -errno;
	}
	close(fd);
	if (err)
		tl_log("failed to bring up 'lo': %s", strerror(-err));
	return err;
}

pid_t tl_netns_spawn(void)
{
	int ready[2];
	pid_t pid;
	char c = 1;

	if (pipe(ready))
		return -1;
	pid = fork();
	if (pid == 0) {
		close(ready[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (unshare(CLONE_NEWNET) || write(ready[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(ready[1]);
	if (pid < 0 || read(ready[0], &c, 1) != 1) {
		tl_log("failed to start a namespace holder: %s", strerror(errno));
		if (pid > 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
		pid = -1;
	}
	close(ready[0]);
	return pid;
}

static int netns_open(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
	return open(path, O_RDONLY | O_CLOEXEC);
}

int tl_socket_in(pid_t holder, int type)
{
	int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), there = netns_open(holder);
	int s = -1, err = 0;

	if (self < 0 || there < 0) {
		err = -errno;
		goto out;
	}
	if (setns(there, CLONE_NEWNET)) {
		err = -errno;
		goto out;
	}
	s = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	if (s < 0)
		err = -errno;
	if (setns(self, CLONE_NEWNET)) {
		tl_log("failed to return to our own network namespace: %s", strerror(errno));
		abort();
	}
out:
	if (self >= 0)
		close(self);
	if (there >= 0)
		close(there);
	return s >= 0 ? s : err;
}

int tl_run_in(pid_t holder, int (*fn)(void *arg), void *arg)
{
	int status;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		int fd = netns_open(holder);

		if (fd < 0 || setns(fd, CLONE_NEWNET))
			_exit(125);
		_exit(fn(arg));
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int run_cmd(bool may_fail, const char *fmt, va_list ap)
{
	char cmd[1024], line[512], out[4096] = "";
	FILE *f;
	int rc;

	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	strncat(cmd, " 2>&1", sizeof(cmd) - strlen(cmd) - 1);
	fflush(stdout);
	fflush(stderr);
	f = popen(cmd, "r");
	if (!f) {
		tl_log("failed to run '%s': %s", cmd, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f))
		if (strlen(out) + strlen(line) < sizeof(out))
			strcat(out, line);
	rc = pclose(f);
	rc = rc < 0 ? -1 : WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
	if ((rc && !may_fail) || tl_verbose)
		tl_log("$ %s -> %d\n%s", cmd, rc, out);
	return rc;
}

int tl_sh(const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = run_cmd(false, fmt, ap);
	va_end(ap);
	return rc;
}

int tl_sh_may_fail(const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = run_cmd(true, fmt, ap);
	va_end(ap);
	return rc;
}

int tl_veth_add(const char *name, const char *mac, const char *peer, const char *peer_mac,
		pid_t peer_ns)
{
	char where[32] = "";
	int ifindex;

	if (peer_ns > 0)
		snprintf(where, sizeof(where), " netns %d", peer_ns);
	if (tl_sh("ip link add %s%s%s type veth peer name %s%s%s%s", name, mac ? " address " : "",
		  mac ?: "", peer, peer_mac ? " address " : "", peer_mac ?: "", where))
		return -EIO;
	ifindex = if_nametoindex(name);
	if (!ifindex) {
		tl_log("failed to find device '%s': %s", name, strerror(errno));
		return -errno;
	}
	return ifindex;
}

int tl_sysctl_write(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ok;

	if (fd < 0) {
		tl_log("failed to open '%s': %s", path, strerror(errno));
		return -errno;
	}
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	if (!ok)
		tl_log("failed to write '%s' to '%s'", val, path);
	return ok ? 0 : -EIO;
}

int tl_forwarding_set(const char *dev, bool on)
{
	char path[128];

	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/forwarding", dev);
	return tl_sysctl_write(path, on ? "1" : "0");
}

int tl_mac_parse(const char *s, __u8 mac[6])
{
	return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3],
		      &mac[4], &mac[5]) == 6 ? 0 : -EINVAL;
}

/* cgroups ------------------------------------------------------------------------------ */

int tl_cgroup2_mount(char *buf, size_t len)
{
	char dev[256], dir[512], type[64];
	FILE *f = fopen("/proc/mounts", "r");
	int found = 0;

	if (!f)
		return -errno;
	while (!found && fscanf(f, "%255s %511s %63s %*[^\n]", dev, dir, type) == 3) {
		if (!strcmp(type, "cgroup2")) {
			snprintf(buf, len, "%s", dir);
			found = 1;
		}
	}
	fclose(f);
	return found ? 0 : -ENOENT;
}

int tl_cgroup_create(const char *what, char *path, size_t len)
{
	char mnt[512];
	int err = tl_cgroup2_mount(mnt, sizeof(mnt));

	if (err) {
		tl_log("no cgroup v2 hierarchy mounted");
		return err;
	}
	snprintf(path, len, "%s/podlane-%s-%d-%d", mnt, what, tl_main_pid, getpid());
	if (mkdir(path, 0755)) {
		err = -errno;
		tl_log("failed to create cgroup '%s': %s", path, strerror(-err));
	}
	return err;
}

int tl_cgroup_join(const char *dir)
{
	char path[1024], pid[32];
	int fd, n, err = 0;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = snprintf(pid, sizeof(pid), "%d\n", getpid());
	if (write(fd, pid, n) != n)
		err = -errno;
	close(fd);
	if (err)
		tl_log("failed to join cgroup '%s': %s", dir, strerror(-err));
	return err;
}

/* Depth first: kill (kill) or remove (!kill) dir and every cgroup below it. */
static int cgroup_walk(const char *dir, bool kill)
{
	char path[1024];
	struct dirent *d;
	int err = 0, fd;
	DIR *dp = opendir(dir);

	if (!dp)
		return errno == ENOENT ? 0 : -errno;
	while ((d = readdir(dp))) {
		if (d->d_type != DT_DIR || !strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		err = cgroup_walk(path, kill) ?: err;
	}
	closedir(dp);
	if (kill) {
		snprintf(path, sizeof(path), "%s/cgroup.kill", dir);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			if (write(fd, "1", 1) != 1)
				err = -errno;
			close(fd);
		}
		return err;
	}
	return rmdir(dir) && errno != ENOENT ? -errno : err;
}

int tl_cgroup_destroy(const char *dir)
{
	int i, err;

	cgroup_walk(dir, true);
	/* A killed task leaves its cgroup a moment after the signal. */
	for (i = 0; i < 50; i++) {
		err = cgroup_walk(dir, false);
		if (!err)
			return 0;
		usleep(100000);
	}
	tl_log("failed to remove cgroup '%s': %s", dir, strerror(-err));
	return err;
}

/* What tests of this binary left in the cgroup v2 root: podlane-*-<main pid>-<pid>. */
static void cgroups_sweep(void)
{
	char mnt[512], tag[32], path[1024];
	struct dirent *d;
	DIR *dp;

	if (getpid() != tl_main_pid || tl_cgroup2_mount(mnt, sizeof(mnt)))
		return;
	dp = opendir(mnt);
	if (!dp)
		return;
	snprintf(tag, sizeof(tag), "-%d-", tl_main_pid);
	while ((d = readdir(dp))) {
		if (strncmp(d->d_name, "podlane-", 8) || !strstr(d->d_name, tag))
			continue;
		snprintf(path, sizeof(path), "%s/%s", mnt, d->d_name);
		tl_cgroup_destroy(path);
	}
	closedir(dp);
}

static void on_signal(int sig)
{
	cgroups_sweep();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void __attribute__((constructor)) testlib_init(void)
{
	const char *v = getenv("PL_VERBOSE");

	tl_verbose = v && *v && strcmp(v, "0");
	tl_main_pid = getpid();
	libbpf_set_print(tl_libbpf_print);
	atexit(cgroups_sweep);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
}

/* BPF objects and maps -------------------------------------------------------------------- */

void tl_maps_private(struct bpf_object *obj, __u32 hash_entries)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, obj) {
		bpf_map__set_pin_path(map, NULL);
		if (bpf_map__type(map) == BPF_MAP_TYPE_HASH ||
		    bpf_map__type(map) == BPF_MAP_TYPE_PERCPU_HASH)
			bpf_map__set_max_entries(map, hash_entries);
	}
}

int tl_maps_share(struct bpf_object *obj, struct bpf_object *owner)
{
	struct bpf_map *map, *theirs;
	int err;

	bpf_object__for_each_map(map, obj) {
		if (strncmp(bpf_map__name(map), "podlane_", 8))
			continue;	/* .rodata and friends stay private */
		theirs = bpf_object__find_map_by_name(owner, bpf_map__name(map));
		if (!theirs) {
			tl_log("failed to find map '%s' to share", bpf_map__name(map));
			return -ENOENT;
		}
		err = bpf_map__reuse_fd(map, bpf_map__fd(theirs));
		if (err) {
			tl_log("failed to reuse map '%s': %s", bpf_map__name(map), strerror(-err));
			return err;
		}
	}
	return 0;
}

int tl_ncpus(void)
{
	static int n;

	if (!n)
		n = libbpf_num_possible_cpus();
	return n;
}

__u64 tl_percpu_sum(int fd, __u32 key)
{
	__u64 per_cpu[TL_MAX_CPUS], sum = 0;
	int cpu, n = tl_ncpus();

	if (n <= 0 || n > TL_MAX_CPUS || bpf_map_lookup_elem(fd, &key, per_cpu))
		return ~0ULL;
	for (cpu = 0; cpu < n; cpu++)
		sum += per_cpu[cpu];
	return sum;
}

int tl_ep_stats_read(int fd, __u32 ifindex, struct endpoint_stats *sum)
{
	static struct endpoint_stats per_cpu[TL_MAX_CPUS];
	int cpu, s, n = tl_ncpus();

	memset(sum, 0, sizeof(*sum));
	if (n <= 0 || n > TL_MAX_CPUS)
		return -E2BIG;
	if (bpf_map_lookup_elem(fd, &ifindex, per_cpu))
		return -errno;
	for (cpu = 0; cpu < n; cpu++) {
		sum->rx_packets += per_cpu[cpu].rx_packets;
		sum->rx_bytes += per_cpu[cpu].rx_bytes;
		sum->tx_packets += per_cpu[cpu].tx_packets;
		sum->tx_bytes += per_cpu[cpu].tx_bytes;
		for (s = 0; s < PODLANE_DROP_SLOTS; s++)
			sum->drops[s] += per_cpu[cpu].drops[s];
	}
	return 0;
}

int tl_node_drops_read(int fd, struct drop_counter sum[PODLANE_DROP_SLOTS])
{
	static struct drop_counter per_cpu[TL_MAX_CPUS];
	int cpu, n = tl_ncpus();
	__u32 slot;

	if (n <= 0 || n > TL_MAX_CPUS)
		return -E2BIG;
	for (slot = 0; slot < PODLANE_DROP_SLOTS; slot++) {
		if (bpf_map_lookup_elem(fd, &slot, per_cpu)) {
			tl_log("failed to read map 'podlane_drops': %s", strerror(errno));
			return -errno;
		}
		sum[slot].packets = sum[slot].bytes = 0;
		for (cpu = 0; cpu < n; cpu++) {
			sum[slot].packets += per_cpu[cpu].packets;
			sum[slot].bytes += per_cpu[cpu].bytes;
		}
	}
	return 0;
}

__u64 tl_node_drops(int fd, int reason)
{
	struct drop_counter dc[PODLANE_DROP_SLOTS];

	if (tl_node_drops_read(fd, dc))
		return ~0ULL;
	return dc[PODLANE_DROP_INDEX(reason)].packets;
}

const char *tl_reason_name(int reason)
{
	const char *n = podlane_drop_name(reason);

	return n ? n : "none";
}

int tl_endpoint_add(int eps_fd, int stat_fd, __be32 ip, const __u8 pod_mac[6],
		    const __u8 host_mac[6], __u32 ifindex, __u32 flags)
{
	static struct endpoint_stats zero[TL_MAX_CPUS];
	struct endpoint_key key;
	struct endpoint_value val;

	memset(&key, 0, sizeof(key));
	memset(&val, 0, sizeof(val));
	key.addr.family = PODLANE_AF_INET;
	key.addr.ip4 = ip;
	val.ifindex = ifindex;
	val.flags = flags;
	memcpy(val.pod_mac, pod_mac, 6);
	memcpy(val.host_mac, host_mac, 6);
	/* Counters are created once and survive flag changes, as in the agent. */
	if ((bpf_map_update_elem(stat_fd, &ifindex, zero, BPF_NOEXIST) && errno != EEXIST) ||
	    bpf_map_update_elem(eps_fd, &key, &val, BPF_ANY)) {
		tl_log("failed to add endpoint on ifindex %u: %s", ifindex, strerror(errno));
		return -errno;
	}
	return 0;
}

int tl_tc_attach(int ifindex, const struct bpf_program *ingress,
		 const struct bpf_program *egress)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	const struct bpf_program *progs[] = { ingress, egress };
	int err, i;

	err = bpf_tc_hook_create(&hook);
	if (err) {
		tl_log("failed to create clsact on ifindex %d: %s", ifindex, strerror(-err));
		return err;
	}
	for (i = 0; i < 2; i++) {
		LIBBPF_OPTS(bpf_tc_opts, opts, .handle = 1, .priority = 1);

		if (!progs[i])
			continue;
		opts.prog_fd = bpf_program__fd(progs[i]);
		hook.attach_point = i == 0 ? BPF_TC_INGRESS : BPF_TC_EGRESS;
		err = bpf_tc_attach(&hook, &opts);
		if (err) {
			tl_log("failed to attach program '%s' to ifindex %d: %s",
			       bpf_program__name(progs[i]), ifindex, strerror(-err));
			return err;
		}
	}
	return 0;
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct tl_events *e = ctx;
	__u32 type;

	if (size < sizeof(type))
		return 0;
	memcpy(&type, data, sizeof(type));
	if (type == PODLANE_EVENT_FLOW) {
		if (size >= sizeof(struct flow_event) &&
		    e->nflow < (int)(sizeof(e->flow) / sizeof(e->flow[0])))
			memcpy(&e->flow[e->nflow++], data, sizeof(struct flow_event));
		return 0;
	}
	if (size >= sizeof(struct drop_event) && e->n < (int)(sizeof(e->ev) / sizeof(e->ev[0])))
		memcpy(&e->ev[e->n++], data, sizeof(struct drop_event));
	return 0;
}

int tl_events_open(struct tl_events *e, int map_fd)
{
	memset(e, 0, sizeof(*e));
	e->rb = ring_buffer__new(map_fd, on_event, e, NULL);
	if (!e->rb) {
		tl_log("failed to create ring buffer 'podlane_events': %s", strerror(errno));
		return -errno;
	}
	return 0;
}

void tl_events_close(struct tl_events *e)
{
	ring_buffer__free(e->rb);
	e->rb = NULL;
}

void tl_events_drain(struct tl_events *e)
{
	ring_buffer__consume(e->rb);
	e->n = 0;
	e->nflow = 0;
}

int tl_events_poll(struct tl_events *e)
{
	ring_buffer__consume(e->rb);
	return e->n;
}

const struct drop_event *tl_events_find(struct tl_events *e, int reason)
{
	int i;

	for (i = 0; i < e->n; i++)
		if (e->ev[i].reason == reason)
			return &e->ev[i];
	return NULL;
}

/* Checksums ------------------------------------------------------------------------------ */

__u32 tl_csum_add(__u32 sum, const void *p, size_t len)
{
	const __u8 *b = p;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (__u32)b[i] << 8 | b[i + 1];
	if (len & 1)
		sum += (__u32)b[len - 1] << 8;
	return sum;
}

__u16 tl_csum_fold(__u32 sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

bool tl_ip_csum_ok(const void *iphdr, size_t len)
{
	return tl_csum_fold(tl_csum_add(0, iphdr, len)) == 0xffff;
}
