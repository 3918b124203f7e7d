// SPDX-License-Identifier: GPL-2.0-only
/*
 * endpoint/endpoint.c - pod wiring: the veth pair, addresses, routes and neighbours on both
 * sides, the endpoint maps (datapath/eps.h) and the tc programs; DEL and CHECK.
 *
 * ADD records each step in a struct add_undo as it goes, so a failure anywhere unwinds exactly
 * what this request did and nothing else: the pod keeps whatever it had before the call. In the
 * pod an ADD only adds: everything it creates hangs off its own interface (so deleting the veth
 * takes it all), routes are inserted next to any the pod has to the same prefix, never over
 * them, and the one pod-wide change, lo brought up, comes last, when nothing can fail anymore.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <linux/ethtool.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <linux/sockios.h>
#include <libmnl/libmnl.h>
#include <bpf/bpf.h>

#include "core/addr.h"
#include "core/agent.h"
#include "datapath/datapath.h"
#include "datapath/eps.h"
#include "endpoint/endpoint.h"
#include "endpoint/endpoint_int.h"
#include "ipam/ipam.h"
#include "log.h"
#include "policy/policy.h"

/*
 * Debugging only: PODLANE_DEBUG_CRASH_AT=<step> has podlaned kill itself with SIGKILL when a
 * request reaches that step, so the tests can prove that a restart finds and removes whatever
 * an ADD or DEL interrupted there left (selftests/agent/06-crash.t). Steps: add:ipam,
 * add:veth, add:pod, add:host, add:meta, add:attach (after each step of an ADD), del:queued
 * (DEL queued the host veth's deletion) and del:done (DEL did everything but answer). With a
 * del: step the reaper thread holds its queue, as if the kill came before it ran. The agent
 * logs the setting at start-up; unset, a crash point costs one compare.
 */
static const char *crash_step(void)
{
	static const char *step;
	static bool read;

	if (!read) {
		step = getenv("PODLANE_DEBUG_CRASH_AT");
		read = true;
	}
	return step;
}

void crash_point(const char *step)
{
	const char *at = crash_step();

	if (!at || strcmp(at, step))
		return;
	log_warn("debug: killing podlaned at step %s (PODLANE_DEBUG_CRASH_AT)", step);
	kill(getpid(), SIGKILL);
}

bool crash_reaper_held(void)
{
	const char *at = crash_step();

	return at && !strncmp(at, "del:", 4);
}

void crash_announce(void)
{
	if (crash_step())
		log_warn("debug: PODLANE_DEBUG_CRASH_AT=%s: podlaned kills itself when a request "
			 "reaches that step (a test's fault injection)", crash_step());
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

/*
 * This agent's host veths are created in a device group of their own, a hash of the pin root
 * (one agent per pin root; tests run several agents side by side on one host): a host veth of
 * ours without an endpoint record is what an ADD interrupted by a crash left, and start-up
 * finds it by group without touching another agent's devices. Never 0 (every device's
 * default) nor the reaper's group.
 */
uint32_t endpoint_host_group(struct agent *a)
{
	uint64_t h = fnv1a(0xcbf29ce484222325ULL, a->pin_root, strlen(a->pin_root));
	uint32_t g = (uint32_t)(h ^ (h >> 32));

	return (g & 0x7fffffff) | 0x10000;
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

	if (!ifindex || eps_meta_get(a, ifindex, &s->meta))
		return false;
	if (!find_cb(ifindex, &s->meta, s))
		return false;
	s->ifindex = ifindex;
	return true;
}

bool endpoint_find(struct agent *a, const char *container_id, const char *ifname,
		   const char *network, __u32 *ifindex, struct endpoint_meta *meta, bool thorough)
{
	struct ep_search s = {
		.container_id = container_id, .ifname = ifname, .network = network,
	};
	char host_ifname[IF_NAMESIZE];

	endpoint_host_ifname(container_id, ifname, host_ifname);
	if (!endpoint_find_by_name(a, host_ifname, &s) &&
	    (!thorough || eps_walk(a, find_cb, &s) != 1))
		return false;
	*ifindex = s.ifindex;
	*meta = s.meta;
	return true;
}

static bool host_ifname_in_use(struct agent *a, const char *host_ifname)
{
	struct ep_search s = { .host_ifname = host_ifname };

	return endpoint_find_by_name(a, host_ifname, &s);
}

/* The netns identity of an open nsfs file: device and inode (podlane.h). */
static __u64 netns_cookie(const struct stat *st)
{
	return PODLANE_NETNS_COOKIE(major(st->st_dev) << 20 | minor(st->st_dev), st->st_ino);
}

/* The host veth is still the device we created: same ifindex and same name. */
bool host_veth_alive(struct agent *a, __u32 ifindex, const struct endpoint_meta *meta,
		     struct nl_link *link)
{
	struct nl_link tmp;

	if (!link)
		link = &tmp;
	if (nl_link_get(&a->nl, NULL, ifindex, link))
		return false;
	return !strncmp(link->name, meta->host_ifname, sizeof(meta->host_ifname));
}

bool netns_alive(const struct endpoint_meta *meta)
{
	struct stat st;

	if (!meta->netns[0] || stat(meta->netns, &st))
		return false;
	/* A record of an agent that kept no device matches by inode. */
	if (!PODLANE_NETNS_DEV(meta->netns_cookie))
		return PODLANE_NETNS_INO(meta->netns_cookie) == (__u32)st.st_ino;
	return meta->netns_cookie == netns_cookie(&st);
}

/*
 * A netns path comes from a client, so opening it must never block the agent, which serves one
 * request at a time: open() of a FIFO waits for a writer, of a device may wait for its driver.
 * O_PATH opens neither (no driver open, no side effect); only a file on nsfs is then reopened
 * for setns(), through /proc/self/fd (the same file, not the path again), and must be a
 * network namespace.
 */
int netns_open(const char *path, struct stat *st)
{
	char fdpath[32];
	struct statfs sfs;
	int pfd, fd, err;

	pfd = open(path, O_PATH | O_CLOEXEC);
	if (pfd < 0)
		return -errno;
	if (fstatfs(pfd, &sfs) || fstat(pfd, st)) {
		err = -errno;
		close(pfd);
		return err;
	}
	if (sfs.f_type != NSFS_MAGIC || !S_ISREG(st->st_mode)) {
		close(pfd);
		return -NETNS_ERR_NOT_NETNS;
	}
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", pfd);
	fd = open(fdpath, O_RDONLY | O_CLOEXEC);
	err = fd < 0 ? -errno : 0;
	close(pfd);
	if (err)
		return err;
	if (ioctl(fd, NS_GET_NSTYPE) != CLONE_NEWNET) {
		close(fd);
		return -NETNS_ERR_NOT_NETNS;
	}
	return fd;
}

const char *netns_strerror(int err)
{
	if (err == -NETNS_ERR_NOT_NETNS)
		return "not a network namespace (a file on nsfs)";
	return strerror(-err);
}

/*
 * Tear an endpoint down: fast-path entry first (so nothing is redirected to a dying device),
 * then the veth (the kernel drops the pod end, routes, neighbours and tc filters with it; see
 * the reaper above), then the bookkeeping and the address. An address that cannot be released
 * (a read-only state dir) stays allocated to the attachment with no endpoint: the caller hears
 * -errno, and a later DEL of the attachment, GC or the next start-up releases it.
 */
int endpoint_remove(struct agent *a, __u32 ifindex, const struct endpoint_meta *meta)
{
	char ip[INET_ADDRSTRLEN];
	int err = 0;

	eps_unpublish(a, meta->addr.ip4, ifindex);
	if (host_veth_alive(a, ifindex, meta, NULL))
		host_veth_delete(a, ifindex, meta->host_ifname);
	eps_forget(a, ifindex);
	policy_pod_del(a, ifindex);
	if (!(meta->flags & PODLANE_META_F_IPAM_DELEGATED))
		err = ipam_release_addr(a, meta->network, meta->addr.ip4, meta->container_id,
					meta->ifname);
	inet_ntop(AF_INET, &meta->addr.ip4, ip, sizeof(ip));
	log_info("endpoint removed container_id=%s ifname=%s network=%s ip=%s host_ifname=%s",
		 meta->container_id, meta->ifname, meta->network, ip, meta->host_ifname);
	return err < 0 ? err : 0;
}

/* A host veth with our name but no endpoint: what an ADD interrupted by a crash leaves. */
void remove_stray_host_veth(struct agent *a, const char *host_ifname)
{
	struct nl_link link;

	if (nl_link_get(&a->nl, host_ifname, 0, &link))
		return;
	if (host_ifname_in_use(a, host_ifname) || strcmp(link.kind, "veth"))
		return;
	log_warn("deleting stray host veth dev=%s ifindex=%d", host_ifname, link.ifindex);
	nl_link_del(&a->nl, link.ifindex);
}

static bool is_own_netns(const struct stat *pod)
{
	struct stat self;

	if (stat("/proc/self/ns/net", &self))
		return false;
	return pod->st_dev == self.st_dev && pod->st_ino == self.st_ino;
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

	return n && n < max && !strpbrk(s, "/\n\r\t\v\f ") && strcmp(s, ".") && strcmp(s, "..");
}

/*
 * An interface name as the kernel takes it verbatim (dev_valid_name): no ':', and no '%',
 * with which the kernel picks a name itself ("eth%d" becomes eth0), so the pod would get an
 * interface of another name than the runtime asked for.
 */
static bool ifname_ok(const char *ifname)
{
	return valid_name(ifname, PODLANE_IFNAME_LEN) && !strpbrk(ifname, ":%");
}

bool network_name_ok(const char *network)
{
	return valid_name(network, PODLANE_NETWORK_LEN) && network[0] != '.';
}

static int validate_ids(const char *container_id, const char *ifname, const char *network,
			struct api_error *e)
{
	if (!valid_name(container_id, PODLANE_CONTAINER_ID_LEN))
		return api_fail(e, PODLANE_ERR_INVALID_ENV,
			       "invalid container_id '%s': 1-%d characters, no '/' or whitespace",
			       container_id ? container_id : "", PODLANE_CONTAINER_ID_LEN - 1);
	if (!ifname_ok(ifname))
		return api_fail(e, PODLANE_ERR_INVALID_ENV,
			       "invalid ifname '%s': 1-%d characters, not '.' or '..', no '/', ':', "
			       "'%%' or whitespace", ifname ? ifname : "", PODLANE_IFNAME_LEN - 1);
	if (!network_name_ok(network))
		return api_fail(e, PODLANE_ERR_INVALID_CONFIG,
			       "invalid network name '%s': 1-%d characters, no '/' or whitespace",
			       network ? network : "", PODLANE_NETWORK_LEN - 1);
	return 0;
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
	res->default_route = !(meta->flags & PODLANE_META_F_NO_DEFAULT_ROUTE);
}

/* What an ADD has done so far, so a failure undoes exactly that. */
struct add_undo {
	bool ipam_fresh;
	bool veth;
	bool meta;		/* record and counters */
	bool policy;		/* the pod is known to network policy */
	bool eps;
	int host_ifindex;
	in_addr_t addr;
};

static void add_rollback(struct agent *a, const struct add_request *req, struct add_undo *u)
{
	if (u->eps)
		eps_unpublish(a, u->addr, u->host_ifindex);
	if (u->policy)
		policy_pod_del(a, u->host_ifindex);
	if (u->meta)
		eps_forget(a, u->host_ifindex);
	if (u->veth && u->host_ifindex) {
		int err = nl_link_del(&a->nl, u->host_ifindex);

		if (err && err != -ENODEV)
			log_warn("rollback: failed to delete host veth ifindex=%d err=\"%s\"",
				 u->host_ifindex, nl_strerror(&a->nl, err));
	}
	if (u->ipam_fresh)
		ipam_release_addr(a, req->network, u->addr, req->container_id, req->ifname);
}

static int map_update_err(struct api_error *e, const char *map, int err, unsigned int max)
{
	if (err == -E2BIG || err == -ENOSPC)
		return api_fail(e, PODLANE_ERR_MAP_FULL,
			       "map '%s' is full (%u endpoints): remove pods or restart podlaned "
			       "with a larger --max-endpoints after 'podlaned --uninstall'", map,
			       max);
	return api_fail(e, PODLANE_ERR_INTERNAL, "failed to update map '%s': %s", map,
		       strerror(-err));
}

/*
 * Does this interface take the pod's default route? Asked (req->default_route 1 or 0), or, not
 * asked, only when the pod has none: a pod's first interface does, a second one (CNI_IFNAME
 * net1 next to another plugin's eth0) leaves the default route where it is.
 */
static int pod_takes_default(struct nl_sock *pod, const struct add_request *req, bool *take)
{
	int n;

	if (req->default_route >= 0) {
		*take = req->default_route;
		return 0;
	}
	n = nl_route_exists(pod, 0, 0);
	if (n < 0)
		return n;
	*take = !n;
	return 0;
}

/*
 * Pod side: address, link up, then either the gateway route and the default route via
 * it, each put before any route the pod has to that prefix (`ip route prepend`: it serves
 * while this interface exists, and what was there serves again after DEL), or, without the
 * default route, only the request's subnet via the gateway (onlink: the gateway's /32 stays
 * another interface's), after any route the pod has to it. Last the gateway neighbour.
 */
static int wire_pod_side(struct nl_sock *pod, const struct add_request *req, int pod_ifindex,
			 in_addr_t addr, const uint8_t host_mac[6], bool *take_default,
			 struct api_error *e)
{
	in_addr_t gw = inet_addr(PODLANE_GATEWAY4);
	struct subnet4 sn;
	const char *step;
	int err;

	step = "look at the default route";
	err = pod_takes_default(pod, req, take_default);
	if (!err) {
		step = "add address";
		err = nl_addr_add(pod, pod_ifindex, addr, 32);
	}
	if (!err) {
		step = "bring up interface";
		err = nl_link_set_up(pod, pod_ifindex);
	}
	if (!err && *take_default) {
		step = "add gateway route";
		err = nl_route_insert(pod, &(struct nl_route){ .ifindex = pod_ifindex,
				      .dst = gw, .prefix_len = 32 }, true);
		if (!err) {
			step = "add default route";
			err = nl_route_insert(pod, &(struct nl_route){ .ifindex = pod_ifindex,
					      .gw = gw }, true);
		}
	} else if (!err && req->subnet && !subnet_parse(req->subnet, &sn)) {
		step = "add subnet route";
		err = nl_route_insert(pod, &(struct nl_route){ .ifindex = pod_ifindex,
				      .dst = sn.net, .prefix_len = sn.prefix_len, .gw = gw,
				      .onlink = true }, false);
	}
	if (!err) {
		step = "add gateway neighbour";
		err = nl_neigh_add(pod, pod_ifindex, gw, host_mac);
	}
	if (err)
		return api_fail(e, PODLANE_ERR_INTERNAL, "failed to %s for '%s' in pod netns: %s",
			       step, req->ifname, nl_strerror(pod, err));
	return 0;
}

static int wire_host_side(struct agent *a, const char *host_ifname, int host_ifindex,
			  in_addr_t addr, const uint8_t pod_mac[6], struct api_error *e)
{
	const char *step = "bring up";
	int err;

	err = nl_link_set_up(&a->nl, host_ifindex);
	if (!err) {
		step = "enable forwarding on";
		err = write_forwarding(host_ifname);
		if (err)
			return api_fail(e, PODLANE_ERR_INTERNAL, "failed to %s '%s': %s", step,
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
		return api_fail(e, PODLANE_ERR_INTERNAL, "failed to %s '%s': %s", step, host_ifname,
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
int pod_enable_gro(struct nl_sock *pod, const char *ifname)
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

/* Returns 1 and fills res when the same attachment is already fully wired, -1 with e. */
static int add_existing(struct agent *a, const struct add_request *req, struct add_result *res,
			struct api_error *e)
{
	struct endpoint_value val;
	struct endpoint_meta meta;
	__u32 ifindex;

	if (!endpoint_find(a, req->container_id, req->ifname, req->network, &ifindex, &meta,
			   false))
		return 0;
	if (!strcmp(meta.netns, req->netns) && netns_alive(&meta) &&
	    host_veth_alive(a, ifindex, &meta, NULL) &&
	    !eps_lookup(a, meta.addr.ip4, &val) && val.ifindex == ifindex &&
	    (!req->ip || inet_addr(req->ip) == meta.addr.ip4)) {
		/*
		 * An ADD that a crash interrupted before network policy knew its pod (the
		 * restart finished the endpoint): the retry gives policy the pod now.
		 */
		if (req->pod_namespace && !policy_pod_known(a, ifindex) &&
		    policy_pod_add(a, ifindex, meta.host_ifname, meta.addr.ip4,
				   req->pod_namespace, req->pod_name, req->labels, e))
			return -1;
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
		 struct api_error *e)
{
	struct add_undo u = {};
	struct endpoint_value val = {};
	struct endpoint_meta meta = {}, dup;
	struct nl_link host, pod_link, lo;
	struct nl_sock pod = {};
	struct timespec now;
	struct stat netns_st;
	unsigned int mtu = req->mtu ? req->mtu : datapath_pod_mtu(a);
	int netns_fd = -1, ret = -1, err;
	bool take_default = false;

	memset(res, 0, sizeof(*res));
	if (validate_ids(req->container_id, req->ifname, req->network, e))
		return -1;
	if (!req->netns || !req->netns[0] || strlen(req->netns) >= PODLANE_NETNS_LEN)
		return api_fail(e, PODLANE_ERR_INVALID_ENV, "invalid netns path '%s'",
			       req->netns ? req->netns : "");
	if (mtu < 68 || mtu > 65535)
		return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "invalid mtu %u: want 68-65535", mtu);
	if (req->ip && ipam_delegated_check(a, req->ip, req->subnet, e))
		return -1;
	if (!req->pod_namespace != !req->pod_name)
		return api_fail(e, PODLANE_ERR_INVALID_CONFIG, "a pod needs both a namespace and a "
			       "name (K8S_POD_NAMESPACE, K8S_POD_NAME), or neither");
	if (req->pod_namespace && policy_pod_check(req->pod_namespace, req->pod_name,
						   req->labels, e))
		return -1;

	ret = add_existing(a, req, res, e);
	if (ret)
		return ret > 0 ? 0 : -1;
	ret = -1;

	netns_fd = netns_open(req->netns, &netns_st);
	if (netns_fd < 0)
		return api_fail(e, PODLANE_ERR_NETNS, "failed to open netns '%s': %s", req->netns,
			       netns_strerror(netns_fd));
	/* Wiring the agent's own netns would replace the node's default route: never. */
	if (is_own_netns(&netns_st)) {
		api_fail(e, PODLANE_ERR_INVALID_ENV, "netns '%s' is the node's own network "
			"namespace, not a pod's", req->netns);
		goto out;
	}
	/*
	 * A host veth named for this very attachment but owned by no endpoint is what an ADD
	 * interrupted by a crash leaves; its pod end would make the retry fail with "exists".
	 */
	endpoint_host_ifname(req->container_id, req->ifname, res->host_ifname);
	if (host_ifname_in_use(a, res->host_ifname)) {
		api_fail(e, PODLANE_ERR_INTERNAL, "host veth name '%s' is already used by another "
			"endpoint", res->host_ifname);
		goto out;
	}
	remove_stray_host_veth(a, res->host_ifname);

	err = nl_open_netns(&pod, netns_fd);
	if (err) {
		api_fail(e, PODLANE_ERR_NETNS, "failed to enter netns '%s': %s", req->netns,
			strerror(-err));
		goto out;
	}
	/* Checked before anything is created, so an existing interface is never touched. */
	err = nl_link_get(&pod, req->ifname, 0, &pod_link);
	if (err != -ENODEV) {
		if (!err)
			api_fail(e, PODLANE_ERR_IF_EXISTS,
				"interface '%s' already exists in netns '%s'", req->ifname,
				req->netns);
		else
			api_fail(e, PODLANE_ERR_INTERNAL, "failed to look up '%s' in netns '%s': %s",
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
		crash_point("add:ipam");
	}
	/*
	 * podlane_eps is keyed by the address: one lookup tells who has it. Two networks whose
	 * subnets overlap (or a delegated IPAM plugin) can hand out an address a pod holds.
	 */
	if (!eps_lookup(a, u.addr, &val)) {
		char ip[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &u.addr, ip, sizeof(ip));
		if (!eps_meta_get(a, val.ifindex, &dup))
			api_fail(e, PODLANE_ERR_CONFLICT, "address %s (%s in network '%s') is already "
				"used by container '%s' ifname '%s' in network '%s'", ip,
				req->ip ? "delegated" : "allocated", req->network,
				dup.container_id, dup.ifname, dup.network);
		else
			api_fail(e, PODLANE_ERR_CONFLICT, "address %s (%s in network '%s') is already "
				"used by the endpoint on ifindex %u", ip,
				req->ip ? "delegated" : "allocated", req->network, val.ifindex);
		goto fail;
	}

	err = nl_veth_create(&a->nl, res->host_ifname, req->ifname, netns_fd, mtu,
			     endpoint_host_group(a));
	if (err) {
		if (err == -EEXIST && !nl_link_get(&pod, req->ifname, 0, &pod_link))
			api_fail(e, PODLANE_ERR_IF_EXISTS,
				"interface '%s' already exists in netns '%s'", req->ifname,
				req->netns);
		else
			api_fail(e, PODLANE_ERR_INTERNAL, "failed to create veth '%s': %s",
				res->host_ifname, nl_strerror(&a->nl, err));
		goto fail;
	}
	u.veth = true;
	crash_point("add:veth");
	err = nl_link_get(&a->nl, res->host_ifname, 0, &host);
	if (!err) {
		u.host_ifindex = host.ifindex;
		err = nl_link_get(&pod, req->ifname, 0, &pod_link);
	}
	if (err) {
		api_fail(e, PODLANE_ERR_INTERNAL, "failed to look up the new veth '%s': %s",
			res->host_ifname, strerror(-err));
		/* Find it by name for the rollback, whatever failed. */
		if (!u.host_ifindex && !nl_link_get(&a->nl, res->host_ifname, 0, &host))
			u.host_ifindex = host.ifindex;
		goto fail;
	}

	if (wire_pod_side(&pod, req, pod_link.ifindex, u.addr, host.mac, &take_default, e))
		goto fail;
	crash_point("add:pod");
	if (wire_host_side(a, res->host_ifname, host.ifindex, u.addr, pod_link.mac, e))
		goto fail;
	crash_point("add:host");

	snprintf(meta.container_id, sizeof(meta.container_id), "%s", req->container_id);
	snprintf(meta.netns, sizeof(meta.netns), "%s", req->netns);
	snprintf(meta.network, sizeof(meta.network), "%s", req->network);
	snprintf(meta.ifname, sizeof(meta.ifname), "%s", req->ifname);
	snprintf(meta.host_ifname, sizeof(meta.host_ifname), "%s", res->host_ifname);
	meta.addr.family = PODLANE_AF_INET;
	meta.addr.ip4 = u.addr;
	meta.netns_cookie = netns_cookie(&netns_st);
	clock_gettime(CLOCK_REALTIME, &now);
	meta.created_ns = (__u64)now.tv_sec * 1000000000ULL + now.tv_nsec;
	meta.pod_ifindex = pod_link.ifindex;
	if (!take_default)
		meta.flags |= PODLANE_META_F_NO_DEFAULT_ROUTE;
	err = eps_meta_add(a, host.ifindex, &meta);
	if (err) {
		map_update_err(e, "podlane_ep_meta", err, a->max_endpoints);
		goto fail;
	}
	u.meta = true;
	crash_point("add:meta");
	err = eps_stat_reset(a, host.ifindex);
	if (err) {
		map_update_err(e, "podlane_ep_stat", err, a->max_endpoints);
		goto fail;
	}

	/* Isolated as policy says before any program runs for it: from its first packet. */
	if (req->pod_namespace) {
		if (policy_pod_add(a, host.ifindex, res->host_ifname, u.addr, req->pod_namespace,
				   req->pod_name, req->labels, e))
			goto fail;
		u.policy = true;
	}
	if (datapath_attach_endpoint(a, host.ifindex, e))
		goto fail;
	crash_point("add:attach");

	/*
	 * Last: from here on the fast path may redirect to this pod. A service may list the
	 * address before the pod exists: eps adds the flag that has its replies translated.
	 */
	memset(&val, 0, sizeof(val));
	val.ifindex = host.ifindex;
	val.flags = PODLANE_EP_F_READY;
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
	err = eps_publish(a, u.addr, &val, true);
	if (err) {
		map_update_err(e, "podlane_eps", err, a->max_endpoints);
		goto fail;
	}
	u.eps = true;
	/* The pod's own lo, a change no veth deletion would undo: only once nothing can fail. */
	err = nl_link_get(&pod, "lo", 0, &lo);
	if (!err && !(lo.flags & IFF_UP))
		err = nl_link_set_up(&pod, lo.ifindex);
	if (err) {
		api_fail(e, PODLANE_ERR_INTERNAL, "failed to bring up lo in netns '%s': %s",
			 req->netns, nl_strerror(&pod, err));
		goto fail;
	}

	fill_result(res, host.ifindex, &meta, &val);
	ret = 0;
	goto out;
fail:
	add_rollback(a, req, &u);
out:
	if (pod.mnl)
		nl_close(&pod);
	if (netns_fd >= 0)
		close(netns_fd);
	return ret;
}

/*
 * A DEL that could not give the address back answers so (CNI code 5), never success with the
 * address silently left allocated: the runtime retries DEL, which finds the allocation below.
 */
static int release_failed(struct api_error *e, const char *container_id, const char *ifname,
			  const char *network, in_addr_t addr, int err)
{
	char ip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &addr, ip, sizeof(ip));
	return api_fail(e, PODLANE_ERR_IO, "container '%s' ifname '%s' is unwired, but its address "
		       "%s in network '%s' could not be released: %s; it stays allocated until DEL "
		       "is retried (or podlaned restarts) with the state dir writable",
		       container_id, ifname, ip, network, strerror(-err));
}

int endpoint_del(struct agent *a, const char *container_id, const char *ifname,
		 const char *network, struct api_error *e)
{
	char host_ifname[IF_NAMESIZE];
	struct endpoint_meta meta;
	in_addr_t stuck = 0;
	__u32 ifindex;
	int n;

	if (validate_ids(container_id, ifname, network, e))
		return -1;
	/* endpoint_remove() releases the address; the walks below are for leftovers only. */
	if (endpoint_find(a, container_id, ifname, network, &ifindex, &meta, true)) {
		n = endpoint_remove(a, ifindex, &meta);
		crash_point("del:done");
		if (n)
			return release_failed(e, container_id, ifname, network, meta.addr.ip4, n);
		return 0;
	}
	endpoint_host_ifname(container_id, ifname, host_ifname);
	remove_stray_host_veth(a, host_ifname);
	n = ipam_release(a, network, container_id, ifname, &stuck);
	if (n < 0)
		return release_failed(e, container_id, ifname, network, stuck, n);
	if (n)
		log_info("released leftover allocation container_id=%s ifname=%s count=%d",
			 container_id, ifname, n);
	return 0;
}

int endpoint_check(struct agent *a, const char *container_id, const char *ifname,
		   const char *network, const char *netns, const char *ip, struct api_error *e)
{
	in_addr_t gw = inet_addr(PODLANE_GATEWAY4);
	struct endpoint_value val;
	struct endpoint_meta meta;
	struct nl_link link;
	struct nl_sock pod = {};
	char have[INET_ADDRSTRLEN];
	struct stat st;
	__u32 ifindex;
	int fd, err, ret = -1;

	if (validate_ids(container_id, ifname, network, e))
		return -1;
	if (!endpoint_find(a, container_id, ifname, network, &ifindex, &meta, true))
		return api_fail(e, PODLANE_ERR_CHECK, "no endpoint for container '%s' ifname '%s' "
			       "in network '%s'", container_id, ifname, network);
	inet_ntop(AF_INET, &meta.addr.ip4, have, sizeof(have));
	if (ip && ip[0] && inet_addr(ip) != meta.addr.ip4)
		return api_fail(e, PODLANE_ERR_CHECK, "endpoint has address %s, expected %s", have,
			       ip);
	if (netns && netns[0] && strcmp(netns, meta.netns))
		return api_fail(e, PODLANE_ERR_CHECK, "endpoint lives in netns '%s', not '%s'",
			       meta.netns, netns);
	if (!host_veth_alive(a, ifindex, &meta, &link))
		return api_fail(e, PODLANE_ERR_CHECK, "host veth '%s' is gone", meta.host_ifname);
	if (!(link.flags & IFF_UP))
		return api_fail(e, PODLANE_ERR_CHECK, "host veth '%s' is down", meta.host_ifname);
	if (eps_lookup(a, meta.addr.ip4, &val) || val.ifindex != ifindex ||
	    !(val.flags & PODLANE_EP_F_READY))
		return api_fail(e, PODLANE_ERR_CHECK, "no ready datapath entry for %s", have);
	if (datapath_endpoint_attached(ifindex) != 1)
		return api_fail(e, PODLANE_ERR_CHECK, "podlane programs are not attached to '%s'",
			       meta.host_ifname);
	if (!netns_alive(&meta))
		return api_fail(e, PODLANE_ERR_CHECK, "netns '%s' is gone or was replaced",
			       meta.netns);

	fd = netns_open(meta.netns, &st);
	if (fd < 0)
		return api_fail(e, PODLANE_ERR_NETNS, "failed to open netns '%s': %s", meta.netns,
			       netns_strerror(fd));
	err = nl_open_netns(&pod, fd);
	close(fd);
	if (err)
		return api_fail(e, PODLANE_ERR_NETNS, "failed to enter netns '%s': %s", meta.netns,
			       strerror(-err));
	if (nl_link_get(&pod, ifname, 0, &link)) {
		api_fail(e, PODLANE_ERR_CHECK, "interface '%s' is missing in the pod", ifname);
	} else if (!(link.flags & IFF_UP)) {
		api_fail(e, PODLANE_ERR_CHECK, "interface '%s' is down in the pod", ifname);
	} else if (nl_addr_has(&pod, link.ifindex, meta.addr.ip4, 32) != 1) {
		api_fail(e, PODLANE_ERR_CHECK, "interface '%s' does not hold %s/32", ifname, have);
	} else if (meta.flags & PODLANE_META_F_NO_DEFAULT_ROUTE) {
		ret = 0;	/* the pod's routes are another interface's business */
	} else if (nl_route_has(&pod, link.ifindex, gw, 32, 0) != 1) {
		api_fail(e, PODLANE_ERR_CHECK, "pod has no route to %s dev %s", PODLANE_GATEWAY4,
			ifname);
	} else if (nl_route_has(&pod, link.ifindex, 0, 0, gw) != 1) {
		api_fail(e, PODLANE_ERR_CHECK, "pod has no default route via %s dev %s",
			PODLANE_GATEWAY4, ifname);
	} else {
		ret = 0;
	}
	nl_close(&pod);
	return ret;
}

