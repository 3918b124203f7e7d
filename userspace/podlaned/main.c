// SPDX-License-Identifier: GPL-2.0-only
/*
 * podlaned - podlane's node agent. Loads the datapath against the pinned maps, wires pods on
 * request from podlane-cni and answers podlanectl, over a SOCK_SEQPACKET unix socket (see
 * userspace/lib/api.h). Requests are served one at a time by one epoll loop on the main
 * thread; beside it run only the etcd sync's threads (sync/) and the host-veth reaper
 * (endpoint/reaper.c), each with state of its own.
 *
 * This file is the composition root: options, the order in which the layers open and close
 * (userspace/podlaned/README.md), and the event loop. The layers below never call up into it.
 *
 * Stopping the agent (SIGTERM/SIGINT, or a crash) never touches the datapath: programs stay
 * attached and maps pinned, so pods keep their traffic while podlaned restarts or is upgraded.
 * Only `podlaned --uninstall` takes the BPF state away.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <bpf/libbpf.h>

#include "acct/acct.h"
#include "api.h"
#include "api_ops.h"
#include "api/api.h"
#include "core/agent.h"
#include "core/fs.h"
#include "core/loop.h"
#include "datapath/datapath.h"
#include "datapath/eps.h"
#include "datapath/loader.h"
#include "endpoint/endpoint.h"
#include "extender.h"
#include "flows/flows.h"
#include "lb/lb.h"
#include "log.h"
#include "nodes/nodes.h"
#include "policy/policy.h"
#include "sched/sched.h"
#include "recommend/recommend.h"
#include "sync/sync.h"

/*
 * A runtime may start many pods at once, each running podlane-cni, which connects and sends its
 * request at once. Every connection is accepted, up to client_max (CLIENT_MAX, less when the
 * file limit is lower), so none waits in the listen backlog behind connections that send
 * nothing: a connection with nothing to read for CLIENT_IDLE_SEC is closed, and when client_max
 * are open the oldest one with nothing to read makes room for the next. Accepting pauses only
 * while every open connection has a request waiting (they are served in turn).
 */
#define CLIENT_MAX		1024
#define CLIENT_IDLE_SEC		5
#define LISTEN_BACKLOG		1024

/* What an epoll event is about: data.ptr points at one of these. */
enum ev_kind { EV_SIGNAL, EV_LISTEN, EV_TICK, EV_METRICS, EV_SYNC, EV_FLOWS, EV_CLIENT };

struct ev_source {
	enum ev_kind kind;
};

/*
 * An open connection. Clients are never freed while the loop runs: a closed one goes to a free
 * list for the next accept, so an event of the same epoll batch never points at freed memory
 * (it finds fd -1, or a new connection that has nothing to read yet).
 */
struct client {
	struct ev_source src;	/* EV_CLIENT: first, so the event's pointer is the client's */
	int fd;
	time_t since;		/* accepted */
	struct client *prev, *next;	/* open: accept order, oldest first; free: next only */
};

static struct ev_source ev_signal = { EV_SIGNAL }, ev_listen = { EV_LISTEN },
	ev_tick = { EV_TICK }, ev_metrics = { EV_METRICS }, ev_sync = { EV_SYNC },
	ev_flows = { EV_FLOWS };
static struct client *clients_head, *clients_tail, *clients_free;
static size_t nclients, client_max = CLIENT_MAX;
static int listen_fd = -1;
static bool accept_paused;

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: podlaned [OPTIONS]\n"
		"       podlaned --uninstall [--pin-root DIR] [--uplink IFNAME] [--state-dir DIR]\n"
		"\n"
		"podlane node agent: loads the pod datapath, wires pods for podlane-cni and\n"
		"serves the local API.\n"
		"\n"
		"  --pin-root DIR        bpffs directory for pinned maps (default %s)\n"
		"  --state-dir DIR       IPAM and agent state (default %s)\n"
		"  --socket PATH         API socket (default %s)\n"
		"  --uplink IFNAME       attach the uplink program to IFNAME (never defaulted)\n"
		"  --xdp-nodeport MODE   XDP fast path for tracked NodePort flows to local pods:\n"
		"                        auto (default: on for a NIC uplink in native XDP mode,\n"
		"                        off for a veth, whose frames carry partial checksums),\n"
		"                        on (forced; needs --uplink), off\n"
		"  --max-endpoints N     endpoint map size on first start (default %d)\n"
		"  --max-nodes N         other nodes podlane_nodes holds, sized on first start\n"
		"                        (default %d; a pinned map keeps its size)\n"
		"  --max-policy-entries N  network policy rule entries (podlane_policy), sized\n"
		"                        on first start (default %d; a pinned map keeps its\n"
		"                        size); a policy change that does not fit is refused\n"
		"  --no-drop-events      do not emit per-drop ring buffer events\n"
		"  --flow-log-size N     records the flow log keeps in memory (`podlanectl\n"
		"                        observe`, `monitor`), %zu bytes each (default %d,\n"
		"                        at most %u)\n"
		"  --cgroup PATH         cgroup v2 directory whose sockets get the service LB\n"
		"                        (default: the cgroup v2 root, i.e. every socket)\n"
		"  --no-accounting       no per-cgroup accounting programs (CPU from cpu.stat,\n"
		"                        no run-queue or traffic figures)\n"
		"  --metrics-addr H:P    serve Prometheus metrics at http://H:P/metrics\n"
		"                        (default off; any address given, loopback is safest)\n"
		"  --node-cgroup PATH    this node is a cgroup (kind, k3d, a VM slice): node CPU,\n"
		"                        run-queue and pressure figures come from cgroup PATH,\n"
		"                        relative to each hierarchy's root: cgroup v2 (PSI,\n"
		"                        cpu.stat, cpu.max, run-queue wait of its subtree) and\n"
		"                        the v1 cpu/cpuacct ones when mounted (cfs quota, usage)\n"
		"  --extender-addr H:P   serve a kube-scheduler extender (POST <prefix>/filter,\n"
		"                        <prefix>/prioritize) from the cluster's hints in etcd\n"
		"  --extender-saturated N  filter out nodes whose pressure is >= N, 1..100\n"
		"                        (default %d)\n"
		"  --extender-stale-ms MS  hints older than MS are stale: the node passes filter\n"
		"                        and scores 0 (default %d)\n"
		"  --extender-pending-ttl-ms MS  longest a placement counts against its node\n"
		"                        before its hints show it (default %d)\n"
		"  --extender-max-body BYTES  larger requests get 413 (default %d)\n"
		"  --recommend-interval S  seconds per sizing sample (`podlanectl recommend`;\n"
		"                        default 60, as VPA's recommender; at most 3600)\n"
		SYNC_USAGE
		"  --node-name NAME      this node's name among the cluster's nodes (default: host\n"
		"                        name); a node_add for it is refused\n"
		"  --node-ip A.B.C.D     this node's underlay address (optional; refused as a\n"
		"                        remote node's address)\n"
		"  --routing MODE        how pods on other nodes are reached: direct (nodes share a\n"
		"                        link, needs --uplink) or vxlan (default direct)\n"
		"  --vxlan-dev IFNAME    the vxlan device podlaned creates for --routing vxlan\n"
		"                        (default " PODLANE_VXLAN_DEV ")\n"
		"  --no-node-routes      no kernel route per remote pod CIDR (the node's own\n"
		"                        stack then cannot reach pods on other nodes)\n"
		"  --log-file PATH       append logs to PATH instead of stderr\n"
		"  --uninstall           detach podlane's tc programs, remove the pins, exit\n"
		"  -v, --verbose         debug logs, including libbpf's\n"
		"  -h, --help            this text\n",
		PODLANE_PIN_ROOT, PODLANE_STATE_DIR, PODLANE_SOCKET, PODLANE_MAX_ENDPOINTS,
		PODLANED_MAX_NODES_DEFAULT, PODLANE_MAX_POLICY, sizeof(struct flow_view),
		FLOWS_DEFAULT_SIZE, FLOWS_MAX_SIZE, SCHED_DEFAULT_SATURATED, SCHED_DEFAULT_STALE_MS,
		SCHED_DEFAULT_PENDING_TTL_MS, EXTENDER_DEFAULT_MAX_BODY);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[900];
	va_list copy;
	int n;

	if (loader_quiet_libbpf && !log_enabled(LOG_LVL_DEBUG))
		return 0;
	if (level != LIBBPF_WARN && !log_enabled(LOG_LVL_DEBUG))
		return 0;
	va_copy(copy, ap);
	n = vsnprintf(line, sizeof(line), fmt, copy);
	va_end(copy);
	/* A verifier log does not fit a log line: keep it whole on stderr. */
	if (n >= (int)sizeof(line))
		return vfprintf(stderr, fmt, ap);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	log_msg(level == LIBBPF_WARN ? LOG_LVL_WARN : LOG_LVL_DEBUG, "libbpf: %s", line);
	return n;
}

/* 1 when a live agent accepts connections on path, 0 when nobody does. */
static int socket_is_live(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, live;

	if (strlen(path) >= sizeof(sun.sun_path))
		return 0;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	live = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	close(fd);
	return live;
}

static int listen_socket(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char dir[PATH_MAX], *slash;
	int fd, err;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_error("socket path '%s' is too long (max %zu bytes)", path,
			  sizeof(sun.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		err = mkdir_p(dir, 0755);
		if (err) {
			log_error("failed to create run directory '%s': %s", dir, strerror(-err));
			return err;
		}
	}
	if (socket_is_live(path)) {
		log_error("another podlaned is already serving '%s': stop it first", path);
		return -EADDRINUSE;
	}
	/* Nobody answers: a socket file left by a crashed agent. */
	if (unlink(path) && errno != ENOENT) {
		err = -errno;
		log_error("failed to remove stale socket '%s': %s", path, strerror(errno));
		return err;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		err = -errno;
		log_error("failed to create socket: %s", strerror(errno));
		return err;
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) || chmod(path, 0660) ||
	    listen(fd, LISTEN_BACKLOG)) {
		err = -errno;
		log_error("failed to listen on '%s': %s", path, strerror(errno));
		close(fd);
		return err;
	}
	return fd;
}

/*
 * One agent per state dir: IPAM files are only consistent if a single writer owns them, and
 * the socket check alone does not cover two agents started with different --socket paths.
 */
static int lock_state_dir(const char *state_dir)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/podlaned.lock", state_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_error("failed to open lock file '%s': %s", path, strerror(errno));
		return -errno;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		log_error("another podlaned already owns state dir '%s' (lock '%s')", state_dir,
			  path);
		close(fd);
		return -EBUSY;
	}
	return fd;
}

/* Forget the client; its connection is closed, or handed over when keep_fd. */
static void client_drop(int epfd, struct client *c, bool keep_fd)
{
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	if (!keep_fd)
		close(c->fd);
	c->fd = -1;
	if (c->prev)
		c->prev->next = c->next;
	else
		clients_head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		clients_tail = c->prev;
	c->prev = NULL;
	c->next = clients_free;
	clients_free = c;
	nclients--;
	if (accept_paused) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &ev_listen };

		if (!epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &ev))
			accept_paused = false;
	}
}

static void client_close(int epfd, struct client *c)
{
	client_drop(epfd, c, false);
}

/* Nothing to read: no request has arrived (or the peer is gone). */
static bool client_idle(const struct client *c)
{
	int n = 0;

	return !ioctl(c->fd, FIONREAD, &n) && n == 0;
}

/* The oldest open client with nothing to read, NULL when every one has a request waiting. */
static struct client *client_oldest_idle(void)
{
	struct client *c;

	for (c = clients_head; c; c = c->next)
		if (client_idle(c))
			return c;
	return NULL;
}

/*
 * Close the clients that have sent nothing for CLIENT_IDLE_SEC. The list is in accept order, so
 * the walk stops at the first one younger than that.
 */
static void clients_expire(int epfd, time_t now)
{
	struct client *c, *next;
	unsigned int closed = 0;

	for (c = clients_head; c && now - c->since >= CLIENT_IDLE_SEC; c = next) {
		next = c->next;
		if (client_idle(c)) {
			client_close(epfd, c);
			closed++;
		}
	}
	if (closed)
		log_warn("closed clients that sent nothing count=%u idle_sec=%d", closed,
			 CLIENT_IDLE_SEC);
}

static void client_accept(int epfd, int lfd)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int fd, size = 2 * PODLANE_API_MAX_MSG;
	unsigned int evicted = 0;
	struct client *c, *idle;

	for (;;) {
		idle = nclients >= client_max ? client_oldest_idle() : NULL;
		if (nclients >= client_max && !idle) {
			/* Every client has a request waiting: the rest wait in the backlog. */
			if (!epoll_ctl(epfd, EPOLL_CTL_DEL, lfd, NULL))
				accept_paused = true;
			log_debug("every client has a request waiting, accepting paused max=%zu",
				  client_max);
			break;
		}
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_warn("failed to accept a client err=\"%s\"", strerror(errno));
			break;
		}
		if (idle) {
			client_close(epfd, idle);
			evicted++;
		}
		c = clients_free;
		if (c) {
			clients_free = c->next;
		} else {
			c = calloc(1, sizeof(*c));
			if (!c) {
				close(fd);
				break;
			}
			c->src.kind = EV_CLIENT;
		}
		/* A reply may be as large as the protocol allows; the default buffer is smaller. */
		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)))
			setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
		ev.data.ptr = &c->src;
		c->fd = fd;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev)) {
			close(fd);
			c->fd = -1;
			c->next = clients_free;
			clients_free = c;
			continue;
		}
		c->since = time(NULL);
		c->next = NULL;
		c->prev = clients_tail;
		if (clients_tail)
			clients_tail->next = c;
		else
			clients_head = c;
		clients_tail = c;
		nclients++;
	}
	if (evicted)
		log_warn("closed idle clients to make room for new ones count=%u max=%zu",
			 evicted, client_max);
}

/* Room for client_max connections within the file limit, raising the soft limit if needed. */
static void clients_size(void)
{
	struct rlimit rl;
	const rlim_t reserve = 256;	/* maps, programs, links, netns, netlink, etcd, files */

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur < CLIENT_MAX + reserve && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max < CLIENT_MAX + reserve ? rl.rlim_max :
								   CLIENT_MAX + reserve;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < CLIENT_MAX + reserve)
		client_max = rl.rlim_cur > reserve + 16 ? rl.rlim_cur - reserve : 16;
	if (client_max < CLIENT_MAX)
		log_info("file limit allows fewer clients nofile=%llu clients=%zu",
			 (unsigned long long)rl.rlim_cur, client_max);
}

static void send_reply(int fd, struct json_object *reply)
{
	const char *text = json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN);
	size_t len = strlen(text);

	if (len > PODLANE_API_MAX_MSG) {
		struct api_error e = {};
		struct json_object *err;

		api_fail(&e, PODLANE_ERR_INTERNAL, "reply exceeds the API message limit (%zu "
			 "bytes, at most %d)", len, PODLANE_API_MAX_MSG);
		err = api_reply_error(&e);
		log_warn("reply too large bytes=%zu max=%d", len, PODLANE_API_MAX_MSG);
		text = json_object_to_json_string_ext(err, JSON_C_TO_STRING_PLAIN);
		if (send(fd, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			log_warn("failed to send reply err=\"%s\"", strerror(errno));
		json_object_put(err);
		return;
	}
	if (send(fd, text, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_warn("failed to send reply err=\"%s\"", strerror(errno));
}

static void client_serve(struct agent *a, int epfd, struct client *c, char *buf)
{
	struct json_object *req, *reply;
	enum json_tokener_error jerr;
	struct api_error e = {};
	bool stream = false;
	ssize_t n;

	n = recv(c->fd, buf, PODLANE_API_MAX_MSG + 1, MSG_TRUNC);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(epfd, c);
		return;
	}
	if (n > PODLANE_API_MAX_MSG) {
		api_fail(&e, PODLANE_ERR_DECODE, "request exceeds the API message limit (%d bytes)",
			 PODLANE_API_MAX_MSG);
		reply = api_reply_error(&e);
	} else {
		buf[n] = '\0';
		req = json_tokener_parse_verbose(buf, &jerr);
		if (!req) {
			api_fail(&e, PODLANE_ERR_DECODE, "request is not valid JSON");
			snprintf(e.details, sizeof(e.details), "%s", json_tokener_error_desc(jerr));
			reply = api_reply_error(&e);
		} else {
			reply = api_handle(a, req, &stream);
			json_object_put(req);
		}
	}
	send_reply(c->fd, reply);
	json_object_put(reply);
	if (stream) {
		/* A flow stream: the connection now belongs to api/ (flow_ops.c). */
		int fd = c->fd;

		client_drop(epfd, c, true);
		api_stream_adopt(a, fd);
		return;
	}
	client_close(epfd, c);
}

/*
 * The accounting tick (acct/: samples, rates, hints once a second) and the metrics server
 * (api/metrics.c: libmicrohttpd's own epoll fd, run from this loop so requests are served on
 * this thread).
 */
static int tick_timer_add(struct agent *a, int epfd)
{
	struct itimerspec its = { .it_interval.tv_sec = 1, .it_value.tv_sec = 1 };
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &ev_tick };
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);

	if (fd < 0 || timerfd_settime(fd, 0, &its, NULL) ||
	    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev))
		log_warn("failed to start the accounting timer err=\"%s\"", strerror(errno));
	ev.data.ptr = &ev_metrics;
	if (metrics_fd(a) >= 0 && epoll_ctl(epfd, EPOLL_CTL_ADD, metrics_fd(a), &ev))
		log_warn("failed to watch the metrics server err=\"%s\"", strerror(errno));
	/* The extender's server runs with the metrics' (tick_event runs both). */
	if (extender_fd(a) >= 0 && epoll_ctl(epfd, EPOLL_CTL_ADD, extender_fd(a), &ev))
		log_warn("failed to watch the extender server err=\"%s\"", strerror(errno));
	acct_tick(a);
	return fd;
}

static void tick_event(struct agent *a, int tfd, enum ev_kind kind)
{
	uint64_t expirations;
	__u64 t0 = mono_ns();

	if (kind == EV_TICK) {
		if (read(tfd, &expirations, sizeof(expirations)) < 0)
			return;
		acct_tick(a);
		recommend_tick(a);
		loop_time(a, LOOP_ACCT, mono_ns() - t0);
		t0 = mono_ns();
	}
	/* Also on the tick: MHD times idle connections out only when it runs. */
	metrics_run(a);
	extender_run(a);
	loop_time(a, LOOP_METRICS, mono_ns() - t0);
}

static int serve(struct agent *a, int lfd)
{
	struct epoll_event ev, events[16];
	sigset_t mask;
	char *buf;
	int epfd, sfd, tfd, i, n;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	buf = malloc(PODLANE_API_MAX_MSG + 2);
	if (sfd < 0 || epfd < 0 || !buf) {
		log_error("failed to set up the event loop: %s", strerror(errno));
		return -1;
	}
	clients_size();
	listen_fd = lfd;
	ev.events = EPOLLIN;
	ev.data.ptr = &ev_signal;
	epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev);
	ev.data.ptr = &ev_listen;
	epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
	tfd = tick_timer_add(a, epfd);
	ev.data.ptr = &ev_sync;
	if (sync_fd(a) >= 0 && epoll_ctl(epfd, EPOLL_CTL_ADD, sync_fd(a), &ev))
		log_warn("failed to watch the etcd sync err=\"%s\"", strerror(errno));
	ev.data.ptr = &ev_flows;
	if (flows_fd(a) >= 0 && epoll_ctl(epfd, EPOLL_CTL_ADD, flows_fd(a), &ev))
		log_warn("failed to watch the flow log err=\"%s\"", strerror(errno));
	/* Records that waited while no agent ran. */
	flows_run(a);

	for (;;) {
		__u64 t0;

		n = epoll_wait(epfd, events, 16, 1000);
		if (n < 0 && errno != EINTR) {
			log_error("failed to wait for events: %s", strerror(errno));
			break;
		}
		for (i = 0; i < n; i++) {
			struct ev_source *src = events[i].data.ptr;
			struct client *c = (struct client *)src;
			struct signalfd_siginfo si;

			switch (src->kind) {
			case EV_SIGNAL:
				if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
					log_info("stopping, datapath stays in place signal=%s",
						 strsignal(si.ssi_signo));
					goto out;
				}
				break;
			case EV_LISTEN:
				client_accept(epfd, lfd);
				break;
			case EV_SYNC:
				sync_run(a);
				break;
			case EV_FLOWS:
				flows_run(a);
				break;
			case EV_TICK:
			case EV_METRICS:
				/* Also here: a missed wake-up of the ring buffer waits 1 s. */
				if (src->kind == EV_TICK)
					flows_run(a);
				tick_event(a, tfd, src->kind);
				break;
			case EV_CLIENT:
				/* Closed by an earlier event of this batch: nothing left to do. */
				if (c->fd < 0)
					break;
				t0 = mono_ns();
				client_serve(a, epfd, c, buf);
				loop_time(a, LOOP_CLIENT, mono_ns() - t0);
				break;
			}
		}
		/* A client that connects and never sends must not hold its connection. */
		clients_expire(epfd, time(NULL));
		t0 = mono_ns();
		service_tick(a);
		policy_tick(a);
		loop_time(a, LOOP_SERVICE, mono_ns() - t0);
		api_streams_run(a);
	}
out:
	while (clients_head)
		client_close(epfd, clients_head);
	api_streams_close(a);
	while (clients_free) {
		struct client *c = clients_free;

		clients_free = c->next;
		free(c);
	}
	free(buf);
	if (tfd >= 0)
		close(tfd);
	close(epfd);
	close(sfd);
	return 0;
}

enum {
	OPT_PIN_ROOT = 256,
	OPT_STATE_DIR,
	OPT_SOCKET,
	OPT_UPLINK,
	OPT_MAX_ENDPOINTS,
	OPT_MAX_NODES,
	OPT_MAX_POLICY,
	OPT_LOG_FILE,
	OPT_UNINSTALL,
	OPT_NO_DROP_EVENTS,
	OPT_CGROUP,
	OPT_NO_ACCOUNTING,
	OPT_METRICS_ADDR,
	OPT_SYNC_FIRST,
	OPT_SYNC_LAST = OPT_SYNC_FIRST + SYNC_OPT_COUNT - 1,
	OPT_NODE_NAME,
	OPT_NODE_IP,
	OPT_ROUTING,
	OPT_VXLAN_DEV,
	OPT_XDP_NODEPORT,
	OPT_NO_NODE_ROUTES,
	OPT_FLOW_LOG_SIZE,
	OPT_NODE_CGROUP,
	OPT_EXTENDER_ADDR,
	OPT_EXTENDER_SATURATED,
	OPT_EXTENDER_STALE_MS,
	OPT_EXTENDER_PENDING_TTL_MS,
	OPT_EXTENDER_MAX_BODY,
	OPT_RECOMMEND_INTERVAL,
};

static const struct option long_opts[] = {
	{ "pin-root", required_argument, NULL, OPT_PIN_ROOT },
	{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
	{ "socket", required_argument, NULL, OPT_SOCKET },
	{ "uplink", required_argument, NULL, OPT_UPLINK },
	{ "max-endpoints", required_argument, NULL, OPT_MAX_ENDPOINTS },
	{ "max-nodes", required_argument, NULL, OPT_MAX_NODES },
	{ "max-policy-entries", required_argument, NULL, OPT_MAX_POLICY },
	{ "log-file", required_argument, NULL, OPT_LOG_FILE },
	{ "uninstall", no_argument, NULL, OPT_UNINSTALL },
	{ "no-drop-events", no_argument, NULL, OPT_NO_DROP_EVENTS },
	{ "cgroup", required_argument, NULL, OPT_CGROUP },
	{ "no-accounting", no_argument, NULL, OPT_NO_ACCOUNTING },
	{ "metrics-addr", required_argument, NULL, OPT_METRICS_ADDR },
	{ "node-name", required_argument, NULL, OPT_NODE_NAME },
	{ "node-ip", required_argument, NULL, OPT_NODE_IP },
	{ "routing", required_argument, NULL, OPT_ROUTING },
	{ "vxlan-dev", required_argument, NULL, OPT_VXLAN_DEV },
	{ "xdp-nodeport", required_argument, NULL, OPT_XDP_NODEPORT },
	{ "no-node-routes", no_argument, NULL, OPT_NO_NODE_ROUTES },
	{ "flow-log-size", required_argument, NULL, OPT_FLOW_LOG_SIZE },
	{ "node-cgroup", required_argument, NULL, OPT_NODE_CGROUP },
	{ "extender-addr", required_argument, NULL, OPT_EXTENDER_ADDR },
	{ "extender-saturated", required_argument, NULL, OPT_EXTENDER_SATURATED },
	{ "extender-stale-ms", required_argument, NULL, OPT_EXTENDER_STALE_MS },
	{ "extender-pending-ttl-ms", required_argument, NULL, OPT_EXTENDER_PENDING_TTL_MS },
	{ "extender-max-body", required_argument, NULL, OPT_EXTENDER_MAX_BODY },
	{ "recommend-interval", required_argument, NULL, OPT_RECOMMEND_INTERVAL },
	{ "verbose", no_argument, NULL, 'v' },
	SYNC_LONG_OPTIONS(OPT_SYNC_FIRST),
	{ "help", no_argument, NULL, 'h' },
	{}
};

static bool absolute_path_ok(const char *opt, const char *path)
{
	if (path[0] == '/' && strlen(path) < PATH_MAX - 64)
		return true;
	fprintf(stderr, "podlaned: --%s wants an absolute path, got '%s'\n", opt, path);
	return false;
}

int main(int argc, char **argv)
{
	struct agent a = {
		.pin_root = PODLANE_PIN_ROOT,
		.state_dir = PODLANE_STATE_DIR,
		.socket_path = PODLANE_SOCKET,
		.max_endpoints = PODLANE_MAX_ENDPOINTS,
		.max_nodes = PODLANED_MAX_NODES_DEFAULT,
		.max_policy = PODLANE_MAX_POLICY,
		.drop_events = true,
		.accounting = true,
		.flow_log_size = FLOWS_DEFAULT_SIZE,
		.extender_saturated = SCHED_DEFAULT_SATURATED,
		.extender_stale_ms = SCHED_DEFAULT_STALE_MS,
		.extender_pending_ttl_ms = SCHED_DEFAULT_PENDING_TTL_MS,
		.extender_max_body = EXTENDER_DEFAULT_MAX_BODY,
	};
	const char *log_file = NULL;
	struct sync_opts sync_opts;
	bool uninstall = false, verbose = false;
	int opt, err, lfd, lock_fd;
	char *end;
	unsigned long n;

	sync_opts_init(&sync_opts);
	while ((opt = getopt_long(argc, argv, "vh", long_opts, NULL)) != -1) {
		switch (opt) {
		case OPT_PIN_ROOT:
			a.pin_root = optarg;
			if (!absolute_path_ok("pin-root", optarg))
				return 2;
			break;
		case OPT_STATE_DIR:
			a.state_dir = optarg;
			if (!absolute_path_ok("state-dir", optarg))
				return 2;
			break;
		case OPT_SOCKET:
			a.socket_path = optarg;
			if (!absolute_path_ok("socket", optarg))
				return 2;
			break;
		case OPT_UPLINK:
			if (!optarg[0] || strlen(optarg) >= IF_NAMESIZE || strchr(optarg, '/')) {
				fprintf(stderr, "podlaned: --uplink wants an interface name, got "
					"'%s'\n", optarg);
				return 2;
			}
			a.uplink = optarg;
			break;
		case OPT_MAX_ENDPOINTS:
			errno = 0;
			n = strtoul(optarg, &end, 10);
			if (errno || *end || !n || n > PODLANED_MAX_ENDPOINTS_LIMIT) {
				fprintf(stderr, "podlaned: --max-endpoints wants a number from 1 "
					"to %u, got '%s'\n", PODLANED_MAX_ENDPOINTS_LIMIT, optarg);
				return 2;
			}
			a.max_endpoints = n;
			break;
		case OPT_MAX_NODES:
			errno = 0;
			n = strtoul(optarg, &end, 10);
			if (errno || *end || !n || n > PODLANED_MAX_NODES_LIMIT) {
				fprintf(stderr, "podlaned: --max-nodes wants a number from 1 "
					"to %u, got '%s'\n", PODLANED_MAX_NODES_LIMIT, optarg);
				return 2;
			}
			a.max_nodes = n;
			break;
		case OPT_MAX_POLICY:
			errno = 0;
			n = strtoul(optarg, &end, 10);
			if (errno || *end || !n || n > PODLANED_MAX_POLICY_LIMIT) {
				fprintf(stderr, "podlaned: --max-policy-entries wants a number from "
					"1 to %u, got '%s'\n", PODLANED_MAX_POLICY_LIMIT, optarg);
				return 2;
			}
			a.max_policy = n;
			break;
		case OPT_FLOW_LOG_SIZE:
			errno = 0;
			n = strtoul(optarg, &end, 10);
			if (errno || *end || !n || n > FLOWS_MAX_SIZE || optarg[0] == '-') {
				fprintf(stderr, "podlaned: --flow-log-size wants a number from 1 "
					"to %u, got '%s'\n", FLOWS_MAX_SIZE, optarg);
				return 2;
			}
			a.flow_log_size = n;
			break;
		case OPT_RECOMMEND_INTERVAL:
			errno = 0;
			n = strtoul(optarg, &end, 10);
			if (errno || *end || !n || n > RECOMMEND_INTERVAL_S_MAX || optarg[0] == '-') {
				fprintf(stderr, "podlaned: --recommend-interval wants seconds from 1 "
					"to %u, got '%s'\n", RECOMMEND_INTERVAL_S_MAX, optarg);
				return 2;
			}
			a.recommend_interval_s = n;
			break;
		case OPT_LOG_FILE:
			log_file = optarg;
			break;
		case OPT_UNINSTALL:
			uninstall = true;
			break;
		case OPT_NO_DROP_EVENTS:
			a.drop_events = false;
			break;
		case OPT_CGROUP:
			a.cgroup_path = optarg;
			if (!absolute_path_ok("cgroup", optarg))
				return 2;
			break;
		case OPT_NO_ACCOUNTING:
			a.accounting = false;
			break;
		case OPT_NO_NODE_ROUTES:
			a.no_node_routes = true;
			break;
		case OPT_METRICS_ADDR:
			if (metrics_valid_addr(optarg)) {
				fprintf(stderr, "podlaned: --metrics-addr wants HOST:PORT or "
					"[V6]:PORT, got '%s'\n", optarg);
				return 2;
			}
			a.metrics_addr = optarg;
			break;
		case OPT_NODE_CGROUP:
			if (!optarg[0] || strlen(optarg) >= 200 || strstr(optarg, "..")) {
				fprintf(stderr, "podlaned: --node-cgroup wants a cgroup path "
					"(e.g. /kind-worker), got '%s'\n", optarg);
				return 2;
			}
			a.node_cgroup = optarg;
			break;
		case OPT_EXTENDER_ADDR:
			if (metrics_valid_addr(optarg)) {
				fprintf(stderr, "podlaned: --extender-addr wants HOST:PORT or "
					"[V6]:PORT, got '%s'\n", optarg);
				return 2;
			}
			a.extender_addr = optarg;
			break;
		case OPT_EXTENDER_SATURATED:
		case OPT_EXTENDER_STALE_MS:
		case OPT_EXTENDER_PENDING_TTL_MS:
		case OPT_EXTENDER_MAX_BODY: {
			static const struct {
				const char *name;
				unsigned long lo, hi;
			} lim[] = {
				{ "extender-saturated", 1, 100 },
				{ "extender-stale-ms", 100, 3600000 },
				{ "extender-pending-ttl-ms", 100, 3600000 },
				{ "extender-max-body", 1024, 1UL << 30 },
			};
			int w = opt - OPT_EXTENDER_SATURATED;

			errno = 0;
			n = strtoul(optarg, &end, 10);
			if (errno || *end || optarg[0] == '-' || n < lim[w].lo || n > lim[w].hi) {
				fprintf(stderr, "podlaned: --%s wants a number from %lu to %lu, "
					"got '%s'\n", lim[w].name, lim[w].lo, lim[w].hi, optarg);
				return 2;
			}
			if (opt == OPT_EXTENDER_SATURATED)
				a.extender_saturated = n;
			else if (opt == OPT_EXTENDER_STALE_MS)
				a.extender_stale_ms = n;
			else if (opt == OPT_EXTENDER_PENDING_TTL_MS)
				a.extender_pending_ttl_ms = n;
			else
				a.extender_max_body = n;
			break;
		}
		case OPT_NODE_NAME:
		case OPT_NODE_IP:
		case OPT_ROUTING:
		case OPT_VXLAN_DEV:
			if (nodes_option(&a, opt - OPT_NODE_NAME, optarg))
				return 2;
			break;
		case OPT_XDP_NODEPORT:
			if (!strcmp(optarg, "auto")) {
				a.xdp_nodeport = XDP_NODEPORT_AUTO;
			} else if (!strcmp(optarg, "on")) {
				a.xdp_nodeport = XDP_NODEPORT_ON;
			} else if (!strcmp(optarg, "off")) {
				a.xdp_nodeport = XDP_NODEPORT_OFF;
			} else {
				fprintf(stderr, "podlaned: --xdp-nodeport wants auto, on or off, got "
					"'%s'\n", optarg);
				return 2;
			}
			break;
		case OPT_SYNC_FIRST ... OPT_SYNC_LAST:
			if (sync_parse_opt(&sync_opts, opt - OPT_SYNC_FIRST, optarg))
				return 2;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "podlaned: unexpected argument '%s' (see --help)\n", argv[optind]);
		return 2;
	}
	if (a.xdp_nodeport == XDP_NODEPORT_ON && !a.uplink && !uninstall) {
		fprintf(stderr, "podlaned: --xdp-nodeport on needs --uplink (the fast path is XDP "
			"on the uplink)\n");
		return 2;
	}
	err = log_open("podlaned", log_file, verbose ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	if (err) {
		fprintf(stderr, "podlaned: failed to open log file '%s': %s\n", log_file,
			strerror(-err));
		return 1;
	}
	libbpf_set_print(libbpf_print);

	if (uninstall) {
		if (socket_is_live(a.socket_path)) {
			log_error("podlaned is running on '%s': stop it before --uninstall",
				  a.socket_path);
			return 1;
		}
		err = nodes_uninstall(a.state_dir);
		return datapath_uninstall(a.pin_root, a.uplink, a.state_dir) || err ? 1 : 0;
	}

	err = mkdir_p(a.state_dir, 0755);
	if (err) {
		log_error("failed to create state directory '%s': %s", a.state_dir, strerror(-err));
		return 1;
	}
	lock_fd = lock_state_dir(a.state_dir);
	if (lock_fd < 0)
		return 1;
	lfd = listen_socket(a.socket_path);
	if (lfd < 0)
		return 1;
	err = nl_open(&a.nl);
	if (err) {
		log_error("failed to open rtnetlink socket: %s", strerror(-err));
		goto fail;
	}
	/* Bottom layer first; each open may use the ones before it. */
	if (loop_open(&a) || datapath_open(&a) || eps_open(&a) || policy_open(&a) ||
	    flows_open(&a))
		goto fail;
	if (a.uplink && datapath_attach_uplink(&a))
		goto fail;
	endpoint_reconcile(&a);
	if (nodes_open(&a))
		goto fail;
	/* Pods and nodes known: network policy writes what its state says. */
	policy_start(&a, sync_opts.endpoints != NULL);
	if (lb_datapath_open(&a, a.cgroup_path) || service_init(&a, sync_opts.endpoints != NULL))
		goto fail;
	endpoint_xdp_rx_sync(&a);
	if (acct_open(&a) || recommend_open(&a) || metrics_open(&a))
		goto fail;
	{
		struct sched_opts so = {
			.saturated = a.extender_saturated,
			.stale_ms = a.extender_stale_ms,
			.pending_ttl_ms = a.extender_pending_ttl_ms,
		};

		if (sched_open(&a, &so) || extender_open(&a))
			goto fail;
	}
	log_info("ready version=%s socket=%s pin_root=%s state_dir=%s uplink=%s "
		 "redirect_peer=%d", PODLANE_VERSION, a.socket_path, a.pin_root, a.state_dir,
		 a.uplink ? a.uplink : "none", a.feat.redirect_peer);

	{
		sigset_t mask;

		sigemptyset(&mask);
		sigaddset(&mask, SIGTERM);
		sigaddset(&mask, SIGINT);
		sigprocmask(SIG_BLOCK, &mask, NULL);
		signal(SIGPIPE, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
	}
	/* After the signal mask: the sync's thread inherits it and leaves SIGTERM to signalfd. */
	if (sync_open(&a, &sync_opts))
		goto fail;
	if (a.extender_addr && !a.sync)
		log_warn("the scheduler extender has no cluster view without --etcd-endpoints: "
			 "every node passes filter and scores 0");
	err = serve(&a, lfd) ? 1 : 0;
	goto out;
fail:
	err = 1;
out:
	sync_close(&a);
	close(lfd);
	unlink(a.socket_path);
	service_fini(&a);
	lb_datapath_close(&a);
	extender_close(&a);
	sched_close(&a);
	metrics_close(&a);
	recommend_close(&a);
	acct_close(&a);
	nodes_close(&a);
	endpoint_reaper_stop();
	api_streams_close(&a);
	flows_close(&a);
	policy_close(&a);
	eps_close(&a);
	datapath_close(&a);
	loop_close(&a);
	nl_close(&a.nl);
	close(lock_fd);
	return err;
}
