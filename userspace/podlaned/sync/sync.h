/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * sync/sync.h - podlaned's control-plane sync through etcd (sync/): options, the hooks the
 * event loop calls, and the API ops. sync/ is the one writer of podlane_remote. Without
 * --etcd-endpoints none of it runs and the agent is standalone.
 */
#ifndef PODLANED_SYNC_SYNC_H
#define PODLANED_SYNC_SYNC_H

#include <getopt.h>
#include <stdbool.h>
#include <linux/types.h>
#include <json-c/json.h>

struct agent;

#define SYNC_DEFAULT_LEASE_TTL		10	/* seconds */
#define SYNC_DEFAULT_NODE_CIDR_LEN	24
#define SYNC_DEFAULT_MAX_REMOTE		262144

struct sync_opts {
	const char	*endpoints;	/* --etcd-endpoints; NULL = standalone */
	const char	*cacert, *cert, *key;
	const char	*cluster_cidr;	/* --cluster-cidr: node pod CIDRs come from here */
	unsigned int	node_cidr_len;
	unsigned int	lease_ttl;
	unsigned int	max_remote;
};

enum sync_opt {
	SYNC_OPT_ENDPOINTS,
	SYNC_OPT_CACERT,
	SYNC_OPT_CERT,
	SYNC_OPT_KEY,
	SYNC_OPT_CLUSTER_CIDR,
	SYNC_OPT_NODE_CIDR_SIZE,
	SYNC_OPT_LEASE_TTL,
	SYNC_OPT_MAX_REMOTE,
	SYNC_OPT_COUNT
};

/* Entries for getopt_long's table; base is the first option value reserved for them. */
#define SYNC_LONG_OPTIONS(base)							\
	{ "etcd-endpoints", required_argument, NULL, (base) + SYNC_OPT_ENDPOINTS },	\
	{ "etcd-cacert", required_argument, NULL, (base) + SYNC_OPT_CACERT },		\
	{ "etcd-cert", required_argument, NULL, (base) + SYNC_OPT_CERT },		\
	{ "etcd-key", required_argument, NULL, (base) + SYNC_OPT_KEY },			\
	{ "cluster-cidr", required_argument, NULL, (base) + SYNC_OPT_CLUSTER_CIDR },	\
	{ "node-cidr-size", required_argument, NULL, (base) + SYNC_OPT_NODE_CIDR_SIZE },\
	{ "lease-ttl", required_argument, NULL, (base) + SYNC_OPT_LEASE_TTL },		\
	{ "max-remote-endpoints", required_argument, NULL, (base) + SYNC_OPT_MAX_REMOTE }

#define SYNC_USAGE								\
	"  --etcd-endpoints URL[,URL...]  sync with etcd (http:// or https://); without\n" \
	"                        it the agent is standalone; needs --node-ip, and names\n" \
	"                        this node --node-name in etcd\n"			\
	"  --etcd-cacert FILE    CA bundle that signed the etcd members' certificates\n" \
	"  --etcd-cert FILE      client certificate for etcd (with --etcd-key)\n"	\
	"  --etcd-key FILE       its private key\n"				\
	"  --cluster-cidr CIDR   allocate this node's pod CIDR from CIDR through etcd\n" \
	"  --node-cidr-size N    prefix length of a node's pod CIDR (default 24)\n"	\
	"  --lease-ttl SEC       TTL of the lease on this node's records (default 10)\n" \
	"  --max-remote-endpoints N  podlane_remote map size (default 262144)\n"

void sync_opts_init(struct sync_opts *o);
/* Store one option; prints why and returns -1 when arg is not acceptable. */
int sync_parse_opt(struct sync_opts *o, int which, const char *arg);

/* Start the sync when --etcd-endpoints was given (0 and nothing done otherwise). Never waits
 * for etcd: the agent serves while the store is unreachable. */
int sync_open(struct agent *a, const struct sync_opts *o);
void sync_close(struct agent *a);
/* For the event loop: readable when there is work for sync_run(); -1 when the sync is off. */
int sync_fd(struct agent *a);
void sync_run(struct agent *a);

struct json_object *sync_status_op(struct agent *a, struct json_object *req);
struct json_object *sync_deadletters_op(struct agent *a, struct json_object *req);
/* Prometheus text for the sync's families (malloc'ed), NULL when the sync is off. */
char *sync_metrics_text(struct agent *a);

#endif /* PODLANED_SYNC_SYNC_H */
