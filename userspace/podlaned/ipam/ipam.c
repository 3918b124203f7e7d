// SPDX-License-Identifier: GPL-2.0-only
/*
 * ipam/ipam.c - podlane's own address management, one directory per CNI network:
 *
 *   <state-dir>/ipam/<network>/subnet         "10.244.0.0/24"
 *   <state-dir>/ipam/<network>/last_reserved  hint: the address handed out last
 *   <state-dir>/ipam/<network>/<a.b.c.d>      "container_id\nifname\n"
 *
 * An address is taken iff its file exists; files are created with O_EXCL, so a crash at any
 * point can never hand one address out twice (at worst it leaks one, which DEL/GC reclaims).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/stat.h>

#include "core/addr.h"
#include "core/agent.h"
#include "core/fs.h"
#include "ipam/ipam.h"
#include "log.h"

static void network_dir(struct agent *a, const char *network, char *buf, size_t len)
{
	snprintf(buf, len, "%s/ipam/%s", a->state_dir, network);
}

/* Parse an allocation file's "container_id\nifname\n". */
static void parse_owner(const char *text, struct ipam_entry *ent)
{
	const char *nl = strchr(text, '\n');
	size_t n = nl ? (size_t)(nl - text) : strlen(text);

	snprintf(ent->container_id, sizeof(ent->container_id), "%.*s", (int)n, text);
	ent->ifname[0] = '\0';
	if (nl) {
		const char *ifn = nl + 1;

		n = strcspn(ifn, "\n");
		snprintf(ent->ifname, sizeof(ent->ifname), "%.*s", (int)n, ifn);
	}
}

static int walk_network(struct agent *a, const char *network, ipam_walk_cb cb, void *data)
{
	char dir[PATH_MAX], path[PATH_MAX + 300], text[PODLANE_CONTAINER_ID_LEN + 64];
	struct dirent *de;
	int ret = 0;
	DIR *d;

	network_dir(a, network, dir, sizeof(dir));
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		struct ipam_entry ent = {};
		struct in_addr in;

		/* Only files named like an address are allocations (not subnet, hints, temps). */
		if (inet_pton(AF_INET, de->d_name, &in) != 1)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (read_small_file(path, text, sizeof(text)) < 0)
			text[0] = '\0';
		ent.addr = in.s_addr;
		parse_owner(text, &ent);
		ret = cb(network, &ent, data);
		if (ret)
			break;
	}
	closedir(d);
	return ret;
}

int ipam_walk(struct agent *a, const char *network, ipam_walk_cb cb, void *data)
{
	char dir[PATH_MAX];
	struct dirent *de;
	int ret = 0;
	DIR *d;

	if (network)
		return walk_network(a, network, cb, data);
	snprintf(dir, sizeof(dir), "%s/ipam", a->state_dir);
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d)) && !ret) {
		if (de->d_name[0] == '.')
			continue;
		ret = walk_network(a, de->d_name, cb, data);
	}
	closedir(d);
	return ret;
}

struct owner_search {
	const char *container_id;
	const char *ifname;
	in_addr_t addr;
	int count;
};

static int count_cb(const char *network, const struct ipam_entry *ent, void *data)
{
	((struct owner_search *)data)->count++;
	return 0;
}

/* Make sure network's recorded subnet is sn; a change is refused while addresses are out. */
static int check_subnet(struct agent *a, const char *network, const struct subnet4 *sn,
			struct api_error *e)
{
	char dir[PATH_MAX], path[PATH_MAX + 16], want[CIDR4_STRLEN], have[64];
	struct owner_search s = {};
	int err;

	network_dir(a, network, dir, sizeof(dir));
	err = mkdir_p(dir, 0755);
	if (err)
		return api_fail(e, PODLANE_ERR_IO, "failed to create IPAM directory '%s': %s", dir,
			       strerror(-err));
	cidr4_str(sn->net, sn->prefix_len, want);
	snprintf(path, sizeof(path), "%s/subnet", dir);
	if (read_small_file(path, have, sizeof(have)) > 0) {
		have[strcspn(have, "\n")] = '\0';
		if (!strcmp(have, want))
			return 0;
		walk_network(a, network, count_cb, &s);
		if (s.count)
			return api_fail(e, PODLANE_ERR_INVALID_CONFIG,
				       "network '%s' allocates from %s, cannot switch to %s while "
				       "%d addresses are allocated", network, have, want, s.count);
		log_info("network subnet changed network=%s old=%s new=%s", network, have, want);
	}
	snprintf(have, sizeof(have), "%s\n", want);
	err = write_file_atomic(path, have, true);
	if (err)
		return api_fail(e, PODLANE_ERR_IO, "failed to write '%s': %s", path,
			       strerror(-err));
	return 0;
}

int ipam_alloc(struct agent *a, const char *network, const char *subnet, const char *container_id,
	       const char *ifname, in_addr_t *addr, bool *fresh, struct api_error *e)
{
	char dir[PATH_MAX], path[PATH_MAX + 32], text[PODLANE_CONTAINER_ID_LEN + 32];
	uint32_t first, last, start, cur, span, i;
	struct subnet4 sn;
	struct in_addr in;
	int err;

	*fresh = false;
	if (subnet_parse(subnet, &sn))
		return api_fail(e, PODLANE_ERR_INVALID_CONFIG,
			       "invalid subnet '%s': want a.b.c.d/len", subnet ? subnet : "");
	if (sn.prefix_len > 30)
		return api_fail(e, PODLANE_ERR_INVALID_CONFIG,
			       "subnet '%s' is too small: a /30 or larger is needed", subnet);
	err = check_subnet(a, network, &sn, e);
	if (err)
		return err;

	/*
	 * No search for an address this attachment already holds: every allocation belongs to an
	 * endpoint (a repeated ADD is answered from the endpoint before we get here, a failed ADD
	 * rolls back, and start-up releases allocations left without one), so a lookup here
	 * would only cost a directory walk per ADD.
	 */
	network_dir(a, network, dir, sizeof(dir));
	first = ntohl(sn.net) + 1;
	last = ntohl(sn.net) + (uint32_t)((1ULL << (32 - sn.prefix_len)) - 2);
	span = last - first + 1;
	start = first;
	snprintf(path, sizeof(path), "%s/last_reserved", dir);
	if (read_small_file(path, text, sizeof(text)) > 0) {
		text[strcspn(text, "\n")] = '\0';
		if (inet_pton(AF_INET, text, &in) == 1 && ntohl(in.s_addr) >= first &&
		    ntohl(in.s_addr) < last)
			start = ntohl(in.s_addr) + 1;
	}

	snprintf(text, sizeof(text), "%s\n%s\n", container_id, ifname);
	for (i = 0, cur = start; i < span; i++, cur = cur == last ? first : cur + 1) {
		char ip[INET_ADDRSTRLEN];
		ssize_t len = strlen(text);
		int fd;

		in.s_addr = htonl(cur);
		inet_ntop(AF_INET, &in, ip, sizeof(ip));
		snprintf(path, sizeof(path), "%s/%s", dir, ip);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0) {
			if (errno == EEXIST)
				continue;
			return api_fail(e, PODLANE_ERR_IO, "failed to create '%s': %s", path,
				       strerror(errno));
		}
		/*
		 * No fsync: O_EXCL creation already makes the file the allocation for any
		 * agent crash; after a node crash the pods are gone too and start-up releases
		 * allocations without an endpoint.
		 */
		if (write(fd, text, len) != len) {
			err = errno ? errno : EIO;
			close(fd);
			unlink(path);
			return api_fail(e, PODLANE_ERR_IO, "failed to write '%s': %s", path,
				       strerror(err));
		}
		close(fd);
		snprintf(path, sizeof(path), "%s/last_reserved", dir);
		snprintf(text, sizeof(text), "%s\n", ip);
		/* Only a hint: losing it costs a longer scan next time, nothing else. */
		if (write_file_atomic(path, text, false))
			log_warn("failed to write IPAM hint path=%s", path);
		*addr = in.s_addr;
		*fresh = true;
		return 0;
	}
	return api_fail(e, PODLANE_ERR_POOL_EXHAUSTED, "no free address left in %s for network '%s'",
		       subnet, network);
}

static int release_cb(const char *network, const struct ipam_entry *ent, void *data)
{
	struct owner_search *s = data;

	if (strcmp(ent->container_id, s->container_id) || strcmp(ent->ifname, s->ifname))
		return 0;
	s->addr = ent->addr;
	return 2;
}

/* 1 released, 0 not allocated, -errno when the file stays (the address stays allocated). */
static int unlink_addr(struct agent *a, const char *network, in_addr_t addr)
{
	char dir[PATH_MAX], path[PATH_MAX + 32], ip[INET_ADDRSTRLEN];
	int err;

	network_dir(a, network, dir, sizeof(dir));
	inet_ntop(AF_INET, &addr, ip, sizeof(ip));
	snprintf(path, sizeof(path), "%s/%s", dir, ip);
	if (unlink(path)) {
		if (errno == ENOENT)
			return 0;
		err = -errno;
		log_warn("failed to release address path=%s err=\"%s\"", path, strerror(-err));
		return err;
	}
	log_info("address released network=%s ip=%s", network, ip);
	return 1;
}

int ipam_release(struct agent *a, const char *network, const char *container_id,
		 const char *ifname, in_addr_t *stuck)
{
	struct owner_search s = { .container_id = container_id, .ifname = ifname };
	int n = 0, i, err;

	/* One address per attachment is the norm; the bound only guards against a bad state dir. */
	for (i = 0; i < 64; i++) {
		if (walk_network(a, network, release_cb, &s) != 2)
			break;
		err = unlink_addr(a, network, s.addr);
		if (err < 0) {
			if (stuck)
				*stuck = s.addr;
			return err;
		}
		if (!err)
			break;
		n++;
	}
	return n;
}

int ipam_release_addr(struct agent *a, const char *network, in_addr_t addr,
		      const char *container_id, const char *ifname)
{
	char dir[PATH_MAX], path[PATH_MAX + 32], ip[INET_ADDRSTRLEN];
	char text[PODLANE_CONTAINER_ID_LEN + 64];
	struct ipam_entry ent;
	int err;

	network_dir(a, network, dir, sizeof(dir));
	inet_ntop(AF_INET, &addr, ip, sizeof(ip));
	snprintf(path, sizeof(path), "%s/%s", dir, ip);
	err = read_small_file(path, text, sizeof(text));
	if (err == -ENOENT)
		return 0;
	if (err < 0)
		return err;
	parse_owner(text, &ent);
	if (strcmp(ent.container_id, container_id) || strcmp(ent.ifname, ifname)) {
		log_warn("address owned by someone else, not released network=%s ip=%s owner=%s",
			 network, ip, ent.container_id);
		return 0;
	}
	return unlink_addr(a, network, addr);
}

int ipam_pools(struct agent *a, ipam_pool_cb cb, void *data)
{
	char dir[PATH_MAX], path[PATH_MAX + 300], subnet[64];
	struct dirent *de;
	int ret = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/ipam", a->state_dir);
	d = opendir(dir);
	if (!d)
		return 0;
	while (!ret && (de = readdir(d))) {
		struct owner_search s = {};
		struct ipam_pool pool = { .network = de->d_name, .subnet = subnet };

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/subnet", dir, de->d_name);
		if (read_small_file(path, subnet, sizeof(subnet)) < 0)
			subnet[0] = '\0';
		subnet[strcspn(subnet, "\n")] = '\0';
		walk_network(a, de->d_name, count_cb, &s);
		pool.allocated = s.count;
		ret = cb(&pool, data);
	}
	closedir(d);
	return ret;
}
