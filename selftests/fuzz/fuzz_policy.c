// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz_policy.c - NetworkPolicy texts (userspace/lib/policy_spec.c, labels.c, yaml_json.c) as
 * podlanectl will read a policy file and the sync an etcd value: the input is text, YAML or
 * JSON, one policy or a stream or List of them. It is either refused with a message and
 * nothing held, or every policy in it is valid by construction (names, bounds, ports, CIDRs)
 * and survives its canonical JSON, as an object and as text, back to an equal policy. What it
 * selects is checked against itself: a selector of matchLabels only selects those labels, an
 * ipBlock holds its own network address unless an except does, no except address is held.
 * The YAML reader also runs alone on the same bytes.
 */
#include <errno.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "fuzz.h"
#include "policy_spec.h"
#include "yaml_json.h"

static void check_selector(const struct label_selector *sel)
{
	unsigned int i;

	FUZZ_CHECK(sel->match_labels.n <= POLICY_MAX_MATCH_LABELS &&
		   sel->nexprs <= POLICY_MAX_EXPRS, "selector limits exceeded");
	for (i = 0; i < sel->match_labels.n; i++) {
		FUZZ_CHECK(!label_key_problem(sel->match_labels.labels[i].key), "bad key taken");
		FUZZ_CHECK(!label_value_problem(sel->match_labels.labels[i].value),
			   "bad value taken");
		FUZZ_CHECK(!i || strcmp(sel->match_labels.labels[i - 1].key,
					sel->match_labels.labels[i].key) < 0, "labels not sorted");
	}
	for (i = 0; i < sel->nexprs; i++) {
		const struct label_requirement *r = &sel->exprs[i];
		bool with_values = r->op == LABEL_OP_IN || r->op == LABEL_OP_NOT_IN;

		FUZZ_CHECK(with_values == (r->nvalues > 0), "operator %s with %u values",
			   label_op_name(r->op), r->nvalues);
	}
	if (!sel->nexprs)
		FUZZ_CHECK(label_selector_matches(sel, &sel->match_labels),
			   "matchLabels do not select themselves");
}

static void check_ip_block(const struct policy_ip_block *b, const struct policy_peer *peer)
{
	bool excepted = false;
	unsigned int i;

	FUZZ_CHECK(b->cidr.family == AF_INET || b->cidr.family == AF_INET6, "bad family");
	FUZZ_CHECK(b->cidr.prefix_len <= (b->cidr.family == AF_INET ? 32 : 128), "bad length");
	for (i = 0; i < b->nexcept; i++) {
		const struct policy_cidr *e = &b->except[i];

		FUZZ_CHECK(e->family == b->cidr.family && e->prefix_len > b->cidr.prefix_len &&
			   policy_cidr_contains(&b->cidr, e->family, e->addr),
			   "except not a strict subset");
		FUZZ_CHECK(!policy_peer_matches_addr(peer, e->family, e->addr),
			   "an except address is held");
		excepted |= policy_cidr_contains(e, b->cidr.family, b->cidr.addr);
	}
	FUZZ_CHECK(policy_peer_matches_addr(peer, b->cidr.family, b->cidr.addr) == !excepted,
		   "the block's own address is %s", excepted ? "held" : "not held");
}

static void check_rules(const struct policy_rule *rules, unsigned int n)
{
	unsigned int i, j;

	FUZZ_CHECK(n <= POLICY_MAX_RULES, "rule limit exceeded");
	for (i = 0; i < n; i++) {
		const struct policy_rule *r = &rules[i];

		FUZZ_CHECK(r->npeers <= POLICY_MAX_PEERS && r->nports <= POLICY_MAX_PORTS,
			   "rule limits exceeded");
		for (j = 0; j < r->npeers; j++) {
			const struct policy_peer *p = &r->peers[j];

			if (p->kind == POLICY_PEER_IP_BLOCK) {
				check_ip_block(&p->ip_block, p);
				continue;
			}
			check_selector(&p->pods);
			check_selector(&p->namespaces);
		}
		for (j = 0; j < r->nports; j++) {
			const struct policy_port *pp = &r->ports[j];

			FUZZ_CHECK(pp->proto == IPPROTO_TCP || pp->proto == IPPROTO_UDP ||
				   pp->proto == IPPROTO_SCTP, "bad protocol");
			if (pp->name) {
				FUZZ_CHECK(!port_name_problem(pp->name) && !pp->port &&
					   !pp->end_port, "bad named port");
				continue;
			}
			FUZZ_CHECK(pp->port <= pp->end_port, "range upside down");
			FUZZ_CHECK(!pp->port ||
				   (policy_port_matches(pp, NULL, pp->proto, pp->port) &&
				    policy_port_matches(pp, NULL, pp->proto, pp->end_port)),
				   "a range does not hold its ends");
		}
	}
}

/* The canonical form, as an object and as text, parses back to an equal policy. */
static void round_trip(const struct policy_spec *p)
{
	struct policy_spec again;
	struct json_object *o = policy_spec_to_json(p);
	const char *text;
	char why[256] = "";
	int err;

	FUZZ_CHECK(o, "encoder returned NULL");
	err = policy_spec_parse(o, &again, why, sizeof(why));
	FUZZ_CHECK(!err, "canonical form refused: %s (%s)", why, json_object_to_json_string(o));
	FUZZ_CHECK(policy_spec_equal(p, &again), "canonical form parses to another policy: %s",
		   json_object_to_json_string(o));
	policy_spec_free(&again);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
	err = policy_spec_parse_text(text, strlen(text), &again, why, sizeof(why));
	FUZZ_CHECK(!err, "canonical text refused: %s (%s)", why, text);
	FUZZ_CHECK(policy_spec_equal(p, &again), "canonical text parses to another policy: %s",
		   text);
	policy_spec_free(&again);
	json_object_put(o);
}

static void check_policy(const struct policy_spec *p)
{
	char id[2 * DNS_SUBDOMAIN_MAX + 2];

	FUZZ_CHECK(!dns_subdomain_problem(p->name) && !dns_label_problem(p->namespace),
		   "bad name taken");
	FUZZ_CHECK(p->types && !(p->types & ~(POLICY_TYPE_INGRESS | POLICY_TYPE_EGRESS)),
		   "bad policyTypes %#x", p->types);
	policy_spec_id(p, id, sizeof(id));
	check_selector(&p->pod_selector);
	check_rules(p->ingress, p->ningress);
	check_rules(p->egress, p->negress);
	round_trip(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct json_object *docs;
	struct policy_set set;
	struct policy_spec one;
	char why[256] = "";
	unsigned int i;
	int err;

	err = policy_set_parse_text(text, size, &set, why, sizeof(why));
	if (err) {
		FUZZ_CHECK(err == -EINVAL, "unexpected error %d", err);
		FUZZ_CHECK_MSG(why);
		FUZZ_CHECK(!set.items && !set.n, "failed parse left memory behind");
	} else {
		FUZZ_CHECK(set.n >= 1 && set.n <= POLICY_MAX_SET, "%u policies", set.n);
		for (i = 0; i < set.n; i++)
			check_policy(&set.items[i]);
	}
	why[0] = '\0';
	err = policy_spec_parse_text(text, size, &one, why, sizeof(why));
	FUZZ_CHECK(!err == (set.n == 1), "one policy parse disagrees with the set's %u", set.n);
	if (err) {
		FUZZ_CHECK_MSG(why);
		FUZZ_CHECK(!one.name && !one.ingress && !one.egress, "failed parse left memory");
	} else {
		FUZZ_CHECK(policy_spec_equal(&one, &set.items[0]), "one policy differs");
		policy_spec_free(&one);
	}
	policy_set_free(&set);

	/* The YAML reader alone, even on what looks like JSON. */
	why[0] = '\0';
	err = yaml_to_json(text, size, &docs, why, sizeof(why));
	if (err) {
		FUZZ_CHECK(err == -EINVAL, "unexpected error %d", err);
		FUZZ_CHECK_MSG(why);
		FUZZ_CHECK(!docs, "failed conversion left a value");
	} else {
		FUZZ_CHECK(json_object_array_length(docs) <= TEXT_JSON_MAX_DOCS, "too many docs");
		json_object_put(docs);
	}
	return 0;
}
