// SPDX-License-Identifier: GPL-2.0-only
/*
 * pinned.c - podlanectl commands that read podlane's pinned maps directly instead of asking
 * the agent: `drops` sums the per-CPU podlane_drops counters, `monitor` consumes
 * podlane_events. Both keep working when podlaned is down or wedged, which is when an
 * operator needs them most.
 *
 * A ring buffer has one consumer position, and podlaned is podlane_events' consumer while it
 * runs (its flow log, userspace/podlaned/flows/): `monitor` asks the agent for the drop
 * records then, as a stream, and reads the ring itself only when no agent answers on the
 * socket.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>

#include "ctl.h"
#include "podlane.h"

static const char drops_usage[] =
	"Usage: podlanectl [--pin-root PATH] [--json] drops\n"
	"\n"
	"Node-wide drop counters by reason, summed over CPUs, read from the pinned map\n"
	"<pin-root>/podlane_drops (default pin root " PODLANE_PIN_ROOT "). Works without\n"
	"podlaned. Every known reason is listed, also at zero.\n";

static const char monitor_usage[] =
	"Usage: podlanectl [--socket PATH] [--pin-root PATH] [--json] monitor [--count N]\n"
	"                  [--timeout S]\n"
	"\n"
	"Print one line per dropped packet as it happens: time, hook, device, reason,\n"
	"source > destination, protocol, length.\n"
	"\n"
	"  -c, --count N     stop after N events (default: until interrupted)\n"
	"  -t, --timeout S   stop after S seconds (default: until interrupted)\n"
	"  -j, --json        one JSON object per line\n"
	"\n"
	"While podlaned runs it is the one reader of the ring buffer podlane_events, and monitor\n"
	"follows the drops through it (--socket; any number of monitors, each sees every drop).\n"
	"When no agent answers on the socket, monitor reads the pinned ring buffer\n"
	"<pin-root>/podlane_events itself: events are consumed then, so two monitors running\n"
	"at once each see part of the stream, and a starting agent finds them gone.\n"
	"`podlanectl observe` shows the same drops with network policy's verdicts.\n";

static int open_pinned(const struct ctl_opts *o, const char *name, enum bpf_map_type type,
		       __u32 value_size, struct bpf_map_info *info)
{
	__u32 len = sizeof(*info);
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", o->pin_root, name);
	fd = bpf_obj_get(path);
	if (fd < 0) {
		fprintf(stderr, "podlanectl: cannot open pinned map '%s': %s; is podlaned running? "
			"(--pin-root)\n", path, strerror(errno));
		return -1;
	}
	memset(info, 0, sizeof(*info));
	if (bpf_obj_get_info_by_fd(fd, info, &len) || info->type != type ||
	    (value_size && info->value_size != value_size)) {
		fprintf(stderr, "podlanectl: pinned map '%s' is not podlane's %s (wrong type or "
			"layout; is podlanectl as new as podlaned?)\n", path, name);
		close(fd);
		return -1;
	}
	return fd;
}

int cmd_drops(struct ctl_opts *o, int argc, char **argv)
{
	struct drop_counter *percpu;
	struct json_object *out = NULL, *list = NULL;
	struct bpf_map_info info;
	struct table t;
	__u32 slot;
	int fd, ncpus, cpu, rc;

	rc = parse_command_opts(argc, argv, o, "drops", drops_usage, NULL);
	if (rc)
		return rc < 0 ? 0 : rc;
	fd = open_pinned(o, "podlane_drops", BPF_MAP_TYPE_PERCPU_ARRAY,
			 sizeof(struct drop_counter), &info);
	if (fd < 0)
		return 1;
	ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0) {
		fprintf(stderr, "podlanectl: failed to count possible CPUs: %s\n",
			strerror(-ncpus));
		close(fd);
		return 1;
	}
	percpu = calloc(ncpus, sizeof(*percpu));
	if (!percpu) {
		close(fd);
		return 1;
	}

	if (o->json) {
		out = json_object_new_object();
		list = json_object_new_array();
		json_object_object_add(out, "pin_root", json_object_new_string(o->pin_root));
		json_object_object_add(out, "drops", list);
	} else {
		table_init(&t, 4, (const char *const[]){ "REASON", "CODE", "PACKETS", "BYTES" });
	}
	for (slot = 0; slot < info.max_entries && slot < PODLANE_DROP_SLOTS; slot++) {
		int reason = -(int)(slot + PODLANE_DROP_FIRST);
		const char *name = podlane_drop_name(reason);
		__u64 packets = 0, bytes = 0;
		char code[16], pk[24], by[24], unknown[24];

		if (bpf_map_lookup_elem(fd, &slot, percpu)) {
			fprintf(stderr, "podlanectl: failed to read drop slot %u: %s\n", slot,
				strerror(errno));
			rc = 1;
			break;
		}
		for (cpu = 0; cpu < ncpus; cpu++) {
			packets += percpu[cpu].packets;
			bytes += percpu[cpu].bytes;
		}
		/* A reason newer than this build is still shown once it has counted something. */
		if (!name) {
			if (!packets)
				continue;
			snprintf(unknown, sizeof(unknown), "unknown");
			name = unknown;
		}
		if (o->json) {
			struct json_object *e = json_object_new_object();

			json_object_object_add(e, "reason", json_object_new_string(name));
			json_object_object_add(e, "code", json_object_new_int(reason));
			json_object_object_add(e, "packets", json_object_new_uint64(packets));
			json_object_object_add(e, "bytes", json_object_new_uint64(bytes));
			json_object_array_add(list, e);
			continue;
		}
		snprintf(code, sizeof(code), "%d", reason);
		snprintf(pk, sizeof(pk), "%" PRIu64, (uint64_t)packets);
		snprintf(by, sizeof(by), "%" PRIu64, (uint64_t)bytes);
		table_add(&t, (const char *const[]){ name, code, pk, by });
	}
	if (o->json) {
		int flags = JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
			    JSON_C_TO_STRING_NOSLASHESCAPE;

		if (!rc)
			printf("%s\n", json_object_to_json_string_ext(out, flags));
		json_object_put(out);
	} else {
		if (!rc)
			table_print(&t);
		table_free(&t);
	}
	free(percpu);
	close(fd);
	return rc;
}

struct monitor_ctx {
	const struct ctl_opts *o;
	long count;
	long seen;
	__s64 mono_to_real_ns;	/* bpf_ktime_get_ns() is CLOCK_MONOTONIC */
};

static volatile sig_atomic_t monitor_stop;

static void on_signal(int sig)
{
	monitor_stop = 1;
}

static __s64 clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (__s64)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const char *hook_name(int hook)
{
	switch (hook) {
	case PODLANE_HOOK_FROM_POD:	return "from_pod";
	case PODLANE_HOOK_TO_POD:	return "to_pod";
	case PODLANE_HOOK_FROM_UPLINK:	return "from_uplink";
	case PODLANE_HOOK_XDP_UPLINK:	return "xdp_uplink";
	case PODLANE_HOOK_FROM_TUNNEL:	return "from_tunnel";
	}
	return "unknown";
}

static void proto_name(const struct drop_event *e, char *buf, size_t len)
{
	if (e->eth_proto != 0x0800) {
		snprintf(buf, len, "ethertype 0x%04x", e->eth_proto);
		return;
	}
	switch (e->ip_proto) {
	case 1:
		snprintf(buf, len, "icmp");
		break;
	case 6:
		snprintf(buf, len, "tcp");
		break;
	case 17:
		snprintf(buf, len, "udp");
		break;
	default:
		snprintf(buf, len, "ip proto %u", e->ip_proto);
	}
}

/* One drop, printed the same whether it came from the ring or from the agent. */
static void print_drop(const struct monitor_ctx *ctx, __s64 real, int hook, unsigned int ifindex,
		       int code, const char *src, const char *dst, const char *proto,
		       unsigned int len)
{
	char when[32], dev[IF_NAMESIZE], reason[24];
	const char *name;
	time_t sec;
	struct tm tm;

	sec = real / 1000000000;
	localtime_r(&sec, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	if (!if_indextoname(ifindex, dev))
		snprintf(dev, sizeof(dev), "if%u", ifindex);
	name = podlane_drop_name(code);
	if (!name) {
		snprintf(reason, sizeof(reason), "reason %d", code);
		name = reason;
	}

	if (ctx->o->json) {
		struct json_object *o = json_object_new_object();
		char ts[48];

		snprintf(ts, sizeof(ts), "%s.%06lld", when,
			 (long long)(real % 1000000000) / 1000);
		json_object_object_add(o, "time", json_object_new_string(ts));
		json_object_object_add(o, "hook", json_object_new_string(hook_name(hook)));
		json_object_object_add(o, "ifindex", json_object_new_int(ifindex));
		json_object_object_add(o, "device", json_object_new_string(dev));
		json_object_object_add(o, "reason", json_object_new_string(name));
		json_object_object_add(o, "code", json_object_new_int(code));
		json_object_object_add(o, "saddr", json_object_new_string(src));
		json_object_object_add(o, "daddr", json_object_new_string(dst));
		json_object_object_add(o, "proto", json_object_new_string(proto));
		json_object_object_add(o, "len", json_object_new_int(len));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	} else {
		printf("%s.%06lld %-11s %-15s %-16s %s > %s %s len %u\n", when,
		       (long long)(real % 1000000000) / 1000, hook_name(hook), dev, name, src,
		       dst, proto, len);
	}
	fflush(stdout);
}

static int on_event(void *data, void *sample, size_t size)
{
	struct monitor_ctx *ctx = data;
	const struct drop_event *e = sample;
	char src[INET_ADDRSTRLEN], dst[INET_ADDRSTRLEN], proto[32];

	if (size < sizeof(*e) || e->type != PODLANE_EVENT_DROP)
		return 0;
	if (ctx->count && ctx->seen >= ctx->count)
		return 0;
	ctx->seen++;
	inet_ntop(AF_INET, &e->saddr, src, sizeof(src));
	inet_ntop(AF_INET, &e->daddr, dst, sizeof(dst));
	proto_name(e, proto, sizeof(proto));
	print_drop(ctx, (__s64)e->ts_ns + ctx->mono_to_real_ns, e->hook, e->ifindex, e->reason,
		   src, dst, proto, e->len);
	return 0;
}

/* A message of the agent's drop stream: the same lines as from the ring. */
static int on_agent_drops(const struct api_flow_list_reply *r, void *data)
{
	struct monitor_ctx *ctx = data;
	char proto[32];
	size_t i, j;

	for (i = 0; i < r->n_flows && (!ctx->count || ctx->seen < ctx->count); i++) {
		const struct api_flow *f = &r->flows[i];
		int hook = 0;

		for (hook = PODLANE_HOOK_FROM_POD; hook <= PODLANE_HOOK_FROM_TUNNEL; hook++)
			if (!strcmp(hook_name(hook), f->hook))
				break;
		if (!strncmp(f->protocol, "ethertype", 9) || !strcmp(f->protocol, "ICMP") ||
		    !strcmp(f->protocol, "TCP") || !strcmp(f->protocol, "UDP")) {
			for (j = 0; f->protocol[j] && j < sizeof(proto) - 1; j++)
				proto[j] = f->protocol[j] >= 'A' && f->protocol[j] <= 'Z' ?
					   f->protocol[j] - 'A' + 'a' : f->protocol[j];
			proto[j] = '\0';
		} else {
			snprintf(proto, sizeof(proto), "ip proto %s", f->protocol);
		}
		ctx->seen++;
		print_drop(ctx, f->time_ns, hook, f->ifindex, f->has_code ? f->code : 0, f->src_ip,
			   f->dst_ip, proto, f->has_len ? f->len : 0);
	}
	return ctx->count && ctx->seen >= ctx->count;
}

int cmd_monitor(struct ctl_opts *o, int argc, char **argv)
{
	struct monitor_opts m = { 0 };
	struct monitor_ctx ctx = { .o = o };
	struct sigaction sa = { .sa_handler = on_signal };
	struct ring_buffer *rb;
	struct bpf_map_info info;
	__s64 deadline = 0;
	int fd, rc, wait_ms;

	rc = parse_command_opts(argc, argv, o, "monitor", monitor_usage, &m);
	if (rc)
		return rc < 0 ? 0 : rc;
	ctx.count = m.count;
	/* No SA_RESTART: Ctrl-C must wake the poll below. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	{
		struct api_flow_list_req req = {
			.has_drops = true, .drops = true, .has_follow = true, .follow = true,
		};

		rc = ctl_flow_stream(o, &req, m.timeout_s, &monitor_stop, on_agent_drops, &ctx);
		if (rc != CTL_NO_AGENT)
			return rc;
	}
	/* No agent: this process is the ring buffer's reader. */
	fd = open_pinned(o, "podlane_events", BPF_MAP_TYPE_RINGBUF, 0, &info);
	if (fd < 0)
		return 1;
	ctx.mono_to_real_ns = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);
	rb = ring_buffer__new(fd, on_event, &ctx, NULL);
	if (!rb) {
		fprintf(stderr, "podlanectl: failed to open ring buffer '%s/podlane_events': %s\n",
			o->pin_root, strerror(errno));
		close(fd);
		return 1;
	}
	if (m.timeout_s)
		deadline = clock_ns(CLOCK_MONOTONIC) + (__s64)m.timeout_s * 1000000000;

	rc = 0;
	while (!monitor_stop && (!ctx.count || ctx.seen < ctx.count)) {
		wait_ms = 500;
		if (deadline) {
			__s64 left = deadline - clock_ns(CLOCK_MONOTONIC);

			if (left <= 0)
				break;
			if (left / 1000000 < wait_ms)
				wait_ms = left / 1000000 + 1;
		}
		rc = ring_buffer__poll(rb, wait_ms);
		if (rc == -EINTR) {
			rc = 0;
			continue;
		}
		if (rc < 0) {
			fprintf(stderr, "podlanectl: failed to poll ring buffer: %s\n",
				strerror(-rc));
			break;
		}
		rc = 0;
	}
	ring_buffer__free(rb);
	close(fd);
	return rc ? 1 : 0;
}
