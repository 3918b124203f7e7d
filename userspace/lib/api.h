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
 *              drops: { "<reason name>": n, ... } } ]
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
