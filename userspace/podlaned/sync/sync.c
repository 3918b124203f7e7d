// SPDX-License-Identifier: GPL-2.0-only
/*
 * sync/sync.c - podlaned's control-plane sync through etcd: its options, and starting and
 * stopping it. The threads, their shared state and who owns which part of it are described in
 * sync_int.h; the key layout and record format in records.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <curl/curl.h>

#include "core/addr.h"
#include "core/agent.h"
#include "core/loop.h"
#include "etcd.h"
#include "log.h"
#include "sync/sync_int.h"

/* ---- options ---- */

void sync_opts_init(struct sync_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->node_cidr_len = SYNC_DEFAULT_NODE_CIDR_LEN;
	o->lease_ttl = SYNC_DEFAULT_LEASE_TTL;
	o->max_remote = SYNC_DEFAULT_MAX_REMOTE;
}

static int parse_uint(const char *opt, const char *arg, unsigned long min, unsigned long max,
		      unsigned int *out)
{
	unsigned long n;
	char *end;

	errno = 0;
	n = strtoul(arg, &end, 10);
	if (errno || *end || n < min || n > max) {
		fprintf(stderr, "podlaned: --%s wants a number from %lu to %lu, got '%s'\n", opt,
			min, max, arg);
		return -1;
	}
	*out = n;
	return 0;
}

int sync_parse_opt(struct sync_opts *o, int which, const char *arg)
{
	struct subnet4 sn;

	switch (which) {
	case SYNC_OPT_ENDPOINTS:
		if (strncmp(arg, "http://", 7) && strncmp(arg, "https://", 8)) {
			fprintf(stderr, "podlaned: --etcd-endpoints wants http:// or https:// "
				"URLs, got '%s'\n", arg);
			return -1;
		}
		o->endpoints = arg;
		return 0;
	case SYNC_OPT_CACERT:
	case SYNC_OPT_CERT:
	case SYNC_OPT_KEY:
		if (access(arg, R_OK)) {
			fprintf(stderr, "podlaned: cannot read '%s': %s\n", arg, strerror(errno));
			return -1;
		}
		if (which == SYNC_OPT_CACERT)
			o->cacert = arg;
		else if (which == SYNC_OPT_CERT)
			o->cert = arg;
		else
			o->key = arg;
		return 0;
	case SYNC_OPT_CLUSTER_CIDR:
		if (subnet_parse(arg, &sn) || sn.prefix_len < 8 || sn.prefix_len > 30) {
			fprintf(stderr, "podlaned: --cluster-cidr wants an IPv4 CIDR /8../30, "
				"got '%s'\n", arg);
			return -1;
		}
		o->cluster_cidr = arg;
		return 0;
	case SYNC_OPT_NODE_CIDR_SIZE:
		return parse_uint("node-cidr-size", arg, 16, 30, &o->node_cidr_len);
	case SYNC_OPT_LEASE_TTL:
		return parse_uint("lease-ttl", arg, 2, 3600, &o->lease_ttl);
	case SYNC_OPT_MAX_REMOTE:
		return parse_uint("max-remote-endpoints", arg, 1, 1U << 22, &o->max_remote);
	}
	return -1;
}

/* ---- start and stop ---- */

struct timespec sync_deadline(unsigned int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

bool sync_stopping(struct sync *s)
{
	bool stop;

	pthread_mutex_lock(&s->sh.lock);
	stop = s->sh.stop;
	pthread_mutex_unlock(&s->sh.lock);
	return stop;
}

/* Who this node is to the others: its name and address. */
static int node_identity(struct sync *s, struct agent *a)
{
	if (a->node_name) {
		snprintf(s->node_name, sizeof(s->node_name), "%s", a->node_name);
	} else if (gethostname(s->node_name, sizeof(s->node_name)) ||
		   !record_node_name_ok(s->node_name, strlen(s->node_name))) {
		log_error("host name '%s' is not a usable node name: give --node-name",
			  s->node_name);
		return -EINVAL;
	}
	/* The other nodes reach this node's pods through it: no record makes sense without. */
	if (!a->node_ip) {
		log_error("--etcd-endpoints needs --node-ip: the other nodes route to it");
		return -EINVAL;
	}
	s->node_ip = a->node_ip;
	return 0;
}

static int clients_open(struct sync *s)
{
	struct etcd_config cfg = {
		.endpoints = s->o.endpoints,
		.cacert = s->o.cacert,
		.cert = s->o.cert,
		.key = s->o.key,
	};

	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		log_error("failed to initialise libcurl");
		return -EIO;
	}
	s->io.ec = etcd_client_new(&cfg);
	s->pub.ec = s->io.ec ? etcd_client_new(&cfg) : NULL;
	if (!s->pub.ec) {
		log_error("failed to set up the etcd client endpoints='%s': %s", s->o.endpoints,
			  strerror(errno));
		return -errno;
	}
	s->io.tok = json_tokener_new();
	s->pub.tok = json_tokener_new();
	if (!s->io.tok || !s->pub.tok)
		return -ENOMEM;
	return 0;
}

static int sync_alloc(struct agent *a, const struct sync_opts *o)
{
	struct sync *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->a = a;
	s->o = *o;
	s->efd = s->remote_fd = s->loop.tfd = s->loop.epfd = -1;
	pthread_mutex_init(&s->sh.lock, NULL);
	pthread_mutex_init(&s->mirror.lock, NULL);
	cluster_open(s);
	pthread_cond_init(&s->sh.not_full, NULL);
	pthread_cond_init(&s->sh.io_wake, NULL);
	pthread_cond_init(&s->sh.pub_wake, NULL);
	snprintf(s->sh.state, sizeof(s->sh.state), "starting");
	/* From here on sync_close() cleans up whatever the rest of sync_open() got done. */
	a->sync = s;
	s->sh.q = calloc(QUEUE_CAP, sizeof(*s->sh.q));
	if (!s->sh.q || hists_alloc(s) || remote_state_open(s))
		return -ENOMEM;
	return 0;
}

int sync_open(struct agent *a, const struct sync_opts *o)
{
	struct sync *s;
	int err;

	if (!o->endpoints)
		return 0;
	err = sync_alloc(a, o);
	if (err) {
		log_error("failed to start the etcd sync: out of memory");
		return err;
	}
	s = a->sync;
	err = node_identity(s, a);
	if (err)
		return err;
	if (o->cluster_cidr) {
		subnet_parse(o->cluster_cidr, &s->cluster);
		if (o->node_cidr_len < s->cluster.prefix_len ||
		    o->node_cidr_len - s->cluster.prefix_len > 20) {
			log_error("--node-cidr-size /%u does not fit cluster CIDR '%s'",
				  o->node_cidr_len, o->cluster_cidr);
			return -EINVAL;
		}
	}
	err = clients_open(s);
	if (err)
		return err;
	s->remote_fd = remote_open(s);
	if (s->remote_fd < 0)
		return s->remote_fd;
	s->gen_base = (__u32)time(NULL);
	s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	err = s->efd < 0 ? -errno : loop_state_open(s);
	if (err) {
		log_error("failed to set up the etcd sync: %s", strerror(-err));
		return err;
	}
	/* The first snapshot before the thread runs: it never deletes records it cannot see. */
	sync_snapshot(s);
	/* sync_open runs on the main thread: it applies the nodes and services handed over. */
	loop_short_slice("main");
	err = pthread_create(&s->io_thread, NULL, io_thread, s);
	if (err) {
		log_error("failed to start the etcd sync thread: %s", strerror(err));
		return -err;
	}
	s->io_started = true;
	err = pthread_create(&s->pub_thread, NULL, pub_thread, s);
	if (err) {
		log_error("failed to start the etcd publisher thread: %s", strerror(err));
		return -err;
	}
	s->pub_started = true;
	log_info("etcd sync started endpoints=%s node=%s lease_ttl=%u cluster_cidr=%s",
		 o->endpoints, s->node_name, o->lease_ttl,
		 o->cluster_cidr ? o->cluster_cidr : "none");
	return 0;
}

void sync_close(struct agent *a)
{
	struct sync *s = a->sync;

	if (!s)
		return;
	pthread_mutex_lock(&s->sh.lock);
	s->sh.stop = true;
	pthread_cond_broadcast(&s->sh.io_wake);
	pthread_cond_broadcast(&s->sh.pub_wake);
	pthread_cond_broadcast(&s->sh.not_full);
	pthread_mutex_unlock(&s->sh.lock);
	if (s->io_started)
		pthread_join(s->io_thread, NULL);
	if (s->pub_started)
		pthread_join(s->pub_thread, NULL);
	/* The threads are gone: everything is this thread's now. */
	remote_state_close(s);
	/* Records stay in etcd under the lease: a restart within the TTL loses nothing. */
	while (s->sh.q && s->sh.count) {
		item_free(&s->sh.q[s->sh.head]);
		s->sh.head = (s->sh.head + 1) % QUEUE_CAP;
		s->sh.count--;
	}
	free(s->sh.q);
	pubset_destroy(s->sh.pending);
	pubset_destroy(s->pub.cur);
	pubset_free(&s->mirror.published);
	loop_state_close(s);
	etcd_client_free(s->io.ec);
	etcd_client_free(s->pub.ec);
	if (s->io.tok)
		json_tokener_free(s->io.tok);
	if (s->pub.tok)
		json_tokener_free(s->pub.tok);
	if (s->efd >= 0)
		close(s->efd);
	if (s->remote_fd >= 0)
		close(s->remote_fd);
	keyidx_free(&s->io.ep_ips);
	keyidx_free(&s->io.ep_nodes);
	keyidx_free(&s->io.ep_pods);
	hists_free(s);
	pthread_cond_destroy(&s->sh.not_full);
	pthread_cond_destroy(&s->sh.io_wake);
	pthread_cond_destroy(&s->sh.pub_wake);
	pthread_mutex_destroy(&s->mirror.lock);
	pthread_mutex_destroy(&s->sh.lock);
	cluster_close(s);
	free(s);
	a->sync = NULL;
}

int sync_fd(struct agent *a)
{
	return a->sync ? a->sync->loop.epfd : -1;
}
