/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * api.h - podlaned's local API, used by podlane-cni and podlanectl: the transport, the
 * operation names and the error codes. The fields of every operation are C structs in
 * api_ops.h, encoded and decoded by the one codec in api_schema.h.
 *
 * Transport: a SOCK_SEQPACKET unix socket (default PODLANE_SOCKET), one JSON object per
 * message, at most PODLANE_API_MAX_MSG bytes. A client sends one request and reads one reply;
 * the agent serves requests one at a time, so every operation is atomic with respect to the
 * others. Replies stay within the limit too: listings come in pages (api_ops.h,
 * PODLANE_API_PAGE_BYTES) that a client asks for in turn, and a change's reply does not echo
 * what it applied. A client sends its request as soon as it has connected: the agent closes a
 * connection that has sent nothing for a few seconds (5), and the oldest such connections
 * when too many are open, so clients that never send cannot keep others waiting.
 *
 * Request:  { "op": "<op>", ...fields of that op (struct api_<op>_req)... }
 * Reply:    { "ok": true, ...result fields (struct api_<op>_reply)... }
 *        or { "ok": false, "code": <CNI error code>, "msg": "...", "details": "..." }
 * (struct api_req_head and struct api_reply_head in api_ops.h). Unknown fields are ignored.
 *
 * The error code uses the CNI numbering so podlane-cni can pass it through unchanged:
 * 3 unknown container, 4 invalid environment, 5 I/O, 6 a request that does not decode,
 * 7 invalid network config, 11 try again later, 100+ podlane-specific (see PODLANE_ERR_*).
 */
#ifndef PODLANE_API_H
#define PODLANE_API_H

#include <stddef.h>
#include <json-c/json.h>

#define PODLANE_API_MAX_MSG	(256 * 1024)

/* The operations; api_ops.h documents each one with its request and reply struct. */
#define PODLANE_OP_ADD		"add"
#define PODLANE_OP_DEL		"del"
#define PODLANE_OP_CHECK	"check"
#define PODLANE_OP_GC		"gc"
#define PODLANE_OP_STATUS	"status"
#define PODLANE_OP_ENDPOINTS	"endpoint_list"
#define PODLANE_OP_ACCT		"acct"
#define PODLANE_OP_HINTS	"hints"
#define PODLANE_OP_HINTS_CLUSTER "hints_cluster"
#define PODLANE_OP_SERVICE_ADD	"service_add"
#define PODLANE_OP_SERVICE_DEL	"service_del"
#define PODLANE_OP_SERVICE_LIST	"service_list"
#define PODLANE_OP_NODE_ADD	"node_add"
#define PODLANE_OP_NODE_DEL	"node_del"
#define PODLANE_OP_NODE_LIST	"node_list"
#define PODLANE_OP_SYNC_STATUS	"sync_status"
#define PODLANE_OP_DEADLETTERS	"sync_deadletters"
#define PODLANE_OP_POLICY_ADD	"policy_add"
#define PODLANE_OP_POLICY_DEL	"policy_del"
#define PODLANE_OP_POLICY_LIST	"policy_list"
#define PODLANE_OP_POD_LABEL	"pod_label"
#define PODLANE_OP_POD_PORTS	"pod_ports"
#define PODLANE_OP_POD_LIST	"pod_list"
#define PODLANE_OP_NS_LABEL	"namespace_label"
#define PODLANE_OP_NS_LIST	"namespace_list"
#define PODLANE_OP_FLOW_LIST	"flow_list"
#define PODLANE_OP_RECOMMEND	"recommend"

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
	PODLANE_ERR_NOT_FOUND		= 106,	/* no such service, policy or pod */
	PODLANE_ERR_CONFLICT		= 107,	/* frontend owned by another service */
};

/*
 * What a failed operation tells the client, on either side of the socket: the agent fills it
 * and sends it with api_reply_error() (api_ops.h); a client gets the agent's back from
 * api_<op>_call(), or its own when the agent could not be asked.
 */
struct api_error {
	int	code;		/* enum podlane_err */
	char	msg[512];
	char	details[512];	/* "" when there are none */
};

/* Set e's code and msg (details stay) and return -1: `return api_fail(e, 7, "...")`. */
int api_fail(struct api_error *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Send req to the agent at sock_path and wait for the reply (timeout_ms, 0 = 10 s).
 * Returns 0 and sets *reply (caller puts it) when a reply arrived, whatever its "ok";
 * -errno when the agent could not be reached or answered garbage, with errbuf filled.
 * api_<op>_call() in api_ops.h wraps this with the encoding and decoding.
 */
int api_call(const char *sock_path, struct json_object *req, struct json_object **reply,
	     int timeout_ms, char *errbuf, size_t errlen);

/*
 * A stream (flow_list with follow, api_ops.h): api_stream_open() connects and sends req,
 * returning the connection's fd (the caller closes it) or -errno with errbuf filled;
 * api_stream_next() waits up to timeout_ms (-1: forever) for the next message: 0 and *msg
 * (the caller puts it), -ETIMEDOUT, -ECONNRESET when podlaned closed the stream, -EPROTO for
 * garbage, -EINTR for a signal, or another -errno.
 */
int api_stream_open(const char *sock_path, struct json_object *req, char *errbuf, size_t errlen);
int api_stream_next(int fd, int timeout_ms, struct json_object **msg);

/* A reply message as api_call() reads it (NUL-terminated): 0 and *reply, or -EPROTO. */
int api_reply_parse(const char *msg, struct json_object **reply);

#endif /* PODLANE_API_H */
