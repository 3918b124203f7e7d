// SPDX-License-Identifier: GPL-2.0-only
/*
 * api/metrics.c - Prometheus metrics (text exposition format 0.0.4) on GET /metrics, served by
 * libmicrohttpd inside podlaned's own epoll loop: MHD runs without threads of its own
 * (MHD_USE_EPOLL), its epoll fd sits in the agent's, and every request is answered on the
 * agent's thread, so reading the maps and the accounting state needs no locking. Off unless
 * --metrics-addr HOST:PORT is given; nothing stops a non-loopback address, so the operator
 * decides who may scrape.
 *
 * Families: per-endpoint counters and drops (podlane_ep_stat), node drops (podlane_drops),
 * per-pod accounting (acct.c), node pressure, hint scores (hints.c), agent health, network
 * policy (its map against its size, rule sets, identities, podlane_pol_stat), the flow log
 * (verdicts by policy, direction and verdict; records kept and lost per CPU). Counters
 * are read at scrape time; pod accounting, pressure and hints are those of the last
 * accounting tick (at most a second old) except the pod counters, refreshed at the scrape.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <microhttpd.h>

#include "acct/acct.h"
#include "api/api.h"
#include "api/ops.h"
#include "core/agent.h"
#include "datapath/datapath.h"
#include "datapath/eps.h"
#include "flows/flows.h"
#include "log.h"
#include "policy/policy.h"

struct metrics {
	struct MHD_Daemon *mhd;
	int epoll_fd;
	uint64_t scrapes;
};

/* A growing text buffer; on allocation failure it stops growing and reports at the end. */
struct text {
	char *p;
	size_t len, cap;
	bool oom;
};

static void emit(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void emit(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		if (t->oom)
			return;
		va_start(ap, fmt);
		n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? t->cap - t->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (t->p && t->len + n < t->cap) {
			t->len += n;
			return;
		}
		t->cap = (t->cap ? t->cap * 2 : 16384) + n;
		t->p = realloc(t->p, t->cap);
		if (!t->p)
			t->oom = true;
	}
}

static void family(struct text *t, const char *name, const char *type, const char *help)
{
	emit(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value with \, " and newline escaped, as the exposition format wants. */
static const char *esc(const char *s, char *buf, size_t len)
{
	size_t o = 0;

	for (; *s && o + 3 < len; s++) {
		if (*s == '\\' || *s == '"') {
			buf[o++] = '\\';
			buf[o++] = *s;
		} else if (*s == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else {
			buf[o++] = *s;
		}
	}
	buf[o] = '\0';
	return buf;
}

/* ---- endpoints and drops (the pinned datapath maps) ---- */

struct ep_labels {
	__u32 ifindex;
	char labels[640];
	struct endpoint_stats sum;
};

struct ep_collect {
	struct agent *a;
	struct ep_labels *eps;
	size_t n;
};

static int ep_cb(__u32 ifindex, const struct endpoint_meta *meta, void *data)
{
	struct ep_collect *c = data;
	struct ep_labels *e, *grown;
	char ip[INET_ADDRSTRLEN], cid[300], net[140];

	grown = realloc(c->eps, (c->n + 1) * sizeof(*grown));
	if (!grown)
		return 1;
	c->eps = grown;
	e = &c->eps[c->n++];
	memset(e, 0, sizeof(*e));
	e->ifindex = ifindex;
	inet_ntop(AF_INET, &meta->addr.ip4, ip, sizeof(ip));
	snprintf(e->labels, sizeof(e->labels),
		 "container_id=\"%s\",network=\"%s\",ifname=\"%.16s\",host_ifname=\"%.16s\","
		 "ip=\"%s\"", esc(meta->container_id, cid, sizeof(cid)),
		 esc(meta->network, net, sizeof(net)), meta->ifname, meta->host_ifname, ip);
	eps_stat_read(c->a, ifindex, &e->sum);
	return 0;
}

static const char *reason_name(int slot, char *buf, size_t len)
{
	int reason = -(slot + PODLANE_DROP_FIRST);
	const char *name = podlane_drop_name(reason);

	if (name)
		return name;
	snprintf(buf, len, "reason_%d", reason);
	return buf;
}

static size_t render_endpoints(struct agent *a, struct text *t)
{
	static const struct {
		const char *name, *help;
		size_t off;
	} counters[] = {
		{ "podlane_endpoint_rx_packets_total", "Packets delivered to the pod.",
		  offsetof(struct endpoint_stats, rx_packets) },
		{ "podlane_endpoint_rx_bytes_total",
		  "Bytes delivered to the pod (L2 frame length, Ethernet header included).",
		  offsetof(struct endpoint_stats, rx_bytes) },
		{ "podlane_endpoint_tx_packets_total", "Packets the pod sent.",
		  offsetof(struct endpoint_stats, tx_packets) },
		{ "podlane_endpoint_tx_bytes_total",
		  "Bytes the pod sent (L2 frame length, Ethernet header included).",
		  offsetof(struct endpoint_stats, tx_bytes) },
	};
	struct drop_counter dv[PODLANE_DROP_SLOTS];
	struct ep_collect c = { .a = a };
	bool drops;
	char nbuf[32];
	size_t i, k;
	int slot;

	eps_walk(a, ep_cb, &c);
	for (k = 0; k < sizeof(counters) / sizeof(counters[0]); k++) {
		family(t, counters[k].name, "counter", counters[k].help);
		for (i = 0; i < c.n; i++)
			emit(t, "%s{%s} %llu\n", counters[k].name, c.eps[i].labels,
			     *(unsigned long long *)((char *)&c.eps[i].sum + counters[k].off));
	}
	family(t, "podlane_endpoint_drops_total", "counter",
	       "Packets of the endpoint dropped by the datapath, by reason.");
	for (i = 0; i < c.n; i++)
		for (slot = 0; slot < PODLANE_DROP_SLOTS; slot++) {
			/* Known reasons always (a steady series set), unknown ones once seen. */
			if (!podlane_drop_name(-(slot + PODLANE_DROP_FIRST)) &&
			    !c.eps[i].sum.drops[slot])
				continue;
			emit(t, "podlane_endpoint_drops_total{%s,reason=\"%s\"} %llu\n",
			     c.eps[i].labels, reason_name(slot, nbuf, sizeof(nbuf)),
			     (unsigned long long)c.eps[i].sum.drops[slot]);
		}
	free(c.eps);

	drops = !datapath_drops_read(a, dv);
	family(t, "podlane_drops_total", "counter",
	       "Packets dropped by the datapath on this node, by reason.");
	for (slot = 0; drops && slot < PODLANE_DROP_SLOTS; slot++) {
		if (!podlane_drop_name(-(slot + PODLANE_DROP_FIRST)) && !dv[slot].packets)
			continue;
		emit(t, "podlane_drops_total{reason=\"%s\"} %llu\n",
		     reason_name(slot, nbuf, sizeof(nbuf)), (unsigned long long)dv[slot].packets);
	}
	family(t, "podlane_drop_bytes_total", "counter",
	       "Bytes dropped by the datapath on this node, by reason.");
	for (slot = 0; drops && slot < PODLANE_DROP_SLOTS; slot++) {
		if (!podlane_drop_name(-(slot + PODLANE_DROP_FIRST)) && !dv[slot].bytes)
			continue;
		emit(t, "podlane_drop_bytes_total{reason=\"%s\"} %llu\n",
		     reason_name(slot, nbuf, sizeof(nbuf)), (unsigned long long)dv[slot].bytes);
	}
	return c.n;
}

/* ---- accounting, pressure, hints ---- */

static void pod_labels(const struct acct_pod *p, char *buf, size_t len)
{
	char cid[300], cg[600];

	snprintf(buf, len, "container_id=\"%s\",host_ifname=\"%.16s\",ip=\"%s\",cgroup=\"%s\"",
		 esc(p->meta.container_id, cid, sizeof(cid)), p->meta.host_ifname, p->ip,
		 esc(p->tied ? p->cgroup : "", cg, sizeof(cg)));
}

static void render_psi(struct text *t, const char *name, const char *labels,
		       const struct pl_psi *psi)
{
	static const char *const res[PL_PSI_NR] = { "cpu", "memory", "io" };
	static const char *const win[3] = { "10s", "60s", "300s" };
	int r, w;

	for (r = 0; r < PL_PSI_NR; r++) {
		if (!psi[r].valid)
			continue;
		for (w = 0; w < 3; w++) {
			emit(t, "%s{%s%sresource=\"%s\",kind=\"some\",window=\"%s\"} %g\n", name,
			     labels, labels[0] ? "," : "", res[r], win[w],
			     psi[r].some_avg[w] / 100);
			if (psi[r].has_full)
				emit(t, "%s{%s%sresource=\"%s\",kind=\"full\",window=\"%s\"} %g\n",
				     name, labels, labels[0] ? "," : "", res[r], win[w],
				     psi[r].full_avg[w] / 100);
		}
	}
}

static void render_hint(struct text *t, const char *labels, const struct hint *h)
{
	emit(t, "podlane_hint_score{%s} %g\n", labels, h->score);
}

static void render_hint_parts(struct text *t, const char *labels, const struct hint *h)
{
	emit(t, "podlane_hint_part{%s,part=\"cpu\"} %g\n", labels, h->cpu);
	emit(t, "podlane_hint_part{%s,part=\"cpu_pressure\"} %g\n", labels, h->cpu_pressure);
	emit(t, "podlane_hint_part{%s,part=\"runq\"} %g\n", labels, h->runq);
	emit(t, "podlane_hint_part{%s,part=\"memory\"} %g\n", labels, h->memory);
	emit(t, "podlane_hint_part{%s,part=\"traffic\"} %g\n", labels, h->traffic);
}

static void render_acct(struct agent *a, struct text *t)
{
	static const struct {
		const char *name, *help;
		size_t off;
		double scale;
		bool bpf_only;
	} counters[] = {
		{ "podlane_pod_cpu_seconds_total", "CPU time of the pod's cgroup subtree.",
		  offsetof(struct acct_counters, cpu_ns), 1e-9, false },
		{ "podlane_pod_runq_wait_seconds_total",
		  "Time the pod's tasks were runnable but waited for a CPU.",
		  offsetof(struct acct_counters, runq_wait_ns), 1e-9, true },
		{ "podlane_pod_runq_waits_total", "Run-queue waits of the pod's tasks that ended.",
		  offsetof(struct acct_counters, runq_waits), 1, true },
		{ "podlane_pod_rx_packets_total", "Packets the pod's sockets received.",
		  offsetof(struct acct_counters, rx_packets), 1, true },
		{ "podlane_pod_rx_bytes_total",
		  "Bytes the pod's sockets received (IP packet length, no L2 header).",
		  offsetof(struct acct_counters, rx_bytes), 1, true },
		{ "podlane_pod_tx_packets_total", "Packets the pod's sockets sent.",
		  offsetof(struct acct_counters, tx_packets), 1, true },
		{ "podlane_pod_tx_bytes_total",
		  "Bytes the pod's sockets sent (IP packet length, no L2 header).",
		  offsetof(struct acct_counters, tx_bytes), 1, true },
	};
	struct acct *ac = a->acct;
	char labels[1200];
	size_t i, k;

	if (!ac)
		return;
	acct_refresh_counters(a);
	for (k = 0; k < sizeof(counters) / sizeof(counters[0]); k++) {
		if (counters[k].bpf_only && !ac->bpf)
			continue;
		family(t, counters[k].name, "counter", counters[k].help);
		for (i = 0; i < ac->npods; i++) {
			uint64_t v = *(uint64_t *)((char *)&ac->pods[i].total + counters[k].off);

			if (!ac->pods[i].tied)
				continue;
			pod_labels(&ac->pods[i], labels, sizeof(labels));
			emit(t, "%s{%s} %.9g\n", counters[k].name, labels, v * counters[k].scale);
		}
	}
	family(t, "podlane_pod_memory_bytes", "gauge",
	       "Memory in use by the pod's cgroup (memory.current, or memory.usage_in_bytes on "
	       "a v1 memory controller).");
	for (i = 0; i < ac->npods; i++) {
		if (!ac->pods[i].tied || !ac->pods[i].has_memory)
			continue;
		pod_labels(&ac->pods[i], labels, sizeof(labels));
		emit(t, "podlane_pod_memory_bytes{%s} %llu\n", labels,
		     (unsigned long long)ac->pods[i].memory_bytes);
	}
	family(t, "podlane_pod_pressure", "gauge",
	       "Pressure stall information of the pod's cgroup: share of time (0-1) some or "
	       "all of its tasks stalled on a resource, averaged over a window.");
	for (i = 0; i < ac->npods; i++) {
		if (!ac->pods[i].tied)
			continue;
		pod_labels(&ac->pods[i], labels, sizeof(labels));
		render_psi(t, "podlane_pod_pressure", labels, ac->pods[i].psi);
	}
	family(t, "podlane_node_pressure", "gauge",
	       "Node-wide pressure stall information: share of time (0-1) some or all tasks "
	       "stalled on a resource, averaged over a window.");
	if (ac->node.has_psi)
		render_psi(t, "podlane_node_pressure", "", ac->node.psi);
	family(t, "podlane_node_cpu_busy_ratio", "gauge",
	       "Share of all CPUs' time spent busy over the last accounting tick.");
	emit(t, "podlane_node_cpu_busy_ratio %g\n", ac->node.busy);

	family(t, "podlane_hint_score", "gauge",
	       "Pressure hint 0 (idle) to 100 (saturated) of the node or a pod: the largest "
	       "of its parts (see podlane_hint_part).");
	render_hint(t, "scope=\"node\"", &ac->node.hint);
	for (i = 0; i < ac->npods; i++) {
		char pl[1300];

		pod_labels(&ac->pods[i], labels, sizeof(labels));
		snprintf(pl, sizeof(pl), "scope=\"pod\",%s", labels);
		render_hint(t, pl, &ac->pods[i].hint);
	}
	family(t, "podlane_hint_part", "gauge",
	       "Parts of the pressure hint, each 0-100: cpu, runq, memory, traffic.");
	render_hint_parts(t, "scope=\"node\"", &ac->node.hint);
	for (i = 0; i < ac->npods; i++) {
		char pl[1300];

		pod_labels(&ac->pods[i], labels, sizeof(labels));
		snprintf(pl, sizeof(pl), "scope=\"pod\",%s", labels);
		render_hint_parts(t, pl, &ac->pods[i].hint);
	}

	family(t, "podlane_acct_errors_total", "counter",
	       "Accounting the programs could not record (map full, no task storage).");
	emit(t, "podlane_acct_errors_total{kind=\"full_sched\"} %llu\n",
	     (unsigned long long)ac->errs.full_sched);
	emit(t, "podlane_acct_errors_total{kind=\"full_skb\"} %llu\n",
	     (unsigned long long)ac->errs.full_skb);
	emit(t, "podlane_acct_errors_total{kind=\"task_state\"} %llu\n",
	     (unsigned long long)ac->errs.task_state);
	family(t, "podlane_acct_tick_seconds", "gauge",
	       "Time the last accounting tick took (counters, kernel figures, hints).");
	emit(t, "podlane_acct_tick_seconds %g\n", ac->tick_us / 1e6);
	family(t, "podlane_acct_ticks_total", "counter", "Accounting ticks done.");
	emit(t, "podlane_acct_ticks_total %llu\n", (unsigned long long)ac->seq);
}

static void render_agent(struct agent *a, struct text *t, size_t endpoints)
{
	struct acct *ac = a->acct;

	family(t, "podlane_agent_up", "gauge", "1 while podlaned serves.");
	emit(t, "podlane_agent_up 1\n");
	family(t, "podlane_agent_info", "gauge", "podlaned build and configuration.");
	emit(t, "podlane_agent_info{version=\"%s\",uplink=\"%s\"} 1\n", PODLANE_VERSION,
	     a->uplink ? a->uplink : "");
	family(t, "podlane_agent_endpoints", "gauge", "Endpoints (pod interfaces) on this node.");
	emit(t, "podlane_agent_endpoints %zu\n", endpoints);
	family(t, "podlane_agent_accounting_info", "gauge",
	       "Where accounting figures come from: source is module (podlane.ko) or cgroupfs.");
	if (ac)
		emit(t, "podlane_agent_accounting_info{source=\"%s\",bpf=\"%s\","
		     "memory_source=\"%s\",psi_source=\"%s\"} 1\n", acct_source(ac),
		     ac->bpf ? "true" : "false", acct_memory_source(ac), acct_psi_source(ac));
	family(t, "podlane_agent_module_loaded", "gauge", "1 when podlane.ko answers.");
	emit(t, "podlane_agent_module_loaded %d\n", ac && ac->module);
	family(t, "podlane_map_entries", "gauge", "Entries in podlane's pinned maps.");
	emit(t, "podlane_map_entries{map=\"podlane_ep_meta\"} %zu\n", endpoints);
	if (ac && ac->bpf)
		emit(t, "podlane_map_entries{map=\"podlane_cgacct\"} %llu\n",
		     (unsigned long long)ac->map_entries);
	family(t, "podlane_metrics_scrapes_total", "counter", "Scrapes of this endpoint.");
	emit(t, "podlane_metrics_scrapes_total %llu\n",
	     (unsigned long long)a->metrics->scrapes);
}

/* ---- network policy (policy/): the map against its size, what was given out, verdicts ---- */

static const char *const pol_stat_names[PODLANE_POL_STAT_SLOTS] = {
	"allowed", "denied", "no_flow", "ct_hit", "ct_full", "host", "rejudged", "events_lost",
};

static void render_policy(struct agent *a, struct text *t)
{
	__u64 sum[PODLANE_POL_STAT_SLOTS];
	struct policy_stats st;
	unsigned int i;

	policy_stats(a, &st);
	family(t, "podlane_policy_map_entries", "gauge",
	       "Entries in podlane_policy (network policy rule sets), against its size.");
	emit(t, "podlane_policy_map_entries %u\n", st.entries);
	family(t, "podlane_policy_map_max_entries", "gauge",
	       "Size of podlane_policy (--max-policy-entries when it was created).");
	emit(t, "podlane_policy_map_max_entries %u\n", st.max_entries);
	family(t, "podlane_policy_rule_sets", "gauge",
	       "Distinct rule sets written; endpoints with the same rules share one.");
	emit(t, "podlane_policy_rule_sets %u\n", st.rule_sets);
	family(t, "podlane_policy_identities", "gauge",
	       "Pod identities given out (distinct namespace, labels and named ports).");
	emit(t, "podlane_policy_identities %u\n", st.identities);
	family(t, "podlane_policy_policies", "gauge", "NetworkPolicies on this node.");
	emit(t, "podlane_policy_policies %u\n", st.policies);
	family(t, "podlane_policy_pods", "gauge",
	       "Pods network policy knows: this node's (local) and other nodes' (remote).");
	emit(t, "podlane_policy_pods{where=\"local\"} %u\n", st.pods_local);
	emit(t, "podlane_policy_pods{where=\"remote\"} %u\n", st.pods_remote);
	family(t, "podlane_policy_degraded_directions", "gauge",
	       "Pod directions that deny everything because their rules do not fit the map.");
	emit(t, "podlane_policy_degraded_directions %u\n", st.degraded);
	family(t, "podlane_policy_refused_total", "counter",
	       "Policy, label and port changes refused: podlane_policy had no room for them.");
	emit(t, "podlane_policy_refused_total %llu\n", (unsigned long long)st.refused);
	family(t, "podlane_policy_syncs_total", "counter",
	       "Network policy changes compiled and written to the maps.");
	emit(t, "podlane_policy_syncs_total %llu\n", (unsigned long long)st.syncs);
	family(t, "podlane_policy_sync_failures_total", "counter",
	       "Changes that could not be compiled or written (isolated pods then deny all).");
	emit(t, "podlane_policy_sync_failures_total %llu\n",
	     (unsigned long long)st.sync_failures);
	family(t, "podlane_policy_last_sync_seconds", "gauge",
	       "Time the last network policy change took, compile and map writes.");
	emit(t, "podlane_policy_last_sync_seconds %g\n", st.last_sync_us / 1e6);
	family(t, "podlane_policy_map_writes_total", "counter",
	       "Updates and deletes of the network policy maps.");
	emit(t, "podlane_policy_map_writes_total{map=\"podlane_ipcache\"} %llu\n",
	     (unsigned long long)st.writes_ipcache);
	emit(t, "podlane_policy_map_writes_total{map=\"podlane_policy\"} %llu\n",
	     (unsigned long long)st.writes_policy);
	emit(t, "podlane_policy_map_writes_total{map=\"podlane_ep_policy\"} %llu\n",
	     (unsigned long long)st.writes_ep_policy);
	family(t, "podlane_policy_revision", "gauge",
	       "podlane_pol_rev: bumped after every change of rule sets or identities.");
	emit(t, "podlane_policy_revision %u\n", st.revision);
	family(t, "podlane_policy_ipcache_entries", "gauge",
	       "Addresses and prefixes in podlane_ipcache (pods, nodes, ipBlocks), against its "
	       "size.");
	emit(t, "podlane_policy_ipcache_entries %u\n", st.ipcache_entries);
	family(t, "podlane_policy_ipcache_max_entries", "gauge", "Size of podlane_ipcache.");
	emit(t, "podlane_policy_ipcache_max_entries %u\n", st.ipcache_max);
	family(t, "podlane_policy_conntrack_entries", "gauge",
	       "Connections network policy allowed (podlane_pol_ct) at the last collector pass.");
	emit(t, "podlane_policy_conntrack_entries %llu\n", (unsigned long long)st.ct_live);
	family(t, "podlane_policy_conntrack_max_entries", "gauge", "Size of podlane_pol_ct.");
	emit(t, "podlane_policy_conntrack_max_entries %u\n", st.ct_max);
	family(t, "podlane_policy_conntrack_expired_total", "counter",
	       "Allowed connections deleted by the collector, idle past their lifetime.");
	emit(t, "podlane_policy_conntrack_expired_total %llu\n",
	     (unsigned long long)st.ct_expired);
	if (policy_datapath_stats(a, sum))
		return;
	family(t, "podlane_policy_datapath_total", "counter",
	       "What the datapath did for network policy (podlane_pol_stat): new connections "
	       "allowed, packets denied, not a connection start, of known connections, not "
	       "remembered, from this node, judged again, flow records lost.");
	for (i = 0; i < PODLANE_POL_STAT_SLOTS; i++)
		if (pol_stat_names[i])
			emit(t, "podlane_policy_datapath_total{counter=\"%s\"} %llu\n",
			     pol_stat_names[i], (unsigned long long)sum[i]);
		else if (sum[i])
			emit(t, "podlane_policy_datapath_total{counter=\"slot_%u\"} %llu\n", i,
			     (unsigned long long)sum[i]);
}

/* ---- the flow log (flows/): policy verdicts, records kept and lost ---- */

static void verdict_cb(const char *policy, __u32 id, __u8 dir, __u8 verdict, __u64 n,
		       void *data)
{
	struct text *t = data;
	char buf[512];

	emit(t, "podlane_policy_verdicts_total{policy=\"%s\",direction=\"%s\","
	     "verdict=\"%s\"} %llu\n", policy ? esc(policy, buf, sizeof(buf)) : "",
	     dir == PODLANE_FLOW_INGRESS ? "ingress" : "egress",
	     verdict == PODLANE_FLOW_ALLOWED ? "allowed" : "denied", (unsigned long long)n);
	(void)id;
}

static void render_flows(struct agent *a, struct text *t)
{
	unsigned int n = a->ncpus > 0 ? a->ncpus : 1, cpu;
	struct flows_stats st;
	__u64 *lost;

	flows_stats(a, &st);
	family(t, "podlane_policy_verdicts_total", "counter",
	       "Network policy verdicts the flow log read, by the policy behind them (empty: "
	       "from this node, always allowed), direction and verdict. Allowed: new "
	       "connections; denied: packets.");
	flows_verdicts(a, verdict_cb, t);
	family(t, "podlane_flow_records_total", "counter",
	       "Records the flow log read from podlane_events, by kind.");
	emit(t, "podlane_flow_records_total{kind=\"policy\"} %llu\n",
	     (unsigned long long)st.read[FLOWS_POLICY]);
	emit(t, "podlane_flow_records_total{kind=\"drop\"} %llu\n",
	     (unsigned long long)st.read[FLOWS_DROP]);
	emit(t, "podlane_flow_records_total{kind=\"unknown\"} %llu\n",
	     (unsigned long long)st.read[0]);
	family(t, "podlane_flow_log_records", "gauge",
	       "Records the flow log holds, against its size (--flow-log-size).");
	emit(t, "podlane_flow_log_records %u\n", st.kept);
	family(t, "podlane_flow_log_capacity", "gauge", "The flow log's size (--flow-log-size).");
	emit(t, "podlane_flow_log_capacity %u\n", st.capacity);
	family(t, "podlane_flow_log_bytes", "gauge",
	       "Memory of the flow log: its records and the names they hold.");
	emit(t, "podlane_flow_log_bytes %zu\n", st.record_bytes + st.name_bytes);
	family(t, "podlane_flow_log_evicted_total", "counter",
	       "Records the full flow log dropped to make room (the oldest first).");
	emit(t, "podlane_flow_log_evicted_total %llu\n", (unsigned long long)st.evicted);
	family(t, "podlane_flow_stream_records_lost_total", "counter",
	       "Records flow streams (podlanectl observe -f) missed: the flow log dropped them "
	       "before a slow stream took them.");
	emit(t, "podlane_flow_stream_records_lost_total %llu\n",
	     (unsigned long long)api_streams_lost(a));
	family(t, "podlane_flow_streams", "gauge", "Flow streams open.");
	emit(t, "podlane_flow_streams %u\n", api_streams_count(a));
	lost = calloc(n, sizeof(*lost));
	if (!lost || flows_lost_percpu(a, lost, n)) {
		free(lost);
		return;
	}
	family(t, "podlane_flow_records_lost_total", "counter",
	       "Flow records the datapath could not queue (podlane_events full), per CPU.");
	for (cpu = 0; cpu < n; cpu++)
		emit(t, "podlane_flow_records_lost_total{cpu=\"%u\"} %llu\n", cpu,
		     (unsigned long long)lost[cpu]);
	free(lost);
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status,
			     const char *type, char *body, size_t len, bool owned)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, body, owned ? MHD_RESPMEM_MUST_FREE :
					    MHD_RESPMEM_PERSISTENT);
	if (!r) {
		if (owned)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **con_cls)
{
	static char index_page[] = "podlaned: metrics at /metrics\n";
	static char not_found[] = "not found\n";
	static char not_allowed[] = "method not allowed\n";
	struct agent *a = cls;
	struct text t = {};
	size_t endpoints;
	char *sync_text;

	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", not_allowed,
			     strlen(not_allowed), false);
	if (!strcmp(url, "/"))
		return reply(conn, MHD_HTTP_OK, "text/plain", index_page, strlen(index_page),
			     false);
	if (strcmp(url, "/metrics"))
		return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain", not_found,
			     strlen(not_found), false);
	a->metrics->scrapes++;
	endpoints = render_endpoints(a, &t);
	render_acct(a, &t);
	render_agent(a, &t, endpoints);
	render_policy(a, &t);
	render_flows(a, &t);
	sync_text = api_recommend_metrics_text(a);	/* sizing recommendations */
	if (sync_text) {
		emit(&t, "%s", sync_text);
		free(sync_text);
	}
	sync_text = api_sync_metrics_text(a);	/* etcd sync families, NULL when standalone */
	if (sync_text) {
		emit(&t, "%s", sync_text);
		free(sync_text);
	}
	sync_text = api_extender_metrics_text(a);	/* api/extender.c: cluster view, extender */
	if (sync_text) {
		emit(&t, "%s", sync_text);
		free(sync_text);
	}
	if (t.oom || !t.p) {
		free(t.p);
		return MHD_NO;
	}
	return reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", t.p, t.len,
		     true);
}

/* "HOST:PORT" or "[V6]:PORT" into a socket address. */
static int parse_addr(const char *spec, struct sockaddr_storage *ss, bool *v6)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res;
	char host[256];
	const char *port;
	int err;

	if (spec[0] == '[') {
		const char *end = strchr(spec, ']');

		if (!end || end[1] != ':' || (size_t)(end - spec - 1) >= sizeof(host))
			return -EINVAL;
		snprintf(host, sizeof(host), "%.*s", (int)(end - spec - 1), spec + 1);
		port = end + 2;
	} else {
		const char *colon = strrchr(spec, ':');

		if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof(host))
			return -EINVAL;
		snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
		port = colon + 1;
	}
	if (!*port)
		return -EINVAL;
	err = getaddrinfo(host, port, &hints, &res);
	if (err)
		return -EINVAL;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*v6 = res->ai_family == AF_INET6;
	freeaddrinfo(res);
	return 0;
}

int api_http_addr(const char *spec, struct sockaddr_storage *ss, bool *v6)
{
	return parse_addr(spec, ss, v6);
}

int metrics_valid_addr(const char *spec)
{
	struct sockaddr_storage ss;
	bool v6;

	return parse_addr(spec, &ss, &v6);
}

int metrics_open(struct agent *a)
{
	struct sockaddr_storage ss = {};
	const union MHD_DaemonInfo *info;
	struct metrics *m;
	bool v6 = false;

	if (!a->metrics_addr)
		return 0;
	if (parse_addr(a->metrics_addr, &ss, &v6)) {
		log_error("failed to parse metrics address '%s': want HOST:PORT or [V6]:PORT",
			  a->metrics_addr);
		return -EINVAL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	a->metrics = m;
	m->mhd = MHD_start_daemon(MHD_USE_EPOLL | (v6 ? MHD_USE_IPv6 : 0), 0, NULL, NULL,
				  handle, a, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64,
				  MHD_OPTION_END);
	if (!m->mhd) {
		log_error("failed to serve metrics on '%s': %s", a->metrics_addr,
			  strerror(errno ? errno : EADDRINUSE));
		free(m);
		a->metrics = NULL;
		return -EADDRINUSE;
	}
	info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	m->epoll_fd = info ? info->epoll_fd : -1;
	if (m->epoll_fd < 0) {
		log_error("failed to get the metrics server's epoll fd");
		MHD_stop_daemon(m->mhd);
		free(m);
		a->metrics = NULL;
		return -EINVAL;
	}
	log_info("serving metrics addr=%s path=/metrics", a->metrics_addr);
	return 0;
}

int metrics_fd(struct agent *a)
{
	return a->metrics ? a->metrics->epoll_fd : -1;
}

void metrics_run(struct agent *a)
{
	if (a->metrics)
		MHD_run(a->metrics->mhd);
}

void metrics_close(struct agent *a)
{
	if (!a->metrics)
		return;
	MHD_stop_daemon(a->metrics->mhd);
	free(a->metrics);
	a->metrics = NULL;
}
