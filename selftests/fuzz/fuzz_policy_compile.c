// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz_policy_compile.c - the policy compiler (userspace/lib/policy_compile.c) on worlds built
 * from the input's bytes (selftests/policy/policy_world.h: namespaces, pods with labels, named
 * ports and addresses, identities as podlaned gives them, and NetworkPolicies written as JSON
 * and read by the real parser). The first byte picks the shape: bit 7 the focused worlds
 * (egress ipBlocks around pods, with named ports), the rest a small bound on rule set size.
 * What must hold for any world:
 *   - the result equals the reference (pw_check): isolation and the isolating policy, entries
 *     sorted and unique, each entry allowed by the policy and rule it names for sampled ports
 *     (policy_rule_ports_match), and for every local pod, both directions, every pod and
 *     addresses around every CIDR as peer, every protocol and the ports that matter, the
 *     verdict of policy_spec's matching equals a lookup in the compiled rule set;
 *   - compiling again gives the same result (rule sets equal, equal hashes, the same CIDRs);
 *   - with a small max_entries: -E2BIG with a message and nothing held exactly when a rule
 *     set of the full result needs more podlane_policy entries (distinct {peer, protocol,
 *     port prefix} keys, counted here from policy_port_prefixes) than that.
 */
#include "fuzz.h"
/*
 * The reference judge is the harness, not the code under test: it is built without coverage
 * instrumentation (its comparisons were three quarters of the time and guide nothing), so a
 * run spends its executions on the compiler.
 */
#pragma clang attribute push(__attribute__((no_sanitize("coverage"))), apply_to = function)
#include "../policy/policy_world.h"
#pragma clang attribute pop

struct key {
	__u32	peer;
	__u16	port;
	__u8	proto;
	__u8	bits;
};

static int key_cmp(const void *a, const void *b)
{
	const struct key *x = a, *y = b;

	if (x->peer != y->peer)
		return x->peer < y->peer ? -1 : 1;
	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return x->bits < y->bits ? -1 : x->bits > y->bits;
}

/* The podlane_policy entries a rule set needs, counted the plain way. */
static size_t map_keys(const struct pc_rule_set *set)
{
	struct pc_port_prefix pfx[PC_PORT_PREFIX_MAX];
	struct key *keys = malloc((set->n * 30 + 1) * sizeof(*keys));
	size_t n = 0, i, u = 0;
	unsigned int j, np;

	FUZZ_CHECK(keys, "out of memory");
	for (i = 0; i < set->n; i++) {
		const struct pc_entry *e = &set->entries[i];

		if (!e->proto) {
			keys[n++] = (struct key){ .peer = e->peer };
			continue;
		}
		np = policy_port_prefixes(e->port_lo, e->port_hi, pfx);
		FUZZ_CHECK(np >= 1 && np <= 30, "%u prefixes for %u..%u", np, e->port_lo,
			   e->port_hi);
		for (j = 0; j < np; j++)
			keys[n++] = (struct key){ e->peer, pfx[j].port, e->proto, pfx[j].bits };
	}
	qsort(keys, n, sizeof(*keys), key_cmp);
	for (i = 0; i < n; i++)
		u += !i || key_cmp(&keys[i - 1], &keys[i]);
	free(keys);
	return u;
}

static void same_result(const struct pc_result *a, const struct pc_result *b)
{
	unsigned int i;

	FUZZ_CHECK(a->nendpoints == b->nendpoints && a->ncidrs == b->ncidrs &&
		   a->nentries == b->nentries, "a second compile differs in size");
	for (i = 0; i < a->ncidrs; i++)
		FUZZ_CHECK(!memcmp(&a->cidrs[i], &b->cidrs[i], sizeof(a->cidrs[i])),
			   "a second compile differs in CIDR %u", i);
	for (i = 0; i < a->nendpoints; i++) {
		const struct pc_endpoint *x = &a->endpoints[i], *y = &b->endpoints[i];

		FUZZ_CHECK(x->flags == y->flags && x->ingress.policy == y->ingress.policy &&
			   x->egress.policy == y->egress.policy &&
			   policy_rule_set_equal(&x->ingress, &y->ingress) &&
			   policy_rule_set_equal(&x->egress, &y->egress) &&
			   policy_rule_set_hash(&x->ingress) == policy_rule_set_hash(&y->ingress) &&
			   policy_rule_set_hash(&x->egress) == policy_rule_set_hash(&y->egress),
			   "a second compile differs in endpoint %u", i);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pc_result res, again, small;
	struct pw_report rep = {};
	struct pw_world w;
	struct pw_src s;
	size_t max_small, need = 0;
	char err[256] = "";
	unsigned int i;
	int ret;

	if (!size)
		return 0;
	pw_src_bytes(&s, data + 1, size - 1);
	s.focus = data[0] & 0x80;
	max_small = data[0] & 0x3f;
	if (pw_build(&w, &s, PW_MAX_PODS, PW_MAX_POLICIES))
		return 0;	/* out of memory */

	ret = policy_compile(&w.world, PODLANE_MAX_POLICY, &res, err, sizeof(err));
	if (ret) {
		FUZZ_CHECK(ret == -ENOMEM, "compile failed: %d %s", ret, err);
		pw_free(&w);
		return 0;
	}
	if (!pw_check(&w, &res, &s, 4, 12, &rep)) {
		pw_dump(&w, stderr);
		FUZZ_CHECK(false, "%s", rep.msg);
	}

	ret = policy_compile(&w.world, PODLANE_MAX_POLICY, &again, err, sizeof(err));
	FUZZ_CHECK(!ret || ret == -ENOMEM, "second compile failed: %d %s", ret, err);
	if (!ret) {
		same_result(&res, &again);
		policy_result_free(&again);
	}

	for (i = 0; i < res.nendpoints; i++) {
		size_t in = map_keys(&res.endpoints[i].ingress);
		size_t out = map_keys(&res.endpoints[i].egress);

		need = in > need ? in : need;
		need = out > need ? out : need;
	}
	err[0] = '\0';
	ret = policy_compile(&w.world, max_small, &small, err, sizeof(err));
	if (ret != -ENOMEM) {
		FUZZ_CHECK(ret == (need > max_small ? -E2BIG : 0),
			   "max_entries %zu, a rule set needs %zu: compile returned %d (%s)",
			   max_small, need, ret, err);
		if (ret) {
			FUZZ_CHECK_MSG(err);
			FUZZ_CHECK(strstr(err, "rule set needs"), "message: %s", err);
			FUZZ_CHECK(!small.endpoints && !small.nendpoints && !small.cidrs &&
				   !small.ncidrs, "a refused compile left a result");
		} else {
			same_result(&res, &small);
			policy_result_free(&small);
		}
	}
	policy_result_free(&res);
	pw_free(&w);
	return 0;
}
