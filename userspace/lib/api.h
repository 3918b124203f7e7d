/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * api.h - podlaned's local API, used by podlane-cni and podlanectl.
 *
 * Transport: a SOCK_SEQPACKET unix socket (default PODLANE_SOCKET), one JSON object per
 * message, at most PODLANE_API_MAX_MSG bytes. A client sends one request and reads one reply;
 * the agent serves requests one at a time, so every operation is atomic with respect to the
 * others.
 *
 * Request:  { "op": "<op>", ...fields of that op... }
 * Reply:    { "ok": true, ...result fields... }
 *        or { "ok": false, "code": <CNI error code>, "msg": "...", "details": "..." }
 *
 * The error code uses the CNI numbering so podlane-cni can pass it through unchanged:
 * 3 unknown container, 4 invalid environment, 5 I/O, 7 invalid network config,
 * 11 try again later, 100+ podlane-specific (see PODLANE_ERR_*).
 *
 * Ops and their fields:
 *
 * "add"     container_id, netns (path), ifname, network, subnet ("10.244.0.0/24"),
 *           mtu (int, optional, 0 = default 1500), ip (optional "a.b.c.d": an address that a
 *           delegated IPAM plugin chose; the agent then allocates nothing).
 *           -> ip ("a.b.c.d"), prefix_len (32), gateway ("169.254.1.1"), host_ifname,
 *              host_mac, pod_mac ("aa:bb:.."), pod_ifindex.
 *           Fails with PODLANE_ERR_IF_EXISTS, leaving nothing behind, when ifname exists in
 *           the netns. Repeating an add for the same container_id+ifname+network whose
 *           endpoint is still wired returns the existing endpoint.
 * "del"     container_id, ifname, network, netns (may be "" or missing).
 *           Idempotent: succeeds when the endpoint, netns or allocation is already gone.
 * "check"   container_id, ifname, network, netns, ip ("a.b.c.d" from prevResult).
 *           Verifies the pod interface exists, holds ip/32, and routes default via the
 *           gateway; fails with PODLANE_ERR_CHECK and a msg saying what differs.
 * "gc"      network, attachments: [ { "container_id": .., "ifname": .. }, ... ]
 *           Removes endpoints and releases allocations of network not in the list.
 *           -> released (int)
 * "status"  -> version, pin_root, uplink, features {..}, programs [..], endpoints (int),
 *              ipam { network: { subnet, allocated } }
 * "endpoint_list"
 *           -> endpoints: [ { container_id, netns, network, ifname, host_ifname, ifindex,
 *              ip, pod_mac, host_mac, rx_packets, rx_bytes, tx_packets, tx_bytes,
 *              drops: { "<reason name>": n, ... },
 *              cgroup (cgroup v2 path of the pod, null until a process of the pod's netns is
 *              found), cgroup_id (its id = inode), memcg_v1 (v1 memory cgroup or null),
 *              processes (in the netns, outside the root cgroup) } ]
 *           "status" also carries accounting { enabled (BPF programs attached), source
 *              ("module": podlane.ko answers, "cgroupfs" otherwise), cpu_source,
 *              traffic_source, memory_source, psi_source, cgroup2, memcg_v1, psi_node,
 *              psi_cgroup, skb_links ("new" | "adopted" | "none"), map_entries, gc_deleted,
 *              tick_us, tie_us, module { present, version, features, kernel },
 *              errors { full_sched, full_skb, task_state } }.
 * "acct"    -> source, bpf, memory_source, psi_source, seq (ticks so far), updated_ns
 *              (CLOCK_REALTIME of the last tick), interval_ms, pods: [ { container_id,
 *              network, ifname, host_ifname, ifindex, ip, netns, cgroup, cgroup_id,
 *              processes, cpu_seconds, cpu_ns, runq_wait_seconds, runq_waits, rx_packets,
 *              rx_bytes, tx_packets, tx_bytes, memory_bytes, memory_max, psi { cpu|memory|io:
 *              { some_avg10, some_avg60, some_avg300, some_total_us, full_avg10,
 *              full_total_us } }, rates { cpu_cores, runq_per_s, runq_share, rx_bps, tx_bps,
 *              rx_pps, tx_pps }, hint { score, dominant, cpu, runq, memory, traffic } } ],
 *              node { cpus, cpu_busy, runq_per_cpu, rx_bps, tx_bps, psi }
 *           Cumulative counters (cpu_*, runq_*, rx_*, tx_*) are current to the request;
 *           rates, memory, PSI and hints are those of the last tick (at most 1 s old).
 *           runq_* and rx_/tx_* are absent without the accounting programs. Bytes are IP
 *           packet lengths (no L2 header), see struct cgroup_acct in podlane.h.
 *           Fails with PODLANE_ERR_NOT_AVAILABLE when accounting is not running.
 * "hints"   -> seq, updated_ns, interval_ms, node { score, dominant, cpu, runq, memory,
 *              traffic, cpu_headroom }, pods: [ { container_id, host_ifname, ip, cgroup,
 *              score, dominant, cpu, runq, memory, traffic } ]
 *           Scores 0 (idle) to 100 (saturated), recomputed every second; the formula is in
 *           userspace/podlaned/hints.c. PODLANE_ERR_TRY_AGAIN before the first tick.
 *
 * Services (spec format and validation in service_spec.h; same rules for every client):
 * "service_add"  service: { spec }
 *           Adds the service, or replaces the one with the same namespace/name atomically:
 *           lookups see the old or the new version, never a mix. A bad spec fails with
 *           PODLANE_ERR_INVALID_CONFIG and a msg "<field>: <problem>"; a frontend (ClusterIP,
 *           external IP or NodePort on a node address) that another service owns fails with
 *           PODLANE_ERR_CONFLICT; no free service id or a full map with PODLANE_ERR_MAP_FULL.
 *           Nothing changes on any error. Persisted in <state-dir>/services/.
 *           -> changed (false when the spec was already in place), service { service: spec
 *              with defaults and the resolved "local" of each backend, frontends: [ { kind
 *              ClusterIP|ExternalIP|NodePort, address, port, protocol, svc_id, active,
 *              local_active, slots, maglev } ] }
 * "service_del"  name ("name" or "namespace/name"), namespace (optional, default "default")
 *           Fails with PODLANE_ERR_NOT_FOUND when there is no such service. Established
 *           connections keep their backend; new ones to its frontends are no longer translated.
 * "service_list" name, namespace (optional: one service), offset, limit (paging, limit 1-500,
 *           default 200)
 *           -> services: [ { service, frontends, counters: [ { svc_id, ct_flows, ct_packets,
 *              ct_bytes } ] } ], total, lbstat { connect, sendmsg, ...: node-wide
 *              podlane_lbstat }, conntrack { available, live, max_entries, deleted_last_pass }
 *           ct_* are per-packet (NodePort/external) flows tracked in podlane_ct at the last
 *           collector pass (every 10 s); socket-LB connections are counted node-wide only.
 *
 * Other nodes (userspace/podlaned/nodes.h; routing mode is the agent's --routing, one per
 * cluster):
 * "node_add"  name (DNS-style node name), node_ip ("a.b.c.d", its underlay address), pod_cidr
 *           ("10.244.2.0/24", no host bits). Adds the node's pod CIDR route to podlane_nodes,
 *           or replaces the node of that name (new route in place before the old one goes).
 *           Refused with nothing changed: a malformed field, this node's own name or
 *           --node-ip, a pod CIDR that contains a node IP, direct routing without --uplink
 *           (PODLANE_ERR_INVALID_CONFIG, msg "<field>: <problem>"); a pod CIDR overlapping
 *           another node's or this node's IPAM subnets, or a node IP another node has
 *           (PODLANE_ERR_CONFLICT); more than PODLANE_MAX_NODES (PODLANE_ERR_MAP_FULL).
 *           Persisted in <state-dir>/nodes/<name>.
 *           -> changed (false when the same record was in place), node { name, node_ip,
 *              pod_cidr, routing }
 * "node_del"  name. Removes the node and its route; idempotent.
 *           -> removed (false when there was no such node)
 * "node_list" -> nodes: [ { name, node_ip, pod_cidr, routing ("direct" | "vxlan"),
 *              installed (podlane_nodes holds the route as the record says) } ], routing,
 *              node_name, node_ip (null unless --node-ip), vxlan_dev (null unless VXLAN)
 *           "status" carries routing, node_name, node_ip, vxlan_dev and nodes (count) too.
 *
 * Control-plane sync through etcd (userspace/podlaned/sync.c; key layout documented there):
 * "sync_status" -> enabled (false: standalone, nothing else), state ("connecting" | "listing"
 *           | "watching" | "reconnecting" | "breaker-open"), endpoint (etcd URL in use),
 *           last_error, revision (store revision applied up to), node, node_ip, pod_cidr
 *           ("" until allocated or without --cluster-cidr), breaker ("open" | "closed"),
 *           consecutive_failures, lease { id, ttl, remaining }, queue { depth, capacity },
 *           deadletters (listed now), remote_endpoints (entries in podlane_remote), nodes and
 *           services (applied from etcd), counters { events, listed, applied, ep_upserts,
 *           ep_deletes, ep_stale_deletes, node_upserts, node_deletes, svc_upserts,
 *           svc_deletes, resyncs, compactions, reconnects, failures, breaker_opens,
 *           queue_full_waits, deadletters (ever), published_puts, published_deletes,
 *           publish_errors, lease_grants, swept, resync_ms_last, first_item_ns,
 *           last_apply_ns }, latency { delivery, apply, agent, handover: { count, p50_us,
 *           p90_us, p99_us, max_us } }: from a record's "updated" to podlaned parsing it
 *           (delivery, etcd's share) and to the map update (apply), parsed -> map (agent),
 *           and node/service batches queued -> taken by the main thread (handover);
 *           loop { sync_apply, sync_snapshot, acct_tick, metrics, service_tick,
 *           api_request: { runs, avg_us, max_us, over_1ms } }: the main loop's jobs, timed.
 * "sync_deadletters" -> enabled, total (ever), deadletters: [ { key, reason, revision, at
 *           (unix seconds) } ] (the last 256; a key leaves the list once it holds a valid
 *           record or is deleted)
 */
#ifndef PODLANE_API_H
#define PODLANE_API_H

#include <stddef.h>
#include <json-c/json.h>

#define PODLANE_API_MAX_MSG	(256 * 1024)

#define PODLANE_OP_ADD		"add"
#define PODLANE_OP_DEL		"del"
#define PODLANE_OP_CHECK	"check"
#define PODLANE_OP_GC		"gc"
#define PODLANE_OP_STATUS	"status"
#define PODLANE_OP_ENDPOINTS	"endpoint_list"
#define PODLANE_OP_ACCT		"acct"
#define PODLANE_OP_HINTS	"hints"
#define PODLANE_OP_SERVICE_ADD	"service_add"
#define PODLANE_OP_SERVICE_DEL	"service_del"
#define PODLANE_OP_SERVICE_LIST	"service_list"
#define PODLANE_OP_NODE_ADD	"node_add"
#define PODLANE_OP_NODE_DEL	"node_del"
#define PODLANE_OP_NODE_LIST	"node_list"
#define PODLANE_OP_SYNC_STATUS	"sync_status"
#define PODLANE_OP_DEADLETTERS	"sync_deadletters"

/* CNI error codes (spec section "Error") and podlane's own, >= 100. */
enum podlane_err {
	PODLANE_ERR_INCOMPATIBLE_VERSION = 1,
	PODLANE_ERR_UNSUPPORTED_FIELD	= 2,
	PODLANE_ERR_UNKNOWN_CONTAINER	= 3,
	PODLANE_ERR_INVALID_ENV		= 4,
	PODLANE_ERR_IO			= 5,
	PODLANE_ERR_DECODE		= 6,
	PODLANE_ERR_INVALID_CONFIG	= 7,
	PODLANE_ERR_TRY_AGAIN		= 11,
	PODLANE_ERR_NOT_AVAILABLE	= 50,	/* STATUS: plugin not available */
	PODLANE_ERR_INTERNAL		= 100,	/* agent-side failure, msg says what */
	PODLANE_ERR_IF_EXISTS		= 101,	/* ifname already exists in the pod netns */
	PODLANE_ERR_POOL_EXHAUSTED	= 102,	/* no free address in the subnet */
	PODLANE_ERR_CHECK		= 103,	/* CHECK found a difference */
	PODLANE_ERR_NETNS		= 104,	/* netns path cannot be opened */
	PODLANE_ERR_MAP_FULL		= 105,	/* an endpoint map is full */
	PODLANE_ERR_NOT_FOUND		= 106,	/* no such service */
	PODLANE_ERR_CONFLICT		= 107,	/* frontend owned by another service */
};

/*
 * Send req to the agent at sock_path and wait for the reply (timeout_ms, 0 = 10 s).
 * Returns 0 and sets *reply (caller puts it) when a reply arrived, whatever its "ok";
 * -errno when the agent could not be reached or answered garbage, with errbuf filled.
 */
int api_call(const char *sock_path, struct json_object *req, struct json_object **reply,
	     int timeout_ms, char *errbuf, size_t errlen);

/* Build an error reply object. */
struct json_object *api_error(int code, const char *msg, const char *details);

#endif /* PODLANE_API_H */
