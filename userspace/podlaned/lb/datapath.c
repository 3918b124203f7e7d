// SPDX-License-Identifier: GPL-2.0-only
/*
 * lb/datapath.c - the service LB's programs: sock_lb's four cgroup sock_addr programs and, on a
 * node with an uplink, xdp_from_uplink. Both objects share the pinned maps that tc_endpoint
 * created (it is loaded first), so they only ever reuse them.
 *
 * Attachment is through bpf_links pinned under <pin-root>/links/ (datapath/loader.h). A pinned
 * link outlives the agent, so service connections never notice a restart; the next agent
 * adopts it and swaps its program in place. --uninstall unpins everything under links/, which
 * detaches them.
 *
 * xdp_from_uplink's NodePort fast path is set from --xdp-nodeport before load (open_xdp());
 * endpoint/ readies the pods for it when a->xdp_fastpath says so.
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

#include "core/agent.h"
#include "datapath/loader.h"
#include "lb/lb_int.h"
#include "log.h"
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
				  bpf_program__fd(hooks[i].prog), cg, hooks[i].type, LINK_CGROUP,
				  st.st_ino, NULL);
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
	LIBBPF_OPTS(bpf_object_open_opts, opts);
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
	loader_open_opts(a, &opts);
	lb->xdp_skel = xdp_uplink__open_opts(&opts);
	if (!lb->xdp_skel)
		return loader_open_failed("xdp_uplink");
	lb->xdp_skel->rodata->drop_events = a->drop_events;
	/*
	 * A restart with another setting needs nothing more: link_adopt() swaps this program,
	 * rodata and all, into the pinned link, and endpoint_xdp_rx_sync() then sets or clears
	 * the endpoints' flags. Either order is safe, the program wants rodata and flag both.
	 */
	lb->xdp_skel->rodata->nodeport_fastpath = fastpath;
	err = loader_size_maps(a, lb->xdp_skel->obj) ?: xdp_uplink__load(lb->xdp_skel);
	if (err)
		return loader_load_failed(a, "xdp_uplink", err);
	err = link_attach(a->pin_root, "xdp_from_uplink",
			  bpf_program__fd(lb->xdp_skel->progs.xdp_from_uplink), ifindex, BPF_XDP,
			  LINK_XDP, ifindex, NULL);
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
	LIBBPF_OPTS(bpf_object_open_opts, opts);
	struct lb_state *lb;
	int err;

	lb = calloc(1, sizeof(*lb));
	if (!lb)
		return -ENOMEM;
	a->lb = lb;
	lb->svc_fd = lb->be_fd = lb->maglev_fd = lb->affin_fd = lb->ct_fd = lb->lbstat_fd = -1;
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
	loader_open_opts(a, &opts);
	lb->sock_skel = sock_lb__open_opts(&opts);
	if (!lb->sock_skel)
		return loader_open_failed("sock_lb");
	err = loader_size_maps(a, lb->sock_skel->obj) ?: sock_lb__load(lb->sock_skel);
	if (err)
		return loader_load_failed(a, "sock_lb", err);
	/* lb/ is the one writer of these maps; podlane_lbstat is the programs' alone. */
	err = loader_map_open(a, "podlane_svc", PIN_RW, &lb->svc_fd) ?:
	      loader_map_open(a, "podlane_backend", PIN_RW, &lb->be_fd) ?:
	      loader_map_open(a, "podlane_maglev", PIN_RW, &lb->maglev_fd) ?:
	      loader_map_open(a, "podlane_affin", PIN_RW, &lb->affin_fd) ?:
	      loader_map_open(a, "podlane_ct", PIN_RW, &lb->ct_fd) ?:
	      loader_map_open(a, "podlane_lbstat", PIN_RDONLY, &lb->lbstat_fd);
	if (err)
		return err;

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
	int fds[6], i;

	if (!lb)
		return;
	fds[0] = lb->svc_fd;
	fds[1] = lb->be_fd;
	fds[2] = lb->maglev_fd;
	fds[3] = lb->affin_fd;
	fds[4] = lb->ct_fd;
	fds[5] = lb->lbstat_fd;
	/* The pinned links keep the programs attached; only our references go. */
	for (i = 0; i < 6; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	xdp_uplink__destroy(lb->xdp_skel);
	sock_lb__destroy(lb->sock_skel);
	free(lb);
	a->lb = NULL;
}

unsigned int lb_datapath_programs(struct agent *a, struct lb_prog *out, unsigned int max)
{
	unsigned int i, n = 0;

	for (i = 0; i < sizeof(link_names) / sizeof(link_names[0]) && n < max; i++) {
		struct lb_prog *p = &out[n];
		struct bpf_link_info info;
		bool xdp = i == 4;

		if (link_info(a->pin_root, link_names[i], &info))
			continue;
		memset(p, 0, sizeof(*p));
		p->name = link_names[i];
		p->hook = xdp ? "xdp, uplink" : "cgroup sock_addr";
		p->prog_id = info.prog_id;
		p->link_id = info.id;
		if (xdp) {
			p->xdp = true;
			p->ifindex = info.xdp.ifindex;
			p->xdp_mode = xdp_mode_name(xdp_attach_mode(info.xdp.ifindex));
		} else {
			p->cgroup = a->lb->cgroup;
		}
		n++;
	}
	return n;
}

int lb_stat_read(struct agent *a, __u32 slot, __u64 *sum)
{
	__u64 *vals = calloc(a->ncpus, sizeof(*vals));
	int cpu, err = 0;

	if (!vals)
		return -ENOMEM;
	*sum = 0;
	if (bpf_map_lookup_elem(a->lb->lbstat_fd, &slot, vals))
		err = -errno;
	for (cpu = 0; !err && cpu < a->ncpus; cpu++)
		*sum += vals[cpu];
	free(vals);
	return err;
}
