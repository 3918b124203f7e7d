// SPDX-License-Identifier: GPL-2.0-only
/*
 * api_ops.c - the fields of every local API operation (api_ops.h), listed once for the codec
 * (api_schema.h); the typed encode/decode/call functions of each operation; the envelope
 * that requests and replies share.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "api_ops.h"

#define NO_ERR	0	/* a bad value is PODLANE_ERR_DECODE */

/* ---- envelopes ---- */

API_SCHEMA(req_head_schema, struct api_req_head,
	API_STR(struct api_req_head, op),
);

API_SCHEMA(reply_head_schema, struct api_reply_head,
	API_BOOL(struct api_reply_head, ok),
	API_I64_IF(struct api_reply_head, code, has_code),
	API_STR_OPT(struct api_reply_head, msg),
	API_STR_OPT(struct api_reply_head, details),
);

/* ---- add, del, check, gc ---- */

#define T struct api_label
API_SCHEMA(label_schema, T,
	API_STR(T, key),
	API_STR_NULL(T, value),
);
#undef T

#define T struct api_add_req
API_SCHEMA(add_req_schema, T,
	API_STR(T, container_id),
	API_STR(T, netns),
	API_STR(T, ifname),
	API_STR(T, network),
	API_STR_OPT(T, subnet),
	API_INT_IF(T, mtu, has_mtu, 0, 65535, PODLANE_ERR_INVALID_CONFIG),
	API_STR_OPT(T, ip),
	API_BOOL_IF(T, default_route, has_default_route),
	API_STR_OPT(T, pod_namespace),
	API_STR_OPT(T, pod_name),
	API_ARRAY_IF(T, labels, label_schema, has_labels),
);
#undef T

#define T struct api_add_reply
API_SCHEMA(add_reply_schema, T,
	API_STR(T, ip),
	API_I64(T, prefix_len),
	API_STR(T, gateway),
	API_STR(T, host_ifname),
	API_I64(T, host_ifindex),
	API_STR(T, host_mac),
	API_STR(T, pod_mac),
	API_I64(T, pod_ifindex),
	API_BOOL_IF(T, default_route, has_default_route),
);
#undef T

#define T struct api_del_req
API_SCHEMA(del_req_schema, T,
	API_STR(T, container_id),
	API_STR(T, ifname),
	API_STR(T, network),
	API_STR_OPT(T, netns),
);
#undef T
API_SCHEMA_EMPTY(del_reply_schema, struct api_del_reply);

#define T struct api_check_req
API_SCHEMA(check_req_schema, T,
	API_STR(T, container_id),
	API_STR(T, ifname),
	API_STR(T, network),
	API_STR_OPT(T, netns),
	API_STR_OPT(T, ip),
);
#undef T
API_SCHEMA_EMPTY(check_reply_schema, struct api_check_reply);

#define T struct api_gc_attachment
API_SCHEMA(gc_attachment_schema, T,
	API_STR(T, container_id),
	API_STR(T, ifname),
);
#undef T

#define T struct api_gc_req
API_SCHEMA(gc_req_schema, T,
	API_STR(T, network),
	API_ARRAY_IF(T, attachments, gc_attachment_schema, has_attachments),
);
#undef T

#define T struct api_gc_reply
API_SCHEMA(gc_reply_schema, T,
	API_I64(T, released),
);
#undef T

/* ---- status ---- */

#define T struct api_status_req
API_SCHEMA(status_req_schema, T,
	API_STR_OPT(T, network),
);
#undef T

#define T struct api_features
API_SCHEMA(features_schema, T,
	API_BOOL(T, redirect_peer),
	API_BOOL(T, ringbuf),
	API_BOOL(T, percpu_hash),
	API_BOOL(T, kernel_btf),
	API_BOOL(T, drop_events),
);
#undef T

#define T struct api_program
API_SCHEMA(program_schema, T,
	API_STR(T, name),
	API_STR(T, hook),
	API_I64(T, id),
	API_I64_IF(T, link_id, has_link_id),
	API_I64_IF(T, tc_handle, has_tc_handle),
	API_I64_IF(T, tc_priority, has_tc_priority),
	API_I64_IF(T, ifindex, has_ifindex),
	API_STR_OPT(T, xdp_mode),
	API_BOOL_IF(T, nodeport_fastpath, has_nodeport_fastpath),
	API_STR_OPT(T, cgroup),
);
#undef T

#define T struct api_acct_module
API_SCHEMA(acct_module_schema, T,
	API_BOOL(T, present),
	API_I64_IF(T, version, has_version),
	API_I64_IF(T, features, has_features),
	API_STR_OPT(T, kernel),
);
#undef T

#define T struct api_acct_errors
API_SCHEMA(acct_errors_schema, T,
	API_I64(T, full_sched),
	API_I64(T, full_skb),
	API_I64(T, task_state),
);
#undef T

#define T struct api_acct_status
API_SCHEMA(acct_status_schema, T,
	API_BOOL(T, enabled),
	API_STR_IF(T, source, has_details),
	API_STR_IF(T, cpu_source, has_details),
	API_STR_IF(T, traffic_source, has_details),
	API_STR_IF(T, memory_source, has_details),
	API_STR_IF(T, psi_source, has_details),
	API_STR_IF(T, cgroup2, has_details),
	API_STR_IF(T, memcg_v1, has_details),
	API_BOOL_IF(T, psi_node, has_details),
	API_BOOL_IF(T, psi_cgroup, has_details),
	API_STR_IF(T, skb_links, has_details),
	API_I64_IF(T, map_entries, has_details),
	API_I64_IF(T, gc_deleted, has_details),
	API_I64_IF(T, tick_us, has_details),
	API_I64_IF(T, tie_us, has_details),
	API_OBJ_IF(T, module, acct_module_schema, has_details),
	API_OBJ_IF(T, errors, acct_errors_schema, has_details),
);
#undef T

#define T struct api_node_routing
API_SCHEMA(node_routing_schema, T,
	API_STR(T, routing),
	API_STR_NULL(T, node_name),
	API_STR_NULL(T, node_ip),
	API_STR_NULL(T, vxlan_dev),
);
#undef T

#define T struct api_ipam_pool
API_SCHEMA(ipam_pool_schema, T,
	API_KEY(T, network),
	API_STR(T, subnet),
	API_I64(T, allocated),
);
#undef T

#define T struct api_status_reply
API_SCHEMA(status_reply_schema, T,
	API_STR(T, version),
	API_STR(T, pin_root),
	API_STR(T, state_dir),
	API_STR_NULL(T, uplink),
	API_I64(T, max_endpoints),
	API_OBJ(T, features, features_schema),
	API_ARRAY(T, programs, program_schema),
	API_I64(T, endpoints),
	API_COUNTS(T, drops),
	API_OBJ(T, accounting, acct_status_schema),
	API_INLINE(T, node_routing, node_routing_schema),
	API_I64(T, nodes),
	API_MAP(T, ipam, ipam_pool_schema),
);
#undef T

/* ---- endpoint_list ---- */

#define T struct api_endpoint_list_req
API_SCHEMA(endpoint_list_req_schema, T,
	API_INT_IF(T, offset, has_offset, 0, INT64_MAX, NO_ERR),
	API_INT_IF(T, limit, has_limit, 1, PODLANE_API_LIST_LIMIT_MAX, NO_ERR),
);
#undef T

#define T struct api_endpoint
API_SCHEMA(endpoint_schema, T,
	API_STR(T, container_id),
	API_STR(T, netns),
	API_STR(T, network),
	API_STR(T, ifname),
	API_STR(T, host_ifname),
	API_I64(T, ifindex),
	API_I64(T, pod_ifindex),
	API_STR(T, ip),
	API_STR(T, pod_mac),
	API_STR(T, host_mac),
	API_BOOL(T, ready),
	API_BOOL(T, ipam_delegated),
	API_I64(T, created_ns),
	API_I64(T, rx_packets),
	API_I64(T, rx_bytes),
	API_I64(T, tx_packets),
	API_I64(T, tx_bytes),
	API_COUNTS(T, drops),
	API_STR_NULL(T, cgroup),
	API_I64_NULL(T, cgroup_id, has_cgroup_id),
	API_STR_IF(T, memcg_v1, has_cgroup_details),
	API_I64_IF(T, processes, has_cgroup_details),
);
#undef T

#define T struct api_endpoint_list_reply
API_SCHEMA(endpoint_list_reply_schema, T,
	API_ARRAY(T, endpoints, endpoint_schema),
	API_I64_IF(T, total, has_total),
	API_I64_IF(T, next_offset, has_next_offset),
);
#undef T

size_t api_endpoint_encoded_len(const struct api_endpoint *ep)
{
	return api_encoded_len(&endpoint_schema, ep);
}

/* ---- acct ---- */

API_SCHEMA_EMPTY(acct_req_schema, struct api_acct_req);

#define T struct api_psi_resource
API_SCHEMA(psi_resource_schema, T,
	API_DBL(T, some_avg10),
	API_DBL(T, some_avg60),
	API_DBL(T, some_avg300),
	API_I64(T, some_total_us),
	API_DBL_IF(T, full_avg10, has_full),
	API_I64_IF(T, full_total_us, has_full),
);
#undef T

#define T struct api_psi
API_SCHEMA(psi_schema, T,
	API_OBJ_IF(T, cpu, psi_resource_schema, has_cpu),
	API_OBJ_IF(T, memory, psi_resource_schema, has_memory),
	API_OBJ_IF(T, io, psi_resource_schema, has_io),
);
#undef T

#define T struct api_acct_rates
API_SCHEMA(acct_rates_schema, T,
	API_DBL(T, cpu_cores),
	API_DBL(T, runq_per_s),
	API_DBL(T, runq_share),
	API_DBL(T, rx_bps),
	API_DBL(T, tx_bps),
	API_DBL(T, rx_pps),
	API_DBL(T, tx_pps),
);
#undef T

#define T struct api_hint
API_SCHEMA(hint_schema, T,
	API_DBL(T, score),
	API_STR(T, dominant),
	API_DBL(T, cpu),
	API_DBL(T, cpu_pressure),
	API_DBL(T, runq),
	API_DBL(T, memory),
	API_DBL(T, traffic),
);
#undef T

#define T struct api_acct_pod
API_SCHEMA(acct_pod_schema, T,
	API_STR(T, container_id),
	API_STR(T, network),
	API_STR(T, ifname),
	API_STR(T, host_ifname),
	API_I64(T, ifindex),
	API_STR(T, ip),
	API_STR(T, netns),
	API_STR_NULL(T, cgroup),
	API_I64_NULL(T, cgroup_id, has_cgroup_id),
	API_I64(T, processes),
	API_DBL(T, cpu_seconds),
	API_I64(T, cpu_ns),
	API_DBL_IF(T, runq_wait_seconds, has_bpf_counters),
	API_I64_IF(T, runq_waits, has_bpf_counters),
	API_I64_IF(T, rx_packets, has_bpf_counters),
	API_I64_IF(T, rx_bytes, has_bpf_counters),
	API_I64_IF(T, tx_packets, has_bpf_counters),
	API_I64_IF(T, tx_bytes, has_bpf_counters),
	API_I64_NULL(T, memory_bytes, has_memory_bytes),
	API_I64_NULL(T, memory_max, has_memory_max),
	API_OBJ(T, psi, psi_schema),
	API_OBJ(T, rates, acct_rates_schema),
	API_OBJ(T, hint, hint_schema),
);
#undef T

#define T struct api_acct_node
API_SCHEMA(acct_node_schema, T,
	API_I64(T, cpus),
	API_DBL(T, cpu_busy),
	API_DBL(T, runq_per_cpu),
	API_DBL(T, rx_bps),
	API_DBL(T, tx_bps),
	API_OBJ_NULL(T, psi, psi_schema, has_psi),
);
#undef T

#define T struct api_acct_reply
API_SCHEMA(acct_reply_schema, T,
	API_STR(T, source),
	API_BOOL(T, bpf),
	API_STR(T, memory_source),
	API_STR(T, psi_source),
	API_I64(T, seq),
	API_I64(T, updated_ns),
	API_I64(T, interval_ms),
	API_ARRAY(T, pods, acct_pod_schema),
	API_OBJ(T, node, acct_node_schema),
);
#undef T

/* ---- hints ---- */

API_SCHEMA_EMPTY(hints_req_schema, struct api_hints_req);

#define T struct api_hints_node
API_SCHEMA(hints_node_schema, T,
	API_INLINE(T, hint, hint_schema),
	API_DBL(T, cpu_headroom),
);
#undef T

#define T struct api_hints_pod
API_SCHEMA(hints_pod_schema, T,
	API_STR(T, container_id),
	API_STR(T, host_ifname),
	API_STR(T, ip),
	API_STR_NULL(T, cgroup),
	API_INLINE(T, hint, hint_schema),
);
#undef T

#define T struct api_hints_reply
API_SCHEMA(hints_reply_schema, T,
	API_I64(T, seq),
	API_I64(T, updated_ns),
	API_I64(T, interval_ms),
	API_OBJ(T, node, hints_node_schema),
	API_ARRAY(T, pods, hints_pod_schema),
);
#undef T

/* ---- hints_cluster ---- */

API_SCHEMA_EMPTY(hints_cluster_req_schema, struct api_hints_cluster_req);

#define T struct api_cluster_node
API_SCHEMA(cluster_node_schema, T,
	API_STR(T, node),
	API_I64(T, score),
	API_BOOL(T, known),
	API_BOOL(T, stale),
	API_BOOL(T, saturated),
	API_DBL(T, age_s),
	API_DBL(T, pressure),
	API_STR(T, dominant),
	API_DBL(T, cpu_pressure),
	API_DBL(T, runq),
	API_DBL(T, memory),
	API_DBL(T, cpu),
	API_DBL(T, traffic),
	API_DBL(T, cpus),
	API_DBL(T, pending_cpu),
	API_I64(T, pending_pods),
	API_DBL(T, pending_part),
	API_DBL(T, effective),
);
#undef T

#define T struct api_hints_cluster_reply
API_SCHEMA(hints_cluster_reply_schema, T,
	API_BOOL(T, extender),
	API_DBL(T, saturated),
	API_I64(T, stale_ms),
	API_I64(T, pending_ttl_ms),
	API_ARRAY(T, nodes, cluster_node_schema),
);
#undef T

/* ---- recommend ---- */

API_SCHEMA_EMPTY(recommend_req_schema, struct api_recommend_req);

#define T struct api_recommend_cpu
API_SCHEMA(recommend_cpu_schema, T,
	API_DBL(T, target),
	API_DBL(T, lower),
	API_DBL(T, upper),
);
#undef T

#define T struct api_recommend_memory
API_SCHEMA(recommend_memory_schema, T,
	API_I64(T, target),
	API_I64(T, lower),
	API_I64(T, upper),
);
#undef T

#define T struct api_recommend_pod
API_SCHEMA(recommend_pod_schema, T,
	API_STR(T, container_id),
	API_BOOL(T, live),
	API_STR_NULL(T, host_ifname),
	API_STR_NULL(T, ip),
	API_OBJ(T, cpu, recommend_cpu_schema),
	API_OBJ(T, memory, recommend_memory_schema),
	API_DBL(T, confidence),
	API_I64(T, samples),
	API_I64(T, first_sample_ms),
	API_I64(T, last_sample_ms),
);
#undef T

#define T struct api_recommend_reply
API_SCHEMA(recommend_reply_schema, T,
	API_I64(T, interval_s),
	API_DBL(T, samples_per_day),
	API_I64(T, half_life_s),
	API_I64(T, samples),
	API_STR(T, checkpoint),
	API_I64(T, checkpoint_ms),
	API_I64(T, checkpoint_errors),
	API_BOOL(T, restored),
	API_STR_NULL(T, refused),
	API_ARRAY(T, pods, recommend_pod_schema),
);
#undef T

/* ---- services ---- */

#define T struct api_service_add_req
API_SCHEMA(service_add_req_schema, T,
	API_RAW(T, service),
);
#undef T

#define T struct api_frontend
API_SCHEMA(frontend_schema, T,
	API_STR(T, kind),
	API_STR(T, address),
	API_I64(T, port),
	API_STR(T, protocol),
	API_I64(T, svc_id),
	API_I64(T, active),
	API_I64(T, local_active),
	API_I64(T, slots),
	API_BOOL(T, maglev),
);
#undef T

#define T struct api_service_counters
API_SCHEMA(service_counters_schema, T,
	API_I64(T, svc_id),
	API_I64(T, ct_flows),
	API_I64(T, ct_packets),
	API_I64(T, ct_bytes),
);
#undef T

/* counters only in service_list; backends_from and backends_total only in a piece. */
#define T struct api_service
API_SCHEMA(service_schema, T,
	API_RAW(T, service),
	API_ARRAY(T, frontends, frontend_schema),
	API_ARRAY_IF(T, counters, service_counters_schema, has_counters),
	API_I64_IF(T, backends_from, partial),
	API_I64_IF(T, backends_total, partial),
);
#undef T

size_t api_service_encoded_len(const struct api_service *s)
{
	return api_encoded_len(&service_schema, s);
}

/* name and frontends from this agent, service from older ones: each decodes. */
#define T struct api_service_add_reply
API_SCHEMA(service_add_reply_schema, T,
	API_BOOL(T, changed),
	API_STR_OPT(T, name),
	API_ARRAY_IF(T, frontends, frontend_schema, has_frontends),
	API_OBJ_IF(T, service, service_schema, has_service),
);
#undef T

#define T struct api_service_del_req
API_SCHEMA(service_del_req_schema, T,
	API_STR(T, name),
	API_STR_OPT(T, namespace),
);
#undef T
API_SCHEMA_EMPTY(service_del_reply_schema, struct api_service_del_reply);

#define T struct api_service_list_req
API_SCHEMA(service_list_req_schema, T,
	API_STR_OPT(T, name),
	API_STR_OPT(T, namespace),
	API_INT_IF(T, offset, has_offset, 0, INT64_MAX, NO_ERR),
	API_INT_IF(T, limit, has_limit, 1, PODLANE_API_LIST_LIMIT_MAX, NO_ERR),
	API_INT_IF(T, backend_offset, has_backend_offset, 0, INT64_MAX, NO_ERR),
);
#undef T

#define T struct api_conntrack
API_SCHEMA(conntrack_schema, T,
	API_BOOL(T, available),
	API_I64_IF(T, live, has_pass),
	API_I64_IF(T, max_entries, has_pass),
	API_I64_IF(T, deleted_last_pass, has_pass),
);
#undef T

#define T struct api_service_list_reply
API_SCHEMA(service_list_reply_schema, T,
	API_ARRAY(T, services, service_schema),
	API_I64(T, total),
	API_COUNTS(T, lbstat),
	API_OBJ(T, conntrack, conntrack_schema),
	API_I64_IF(T, next_offset, has_next_offset),
	API_I64_IF(T, next_backends_from, has_next_backends_from),
);
#undef T

/* ---- nodes ---- */

#define T struct api_node_add_req
API_SCHEMA(node_add_req_schema, T,
	API_STR(T, name),
	API_STR(T, node_ip),
	API_STR(T, pod_cidr),
);
#undef T

#define T struct api_node
API_SCHEMA(node_schema, T,
	API_STR(T, name),
	API_STR(T, node_ip),
	API_STR(T, pod_cidr),
	API_STR(T, routing),
	API_BOOL_IF(T, installed, has_installed),
);
#undef T

size_t api_node_encoded_len(const struct api_node *n)
{
	return api_encoded_len(&node_schema, n);
}

#define T struct api_node_add_reply
API_SCHEMA(node_add_reply_schema, T,
	API_BOOL(T, changed),
	API_OBJ(T, node, node_schema),
);
#undef T

#define T struct api_node_del_req
API_SCHEMA(node_del_req_schema, T,
	API_STR(T, name),
);
#undef T

#define T struct api_node_del_reply
API_SCHEMA(node_del_reply_schema, T,
	API_BOOL(T, removed),
);
#undef T

#define T struct api_node_list_req
API_SCHEMA(node_list_req_schema, T,
	API_INT_IF(T, offset, has_offset, 0, INT64_MAX, NO_ERR),
	API_INT_IF(T, limit, has_limit, 1, PODLANE_API_LIST_LIMIT_MAX, NO_ERR),
);
#undef T

#define T struct api_node_list_reply
API_SCHEMA(node_list_reply_schema, T,
	API_INLINE(T, node_routing, node_routing_schema),
	API_ARRAY(T, nodes, node_schema),
	API_I64_IF(T, total, has_total),
	API_I64_IF(T, next_offset, has_next_offset),
);
#undef T

/* ---- sync ---- */

API_SCHEMA_EMPTY(sync_status_req_schema, struct api_sync_status_req);

#define T struct api_sync_lease
API_SCHEMA(sync_lease_schema, T,
	API_I64(T, id),
	API_I64(T, ttl),
	API_I64(T, remaining),
);
#undef T

#define T struct api_sync_queue
API_SCHEMA(sync_queue_schema, T,
	API_I64(T, depth),
	API_I64(T, capacity),
);
#undef T

#define T struct api_sync_counters
API_SCHEMA(sync_counters_schema, T,
	API_I64(T, events),
	API_I64(T, listed),
	API_I64(T, applied),
	API_I64(T, ep_upserts),
	API_I64(T, ep_deletes),
	API_I64(T, ep_stale_deletes),
	API_I64(T, node_upserts),
	API_I64(T, node_deletes),
	API_I64(T, svc_upserts),
	API_I64(T, svc_deletes),
	API_I64(T, resyncs),
	API_I64(T, compactions),
	API_I64(T, reconnects),
	API_I64(T, failures),
	API_I64(T, breaker_opens),
	API_I64(T, queue_full_waits),
	API_I64(T, deadletters),
	API_I64(T, published_puts),
	API_I64(T, published_deletes),
	API_I64(T, publish_errors),
	API_I64(T, lease_grants),
	API_I64(T, swept),
	API_I64(T, resync_ms_last),
	API_I64(T, first_item_ns),
	API_I64(T, last_apply_ns),
);
#undef T

#define T struct api_latency
API_SCHEMA(latency_schema, T,
	API_I64(T, count),
	API_I64(T, p50_us),
	API_I64(T, p90_us),
	API_I64(T, p99_us),
	API_I64(T, max_us),
);
#undef T

#define T struct api_sync_latency
API_SCHEMA(sync_latency_schema, T,
	API_OBJ(T, delivery, latency_schema),
	API_OBJ(T, apply, latency_schema),
	API_OBJ(T, agent, latency_schema),
	API_OBJ(T, handover, latency_schema),
);
#undef T

#define T struct api_loop_job
API_SCHEMA(loop_job_schema, T,
	API_I64(T, runs),
	API_I64(T, avg_us),
	API_I64(T, max_us),
	API_I64(T, over_1ms),
);
#undef T

#define T struct api_sync_loop
API_SCHEMA(sync_loop_schema, T,
	API_OBJ(T, sync_apply, loop_job_schema),
	API_OBJ(T, sync_snapshot, loop_job_schema),
	API_OBJ(T, acct_tick, loop_job_schema),
	API_OBJ(T, metrics, loop_job_schema),
	API_OBJ(T, service_tick, loop_job_schema),
	API_OBJ(T, api_request, loop_job_schema),
);
#undef T

/* Everything but enabled is there only when enabled: the flag is the group's. */
#define T struct api_sync_status_reply
API_SCHEMA(sync_status_reply_schema, T,
	API_BOOL(T, enabled),
	API_STR_IF(T, state, enabled),
	API_STR_IF(T, endpoint, enabled),
	API_STR_IF(T, last_error, enabled),
	API_I64_IF(T, revision, enabled),
	API_STR_IF(T, pod_cidr, enabled),
	API_STR_IF(T, breaker, enabled),
	API_I64_IF(T, consecutive_failures, enabled),
	API_I64_IF(T, deadletters, enabled),
	API_STR_IF(T, node, enabled),
	API_STR_IF(T, node_ip, enabled),
	API_OBJ_IF(T, lease, sync_lease_schema, enabled),
	API_OBJ_IF(T, queue, sync_queue_schema, enabled),
	API_OBJ_IF(T, counters, sync_counters_schema, enabled),
	API_I64_IF(T, remote_endpoints, enabled),
	API_I64_IF(T, nodes, enabled),
	API_I64_IF(T, services, enabled),
	API_OBJ_IF(T, latency, sync_latency_schema, enabled),
	API_OBJ_IF(T, loop, sync_loop_schema, enabled),
);
#undef T

API_SCHEMA_EMPTY(sync_deadletters_req_schema, struct api_sync_deadletters_req);

#define T struct api_deadletter
API_SCHEMA(deadletter_schema, T,
	API_STR(T, key),
	API_STR(T, reason),
	API_I64(T, revision),
	API_I64(T, at),
);
#undef T

#define T struct api_sync_deadletters_reply
API_SCHEMA(sync_deadletters_reply_schema, T,
	API_BOOL(T, enabled),
	API_I64_IF(T, total, enabled),
	API_ARRAY(T, deadletters, deadletter_schema),
);
#undef T

/* ---- network policy ---- */

#define T struct api_policy_add_req
API_SCHEMA(policy_add_req_schema, T,
	API_RAW(T, policies),
);
#undef T

#define T struct api_policy_applied
API_SCHEMA(policy_applied_schema, T,
	API_STR(T, name),
	API_I64(T, id),
	API_STR(T, result),
);
#undef T

#define T struct api_policy_add_reply
API_SCHEMA(policy_add_reply_schema, T,
	API_ARRAY(T, policies, policy_applied_schema),
);
#undef T

#define T struct api_policy_del_req
API_SCHEMA(policy_del_req_schema, T,
	API_STR(T, name),
);
#undef T

#define T struct api_policy_del_reply
API_SCHEMA(policy_del_reply_schema, T,
	API_I64(T, id),
);
#undef T

#define T struct api_policy_list_req
API_SCHEMA(policy_list_req_schema, T,
	API_STR_OPT(T, name),
	API_INT_IF(T, offset, has_offset, 0, INT64_MAX, NO_ERR),
	API_INT_IF(T, limit, has_limit, 1, PODLANE_API_LIST_LIMIT_MAX, NO_ERR),
);
#undef T

#define T struct api_policy
API_SCHEMA(policy_schema, T,
	API_I64(T, id),
	API_STR(T, name),
	API_STR(T, types),
	API_I64(T, pods),
	API_I64(T, ingress_rules),
	API_I64(T, egress_rules),
	API_I64(T, entries),
	API_RAW(T, policy),
	API_STR_OPT(T, source),
);
#undef T

size_t api_policy_encoded_len(const struct api_policy *p)
{
	return api_encoded_len(&policy_schema, p);
}

#define T struct api_policy_capacity
API_SCHEMA(policy_capacity_schema, T,
	API_I64(T, max_entries),
	API_I64(T, entries),
	API_I64(T, rule_sets),
	API_I64(T, identities),
	API_I64(T, refused),
	API_I64(T, degraded),
	API_I64(T, revision),
);
#undef T

#define T struct api_policy_list_reply
API_SCHEMA(policy_list_reply_schema, T,
	API_ARRAY(T, policies, policy_schema),
	API_I64(T, total),
	API_OBJ(T, capacity, policy_capacity_schema),
	API_I64_IF(T, next_offset, has_next_offset),
);
#undef T

#define T struct api_named_port
API_SCHEMA(named_port_schema, T,
	API_STR(T, name),
	API_STR(T, protocol),
	API_INT(T, port, 1, 65535, PODLANE_ERR_INVALID_CONFIG),
);
#undef T

#define T struct api_pod
API_SCHEMA(pod_schema, T,
	API_STR(T, namespace),
	API_STR(T, name),
	API_STR(T, ip),
	API_BOOL(T, local),
	API_I64_IF(T, ifindex, has_ifindex),
	API_I64(T, identity),
	API_ARRAY(T, labels, label_schema),
	API_ARRAY(T, ports, named_port_schema),
	API_STR(T, isolation),
	API_BOOL(T, degraded),
	API_I64(T, ingress_set),
	API_I64(T, egress_set),
);
#undef T

size_t api_pod_encoded_len(const struct api_pod *p)
{
	return api_encoded_len(&pod_schema, p);
}

#define T struct api_pod_label_req
API_SCHEMA(pod_label_req_schema, T,
	API_STR(T, pod),
	API_ARRAY(T, labels, label_schema),
);
#undef T

#define T struct api_pod_label_reply
API_SCHEMA(pod_label_reply_schema, T,
	API_ARRAY(T, pods, pod_schema),
);
#undef T

#define T struct api_pod_ports_req
API_SCHEMA(pod_ports_req_schema, T,
	API_STR(T, pod),
	API_ARRAY(T, ports, named_port_schema),
);
#undef T

#define T struct api_pod_ports_reply
API_SCHEMA(pod_ports_reply_schema, T,
	API_ARRAY(T, pods, pod_schema),
);
#undef T

#define T struct api_pod_list_req
API_SCHEMA(pod_list_req_schema, T,
	API_INT_IF(T, offset, has_offset, 0, INT64_MAX, NO_ERR),
	API_INT_IF(T, limit, has_limit, 1, PODLANE_API_LIST_LIMIT_MAX, NO_ERR),
);
#undef T

#define T struct api_pod_list_reply
API_SCHEMA(pod_list_reply_schema, T,
	API_ARRAY(T, pods, pod_schema),
	API_I64(T, total),
	API_I64_IF(T, next_offset, has_next_offset),
);
#undef T

#define T struct api_namespace
API_SCHEMA(namespace_schema, T,
	API_STR(T, name),
	API_ARRAY(T, labels, label_schema),
	API_I64(T, pods),
	API_I64(T, policies),
);
#undef T

size_t api_namespace_encoded_len(const struct api_namespace *ns)
{
	return api_encoded_len(&namespace_schema, ns);
}

#define T struct api_namespace_label_req
API_SCHEMA(namespace_label_req_schema, T,
	API_STR(T, name),
	API_ARRAY(T, labels, label_schema),
);
#undef T

#define T struct api_namespace_label_reply
API_SCHEMA(namespace_label_reply_schema, T,
	API_OBJ(T, namespace, namespace_schema),
);
#undef T

#define T struct api_namespace_list_req
API_SCHEMA(namespace_list_req_schema, T,
	API_INT_IF(T, offset, has_offset, 0, INT64_MAX, NO_ERR),
	API_INT_IF(T, limit, has_limit, 1, PODLANE_API_LIST_LIMIT_MAX, NO_ERR),
);
#undef T

#define T struct api_namespace_list_reply
API_SCHEMA(namespace_list_reply_schema, T,
	API_ARRAY(T, namespaces, namespace_schema),
	API_I64(T, total),
	API_I64_IF(T, next_offset, has_next_offset),
);
#undef T

/* ---- flow_list ---- */

#define T struct api_flow_list_req
API_SCHEMA(flow_list_req_schema, T,
	API_STR_OPT(T, verdict),
	API_STR_OPT(T, from_pod),
	API_STR_OPT(T, to_pod),
	API_STR_OPT(T, namespace),
	API_STR_OPT(T, ip),
	API_INT_IF(T, port, has_port, 0, 65535, NO_ERR),
	API_STR_OPT(T, protocol),
	API_BOOL_IF(T, drops, has_drops),
	API_INT_IF(T, last, has_last, 0, INT64_MAX, NO_ERR),
	API_INT_IF(T, after, has_after, 0, INT64_MAX, NO_ERR),
	API_INT_IF(T, until, has_until, 0, INT64_MAX, NO_ERR),
	API_INT_IF(T, limit, has_limit, 1, PODLANE_API_LIST_LIMIT_MAX, NO_ERR),
	API_BOOL_IF(T, follow, has_follow),
);
#undef T

#define T struct api_flow
API_SCHEMA(flow_schema, T,
	API_I64(T, seq),
	API_I64(T, time_ns),
	API_STR(T, time),
	API_STR(T, verdict),
	API_STR_OPT(T, reason),
	API_I64_IF(T, code, has_code),
	API_STR_OPT(T, direction),
	API_STR(T, protocol),
	API_STR(T, src_ip),
	API_I64_IF(T, src_port, has_src_port),
	API_STR(T, dst_ip),
	API_I64_IF(T, dst_port, has_dst_port),
	API_STR(T, src),
	API_STR(T, dst),
	API_I64_IF(T, src_identity, has_identities),
	API_I64_IF(T, dst_identity, has_identities),
	API_STR_OPT(T, policy),
	API_I64_IF(T, policy_id, has_policy_id),
	API_I64_IF(T, rule, has_rule),
	API_STR(T, summary),
	API_STR(T, hook),
	API_I64(T, ifindex),
	API_I64_IF(T, len, has_len),
);
#undef T

size_t api_flow_encoded_len(const struct api_flow *f)
{
	return api_encoded_len(&flow_schema, f);
}

#define T struct api_flow_lost
API_SCHEMA(flow_lost_schema, T,
	API_I64(T, datapath),
	API_COUNTS(T, datapath_cpus),
	API_I64(T, evicted),
	API_I64(T, stream),
);
#undef T

#define T struct api_flow_list_reply
API_SCHEMA(flow_list_reply_schema, T,
	API_ARRAY(T, flows, flow_schema),
	API_I64(T, newest),
	API_I64(T, until),
	API_I64(T, kept),
	API_I64(T, capacity),
	API_I64_IF(T, next_after, has_next_after),
	API_OBJ(T, lost, flow_lost_schema),
);
#undef T

/* ---- the envelope ---- */

struct json_object *api_req_encode(const struct api_op *op, const void *req)
{
	struct api_req_head head = { .op = op->name };
	struct json_object *o = api_encode(&req_head_schema, &head);

	if (o)
		api_encode_into(o, op->req, req);
	return o;
}

struct json_object *api_reply_ok(void)
{
	struct api_reply_head head = { .ok = true };

	return api_encode(&reply_head_schema, &head);
}

struct json_object *api_reply_encode(const struct api_op *op, const void *reply)
{
	struct json_object *o = api_reply_ok();

	if (o)
		api_encode_into(o, op->reply, reply);
	return o;
}

struct json_object *api_reply_error(const struct api_error *e)
{
	struct api_reply_head head = {
		.has_code = true,
		.code = e->code,
		.msg = e->msg,
		.details = e->details[0] ? e->details : NULL,
	};

	return api_encode(&reply_head_schema, &head);
}

int api_req_op(struct json_object *req, const char **op, struct api_error *e)
{
	struct api_req_head head;

	*op = NULL;
	if (!req || !json_object_is_type(req, json_type_object))
		return api_fail(e, PODLANE_ERR_DECODE, "request is not a JSON object");
	if (api_decode(req, &req_head_schema, &head, e))
		return -1;
	*op = head.op;
	return 0;
}

/*
 * An error reply into e: the agent's code, or INTERNAL when it gave none or one no int holds;
 * its message, or a stand-in when it gave none or an empty one (a client prints e->msg after
 * "Error: ").
 */
static int reply_error(const struct api_reply_head *head, struct api_error *e)
{
	e->code = head->has_code && head->code > 0 && head->code <= INT_MAX ? (int)head->code :
		  PODLANE_ERR_INTERNAL;
	snprintf(e->msg, sizeof(e->msg), "%s",
		 head->msg && head->msg[0] ? head->msg : "podlaned failed without a message");
	snprintf(e->details, sizeof(e->details), "%s", head->details ? head->details : "");
	return -EREMOTEIO;
}

/* e's message behind "podlaned's '<op>' reply: ": a reply podlaned should not have sent. */
static int bad_reply(const struct api_op *op, struct api_error *e)
{
	char msg[sizeof(e->msg)];

	snprintf(msg, sizeof(msg), "%s", e->msg);
	api_fail(e, PODLANE_ERR_INTERNAL, "podlaned's '%s' reply: %s", op->name, msg);
	return -EBADMSG;
}

int api_op_reply_decode(const struct api_op *op, struct json_object *r, void *reply,
			struct api_error *e)
{
	struct api_reply_head head;

	memset(reply, 0, op->reply->size);
	memset(e, 0, sizeof(*e));
	if (api_decode(r, &reply_head_schema, &head, e))
		return bad_reply(op, e);
	if (!head.ok)
		return reply_error(&head, e);
	/* The result fields only: what podlanectl prints, and what it decodes. */
	api_remove_fields(r, &reply_head_schema);
	if (api_decode(r, op->reply, reply, e))
		return bad_reply(op, e);
	return 0;
}

int api_op_call(const char *sock_path, int timeout_ms, const struct api_op *op, const void *req,
		void *reply, struct json_object **raw, struct api_error *e)
{
	struct json_object *o, *r = NULL;
	char why[256];
	int err;

	*raw = NULL;
	memset(reply, 0, op->reply->size);
	memset(e, 0, sizeof(*e));
	o = api_req_encode(op, req);
	if (!o) {
		api_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
		return -ENOMEM;
	}
	err = api_call(sock_path, o, &r, timeout_ms, why, sizeof(why));
	json_object_put(o);
	if (err) {
		api_fail(e, err == -EPROTO ? PODLANE_ERR_IO : PODLANE_ERR_TRY_AGAIN,
			 "cannot reach podlaned at '%s': %s", sock_path, strerror(-err));
		snprintf(e->details, sizeof(e->details), "%s", why);
		return err;
	}
	err = api_op_reply_decode(op, r, reply, e);
	if (err) {
		json_object_put(r);
		return err;
	}
	*raw = r;
	return 0;
}

/* ---- the operations ---- */

#define API_OP(op, opname)								\
	const struct api_op api_op_##op = {						\
		.name = opname,								\
		.req = &op##_req_schema,						\
		.reply = &op##_reply_schema,						\
	};										\
	struct json_object *api_##op##_req_encode(const struct api_##op##_req *req)	\
	{										\
		return api_req_encode(&api_op_##op, req);				\
	}										\
	int api_##op##_req_decode(struct json_object *o, struct api_##op##_req *req,	\
				  struct api_error *e)					\
	{										\
		return api_decode(o, &op##_req_schema, req, e);				\
	}										\
	void api_##op##_req_free(struct api_##op##_req *req)				\
	{										\
		api_free(&op##_req_schema, req);					\
	}										\
	struct json_object *api_##op##_reply_encode(const struct api_##op##_reply *reply) \
	{										\
		return api_reply_encode(&api_op_##op, reply);				\
	}										\
	int api_##op##_reply_decode(struct json_object *o, struct api_##op##_reply *reply, \
				    struct api_error *e)				\
	{										\
		return api_decode(o, &op##_reply_schema, reply, e);			\
	}										\
	void api_##op##_reply_free(struct api_##op##_reply *reply)			\
	{										\
		api_free(&op##_reply_schema, reply);					\
	}										\
	int api_##op##_call(const char *sock_path, int timeout_ms,			\
			    const struct api_##op##_req *req, struct api_##op##_reply *reply, \
			    struct json_object **raw, struct api_error *e)		\
	{										\
		return api_op_call(sock_path, timeout_ms, &api_op_##op, req, reply, raw, e); \
	}

API_OP(add, PODLANE_OP_ADD)
API_OP(del, PODLANE_OP_DEL)
API_OP(check, PODLANE_OP_CHECK)
API_OP(gc, PODLANE_OP_GC)
API_OP(status, PODLANE_OP_STATUS)
API_OP(endpoint_list, PODLANE_OP_ENDPOINTS)
API_OP(acct, PODLANE_OP_ACCT)
API_OP(hints, PODLANE_OP_HINTS)
API_OP(hints_cluster, PODLANE_OP_HINTS_CLUSTER)
API_OP(service_add, PODLANE_OP_SERVICE_ADD)
API_OP(service_del, PODLANE_OP_SERVICE_DEL)
API_OP(service_list, PODLANE_OP_SERVICE_LIST)
API_OP(node_add, PODLANE_OP_NODE_ADD)
API_OP(node_del, PODLANE_OP_NODE_DEL)
API_OP(node_list, PODLANE_OP_NODE_LIST)
API_OP(sync_status, PODLANE_OP_SYNC_STATUS)
API_OP(sync_deadletters, PODLANE_OP_DEADLETTERS)
API_OP(policy_add, PODLANE_OP_POLICY_ADD)
API_OP(policy_del, PODLANE_OP_POLICY_DEL)
API_OP(policy_list, PODLANE_OP_POLICY_LIST)
API_OP(pod_label, PODLANE_OP_POD_LABEL)
API_OP(pod_ports, PODLANE_OP_POD_PORTS)
API_OP(pod_list, PODLANE_OP_POD_LIST)
API_OP(namespace_label, PODLANE_OP_NS_LABEL)
API_OP(namespace_list, PODLANE_OP_NS_LIST)
API_OP(flow_list, PODLANE_OP_FLOW_LIST)
API_OP(recommend, PODLANE_OP_RECOMMEND)

const struct api_op *const api_ops[] = {
	&api_op_add, &api_op_del, &api_op_check, &api_op_gc, &api_op_status,
	&api_op_endpoint_list, &api_op_acct, &api_op_hints, &api_op_service_add,
	&api_op_service_del, &api_op_service_list, &api_op_node_add, &api_op_node_del,
	&api_op_node_list, &api_op_sync_status, &api_op_sync_deadletters, &api_op_policy_add,
	&api_op_policy_del, &api_op_policy_list, &api_op_pod_label, &api_op_pod_ports,
	&api_op_pod_list, &api_op_namespace_label, &api_op_namespace_list, &api_op_flow_list,
	&api_op_hints_cluster,
	&api_op_recommend,
};
const size_t api_nops = sizeof(api_ops) / sizeof(api_ops[0]);

const struct api_op *api_op_find(const char *name)
{
	size_t i;

	for (i = 0; i < api_nops; i++)
		if (!strcmp(api_ops[i]->name, name))
			return api_ops[i];
	return NULL;
}
