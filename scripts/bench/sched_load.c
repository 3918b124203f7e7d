// SPDX-License-Identifier: GPL-2.0-only
/*
 * scripts/bench/sched_load.c - the processes of bench-sched.sh's pods, and its sampler.
 *
 *   sched_load spin DUTY SECONDS
 *	a pod with real CPU demand: every 50 ms period it burns DUTY * 50 ms of its own CPU
 *	time (measured with CLOCK_THREAD_CPUTIME_ID, so a throttled pod still asks for all of
 *	it), then sleeps to the end of the period. A period that ran over starts the next at
 *	once, without carrying the debt further. Exits after SECONDS of wall time.
 *   sched_load probe INTERVAL_US SECONDS OUT
 *	the latency probe: wakes every INTERVAL_US on an absolute timer and records how late
 *	it woke (wake-up delay: time runnable but not running, plus timer slack), in
 *	microseconds, one per line into OUT when it exits.
 *   sched_load sample SECONDS OUT CGROUP...
 *	once a second, for each cgroup v2 directory, the share of the last second that some
 *	task of it stalled on CPU (cpu.pressure "some total" delta / wall delta, in percent);
 *	writes "t_s p1 p2 ..." lines to OUT (flushed each line). Exits after SECONDS.
 * Every mode is bounded by its SECONDS; SIGTERM ends it early (probe still writes OUT).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static int64_t ns_of(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct timespec ts_of(int64_t ns)
{
	struct timespec ts = { .tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000 };

	return ts;
}

static void sleep_until(int64_t ns)
{
	struct timespec ts = ts_of(ns);

	while (!stop && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static int spin(double duty, double secs)
{
	const int64_t period = 50000000;
	int64_t end = ns_of(CLOCK_MONOTONIC) + (int64_t)(secs * 1e9);
	int64_t next = ns_of(CLOCK_MONOTONIC), burn = (int64_t)(duty * period);
	volatile uint64_t sink = 0;

	while (!stop && ns_of(CLOCK_MONOTONIC) < end) {
		int64_t c0 = ns_of(CLOCK_THREAD_CPUTIME_ID);

		while (!stop && ns_of(CLOCK_THREAD_CPUTIME_ID) - c0 < burn)
			for (int i = 0; i < 20000; i++)
				sink += i;
		next += period;
		if (next < ns_of(CLOCK_MONOTONIC))
			next = ns_of(CLOCK_MONOTONIC);	/* ran over: no debt carried */
		else
			sleep_until(next);
	}
	return 0;
}

static int probe(long interval_us, double secs, const char *out)
{
	size_t cap = (size_t)(secs * 1e6 / interval_us) + 2, n = 0;
	int64_t *d = calloc(cap, sizeof(*d));
	int64_t now = ns_of(CLOCK_MONOTONIC), end = now + (int64_t)(secs * 1e9), next = now;
	FILE *f;

	if (!d) {
		perror("failed to allocate the probe's samples");
		return 1;
	}
	while (!stop && n < cap) {
		next += interval_us * 1000;
		if (next >= end)
			break;
		sleep_until(next);
		if (stop)
			break;
		now = ns_of(CLOCK_MONOTONIC);
		d[n++] = (now - next) / 1000;
		if (now - next > interval_us * 1000)	/* woke a whole tick late: skip ahead */
			next = now;
	}
	f = fopen(out, "w");
	if (!f) {
		fprintf(stderr, "failed to open '%s': %s\n", out, strerror(errno));
		free(d);
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%lld\n", (long long)d[i]);
	fclose(f);
	free(d);
	return 0;
}

/* cpu.pressure "some ... total=N" in microseconds, or -1. */
static long long psi_some_total(const char *cg)
{
	char path[4096], line[256];
	long long total = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/cpu.pressure", cg);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *t = strstr(line, "total=");

		if (strncmp(line, "some", 4) == 0 && t)
			total = atoll(t + 6);
	}
	fclose(f);
	return total;
}

static int sample(double secs, const char *out, int ncg, char **cg)
{
	long long prev[16], cur;
	int64_t t0 = ns_of(CLOCK_MONOTONIC), last = t0, next = t0, now;
	FILE *f;

	if (ncg > 16) {
		fprintf(stderr, "at most 16 cgroups\n");
		return 2;
	}
	f = fopen(out, "w");
	if (!f) {
		fprintf(stderr, "failed to open '%s': %s\n", out, strerror(errno));
		return 1;
	}
	for (int i = 0; i < ncg; i++)
		prev[i] = psi_some_total(cg[i]);
	while (!stop) {
		next += 1000000000;
		if (next - t0 > (int64_t)(secs * 1e9))
			break;
		sleep_until(next);
		now = ns_of(CLOCK_MONOTONIC);
		fprintf(f, "%.1f", (now - t0) / 1e9);
		for (int i = 0; i < ncg; i++) {
			cur = psi_some_total(cg[i]);
			if (cur < 0 || prev[i] < 0)
				fprintf(f, " nan");
			else
				fprintf(f, " %.2f", 100.0 * (cur - prev[i]) * 1000 / (now - last));
			prev[i] = cur;
		}
		fputc('\n', f);
		fflush(f);
		last = now;
	}
	fclose(f);
	return 0;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_term };

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (argc == 4 && strcmp(argv[1], "spin") == 0)
		return spin(atof(argv[2]), atof(argv[3]));
	if (argc == 5 && strcmp(argv[1], "probe") == 0 && atol(argv[2]) > 0)
		return probe(atol(argv[2]), atof(argv[3]), argv[4]);
	if (argc >= 5 && strcmp(argv[1], "sample") == 0)
		return sample(atof(argv[2]), argv[3], argc - 4, argv + 4);
	fprintf(stderr, "usage: sched_load spin DUTY SECONDS | probe INTERVAL_US SECONDS OUT |\n"
		"       sample SECONDS OUT CGROUP...\n");
	return 2;
}
