// SPDX-License-Identifier: GPL-2.0-only
/*
 * datapath.c - podlaned's BPF side: feature probes, loading the skeletons against the pinned
 * maps (created on first start, adopted on every later one), tc attachment on pod veths and the
 * uplink, and --uninstall.
 *
 * Restarts are non-disruptive: maps are never recreated while pinned, and programs are
 * attached with BPF_TC_F_REPLACE on a fixed handle/priority so the kernel swaps the old program
 * for the new one in a single step.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <net/if.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "agent.h"
#include "log.h"
#include "nodes.h"
#include "tc_endpoint.skel.h"
#include "tc_uplink.skel.h"

/* Maps sized by --max-endpoints; the others have fixed sizes. */
static bool map_sized_by_endpoints(const char *name)
{
	return !strcmp(name, "podlane_eps") || !strcmp(name, "podlane_ep_stat") ||
	       !strcmp(name, "podlane_ep_meta");
}

void datapath_probe(struct features *f)
{
	f->redirect_peer =
		libbpf_probe_bpf_helper(BPF_PROG_TYPE_SCHED_CLS, BPF_FUNC_redirect_peer, NULL) == 1;
	f->ringbuf = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) == 1;
	f->percpu_hash = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_PERCPU_HASH, NULL) == 1;
	f->kernel_btf = access("/sys/kernel/btf/vmlinux", R_OK) == 0;
}

/*
 * A pinned map keeps the size it was created with. Load with that size so libbpf can reuse it,
 * instead of refusing to start (or worse, wiping endpoints) because --max-endpoints changed.
 */
static unsigned int pinned_max_entries(const char *pin_root, const char *name)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", pin_root, name);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		info.max_entries = 0;
	close(fd);
	return info.max_entries;
}

static int size_maps(struct agent *a, struct bpf_object *obj)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, obj) {
		const char *name = bpf_map__name(map);
		unsigned int want, pinned;

		if (!map_sized_by_endpoints(name))
			continue;
		want = a->max_endpoints;
		pinned = pinned_max_entries(a->pin_root, name);
		if (pinned && pinned != want) {
			log_warn("pinned map keeps its size, --max-endpoints ignored for it "
				 "map=%s pinned=%u requested=%u", name, pinned, want);
			want = pinned;
		}
		if (bpf_map__set_max_entries(map, want))
			return -EINVAL;
	}
	return 0;
}

static int load_failed(const char *what, const char *pin_root, int err)
{
	log_error("failed to load BPF object '%s': %s", what, strerror(-err));
	if (err == -EINVAL || err == -EEXIST)
		log_error("a pinned map under %s may have a layout this build does not understand; "
			  "stop podlaned and run 'podlaned --uninstall --pin-root %s' to start "
			  "over (pods lose connectivity until they are re-added)", pin_root,
			  pin_root);
	return err;
}

/*
 * Pins only survive the agent on a bpf filesystem. A fresh node often has none mounted at
 * /sys/fs/bpf (this project's CI machines do not), so mount the conventional one there; any
 * other place must be a bpffs the operator mounted.
 */
static int bpffs_ensure(const char *pin_root)
{
	char parent[PATH_MAX], *slash;
	struct statfs st;

	snprintf(parent, sizeof(parent), "%s", pin_root);
	slash = strrchr(parent, '/');
	if (slash && slash != parent)
		*slash = '\0';
	if (!statfs(parent, &st) && st.f_type == BPF_FS_MAGIC)
		return 0;
	if (strcmp(parent, "/sys/fs/bpf")) {
		log_error("pin root '%s' is not on a bpf filesystem; mount one (mount -t bpf bpf "
			  "%s) or pick a --pin-root under /sys/fs/bpf", pin_root, parent);
		return -ENOTSUP;
	}
	if (mount("bpf", parent, "bpf", 0, "mode=0700")) {
		log_error("failed to mount bpf filesystem '%s': %s", parent, strerror(errno));
		return -errno;
	}
	log_info("mounted bpf filesystem path=%s", parent);
	return 0;
}

int datapath_open(struct agent *a)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = a->pin_root);
	int err;

	datapath_probe(&a->feat);
	if (!a->feat.redirect_peer) {
		log_error("kernel lacks the bpf_redirect_peer() helper for tc programs "
			  "(Linux 5.10 or newer is needed); podlaned cannot run here");
		return -EOPNOTSUPP;
	}
	a->ncpus = libbpf_num_possible_cpus();
	if (a->ncpus <= 0) {
		log_error("failed to count possible CPUs: %s", strerror(-a->ncpus));
		return a->ncpus ? a->ncpus : -EINVAL;
	}
	err = bpffs_ensure(a->pin_root);
	if (err)
		return err;
	if (mkdir(a->pin_root, 0700) && errno != EEXIST) {
		err = -errno;
		log_error("failed to create pin directory '%s': %s", a->pin_root, strerror(errno));
		return err;
	}

	a->ep_skel = tc_endpoint__open_opts(&opts);
	if (!a->ep_skel) {
		err = -errno;
		log_error("failed to open BPF object 'tc_endpoint': %s", strerror(errno));
		return err;
	}
	a->ep_skel->rodata->drop_events = a->drop_events;
	err = size_maps(a, a->ep_skel->obj);
	if (!err)
		err = tc_endpoint__load(a->ep_skel);
	if (err)
		return load_failed("tc_endpoint", a->pin_root, err);

	a->eps_fd = bpf_map__fd(a->ep_skel->maps.podlane_eps);
	a->stat_fd = bpf_map__fd(a->ep_skel->maps.podlane_ep_stat);
	a->meta_fd = bpf_map__fd(a->ep_skel->maps.podlane_ep_meta);
	a->drops_fd = bpf_map__fd(a->ep_skel->maps.podlane_drops);
	a->from_pod_fd = bpf_program__fd(a->ep_skel->progs.tc_from_pod);
	a->to_pod_fd = bpf_program__fd(a->ep_skel->progs.tc_to_pod);
	a->from_uplink_fd = -1;
	a->nodes_fd = bpf_map__fd(a->ep_skel->maps.podlane_nodes);
	a->from_tunnel_fd = -1;

	/* tc_uplink also holds tc_from_tunnel, for the vxlan device. */
	if (!a->uplink && a->routing != NODE_ROUTING_VXLAN)
		return 0;
	/* Loaded second, so every map it declares is found pinned and shared, never created. */
	a->up_skel = tc_uplink__open_opts(&opts);
	if (!a->up_skel) {
		err = -errno;
		log_error("failed to open BPF object 'tc_uplink': %s", strerror(errno));
		return err;
	}
	a->up_skel->rodata->drop_events = a->drop_events;
	err = size_maps(a, a->up_skel->obj);
	if (!err)
		err = tc_uplink__load(a->up_skel);
	if (err)
		return load_failed("tc_uplink", a->pin_root, err);
	if (a->uplink)
		a->from_uplink_fd = bpf_program__fd(a->up_skel->progs.tc_from_uplink);
	a->from_tunnel_fd = bpf_program__fd(a->up_skel->progs.tc_from_tunnel);
	return 0;
}

void datapath_close(struct agent *a)
{
	/* Closing our fds leaves the programs running: tc and the pins hold their own refs. */
	tc_uplink__destroy(a->up_skel);
	tc_endpoint__destroy(a->ep_skel);
	a->up_skel = NULL;
	a->ep_skel = NULL;
}

/*
 * Set around libbpf calls whose failures we report ourselves: bpf_tc_hook_create() on a device
 * that already has clsact (every restart, every second direction) makes libbpf print the
 * kernel's "Exclusivity flag on" message although -EEXIST is expected.
 */
bool datapath_quiet_libbpf;

static int tc_attach(int ifindex, enum bpf_tc_attach_point point, int prog_fd)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = PODLANED_TC_HANDLE, .priority = PODLANED_TC_PRIO,
		    .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE);
	int err;

	datapath_quiet_libbpf = true;
	err = bpf_tc_hook_create(&hook);
	datapath_quiet_libbpf = false;
	if (err && err != -EEXIST)
		return err;
	return bpf_tc_attach(&hook, &opts);
}

int datapath_attach_endpoint(struct agent *a, int ifindex, struct op_error *e)
{
	char name[IF_NAMESIZE] = "?";
	int err;

	if_indextoname(ifindex, name);
	err = tc_attach(ifindex, BPF_TC_INGRESS, a->from_pod_fd);
	if (err)
		return op_fail(e, PODLANE_ERR_INTERNAL,
			       "failed to attach tc_from_pod to '%s' ingress: %s", name,
			       strerror(-err));
	err = tc_attach(ifindex, BPF_TC_EGRESS, a->to_pod_fd);
	if (err)
		return op_fail(e, PODLANE_ERR_INTERNAL,
			       "failed to attach tc_to_pod to '%s' egress: %s", name,
			       strerror(-err));
	return 0;
}

static int write_sysctl(const char *path, const char *value)
{
	FILE *f = fopen(path, "we");
	int err = 0;

	if (!f)
		return -errno;
	if (fputs(value, f) < 0)
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

int datapath_attach_uplink(struct agent *a)
{
	char path[PATH_MAX];
	int err;

	a->uplink_ifindex = if_nametoindex(a->uplink);
	if (!a->uplink_ifindex) {
		log_error("failed to find uplink '%s': %s", a->uplink, strerror(errno));
		return -ENODEV;
	}
	err = tc_attach(a->uplink_ifindex, BPF_TC_INGRESS, a->from_uplink_fd);
	if (err) {
		log_error("failed to attach tc_from_uplink to '%s' ingress: %s", a->uplink,
			  strerror(-err));
		return err;
	}
	/* Only this device: the global ip_forward and other interfaces are not ours. */
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/forwarding", a->uplink);
	err = write_sysctl(path, "1");
	if (err) {
		log_error("failed to enable forwarding on '%s': %s", a->uplink, strerror(-err));
		return err;
	}
	log_info("uplink attached uplink=%s ifindex=%d", a->uplink, a->uplink_ifindex);
	return 0;
}

int datapath_attach_tunnel(struct agent *a, int ifindex)
{
	int err = tc_attach(ifindex, BPF_TC_INGRESS, a->from_tunnel_fd);

	if (err)
		log_error("failed to attach tc_from_tunnel to '%s' ingress: %s", a->vxlan_dev,
			  strerror(-err));
	return err;
}

/* The name of the program attached at our handle/prio on ifindex/point, "" when none. */
static int tc_query_name(int ifindex, enum bpf_tc_attach_point point, char *name, size_t len)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = PODLANED_TC_HANDLE, .priority = PODLANED_TC_PRIO);
	struct bpf_prog_info info = {};
	__u32 info_len = sizeof(info);
	int err, fd;

	name[0] = '\0';
	err = bpf_tc_query(&hook, &opts);
	if (err)
		return err == -ENOENT || err == -EINVAL ? 0 : err;
	fd = bpf_prog_get_fd_by_id(opts.prog_id);
	if (fd < 0)
		return -errno;
	err = bpf_obj_get_info_by_fd(fd, &info, &info_len);
	close(fd);
	if (err)
		return -errno;
	snprintf(name, len, "%s", info.name);
	return 0;
}

int datapath_endpoint_attached(int ifindex)
{
	char in[BPF_OBJ_NAME_LEN], out[BPF_OBJ_NAME_LEN];
	int err;

	err = tc_query_name(ifindex, BPF_TC_INGRESS, in, sizeof(in));
	if (!err)
		err = tc_query_name(ifindex, BPF_TC_EGRESS, out, sizeof(out));
	if (err)
		return err;
	return !strcmp(in, "tc_from_pod") && !strcmp(out, "tc_to_pod");
}

unsigned int datapath_prog_id(int prog_fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	if (prog_fd < 0 || bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return 0;
	return info.id;
}

/* Detach our filter at ifindex/point, but only when it runs the program we expect. */
static int tc_detach_ours(int ifindex, const char *dev, enum bpf_tc_attach_point point,
			  const char *prog_name)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = PODLANED_TC_HANDLE, .priority = PODLANED_TC_PRIO);
	char name[BPF_OBJ_NAME_LEN];
	int err;

	err = tc_query_name(ifindex, point, name, sizeof(name));
	if (err || !name[0])
		return err;
	if (strcmp(name, prog_name)) {
		log_warn("leaving a filter that is not podlane's dev=%s handle=0x%x prog=%s", dev,
			 PODLANED_TC_HANDLE, name);
		return 0;
	}
	err = bpf_tc_detach(&hook, &opts);
	if (err)
		log_warn("failed to detach '%s' from '%s': %s", prog_name, dev, strerror(-err));
	else
		log_info("detached program prog=%s dev=%s", prog_name, dev);
	return err;
}

/* Detach from every recorded endpoint's host veth; returns how many devices were handled. */
static int uninstall_endpoints(const char *pin_root)
{
	struct endpoint_meta meta;
	char path[PATH_MAX];
	__u32 key, next, *prev = NULL;
	int fd, n = 0;

	snprintf(path, sizeof(path), "%s/podlane_ep_meta", pin_root);
	fd = bpf_obj_get(path);
	if (fd < 0) {
		if (errno != ENOENT)
			log_warn("failed to open pinned map '%s': %s", path, strerror(errno));
		return 0;
	}
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		char dev[IF_NAMESIZE];

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &meta))
			continue;
		/* An ifindex can be reused by another device: act only when the name matches. */
		if (!if_indextoname(key, dev) || strncmp(dev, meta.host_ifname, sizeof(dev)))
			continue;
		tc_detach_ours(key, dev, BPF_TC_INGRESS, "tc_from_pod");
		tc_detach_ours(key, dev, BPF_TC_EGRESS, "tc_to_pod");
		n++;
	}
	close(fd);
	return n;
}

/*
 * Unpin everything podlane pinned in pin_root (its podlane_* maps) or in its subdirectory sub
 * (pinned links: every entry is ours), then remove sub. Unpinning a link detaches its program.
 */
static int remove_pins(const char *pin_root, const char *sub)
{
	char dir[PATH_MAX], path[PATH_MAX + NAME_MAX + 2];
	struct dirent *d;
	int err = 0;
	DIR *dh;

	snprintf(dir, sizeof(dir), sub ? "%s/%s" : "%s", pin_root, sub ? sub : "");
	dh = opendir(dir);
	if (!dh)
		return errno == ENOENT ? 0 : -errno;
	while ((d = readdir(dh))) {
		if (d->d_name[0] == '.' || (!sub && strncmp(d->d_name, "podlane_", 8)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		if (unlink(path) && errno != ENOENT) {
			err = -errno;
			log_error("failed to remove pin '%s': %s", path, strerror(errno));
		}
	}
	closedir(dh);
	if (sub && rmdir(dir) && errno != ENOENT) {
		err = -errno;
		log_error("failed to remove pin directory '%s': %s", dir, strerror(errno));
	}
	return err;
}

int datapath_uninstall(const char *pin_root, const char *uplink, const char *state_dir)
{
	char path[PATH_MAX], recorded[IF_NAMESIZE + 2] = "";
	int n, err = 0;
	size_t i;
	FILE *f;

	n = uninstall_endpoints(pin_root);

	snprintf(path, sizeof(path), "%s/uplink", state_dir);
	f = fopen(path, "re");
	if (f) {
		if (fgets(recorded, sizeof(recorded), f))
			recorded[strcspn(recorded, "\n")] = '\0';
		fclose(f);
	}
	for (i = 0; i < 2; i++) {
		const char *dev = i == 0 ? uplink : recorded;
		int ifindex;

		if (!dev || !dev[0] || (i == 1 && uplink && !strcmp(uplink, recorded)))
			continue;
		ifindex = if_nametoindex(dev);
		if (!ifindex) {
			log_warn("uplink not found, nothing to detach there uplink=%s", dev);
			continue;
		}
		tc_detach_ours(ifindex, dev, BPF_TC_INGRESS, "tc_from_uplink");
	}
	if (recorded[0])
		unlink(path);

	err = remove_pins(pin_root, "links") ?: err;
	err = remove_pins(pin_root, NULL) ?: err;
	if (rmdir(pin_root) && errno != ENOENT) {
		err = -errno;
		log_error("failed to remove pin directory '%s': %s", pin_root, strerror(errno));
	}
	log_info("uninstalled pin_root=%s endpoints=%d", pin_root, n);
	return err;
}
