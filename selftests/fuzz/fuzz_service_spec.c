// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz_service_spec.c - service specs (userspace/lib/service_spec.c) as podlanectl reads a
 * spec file, podlaned a service_add request and the sync an etcd record: the input is one JSON
 * value, parsed by service_spec_parse() and by service_spec_parse_listed() (what podlanectl
 * reads back from service_list). A spec either fails with a message naming the field, or
 * parses; then what the agent persists (service_spec_to_json) and what it lists
 * (service_spec_to_json_listed) must parse again to an equal spec.
 */
#include <errno.h>
#include <stdbool.h>

#include "fuzz.h"
#include "service_spec.h"

/*
 * A parsed spec through one encoder and back: accepted again, and the same. Listed, every
 * backend's "local" is what the agent resolved (here: auto ones alternate), and comes back so.
 */
static void round_trip(struct service_spec *s, bool listed)
{
	__s8 local[SVC_MAX_BACKENDS], spec_local[SVC_MAX_BACKENDS];
	struct service_spec again;
	struct json_object *o;
	char why[256] = "";
	unsigned int i;
	int err;

	for (i = 0; i < s->nbackends; i++) {
		spec_local[i] = s->backends[i].local;
		local[i] = spec_local[i] == SVC_LOCAL_YES ||
			   (spec_local[i] == SVC_LOCAL_AUTO && (i & 1));
	}
	o = listed ? service_spec_to_json_listed(s, local) : service_spec_to_json(s);
	FUZZ_CHECK(o, "encoder returned NULL");
	err = listed ? service_spec_parse_listed(o, &again, why, sizeof(why)) :
		       service_spec_parse(o, &again, why, sizeof(why));
	FUZZ_CHECK(!err, "%s spec does not parse again: %s (%s)", listed ? "listed" : "persisted",
		   why, json_object_to_json_string(o));
	for (i = 0; listed && i < s->nbackends; i++)
		s->backends[i].local = local[i] ? SVC_LOCAL_YES : SVC_LOCAL_NO;
	FUZZ_CHECK(service_spec_equal(s, &again), "%s spec parses to another: %s",
		   listed ? "listed" : "persisted", json_object_to_json_string(o));
	for (i = 0; i < s->nbackends; i++)
		s->backends[i].local = spec_local[i];
	service_spec_free(&again);
	json_object_put(o);
}

static void parse_one(struct json_object *o, bool listed)
{
	struct service_spec s;
	char why[256] = "", id[2 * SVC_NAME_MAX + 2];
	int err;

	err = listed ? service_spec_parse_listed(o, &s, why, sizeof(why)) :
		       service_spec_parse(o, &s, why, sizeof(why));
	if (err) {
		FUZZ_CHECK(err == -EINVAL, "unexpected error %d", err);
		FUZZ_CHECK_MSG(why);
		/* On error nothing is left to free: the spec is zeroed. */
		FUZZ_CHECK(!s.name && !s.ports && !s.backends && !s.external_ips,
			   "failed parse left memory behind");
		return;
	}
	FUZZ_CHECK(service_name_ok(s.name) && service_name_ok(s.namespace), "bad name accepted");
	FUZZ_CHECK(s.nports <= SVC_MAX_PORTS && s.nexternal <= SVC_MAX_EXTERNAL_IPS &&
		   s.nbackends <= SVC_MAX_BACKENDS, "limits exceeded");
	service_spec_id(&s, id, sizeof(id));
	round_trip(&s, false);
	round_trip(&s, true);
	service_spec_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_object *o = fuzz_json(data, size);

	if (!o)
		return 0;
	parse_one(o, false);
	parse_one(o, true);
	json_object_put(o);
	return 0;
}
