/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * testlib.h - what podlane's C selftests share. testlib.c is compiled once
 * (build/selftests/lib/testlib.o) and linked into every test binary; the tests themselves are
 * written with the kernel's kselftest_harness.h. This library knows nothing of the harness: it
 * logs to stderr as "# ..." lines, like TH_LOG, and returns 0 or -errno (NULL and errno, or a
 * negative pid) for the caller to ASSERT on.
 *
 * What is here: private network namespaces and veths, shell commands run for their status,
 * cgroups that are removed however the test ends, BPF objects loaded without pins, per-CPU
 * counters summed over CPUs, drop events collected from the ring buffer, checksums.
 * Set PL_VERBOSE=1 to see libbpf's debug output and every command's output.
 */
#ifndef PODLANE_TESTLIB_H
#define PODLANE_TESTLIB_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "podlane.h"

#define TL_MAX_CPUS	256
#define TL_IP4(a, b, c, d) \
	((__u32)(a) << 24 | (__u32)(b) << 16 | (__u32)(c) << 8 | (__u32)(d))

/*
 * A frame buffer as a NIC fills one (NET_IP_ALIGN): the frame, f.b, starts 2 bytes into a
 * 4-byte aligned block, so the network header after the 14-byte Ethernet header (18 with a
 * VLAN tag) is 4-byte aligned and a test may build and read struct iphdr, tcphdr, ipv6hdr in
 * place: C requires that alignment (UBSan checks it). TL_FRAME(pkt, 256); sizeof(pkt.b) is 256.
 */
#define TL_FRAME(name, room) \
	struct { __u8 pad[2]; __u8 b[room]; } __attribute__((aligned(4))) name

extern bool tl_verbose;

void tl_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
__u64 tl_now_ns(void);

/* Namespaces and devices --------------------------------------------------------------- */

/* Move this process into a new network namespace with lo up; it dies with the process. */
int tl_netns_enter(void);
/* A child that holds a fresh network namespace until it is killed or we exit; its pid. */
pid_t tl_netns_spawn(void);
/* A socket created inside the namespace held by pid; this process stays where it was. */
int tl_socket_in(pid_t holder, int type);
/* Run fn in a child inside holder's namespace; its exit status, or -1. */
int tl_run_in(pid_t holder, int (*fn)(void *arg), void *arg);

/*
 * A shell command, for its exit status (0 is success, -1 when it could not run). Its output
 * shows as diagnostics only when it fails (tl_sh) or with PL_VERBOSE; tl_sh_may_fail() is for
 * commands a test expects to fail.
 */
int tl_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int tl_sh_may_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * A veth pair: name (with mac, or one the kernel picks when NULL) here, peer (with peer_mac) in
 * the namespace held by peer_ns, or here when peer_ns is 0. Returns name's ifindex or -errno.
 */
int tl_veth_add(const char *name, const char *mac, const char *peer, const char *peer_mac,
		pid_t peer_ns);
int tl_sysctl_write(const char *path, const char *val);
int tl_forwarding_set(const char *dev, bool on);
int tl_mac_parse(const char *s, __u8 mac[6]);

/* cgroups ------------------------------------------------------------------------------ */

int tl_cgroup2_mount(char *buf, size_t len);
/*
 * A fresh cgroup <cgroup2 mount>/podlane-<what>-<main pid>-<pid>. Whatever this test binary
 * leaves behind is removed when its main process exits, even after a crash or timeout of the
 * test process that made it.
 */
int tl_cgroup_create(const char *what, char *path, size_t len);
int tl_cgroup_join(const char *dir);
/* Kill what runs in dir and below, then remove them all (the caller must not be inside). */
int tl_cgroup_destroy(const char *dir);

/* BPF objects and maps -------------------------------------------------------------------- */

/* Tests keep their maps to themselves: no pins, and small hash maps to load fast. */
void tl_maps_private(struct bpf_object *obj, __u32 hash_entries);
/* Make obj use owner's podlane_* maps, as pinning by name does in the agent. */
int tl_maps_share(struct bpf_object *obj, struct bpf_object *owner);
int tl_ncpus(void);
/* Sum over CPUs of a per-CPU __u64 array slot (podlane_lbstat and friends); ~0 on error. */
__u64 tl_percpu_sum(int fd, __u32 key);
/* One endpoint's per-CPU counters summed; -ENOENT when it has no entry. */
int tl_ep_stats_read(int fd, __u32 ifindex, struct endpoint_stats *sum);
/* Node-wide drops by slot, summed over CPUs. */
int tl_node_drops_read(int fd, struct drop_counter sum[PODLANE_DROP_SLOTS]);
/* Packets dropped node-wide for one reason; ~0 on error. */
__u64 tl_node_drops(int fd, int reason);
const char *tl_reason_name(int reason);
/*
 * An endpoint as the agent writes it: zeroed counters first (kept when they exist), then the
 * endpoint (created or replaced). ip in network order.
 */
int tl_endpoint_add(int eps_fd, int stat_fd, __be32 ip, const __u8 pod_mac[6],
		    const __u8 host_mac[6], __u32 ifindex, __u32 flags);
/* One clsact per device, then one filter per direction (either may be NULL): handle 1, prio 1. */
int tl_tc_attach(int ifindex, const struct bpf_program *ingress,
		 const struct bpf_program *egress);

/*
 * Drop events from podlane_events. Flow records (network policy, struct flow_event) share the
 * ring buffer: they are kept apart, in flow[], so ev[] holds drop events only.
 */
struct tl_events {
	struct ring_buffer *rb;
	struct drop_event ev[64];
	int n;
	struct flow_event flow[16];
	int nflow;
};

int tl_events_open(struct tl_events *e, int map_fd);
void tl_events_close(struct tl_events *e);
/* Consume what is queued and forget it. */
void tl_events_drain(struct tl_events *e);
/* Consume what is queued into ev[] (and flow records into flow[]); returns n. */
int tl_events_poll(struct tl_events *e);
/* After a poll, the first event with this reason, or NULL. */
const struct drop_event *tl_events_find(struct tl_events *e, int reason);

/* Checksums ------------------------------------------------------------------------------ */

/* Big-endian 16-bit words of p added to sum (an odd last byte padded with zero). */
__u32 tl_csum_add(__u32 sum, const void *p, size_t len);
__u16 tl_csum_fold(__u32 sum);
/* True when the header's own checksum is right. */
bool tl_ip_csum_ok(const void *iphdr, size_t len);

#endif /* PODLANE_TESTLIB_H */
