// SPDX-License-Identifier: GPL-2.0-only
/* endpoint/reaper.c - the thread that deletes host veths off the request path. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>

#include "core/agent.h"
#include "endpoint/endpoint.h"
#include "endpoint/endpoint_int.h"
#include "log.h"

/*
 * Host veths are deleted off the request path, by one reaper thread with its own rtnetlink
 * socket. Deleting a veth costs the kernel ~20 ms (unregistering waits for RCU grace periods),
 * and the agent serves one request at a time: inline, a burst of N parallel DELs made the last
 * one wait N x 20 ms. Nothing depends on the link being gone when DEL answers: the endpoint has
 * left every map first, so nothing is redirected to it; an ADD that reuses the name deletes the
 * old link itself (remove_stray_host_veth). Before it is queued, a link is moved into
 * PODLANE_REAP_GROUP, synchronously: the kernel itself then remembers it is condemned, so if
 * the agent dies with links queued (DEL may have answered already), the next start-up deletes
 * the group (host_veth_reap_leftovers) and with it each pair's pod end, routes and neighbours,
 * even when the pod's netns lives on. The reaper deletes the group; a link that left the group
 * is not deleted by it. A full queue, or a reaper that cannot start, means deleting inline.
 */
#define REAP_QUEUE	256
#define PODLANE_REAP_GROUP	0x706c	/* device group of host veths being deleted */

static struct {
	pthread_mutex_t	lock;
	pthread_cond_t	wake;
	pthread_t	thread;
	struct nl_sock	nl;
	int		q[REAP_QUEUE];	/* ifindexes, a ring */
	unsigned int	head, n;
	bool		running, stop;
} reaper = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER };

static void reap_one(int ifindex)
{
	int err = nl_link_del(&reaper.nl, ifindex);

	if (err && err != -ENODEV)
		log_warn("failed to delete host veth ifindex=%d err=\"%s\"", ifindex,
			 nl_strerror(&reaper.nl, err));
}

/*
 * Everything queued goes in one kernel batch: each link joined PODLANE_REAP_GROUP when it was
 * queued, and one group delete unregisters them together, so a burst of N DELs costs about one
 * veth teardown, not N (one at a time the backlog of a DEL burst held rtnl for seconds and
 * slowed the ADDs after it). The group may hold links queued after this batch was taken, or
 * left by another podlaned: all are condemned, and an empty group is no error.
 */
static void reap_batch(const int *ifindex, unsigned int n)
{
	unsigned int i;
	int err;

	err = nl_link_del_group(&reaper.nl, PODLANE_REAP_GROUP);
	if (!err || err == -ENODEV)
		return;
	log_warn("failed to delete host veths as a group, one by one instead err=\"%s\"",
		 nl_strerror(&reaper.nl, err));
	for (i = 0; i < n; i++)
		reap_one(ifindex[i]);
}

static void *reaper_main(void *arg)
{
	int batch[REAP_QUEUE];
	unsigned int n;

	(void)arg;
	pthread_mutex_lock(&reaper.lock);
	for (;;) {
		while ((!reaper.n || crash_reaper_held()) && !reaper.stop)
			pthread_cond_wait(&reaper.wake, &reaper.lock);
		if (!reaper.n)
			break;	/* stopping, and the queue is drained */
		for (n = 0; reaper.n; n++, reaper.n--) {
			batch[n] = reaper.q[reaper.head];
			reaper.head = (reaper.head + 1) % REAP_QUEUE;
		}
		pthread_mutex_unlock(&reaper.lock);
		reap_batch(batch, n);
		pthread_mutex_lock(&reaper.lock);
	}
	pthread_mutex_unlock(&reaper.lock);
	return NULL;
}

/* Called with reaper.lock held. Signals stay with the main thread's signalfd. */
static void reaper_start(void)
{
	sigset_t all, old;

	if (nl_open(&reaper.nl))
		return;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	reaper.running = !pthread_create(&reaper.thread, NULL, reaper_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!reaper.running)
		nl_close(&reaper.nl);
}

void host_veth_delete(struct agent *a, int ifindex, const char *name)
{
	bool queued = false;
	int err;

	err = nl_link_set_group(&a->nl, ifindex, PODLANE_REAP_GROUP);
	if (err == -ENODEV)
		return;
	if (err) {
		log_warn("failed to mark host veth for deletion, deleting it now dev=%s err=\"%s\"",
			 name, nl_strerror(&a->nl, err));
		goto inline_delete;
	}
	pthread_mutex_lock(&reaper.lock);
	if (!reaper.running && !reaper.stop)
		reaper_start();
	if (reaper.running && reaper.n < REAP_QUEUE) {
		reaper.q[(reaper.head + reaper.n) % REAP_QUEUE] = ifindex;
		reaper.n++;
		pthread_cond_signal(&reaper.wake);
		queued = true;
		crash_point("del:queued");
	}
	pthread_mutex_unlock(&reaper.lock);
	if (queued)
		return;
inline_delete:
	err = nl_link_del(&a->nl, ifindex);
	if (err && err != -ENODEV)
		log_warn("failed to delete host veth dev=%s err=\"%s\"", name,
			 nl_strerror(&a->nl, err));
}

void host_veth_reap_leftovers(struct agent *a)
{
	int err = nl_link_del_group(&a->nl, PODLANE_REAP_GROUP);

	if (!err)
		log_info("deleted host veths a DEL had queued before podlaned stopped");
	else if (err != -ENODEV)
		log_warn("failed to delete the host veths queued for deletion err=\"%s\"",
			 nl_strerror(&a->nl, err));
}

void endpoint_reaper_stop(void)
{
	pthread_mutex_lock(&reaper.lock);
	reaper.stop = true;
	pthread_cond_signal(&reaper.wake);
	pthread_mutex_unlock(&reaper.lock);
	if (!reaper.running)
		return;
	pthread_join(reaper.thread, NULL);	/* after it has deleted everything queued */
	nl_close(&reaper.nl);
	reaper.running = false;
}

