// SPDX-License-Identifier: GPL-2.0-only
/*
 * datapath/tc.c - the tc objects: feature probes, loading tc_endpoint and tc_uplink against the
 * pinned maps (datapath/loader.h), tc attachment on pod veths, the uplink and the vxlan device,
 * and --uninstall (datapath/datapath.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "core/agent.h"
#include "core/fs.h"
#include "datapath/datapath.h"
#include "datapath/loader.h"
#include "log.h"
#include "tc_endpoint.skel.h"
#include "tc_uplink.skel.h"

struct datapath {
	struct tc_endpoint *ep_skel;
	struct tc_uplink *up_skel;
	int from_pod_fd, to_pod_fd, from_uplink_fd, from_tunnel_fd;
	int drops_fd;			/* podlane_drops, read-only */
};

void datapath_probe(struct features *f)
{
	f->redirect_peer =
		libbpf_probe_bpf_helper(BPF_PROG_TYPE_SCHED_CLS, BPF_FUNC_redirect_peer, NULL) == 1;
	f->ringbuf = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) == 1;
	f->percpu_hash = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_PERCPU_HASH, NULL) == 1;
	f->kernel_btf = access("/sys/kernel/btf/vmlinux", R_OK) == 0;
}

int datapath_open(struct agent *a)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts);
	struct datapath *dp;
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
	err = loader_pin_root_ensure(a->pin_root);
	if (err)
		return err;
	dp = calloc(1, sizeof(*dp));
	if (!dp)
		return -ENOMEM;
	a->dp = dp;
	dp->from_uplink_fd = dp->from_tunnel_fd = dp->drops_fd = -1;

	loader_open_opts(a, &opts);
	dp->ep_skel = tc_endpoint__open_opts(&opts);
	if (!dp->ep_skel)
		return loader_open_failed("tc_endpoint");
	dp->ep_skel->rodata->drop_events = a->drop_events;
	err = loader_size_maps(a, dp->ep_skel->obj) ?: tc_endpoint__load(dp->ep_skel);
	if (err)
		return loader_load_failed(a, "tc_endpoint", err);
	dp->from_pod_fd = bpf_program__fd(dp->ep_skel->progs.tc_from_pod);
	dp->to_pod_fd = bpf_program__fd(dp->ep_skel->progs.tc_to_pod);
	err = loader_map_open(a, "podlane_drops", PIN_RDONLY, &dp->drops_fd);
	if (err)
		return err;

	/* tc_uplink also holds tc_from_tunnel, for the vxlan device. */
	if (!a->uplink && a->routing != NODE_ROUTING_VXLAN)
		return 0;
	/* Loaded second, so every map it declares is found pinned and shared, never created. */
	dp->up_skel = tc_uplink__open_opts(&opts);
	if (!dp->up_skel)
		return loader_open_failed("tc_uplink");
	dp->up_skel->rodata->drop_events = a->drop_events;
	err = loader_size_maps(a, dp->up_skel->obj) ?: tc_uplink__load(dp->up_skel);
	if (err)
		return loader_load_failed(a, "tc_uplink", err);
	if (a->uplink)
		dp->from_uplink_fd = bpf_program__fd(dp->up_skel->progs.tc_from_uplink);
	dp->from_tunnel_fd = bpf_program__fd(dp->up_skel->progs.tc_from_tunnel);
	return 0;
}

void datapath_close(struct agent *a)
{
	struct datapath *dp = a->dp;

	if (!dp)
		return;
	/* Closing our fds leaves the programs running: tc and the pins hold their own refs. */
	if (dp->drops_fd >= 0)
		close(dp->drops_fd);
	tc_uplink__destroy(dp->up_skel);
	tc_endpoint__destroy(dp->ep_skel);
	free(dp);
	a->dp = NULL;
}

static int tc_attach(int ifindex, enum bpf_tc_attach_point point, int prog_fd)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = PODLANED_TC_HANDLE, .priority = PODLANED_TC_PRIO,
		    .prog_fd = prog_fd, .flags = BPF_TC_F_REPLACE);
	int err;

	/*
	 * On a device that already has clsact (every restart, every second direction) libbpf
	 * prints the kernel's "Exclusivity flag on" although -EEXIST is expected.
	 */
	loader_quiet_libbpf = true;
	err = bpf_tc_hook_create(&hook);
	loader_quiet_libbpf = false;
	if (err && err != -EEXIST)
		return err;
	return bpf_tc_attach(&hook, &opts);
}

int datapath_attach_endpoint(struct agent *a, int ifindex, struct api_error *e)
{
	char name[IF_NAMESIZE] = "?";
	int err;

	if_indextoname(ifindex, name);
	err = tc_attach(ifindex, BPF_TC_INGRESS, a->dp->from_pod_fd);
	if (err)
		return api_fail(e, PODLANE_ERR_INTERNAL,
			       "failed to attach tc_from_pod to '%s' ingress: %s", name,
			       strerror(-err));
	err = tc_attach(ifindex, BPF_TC_EGRESS, a->dp->to_pod_fd);
	if (err)
		return api_fail(e, PODLANE_ERR_INTERNAL,
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

/* The uplink is recorded in the state dir so that --uninstall finds it without --uplink. */
static void uplink_record(struct agent *a)
{
	char path[PATH_MAX], text[IF_NAMESIZE + 2];
	int err;

	snprintf(path, sizeof(path), "%s/uplink", a->state_dir);
	snprintf(text, sizeof(text), "%s\n", a->uplink);
	err = write_file_atomic(path, text, false);
	if (err)
		log_warn("failed to record uplink path=%s err=\"%s\"", path, strerror(-err));
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
	err = tc_attach(a->uplink_ifindex, BPF_TC_INGRESS, a->dp->from_uplink_fd);
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
	uplink_record(a);
	log_info("uplink attached uplink=%s ifindex=%d", a->uplink, a->uplink_ifindex);
	return 0;
}

int datapath_attach_tunnel(struct agent *a, int ifindex)
{
	int err = tc_attach(ifindex, BPF_TC_INGRESS, a->dp->from_tunnel_fd);

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

static __u32 prog_id(int prog_fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	if (prog_fd < 0 || bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return 0;
	return info.id;
}

unsigned int datapath_programs(struct agent *a, struct datapath_prog *out, unsigned int max)
{
	const struct datapath *dp = a->dp;
	const struct datapath_prog all[] = {
		{ "tc_from_pod", "tc ingress, pod host veth", prog_id(dp->from_pod_fd) },
		{ "tc_to_pod", "tc egress, pod host veth", prog_id(dp->to_pod_fd) },
		{ "tc_from_uplink", "tc ingress, uplink", prog_id(dp->from_uplink_fd) },
		{ "tc_from_tunnel", "tc ingress, vxlan", prog_id(dp->from_tunnel_fd) },
	};
	unsigned int i, n = 0;

	for (i = 0; i < sizeof(all) / sizeof(all[0]) && n < max; i++) {
		/* Loaded is not attached: the tunnel program counts once its device exists. */
		if ((i == 2 && dp->from_uplink_fd < 0) ||
		    (i == 3 && (dp->from_tunnel_fd < 0 || a->vxlan_ifindex <= 0)))
			continue;
		out[n++] = all[i];
	}
	return n;
}

int datapath_drops_read(struct agent *a, struct drop_counter sum[PODLANE_DROP_SLOTS])
{
	struct drop_counter *vals = calloc(a->ncpus, sizeof(*vals));
	__u32 slot;
	int cpu, err = 0;

	if (!vals)
		return -ENOMEM;
	for (slot = 0; slot < PODLANE_DROP_SLOTS; slot++) {
		sum[slot].packets = sum[slot].bytes = 0;
		if (bpf_map_lookup_elem(a->dp->drops_fd, &slot, vals)) {
			err = -errno;
			continue;
		}
		for (cpu = 0; cpu < a->ncpus; cpu++) {
			sum[slot].packets += vals[cpu].packets;
			sum[slot].bytes += vals[cpu].bytes;
		}
	}
	free(vals);
	return err;
}

#define VXLAN_OVERHEAD	50	/* outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14 */

unsigned int datapath_pod_mtu(struct agent *a)
{
	unsigned int mtu = 1500;
	struct nl_link link;

	if (a->uplink_ifindex > 0 && !nl_link_get(&a->nl, NULL, a->uplink_ifindex, &link) &&
	    link.mtu)
		mtu = link.mtu;
	if (a->routing == NODE_ROUTING_VXLAN)
		mtu = mtu > 68 + VXLAN_OVERHEAD ? mtu - VXLAN_OVERHEAD : 68;
	return mtu;
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
	__u32 key, next, *prev = NULL;
	int fd, n = 0;

	fd = pin_map_open(pin_root, "podlane_ep_meta", PIN_RDONLY);
	if (fd < 0) {
		if (fd != -ENOENT)
			log_warn("failed to open pinned map '%s/podlane_ep_meta': %s", pin_root,
				 strerror(-fd));
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

int datapath_uninstall(const char *pin_root, const char *uplink, const char *state_dir)
{
	char path[PATH_MAX], recorded[IF_NAMESIZE + 2] = "";
	int n, err;
	size_t i;

	n = uninstall_endpoints(pin_root);

	snprintf(path, sizeof(path), "%s/uplink", state_dir);
	if (read_small_file(path, recorded, sizeof(recorded)) > 0)
		recorded[strcspn(recorded, "\n")] = '\0';
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

	err = loader_remove_pins(pin_root);
	log_info("uninstalled pin_root=%s endpoints=%d", pin_root, n);
	return err;
}
