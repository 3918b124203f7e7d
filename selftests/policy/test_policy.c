// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_policy.c - NetworkPolicy objects as users write them (userspace/lib/policy_spec.c,
 * labels.c, yaml_json.c), with kselftest_harness.h: each field refused with the exact message
 * an operator would see (its path and the reason, one variant per case), the Kubernetes
 * documentation's example policies accepted with what they mean, the API server's policyTypes
 * inference, empty versus absent, the four selector operators, what each kind of peer selects,
 * ipBlock and port matching, YAML 1.2 scalar typing, YAML and JSON of one policy equal, streams
 * and Lists all or nothing. Every policy accepted here also goes through the canonical JSON and
 * back to an equal policy. Pure userspace: no root, no BPF.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "kselftest_harness.h"
#include "policy_spec.h"
#include "yaml_json.h"

#define HDR	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n" \
		"metadata: {name: p, namespace: ns1}\n"
#define SPEC(s)	HDR "spec: " s "\n"
#define ING(s)	SPEC("{ingress: [" s "]}")
#define FROM(s)	ING("{from: [" s "]}")
#define PORTS(s) ING("{ports: [" s "]}")

#define A16	"aaaaaaaaaaaaaaaa"
#define A48	A16 A16 A16
#define A64	A16 A16 A16 A16

/*
 * Parse text; on success the policy also goes to canonical JSON and back, and must come back
 * equal (the invariant podlaned's persistence relies on). Returns what policy_spec_parse_text
 * returned; err holds the message.
 */
static int parse(struct __test_metadata *_metadata, const char *text, struct policy_spec *p,
		 char *err, size_t errlen)
{
	struct policy_spec again;
	struct json_object *o;
	char why[256] = "";
	int ret;

	ret = policy_spec_parse_text(text, strlen(text), p, err, errlen);
	if (ret)
		return ret;
	o = policy_spec_to_json(p);
	EXPECT_NE(NULL, o);
	if (!o)
		return ret;
	EXPECT_EQ(0, policy_spec_parse(o, &again, why, sizeof(why)))
		TH_LOG("canonical form refused: %s: %s", why, json_object_to_json_string(o));
	if (!why[0]) {
		EXPECT_TRUE(policy_spec_equal(p, &again))
			TH_LOG("canonical form parses to another policy: %s",
			       json_object_to_json_string(o));
		policy_spec_free(&again);
	}
	json_object_put(o);
	return ret;
}

#define PARSE_OK(text, p)								\
	do {										\
		char err_[256] = "";							\
		ASSERT_EQ(0, parse(_metadata, (text), (p), err_, sizeof(err_)))	\
			TH_LOG("refused: %s", err_);					\
	} while (0)

/* ---- refusals: the exact message, path and reason ---- */

FIXTURE(refused) {};
FIXTURE_SETUP(refused) {}
FIXTURE_TEARDOWN(refused) {}

FIXTURE_VARIANT(refused) {
	const char *text;
	const char *want;	/* the message; ending in '*': its beginning */
};

#define REFUSE(name, t, w) FIXTURE_VARIANT_ADD(refused, name) { .text = (t), .want = (w) }

/* The object and its metadata */
REFUSE(top_not_object, "- a\n- b\n", "a NetworkPolicy must be an object, got a list");
REFUSE(api_version_missing, "kind: NetworkPolicy\nmetadata: {name: p}\nspec: {}\n",
       "apiVersion: required: \"networking.k8s.io/v1\"");
REFUSE(api_version_wrong, "apiVersion: v1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec: {}\n",
       "apiVersion: must be \"networking.k8s.io/v1\", got \"v1\"");
REFUSE(kind_wrong, "apiVersion: networking.k8s.io/v1\nkind: Networkpolicy\nmetadata: {name: p}\n"
       "spec: {}\n", "kind: must be \"NetworkPolicy\", got \"Networkpolicy\"");
REFUSE(top_unknown_field, SPEC("{}") "specs: {}\n", "unknown field \"specs\"");
REFUSE(metadata_missing, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nspec: {}\n",
       "metadata: required (name, namespace)");
REFUSE(name_missing, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
       "metadata: {namespace: a}\nspec: {}\n", "metadata.name: required");
REFUSE(name_upper_case, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
       "metadata: {name: Web}\nspec: {}\n",
       "metadata.name: \"Web\": must be a DNS-1123 subdomain: lower-case letters, digits, '-' "
       "and '.'");
REFUSE(name_part_starts_with_dash, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
       "metadata: {name: a.-b}\nspec: {}\n",
       "metadata.name: \"a.-b\": must be a DNS-1123 subdomain: each '.'-separated part must "
       "start and end with a lower-case letter or digit");
REFUSE(namespace_with_dot, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
       "metadata: {name: p, namespace: a.b}\nspec: {}\n",
       "metadata.namespace: \"a.b\": must be a DNS-1123 label: lower-case letters, digits and "
       "'-'");
REFUSE(namespace_too_long, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
       "metadata: {name: p, namespace: " A64 "}\nspec: {}\n",
       "metadata.namespace: \"" A48 "...\": must be at most 63 characters (a DNS-1123 label)");
REFUSE(metadata_unknown_field, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
       "metadata: {name: p, nmae: q}\nspec: {}\n", "metadata: unknown field \"nmae\"");
REFUSE(metadata_label_value, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
       "metadata: {name: p, labels: {app: \"a b\"}}\nspec: {}\n",
       "metadata.labels: value \"a b\" of \"app\": may contain only letters, digits, '-', '_' "
       "and '.'");
REFUSE(spec_missing, HDR, "spec: required");
REFUSE(spec_unknown_field, SPEC("{podselector: {}}"), "spec: unknown field \"podselector\"");
REFUSE(spec_not_object, SPEC("[]"), "spec: must be an object, got a list");

/* Selectors */
REFUSE(label_key_dash, SPEC("{podSelector: {matchLabels: {\"-app\": x}}}"),
       "spec.podSelector.matchLabels: key \"-app\": name part must start and end with a letter "
       "or digit");
REFUSE(label_key_two_slashes, SPEC("{podSelector: {matchLabels: {a/b/c: x}}}"),
       "spec.podSelector.matchLabels: key \"a/b/c\": must be a name with an optional prefix: "
       "[prefix/]name, one '/'");
REFUSE(label_key_prefix_upper, SPEC("{podSelector: {matchLabels: {Example.com/app: x}}}"),
       "spec.podSelector.matchLabels: key \"Example.com/app\": prefix part must be a DNS-1123 "
       "subdomain (lower-case letters, digits, '-' and '.')");
REFUSE(label_key_name_too_long, SPEC("{podSelector: {matchLabels: {x/" A64 ": x}}}"),
       "spec.podSelector.matchLabels: key \"x/" A16 A16 "aaaaaaaaaaaaaa...\": name part must "
       "be at most 63 characters");
REFUSE(label_value_too_long, SPEC("{podSelector: {matchLabels: {app: " A64 "}}}"),
       "spec.podSelector.matchLabels: value \"" A48 "...\" of \"app\": must be at most 63 "
       "characters");
REFUSE(label_value_integer, SPEC("{podSelector: {matchLabels: {app: 1}}}"),
       "spec.podSelector.matchLabels: value of \"app\" must be a string, got an integer");
REFUSE(label_value_boolean, SPEC("{podSelector: {matchLabels: {app: true}}}"),
       "spec.podSelector.matchLabels: value of \"app\" must be a string, got a boolean");
REFUSE(expr_operator_unknown,
       SPEC("{podSelector: {matchExpressions: [{key: app, operator: in, values: [a]}]}}"),
       "spec.podSelector.matchExpressions[0].operator: not a valid selector operator \"in\": "
       "must be In, NotIn, Exists or DoesNotExist");
REFUSE(expr_operator_missing, SPEC("{podSelector: {matchExpressions: [{key: app}]}}"),
       "spec.podSelector.matchExpressions[0].operator: required (In, NotIn, Exists or "
       "DoesNotExist)");
REFUSE(expr_in_without_values,
       SPEC("{podSelector: {matchExpressions: [{key: app, operator: In}]}}"),
       "spec.podSelector.matchExpressions[0].values: must be specified when operator is In or "
       "NotIn");
REFUSE(expr_notin_empty_values,
       SPEC("{podSelector: {matchExpressions: [{key: app, operator: NotIn, values: []}]}}"),
       "spec.podSelector.matchExpressions[0].values: must be specified when operator is In or "
       "NotIn");
REFUSE(expr_exists_with_values,
       SPEC("{podSelector: {matchExpressions: [{key: app, operator: Exists, values: [a]}]}}"),
       "spec.podSelector.matchExpressions[0].values: may not be specified when operator is "
       "Exists or DoesNotExist");
REFUSE(expr_doesnotexist_with_values,
       SPEC("{podSelector: {matchExpressions: [{key: a, operator: Exists},"
	    " {key: b, operator: DoesNotExist, values: [x]}]}}"),
       "spec.podSelector.matchExpressions[1].values: may not be specified when operator is "
       "Exists or DoesNotExist");
REFUSE(expr_key_missing, SPEC("{podSelector: {matchExpressions: [{operator: Exists}]}}"),
       "spec.podSelector.matchExpressions[0].key: required");
REFUSE(expr_key_bad, SPEC("{podSelector: {matchExpressions: [{key: \"a b\", operator: Exists}]}}"),
       "spec.podSelector.matchExpressions[0].key: \"a b\": name part may contain only letters, "
       "digits, '-', '_' and '.'");
REFUSE(expr_value_bad,
       SPEC("{podSelector: {matchExpressions: [{key: app, operator: In, values: [ok, b@d]}]}}"),
       "spec.podSelector.matchExpressions[0].values[1]: \"b@d\": may contain only letters, "
       "digits, '-', '_' and '.'");
REFUSE(expr_not_a_list, SPEC("{podSelector: {matchExpressions: {key: a}}}"),
       "spec.podSelector.matchExpressions: must be a list, got an object");
REFUSE(expr_unknown_field,
       SPEC("{podSelector: {matchExpressions: [{key: a, operator: Exists, value: [x]}]}}"),
       "spec.podSelector.matchExpressions[0]: unknown field \"value\"");
REFUSE(selector_unknown_field, SPEC("{podSelector: {matchlabels: {}}}"),
       "spec.podSelector: unknown field \"matchlabels\"");

/* policyTypes */
REFUSE(types_lower_case, SPEC("{policyTypes: [ingress]}"),
       "spec.policyTypes[0]: must be \"Ingress\" or \"Egress\", got \"ingress\"");
REFUSE(types_three, SPEC("{policyTypes: [Ingress, Egress, Ingress]}"),
       "spec.policyTypes: may not specify more than two policyTypes");
REFUSE(types_not_a_list, SPEC("{policyTypes: Ingress}"),
       "spec.policyTypes: must be a list, got a string");

/* Rules */
REFUSE(ingress_not_a_list, SPEC("{ingress: {}}"), "spec.ingress: must be a list, got an object");
REFUSE(ingress_rule_with_to, ING("{to: []}"), "spec.ingress[0]: unknown field \"to\"");
REFUSE(egress_rule_with_from, SPEC("{egress: [{}, {from: []}]}"),
       "spec.egress[1]: unknown field \"from\"");
REFUSE(rule_not_object, ING("x"), "spec.ingress[0]: must be an object, got a string");

/* Peers */
REFUSE(peer_empty, FROM("{}"),
       "spec.ingress[0].from[0]: must specify a peer: podSelector, namespaceSelector or ipBlock");
REFUSE(peer_null_selector_is_absent, FROM("{podSelector: null}"),
       "spec.ingress[0].from[0]: must specify a peer: podSelector, namespaceSelector or ipBlock");
REFUSE(peer_ipblock_and_pods,
       FROM("{podSelector: {}}, {ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}"),
       "spec.ingress[0].from[1]: may not specify both ipBlock and another peer");
REFUSE(peer_ipblock_and_namespaces,
       SPEC("{egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8}, namespaceSelector: {}}]}]}"),
       "spec.egress[0].to[0]: may not specify both ipBlock and another peer");
REFUSE(peer_unknown_field, FROM("{podselector: {}}"),
       "spec.ingress[0].from[0]: unknown field \"podselector\"");
REFUSE(peer_selector_not_object, FROM("{namespaceSelector: [a]}"),
       "spec.ingress[0].from[0].namespaceSelector: must be an object, got a list");
REFUSE(cidr_missing, FROM("{ipBlock: {except: []}}"),
       "spec.ingress[0].from[0].ipBlock.cidr: required");
REFUSE(cidr_without_length, FROM("{ipBlock: {cidr: 10.0.0.0}}"),
       "spec.ingress[0].from[0].ipBlock.cidr: \"10.0.0.0\": must be a CIDR, e.g. 10.9.8.0/24 or "
       "2001:db8::/64");
REFUSE(cidr_v4_length_33, FROM("{ipBlock: {cidr: 10.0.0.0/33}}"),
       "spec.ingress[0].from[0].ipBlock.cidr: \"10.0.0.0/33\": prefix length must be at most 32");
REFUSE(cidr_v6_length_129, FROM("{ipBlock: {cidr: \"2001:db8::/129\"}}"),
       "spec.ingress[0].from[0].ipBlock.cidr: \"2001:db8::/129\": prefix length must be at most "
       "128");
REFUSE(cidr_host_bits, FROM("{ipBlock: {cidr: 10.0.0.1/8}}"),
       "spec.ingress[0].from[0].ipBlock.cidr: \"10.0.0.1/8\": must not have bits set beyond the "
       "prefix length");
REFUSE(cidr_v6_host_bits, FROM("{ipBlock: {cidr: \"2001:db8::1/64\"}}"),
       "spec.ingress[0].from[0].ipBlock.cidr: \"2001:db8::1/64\": must not have bits set beyond "
       "the prefix length");
REFUSE(cidr_leading_zero, FROM("{ipBlock: {cidr: 010.0.0.0/8}}"),
       "spec.ingress[0].from[0].ipBlock.cidr: \"010.0.0.0/8\": must be a CIDR, e.g. 10.9.8.0/24 "
       "or 2001:db8::/64 (IPv4 without leading 0s)");
REFUSE(cidr_length_leading_zero, FROM("{ipBlock: {cidr: 10.0.0.0/08}}"),
       "spec.ingress[0].from[0].ipBlock.cidr: \"10.0.0.0/08\": must not have leading 0s in the "
       "prefix length");
REFUSE(cidr_v4_mapped_v6, FROM("{ipBlock: {cidr: \"::ffff:10.0.0.0/104\"}}"),
       "spec.ingress[0].from[0].ipBlock.cidr: \"::ffff:10.0.0.0/104\": must not have an "
       "IPv4-mapped IPv6 address");
REFUSE(cidr_not_a_string, FROM("{ipBlock: {cidr: 10}}"),
       "spec.ingress[0].from[0].ipBlock.cidr: must be a string, got an integer");
REFUSE(except_outside, FROM("{ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/16]}}"),
       "spec.ingress[0].from[0].ipBlock.except[0]: \"11.0.0.0/16\" must be a strict subset of "
       "cidr 10.0.0.0/8");
REFUSE(except_equal, FROM("{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16, 10.0.0.0/8]}}"),
       "spec.ingress[0].from[0].ipBlock.except[1]: \"10.0.0.0/8\" must be a strict subset of "
       "cidr 10.0.0.0/8");
REFUSE(except_wider, FROM("{ipBlock: {cidr: 10.0.0.0/8, except: [10.0.0.0/7]}}"),
       "spec.ingress[0].from[0].ipBlock.except[0]: \"10.0.0.0/7\" must be a strict subset of "
       "cidr 10.0.0.0/8");
REFUSE(except_other_family, FROM("{ipBlock: {cidr: 0.0.0.0/0, except: [\"::/64\"]}}"),
       "spec.ingress[0].from[0].ipBlock.except[0]: \"::/64\" must be a strict subset of cidr "
       "0.0.0.0/0");
REFUSE(except_not_a_list, FROM("{ipBlock: {cidr: 10.0.0.0/8, except: 10.1.0.0/16}}"),
       "spec.ingress[0].from[0].ipBlock.except: must be a list, got a string");
REFUSE(except_bad_cidr, FROM("{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16, 10.2.0.0/33]}}"),
       "spec.ingress[0].from[0].ipBlock.except[1]: \"10.2.0.0/33\": prefix length must be at "
       "most 32");

/* Ports */
REFUSE(protocol_lower_case, PORTS("{protocol: tcp}"),
       "spec.ingress[0].ports[0].protocol: must be \"TCP\", \"UDP\" or \"SCTP\", got \"tcp\"");
REFUSE(protocol_icmp, SPEC("{egress: [{ports: [{protocol: UDP}, {protocol: ICMP}]}]}"),
       "spec.egress[0].ports[1].protocol: must be \"TCP\", \"UDP\" or \"SCTP\", got \"ICMP\"");
REFUSE(port_zero, PORTS("{port: 0}"),
       "spec.ingress[0].ports[0].port: must be from 1 to 65535, got 0");
REFUSE(port_65536, PORTS("{port: 65536}"),
       "spec.ingress[0].ports[0].port: must be from 1 to 65535, got 65536");
REFUSE(port_negative, PORTS("{port: -1}"),
       "spec.ingress[0].ports[0].port: must be from 1 to 65535, got -1");
REFUSE(port_name_upper_case, PORTS("{port: HTTP}"),
       "spec.ingress[0].ports[0].port: \"HTTP\": may contain only lower-case letters, digits "
       "and '-' (an IANA service name)");
REFUSE(port_name_too_long, PORTS("{port: abcdefghijklmnop}"),
       "spec.ingress[0].ports[0].port: \"abcdefghijklmnop\": must be at most 15 characters (an "
       "IANA service name)");
REFUSE(port_name_digits_only, PORTS("{port: \"80\"}"),
       "spec.ingress[0].ports[0].port: \"80\": must contain at least one letter (an IANA service "
       "name)");
REFUSE(port_name_double_dash, PORTS("{port: a--b}"),
       "spec.ingress[0].ports[0].port: \"a--b\": must not start or end with '-' or hold \"--\" "
       "(an IANA service name)");
REFUSE(port_name_leading_dash, PORTS("{port: \"-ab\"}"),
       "spec.ingress[0].ports[0].port: \"-ab\": must not start or end with '-' or hold \"--\" "
       "(an IANA service name)");
REFUSE(port_fraction, PORTS("{port: 80.5}"),
       "spec.ingress[0].ports[0].port: must be a port number or a port name, got a number with a "
       "fraction");
REFUSE(port_boolean, PORTS("{port: true}"),
       "spec.ingress[0].ports[0].port: must be a port number or a port name, got a boolean");
REFUSE(end_port_without_port, PORTS("{endPort: 90}"),
       "spec.ingress[0].ports[0].endPort: may not be specified when port is not specified");
REFUSE(end_port_with_named_port, PORTS("{port: http, endPort: 90}"),
       "spec.ingress[0].ports[0].endPort: may not be specified when port is non-numeric");
REFUSE(end_port_below_port, PORTS("{port: 100, endPort: 90}"),
       "spec.ingress[0].ports[0].endPort: must be greater than or equal to port (100), got 90");
REFUSE(end_port_too_big, PORTS("{port: 100, endPort: 70000}"),
       "spec.ingress[0].ports[0].endPort: must be from 1 to 65535, got 70000");
REFUSE(end_port_string, PORTS("{port: 100, endPort: \"200\"}"),
       "spec.ingress[0].ports[0].endPort: must be an integer, got a string");
REFUSE(port_unknown_field, PORTS("{port: 80, endport: 90}"),
       "spec.ingress[0].ports[0]: unknown field \"endport\"");
REFUSE(ports_not_a_list, SPEC("{egress: [{ports: {port: 80}}]}"),
       "spec.egress[0].ports: must be a list, got an object");

/* The text: YAML and JSON */
REFUSE(yaml_anchor, SPEC("&s {}"), "yaml: line 4, column 7: anchors (&s) are not supported");
REFUSE(yaml_alias, SPEC("{podSelector: *a}"),
       "yaml: line 4, column 21: aliases (*a) are not supported");
REFUSE(yaml_merge_key_is_a_plain_key, SPEC("{<<: {podSelector: {}}}"),
       "spec: unknown field \"<<\"");
REFUSE(yaml_tag, SPEC("!!binary abc"),
       "yaml: line 4, column 7: tag tag:yaml.org,2002:binary is not supported (only !!str)");
REFUSE(yaml_duplicate_key, SPEC("{}") "spec: {}\n",
       "yaml: line 5, column 1: duplicate key \"spec\"");
REFUSE(yaml_key_not_scalar, HDR "spec:\n  ? [a]\n  : b\n",
       "yaml: line 5, column 5: a mapping key must be a scalar");
REFUSE(yaml_syntax, SPEC("{podSelector: {}"), "yaml: line 5, column 1: *");
REFUSE(yaml_integer_out_of_range, PORTS("{port: 99999999999999999999}"),
       "yaml: line 4, column 34: integer 99999999999999999999 is out of range");
#define OPEN10	"[[[[[[[[[["
#define CLOSE10	"]]]]]]]]]]"
REFUSE(yaml_too_deep, SPEC(OPEN10 OPEN10 OPEN10 OPEN10 CLOSE10 CLOSE10 CLOSE10 CLOSE10),
       "yaml: line 4, column 38: nested deeper than 32 levels");
REFUSE(yaml_invalid_utf8, HDR "spec: {podSelector: {matchLabels: {app: \"\xff\"}}}\n",
       "yaml: byte *");
REFUSE(json_syntax, "{\"apiVersion\": \"networking.k8s.io/v1\",}", "json: byte *");
REFUSE(json_two_values, "{\"a\": 1} {\"b\": 2}", "json: byte 9: more text after the value");
REFUSE(json_cut, "{\"apiVersion\": \"networking.k8s.io/v1\"", "json: the text ends inside a value");
REFUSE(json_nul_in_string, "{\"apiVersion\": \"networking.k8s.io/v1\", "
       "\"kind\": \"NetworkPolicy\", \"metadata\": {\"name\": \"p\"}, \"spec\": "
       "{\"podSelector\": {\"matchLabels\": {\"app\": \"a\\u0000b\"}}}}",
       "spec.podSelector.matchLabels: must not contain a NUL character");
/* A field name of control characters: escaped, and cut where the message's room ends. */
#define U0B5	"\\u000b\\u000b\\u000b\\u000b\\u000b"
#define X0B6	"\\x0b\\x0b\\x0b\\x0b\\x0b\\x0b"
REFUSE(unknown_field_escaped_and_cut, "{\"apiVersion\": \"networking.k8s.io/v1\", \"kind\": "
       "\"NetworkPolicy\", \"metadata\": {\"name\": \"p\"}, \"spec\": {\"podSelector\": {\""
       U0B5 U0B5 U0B5 U0B5 U0B5 U0B5 "\": 1}}}",
       "spec.podSelector: unknown field \"" X0B6 X0B6 X0B6 "...\"");
REFUSE(empty_text, "", "no NetworkPolicy in the text");
REFUSE(only_comments, "# nothing here\n---\n# nor here\n", "no NetworkPolicy in the text");

/* Streams and Lists: all or nothing, the document or item named */
REFUSE(stream_second_document, SPEC("{}") "---\n" "apiVersion: networking.k8s.io/v1\n"
       "kind: NetworkPolicy\nmetadata: {name: q, namespace: ns1}\nspec: {ingress: 1}\n",
       "document 2: spec.ingress: must be a list, got an integer");
REFUSE(list_second_item, "apiVersion: v1\nkind: List\nitems:\n"
       "- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: a}, spec: {}}\n"
       "- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: b},"
       " spec: {egress: [{to: [{}]}]}}\n",
       "items[1].spec.egress[0].to[0]: must specify a peer: podSelector, namespaceSelector or "
       "ipBlock");
REFUSE(list_api_version, "apiVersion: networking.k8s.io/v1\nkind: List\nitems: []\n",
       "apiVersion: must be \"v1\", got \"networking.k8s.io/v1\"");
REFUSE(stream_same_policy_twice, SPEC("{}") "---\n" SPEC("{ingress: [{}]}"),
       "policy \"ns1/p\" appears twice (policies 1 and 2 of the text)");
REFUSE(two_policies_where_one_is_expected,
       SPEC("{}") "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
       "metadata: {name: q}\nspec: {}\n", "the text holds 2 policies, one expected");

TEST_F(refused, with_path_and_reason)
{
	struct policy_spec p;
	char err[512] = "";
	size_t n = strlen(variant->want);
	bool prefix = variant->want[n - 1] == '*';
	int ret;

	ret = parse(_metadata, variant->text, &p, err, sizeof(err));
	if (!ret)
		policy_spec_free(&p);
	ASSERT_EQ(-EINVAL, ret) TH_LOG("accepted: %s", variant->text);
	/* Refused, nothing is left to free: the policy is zeroed. */
	EXPECT_EQ(NULL, p.name);
	EXPECT_EQ(NULL, p.ingress);
	EXPECT_EQ(NULL, p.egress);
	EXPECT_EQ(0, p.pod_selector.match_labels.n);
	if (prefix) {
		EXPECT_EQ(0, strncmp(err, variant->want, n - 1))
			TH_LOG("got  %s\n# want %s", err, variant->want);
	} else {
		EXPECT_STREQ(variant->want, err);
	}
}

/* ---- the Kubernetes documentation's examples ---- */

/*
 * kubernetes.io/docs/concepts/services-networking/network-policies/, "The NetworkPolicy
 * resource"
 */
static const char docs_example_yaml[] =
	"apiVersion: networking.k8s.io/v1\n"
	"kind: NetworkPolicy\n"
	"metadata:\n"
	"  name: test-network-policy\n"
	"  namespace: default\n"
	"spec:\n"
	"  podSelector:\n"
	"    matchLabels:\n"
	"      role: db\n"
	"  policyTypes:\n"
	"  - Ingress\n"
	"  - Egress\n"
	"  ingress:\n"
	"  - from:\n"
	"    - ipBlock:\n"
	"        cidr: 172.17.0.0/16\n"
	"        except:\n"
	"        - 172.17.1.0/24\n"
	"    - namespaceSelector:\n"
	"        matchLabels:\n"
	"          project: myproject\n"
	"    - podSelector:\n"
	"        matchLabels:\n"
	"          role: frontend\n"
	"    ports:\n"
	"    - protocol: TCP\n"
	"      port: 6379\n"
	"  egress:\n"
	"  - to:\n"
	"    - ipBlock:\n"
	"        cidr: 10.0.0.0/24\n"
	"    ports:\n"
	"    - protocol: TCP\n"
	"      port: 5978\n";

/* The same policy as a user may write it in JSON: other order, defaults left out. */
static const char docs_example_json[] =
	"{\"kind\": \"NetworkPolicy\", \"apiVersion\": \"networking.k8s.io/v1\",\n"
	" \"metadata\": {\"name\": \"test-network-policy\"},\n"
	" \"spec\": {\"policyTypes\": [\"Egress\", \"Ingress\"],\n"
	"  \"egress\": [{\"ports\": [{\"port\": 5978}],\n"
	"              \"to\": [{\"ipBlock\": {\"cidr\": \"10.0.0.0/24\"}}]}],\n"
	"  \"ingress\": [{\"from\": [{\"ipBlock\": {\"except\": [\"172.17.1.0/24\"],\n"
	"                                        \"cidr\": \"172.17.0.0/16\"}},\n"
	"                          {\"namespaceSelector\": {\"matchLabels\":\n"
	"                              {\"project\": \"myproject\"}}},\n"
	"                          {\"podSelector\": {\"matchLabels\": {\"role\": \"frontend\"}}}\n"
	"                         ],\n"
	"                \"ports\": [{\"protocol\": \"TCP\", \"port\": 6379}]}],\n"
	"  \"podSelector\": {\"matchLabels\": {\"role\": \"db\"}}}}\n";

static struct policy_cidr cidr(const char *text)
{
	struct policy_cidr c;

	if (policy_cidr_parse(text, &c))
		memset(&c, 0xee, sizeof(c));
	return c;
}

TEST(docs_example_means_what_the_docs_say)
{
	struct policy_spec p;
	const struct policy_peer *peer;
	struct policy_cidr want;

	PARSE_OK(docs_example_yaml, &p);
	EXPECT_STREQ("test-network-policy", p.name);
	EXPECT_STREQ("default", p.namespace);
	EXPECT_EQ(POLICY_TYPE_INGRESS | POLICY_TYPE_EGRESS, p.types);
	ASSERT_EQ(1, p.pod_selector.match_labels.n);
	EXPECT_STREQ("db", label_set_get(&p.pod_selector.match_labels, "role"));
	ASSERT_EQ(1, p.ningress);
	ASSERT_EQ(3, p.ingress[0].npeers);
	peer = &p.ingress[0].peers[0];
	ASSERT_EQ(POLICY_PEER_IP_BLOCK, peer->kind);
	want = cidr("172.17.0.0/16");
	EXPECT_EQ(0, memcmp(&want, &peer->ip_block.cidr, sizeof(want)));
	EXPECT_EQ(AF_INET, peer->ip_block.cidr.family);
	EXPECT_EQ(16, peer->ip_block.cidr.prefix_len);
	ASSERT_EQ(1, peer->ip_block.nexcept);
	EXPECT_EQ(24, peer->ip_block.except[0].prefix_len);
	peer = &p.ingress[0].peers[1];
	EXPECT_EQ(POLICY_PEER_NAMESPACES, peer->kind);
	EXPECT_STREQ("myproject", label_set_get(&peer->namespaces.match_labels, "project"));
	peer = &p.ingress[0].peers[2];
	EXPECT_EQ(POLICY_PEER_PODS, peer->kind);
	EXPECT_STREQ("frontend", label_set_get(&peer->pods.match_labels, "role"));
	ASSERT_EQ(1, p.ingress[0].nports);
	EXPECT_EQ(IPPROTO_TCP, p.ingress[0].ports[0].proto);
	EXPECT_EQ(6379, p.ingress[0].ports[0].port);
	EXPECT_EQ(6379, p.ingress[0].ports[0].end_port);
	EXPECT_EQ(NULL, p.ingress[0].ports[0].name);
	ASSERT_EQ(1, p.negress);
	ASSERT_EQ(1, p.egress[0].npeers);
	EXPECT_EQ(5978, p.egress[0].ports[0].port);
	policy_spec_free(&p);
}

TEST(yaml_and_json_of_one_policy_are_equal)
{
	struct policy_spec y, j;
	struct json_object *a, *b;

	PARSE_OK(docs_example_yaml, &y);
	PARSE_OK(docs_example_json, &j);
	EXPECT_TRUE(policy_spec_equal(&y, &j));
	a = policy_spec_to_json(&y);
	b = policy_spec_to_json(&j);
	EXPECT_STREQ(json_object_to_json_string(a), json_object_to_json_string(b));
	json_object_put(a);
	json_object_put(b);
	policy_spec_free(&y);
	policy_spec_free(&j);
}

TEST(canonical_json_spells_out_the_defaults)
{
	static const char want[] =
		"{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\","
		"\"metadata\":{\"name\":\"p\",\"namespace\":\"default\"},\"spec\":{"
		"\"podSelector\":{},\"policyTypes\":[\"Ingress\",\"Egress\"],\"ingress\":[{}],"
		"\"egress\":[{\"to\":[{\"ipBlock\":{\"cidr\":\"2001:db8::/32\",\"except\":"
		"[\"2001:db8:ff::/48\"]}}],\"ports\":[{\"protocol\":\"TCP\",\"port\":80},"
		"{\"protocol\":\"UDP\",\"port\":1000,\"endPort\":2000},{\"protocol\":\"SCTP\"},"
		"{\"protocol\":\"TCP\",\"port\":\"dns\"}]}]}}";
	struct policy_spec p;
	struct json_object *o;

	PARSE_OK("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\n"
		 "spec:\n  ingress: [{from: [], ports: []}]\n  egress:\n"
		 "  - to: [{ipBlock: {cidr: \"2001:DB8::/32\",\n"
		 "                    except: [\"2001:db8:00ff::/48\"]}}]\n"
		 "    ports: [{port: 80, endPort: 80}, {protocol: UDP, port: 1000, endPort: 2000},"
		 " {protocol: SCTP}, {port: dns}]\n", &p);
	o = policy_spec_to_json(&p);
	EXPECT_STREQ(want, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							     JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	policy_spec_free(&p);
}

/* The documentation's default policies and further examples. */
TEST(docs_default_deny_ingress)
{
	struct policy_spec p;

	PARSE_OK("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		 "metadata:\n  name: default-deny-ingress\nspec:\n  podSelector: {}\n"
		 "  policyTypes:\n  - Ingress\n", &p);
	EXPECT_TRUE(label_selector_empty(&p.pod_selector));
	EXPECT_EQ(POLICY_TYPE_INGRESS, p.types);
	EXPECT_EQ(0, p.ningress);	/* isolated for ingress, nothing allowed */
	policy_spec_free(&p);
}

TEST(docs_allow_all_ingress)
{
	struct policy_spec p;

	PARSE_OK("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		 "metadata:\n  name: allow-all-ingress\nspec:\n  podSelector: {}\n"
		 "  ingress:\n  - {}\n  policyTypes:\n  - Ingress\n", &p);
	ASSERT_EQ(1, p.ningress);
	EXPECT_EQ(0, p.ingress[0].npeers);	/* every source */
	EXPECT_EQ(0, p.ingress[0].nports);	/* every port */
	EXPECT_TRUE(policy_rule_ports_match(&p.ingress[0], NULL, IPPROTO_UDP, 53));
	policy_spec_free(&p);
}

TEST(docs_default_deny_egress_and_allow_all_egress)
{
	struct policy_spec deny, allow;

	PARSE_OK("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		 "metadata:\n  name: default-deny-egress\nspec:\n  podSelector: {}\n"
		 "  policyTypes:\n  - Egress\n", &deny);
	EXPECT_EQ(POLICY_TYPE_EGRESS, deny.types);
	EXPECT_EQ(0, deny.negress);
	PARSE_OK("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		 "metadata:\n  name: allow-all-egress\nspec:\n  podSelector: {}\n"
		 "  egress:\n  - {}\n  policyTypes:\n  - Egress\n", &allow);
	EXPECT_EQ(POLICY_TYPE_EGRESS, allow.types);
	ASSERT_EQ(1, allow.negress);
	EXPECT_EQ(0, allow.egress[0].npeers);
	policy_spec_free(&deny);
	policy_spec_free(&allow);
}

TEST(docs_default_deny_all)
{
	struct policy_spec p;

	PARSE_OK("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		 "metadata:\n  name: default-deny-all\nspec:\n  podSelector: {}\n"
		 "  policyTypes:\n  - Ingress\n  - Egress\n", &p);
	EXPECT_EQ(POLICY_TYPE_INGRESS | POLICY_TYPE_EGRESS, p.types);
	EXPECT_EQ(0, p.ningress);
	EXPECT_EQ(0, p.negress);
	policy_spec_free(&p);
}

/* "Targeting a range of ports": endPort. */
TEST(docs_multi_port_egress)
{
	struct policy_spec p;
	const struct policy_port *pp;

	PARSE_OK("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		 "metadata:\n  name: multi-port-egress\n  namespace: default\nspec:\n"
		 "  podSelector:\n    matchLabels:\n      role: db\n  policyTypes:\n    - Egress\n"
		 "  egress:\n    - to:\n        - ipBlock:\n            cidr: 10.0.0.0/24\n"
		 "      ports:\n        - protocol: TCP\n          port: 32000\n"
		 "          endPort: 32768\n", &p);
	ASSERT_EQ(1, p.negress);
	ASSERT_EQ(1, p.egress[0].nports);
	pp = &p.egress[0].ports[0];
	EXPECT_EQ(32000, pp->port);
	EXPECT_EQ(32768, pp->end_port);
	EXPECT_TRUE(policy_port_matches(pp, NULL, IPPROTO_TCP, 32000));
	EXPECT_TRUE(policy_port_matches(pp, NULL, IPPROTO_TCP, 32768));
	EXPECT_FALSE(policy_port_matches(pp, NULL, IPPROTO_TCP, 31999));
	EXPECT_FALSE(policy_port_matches(pp, NULL, IPPROTO_TCP, 32769));
	EXPECT_FALSE(policy_port_matches(pp, NULL, IPPROTO_UDP, 32000));
	policy_spec_free(&p);
}

/* "Behavior of to and from selectors": one peer with both selectors is AND. */
TEST(docs_namespace_and_pod_selector_in_one_peer)
{
	struct policy_spec and, or;

	PARSE_OK(ING("{from: [{namespaceSelector: {matchLabels: {user: alice}},"
		     " podSelector: {matchLabels: {role: client}}}]}"), &and);
	ASSERT_EQ(1, and.ingress[0].npeers);
	EXPECT_EQ(POLICY_PEER_PODS_IN_NAMESPACES, and.ingress[0].peers[0].kind);
	PARSE_OK(ING("{from: [{namespaceSelector: {matchLabels: {user: alice}}},"
		     " {podSelector: {matchLabels: {role: client}}}]}"), &or);
	ASSERT_EQ(2, or.ingress[0].npeers);
	EXPECT_EQ(POLICY_PEER_NAMESPACES, or.ingress[0].peers[0].kind);
	EXPECT_EQ(POLICY_PEER_PODS, or.ingress[0].peers[1].kind);
	EXPECT_FALSE(policy_spec_equal(&and, &or));
	policy_spec_free(&and);
	policy_spec_free(&or);
}

/* ---- policyTypes inference (the API server's defaulting) ---- */

TEST(types_inferred_ingress_without_egress_rules)
{
	struct policy_spec p;

	PARSE_OK(SPEC("{ingress: [{}]}"), &p);
	EXPECT_EQ(POLICY_TYPE_INGRESS, p.types);
	policy_spec_free(&p);
	PARSE_OK(SPEC("{}"), &p);
	EXPECT_EQ(POLICY_TYPE_INGRESS, p.types);
	policy_spec_free(&p);
}

TEST(types_inferred_egress_when_egress_has_a_rule)
{
	struct policy_spec p;

	PARSE_OK(SPEC("{egress: [{}]}"), &p);
	EXPECT_EQ(POLICY_TYPE_INGRESS | POLICY_TYPE_EGRESS, p.types);
	EXPECT_EQ(0, p.ningress);
	policy_spec_free(&p);
}

TEST(types_not_inferred_egress_from_an_empty_egress)
{
	struct policy_spec p;

	PARSE_OK(SPEC("{egress: []}"), &p);
	EXPECT_EQ(POLICY_TYPE_INGRESS, p.types);
	policy_spec_free(&p);
	PARSE_OK(SPEC("{egress: null}"), &p);
	EXPECT_EQ(POLICY_TYPE_INGRESS, p.types);
	policy_spec_free(&p);
}

TEST(types_empty_list_is_inferred_like_absent)
{
	struct policy_spec p;

	PARSE_OK(SPEC("{policyTypes: [], egress: [{}]}"), &p);
	EXPECT_EQ(POLICY_TYPE_INGRESS | POLICY_TYPE_EGRESS, p.types);
	policy_spec_free(&p);
}

TEST(types_explicit_egress_only_keeps_ingress_rules)
{
	struct policy_spec p;

	PARSE_OK(SPEC("{policyTypes: [Egress], ingress: [{ports: [{port: 80}]}]}"), &p);
	EXPECT_EQ(POLICY_TYPE_EGRESS, p.types);
	EXPECT_EQ(1, p.ningress);	/* kept, as the API keeps it; governs nothing */
	policy_spec_free(&p);
}

TEST(types_repeated_is_accepted_as_the_api_server_does)
{
	struct policy_spec p;

	PARSE_OK(SPEC("{policyTypes: [Ingress, Ingress]}"), &p);
	EXPECT_EQ(POLICY_TYPE_INGRESS, p.types);
	policy_spec_free(&p);
}

/* ---- empty and absent ---- */

TEST(pod_selector_absent_empty_and_null_select_every_pod)
{
	struct policy_spec absent, empty, null;
	struct label_set labels = {};

	PARSE_OK(SPEC("{}"), &absent);
	PARSE_OK(SPEC("{podSelector: {}}"), &empty);
	PARSE_OK(SPEC("{podSelector: {matchLabels: null, matchExpressions: []}}"), &null);
	EXPECT_TRUE(policy_spec_equal(&absent, &empty));
	EXPECT_TRUE(policy_spec_equal(&absent, &null));
	EXPECT_TRUE(policy_selects_pod(&absent, &labels, "ns1"));
	EXPECT_FALSE(policy_selects_pod(&absent, &labels, "ns2"));
	ASSERT_EQ(0, label_set_add(&labels, "app", "web"));
	EXPECT_TRUE(policy_selects_pod(&empty, &labels, "ns1"));
	label_set_free(&labels);
	policy_spec_free(&absent);
	policy_spec_free(&empty);
	policy_spec_free(&null);
}

TEST(namespace_absent_or_empty_is_default)
{
	struct policy_spec a, b;

	PARSE_OK("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x}\n"
		 "spec: {}\n", &a);
	PARSE_OK("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		 "metadata: {name: x, namespace: \"\"}\nspec: {}\n", &b);
	EXPECT_STREQ("default", a.namespace);
	EXPECT_TRUE(policy_spec_equal(&a, &b));
	policy_spec_free(&a);
	policy_spec_free(&b);
}

TEST(rule_from_and_ports_absent_null_or_empty_allow_everything)
{
	struct policy_spec a, b, c;

	PARSE_OK(ING("{}"), &a);
	PARSE_OK(ING("{from: [], ports: []}"), &b);
	PARSE_OK(ING("{from: null, ports: null}"), &c);
	EXPECT_EQ(0, a.ingress[0].npeers);
	EXPECT_EQ(0, a.ingress[0].nports);
	EXPECT_TRUE(policy_spec_equal(&a, &b));
	EXPECT_TRUE(policy_spec_equal(&a, &c));
	policy_spec_free(&a);
	policy_spec_free(&b);
	policy_spec_free(&c);
}

TEST(ingress_absent_and_empty_allow_nothing)
{
	struct policy_spec a, b, c;

	PARSE_OK(SPEC("{}"), &a);
	PARSE_OK(SPEC("{ingress: []}"), &b);
	PARSE_OK(ING("{}"), &c);
	EXPECT_TRUE(policy_spec_equal(&a, &b));
	EXPECT_EQ(0, a.ningress);
	EXPECT_FALSE(policy_spec_equal(&a, &c));	/* [{}]: one rule allowing everything */
	policy_spec_free(&a);
	policy_spec_free(&b);
	policy_spec_free(&c);
}

TEST(peer_empty_pod_selector_differs_from_absent)
{
	struct policy_spec pods, nss, both;

	PARSE_OK(FROM("{podSelector: {}}"), &pods);
	PARSE_OK(FROM("{namespaceSelector: {}}"), &nss);
	PARSE_OK(FROM("{podSelector: {}, namespaceSelector: {}}"), &both);
	EXPECT_EQ(POLICY_PEER_PODS, pods.ingress[0].peers[0].kind);
	EXPECT_EQ(POLICY_PEER_NAMESPACES, nss.ingress[0].peers[0].kind);
	EXPECT_EQ(POLICY_PEER_PODS_IN_NAMESPACES, both.ingress[0].peers[0].kind);
	EXPECT_FALSE(policy_spec_equal(&pods, &nss));
	EXPECT_FALSE(policy_spec_equal(&nss, &both));
	policy_spec_free(&pods);
	policy_spec_free(&nss);
	policy_spec_free(&both);
}

/* ---- ports ---- */

TEST(ports_protocols_numbers_ranges_and_names)
{
	struct policy_spec p;
	const struct policy_port *pp;

	PARSE_OK(PORTS("{}, {protocol: UDP}, {protocol: SCTP, port: 9}, {port: 80, endPort: 80},"
		       " {port: 1, endPort: 65535}, {protocol: UDP, port: dns-udp}"), &p);
	ASSERT_EQ(6, p.ingress[0].nports);
	pp = p.ingress[0].ports;
	EXPECT_EQ(IPPROTO_TCP, pp[0].proto);	/* the default */
	EXPECT_EQ(0, pp[0].port);		/* every port */
	EXPECT_EQ(IPPROTO_UDP, pp[1].proto);
	EXPECT_EQ(0, pp[1].port);
	EXPECT_EQ(IPPROTO_SCTP, pp[2].proto);
	EXPECT_EQ(9, pp[2].port);
	EXPECT_EQ(9, pp[2].end_port);
	EXPECT_EQ(80, pp[3].end_port);
	EXPECT_EQ(1, pp[4].port);
	EXPECT_EQ(65535, pp[4].end_port);
	EXPECT_STREQ("dns-udp", pp[5].name);
	EXPECT_EQ(0, pp[5].port);
	EXPECT_TRUE(policy_port_matches(&pp[0], NULL, IPPROTO_TCP, 1));
	EXPECT_FALSE(policy_port_matches(&pp[0], NULL, IPPROTO_UDP, 1));
	EXPECT_TRUE(policy_port_matches(&pp[1], NULL, IPPROTO_UDP, 65535));
	policy_spec_free(&p);
}

TEST(named_port_resolves_on_the_destination_pod)
{
	struct policy_pod_port ports[] = {
		{ .name = "http", .proto = IPPROTO_TCP, .port = 8080 },
		{ .name = "dns", .proto = IPPROTO_UDP, .port = 53 },
	};
	struct policy_pod pod = { .ports = ports, .nports = 2 };
	struct policy_spec p;

	PARSE_OK(PORTS("{port: http}, {protocol: UDP, port: dns}, {port: dns}"), &p);
	EXPECT_TRUE(policy_port_matches(&p.ingress[0].ports[0], &pod, IPPROTO_TCP, 8080));
	EXPECT_FALSE(policy_port_matches(&p.ingress[0].ports[0], &pod, IPPROTO_TCP, 80));
	EXPECT_FALSE(policy_port_matches(&p.ingress[0].ports[0], &pod, IPPROTO_UDP, 8080));
	EXPECT_FALSE(policy_port_matches(&p.ingress[0].ports[0], NULL, IPPROTO_TCP, 8080));
	EXPECT_TRUE(policy_port_matches(&p.ingress[0].ports[1], &pod, IPPROTO_UDP, 53));
	/* "dns" over TCP: the pod's "dns" port is UDP, so nothing. */
	EXPECT_FALSE(policy_port_matches(&p.ingress[0].ports[2], &pod, IPPROTO_TCP, 53));
	EXPECT_TRUE(policy_rule_ports_match(&p.ingress[0], &pod, IPPROTO_UDP, 53));
	EXPECT_FALSE(policy_rule_ports_match(&p.ingress[0], &pod, IPPROTO_UDP, 54));
	policy_spec_free(&p);
}

/* ---- addresses ---- */

static bool in_block(const struct policy_peer *peer, const char *addr)
{
	unsigned char a[16];
	int family = strchr(addr, ':') ? AF_INET6 : AF_INET;

	if (inet_pton(family, addr, a) != 1)
		return false;
	return policy_peer_matches_addr(peer, family, a);
}

TEST(ip_block_holds_cidr_but_not_except)
{
	struct policy_spec p;
	const struct policy_peer *v4, *v6, *all;

	PARSE_OK(FROM("{ipBlock: {cidr: 172.17.0.0/16, except: [172.17.1.0/24, 172.17.2.128/25]}},"
		      " {ipBlock: {cidr: \"2001:db8::/32\", except: [\"2001:db8:1::/48\"]}},"
		      " {ipBlock: {cidr: 0.0.0.0/0}}"), &p);
	v4 = &p.ingress[0].peers[0];
	v6 = &p.ingress[0].peers[1];
	all = &p.ingress[0].peers[2];
	EXPECT_EQ(AF_INET6, v6->ip_block.cidr.family);
	EXPECT_TRUE(in_block(v4, "172.17.0.1"));
	EXPECT_TRUE(in_block(v4, "172.17.255.255"));
	EXPECT_FALSE(in_block(v4, "172.17.1.7"));
	EXPECT_TRUE(in_block(v4, "172.17.2.127"));
	EXPECT_FALSE(in_block(v4, "172.17.2.128"));
	EXPECT_FALSE(in_block(v4, "172.18.0.1"));
	EXPECT_FALSE(in_block(v4, "2001:db8::1"));	/* another family */
	EXPECT_TRUE(in_block(v6, "2001:db8::1"));
	EXPECT_FALSE(in_block(v6, "2001:db8:1::1"));
	EXPECT_TRUE(in_block(v6, "2001:db8:2::1"));
	EXPECT_FALSE(in_block(v6, "2001:db9::1"));
	EXPECT_TRUE(in_block(all, "1.2.3.4"));
	EXPECT_FALSE(in_block(all, "::1"));
	/* An ipBlock peer selects no pod by labels. */
	EXPECT_FALSE(policy_peer_matches_pod(v4, &(struct label_set){}, &(struct label_set){},
					     "ns1", "ns1"));
	policy_spec_free(&p);
}

TEST(cidr_text_forms)
{
	struct policy_cidr c;
	char text[POLICY_CIDR_STRLEN];

	EXPECT_EQ(NULL, policy_cidr_parse("0.0.0.0/0", &c));
	EXPECT_EQ(NULL, policy_cidr_parse("10.1.2.3/32", &c));
	EXPECT_EQ(NULL, policy_cidr_parse("::/0", &c));
	EXPECT_EQ(NULL, policy_cidr_parse("2001:0DB8:0000::/48", &c));
	policy_cidr_format(&c, text, sizeof(text));
	EXPECT_STREQ("2001:db8::/48", text);
	/* IPv4-compatible, not IPv4-mapped. */
	EXPECT_EQ(NULL, policy_cidr_parse("::1.2.3.0/120", &c));
	EXPECT_NE(NULL, policy_cidr_parse("10.0.0.0/", &c));
	EXPECT_NE(NULL, policy_cidr_parse("/8", &c));
	EXPECT_NE(NULL, policy_cidr_parse("10.0.0.0/8/8", &c));
	EXPECT_NE(NULL, policy_cidr_parse("10.0.0.0/+8", &c));
	EXPECT_NE(NULL, policy_cidr_parse("10.0.0.0/ 8", &c));
	EXPECT_NE(NULL, policy_cidr_parse("10.0.0/8", &c));
	EXPECT_NE(NULL, policy_cidr_parse("fe80::1%eth0/64", &c));
	EXPECT_NE(NULL, policy_cidr_parse("10.0.0.0/1000", &c));
}

/* ---- selectors ---- */

static struct label_set labels_of(const char *const *kv)
{
	struct label_set set = {};

	for (; kv[0]; kv += 2)
		if (label_set_add(&set, kv[0], kv[1]))
			abort();
	return set;
}

/* The selector of a policy's spec.podSelector, written as YAML. */
static bool selects(struct __test_metadata *_metadata, const char *selector,
		    const char *const *kv)
{
	char text[1024], err[256] = "";
	struct label_set set = labels_of(kv);
	struct policy_spec p;
	bool ret;

	snprintf(text, sizeof(text), SPEC("{podSelector: %s}"), selector);
	if (parse(_metadata, text, &p, err, sizeof(err))) {
		TH_LOG("selector refused: %s", err);
		label_set_free(&set);
		_metadata->passed = 0;
		return false;
	}
	ret = label_selector_matches(&p.pod_selector, &set);
	label_set_free(&set);
	policy_spec_free(&p);
	return ret;
}

#define L(...)	((const char *const[]){ __VA_ARGS__, NULL })
#define NONE	((const char *const[]){ NULL })

TEST(selector_match_labels)
{
	EXPECT_TRUE(selects(_metadata, "{matchLabels: {app: web}}", L("app", "web")));
	EXPECT_TRUE(selects(_metadata, "{matchLabels: {app: web}}", L("app", "web", "x", "y")));
	EXPECT_FALSE(selects(_metadata, "{matchLabels: {app: web}}", L("app", "db")));
	EXPECT_FALSE(selects(_metadata, "{matchLabels: {app: web}}", NONE));
	EXPECT_FALSE(selects(_metadata, "{matchLabels: {app: web, tier: a}}", L("app", "web")));
	EXPECT_TRUE(selects(_metadata, "{matchLabels: {app: \"\"}}", L("app", "")));
	EXPECT_FALSE(selects(_metadata, "{matchLabels: {app: \"\"}}", NONE));
}

TEST(selector_in_and_not_in)
{
	const char *in = "{matchExpressions: [{key: env, operator: In, values: [prod, stage]}]}";
	const char *notin = "{matchExpressions: [{key: env, operator: NotIn, values: [prod]}]}";

	EXPECT_TRUE(selects(_metadata, in, L("env", "prod")));
	EXPECT_TRUE(selects(_metadata, in, L("env", "stage")));
	EXPECT_FALSE(selects(_metadata, in, L("env", "dev")));
	EXPECT_FALSE(selects(_metadata, in, NONE));
	EXPECT_FALSE(selects(_metadata, notin, L("env", "prod")));
	EXPECT_TRUE(selects(_metadata, notin, L("env", "dev")));
	EXPECT_TRUE(selects(_metadata, notin, NONE));	/* no such label: not in */
}

TEST(selector_exists_and_does_not_exist)
{
	const char *ex = "{matchExpressions: [{key: example.com/team, operator: Exists}]}";
	const char *nex = "{matchExpressions: [{key: example.com/team, operator: DoesNotExist,"
			  " values: []}]}";

	EXPECT_TRUE(selects(_metadata, ex, L("example.com/team", "")));
	EXPECT_TRUE(selects(_metadata, ex, L("example.com/team", "a")));
	EXPECT_FALSE(selects(_metadata, ex, L("team", "a")));
	EXPECT_FALSE(selects(_metadata, nex, L("example.com/team", "a")));
	EXPECT_TRUE(selects(_metadata, nex, L("team", "a")));
	EXPECT_TRUE(selects(_metadata, nex, NONE));
}

TEST(selector_match_labels_and_expressions_all_hold)
{
	const char *sel = "{matchLabels: {app: web}, matchExpressions: ["
			  "{key: env, operator: In, values: [prod]},"
			  "{key: canary, operator: DoesNotExist}]}";

	EXPECT_TRUE(selects(_metadata, sel, L("app", "web", "env", "prod")));
	EXPECT_FALSE(selects(_metadata, sel, L("app", "web", "env", "prod", "canary", "1")));
	EXPECT_FALSE(selects(_metadata, sel, L("app", "db", "env", "prod")));
	EXPECT_FALSE(selects(_metadata, sel, L("app", "web", "env", "dev")));
	EXPECT_TRUE(selects(_metadata, "{}", NONE));
	EXPECT_TRUE(selects(_metadata, "{}", L("a", "b")));
}

TEST(selector_expressions_keep_their_values)
{
	struct policy_spec p;
	const struct label_requirement *r;

	PARSE_OK(SPEC("{podSelector: {matchExpressions: [{key: a, operator: NotIn,"
		      " values: [z, y, z]}, {key: b, operator: Exists}]}}"), &p);
	ASSERT_EQ(2, p.pod_selector.nexprs);
	r = &p.pod_selector.exprs[0];
	EXPECT_EQ(LABEL_OP_NOT_IN, r->op);
	ASSERT_EQ(3, r->nvalues);	/* as written: the API keeps repeats */
	EXPECT_STREQ("z", r->values[0]);
	EXPECT_STREQ("y", r->values[1]);
	EXPECT_EQ(LABEL_OP_EXISTS, p.pod_selector.exprs[1].op);
	EXPECT_EQ(0, p.pod_selector.exprs[1].nvalues);
	policy_spec_free(&p);
}

/* ---- what peers select ---- */

TEST(peer_semantics_pods_namespaces_and_both)
{
	struct policy_spec p;
	struct label_set web = labels_of(L("role", "web")), db = labels_of(L("role", "db"));
	struct label_set prod_labels = labels_of(L("env", "prod"));
	struct policy_namespace ns1, prod;
	const struct policy_peer *pods, *nss, *both;

	ASSERT_EQ(0, policy_namespace_init(&ns1, "ns1", NULL));
	ASSERT_EQ(0, policy_namespace_init(&prod, "prod", &prod_labels));
	PARSE_OK(FROM("{podSelector: {matchLabels: {role: web}}},"
		      " {namespaceSelector: {matchLabels: {env: prod}}},"
		      " {namespaceSelector: {matchLabels: {env: prod}},"
		      "  podSelector: {matchLabels: {role: db}}}"), &p);
	pods = &p.ingress[0].peers[0];
	nss = &p.ingress[0].peers[1];
	both = &p.ingress[0].peers[2];
	/* podSelector alone: pods of the policy's own namespace only. */
	EXPECT_TRUE(policy_peer_matches_pod(pods, &web, &ns1.labels, "ns1", p.namespace));
	EXPECT_FALSE(policy_peer_matches_pod(pods, &web, &prod.labels, "prod", p.namespace));
	EXPECT_FALSE(policy_peer_matches_pod(pods, &db, &ns1.labels, "ns1", p.namespace));
	/* namespaceSelector alone: every pod of the namespaces it selects. */
	EXPECT_TRUE(policy_peer_matches_pod(nss, &web, &prod.labels, "prod", p.namespace));
	EXPECT_TRUE(policy_peer_matches_pod(nss, &db, &prod.labels, "prod", p.namespace));
	EXPECT_FALSE(policy_peer_matches_pod(nss, &web, &ns1.labels, "ns1", p.namespace));
	/* Both: the pods it selects in the namespaces it selects. */
	EXPECT_TRUE(policy_peer_matches_pod(both, &db, &prod.labels, "prod", p.namespace));
	EXPECT_FALSE(policy_peer_matches_pod(both, &web, &prod.labels, "prod", p.namespace));
	EXPECT_FALSE(policy_peer_matches_pod(both, &db, &ns1.labels, "ns1", p.namespace));
	policy_spec_free(&p);
	policy_namespace_free(&ns1);
	policy_namespace_free(&prod);
	label_set_free(&web);
	label_set_free(&db);
	label_set_free(&prod_labels);
}

TEST(namespace_name_label_is_implied_and_wins)
{
	struct label_set written = labels_of(L(POLICY_NS_NAME_LABEL, "fake", "team", "a"));
	struct label_set pod = {};
	struct policy_namespace ns;
	struct policy_spec p;

	ASSERT_EQ(0, policy_namespace_init(&ns, "kube-system", &written));
	EXPECT_STREQ("kube-system", label_set_get(&ns.labels, POLICY_NS_NAME_LABEL));
	EXPECT_STREQ("a", label_set_get(&ns.labels, "team"));
	PARSE_OK(FROM("{namespaceSelector: {matchLabels:"
		      " {kubernetes.io/metadata.name: kube-system}}}"), &p);
	EXPECT_TRUE(policy_peer_matches_pod(&p.ingress[0].peers[0], &pod, &ns.labels,
					    "kube-system", "ns1"));
	policy_spec_free(&p);
	policy_namespace_free(&ns);
	label_set_free(&written);
}

/* ---- labels ---- */

TEST(label_syntax)
{
	EXPECT_EQ(NULL, label_key_problem("app"));
	EXPECT_EQ(NULL, label_key_problem("app.kubernetes.io/name"));
	EXPECT_EQ(NULL, label_key_problem("A_b.c-D"));
	EXPECT_EQ(NULL, label_key_problem("a/" A16 A16 A16 "aaaaaaaaaaaaaaa"));	/* 63 */
	EXPECT_NE(NULL, label_key_problem(""));
	EXPECT_NE(NULL, label_key_problem("/a"));
	EXPECT_NE(NULL, label_key_problem("a/"));
	EXPECT_NE(NULL, label_key_problem("a_"));
	EXPECT_NE(NULL, label_key_problem("ex_ample.com/a"));
	EXPECT_EQ(NULL, label_value_problem(""));
	EXPECT_EQ(NULL, label_value_problem("v1.2-3_x"));
	EXPECT_NE(NULL, label_value_problem("v/1"));
	EXPECT_NE(NULL, label_value_problem(".v"));
	EXPECT_EQ(NULL, dns_subdomain_problem("a-b.c--d.e"));
	EXPECT_NE(NULL, dns_subdomain_problem("a..b"));
	EXPECT_NE(NULL, dns_subdomain_problem("a-.b"));
	EXPECT_NE(NULL, dns_subdomain_problem("a."));
	EXPECT_EQ(NULL, dns_label_problem("a--b"));
	EXPECT_NE(NULL, dns_label_problem("a-"));
	EXPECT_EQ(NULL, port_name_problem("http-alt"));
	EXPECT_EQ(NULL, port_name_problem("h2"));
	EXPECT_EQ(NULL, port_name_problem("abcdefghijklmno"));	/* 15 */
}

TEST(label_set_is_sorted_and_replaces)
{
	struct label_set set = {}, copy;

	ASSERT_EQ(0, label_set_add(&set, "b", "1"));
	ASSERT_EQ(0, label_set_add(&set, "a", "2"));
	ASSERT_EQ(0, label_set_add(&set, "c", "3"));
	ASSERT_EQ(0, label_set_add(&set, "b", "4"));
	ASSERT_EQ(3, set.n);
	EXPECT_STREQ("a", set.labels[0].key);
	EXPECT_STREQ("c", set.labels[2].key);
	EXPECT_STREQ("4", label_set_get(&set, "b"));
	EXPECT_EQ(NULL, label_set_get(&set, "d"));
	ASSERT_EQ(0, label_set_copy(&copy, &set));
	EXPECT_TRUE(label_set_equal(&set, &copy));
	label_set_free(&copy);
	label_set_free(&set);
}

TEST(labels_parse_for_pod_and_namespace_records)
{
	struct json_object *o = json_tokener_parse("{\"app\": \"web\", \"x/y\": \"\"}");
	struct json_object *bad = json_tokener_parse("{\"app\": 7}");
	struct label_set set;
	char err[256];

	ASSERT_EQ(0, policy_labels_parse(o, "labels", &set, err, sizeof(err)));
	EXPECT_EQ(2, set.n);
	EXPECT_STREQ("", label_set_get(&set, "x/y"));
	label_set_free(&set);
	EXPECT_EQ(-EINVAL, policy_labels_parse(bad, "pod.labels", &set, err, sizeof(err)));
	EXPECT_STREQ("pod.labels: value of \"app\" must be a string, got an integer", err);
	EXPECT_EQ(0, set.n);
	json_object_put(o);
	json_object_put(bad);
}

/* ---- YAML as the 1.2 core schema types it ---- */

TEST(yaml_scalars_typed_by_the_core_schema)
{
	struct json_object *docs, *d;
	char err[256];

	static const char text[] = "a: yes\nb: \"true\"\nc: true\nd: ~\ne: 0x50\nf: 0o120\n"
				   "g: '80'\nh: !!str 80\ni: 1.5\nj: -7\nk: |\n  x\nl: NULL\n"
				   "m: -.inf\nn: 1e3\no: 12abc\np: +12\nq: 0x\nr: ! 5\n";

	ASSERT_EQ(0, yaml_to_json(text, strlen(text), &docs, err, sizeof(err)))
		TH_LOG("%s", err);
	ASSERT_EQ(1, json_object_array_length(docs));
	d = json_object_array_get_idx(docs, 0);
	EXPECT_STREQ("{\"a\":\"yes\",\"b\":\"true\",\"c\":true,\"d\":null,\"e\":80,\"f\":80,"
		     "\"g\":\"80\",\"h\":\"80\",\"i\":1.5,\"j\":-7,\"k\":\"x\\n\",\"l\":null,"
		     "\"m\":-Infinity,\"n\":1000.0,\"o\":\"12abc\",\"p\":12,\"q\":\"0x\","
		     "\"r\":\"5\"}",
		     json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN));
	json_object_put(docs);
}

TEST(yaml_quoted_numbers_and_booleans_are_strings)
{
	struct policy_spec p;

	PARSE_OK(SPEC("{podSelector: {matchLabels: {app: \"true\", v: '1', on: yes}}}"), &p);
	EXPECT_STREQ("true", label_set_get(&p.pod_selector.match_labels, "app"));
	EXPECT_STREQ("1", label_set_get(&p.pod_selector.match_labels, "v"));
	EXPECT_STREQ("yes", label_set_get(&p.pod_selector.match_labels, "on"));
	policy_spec_free(&p);
	PARSE_OK(PORTS("{port: 0x50}"), &p);
	EXPECT_EQ(80, p.ingress[0].ports[0].port);
	policy_spec_free(&p);
}

TEST(yaml_comments_bom_and_crlf)
{
	struct policy_spec a, b;

	PARSE_OK(docs_example_yaml, &a);
	PARSE_OK("\xef\xbb\xbf# exported\r\napiVersion: networking.k8s.io/v1\r\n"
		 "kind: NetworkPolicy # the kind\r\nmetadata:\r\n  name: test-network-policy\r\n"
		 "spec:\r\n  podSelector: {matchLabels: {role: db}}\r\n"
		 "  ingress:\r\n"
		 "  - from: [{ipBlock: {cidr: 172.17.0.0/16, except: [172.17.1.0/24]}},"
		 " {namespaceSelector: {matchLabels: {project: myproject}}},"
		 " {podSelector: {matchLabels: {role: frontend}}}]\r\n"
		 "    ports: [{protocol: TCP, port: 6379}]\r\n"
		 "  egress: [{to: [{ipBlock: {cidr: 10.0.0.0/24}}], ports: [{port: 5978}]}]\r\n",
		 &b);
	EXPECT_TRUE(policy_spec_equal(&a, &b));
	policy_spec_free(&a);
	policy_spec_free(&b);
}

TEST(json_with_white_space_and_bom)
{
	struct policy_spec p;

	PARSE_OK("\xef\xbb\xbf \n\t{\"apiVersion\": \"networking.k8s.io/v1\", \"kind\": "
		 "\"NetworkPolicy\", \"metadata\": {\"name\": \"p\"}, \"spec\": {}}\n\n", &p);
	EXPECT_STREQ("p", p.name);
	policy_spec_free(&p);
}

TEST(metadata_as_kubectl_shows_it)
{
	struct policy_spec p;

	PARSE_OK("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n"
		 "  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: |\n"
		 "      {\"apiVersion\":\"networking.k8s.io/v1\"}\n"
		 "    Example.com/Note: any text at all\n"
		 "  creationTimestamp: \"2024-01-02T03:04:05Z\"\n  generation: 1\n"
		 "  labels:\n    app.kubernetes.io/part-of: shop\n"
		 "  name: api-allow\n  namespace: shop\n  resourceVersion: \"12345\"\n"
		 "  uid: 0b6f2f53-7f1c-4b9c-9d1e-3f0a8f1d2c3b\nspec:\n  podSelector: {}\n", &p);
	EXPECT_STREQ("api-allow", p.name);
	EXPECT_STREQ("shop", p.namespace);
	policy_spec_free(&p);
}

/* ---- streams and Lists ---- */

TEST(stream_of_policies_skips_empty_documents)
{
	static const char text[] =
		"---\n" SPEC("{}") "---\n# empty\n---\n"
		"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		"metadata: {name: p, namespace: ns2}\nspec: {egress: [{}]}\n...\n";
	struct policy_set set;
	char err[256] = "";

	ASSERT_EQ(0, policy_set_parse_text(text, strlen(text), &set, err, sizeof(err)))
		TH_LOG("%s", err);
	ASSERT_EQ(2, set.n);
	EXPECT_STREQ("ns1", set.items[0].namespace);
	EXPECT_STREQ("ns2", set.items[1].namespace);
	EXPECT_EQ(POLICY_TYPE_INGRESS | POLICY_TYPE_EGRESS, set.items[1].types);
	policy_set_free(&set);
}

TEST(list_and_network_policy_list)
{
	static const char list[] =
		"apiVersion: v1\nkind: List\nmetadata: {resourceVersion: \"\"}\nitems:\n"
		"- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: a},"
		" spec: {}}\n"
		"- {apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: b},"
		" spec: {}}\n";
	static const char nplist[] =
		"{\"apiVersion\": \"networking.k8s.io/v1\", \"kind\": \"NetworkPolicyList\","
		" \"items\": [{\"apiVersion\": \"networking.k8s.io/v1\","
		" \"kind\": \"NetworkPolicy\","
		" \"metadata\": {\"name\": \"a\"}, \"spec\": {}}]}";
	struct policy_set set;
	struct policy_spec one;
	char err[256] = "";

	ASSERT_EQ(0, policy_set_parse_text(list, strlen(list), &set, err, sizeof(err)))
		TH_LOG("%s", err);
	ASSERT_EQ(2, set.n);
	EXPECT_STREQ("b", set.items[1].name);
	policy_set_free(&set);
	/* A list of one is one policy. */
	ASSERT_EQ(0, policy_spec_parse_text(nplist, strlen(nplist), &one, err, sizeof(err)))
		TH_LOG("%s", err);
	EXPECT_STREQ("a", one.name);
	policy_spec_free(&one);
}

/* ---- bounds ---- */

static char *rules_text(unsigned int n)
{
	size_t size = 256 + n * 4;
	char *t = malloc(size), *p = t;
	unsigned int i;

	p += sprintf(p, HDR "spec:\n  ingress: [");
	for (i = 0; i < n; i++)
		p += sprintf(p, "%s{}", i ? "," : "");
	sprintf(p, "]\n");
	return t;
}

TEST(rules_up_to_the_limit)
{
	char *ok = rules_text(POLICY_MAX_RULES), *over = rules_text(POLICY_MAX_RULES + 1);
	struct policy_spec p;
	char err[256] = "";

	PARSE_OK(ok, &p);
	EXPECT_EQ(POLICY_MAX_RULES, p.ningress);
	policy_spec_free(&p);
	EXPECT_EQ(-EINVAL, policy_spec_parse_text(over, strlen(over), &p, err, sizeof(err)));
	EXPECT_STREQ("spec.ingress: 257 entries, at most 256", err);
	free(ok);
	free(over);
}

TEST(text_larger_than_the_limit)
{
	size_t len = TEXT_JSON_MAX_BYTES + 1;
	char *t = malloc(len), err[256] = "";
	struct policy_spec p;

	ASSERT_NE(NULL, t);
	memset(t, ' ', len);
	memcpy(t, HDR, strlen(HDR));
	EXPECT_EQ(-EINVAL, policy_spec_parse_text(t, len, &p, err, sizeof(err)));
	EXPECT_STREQ("yaml: 1048577 bytes, at most 1048576", err);
	free(t);
}

TEST(short_error_buffer_is_cut_not_overrun)
{
	char err[8];
	struct policy_spec p;
	const char *text = FROM("{}");

	memset(err, 'x', sizeof(err));
	EXPECT_EQ(-EINVAL, policy_spec_parse_text(text, strlen(text), &p, err, sizeof(err)));
	EXPECT_STREQ("spec.in", err);
}

TEST_HARNESS_MAIN
