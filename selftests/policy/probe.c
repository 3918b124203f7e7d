// SPDX-License-Identifier: GPL-2.0-only
/*
 * probe.c - the traffic of the NetworkPolicy truth table (truth.t, truthlib.sh).
 *
 *   probe serve NAME [-r READY_FILE] [-l LIFETIME_S]
 *	Run in a pod's network namespace: listen on TCP and UDP ports 80 and 81 (and SCTP when
 *	the kernel has it) on every address, and answer each connection and each datagram with
 *	"NAME\n". Once listening, writes the protocols it serves ("tcp udp" or "tcp udp sctp")
 *	to READY_FILE. Runs until SIGTERM, its parent's exit, or LIFETIME_S seconds (default
 *	3600).
 *
 *   probe client [-t TIMEOUT_MS]
 *	Read targets from stdin, one a line: "NETNS FROM TO PROTO ADDR PORT" (NETNS a path such
 *	as /run/netns/<name>, PROTO tcp, udp or sctp), open each probe's socket in that network
 *	namespace, then run them all at once: a non-blocking connect for TCP and SCTP, for UDP a
 *	datagram sent again every 100 ms, until each has an answer or TIMEOUT_MS (default 500)
 *	has passed. Print one line per target, in input order:
 *		FROM TO PROTO/PORT ok|blocked DETAIL
 *	"ok" when the answer named TO (up to an "@", which may tag how TO was reached: x/a@svc
 *	is pod x/a through its service). DETAIL is the answer, or why there was none: timeout,
 *	refused, reset, closed, wrong:<answer> (someone else answered), or error:<errno name>.
 *	A blocked cell is any of these; the reasons tell a policy drop (timeout) from a harness
 *	fault (refused: nothing listening). Exit 0 when every probe ran, 1 when one could not
 *	be set up (bad line, netns, socket), 2 on a usage error.
 *
 *   probe sctp
 *	Exit 0 when the kernel opens SCTP sockets; else print why and exit 4 (kselftest skip).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#define KSFT_SKIP		4
#define MAX_TARGETS		4096
#define MAX_NETNS		256
#define REPLY_MAX		64
#define UDP_RESEND_MS		100
#define POLL_TICK_MS		20
#define SERVE_BATCH		64	/* accepts or datagrams handled per wake-up and socket */

static const int serve_ports[] = { 80, 81 };

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static const char *errname(int err)
{
	const char *n = strerrorname_np(err);

	return n ? n : "unknown";
}

static int usage(void)
{
	fprintf(stderr, "usage: probe serve NAME [-r READY_FILE] [-l LIFETIME_S]\n"
			"       probe client [-t TIMEOUT_MS] < targets\n"
			"       probe sctp\n");
	return 2;
}

static bool parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return *s && !*end && !errno && *out <= max;
}

/* ---- server ------------------------------------------------------------------------------ */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static int listen_on(int type, int proto, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int one = 1, fd;

	fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    (type == SOCK_STREAM && listen(fd, 128))) {
		int err = errno;

		close(fd);
		return -err;
	}
	return fd;
}

static bool sctp_available(char *why, size_t len)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_SCTP);

	if (fd < 0) {
		snprintf(why, len, "the kernel has no SCTP: socket(AF_INET, SOCK_STREAM, "
			 "IPPROTO_SCTP): %s", strerror(errno));
		return false;
	}
	close(fd);
	return true;
}

static void answer_stream(int lfd, const char *reply, size_t len)
{
	int i, fd;

	for (i = 0; i < SERVE_BATCH; i++) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		/* A few bytes into an empty send buffer: never short. The client sends nothing,
		 * so close() ends with a FIN after the answer, not a reset. */
		if (write(fd, reply, len) < 0)
			fprintf(stderr, "probe serve: write: %s\n", strerror(errno));
		close(fd);
	}
}

static void answer_dgram(int fd, const char *reply, size_t len)
{
	struct sockaddr_in peer;
	socklen_t plen;
	char buf[256];
	int i;

	for (i = 0; i < SERVE_BATCH; i++) {
		plen = sizeof(peer);
		if (recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&peer, &plen) < 0)
			return;
		sendto(fd, reply, len, 0, (struct sockaddr *)&peer, plen);
	}
}

static int serve(int argc, char **argv)
{
	const char *name, *ready = NULL;
	unsigned long lifetime = 3600;
	struct pollfd pfd[3 * 2];
	bool stream[3 * 2];
	char reply[REPLY_MAX + 2], why[160];
	long long end;
	size_t len;
	int opt, n = 0, i, fd;
	bool sctp;

	while ((opt = getopt(argc, argv, "r:l:")) != -1) {
		if (opt == 'r')
			ready = optarg;
		else if (opt != 'l' || !parse_uint(optarg, 86400, &lifetime))
			return usage();
	}
	if (optind != argc - 1 || strlen(argv[optind]) > REPLY_MAX)
		return usage();
	name = argv[optind];
	len = snprintf(reply, sizeof(reply), "%s\n", name);

	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() == 1)
		return 0;

	sctp = sctp_available(why, sizeof(why));
	for (i = 0; i < 2; i++) {
		const int port = serve_ports[i];
		const int kinds[3][2] = {
			{ SOCK_STREAM, IPPROTO_TCP },
			{ SOCK_DGRAM, IPPROTO_UDP },
			{ SOCK_STREAM, IPPROTO_SCTP },
		};
		int k;

		for (k = 0; k < (sctp ? 3 : 2); k++) {
			fd = listen_on(kinds[k][0], kinds[k][1], port);
			if (fd < 0) {
				fprintf(stderr, "probe serve %s: failed to listen on %s port %d: %s\n",
					name, k == 0 ? "TCP" : k == 1 ? "UDP" : "SCTP", port,
					strerror(-fd));
				return 1;
			}
			pfd[n] = (struct pollfd){ .fd = fd, .events = POLLIN };
			stream[n++] = kinds[k][0] == SOCK_STREAM;
		}
	}
	if (ready) {
		FILE *f = fopen(ready, "w");

		if (!f || fprintf(f, "tcp udp%s\n", sctp ? " sctp" : "") < 0 || fclose(f)) {
			fprintf(stderr, "probe serve: failed to write '%s': %s\n", ready,
				strerror(errno));
			return 1;
		}
	}

	end = now_ms() + lifetime * 1000;
	while (!stop && now_ms() < end) {
		if (poll(pfd, n, 1000) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "probe serve: poll: %s\n", strerror(errno));
			return 1;
		}
		for (i = 0; i < n; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			if (stream[i])
				answer_stream(pfd[i].fd, reply, len);
			else
				answer_dgram(pfd[i].fd, reply, len);
		}
	}
	return 0;
}

/* ---- client ------------------------------------------------------------------------------ */

enum probe_state { P_CONNECTING, P_READING, P_DONE };

struct target {
	char		from[64];
	char		to[64];
	char		proto[8];
	int		port;
	struct sockaddr_in addr;
	int		netns;		/* index in netns_path[] */
	int		fd;
	bool		dgram;
	enum probe_state state;
	long long	last_send;
	bool		ok;
	char		detail[REPLY_MAX + 16];
	char		buf[REPLY_MAX + 2];
	size_t		len;
};

static struct target targets[MAX_TARGETS];
static char *netns_path[MAX_NETNS];
static int netns_fd[MAX_NETNS];
static int ntargets, nnetns;

static void finish(struct target *t, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void finish(struct target *t, bool ok, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->detail, sizeof(t->detail), fmt, ap);
	va_end(ap);
	t->ok = ok;
	t->state = P_DONE;
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}

/* The answer is complete: it must name the pod we meant to reach. */
static void judge_answer(struct target *t)
{
	char *nl = memchr(t->buf, '\n', t->len);
	size_t name_len = strcspn(t->to, "@");

	t->buf[nl ? nl - t->buf : t->len] = '\0';
	if (strlen(t->buf) == name_len && !strncmp(t->buf, t->to, name_len))
		finish(t, true, "%s", t->buf);
	else
		finish(t, false, "wrong:%s", t->buf[0] ? t->buf : "(empty)");
}

static int netns_index(const char *path)
{
	int i;

	for (i = 0; i < nnetns; i++)
		if (!strcmp(netns_path[i], path))
			return i;
	if (nnetns == MAX_NETNS) {
		fprintf(stderr, "probe client: more than %d network namespaces\n", MAX_NETNS);
		return -1;
	}
	netns_fd[nnetns] = open(path, O_RDONLY | O_CLOEXEC);
	if (netns_fd[nnetns] < 0) {
		fprintf(stderr, "probe client: failed to open netns '%s': %s\n", path,
			strerror(errno));
		return -1;
	}
	netns_path[nnetns] = strdup(path);
	if (!netns_path[nnetns]) {
		close(netns_fd[nnetns]);
		return -1;
	}
	return nnetns++;
}

static int read_targets(void)
{
	char line[512], path[256], addr[64];
	unsigned long lineno = 0;
	struct target *t;

	while (fgets(line, sizeof(line), stdin)) {
		lineno++;
		if (line[0] == '\n' || line[0] == '#')
			continue;
		if (ntargets == MAX_TARGETS) {
			fprintf(stderr, "probe client: more than %d targets\n", MAX_TARGETS);
			return -1;
		}
		t = &targets[ntargets];
		if (sscanf(line, "%255s %63s %63s %7s %63s %d", path, t->from, t->to, t->proto,
			   addr, &t->port) != 6 || t->port < 1 || t->port > 65535 ||
		    inet_pton(AF_INET, addr, &t->addr.sin_addr) != 1 ||
		    (strcmp(t->proto, "tcp") && strcmp(t->proto, "udp") &&
		     strcmp(t->proto, "sctp"))) {
			fprintf(stderr, "probe client: line %lu: want 'NETNS FROM TO tcp|udp|sctp "
				"IPV4 PORT': %s", lineno, line);
			return -1;
		}
		t->addr.sin_family = AF_INET;
		t->addr.sin_port = htons(t->port);
		t->dgram = !strcmp(t->proto, "udp");
		t->fd = -1;
		t->netns = netns_index(path);
		if (t->netns < 0)
			return -1;
		ntargets++;
	}
	return 0;
}

/* Open every probe's socket in its namespace and start it; back to our own namespace after. */
static int start_all(void)
{
	int self, i, proto, err = 0;
	struct target *t;

	self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0) {
		fprintf(stderr, "probe client: failed to open own netns: %s\n", strerror(errno));
		return -1;
	}
	for (i = 0; i < ntargets && !err; i++) {
		t = &targets[i];
		if (setns(netns_fd[t->netns], CLONE_NEWNET)) {
			fprintf(stderr, "probe client: failed to enter netns '%s': %s\n",
				netns_path[t->netns], strerror(errno));
			err = -1;
			break;
		}
		proto = t->dgram ? IPPROTO_UDP : !strcmp(t->proto, "sctp") ? IPPROTO_SCTP :
			IPPROTO_TCP;
		t->fd = socket(AF_INET, (t->dgram ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK |
			       SOCK_CLOEXEC, proto);
		if (t->fd < 0) {
			fprintf(stderr, "probe client: failed to open a %s socket: %s\n", t->proto,
				strerror(errno));
			err = -1;
			break;
		}
		/* UDP: a connected socket takes answers from that address and port only, and
		 * hears an ICMP port unreachable as ECONNREFUSED. */
		if (connect(t->fd, (struct sockaddr *)&t->addr, sizeof(t->addr)) &&
		    errno != EINPROGRESS) {
			finish(t, false, "error:%s", errname(errno));
			continue;
		}
		t->state = t->dgram ? P_READING : P_CONNECTING;
		if (t->dgram) {
			t->last_send = now_ms();
			if (send(t->fd, "probe\n", 6, 0) < 0 && errno != EAGAIN)
				finish(t, false, "%s", errno == ECONNREFUSED ? "refused" :
				       errname(errno));
		}
	}
	if (setns(self, CLONE_NEWNET)) {
		fprintf(stderr, "probe client: failed to return to own netns: %s\n",
			strerror(errno));
		err = -1;
	}
	close(self);
	return err;
}

static void on_stream_event(struct target *t)
{
	int err = 0;
	socklen_t elen = sizeof(err);
	ssize_t r;

	if (t->state == P_CONNECTING) {
		if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &err, &elen))
			err = errno;
		if (err == ECONNREFUSED)
			finish(t, false, "refused");
		else if (err)
			finish(t, false, "error:%s", errname(err));
		else
			t->state = P_READING;
		return;
	}
	r = read(t->fd, t->buf + t->len, REPLY_MAX - t->len);
	if (r > 0) {
		t->len += r;
		if (memchr(t->buf, '\n', t->len) || t->len == REPLY_MAX)
			judge_answer(t);
	} else if (r == 0) {
		if (t->len)
			judge_answer(t);
		else
			finish(t, false, "closed");
	} else if (errno == ECONNRESET) {
		finish(t, false, "reset");
	} else if (errno != EAGAIN && errno != EINTR) {
		finish(t, false, "error:%s", errname(errno));
	}
}

static void on_dgram_event(struct target *t)
{
	ssize_t r = recv(t->fd, t->buf, REPLY_MAX, 0);

	if (r >= 0) {
		t->len = r;
		judge_answer(t);
	} else if (errno == ECONNREFUSED) {
		finish(t, false, "refused");
	} else if (errno != EAGAIN && errno != EINTR) {
		finish(t, false, "error:%s", errname(errno));
	}
}

static int run_all(unsigned long timeout_ms)
{
	static struct pollfd pfd[MAX_TARGETS];
	static int which[MAX_TARGETS];
	long long now, deadline = now_ms() + timeout_ms;
	int i, n, wait;
	struct target *t;

	/* Bounded by the deadline: every pass waits at most POLL_TICK_MS or handles events. */
	while ((now = now_ms()) < deadline) {
		n = 0;
		for (i = 0; i < ntargets; i++) {
			t = &targets[i];
			if (t->state == P_DONE)
				continue;
			if (t->dgram && now - t->last_send >= UDP_RESEND_MS) {
				t->last_send = now;
				if (send(t->fd, "probe\n", 6, 0) < 0 && errno != EAGAIN) {
					finish(t, false, "%s", errno == ECONNREFUSED ?
					       "refused" : errname(errno));
					continue;
				}
			}
			pfd[n] = (struct pollfd){
				.fd = t->fd,
				.events = t->state == P_CONNECTING ? POLLOUT : POLLIN,
			};
			which[n++] = i;
		}
		if (!n)
			return 0;
		wait = deadline - now < POLL_TICK_MS ? deadline - now : POLL_TICK_MS;
		if (poll(pfd, n, wait) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "probe client: poll: %s\n", strerror(errno));
			return -1;
		}
		for (i = 0; i < n; i++) {
			if (!pfd[i].revents)
				continue;
			t = &targets[which[i]];
			if (t->dgram)
				on_dgram_event(t);
			else
				on_stream_event(t);
		}
	}
	for (i = 0; i < ntargets; i++)
		if (targets[i].state != P_DONE)
			finish(&targets[i], false, "timeout");
	return 0;
}

static int client(int argc, char **argv)
{
	unsigned long timeout_ms = 500;
	int opt, i, rc;

	while ((opt = getopt(argc, argv, "t:")) != -1) {
		if (opt != 't' || !parse_uint(optarg, 60000, &timeout_ms) || !timeout_ms)
			return usage();
	}
	if (optind != argc)
		return usage();
	if (read_targets())
		return 1;
	rc = start_all() ? 1 : 0;
	if (!rc && run_all(timeout_ms))
		rc = 1;
	for (i = 0; i < ntargets; i++) {
		struct target *t = &targets[i];

		if (t->state != P_DONE)
			finish(t, false, "not-started");
		printf("%s %s %s/%d %s %s\n", t->from, t->to, t->proto, t->port,
		       t->ok ? "ok" : "blocked", t->detail);
	}
	return rc;
}

int main(int argc, char **argv)
{
	char why[160];

	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "serve"))
		return serve(argc - 1, argv + 1);
	if (!strcmp(argv[1], "client"))
		return client(argc - 1, argv + 1);
	if (!strcmp(argv[1], "sctp") && argc == 2) {
		if (sctp_available(why, sizeof(why)))
			return 0;
		printf("%s\n", why);
		return KSFT_SKIP;
	}
	return usage();
}
