/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lib/maps.h - the maps every podlane datapath object shares. Each object that includes this
 * declares the same maps with LIBBPF_PIN_BY_NAME, so once podlaned loads the first object the
 * others reuse the pinned maps under the pin root instead of creating their own copies.
 * Key and value layouts live in podlane.h; sizes are defaults podlaned may change before load.
 */
#ifndef PODLANE_LIB_MAPS_H
#define PODLANE_LIB_MAPS_H

/* pod IP -> endpoint (host veth ifindex, flags, MACs); podlaned writes, all programs read. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PODLANE_MAX_ENDPOINTS);
	__type(key, struct endpoint_key);
	__type(value, struct endpoint_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} podlane_eps SEC(".maps");

/* host veth ifindex -> per-CPU rx/tx/drop counters; podlaned creates, programs count. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, PODLANE_MAX_ENDPOINTS);
	__type(key, __u32);
	__type(value, struct endpoint_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} podlane_ep_stat SEC(".maps");

/* host veth ifindex -> agent's endpoint metadata; podlaned writes and reads, datapath never. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PODLANE_MAX_ENDPOINTS);
	__type(key, __u32);
	__type(value, struct endpoint_meta);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} podlane_ep_meta SEC(".maps");

/* drop reason slot -> node-wide per-CPU drop counters; programs write, podlaned/CLI read. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PODLANE_DROP_SLOTS);
	__type(key, __u32);
	__type(value, struct drop_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} podlane_drops SEC(".maps");

/* struct drop_event records; programs produce, `podlanectl monitor` (via podlaned) consumes. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, PODLANE_EVENTS_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} podlane_events SEC(".maps");

#endif /* PODLANE_LIB_MAPS_H */
