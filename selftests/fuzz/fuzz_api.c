// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz_api.c - the local API's messages (userspace/lib/api.h, api_ops.c, api_schema.c) on both
 * ends of the socket. The input is one message, NUL-terminated as both ends receive it.
 *
 * As a request, the way podlaned reads it (main.c, api/ops.c): parsed, its "op" taken
 * (api_req_op), the op found (api_op_find) and its fields decoded, followed by the checks a
 * handler makes with the shared code before anything changes (the service spec of
 * service_add, the node record of node_add). It is also decoded as the request of every other
 * op, so each op's schema sees every input.
 *
 * As a reply, the way every client reads it (api_call, api_op_call): parsed by
 * api_reply_parse and decoded with api_op_reply_decode for each op in turn, then what the
 * clients do with it (podlanectl parses each listed service spec).
 *
 * Invariants: a decode either succeeds or fails with a code and a message and nothing to
 * free; what decodes, encoded again, decodes again and encodes to the same text.
 */
#include <errno.h>

#include "api.h"
#include "api_ops.h"
#include "fuzz.h"
#include "service_spec.h"
#include "nodes/nodes.h"

static void check_error(const struct api_error *e)
{
	FUZZ_CHECK(e->code > 0 && e->msg[0] && memchr(e->msg, '\0', sizeof(e->msg)) &&
		   memchr(e->details, '\0', sizeof(e->details)), "error without code or message");
}

/* encode(v) -> text -> decode -> encode: the same text. */
static void round_trip(const struct api_op *op, bool reply, const void *v)
{
	const struct api_schema *s = reply ? op->reply : op->req;
	struct json_object *o, *o2, *r;
	char *text, *text2;
	struct api_error e;
	const char *name;
	void *again;

	o = reply ? api_reply_encode(op, v) : api_req_encode(op, v);
	FUZZ_CHECK(o, "encode failed");
	text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	again = calloc(1, s->size ? s->size : 1);
	FUZZ_CHECK(text && again, "out of memory");
	FUZZ_CHECK(!api_reply_parse(text, &r), "encoded %s does not parse: %s", op->name, text);
	if (reply) {
		FUZZ_CHECK(!api_op_reply_decode(op, r, again, &e),
			   "encoded %s reply does not decode: %s (%s)", op->name, e.msg, text);
	} else {
		FUZZ_CHECK(!api_req_op(r, &name, &e) && !strcmp(name, op->name),
			   "encoded request lost its op: %s", text);
		FUZZ_CHECK(!api_decode(r, s, again, &e),
			   "encoded %s request does not decode: %s (%s)", op->name, e.msg, text);
	}
	o2 = reply ? api_reply_encode(op, again) : api_req_encode(op, again);
	text2 = strdup(json_object_to_json_string_ext(o2, JSON_C_TO_STRING_PLAIN));
	FUZZ_CHECK(text2 && !strcmp(text, text2), "%s %s encodes differently after a round "
		   "trip:\n%s\n%s", op->name, reply ? "reply" : "request", text, text2);
	api_free(s, again);
	free(again);
	free(text);
	free(text2);
	json_object_put(o2);
	json_object_put(r);
	json_object_put(o);
}

/* What a handler checks with shared code right after decoding (api/service_ops.c, node_ops.c). */
static void handler_checks(const struct api_op *op, const void *req)
{
	char why[512];
	struct api_error e = {};

	if (op == &api_op_service_add) {
		const struct api_service_add_req *rq = req;
		struct service_spec spec;

		if (!service_spec_parse(rq->service, &spec, why, sizeof(why)))
			service_spec_free(&spec);
		else
			FUZZ_CHECK_MSG(why);
	} else if (op == &api_op_node_add) {
		const struct api_node_add_req *rq = req;
		struct node_record n;

		if (node_record_parse(&n, rq->name, rq->node_ip, rq->pod_cidr, &e))
			check_error(&e);
	}
}

static void decode_request(const struct api_op *op, struct json_object *o, bool named)
{
	void *req = calloc(1, op->req->size ? op->req->size : 1);
	struct api_error e = {};

	FUZZ_CHECK(req, "out of memory");
	if (api_decode(o, op->req, req, &e)) {
		check_error(&e);
		/* On error the struct is zeroed: nothing to free. */
		FUZZ_CHECK(!op->req->size || !memcmp(req, (char[1024]){ 0 }, op->req->size),
			   "failed %s decode left its struct dirty", op->name);
	} else {
		round_trip(op, false, req);
		if (named)
			handler_checks(op, req);
		api_free(op->req, req);
	}
	free(req);
}

/* The agent's side: main.c parses, api_handle() finds the op, the handler decodes. */
static void as_request(const char *msg)
{
	enum json_tokener_error jerr;
	struct json_object *o = json_tokener_parse_verbose(msg, &jerr);
	const struct api_op *named = NULL;
	struct api_error e = {};
	const char *op;
	size_t i;

	if (!o)
		return;
	if (api_req_op(o, &op, &e))
		check_error(&e);
	else
		named = api_op_find(op);
	for (i = 0; i < api_nops; i++)
		if (json_object_is_type(o, json_type_object))
			decode_request(api_ops[i], o, api_ops[i] == named);
	json_object_put(o);
}

/*
 * A client's side, for op: api_op_reply_decode() of r (what api_call() parsed), then what the
 * client does with it. r loses its envelope when the envelope said ok.
 */
static void as_reply(const struct api_op *op, struct json_object *r)
{
	void *reply = calloc(1, op->reply->size ? op->reply->size : 1);
	struct service_spec spec;
	struct api_error e;
	char why[512];
	size_t i;
	int err;

	FUZZ_CHECK(reply, "out of memory");
	err = api_op_reply_decode(op, r, reply, &e);
	if (err) {
		FUZZ_CHECK(err == -EREMOTEIO || err == -EBADMSG, "unexpected error %d", err);
		check_error(&e);
	} else {
		round_trip(op, true, reply);
		if (op == &api_op_service_list) {
			const struct api_service_list_reply *l = reply;

			/* podlanectl service list (service.c) reads every listed spec. */
			for (i = 0; i < l->n_services; i++) {
				if (!service_spec_parse_listed(l->services[i].service, &spec, why,
							       sizeof(why)))
					service_spec_free(&spec);
				else
					FUZZ_CHECK_MSG(why);
			}
		}
		api_free(op->reply, reply);
	}
	free(reply);
}

/*
 * The message as the reply of every op. api_call() parses it once (api_reply_parse); each op
 * decodes its own top-level object holding the parsed members, since a decode takes the
 * envelope's members out of it (and nothing else: api_op_reply_decode). Parsing the message
 * again for each op cost a json-c tokener and every object of the tree 16 more times an input,
 * most of what fuzz_api did.
 */
static void as_replies(const char *msg)
{
	struct json_object *parsed, *r;
	size_t i;

	if (api_reply_parse(msg, &parsed))
		return;
	for (i = 0; i < api_nops; i++) {
		r = json_object_new_object();
		FUZZ_CHECK(r, "out of memory");
		json_object_object_foreach(parsed, key, val)
			FUZZ_CHECK(!json_object_object_add(r, key, json_object_get(val)),
				   "out of memory");
		as_reply(api_ops[i], r);
		json_object_put(r);
	}
	json_object_put(parsed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *msg;

	/* Both ends receive at most PODLANE_API_MAX_MSG bytes and terminate them. */
	if (size > PODLANE_API_MAX_MSG)
		return 0;
	msg = malloc(size + 1);
	FUZZ_CHECK(msg, "out of memory");
	memcpy(msg, data, size);
	msg[size] = '\0';
	as_request(msg);
	as_replies(msg);
	free(msg);
	return 0;
}
