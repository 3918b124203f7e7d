// SPDX-License-Identifier: GPL-2.0-only
/*
 * lb_datapath.c - the service LB's programs: sock_lb's four cgroup sock_addr programs and, on a
 * node with an uplink, xdp_from_uplink. Both objects share the pinned maps that tc_endpoint
 * created (it is loaded first), so they only ever reuse them.
 *
 * Attachment is through bpf_links pinned under <pin-root>/links/. A pinned link outlives the
 * agent, so service connections never notice a restart; the next agent finds the pin, checks
 * that it still points at the wanted cgroup (or uplink) and swaps its program in place with
 * BPF_LINK_UPDATE. The link id stays, and the hook is never attached twice. --uninstall
 * (datapath.c) unpins everything under links/, which detaches them.
 *
 * xdp_from_uplink's NodePort fast path is set from --xdp-nodeport before load (open_xdp());
 * endpoint.c readies the pods for it when a->xdp_fastpath says so.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>

#include "agent.h"
#include "log.h"
#include "service.h"
#include "sock_lb.skel.h"
#include "xdp_uplink.skel.h"

static const char *const link_names[] = {
	"sock_connect4", "sock_sendmsg4", "sock_recvmsg4", "sock_getpeername4", "xdp_from_uplink",
};

static int cgroup_v2_root(char *out, size_t len)
{
	char dev[256], dir[PATH_MAX], type[64];
	int found = -ENOENT;
	FILE *f;

	f = fopen("/proc/mounts", "re");
	if (!f)
		return -errno;
	while (fscanf(f, "%255s %4095s %63s %*[^\n]", dev, dir, type) == 3) {
		if (!strcmp(type, "cgroup2")) {
			snprintf(out, len, "%s", dir);
			found = 0;
			break;
		}
	}
	fclose(f);
	return found;
}

static void link_path(const char *pin_root, const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s/" LB_LINK_DIR "/%s", pin_root, name);
}

/*
 * The pinned link `name` when it is attached where we want it (cgroup id or ifindex), updated
 * to prog_fd. -ENOENT when there is none or it points elsewhere (then it is unpinned, which
 * detaches it once the last reference goes).
 */
static int link_adopt(const char *path, const char *name, int prog_fd, bool xdp, __u64 target,
		      __u32 *link_id)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	int fd, err;

	fd = bpf_obj_get(path);
	if (fd < 0)
		return -ENOENT;
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		err = -errno;
		close(fd);
		return err;
	}
	if (xdp ? info.type != BPF_LINK_TYPE_XDP || info.xdp.ifindex != target :
		  info.type != BPF_LINK_TYPE_CGROUP || info.cgroup.cgroup_id != target) {
		log_info("pinned link points elsewhere, replacing it link=%s id=%u", name, info.id);
		close(fd);
		unlink(path);
		return -ENOENT;
	}
	if (bpf_link_update(fd, prog_fd, NULL)) {
		err = -errno;
		log_error("failed to update link '%s' to the new program: %s", name,
			  strerror(errno));
		close(fd);
		return err;
	}
	*link_id = info.id;
	close(fd);
	log_info("link adopted link=%s id=%u", name, info.id);
	return 0;
}

static int link_attach(const char *pin_root, const char *name, int prog_fd, int target_fd,
		       enum bpf_attach_type type, bool xdp, __u64 target)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info), id = 0;
	char path[PATH_MAX];
	int fd, err;

	link_path(pin_root, name, path, sizeof(path));
	err = link_adopt(path, name, prog_fd, xdp, target, &id);
	if (err != -ENOENT)
		return err;
	fd = bpf_link_create(prog_fd, target_fd, type, NULL);
	if (fd < 0) {
		err = -errno;
		log_error("failed to attach program '%s': %s", name, strerror(errno));
		return err;
	}
	if (bpf_obj_pin(fd, path)) {
		err = -errno;
		log_error("failed to pin link '%s': %s", path, strerror(errno));
		close(fd);
		return err;
	}
	bpf_obj_get_info_by_fd(fd, &info, &len);
	close(fd);
	log_info("link created link=%s id=%u", name, info.id);
	return 0;
}

/*
 * The maps these objects share were created by tc_endpoint, sized by --max-endpoints or from
 * memory: take each pinned map's size, so libbpf reuses it instead of refusing the object.
 */
static void follow_pinned_sizes(const char *pin_root, struct bpf_object *obj)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, obj) {
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);
		char path[PATH_MAX];
		int fd;

		snprintf(path, sizeof(path), "%s/%s", pin_root, bpf_map__name(map));
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) && info.max_entries)
			bpf_map__set_max_entries(map, info.max_entries);
		close(fd);
	}
}

static int attach_sock_lb(struct agent *a, struct lb_state *lb)
{
	const struct {
		struct bpf_program *prog;
		enum bpf_attach_type type;
	} hooks[] = {
		{ lb->sock_skel->progs.sock_connect4, BPF_CGROUP_INET4_CONNECT },
		{ lb->sock_skel->progs.sock_sendmsg4, BPF_CGROUP_UDP4_SENDMSG },
		{ lb->sock_skel->progs.sock_recvmsg4, BPF_CGROUP_UDP4_RECVMSG },
		{ lb->sock_skel->progs.sock_getpeername4, BPF_CGROUP_INET4_GETPEERNAME },
	};
	struct stat st;
	size_t i;
	int cg, err = 0;

	cg = open(lb->cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0 || fstat(cg, &st)) {
		err = -errno;
		log_error("failed to open cgroup '%s': %s", lb->cgroup, strerror(errno));
		if (cg >= 0)
			close(cg);
		return err;
	}
	/* On cgroup v2 the cgroup id is the kernfs inode number of its directory. */
	for (i = 0; i < sizeof(hooks) / sizeof(hooks[0]) && !err; i++)
		err = link_attach(a->pin_root, bpf_program__name(hooks[i].prog),
				  bpf_program__fd(hooks[i].prog), cg, hooks[i].type, false,
				  st.st_ino);
	close(cg);
	return err;
}

/*
 * A NIC has a parent device (PCI, virtio, ...) under /sys/class/net/<if>/device; veth, tun,
 * bridges, bonds and other software devices do not. The distinction matters for the NodePort
 * fast path: only frames from a wire are sure to carry complete checksums. A veth uplink hands
 * XDP what its peer's stack sent, CHECKSUM_PARTIAL by default, whose TCP/UDP field holds the
 * pseudo-header sum only; an XDP program sees no ip_summed and cannot tell (the field looks like
 * any other checksum), so the incremental update would corrupt every such segment.
 */
static bool uplink_is_nic(const char *ifname)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/class/net/%s/device", ifname);
	return !access(path, F_OK);
}

static const char *xdp_mode_name(__u8 mode)
{
	switch (mode) {
	case XDP_ATTACHED_DRV:	return "native";
	case XDP_ATTACHED_SKB:	return "generic";
	case XDP_ATTACHED_HW:	return "offload";
	case XDP_ATTACHED_MULTI: return "multi";
	}
	return "none";
}

static __u8 xdp_attach_mode(int ifindex)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);

	if (bpf_xdp_query(ifindex, 0, &q))
		return XDP_ATTACHED_NONE;
	return q.attach_mode;
}

static int open_xdp(struct agent *a, struct lb_state *lb)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = a->pin_root);
	const char *why;
	bool fastpath;
	__u8 mode;
	int ifindex, err;

	ifindex = if_nametoindex(a->uplink);
	if (!ifindex) {
		log_error("failed to find uplink '%s': %s", a->uplink, strerror(errno));
		return -ENODEV;
	}
	switch (a->xdp_nodeport) {
	case XDP_NODEPORT_ON:
		fastpath = true;
		why = "--xdp-nodeport on";
		break;
	case XDP_NODEPORT_OFF:
		fastpath = false;
		why = "--xdp-nodeport off";
		break;
	default:
		fastpath = uplink_is_nic(a->uplink);
		why = fastpath ? "auto: NIC uplink" :
				 "auto: uplink is a software device (veth: partial checksums)";
		break;
	}
	lb->xdp_skel = xdp_uplink__open_opts(&opts);
	if (!lb->xdp_skel) {
		err = -errno;
		log_error("failed to open BPF object 'xdp_uplink': %s", strerror(errno));
		return err;
	}
	lb->xdp_skel->rodata->drop_events = a->drop_events;
	/*
	 * A restart with another setting needs nothing more: link_adopt() swaps this program,
	 * rodata and all, into the pinned link, and endpoint_xdp_rx_sync() then sets or clears
	 * the endpoints' flags. Either order is safe, the program wants rodata and flag both.
	 */
	lb->xdp_skel->rodata->nodeport_fastpath = fastpath;
	follow_pinned_sizes(a->pin_root, lb->xdp_skel->obj);
	err = xdp_uplink__load(lb->xdp_skel);
	if (err) {
		log_error("failed to load BPF object 'xdp_uplink': %s", strerror(-err));
		return err;
	}
	err = link_attach(a->pin_root, "xdp_from_uplink",
			  bpf_program__fd(lb->xdp_skel->progs.xdp_from_uplink), ifindex, BPF_XDP,
			  true, ifindex);
	if (err)
		return err;
	/*
	 * Generic (skb) XDP on a NIC keeps the driver's CHECKSUM_COMPLETE, which the rewrite
	 * would leave stale: auto wants the native mode, where the pod's NAPI builds a fresh skb.
	 * The program then has the fast path compiled in but no endpoint gets the flag, so no
	 * packet takes it.
	 */
	mode = xdp_attach_mode(ifindex);
	if (fastpath && a->xdp_nodeport == XDP_NODEPORT_AUTO && mode != XDP_ATTACHED_DRV) {
		fastpath = false;
		why = "auto: the uplink driver runs XDP in generic mode only";
	}
	a->xdp_fastpath = fastpath;
	log_info("xdp nodeport fast path %s uplink=%s xdp_mode=%s reason=\"%s\"",
		 fastpath ? "on" : "off", a->uplink, xdp_mode_name(mode), why);
	return 0;
}

int lb_datapath_open(struct agent *a, const char *cgroup)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = a->pin_root);
	struct lb_state *lb;
	char dir[PATH_MAX];
	int err;

	lb = calloc(1, sizeof(*lb));
	if (!lb)
		return -ENOMEM;
	a->lb = lb;
	lb->ct_fd = -1;
	if (cgroup) {
		snprintf(lb->cgroup, sizeof(lb->cgroup), "%s", cgroup);
	} else {
		err = cgroup_v2_root(lb->cgroup, sizeof(lb->cgroup));
		if (err) {
			log_error("failed to find the cgroup v2 mount: %s (use --cgroup)",
				  strerror(-err));
			return err;
		}
	}
	snprintf(dir, sizeof(dir), "%s/" LB_LINK_DIR, a->pin_root);
	if (mkdir(dir, 0700) && errno != EEXIST) {
		err = -errno;
		log_error("failed to create link directory '%s': %s", dir, strerror(errno));
		return err;
	}

	lb->sock_skel = sock_lb__open_opts(&opts);
	if (!lb->sock_skel) {
		err = -errno;
		log_error("failed to open BPF object 'sock_lb': %s", strerror(errno));
		return err;
	}
	follow_pinned_sizes(a->pin_root, lb->sock_skel->obj);
	err = sock_lb__load(lb->sock_skel);
	if (err) {
		log_error("failed to load BPF object 'sock_lb': %s", strerror(-err));
		return err;
	}
	lb->svc_fd = bpf_map__fd(lb->sock_skel->maps.podlane_svc);
	lb->be_fd = bpf_map__fd(lb->sock_skel->maps.podlane_backend);
	lb->maglev_fd = bpf_map__fd(lb->sock_skel->maps.podlane_maglev);
	lb->affin_fd = bpf_map__fd(lb->sock_skel->maps.podlane_affin);
	lb->lbstat_fd = bpf_map__fd(lb->sock_skel->maps.podlane_lbstat);
	snprintf(dir, sizeof(dir), "%s/podlane_ct", a->pin_root);
	lb->ct_fd = bpf_obj_get(dir);	/* the per-packet path's; absent on older builds */

	err = attach_sock_lb(a, lb);
	if (!err && a->uplink)
		err = open_xdp(a, lb);
	if (!err)
		log_info("service LB attached cgroup=%s xdp=%s", lb->cgroup,
			 a->uplink ? a->uplink : "none");
	return err;
}

void lb_datapath_close(struct agent *a)
{
	struct lb_state *lb = a->lb;

	if (!lb)
		return;
	/* The pinned links keep the programs attached; only our references go. */
	if (lb->ct_fd >= 0)
		close(lb->ct_fd);
	xdp_uplink__destroy(lb->xdp_skel);
	sock_lb__destroy(lb->sock_skel);
	free(lb);
	a->lb = NULL;
}

void lb_datapath_status(struct agent *a, struct json_object *progs)
{
	char path[PATH_MAX];
	size_t i;

	for (i = 0; i < sizeof(link_names) / sizeof(link_names[0]); i++) {
		struct bpf_link_info info = {};
		__u32 len = sizeof(info);
		struct json_object *p;
		int fd;

		link_path(a->pin_root, link_names[i], path, sizeof(path));
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, &info, &len)) {
			p = json_object_new_object();
			json_object_object_add(p, "name", json_object_new_string(link_names[i]));
			json_object_object_add(p, "hook", json_object_new_string(
				i == 4 ? "xdp, uplink" : "cgroup sock_addr"));
			json_object_object_add(p, "id", json_object_new_int64(info.prog_id));
			json_object_object_add(p, "link_id", json_object_new_int64(info.id));
			if (i == 4) {
				json_object_object_add(p, "ifindex",
						       json_object_new_int64(info.xdp.ifindex));
				json_object_object_add(p, "xdp_mode", json_object_new_string(
					xdp_mode_name(xdp_attach_mode(info.xdp.ifindex))));
				json_object_object_add(p, "nodeport_fastpath",
						       json_object_new_boolean(a->xdp_fastpath));
			} else
				json_object_object_add(p, "cgroup",
						       json_object_new_string(a->lb->cgroup));
			json_object_array_add(progs, p);
		}
		close(fd);
	}
}
