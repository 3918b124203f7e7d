// SPDX-License-Identifier: GPL-2.0-only
/*
 * scripts/bench/tcpload.c - the benchmarks' TCP load (bench-services.sh, bench-policy.sh
 * compile it into their temp dir):
 *   tcpload server PORT SECS        epoll echo server
 *   tcpload crr IP PORT SECS        new connections/s (connect, 1-byte request/reply, close
 *                                   with RST so neither side keeps TIME_WAIT); prints "RATE ERRORS"
 *   tcpload rr IP PORT SECS         1-byte transactions/s on one connection
 *   tcpload try IP PORT TIMEOUT_MS  one non-blocking connect; prints ok, timeout, refused...
 *   tcpload watch IP PORT blocked|open TIMEOUT_MS MAX_S [READY_FILE]
 *       connect once a millisecond (non-blocking, TIMEOUT_MS each) until an attempt is blocked
 *       (after at least one that connected; READY_FILE is created after the first) or open;
 *       prints "START_US PREV_US REASON": CLOCK_REALTIME microseconds at which that attempt
 *       started, at which the one before it started, and what happened to it (timeout,
 *       refused, ok...). A policy took effect between PREV_US and START_US. Exit 1 after
 *       MAX_S seconds without it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <poll.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int server(int port, double secs)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct epoll_event ev, evs[64];
	int lfd, ep, one = 1, n, i;
	double end = now() + secs;
	char buf[64];

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (void *)&sin, sizeof(sin)) || listen(lfd, 4096))
		return perror("bind/listen"), 1;
	ep = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.fd = lfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	while (now() < end) {
		n = epoll_wait(ep, evs, 64, 200);
		for (i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == lfd) {
				int c;

				while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					ev.events = EPOLLIN;
					ev.data.fd = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				}
				continue;
			}
			ssize_t r = read(fd, buf, sizeof(buf));

			if (r > 0) {
				if (write(fd, buf, r) < 0)
					r = 0;
			}
			if (r == 0 || (r < 0 && errno != EAGAIN)) {
				epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
				close(fd);
			}
		}
	}
	return 0;
}

static int dial(struct sockaddr_in *sin)
{
	struct linger lg = { 1, 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (void *)sin, sizeof(*sin))) {
		close(fd);
		return -1;
	}
	return fd;
}

static int client(int crr, const char *ip, int port, double secs)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	double t0, end;
	long n = 0, errs = 0;
	char c = 'x';
	int fd = -1;

	inet_pton(AF_INET, ip, &sin.sin_addr);
	if (!crr && (fd = dial(&sin)) < 0)
		return perror("connect"), 1;
	t0 = now();
	end = t0 + secs;
	while (now() < end) {
		if (crr && (fd = dial(&sin)) < 0) {
			if (++errs > 1000)
				break;
			continue;
		}
		if (write(fd, &c, 1) != 1 || read(fd, &c, 1) != 1) {
			if (++errs > 1000)
				break;
			if (!crr)
				break;
		} else {
			n++;
		}
		if (crr)
			close(fd);
	}
	printf("%.0f %ld\n", n / (now() - t0), errs);
	return errs > 1000 || n == 0;
}

static long long realtime_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

/* One non-blocking connect: "ok", "timeout", "refused" or another errno name. */
static const char *attempt(struct sockaddr_in *sin, int timeout_ms)
{
	struct linger lg = { 1, 0 };
	struct pollfd pfd = { .events = POLLOUT };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), err = 0;
	socklen_t len = sizeof(err);
	const char *what = "ok";

	if (fd < 0)
		return "socket";
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	pfd.fd = fd;
	if (connect(fd, (void *)sin, sizeof(*sin)) && errno != EINPROGRESS)
		err = errno;
	else if (poll(&pfd, 1, timeout_ms) != 1)
		what = "timeout";
	else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len))
		err = errno;
	if (err)
		what = err == ECONNREFUSED ? "refused" : err == ECONNRESET ? "reset" :
		       err == ETIMEDOUT ? "timeout" : err == EHOSTUNREACH ? "unreachable" : "error";
	close(fd);
	return what;
}

static int watch(const char *ip, int port, int want_open, int timeout_ms, double max_s,
		 const char *ready)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	const struct timespec gap = { 0, 1000000 };
	double end = now() + max_s;
	long long start, prev = 0;
	int seen_ok = 0;

	inet_pton(AF_INET, ip, &sin.sin_addr);
	while (now() < end) {
		const char *what;
		int ok;

		start = realtime_us();
		what = attempt(&sin, timeout_ms);
		ok = !strcmp(what, "ok");
		if (ok == want_open && (want_open || seen_ok)) {
			printf("%lld %lld %s\n", start, prev, what);
			return 0;
		}
		if (ok && !seen_ok++ && ready)
			close(open(ready, O_WRONLY | O_CREAT, 0644));
		prev = start;
		nanosleep(&gap, NULL);
	}
	fprintf(stderr, "tcpload: watch %s:%d: still %s after %.0f s\n", ip, port,
		want_open ? "blocked" : "open", max_s);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "server"))
		return server(atoi(argv[2]), atof(argv[3]));
	if (argc == 5 && (!strcmp(argv[1], "crr") || !strcmp(argv[1], "rr")))
		return client(!strcmp(argv[1], "crr"), argv[2], atoi(argv[3]), atof(argv[4]));
	if (argc == 5 && !strcmp(argv[1], "try")) {
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[3])) };

		inet_pton(AF_INET, argv[2], &sin.sin_addr);
		puts(attempt(&sin, atoi(argv[4])));
		return 0;
	}
	if ((argc == 7 || argc == 8) && !strcmp(argv[1], "watch") &&
	    (!strcmp(argv[4], "blocked") || !strcmp(argv[4], "open")))
		return watch(argv[2], atoi(argv[3]), !strcmp(argv[4], "open"), atoi(argv[5]),
			     atof(argv[6]), argc == 8 ? argv[7] : NULL);
	fprintf(stderr, "usage: tcpload server PORT SECS | crr|rr IP PORT SECS | try IP PORT TIMEOUT_MS |\n"
		"       watch IP PORT blocked|open TIMEOUT_MS MAX_S [READY_FILE]\n");
	return 2;
}
