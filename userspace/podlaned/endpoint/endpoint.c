// SPDX-License-Identifier: GPL-2.0-only
/*
 * endpoint.c - pod wiring: the veth pair, addresses, routes and neighbours on both sides, the
 * endpoint maps and the tc programs, plus DEL, CHECK, GC and the startup reconcile.
 *
 * ADD records each step in a struct add_undo as it goes, so a failure anywhere unwinds exactly
 * what this request did and nothing else: the pod keeps whatever it had before the call.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <libmnl/libmnl.h>
#include <bpf/bpf.h>

#include "agent.h"
#include "log.h"
#include "nodes.h"
#include "service.h"

int op_fail(struct op_error *e, int code, const char *fmt, ...)
{
	va_list ap;

	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* FNV-1a, 64 bit: stable across builds and architectures, which is all the name needs. */
static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	while (len--) {
		h ^= *p++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

void endpoint_host_ifname(const char *container_id, const char *ifname, char *out)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	/* The NUL separator keeps ("ab","c") and ("a","bc") apart. */
	h = fnv1a(h, container_id, strlen(container_id) + 1);
	h = fnv1a(h, ifname, strlen(ifname));
	snprintf(out, IF_NAMESIZE, "pl%012llx", (unsigned long long)(h & 0xffffffffffffULL));
}

int endpoint_walk(struct agent *a, endpoint_walk_cb cb, void *data)
{
	struct endpoint_meta meta;
	__u32 key, next, *prev = NULL;
	int ret;

	while (!bpf_map_get_next_key(a->meta_fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(a->meta_fd, &key, &meta))
			continue;
		ret = cb(key, &meta, data);
		if (ret)
			return ret;
	}
	return 0;
}

struct ep_search {
	const char *container_id;
	const char *ifname;
	const char *network;
	const char *host_ifname;
	__u32 ifindex;
	struct endpoint_meta meta;
};

static int find_cb(__u32 ifindex, const struct endpoint_meta *meta, void *data)
{
	struct ep_search *s = data;

	if (s->host_ifname) {
		if (strncmp(meta->host_ifname, s->host_ifname, sizeof(meta->host_ifname)))
			return 0;
	} else if (strncmp(meta->container_id, s->container_id, sizeof(meta->container_id)) ||
		   strncmp(meta->ifname, s->ifname, sizeof(meta->ifname)) ||
		   strncmp(meta->network, s->network, sizeof(meta->network))) {
		return 0;
	}
	s->ifindex = ifindex;
	s->meta = *meta;
	return 1;
}

/*
 * The host veth name is a hash of container id and ifname, so a live endpoint is found with one
 * name lookup and one map lookup, whatever the number of endpoints. Only an endpoint whose veth
 * is already gone (its netns was deleted before DEL) needs the walk over all metadata, and only
 * callers that clean up (thorough) pay for it; ADD never does.
 */
static bool endpoint_find_by_name(struct agent *a, const char *host_ifname, struct ep_search *s)
{
	unsigned int ifindex = if_nametoindex(host_ifname);

	if (!ifindex || bpf_map_lookup_elem(a->meta_fd, &ifindex, &s->meta))
		return false;
	if (!find_cb(ifindex, &s->meta, s))
		return false;
	s->ifindex = ifindex;
	return true;
}

static bool endpoint_find_how(struct agent *a, const char *container_id, const char *ifname,
			      const char *network, __u32 *ifindex, struct endpoint_meta *meta,
			      bool thorough)
{
	struct ep_search s = {
		.container_id = container_id, .ifname = ifname, .network = network,
	};
	char host_ifname[IF_NAMESIZE];

	endpoint_host_ifname(container_id, ifname, host_ifname);
	if (!endpoint_find_by_name(a, host_ifname, &s) &&
	    (!thorough || endpoint_walk(a, find_cb, &s) != 1))
		return false;
	*ifindex = s.ifindex;
	*meta = s.meta;
	return true;
}

static bool endpoint_find(struct agent *a, const char *container_id, const char *ifname,
			  const char *network, __u32 *ifindex, struct endpoint_meta *meta)
{
	return endpoint_find_how(a, container_id, ifname, network, ifindex, meta, true);
}

static bool endpoint_find_live(struct agent *a, const char *container_id, const char *ifname,
			       const char *network, __u32 *ifindex, struct endpoint_meta *meta)
{
	return endpoint_find_how(a, container_id, ifname, network, ifindex, meta, false);
}

static bool host_ifname_in_use(struct agent *a, const char *host_ifname)
{
	struct ep_search s = { .host_ifname = host_ifname };

	return endpoint_find_by_name(a, host_ifname, &s);
}

static void ep_key(struct endpoint_key *key, in_addr_t addr)
{
	memset(key, 0, sizeof(*key));
	key->addr.family = PODLANE_AF_INET;
	key->addr.ip4 = addr;
}

/* netns inode, or 0 when path cannot be opened as a file. */
static __u64 netns_cookie(const char *path)
{
	struct stat st;

	if (!path[0] || stat(path, &st))
		return 0;
	return st.st_ino;
}

/* The host veth is still the device we created: same ifindex and same name. */
static bool host_veth_alive(struct agent *a, __u32 ifindex, const struct endpoint_meta *meta,
			    struct nl_link *link)
{
	struct nl_link tmp;

	if (!link)
		link = &tmp;
	if (nl_link_get(&a->nl, NULL, ifindex, link))
		return false;
	return !strncmp(link->name, meta->host_ifname, sizeof(meta->host_ifname));
}

static bool netns_alive(const struct endpoint_meta *meta)
{
	__u64 cookie = netns_cookie(meta->netns);

	return cookie && cookie == meta->netns_cookie;
}

/*
 * Host veths are deleted off the request path, by one reaper thread with its own rtnetlink
 * socket. Deleting a veth costs the kernel ~20 ms (unregistering waits for RCU grace periods),
 * and the agent serves one request at a time: inline, a burst of N parallel DELs made the last
 * one wait N x 20 ms. Nothing depends on the link being gone when DEL answers: the endpoint has
 * left every map first, so nothing is redirected to it; an ADD that reuses the name deletes the
 * old link itself (remove_stray_host_veth); and if the agent dies with links queued, the
 * runtime's deletion of the pod netns takes each pair down. The reaper deletes by ifindex,
 * which the kernel does not hand out again soon, so a queued entry never hits a new device. A
 * full queue, or a reaper that cannot start, means deleting inline as before.
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
 * Everything queued goes in one kernel batch: each link joins PODLANE_REAP_GROUP, then one
 * group delete unregisters them together, so a burst of N DELs costs about one veth teardown,
 * not N (one at a time the backlog of a DEL burst held rtnl for seconds and slowed the ADDs
 * after it). A device left in the group by a crash is ours and goes with the next batch.
 */
static void reap_batch(const int *ifindex, unsigned int n)
{
	unsigned int i, grouped = 0;
	int err;

	for (i = 0; i < n; i++) {
		err = nl_link_set_group(&reaper.nl, ifindex[i], PODLANE_REAP_GROUP);
		if (!err)
			grouped++;
		else if (err != -ENODEV)
			reap_one(ifindex[i]);
	}
	if (!grouped)
		return;
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
	static int batch[REAP_QUEUE];
	unsigned int n;

	(void)arg;
	pthread_mutex_lock(&reaper.lock);
	for (;;) {
		while (!reaper.n && !reaper.stop)
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

static void host_veth_delete(struct agent *a, int ifindex, const char *name)
{
	bool queued = false;
	int err;

	pthread_mutex_lock(&reaper.lock);
	if (!reaper.running && !reaper.stop)
		reaper_start();
	if (reaper.running && reaper.n < REAP_QUEUE) {
		reaper.q[(reaper.head + reaper.n) % REAP_QUEUE] = ifindex;
		reaper.n++;
		pthread_cond_signal(&reaper.wake);
		queued = true;
	}
	pthread_mutex_unlock(&reaper.lock);
	if (queued)
		return;
	err = nl_link_del(&a->nl, ifindex);
	if (err && err != -ENODEV)
		log_warn("failed to delete host veth dev=%s err=\"%s\"", name,
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

/*
 * Tear an endpoint down: fast-path entry first (so nothing is redirected to a dying device),
 * then the veth (the kernel drops the pod end, routes, neighbours and tc filters with it; see
 * the reaper above), then the bookkeeping and the address.
 */
static void endpoint_remove(struct agent *a, __u32 ifindex, const struct endpoint_meta *meta)
{
	struct endpoint_value val;
	struct endpoint_key key;
	char ip[INET_ADDRSTRLEN];

	ep_key(&key, meta->addr.ip4);
	if (!bpf_map_lookup_elem(a->eps_fd, &key, &val) && val.ifindex == ifindex)
		bpf_map_delete_elem(a->eps_fd, &key);
	if (host_veth_alive(a, ifindex, meta, NULL))
		host_veth_delete(a, ifindex, meta->host_ifname);
	bpf_map_delete_elem(a->stat_fd, &ifindex);
	bpf_map_delete_elem(a->meta_fd, &ifindex);
	if (!(meta->flags & PODLANE_META_F_IPAM_DELEGATED))
		ipam_release_addr(a, meta->network, meta->addr.ip4, meta->container_id,
				  meta->ifname);
	inet_ntop(AF_INET, &meta->addr.ip4, ip, sizeof(ip));
	log_info("endpoint removed container_id=%s ifname=%s network=%s ip=%s host_ifname=%s",
		 meta->container_id, meta->ifname, meta->network, ip, meta->host_ifname);
}

/* A host veth with our name but no endpoint: what an ADD interrupted by a crash leaves. */
static void remove_stray_host_veth(struct agent *a, const char *host_ifname)
{
	struct nl_link link;

	if (nl_link_get(&a->nl, host_ifname, 0, &link))
		return;
	if (host_ifname_in_use(a, host_ifname) || strcmp(link.kind, "veth"))
		return;
	log_warn("deleting stray host veth dev=%s ifindex=%d", host_ifname, link.ifindex);
	nl_link_del(&a->nl, link.ifindex);
}

static bool is_own_netns(int netns_fd)
{
	struct stat pod, self;

	if (fstat(netns_fd, &pod) || stat("/proc/self/ns/net", &self))
		return false;
	return pod.st_dev == self.st_dev && pod.st_ino == self.st_ino;
}

static int write_forwarding(const char *dev)
{
	char path[PATH_MAX];
	int fd, err = 0;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/forwarding", dev);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, "1", 1) != 1)
		err = -errno;
	close(fd);
	return err;
}

static bool valid_name(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	return n && n < max && !strpbrk(s, "/\n\r\t ") && strcmp(s, ".") && strcmp(s, "..");
}

static int validate_ids(const char *container_id, const char *ifname, const char *network,
			struct op_error *e)
{
	if (!valid_name(container_id, PODLANE_CONTAINER_ID_LEN))
		return op_fail(e, PODLANE_ERR_INVALID_ENV,
			       "invalid container_id '%s': 1-%d characters, no '/' or whitespace",
			       container_id ? container_id : "", PODLANE_CONTAINER_ID_LEN - 1);
	if (!valid_name(ifname, PODLANE_IFNAME_LEN) || strchr(ifname, ':'))
		return op_fail(e, PODLANE_ERR_INVALID_ENV,
			       "invalid ifname '%s': 1-%d characters, no '/', ':' or whitespace",
			       ifname ? ifname : "", PODLANE_IFNAME_LEN - 1);
	if (!valid_name(network, PODLANE_NETWORK_LEN) || network[0] == '.')
		return op_fail(e, PODLANE_ERR_INVALID_CONFIG,
			       "invalid network name '%s': 1-%d characters, no '/' or whitespace",
			       network ? network : "", PODLANE_NETWORK_LEN - 1);
	return 0;
}

struct ip_search {
	in_addr_t addr;
	struct endpoint_meta meta;
};

static int ip_cb(__u32 ifindex, const struct endpoint_meta *meta, void *data)
{
	struct ip_search *s = data;

	if (meta->addr.ip4 != s->addr)
		return 0;
	s->meta = *meta;
	return 1;
}

static void fill_result(struct add_result *res, __u32 ifindex, const struct endpoint_meta *meta,
			const struct endpoint_value *val)
{
	res->addr = meta->addr.ip4;
	snprintf(res->host_ifname, sizeof(res->host_ifname), "%s", meta->host_ifname);
	memcpy(res->host_mac, val->host_mac, 6);
	memcpy(res->pod_mac, val->pod_mac, 6);
	res->pod_ifindex = meta->pod_ifindex;
	res->host_ifindex = ifindex;
}

/* What an ADD has done so far, so a failure undoes exactly that. */
struct add_undo {
	bool ipam_fresh;
	bool veth;
	bool meta;
	bool stat;
	bool eps;
	int host_ifindex;
	in_addr_t addr;
};

static void add_rollback(struct agent *a, const struct add_request *req, struct add_undo *u)
{
	struct endpoint_key key;
	__u32 idx = u->host_ifindex;

	ep_key(&key, u->addr);
	if (u->eps)
		bpf_map_delete_elem(a->eps_fd, &key);
	if (u->stat)
		bpf_map_delete_elem(a->stat_fd, &idx);
	if (u->meta)
		bpf_map_delete_elem(a->meta_fd, &idx);
	if (u->veth && u->host_ifindex) {
		int err = nl_link_del(&a->nl, u->host_ifindex);

		if (err && err != -ENODEV)
			log_warn("rollback: failed to delete host veth ifindex=%d err=\"%s\"",
				 u->host_ifindex, nl_strerror(&a->nl, err));
	}
	if (u->ipam_fresh)
		ipam_release_addr(a, req->network, u->addr, req->container_id, req->ifname);
}

static int map_update_err(struct op_error *e, const char *map, int err, unsigned int max)
{
	if (err == -E2BIG || err == -ENOSPC)
		return op_fail(e, PODLANE_ERR_MAP_FULL,
			       "map '%s' is full (%u endpoints): remove pods or restart podlaned "
			       "with a larger --max-endpoints after 'podlaned --uninstall'", map,
			       max);
	return op_fail(e, PODLANE_ERR_INTERNAL, "failed to update map '%s': %s", map,
		       strerror(-err));
}

/* Pod side: address, lo up, link up, gateway route, default route, gateway neighbour. */
static int wire_pod_side(struct nl_sock *pod, const struct add_request *req, int pod_ifindex,
			 in_addr_t addr, const uint8_t host_mac[6], struct op_error *e)
{
	in_addr_t gw = inet_addr(PODLANE_GATEWAY4);
	struct nl_link lo;
	const char *step;
	int err;

	step = "add address";
	err = nl_addr_add(pod, pod_ifindex, addr, 32);
	if (!err) {
		step = "bring up lo";
		err = nl_link_get(pod, "lo", 0, &lo);
		if (!err && !(lo.flags & IFF_UP))
			err = nl_link_set_up(pod, lo.ifindex);
	}
	if (!err) {
		step = "bring up interface";
		err = nl_link_set_up(pod, pod_ifindex);
	}
	if (!err) {
		step = "add gateway route";
		err = nl_route_add(pod, pod_ifindex, gw, 32, 0);
	}
	if (!err) {
		step = "add default route";
		err = nl_route_add(pod, pod_ifindex, 0, 0, gw);
	}
	if (!err) {
		step = "add gateway neighbour";
		err = nl_neigh_add(pod, pod_ifindex, gw, host_mac);
	}
	if (err)
		return op_fail(e, PODLANE_ERR_INTERNAL, "failed to %s for '%s' in pod netns: %s",
			       step, req->ifname, nl_strerror(pod, err));
	return 0;
}

static int wire_host_side(struct agent *a, const char *host_ifname, int host_ifindex,
			  in_addr_t addr, const uint8_t pod_mac[6], struct op_error *e)
{
	const char *step = "bring up";
	int err;

	err = nl_link_set_up(&a->nl, host_ifindex);
	if (!err) {
		step = "enable forwarding on";
		err = write_forwarding(host_ifname);
		if (err)
			return op_fail(e, PODLANE_ERR_INTERNAL, "failed to %s '%s': %s", step,
				       host_ifname, strerror(-err));
	}
	if (!err) {
		step = "add pod route via";
		err = nl_route_add(&a->nl, host_ifindex, addr, 32, 0);
	}
	if (!err) {
		step = "add pod neighbour on";
		err = nl_neigh_add(&a->nl, host_ifindex, addr, pod_mac);
	}
	if (err)
		return op_fail(e, PODLANE_ERR_INTERNAL, "failed to %s '%s': %s", step, host_ifname,
			       nl_strerror(&a->nl, err));
	return 0;
}

/*
 * NAPI on the pod end, for the XDP NodePort fast path: a frame XDP redirects into the host veth
 * reaches the pod only when the pod's interface has NAPI, which veth gives it with GRO on
 * (kernel >= 5.13) as it would with an XDP program there. The ioctl goes through the netlink
 * socket already open in the pod's netns (the device name resolves in the socket's netns), so
 * no second setns. Read back: a kernel that refuses quietly must not get the flag.
 */
static int pod_enable_gro(struct nl_sock *pod, const char *ifname)
{
	struct ethtool_value ev = { .cmd = ETHTOOL_SGRO, .data = 1 };
	struct ifreq ifr = {};
	int fd = mnl_socket_get_fd(pod->mnl);

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&ev;
	if (ioctl(fd, SIOCETHTOOL, &ifr))
		return -errno;
	ev.cmd = ETHTOOL_GGRO;
	ev.data = 0;
	if (ioctl(fd, SIOCETHTOOL, &ifr))
		return -errno;
	return ev.data ? 0 : -EOPNOTSUPP;
}

/* Returns 1 and fills res when the same attachment is already fully wired. */
static int add_existing(struct agent *a, const struct add_request *req, struct add_result *res)
{
	struct endpoint_value val;
	struct endpoint_meta meta;
	struct endpoint_key key;
	__u32 ifindex;

	if (!endpoint_find_live(a, req->container_id, req->ifname, req->network, &ifindex, &meta))
		return 0;
	ep_key(&key, meta.addr.ip4);
	if (!strcmp(meta.netns, req->netns) && netns_alive(&meta) &&
	    host_veth_alive(a, ifindex, &meta, NULL) &&
	    !bpf_map_lookup_elem(a->eps_fd, &key, &val) && val.ifindex == ifindex &&
	    (!req->ip || inet_addr(req->ip) == meta.addr.ip4)) {
		fill_result(res, ifindex, &meta, &val);
		return 1;
	}
	/* Same attachment, but its pod or wiring changed underneath: start over cleanly. */
	log_info("replacing stale endpoint container_id=%s ifname=%s", req->container_id,
		 req->ifname);
	endpoint_remove(a, ifindex, &meta);
	return 0;
}

int endpoint_add(struct agent *a, const struct add_request *req, struct add_result *res,
		 struct op_error *e)
{
	struct add_undo u = {};
	struct endpoint_value val = {};
	struct endpoint_meta meta = {};
	struct endpoint_stats *stats = NULL;
	struct nl_link host, pod_link;
	struct nl_sock pod = {};
	struct endpoint_key key;
	struct ip_search dup;
	struct timespec now;
	unsigned int mtu = req->mtu ? req->mtu : nodes_pod_mtu(a);
	int netns_fd = -1, ret = -1, err;
	__u32 idx;
	__u64 cookie;

	memset(res, 0, sizeof(*res));
	if (validate_ids(req->container_id, req->ifname, req->network, e))
		return -1;
	if (!req->netns || !req->netns[0] || strlen(req->netns) >= PODLANE_NETNS_LEN)
		return op_fail(e, PODLANE_ERR_INVALID_ENV, "invalid netns path '%s'",
			       req->netns ? req->netns : "");
	if (mtu < 68 || mtu > 65535)
		return op_fail(e, PODLANE_ERR_INVALID_CONFIG, "invalid mtu %u: want 68-65535", mtu);
	if (req->ip && inet_addr(req->ip) == INADDR_NONE)
		return op_fail(e, PODLANE_ERR_INVALID_CONFIG, "invalid ip '%s': want a.b.c.d",
			       req->ip);

	if (add_existing(a, req, res))
		return 0;

	netns_fd = open(req->netns, O_RDONLY | O_CLOEXEC);
	if (netns_fd < 0)
		return op_fail(e, PODLANE_ERR_NETNS, "failed to open netns '%s': %s", req->netns,
			       strerror(errno));
	cookie = netns_cookie(req->netns);
	/* Wiring the agent's own netns would replace the node's default route: never. */
	if (is_own_netns(netns_fd)) {
		op_fail(e, PODLANE_ERR_INVALID_ENV, "netns '%s' is the node's own network "
			"namespace, not a pod's", req->netns);
		goto out;
	}
	/*
	 * A host veth named for this very attachment but owned by no endpoint is what an ADD
	 * interrupted by a crash leaves; its pod end would make the retry fail with "exists".
	 */
	endpoint_host_ifname(req->container_id, req->ifname, res->host_ifname);
	if (host_ifname_in_use(a, res->host_ifname)) {
		op_fail(e, PODLANE_ERR_INTERNAL, "host veth name '%s' is already used by another "
			"endpoint", res->host_ifname);
		goto out;
	}
	remove_stray_host_veth(a, res->host_ifname);

	err = nl_open_netns(&pod, netns_fd);
	if (err) {
		op_fail(e, PODLANE_ERR_NETNS, "failed to enter netns '%s': %s", req->netns,
			strerror(-err));
		goto out;
	}
	/* Checked before anything is created, so an existing interface is never touched. */
	err = nl_link_get(&pod, req->ifname, 0, &pod_link);
	if (err != -ENODEV) {
		if (!err)
			op_fail(e, PODLANE_ERR_IF_EXISTS,
				"interface '%s' already exists in netns '%s'", req->ifname,
				req->netns);
		else
			op_fail(e, PODLANE_ERR_INTERNAL, "failed to look up '%s' in netns '%s': %s",
				req->ifname, req->netns, nl_strerror(&pod, err));
		goto out;
	}

	if (req->ip) {
		u.addr = inet_addr(req->ip);
		meta.flags |= PODLANE_META_F_IPAM_DELEGATED;
	} else {
		err = ipam_alloc(a, req->network, req->subnet, req->container_id, req->ifname,
				 &u.addr, &u.ipam_fresh, e);
		if (err)
			goto out;
		/* An allocation that survived a failed ADD is ours to give back on failure too. */
		u.ipam_fresh = true;
	}
	dup.addr = u.addr;
	if (endpoint_walk(a, ip_cb, &dup) == 1) {
		op_fail(e, PODLANE_ERR_INTERNAL, "address %s is already used by container '%s' "
			"ifname '%s'", req->ip ? req->ip : "allocated", dup.meta.container_id,
			dup.meta.ifname);
		goto fail;
	}

	err = nl_veth_create(&a->nl, res->host_ifname, req->ifname, netns_fd, mtu);
	if (err) {
		if (err == -EEXIST && !nl_link_get(&pod, req->ifname, 0, &pod_link))
			op_fail(e, PODLANE_ERR_IF_EXISTS,
				"interface '%s' already exists in netns '%s'", req->ifname,
				req->netns);
		else
			op_fail(e, PODLANE_ERR_INTERNAL, "failed to create veth '%s': %s",
				res->host_ifname, nl_strerror(&a->nl, err));
		goto fail;
	}
	u.veth = true;
	err = nl_link_get(&a->nl, res->host_ifname, 0, &host);
	if (!err) {
		u.host_ifindex = host.ifindex;
		err = nl_link_get(&pod, req->ifname, 0, &pod_link);
	}
	if (err) {
		op_fail(e, PODLANE_ERR_INTERNAL, "failed to look up the new veth '%s': %s",
			res->host_ifname, strerror(-err));
		/* Find it by name for the rollback, whatever failed. */
		if (!u.host_ifindex && !nl_link_get(&a->nl, res->host_ifname, 0, &host))
			u.host_ifindex = host.ifindex;
		goto fail;
	}

	if (wire_pod_side(&pod, req, pod_link.ifindex, u.addr, host.mac, e) ||
	    wire_host_side(a, res->host_ifname, host.ifindex, u.addr, pod_link.mac, e))
		goto fail;

	idx = host.ifindex;
	snprintf(meta.container_id, sizeof(meta.container_id), "%s", req->container_id);
	snprintf(meta.netns, sizeof(meta.netns), "%s", req->netns);
	snprintf(meta.network, sizeof(meta.network), "%s", req->network);
	snprintf(meta.ifname, sizeof(meta.ifname), "%s", req->ifname);
	snprintf(meta.host_ifname, sizeof(meta.host_ifname), "%s", res->host_ifname);
	meta.addr.family = PODLANE_AF_INET;
	meta.addr.ip4 = u.addr;
	meta.netns_cookie = cookie;
	clock_gettime(CLOCK_REALTIME, &now);
	meta.created_ns = (__u64)now.tv_sec * 1000000000ULL + now.tv_nsec;
	meta.pod_ifindex = pod_link.ifindex;
	err = bpf_map_update_elem(a->meta_fd, &idx, &meta, BPF_NOEXIST) ? -errno : 0;
	if (err) {
		map_update_err(e, "podlane_ep_meta", err, a->max_endpoints);
		goto fail;
	}
	u.meta = true;

	stats = calloc(a->ncpus, sizeof(*stats));
	if (!stats) {
		op_fail(e, PODLANE_ERR_INTERNAL, "out of memory");
		goto fail;
	}
	err = bpf_map_update_elem(a->stat_fd, &idx, stats, BPF_ANY) ? -errno : 0;
	if (err) {
		map_update_err(e, "podlane_ep_stat", err, a->max_endpoints);
		goto fail;
	}
	u.stat = true;

	if (datapath_attach_endpoint(a, host.ifindex, e))
		goto fail;

	/* Last: from here on the fast path may redirect to this pod. */
	ep_key(&key, u.addr);
	val.ifindex = host.ifindex;
	val.flags = PODLANE_EP_F_READY;
	/* A service may list the address before the pod exists: its replies need translating. */
	if (service_is_backend(a, u.addr))
		val.flags |= PODLANE_EP_F_LB_BACKEND;
	/* The fast path is an optimisation: without NAPI the pod is served by tc, as before. */
	if (a->xdp_fastpath) {
		err = pod_enable_gro(&pod, req->ifname);
		if (!err)
			val.flags |= PODLANE_EP_F_XDP_RX;
		else
			log_warn("no XDP fast path for the pod: failed to enable GRO on its end "
				 "container_id=%s ifname=%s err=\"%s\"", req->container_id,
				 req->ifname, strerror(-err));
	}
	memcpy(val.pod_mac, pod_link.mac, 6);
	memcpy(val.host_mac, host.mac, 6);
	err = bpf_map_update_elem(a->eps_fd, &key, &val, BPF_NOEXIST) ? -errno : 0;
	if (err) {
		map_update_err(e, "podlane_eps", err, a->max_endpoints);
		goto fail;
	}
	u.eps = true;

	fill_result(res, host.ifindex, &meta, &val);
	ret = 0;
	goto out;
fail:
	add_rollback(a, req, &u);
out:
	free(stats);
	if (pod.mnl)
		nl_close(&pod);
	if (netns_fd >= 0)
		close(netns_fd);
	return ret;
}

int endpoint_del(struct agent *a, const char *container_id, const char *ifname,
		 const char *network, struct op_error *e)
{
	char host_ifname[IF_NAMESIZE];
	struct endpoint_meta meta;
	__u32 ifindex;
	int n;

	if (validate_ids(container_id, ifname, network, e))
		return -1;
	/* endpoint_remove() releases the address; the walks below are for leftovers only. */
	if (endpoint_find(a, container_id, ifname, network, &ifindex, &meta)) {
		endpoint_remove(a, ifindex, &meta);
		return 0;
	}
	endpoint_host_ifname(container_id, ifname, host_ifname);
	remove_stray_host_veth(a, host_ifname);
	n = ipam_release(a, network, container_id, ifname);
	if (n)
		log_info("released leftover allocation container_id=%s ifname=%s count=%d",
			 container_id, ifname, n);
	return 0;
}

int endpoint_check(struct agent *a, const char *container_id, const char *ifname,
		   const char *network, const char *netns, const char *ip, struct op_error *e)
{
	in_addr_t gw = inet_addr(PODLANE_GATEWAY4);
	struct endpoint_value val;
	struct endpoint_meta meta;
	struct endpoint_key key;
	struct nl_link link;
	struct nl_sock pod = {};
	char have[INET_ADDRSTRLEN];
	__u32 ifindex;
	int fd, err, ret = -1;

	if (validate_ids(container_id, ifname, network, e))
		return -1;
	if (!endpoint_find(a, container_id, ifname, network, &ifindex, &meta))
		return op_fail(e, PODLANE_ERR_CHECK, "no endpoint for container '%s' ifname '%s' "
			       "in network '%s'", container_id, ifname, network);
	inet_ntop(AF_INET, &meta.addr.ip4, have, sizeof(have));
	if (ip && ip[0] && inet_addr(ip) != meta.addr.ip4)
		return op_fail(e, PODLANE_ERR_CHECK, "endpoint has address %s, expected %s", have,
			       ip);
	if (netns && netns[0] && strcmp(netns, meta.netns))
		return op_fail(e, PODLANE_ERR_CHECK, "endpoint lives in netns '%s', not '%s'",
			       meta.netns, netns);
	if (!host_veth_alive(a, ifindex, &meta, &link))
		return op_fail(e, PODLANE_ERR_CHECK, "host veth '%s' is gone", meta.host_ifname);
	if (!(link.flags & IFF_UP))
		return op_fail(e, PODLANE_ERR_CHECK, "host veth '%s' is down", meta.host_ifname);
	ep_key(&key, meta.addr.ip4);
	if (bpf_map_lookup_elem(a->eps_fd, &key, &val) || val.ifindex != ifindex ||
	    !(val.flags & PODLANE_EP_F_READY))
		return op_fail(e, PODLANE_ERR_CHECK, "no ready datapath entry for %s", have);
	if (datapath_endpoint_attached(ifindex) != 1)
		return op_fail(e, PODLANE_ERR_CHECK, "podlane programs are not attached to '%s'",
			       meta.host_ifname);
	if (!netns_alive(&meta))
		return op_fail(e, PODLANE_ERR_CHECK, "netns '%s' is gone or was replaced",
			       meta.netns);

	fd = open(meta.netns, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return op_fail(e, PODLANE_ERR_NETNS, "failed to open netns '%s': %s", meta.netns,
			       strerror(errno));
	err = nl_open_netns(&pod, fd);
	close(fd);
	if (err)
		return op_fail(e, PODLANE_ERR_NETNS, "failed to enter netns '%s': %s", meta.netns,
			       strerror(-err));
	if (nl_link_get(&pod, ifname, 0, &link)) {
		op_fail(e, PODLANE_ERR_CHECK, "interface '%s' is missing in the pod", ifname);
	} else if (!(link.flags & IFF_UP)) {
		op_fail(e, PODLANE_ERR_CHECK, "interface '%s' is down in the pod", ifname);
	} else if (nl_addr_has(&pod, link.ifindex, meta.addr.ip4, 32) != 1) {
		op_fail(e, PODLANE_ERR_CHECK, "interface '%s' does not hold %s/32", ifname, have);
	} else if (nl_route_has(&pod, link.ifindex, gw, 32, 0) != 1) {
		op_fail(e, PODLANE_ERR_CHECK, "pod has no route to %s dev %s", PODLANE_GATEWAY4,
			ifname);
	} else if (nl_route_has(&pod, link.ifindex, 0, 0, gw) != 1) {
		op_fail(e, PODLANE_ERR_CHECK, "pod has no default route via %s dev %s",
			PODLANE_GATEWAY4, ifname);
	} else {
		ret = 0;
	}
	nl_close(&pod);
	return ret;
}

struct gc_state {
	struct agent *a;
	const char *network;
	const struct gc_keep *keep;
	size_t nkeep;
	__u32 victims[256];
	size_t nvictims;
	int released;
};

static bool gc_kept(const struct gc_state *g, const char *container_id, const char *ifname)
{
	size_t i;

	for (i = 0; i < g->nkeep; i++)
		if (!strcmp(g->keep[i].container_id, container_id) &&
		    !strcmp(g->keep[i].ifname, ifname))
			return true;
	return false;
}

static int gc_endpoint_cb(__u32 ifindex, const struct endpoint_meta *meta, void *data)
{
	struct gc_state *g = data;

	if (strncmp(meta->network, g->network, sizeof(meta->network)) ||
	    gc_kept(g, meta->container_id, meta->ifname))
		return 0;
	g->victims[g->nvictims++] = ifindex;
	/* Deleting while iterating a hash map restarts the walk; collect a batch instead. */
	return g->nvictims == sizeof(g->victims) / sizeof(g->victims[0]);
}

static int gc_ipam_cb(const char *network, const struct ipam_entry *ent, void *data)
{
	struct gc_state *g = data;

	if (gc_kept(g, ent->container_id, ent->ifname))
		return 0;
	g->released += ipam_release_addr(g->a, network, ent->addr, ent->container_id,
					  ent->ifname);
	return 0;
}

int endpoint_gc(struct agent *a, const char *network, const struct gc_keep *keep, size_t nkeep,
		struct op_error *e)
{
	struct gc_state g = { .a = a, .network = network, .keep = keep, .nkeep = nkeep };
	struct endpoint_meta meta;
	int rounds;
	size_t i;

	if (!valid_name(network, PODLANE_NETWORK_LEN) || network[0] == '.')
		return op_fail(e, PODLANE_ERR_INVALID_CONFIG, "invalid network name '%s'",
			       network ? network : "");
	for (rounds = 0; rounds < 1024; rounds++) {
		g.nvictims = 0;
		endpoint_walk(a, gc_endpoint_cb, &g);
		for (i = 0; i < g.nvictims; i++) {
			if (bpf_map_lookup_elem(a->meta_fd, &g.victims[i], &meta))
				continue;
			endpoint_remove(a, g.victims[i], &meta);
			g.released++;
		}
		if (g.nvictims < sizeof(g.victims) / sizeof(g.victims[0]))
			break;
	}
	/* Allocations whose endpoint never got wired (or was removed without DEL). */
	ipam_walk(a, network, gc_ipam_cb, &g);
	log_info("gc done network=%s kept=%zu released=%d", network, nkeep, g.released);
	return g.released;
}

struct reconcile_state {
	struct agent *a;
	__u32 dead[256];
	size_t ndead;
	bool more;
	int adopted;
	int removed;
	int failed;
};

static int reconcile_cb(__u32 ifindex, const struct endpoint_meta *meta, void *data)
{
	struct reconcile_state *r = data;
	struct agent *a = r->a;
	struct endpoint_value val = {};
	struct endpoint_key key;
	struct op_error e = {};
	struct nl_link host;
	char ip[INET_ADDRSTRLEN];

	if (!host_veth_alive(a, ifindex, meta, &host) || !netns_alive(meta)) {
		if (r->ndead == sizeof(r->dead) / sizeof(r->dead[0])) {
			r->more = true;
			return 1;
		}
		r->dead[r->ndead++] = ifindex;
		return 0;
	}
	inet_ntop(AF_INET, &meta->addr.ip4, ip, sizeof(ip));
	if (datapath_attach_endpoint(a, ifindex, &e)) {
		log_error("failed to re-attach endpoint ip=%s dev=%s err=\"%s\"", ip,
			  meta->host_ifname, e.msg);
		r->failed++;
		return 0;
	}
	/* An ADD interrupted right before its last step: finish it. */
	ep_key(&key, meta->addr.ip4);
	if (bpf_map_lookup_elem(a->eps_fd, &key, &val) || val.ifindex != ifindex) {
		struct nl_sock pod = {};
		struct nl_link pod_link;
		int fd = open(meta->netns, O_RDONLY | O_CLOEXEC);

		if (fd >= 0 && !nl_open_netns(&pod, fd) &&
		    !nl_link_get(&pod, meta->ifname, 0, &pod_link)) {
			val.ifindex = ifindex;
			val.flags = PODLANE_EP_F_READY;
			memcpy(val.pod_mac, pod_link.mac, 6);
			memcpy(val.host_mac, host.mac, 6);
			if (bpf_map_update_elem(a->eps_fd, &key, &val, BPF_ANY))
				log_error("failed to restore datapath entry ip=%s: %s", ip,
					  strerror(errno));
			else
				log_info("restored datapath entry ip=%s dev=%s", ip,
					 meta->host_ifname);
		}
		if (pod.mnl)
			nl_close(&pod);
		if (fd >= 0)
			close(fd);
	}
	log_debug("endpoint adopted ip=%s dev=%s container_id=%s", ip, meta->host_ifname,
		  meta->container_id);
	r->adopted++;
	return 0;
}

struct xdp_rx_state {
	struct agent *a;
	int set, cleared, failed;
};

/* One endpoint's PODLANE_EP_F_XDP_RX brought in line with a->xdp_fastpath. */
static int xdp_rx_cb(__u32 ifindex, const struct endpoint_meta *meta, void *data)
{
	struct xdp_rx_state *x = data;
	struct agent *a = x->a;
	struct endpoint_value val;
	struct endpoint_key key;
	struct nl_sock pod = {};
	int fd, err;

	ep_key(&key, meta->addr.ip4);
	if (bpf_map_lookup_elem(a->eps_fd, &key, &val) || val.ifindex != ifindex)
		return 0;
	if (!a->xdp_fastpath) {
		if (!(val.flags & PODLANE_EP_F_XDP_RX))
			return 0;
		/* GRO stays on in the pod: harmless, and the pod's own business from now on. */
		val.flags &= ~PODLANE_EP_F_XDP_RX;
		if (bpf_map_update_elem(a->eps_fd, &key, &val, BPF_EXIST))
			x->failed++;
		else
			x->cleared++;
		return 0;
	}
	/* Flagged ones were readied by their ADD or an earlier start. */
	if (val.flags & PODLANE_EP_F_XDP_RX)
		return 0;
	fd = open(meta->netns, O_RDONLY | O_CLOEXEC);
	err = fd < 0 ? -errno : nl_open_netns(&pod, fd);
	if (!err)
		err = pod_enable_gro(&pod, meta->ifname);
	if (pod.mnl)
		nl_close(&pod);
	if (fd >= 0)
		close(fd);
	/* Re-read: the flag joins whatever service.c set meanwhile (same thread, but be exact). */
	if (!err && !bpf_map_lookup_elem(a->eps_fd, &key, &val) && val.ifindex == ifindex) {
		val.flags |= PODLANE_EP_F_XDP_RX;
		err = bpf_map_update_elem(a->eps_fd, &key, &val, BPF_EXIST) ? -errno : 0;
	}
	if (err) {
		log_warn("no XDP fast path for endpoint dev=%s container_id=%s err=\"%s\"",
			 meta->host_ifname, meta->container_id, strerror(-err));
		x->failed++;
		return 0;
	}
	x->set++;
	return 0;
}

void endpoint_xdp_rx_sync(struct agent *a)
{
	struct xdp_rx_state x = { .a = a };

	/* Only flags change, never keys: the hash walk is not disturbed. */
	endpoint_walk(a, xdp_rx_cb, &x);
	if (x.set || x.cleared || x.failed)
		log_info("xdp fast path flags synced on=%d set=%d cleared=%d failed=%d",
			 a->xdp_fastpath, x.set, x.cleared, x.failed);
}

/*
 * At start-up no ADD is in flight, so an allocation without an endpoint is a leftover of a crash
 * (or of a node reboot, which empties bpffs but not the state dir): give the address back.
 */
static int orphan_ipam_cb(const char *network, const struct ipam_entry *ent, void *data)
{
	struct agent *a = data;
	struct endpoint_meta meta;
	char ip[INET_ADDRSTRLEN];
	__u32 ifindex;

	if (endpoint_find(a, ent->container_id, ent->ifname, network, &ifindex, &meta))
		return 0;
	inet_ntop(AF_INET, &ent->addr, ip, sizeof(ip));
	log_info("releasing address allocated without an endpoint network=%s ip=%s "
		 "container_id=%s ifname=%s", network, ip, ent->container_id, ent->ifname);
	ipam_release_addr(a, network, ent->addr, ent->container_id, ent->ifname);
	return 0;
}

/* Datapath entries and counters whose endpoint metadata is gone would point at stale devices. */
static int sweep_orphans(struct agent *a)
{
	struct endpoint_meta meta;
	struct endpoint_value val;
	struct endpoint_key k, nk, *pk = NULL;
	__u32 i, ni, *pi = NULL;
	int n = 0, guard;

	for (guard = 0; guard < 1 << 20 && !bpf_map_get_next_key(a->eps_fd, pk, &nk); guard++) {
		k = nk;
		if (!bpf_map_lookup_elem(a->eps_fd, &k, &val) &&
		    bpf_map_lookup_elem(a->meta_fd, &val.ifindex, &meta)) {
			bpf_map_delete_elem(a->eps_fd, &k);
			n++;
			pk = NULL;	/* the walk restarts after a delete */
			continue;
		}
		pk = &k;
	}
	for (guard = 0; guard < 1 << 20 && !bpf_map_get_next_key(a->stat_fd, pi, &ni); guard++) {
		i = ni;
		if (bpf_map_lookup_elem(a->meta_fd, &i, &meta)) {
			bpf_map_delete_elem(a->stat_fd, &i);
			n++;
			pi = NULL;
			continue;
		}
		pi = &i;
	}
	return n;
}

void endpoint_reconcile(struct agent *a)
{
	struct reconcile_state r = { .a = a };
	struct endpoint_meta meta;
	int rounds, swept;
	size_t i;

	for (rounds = 0; rounds < 4096; rounds++) {
		r.ndead = 0;
		r.more = false;
		r.adopted = r.failed = 0;
		endpoint_walk(a, reconcile_cb, &r);
		for (i = 0; i < r.ndead; i++) {
			if (bpf_map_lookup_elem(a->meta_fd, &r.dead[i], &meta))
				continue;
			log_info("endpoint gone while podlaned was down container_id=%s dev=%s "
				 "netns=%s", meta.container_id, meta.host_ifname, meta.netns);
			endpoint_remove(a, r.dead[i], &meta);
			r.removed++;
		}
		if (!r.more)
			break;
	}
	swept = sweep_orphans(a);
	ipam_walk(a, NULL, orphan_ipam_cb, a);
	log_info("reconciled adopted=%d removed=%d failed=%d orphan_entries=%d", r.adopted,
		 r.removed, r.failed, swept);
}
