/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * recommend/recommend.h - podlaned's sizing recommendations: per pod, CPU and memory request
 * recommendations with the Vertical Pod Autoscaler recommender's formula (userspace/lib/
 * sizing.h), fed from acct/'s per-pod series on the accounting tick and checkpointed under
 * the state dir. The state is readable by the layer above (api/recommend_ops.c); only
 * recommend/ changes it.
 */
#ifndef PODLANED_RECOMMEND_RECOMMEND_H
#define PODLANED_RECOMMEND_RECOMMEND_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "podlane.h"
#include "sizing.h"

struct agent;

#define RECOMMEND_INTERVAL_S_DEFAULT	60	/* one sample a minute, as VPA's */
#define RECOMMEND_INTERVAL_S_MAX	3600U
/*
 * And at shutdown. Writing is on the main loop: 4,096 full histories encode to 6.4 MB of JSON
 * in ~0.8 s here (2 loaded cores), a hundred pods in ~20 ms; a crash loses at most this much.
 */
#define RECOMMEND_CHECKPOINT_S		600
#define RECOMMEND_MAX_PODS		4096	/* histories kept, live or not */
/* A gone pod's history is kept as long as VPA keeps an aggregate: 8 memory intervals. */
#define RECOMMEND_KEEP_MS		(8 * SIZING_MEM_INTERVAL_MS)
#define RECOMMEND_FILE			"recommend.json"
#define RECOMMEND_FORMAT		"podlane-recommend"
#define RECOMMEND_VERSION		1

struct recommend_pod {
	char container_id[PODLANE_CONTAINER_ID_LEN];
	char host_ifname[PODLANE_IFNAME_LEN];	/* of its first interface, "" when gone */
	char ip[16];
	bool live;			/* accounting knows it this tick */
	int64_t last_seen_ms;		/* CLOCK_REALTIME */
	struct sizing_state st;
	struct sizing_estimate est;	/* of st, after its last sample */

	/* the interval being gathered */
	bool open;
	int64_t start_ms;		/* CLOCK_REALTIME: the sample's MeasureStart */
	uint64_t start_mono_ns;
	uint64_t start_cpu_ns;
	bool mem_seen;
	double mem_max;
};

struct recommend {
	unsigned int interval_s;	/* --recommend-interval */
	double samples_per_day;		/* 86400 / interval_s */
	char path[PATH_MAX];		/* <state-dir>/recommend.json */
	struct recommend_pod *pods;
	size_t npods, cap;
	uint64_t last_checkpoint_ns;	/* CLOCK_MONOTONIC */
	int64_t checkpoint_ms;		/* CLOCK_REALTIME of the last good write, 0 = none */
	uint64_t checkpoints, checkpoint_errors, samples;
	bool loaded;			/* a checkpoint was read at start-up */
	char refused[512];		/* why the checkpoint found at start-up was refused */
};

/* Never fatal: without a usable checkpoint the histories start empty, and the log says why. */
int recommend_open(struct agent *a);
/* Writes the last checkpoint. */
void recommend_close(struct agent *a);
/* After acct_tick(): gather the interval, add a sample per pod when it closes, checkpoint. */
void recommend_tick(struct agent *a);
/* --recommend-interval SECONDS: 0 or -EINVAL. */
int recommend_option(struct agent *a, const char *arg);

#endif /* PODLANED_RECOMMEND_RECOMMEND_H */
