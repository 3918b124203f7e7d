/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * anomaly/anomaly.h - podlaned's anomaly alerts: on every accounting tick (once a second),
 * each pod's series go through a streaming detector (userspace/lib/anomaly_detect.h: moving
 * level, robust z-score of the residual, k hits in a row) and an episode gives one "firing" event
 * and one "resolved" event. Sits above acct/ (whose per-pod samples it reads) and below sync/
 * (which publishes the active alerts to etcd) and api/ (events op, metrics).
 *
 * Series per pod, and the floor of each one's scale (the smallest change worth an alert is
 * z x floor above the baseline):
 *
 *   cpu            CPU cores used (acct: podlane_cgacct or cpu.stat)          0.02 cores
 *   runq           run-queue wait, seconds per second (acct, BPF programs)    0.05 s/s
 *   memory         bytes in use (acct: memory.current)                        16 MiB
 *   memory_growth  its rate of change, bytes per second: a leak is a steady   256 KiB/s
 *                  rise, which a moving level would learn; its rate stays up
 *   drops          packets the datapath dropped for the pod, per second, all  1 /s
 *                  reasons (podlane_ep_stat)
 *   traffic        bytes per second in and out of the pod (podlane_ep_stat)   64 KiB/s
 *
 * State: a fixed-size detector per pod and series, a ring of the last ANOMALY_RING_SIZE
 * events with increasing sequence numbers, counters per series. Main thread only.
 */
#ifndef PODLANED_ANOMALY_ANOMALY_H
#define PODLANED_ANOMALY_ANOMALY_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#include "anomaly_detect.h"	/* userspace/lib: the detector */

struct agent;

enum anomaly_series {
	AS_CPU,
	AS_RUNQ,
	AS_MEMORY,
	AS_MEMORY_GROWTH,
	AS_DROPS,
	AS_TRAFFIC,
	AS_NR
};

#define ANOMALY_RING_SIZE	256
#define ANOMALY_POD_LEN		256	/* "namespace/name", or the container id */

struct anomaly_opts {
	unsigned int	k;
	double		z;
	unsigned int	warmup;
	bool		off;
};

enum anomaly_opt {
	ANOMALY_OPT_K,
	ANOMALY_OPT_Z,
	ANOMALY_OPT_WARMUP,
	ANOMALY_OPT_OFF,
	ANOMALY_OPT_COUNT
};

#define ANOMALY_LONG_OPTIONS(base)							\
	{ "anomaly-k", required_argument, NULL, (base) + ANOMALY_OPT_K },		\
	{ "anomaly-z", required_argument, NULL, (base) + ANOMALY_OPT_Z },		\
	{ "anomaly-warmup", required_argument, NULL, (base) + ANOMALY_OPT_WARMUP },	\
	{ "no-anomaly", no_argument, NULL, (base) + ANOMALY_OPT_OFF }

#define ANOMALY_USAGE								\
	"  --anomaly-k N         anomaly alerts: samples in a row (one a second) above the\n" \
	"                        threshold that fire an alert, and at or below half of it\n" \
	"                        that resolve it (default 3)\n"				\
	"  --anomaly-z Z         robust z-score threshold of a hit (default 5)\n"	\
	"  --anomaly-warmup SEC  samples a pod's series learns before it may alert\n"	\
	"                        (default 30)\n"						\
	"  --no-anomaly          no anomaly detection\n"

void anomaly_opts_init(struct anomaly_opts *o);
/* Store one option; prints why and returns -1 when arg is not acceptable. */
int anomaly_parse_opt(struct anomaly_opts *o, int which, const char *arg);

/* After acct_open(). Never fatal. */
int anomaly_open(struct agent *a, const struct anomaly_opts *o);
void anomaly_close(struct agent *a);
/* Right after acct_tick(): one sample per pod and series. */
void anomaly_tick(struct agent *a);

const char *anomaly_series_name(enum anomaly_series s);
const char *anomaly_series_unit(enum anomaly_series s);

/* An event ("firing" or "resolved"), or an active alert (firing, current figures). */
struct anomaly_alert {
	uint64_t	seq;		/* events: increasing from 1; active alerts: 0 */
	uint64_t	at_ns;		/* CLOCK_REALTIME of the event (active: of the last tick) */
	bool		resolved;
	enum anomaly_series series;
	char		pod[ANOMALY_POD_LEN];
	char		container_id[128];
	char		host_ifname[16];
	char		ip[16];
	double		value;		/* the sample at the event */
	double		baseline;	/* what it was expected to be */
	double		z;
	double		peak_z;		/* the episode's highest z so far */
	double		onset_value, onset_baseline, onset_z;	/* at the first hit */
	uint64_t	since_ns;	/* CLOCK_REALTIME of the episode's first hit */
};

struct anomaly_stats {
	bool		on;
	unsigned int	k, warmup;
	double		z;
	uint64_t	newest;		/* the last event's seq, 0 none */
	uint64_t	pods;		/* pods watched */
	uint64_t	ticks;		/* samples taken (accounting ticks) */
	uint64_t	series;		/* pod series with samples */
	uint64_t	warming;	/* of them, still in their warm-up */
	uint64_t	fired[AS_NR];	/* alerts fired, ever */
	uint64_t	resolved[AS_NR];
	uint64_t	active[AS_NR];	/* firing now */
};

void anomaly_stats_get(struct agent *a, struct anomaly_stats *st);
/* Events with seq > after, oldest first, until cb returns non-zero (which is returned). */
int anomaly_events_walk(struct agent *a, uint64_t after,
			int (*cb)(const struct anomaly_alert *ev, void *data), void *data);
/* The alerts firing now, pods in acct's order. */
int anomaly_active_walk(struct agent *a, int (*cb)(const struct anomaly_alert *al, void *data),
			void *data);

#endif /* PODLANED_ANOMALY_ANOMALY_H */
