/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * tap.h - what the test programs that print their own TAP share, until each is written with
 * kselftest_harness.h: TAP output, libbpf logging as TAP diagnostics, loading the skeletons
 * without pinning, and reading the per-CPU counters.
 */
#ifndef PODLANE_TAP_H
#define PODLANE_TAP_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "podlane.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define MAX_CPUS	256

static int test_num;
static int failures;
static bool verbose;

static inline void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static inline void report(bool pass, const char *name)
{
	test_num++;
	printf("%s %d - %s\n", pass ? "ok" : "not ok", test_num, name);
	if (!pass)
		failures++;
	fflush(stdout);
}

static inline void report_skip(const char *name, const char *why)
{
	test_num++;
	printf("ok %d - %s # SKIP %s\n", test_num, name, why);
	fflush(stdout);
}

/* libbpf's chatter becomes TAP diagnostics; the verifier log only shows when a load fails. */
static inline int libbpf_print_tap(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char *text = NULL, *line, *save = NULL;

	if (level == LIBBPF_DEBUG && !verbose)
		return 0;
	if (vasprintf(&text, fmt, ap) < 0)
		return 0;
	/* The verifier log arrives as one multi-line message. */
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		fprintf(stderr, "# %s\n", line);
	free(text);
	return 0;
}

/* Tests keep their maps to themselves: no pins, and small hash maps to load fast. */
static inline void maps_unpin_and_shrink(struct bpf_object *obj, __u32 entries)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, obj) {
		bpf_map__set_pin_path(map, NULL);
		if (bpf_map__type(map) == BPF_MAP_TYPE_HASH ||
		    bpf_map__type(map) == BPF_MAP_TYPE_PERCPU_HASH)
			bpf_map__set_max_entries(map, entries);
	}
}

/* Make obj use owner's podlane_* maps, as pinning by name does in the agent. */
static inline int maps_share(struct bpf_object *obj, struct bpf_object *owner)
{
	struct bpf_map *map, *theirs;
	int err;

	bpf_object__for_each_map(map, obj) {
		if (strncmp(bpf_map__name(map), "podlane_", 8))
			continue;	/* .rodata and friends stay private */
		theirs = bpf_object__find_map_by_name(owner, bpf_map__name(map));
		if (!theirs)
			return -ENOENT;
		err = bpf_map__reuse_fd(map, bpf_map__fd(theirs));
		if (err) {
			diag("failed to reuse map '%s': %s", bpf_map__name(map), strerror(-err));
			return err;
		}
	}
	return 0;
}

/* Sum of one endpoint's per-CPU counters; -ENOENT when the endpoint has no entry. */
static inline int ep_stats_read(int fd, __u32 ifindex, int ncpus, struct endpoint_stats *sum)
{
	static struct endpoint_stats per_cpu[MAX_CPUS];
	int cpu, s;

	memset(sum, 0, sizeof(*sum));
	if (ncpus > MAX_CPUS)
		return -E2BIG;
	if (bpf_map_lookup_elem(fd, &ifindex, per_cpu))
		return -errno;
	for (cpu = 0; cpu < ncpus; cpu++) {
		sum->rx_packets += per_cpu[cpu].rx_packets;
		sum->rx_bytes += per_cpu[cpu].rx_bytes;
		sum->tx_packets += per_cpu[cpu].tx_packets;
		sum->tx_bytes += per_cpu[cpu].tx_bytes;
		for (s = 0; s < PODLANE_DROP_SLOTS; s++)
			sum->drops[s] += per_cpu[cpu].drops[s];
	}
	return 0;
}

/* Node-wide drops by slot, summed over CPUs. */
static inline int node_drops_read(int fd, int ncpus, struct drop_counter sum[PODLANE_DROP_SLOTS])
{
	static struct drop_counter per_cpu[MAX_CPUS];
	__u32 slot;
	int cpu;

	if (ncpus > MAX_CPUS)
		return -E2BIG;
	for (slot = 0; slot < PODLANE_DROP_SLOTS; slot++) {
		if (bpf_map_lookup_elem(fd, &slot, per_cpu)) {
			diag("failed to read map 'podlane_drops': %s", strerror(errno));
			return -errno;
		}
		sum[slot].packets = sum[slot].bytes = 0;
		for (cpu = 0; cpu < ncpus; cpu++) {
			sum[slot].packets += per_cpu[cpu].packets;
			sum[slot].bytes += per_cpu[cpu].bytes;
		}
	}
	return 0;
}

static inline const char *reason_name(int reason)
{
	const char *n = podlane_drop_name(reason);

	return n ? n : "none";
}

#endif /* PODLANE_TAP_H */
