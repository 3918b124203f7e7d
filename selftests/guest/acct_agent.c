// SPDX-License-Identifier: GPL-2.0-only
/*
 * acct_agent.c - podlaned's accounting with podlane.ko loaded (the 6.1 guest only: the host
 * kernel has no modules). Starts podlaned on a private pin root, socket and state dir, wires
 * a pod (a child in a new netns and a cgroup of its own), and checks that the agent says it
 * reads the module, ties the pod to its cgroup and reports its memory and pressure from there.
 * TAP on stdout.
 *
 * Usage: acct_agent <podlane.ko> <podlaned> [cgroup2 mount (default /sys/fs/cgroup)]
 *
 * The API client (userspace/lib/api.c) is compiled in: the guest binaries link no
 * libpodlane.a.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "api.c"

#define DIR_ "/tmp/plagent"
#define SOCK DIR_ "/sock"
#define PIN "/sys/fs/bpf/plagent"

static int tests, failed;
static const char *cg_mount = "/sys/fs/cgroup";

static void ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void ok(bool cond, const char *fmt, ...)
{
	va_list ap;

	tests++;
	failed += !cond;
	printf("%sok %d - ", cond ? "" : "not ", tests);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static struct json_object *call(const char *text)
{
	struct json_object *req = json_tokener_parse(text), *reply = NULL;
	char why[256];

	if (api_call(SOCK, req, &reply, 5000, why, sizeof(why)))
		reply = NULL;
	json_object_put(req);
	return reply;
}

static struct json_object *get(struct json_object *o, const char *a, const char *b)
{
	struct json_object *v = NULL;

	if (!json_object_object_get_ex(o, a, &v))
		return NULL;
	if (b && !json_object_object_get_ex(v, b, &v))
		return NULL;
	return v;
}

static const char *str(struct json_object *o, const char *a, const char *b)
{
	struct json_object *v = get(o, a, b);

	return v ? json_object_get_string(v) : "";
}

static void write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (write(fd, s, strlen(s)) < 0)
			printf("# write '%s' to %s: %s\n", s, path, strerror(errno));
		close(fd);
	}
}

int main(int argc, char **argv)
{
	char cg[256], path[512], text[1024], pid_text[32];
	struct json_object *r, *pods, *pod = NULL;
	pid_t agent, pod_pid;
	int i, fd, status;
	size_t k;

	if (argc < 3) {
		fprintf(stderr, "usage: %s <podlane.ko> <podlaned> [cgroup2-mount]\n", argv[0]);
		return 2;
	}
	if (argc > 3)
		cg_mount = argv[3];
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("1..6\n");
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	ok(fd >= 0 && (!syscall(SYS_finit_module, fd, "", 0) || errno == EEXIST),
	   "podlane.ko loaded (%s)", strerror(errno));

	/* The pod: a cgroup with memory accounting and a process in a netns of its own. */
	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", cg_mount);
	write_file(path, "+memory");
	snprintf(cg, sizeof(cg), "%s/plagent-pod", cg_mount);
	mkdir(cg, 0755);
	pod_pid = fork();
	if (pod_pid == 0) {
		volatile char *buf;
		size_t off;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
		write_file(path, "0");
		if (unshare(CLONE_NEWNET))
			_exit(1);
		/* Some memory to be seen; volatile, or the compiler drops the unused buffer. */
		buf = malloc(8 << 20);
		for (off = 0; buf && off < (8 << 20); off += 4096)
			buf[off] = 1;
		for (;;)
			pause();
	}
	usleep(200000);

	mkdir(DIR_, 0755);
	agent = fork();
	if (agent == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		execl(argv[2], "podlaned", "--pin-root", PIN, "--state-dir", DIR_ "/state",
		      "--socket", SOCK, "--log-file", DIR_ "/log", (char *)NULL);
		_exit(127);
	}
	for (i = 0, r = NULL; i < 100 && !r; i++) {
		usleep(100000);
		r = call("{\"op\":\"status\"}");
	}
	ok(r && !strcmp(str(r, "accounting", "source"), "module") &&
	   !strcmp(str(r, "accounting", "memory_source"), "module"),
	   "agent reads the kernel through the module (source %s, memory %s, psi %s)",
	   str(r, "accounting", "source"), str(r, "accounting", "memory_source"),
	   str(r, "accounting", "psi_source"));
	printf("# accounting: %s\n", r ? json_object_to_json_string(get(r, "accounting", NULL)) :
	       "no reply");
	json_object_put(r);

	snprintf(text, sizeof(text), "{\"op\":\"add\",\"container_id\":\"guestpod\","
		 "\"netns\":\"/proc/%d/ns/net\",\"ifname\":\"eth0\",\"network\":\"g\","
		 "\"subnet\":\"10.253.0.0/24\"}", pod_pid);
	r = call(text);
	ok(r && json_object_get_boolean(get(r, "ok", NULL)), "pod wired (%s)",
	   r ? json_object_to_json_string(r) : "no reply");
	json_object_put(r);

	/* The tie is refreshed every 2 s, memory and PSI every second; the child may be slow. */
	snprintf(pid_text, sizeof(pid_text), "/plagent-pod");
	for (i = 0, r = NULL; i < 60; i++) {
		json_object_put(r);
		usleep(200000);
		r = call("{\"op\":\"acct\"}");
		pods = get(r, "pods", NULL);
		for (k = 0, pod = NULL; pods && k < json_object_array_length(pods); k++)
			pod = json_object_array_get_idx(pods, k);
		if (pod && get(pod, "memory_bytes", NULL) &&
		    json_object_get_int64(get(pod, "memory_bytes", NULL)) >= (8 << 20) &&
		    get(pod, "psi", "memory"))
			break;
	}
	ok(pod && !strcmp(str(pod, "cgroup", NULL), pid_text), "pod tied to %s (%s)", pid_text,
	   str(pod, "cgroup", NULL));
	ok(pod && json_object_get_int64(get(pod, "memory_bytes", NULL)) >= (8 << 20),
	   "pod memory from the module: %lld bytes (8 MiB touched)",
	   pod ? (long long)json_object_get_int64(get(pod, "memory_bytes", NULL)) : -1LL);
	ok(pod && get(pod, "psi", "cpu") && get(pod, "psi", "memory") && get(pod, "psi", "io"),
	   "pod pressure from the module (%s)",
	   pod ? json_object_to_json_string(get(pod, "psi", NULL)) : "none");
	json_object_put(r);

	kill(agent, SIGTERM);
	waitpid(agent, &status, 0);
	kill(pod_pid, SIGKILL);
	waitpid(pod_pid, &status, 0);
	if (fork() == 0) {
		execl(argv[2], "podlaned", "--uninstall", "--pin-root", PIN, "--state-dir",
		      DIR_ "/state", "--socket", SOCK, (char *)NULL);
		_exit(127);
	}
	wait(&status);
	for (i = 0; i < 50 && rmdir(cg); i++)
		usleep(100000);
	if (failed) {
		snprintf(path, sizeof(path), "tail -n 15 %s/log | sed 's/^/# /'", DIR_);
		if (system(path))
			printf("# no agent log\n");
	}
	return failed ? 1 : 0;
}
