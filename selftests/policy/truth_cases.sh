# SPDX-License-Identifier: GPL-2.0-only
# selftests/policy/truth_cases.sh - the truth table's cases (truthlib.sh runs them). First
# every TCP, UDP and SCTP case of the upstream Kubernetes e2e suite
# (test/e2e/network/netpol/network_policy.go), each named after the test it reproduces, in
# upstream's order; then what upstream lacks. Where upstream names a namespace by its
# generated name, x, y and z are the namespaces here.
#
# Expectations are written from the API's semantics, as upstream writes them, but over all
# nine pods and all four port/protocol pairs (upstream probes a subset of pods, and one or two
# ports per test): every case verifies tcp/80, tcp/81, udp/80 and udp/81. Reminders:
#   - a policy isolates the pods its podSelector selects, in the directions of its
#     policyTypes (upstream's SetSpecIngressRules and SetSpecEgressRules each add theirs, so
#     the policies here spell policyTypes out as upstream's objects carry them);
#   - a port without protocol is TCP; a rule without ports allows every port and protocol;
#   - a peer podSelector without namespaceSelector selects in the policy's own namespace;
#   - replies of an allowed connection pass, so egress isolation of x/a never blocks y -> x/a.

# --- the baseline --------------------------------------------------------------------------------

# Every upstream test's starting point: no policy, every pod reaches every pod.
tt_case baseline "no policy: every pod reaches every other pod on every port and protocol"
baseline() {
	verify "no policy"
}

# --- upstream: "NetworkPolicy between server and client" ------------------------------------------

tt_case default_deny_ingress "upstream: should support a 'default-deny-ingress' policy"
default_deny_ingress() {
	policy x deny-ingress <<-'EOF'
	podSelector: {}
	policyTypes: [Ingress]
	ingress: []
	EOF
	deny any x
	verify "deny-ingress in x isolates x for ingress"
}

tt_case default_deny_all "upstream: should support a 'default-deny-all' policy"
default_deny_all() {
	policy x deny-all <<-'EOF'
	podSelector: {}
	policyTypes: [Ingress, Egress]
	ingress: []
	egress: []
	EOF
	deny any x
	deny x any
	verify "deny-all in x: nothing in, nothing out"
}

tt_case allow_from_pod_in_ns \
	"upstream: should enforce policy to allow traffic from pods within server namespace based on PodSelector"
allow_from_pod_in_ns() {
	policy x x-a-allows-x-b <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Ingress]
	ingress:
	- from:
	  - podSelector: {matchLabels: {pod: b}}
	EOF
	deny any x/a
	allow x/b x/a
	verify "x/a admits x/b only"
}

tt_case allow_ingress_for_target "upstream: should enforce policy to allow ingress traffic for a target"
allow_ingress_for_target() {
	policy x deny-all <<-'EOF'
	podSelector: {}
	policyTypes: [Ingress]
	ingress: []
	EOF
	policy x allow-all-to-a <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Ingress]
	ingress:
	- from:
	  - podSelector: {}
	    namespaceSelector: {}
	EOF
	deny any x
	allow any x/a
	verify "x denies ingress, a second policy admits everyone to x/a"
}

tt_case allow_from_all_namespaces \
	"upstream: should enforce policy to allow ingress traffic from pods in all namespaces"
allow_from_all_namespaces() {
	policy x allow-from-another-ns <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Ingress]
	ingress:
	- from:
	  - namespaceSelector: {matchLabels: {}}
	EOF
	verify "x/a admits every pod of every namespace"
}

tt_case allow_from_other_ns \
	"upstream: should enforce policy to allow traffic only from a different namespace, based on NamespaceSelector"
allow_from_other_ns() {
	policy x allow-client-a-via-ns-selector <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Ingress]
	ingress:
	- from:
	  - namespaceSelector: {matchLabels: {ns: y}}
	EOF
	deny x x/a
	deny z x/a
	verify "x/a admits namespace y (ns=y) only"
}

tt_case pod_selector_match_expressions \
	"upstream: should enforce policy based on PodSelector with MatchExpressions"
pod_selector_match_expressions() {
	policy x x-a-allows-x-b <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Ingress]
	ingress:
	- from:
	  - podSelector:
	      matchExpressions: [{key: pod, operator: In, values: [b]}]
	EOF
	deny any x/a
	allow x/b x/a
	verify "x/a admits pods with pod In (b) of x"
}

tt_case ns_selector_match_expressions \
	"upstream: should enforce policy based on NamespaceSelector with MatchExpressions"
ns_selector_match_expressions() {
	policy x allow-ns-y-match-selector <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Ingress]
	ingress:
	- from:
	  - namespaceSelector:
	      matchExpressions: [{key: ns, operator: In, values: [y]}]
	EOF
	deny x x/a
	deny z x/a
	verify "x/a admits namespaces with ns In (y)"
}

tt_case pod_or_ns_selector "upstream: should enforce policy based on PodSelector or NamespaceSelector"
pod_or_ns_selector() {
	policy x allow-ns-y-match-selector <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Ingress]
	ingress:
	- from:
	  - namespaceSelector:
	      matchExpressions: [{key: ns, operator: NotIn, values: [x]}]
	  - podSelector: {matchLabels: {pod: b}}
	EOF
	deny x/a x/a
	deny x/c x/a
	verify "x/a admits namespaces NotIn (x), or x/b: two peers, OR"
}

tt_case pod_and_ns_selector "upstream: should enforce policy based on PodSelector and NamespaceSelector"
pod_and_ns_selector() {
	policy x allow-ns-y-podselector-and-nsselector <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Ingress]
	ingress:
	- from:
	  - namespaceSelector:
	      matchExpressions: [{key: ns, operator: NotIn, values: [x]}]
	    podSelector: {matchLabels: {pod: b}}
	EOF
	deny any x/a
	allow y/b x/a
	allow z/b x/a
	verify "x/a admits pod=b in namespaces NotIn (x): one peer, AND"
}

tt_case multiple_pod_and_ns_selectors \
	"upstream: should enforce policy based on Multiple PodSelectors and NamespaceSelectors"
multiple_pod_and_ns_selectors() {
	policy x allow-ns-y-z-pod-b-c <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Ingress]
	ingress:
	- from:
	  - namespaceSelector:
	      matchExpressions: [{key: ns, operator: NotIn, values: [x]}]
	    podSelector:
	      matchExpressions: [{key: pod, operator: In, values: [b, c]}]
	EOF
	deny x x/a
	deny y/a x/a
	deny z/a x/a
	verify "x/a admits pod In (b, c) in namespaces NotIn (x)"
}

tt_case any_pod_selectors "upstream: should enforce policy based on any PodSelectors"
any_pod_selectors() {
	policy x allow-ns-x-pod-b-c <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Ingress]
	ingress:
	- from:
	  - podSelector: {matchLabels: {pod: b}}
	  - podSelector: {matchLabels: {pod: c}}
	EOF
	deny any x/a
	allow x/b x/a
	allow x/c x/a
	verify "x/a admits x/b or x/c"
}

tt_case pod_in_other_ns \
	"upstream: should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector"
pod_in_other_ns() {
	policy x allow-ns-y-pod-a-via-namespace-pod-selector <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Ingress]
	ingress:
	- from:
	  - namespaceSelector: {matchLabels: {ns: y}}
	    podSelector: {matchLabels: {pod: a}}
	EOF
	deny any x/a
	allow y/a x/a
	verify "x/a admits y/a only"
}

tt_case ports "upstream: should enforce policy based on Ports"
ports() {
	policy x allow-client-a-via-ns-selector <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Ingress]
	ingress:
	- from:
	  - namespaceSelector: {matchLabels: {ns: y}}
	  ports:
	  - {port: 81, protocol: TCP}
	EOF
	deny any x/a
	allow y x/a tcp/81
	verify "x/a admits namespace y on TCP 81 only"
}

tt_case stacked_policies \
	"upstream: should enforce multiple, stacked policies with overlapping podSelectors"
stacked_policies() {
	policy x allow-client-a-via-ns-selector <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Ingress]
	ingress:
	- from:
	  - namespaceSelector: {matchLabels: {ns: y}}
	  ports:
	  - {port: 81, protocol: TCP}
	EOF
	deny any x/a
	allow y x/a tcp/81
	verify "the first policy admits y to x/a on TCP 81"
	policy x allow-client-a-via-ns-selector-80 <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Ingress]
	ingress:
	- from:
	  - namespaceSelector: {matchLabels: {ns: y}}
	  ports:
	  - {port: 80, protocol: TCP}
	EOF
	allow y x/a tcp/80
	verify "a second policy on the same pod adds TCP 80"
}

tt_case allow_all "upstream: should support allow-all policy"
allow_all() {
	policy x allow-all <<-'EOF'
	podSelector: {matchLabels: {}}
	policyTypes: [Ingress]
	ingress:
	- {}
	EOF
	verify "an empty ingress rule admits everything"
}

tt_case ingress_named_port "upstream: should allow ingress access on one named port"
ingress_named_port() {
	policy x allow-all <<-'EOF'
	podSelector: {matchLabels: {}}
	policyTypes: [Ingress]
	ingress:
	- ports:
	  - port: serve-81-tcp
	EOF
	deny any x
	allow any x tcp/81
	verify "x admits its named port serve-81-tcp (TCP 81) from anyone"
}

tt_case ingress_ns_named_port "upstream: should allow ingress access from namespace on one named port"
ingress_ns_named_port() {
	policy x allow-client-a-via-ns-selector-80 <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Ingress]
	ingress:
	- from:
	  - namespaceSelector: {matchLabels: {ns: y}}
	  ports:
	  - {port: serve-80-tcp, protocol: TCP}
	EOF
	deny any x/a
	allow y x/a tcp/80
	verify "x/a admits namespace y on serve-80-tcp only"
}

tt_case egress_named_port "upstream: should allow egress access on one named port"
egress_named_port() {
	policy x allow-egress <<-'EOF'
	podSelector: {matchLabels: {}}
	policyTypes: [Egress]
	egress:
	- ports:
	  - port: serve-80-tcp
	EOF
	deny x any
	allow x any tcp/80
	verify "x sends only to its destinations' serve-80-tcp (TCP 80)"
}

tt_case updated_policy "upstream: should enforce updated policy"
updated_policy() {
	policy x allow-all-mutate-to-deny-all <<-'EOF'
	podSelector: {matchLabels: {}}
	policyTypes: [Ingress]
	ingress:
	- {}
	EOF
	verify "allow-all in x"
	policy x allow-all-mutate-to-deny-all <<-'EOF'
	podSelector: {matchLabels: {}}
	policyTypes: [Ingress]
	ingress: []
	EOF
	deny any x
	verify "the same policy updated to no ingress rule: x isolated"
}

tt_case ingress_from_updated_ns "upstream: should allow ingress access from updated namespace"
ingress_from_updated_ns() {
	policy x allow-client-a-via-ns-selector <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Ingress]
	ingress:
	- from:
	  - namespaceSelector: {matchLabels: {ns2: updated}}
	EOF
	deny any x/a
	verify "x/a admits namespaces labelled ns2=updated: none yet"
	ns_label y ns2=updated
	allow y x/a
	verify "namespace y labelled ns2=updated: y reaches x/a"
}

tt_case ingress_from_updated_pod "upstream: should allow ingress access from updated pod"
ingress_from_updated_pod() {
	policy x allow-client-a-via-pod-selector <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Ingress]
	ingress:
	- from:
	  - podSelector: {matchLabels: {pod: b, pod2: updated}}
	EOF
	deny any x/a
	verify "x/a admits pod=b,pod2=updated: none yet"
	pod_label x/b pod2=updated
	allow x/b x/a
	verify "x/b labelled pod2=updated reaches x/a"
}

tt_case deny_from_other_ns "upstream: should deny ingress from pods on other namespaces"
deny_from_other_ns() {
	policy x deny-empty-policy <<-'EOF'
	podSelector: {}
	policyTypes: [Ingress]
	ingress:
	- from:
	  - podSelector: {matchLabels: {}}
	EOF
	deny y x
	deny z x
	verify "x admits its own pods only"
}

tt_case deny_to_updated_pod "upstream: should deny ingress access to updated pod"
deny_to_updated_pod() {
	policy x deny-ingress-via-label-selector <<-'EOF'
	podSelector: {matchLabels: {target: isolated}}
	policyTypes: [Ingress]
	ingress: []
	EOF
	verify "the policy selects target=isolated: no pod yet"
	pod_label x/a target=isolated
	deny any x/a
	verify "x/a labelled target=isolated is isolated"
}

tt_case deny_egress_pod "upstream: should deny egress from pods based on PodSelector"
deny_egress_pod() {
	policy x deny-egress-pod-a <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Egress]
	egress: []
	EOF
	deny x/a any
	verify "x/a sends nothing (and still answers)"
}

tt_case deny_egress_ns "upstream: should deny egress from all pods in a namespace"
deny_egress_ns() {
	policy x deny-egress-ns-x <<-'EOF'
	podSelector: {}
	policyTypes: [Egress]
	egress: []
	EOF
	deny x any
	verify "x sends nothing"
}

tt_case ingress_and_egress "upstream: should work with Ingress, Egress specified together"
ingress_and_egress() {
	policy x allow-client-a-via-pod-selector <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Egress, Ingress]
	ingress:
	- from:
	  - podSelector: {matchLabels: {pod: b}}
	egress:
	- ports:
	  - port: 80
	EOF
	deny any x/a
	allow x/b x/a
	deny x/a any tcp/81 udp
	verify "x/a admits x/b and sends on TCP 80 only"
}

tt_case egress_denied_client_side \
	"upstream: should support denying of egress traffic on the client side (even if the server explicitly allows this traffic)"
egress_denied_client_side() {
	policy x allow-to-ns-y-pod-a <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Egress]
	egress:
	- to:
	  - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}
	    podSelector: {matchLabels: {pod: a}}
	EOF
	policy y allow-from-xa-on-ya-match-selector <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Ingress]
	ingress:
	- from:
	  - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: x}}
	    podSelector: {matchLabels: {pod: a}}
	EOF
	policy y allow-from-xa-on-yb-match-selector <<-'EOF'
	podSelector: {matchLabels: {pod: b}}
	policyTypes: [Ingress]
	ingress:
	- from:
	  - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: x}}
	    podSelector: {matchLabels: {pod: a}}
	EOF
	deny x/a any
	deny any y/a
	allow x/a y/a
	deny any y/b
	verify "y/a and y/b admit x/a; x/a may send to y/a only"
}

tt_case egress_to_pod_in_other_ns \
	"upstream: should enforce egress policy allowing traffic to a server in a different namespace based on PodSelector and NamespaceSelector"
egress_to_pod_in_other_ns() {
	policy x allow-to-ns-y-pod-a <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Egress]
	egress:
	- to:
	  - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}
	    podSelector: {matchLabels: {pod: a}}
	EOF
	deny x/a any
	allow x/a y/a
	verify "x/a sends to y/a only"
}

tt_case ingress_by_protocol \
	"upstream: should enforce ingress policy allowing any port traffic to a server on a specific protocol"
ingress_by_protocol() {
	policy x allow-ingress-by-proto <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Ingress]
	ingress:
	- ports:
	  - protocol: TCP
	EOF
	deny any x/a udp
	verify "x/a admits TCP on any port, no UDP"
}

tt_case ingress_allow_all_precedence \
	"upstream: should enforce multiple ingress policies with ingress allow-all policy taking precedence"
ingress_allow_all_precedence() {
	policy x allow-ingress-port-80 <<-'EOF'
	podSelector: {matchLabels: {}}
	policyTypes: [Ingress]
	ingress:
	- ports:
	  - port: 80
	EOF
	deny any x
	allow any x tcp/80
	verify "x admits TCP 80 only"
	policy x allow-ingress <<-'EOF'
	podSelector: {matchLabels: {}}
	policyTypes: [Ingress]
	ingress:
	- {}
	EOF
	reach_all
	verify "an allow-all policy beside it admits everything"
}

tt_case egress_allow_all_precedence \
	"upstream: should enforce multiple egress policies with egress allow-all policy taking precedence"
egress_allow_all_precedence() {
	policy x allow-egress-port-80 <<-'EOF'
	podSelector: {matchLabels: {}}
	policyTypes: [Egress]
	egress:
	- ports:
	  - port: 80
	EOF
	deny x any
	allow x any tcp/80
	verify "x sends on TCP 80 only"
	policy x allow-egress <<-'EOF'
	podSelector: {matchLabels: {}}
	policyTypes: [Egress]
	egress:
	- {}
	EOF
	reach_all
	verify "an allow-all egress policy beside it lets everything out"
}

tt_case deleted_policy "upstream: should stop enforcing policies after they are deleted"
deleted_policy() {
	policy x deny-all <<-'EOF'
	podSelector: {}
	policyTypes: [Ingress, Egress]
	ingress: []
	egress: []
	EOF
	deny x any
	deny any x
	verify "deny-all in x"
	policy_del x deny-all
	reach_all
	verify "deny-all deleted: everything reachable again"
}

tt_case egress_cidr "upstream: should allow egress access to server in CIDR block"
egress_cidr() {
	policy x allow-client-a-via-cidr-egress-rule <<-EOF
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Egress]
	egress:
	- to:
	  - ipBlock: {cidr: ${TT_IP[y/b]}/32}
	EOF
	deny x/a any
	allow x/a y/b
	verify "x/a sends only to ipBlock y/b/32 (a pod's own address)"
}

tt_case egress_cidr_except \
	"upstream: should enforce except clause while egress access to server in CIDR block"
egress_cidr_except() {
	policy x allow-client-a-via-cidr-egress-rule <<-EOF
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Egress]
	egress:
	- to:
	  - ipBlock:
	      cidr: $(tt_cidr4 "${TT_IP[x/b]}")
	      except: [${TT_IP[x/b]}/32]
	EOF
	deny x/a x/b
	verify "x/a sends to the /4 around x/b except x/b/32"
}

tt_case cidr_and_except_overlap \
	"upstream: should ensure an IP overlapping both IPBlock.CIDR and IPBlock.Except is allowed"
cidr_and_except_overlap() {
	policy x allow-client-a-via-cidr-egress-rule <<-EOF
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Egress]
	egress:
	- to:
	  - ipBlock:
	      cidr: $(tt_cidr4 "${TT_IP[x/b]}")
	      except: [${TT_IP[x/b]}/32]
	EOF
	deny x/a x/b
	verify "x/a sends to the /4 around x/b except x/b/32"
	# Upstream updates the same policy (UpdatePolicy, same name) rather than adding one.
	policy x allow-client-a-via-cidr-egress-rule <<-EOF
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Egress]
	egress:
	- to:
	  - ipBlock: {cidr: ${TT_IP[x/b]}/32}
	EOF
	deny x/a any
	allow x/a x/b
	verify "the policy updated to ipBlock x/b/32: x/a sends to x/b only"
}

tt_case ingress_egress_independent \
	"upstream: should enforce policies to check ingress and egress policies can be controlled independently based on PodSelector"
ingress_egress_independent() {
	policy x allow-egress-for-target <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Egress]
	egress:
	- {}
	EOF
	verify "x/a may send anywhere"
	policy x deny-ingress-via-label-selector <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Ingress]
	ingress: []
	EOF
	deny any x/a
	verify "x/a also isolated for ingress: it still sends, nothing reaches it"
}

tt_case sctp_not_tcp \
	"upstream: should not mistakenly treat 'protocol: SCTP' as 'protocol: TCP', even if the plugin doesn't support SCTP"
sctp_not_tcp() {
	policy x deny-ingress <<-'EOF'
	podSelector: {}
	policyTypes: [Ingress]
	ingress: []
	EOF
	policy x allow-only-sctp-ingress-on-port-81 <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Ingress]
	ingress:
	- ports:
	  - {port: 81, protocol: SCTP}
	EOF
	deny any x
	verify "x isolated; an SCTP 81 rule on x/a opens neither TCP nor UDP"
}

tt_case sctp_isolates \
	"upstream: should properly isolate pods that are selected by a policy allowing SCTP, even if the plugin doesn't support SCTP"
sctp_isolates() {
	policy x allow-only-sctp-ingress-on-port-80 <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Ingress]
	ingress:
	- ports:
	  - {port: 80, protocol: SCTP}
	EOF
	deny any x/a
	verify "an SCTP-only rule isolates x/a for TCP and UDP"
}

tt_case udp_rule_not_tcp "upstream: should not allow access by TCP when a policy specifies only UDP"
udp_rule_not_tcp() {
	policy x allow-only-udp-ingress-on-port-81 <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Ingress]
	ingress:
	- ports:
	  - {port: 81, protocol: UDP}
	EOF
	deny any x/a
	allow any x/a udp/81
	verify "a UDP 81 rule on x/a opens UDP 81 and not TCP 81"
}

tt_case ns_match_labels_default_label \
	"upstream: should enforce policy to allow traffic based on NamespaceSelector with MatchLabels using default ns label"
ns_match_labels_default_label() {
	policy x allow-client-a-via-ns-selector-for-immutable-ns-label <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Ingress]
	ingress:
	- from:
	  - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}
	EOF
	deny x x/a
	deny z x/a
	verify "x/a admits kubernetes.io/metadata.name=y (implied, never set)"
}

tt_case ns_match_expressions_default_label \
	"upstream: should enforce policy based on NamespaceSelector with MatchExpressions using default ns label"
ns_match_expressions_default_label() {
	policy x allow-ns-y-match-selector-for-immutable-ns-label <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Egress]
	egress:
	- to:
	  - namespaceSelector:
	      matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [y]}]
	EOF
	deny x/a y
	verify "x/a sends to namespaces whose name is NotIn (y)"
}

# --- upstream: "NetworkPolicy between server and client using UDP" --------------------------------

tt_case udp_default_deny_ingress "upstream (UDP): should support a 'default-deny-ingress' policy"
udp_default_deny_ingress() {
	policy x deny-all <<-'EOF'
	podSelector: {}
	policyTypes: [Ingress]
	ingress: []
	EOF
	deny any x
	verify "deny-ingress in x isolates x for ingress"
}

tt_case udp_ports "upstream (UDP): should enforce policy based on Ports"
udp_ports() {
	policy x allow-ingress-on-port-81-ns-x <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Ingress]
	ingress:
	- from:
	  - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}
	  ports:
	  - {port: 81, protocol: UDP}
	EOF
	deny any x/a
	allow y x/a udp/81
	verify "x/a admits namespace y on UDP 81 only"
}

tt_case udp_pod_in_other_ns \
	"upstream (UDP): should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector"
udp_pod_in_other_ns() {
	policy x allow-ns-y-pod-a-via-namespace-pod-selector <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Ingress]
	ingress:
	- from:
	  - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}
	    podSelector: {matchLabels: {pod: a}}
	EOF
	deny any x/a
	allow y/a x/a
	verify "x/a admits y/a only"
}

# --- upstream: "NetworkPolicy between server and client using SCTP" -------------------------------

tt_case sctp_default_deny_ingress "upstream (SCTP): should support a 'default-deny-ingress' policy"
sctp_default_deny_ingress() {
	need_sctp || return 0
	policy x deny-all <<-'EOF'
	podSelector: {}
	policyTypes: [Ingress]
	ingress: []
	EOF
	deny any x
	verify "deny-ingress in x isolates x for ingress"
}

tt_case sctp_ports "upstream (SCTP): should enforce policy based on Ports"
sctp_ports() {
	need_sctp || return 0
	policy x allow-ingress-on-port-81-ns-x <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Ingress]
	ingress:
	- from:
	  - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}
	  ports:
	  - {port: 81, protocol: SCTP}
	EOF
	deny any x/a
	allow y x/a sctp/81
	verify "x/a admits namespace y on SCTP 81 only"
}

tt_case sctp_pod_in_other_ns \
	"upstream (SCTP): should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector"
sctp_pod_in_other_ns() {
	need_sctp || return 0
	policy x allow-ns-y-pod-a-via-namespace-pod-selector <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Ingress]
	ingress:
	- from:
	  - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}
	    podSelector: {matchLabels: {pod: a}}
	EOF
	deny any x/a
	allow y/a x/a
	verify "x/a admits y/a only"
}

# --- what upstream lacks ------------------------------------------------------------------------

# endPort on ingress: a range that covers both served ports, for one namespace.
tt_case endport_ingress "podlane: endPort on ingress (TCP 80-81 from namespace y)"
endport_ingress() {
	policy x allow-y-80-81 <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Ingress]
	ingress:
	- from:
	  - namespaceSelector: {matchLabels: {ns: y}}
	  ports:
	  - {protocol: TCP, port: 80, endPort: 81}
	EOF
	deny any x/a
	allow y x/a tcp
	verify "x/a admits y on TCP 80..81"
}

# endPort edges: a range that starts just above one served port and one that ends on the other.
tt_case endport_edges "podlane: endPort ranges on egress, each edge of a range (UDP 81-1000, TCP 1-80)"
endport_edges() {
	policy x ranges <<-'EOF'
	podSelector: {matchLabels: {pod: b}}
	policyTypes: [Egress]
	egress:
	- ports:
	  - {protocol: UDP, port: 81, endPort: 1000}
	  - {protocol: TCP, port: 1, endPort: 80}
	EOF
	deny x/b any
	allow x/b any udp/81
	allow x/b any tcp/80
	verify "x/b sends on UDP 81..1000 and TCP 1..80 only"
}

# A named port on egress with a protocol: it must match the destination's port of that name
# and protocol, nothing else.
tt_case egress_named_port_udp "podlane: a named UDP port on egress (serve-81-udp)"
egress_named_port_udp() {
	policy y named-udp <<-'EOF'
	podSelector: {}
	policyTypes: [Egress]
	egress:
	- to:
	  - namespaceSelector: {}
	  ports:
	  - {protocol: UDP, port: serve-81-udp}
	EOF
	deny y any
	allow y any udp/81
	verify "y sends only to its destinations' serve-81-udp (UDP 81)"
}

# A named port resolves against each destination pod (egress) and against the pod the policy
# selects (ingress): z/c's serve-80-tcp and serve-81-tcp are swapped here.
tt_case named_port_per_pod "podlane: named ports resolve per pod, on egress and on ingress"
named_port_per_pod() {
	pod_ports z/c serve-80-tcp=TCP/81 serve-81-tcp=TCP/80 serve-80-udp=UDP/80 \
		serve-81-udp=UDP/81
	policy x egress-serve-80-tcp <<-'EOF'
	podSelector: {}
	policyTypes: [Egress]
	egress:
	- ports:
	  - port: serve-80-tcp
	EOF
	deny x any
	allow x any tcp/80
	deny x z/c tcp/80
	allow x z/c tcp/81
	verify "x sends to serve-80-tcp: TCP 80, but TCP 81 on z/c"
	policy z ingress-serve-81-tcp <<-'EOF'
	podSelector: {matchLabels: {pod: c}}
	policyTypes: [Ingress]
	ingress:
	- ports:
	  - port: serve-81-tcp
	EOF
	deny any z/c
	allow y z/c tcp/80
	allow z z/c tcp/80
	verify "z/c also admits its serve-81-tcp only (TCP 80 there): nothing from x matches both"
}

# Several peers of different kinds in one rule: pod selector, namespace selector, both, and an
# ipBlock naming a pod's own address; on ingress and on egress.
tt_case mixed_peers "podlane: several peers of every kind in one rule, ingress and egress"
mixed_peers() {
	policy x ingress-mixed <<-EOF
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Ingress]
	ingress:
	- from:
	  - podSelector: {matchLabels: {pod: b}}
	  - namespaceSelector: {matchLabels: {ns: y}}
	  - namespaceSelector: {matchLabels: {ns: z}}
	    podSelector: {matchLabels: {pod: a}}
	  - ipBlock: {cidr: ${TT_IP[z/c]}/32}
	EOF
	policy x egress-mixed <<-EOF
	podSelector: {matchLabels: {pod: c}}
	policyTypes: [Egress]
	egress:
	- to:
	  - podSelector: {matchLabels: {pod: b}}
	  - ipBlock: {cidr: ${TT_IP[y/a]}/32}
	  - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: z}}
	    podSelector: {matchLabels: {pod: b}}
	EOF
	deny any x/a
	allow x/b x/a
	allow y x/a
	allow z/a x/a
	allow z/c x/a
	deny x/c any
	allow x/c x/b
	allow x/c y/a
	allow x/c z/b
	verify "x/a admits x/b, y, z/a, z/c; x/c sends to x/b, y/a, z/b"
}

# Exists and DoesNotExist (upstream uses only In and NotIn), on namespaces and pods.
tt_case exists_does_not_exist "podlane: matchExpressions Exists and DoesNotExist"
exists_does_not_exist() {
	ns_label z env=prod
	policy x from-env <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Ingress]
	ingress:
	- from:
	  - namespaceSelector:
	      matchExpressions: [{key: env, operator: Exists}]
	EOF
	policy x from-no-env <<-'EOF'
	podSelector: {matchLabels: {pod: b}}
	policyTypes: [Ingress]
	ingress:
	- from:
	  - namespaceSelector:
	      matchExpressions: [{key: env, operator: DoesNotExist}]
	EOF
	policy x from-labelled-not-a <<-'EOF'
	podSelector: {matchLabels: {pod: c}}
	policyTypes: [Ingress]
	ingress:
	- from:
	  - podSelector:
	      matchExpressions:
	      - {key: pod, operator: Exists}
	      - {key: pod, operator: NotIn, values: [a]}
	EOF
	deny any x
	allow z x/a
	allow x x/b
	allow y x/b
	allow x/b x/c
	verify "z has env: x/a admits z; x/b admits x and y; x/c admits x pods with pod NotIn (a)"
}

# ipBlock on ingress, with an except naming a pod's own address.
tt_case ingress_cidr_except "podlane: ipBlock with except on ingress"
ingress_cidr_except() {
	policy x from-cidr <<-EOF
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Ingress]
	ingress:
	- from:
	  - ipBlock:
	      cidr: $(tt_cidr4 "${TT_IP[y/b]}")
	      except: [${TT_IP[y/b]}/32]
	EOF
	deny y/b x/a
	verify "x/a admits the /4 around y/b except y/b/32"
}

# The same address in one policy's cidr and another's except: the union of the policies
# allows it (upstream's overlap test replaces the first policy instead).
tt_case cidr_except_stacked "podlane: an address excepted by one policy and allowed by another"
cidr_except_stacked() {
	policy x except-b <<-EOF
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Egress]
	egress:
	- to:
	  - ipBlock:
	      cidr: $(tt_cidr4 "${TT_IP[x/b]}")
	      except: [${TT_IP[x/b]}/32]
	EOF
	deny x/a x/b
	verify "x/a sends to the /4 except x/b"
	policy x only-b <<-EOF
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Egress]
	egress:
	- to:
	  - ipBlock: {cidr: ${TT_IP[x/b]}/32}
	EOF
	reach_all
	verify "a second policy allows x/b/32: x/a sends everywhere"
}

# policyTypes decide what a policy isolates: ingress rules under policyTypes [Egress] are
# ignored; without policyTypes, a policy with egress rules isolates both directions (the API
# server's defaulting).
tt_case policy_types "podlane: policyTypes given and inferred"
policy_types() {
	policy x egress-only <<-'EOF'
	podSelector: {matchLabels: {pod: a}}
	policyTypes: [Egress]
	ingress:
	- from:
	  - podSelector: {matchLabels: {pod: b}}
	EOF
	policy x inferred <<-'EOF'
	podSelector: {matchLabels: {pod: b}}
	egress:
	- to:
	  - podSelector: {}
	EOF
	deny x/a any
	deny any x/b
	deny x/b y
	deny x/b z
	verify "x/a isolated for egress only; x/b for both, sending within x"
}

# Label changes both ways: a pod leaves a policy's selection, a namespace's label value
# changes so that a peer selector no longer matches it.
tt_case labels_removed "podlane: a pod label removed, a namespace label value changed"
labels_removed() {
	pod_label x/b target=isolated
	ns_label y team=blue
	policy x isolate-target <<-'EOF'
	podSelector: {matchLabels: {target: isolated}}
	policyTypes: [Ingress]
	ingress:
	- from:
	  - namespaceSelector: {matchLabels: {team: blue}}
	EOF
	deny any x/b
	allow y x/b
	verify "x/b (target=isolated) admits namespaces with team=blue: y"
	ns_label y team=red
	deny y x/b
	verify "y relabelled team=red: no longer admitted"
	pod_label x/b target-
	reach_all
	verify "x/b's target label removed: no policy selects it"
}
