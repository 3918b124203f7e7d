// SPDX-License-Identifier: GPL-2.0-only
/*
 * ipam.c - podlane's own address management, one directory per CNI network:
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

#include "agent.h"
#include "log.h"

int subnet_parse(const char *s, struct subnet4 *sn)
{
	char buf[32], *slash, *end;
	struct in_addr in;
	unsigned long len;
	uint32_t mask;

	if (!s || strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (!slash)
		return -EINVAL;
	*slash = '\0';
	errno = 0;
	len = strtoul(slash + 1, &end, 10);
	if (errno || *end || end == slash + 1 || len > 32)
		return -EINVAL;
	if (inet_pton(AF_INET, buf, &in) != 1)
		return -EINVAL;
	mask = len ? htonl(~0U << (32 - len)) : 0;
	sn->net = in.s_addr & mask;
	sn->prefix_len = len;
	return 0;
}

bool subnet_contains(const struct subnet4 *sn, in_addr_t addr)
{
	uint32_t mask = sn->prefix_len ? htonl(~0U << (32 - sn->prefix_len)) : 0;

	return (addr & mask) == sn->net;
}

static void subnet_str(const struct subnet4 *sn, char *buf, size_t len)
{
	char ip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &sn->net, ip, sizeof(ip));
	snprintf(buf, len, "%s/%u", ip, sn->prefix_len);
}

static void network_dir(struct agent *a, const char *network, char *buf, size_t len)
{
	snprintf(buf, len, "%s/ipam/%s", a->state_dir, network);
}

static int read_small_file(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return n;
}

/*
 * Write path atomically (temp file + rename) so a crash of the agent leaves the old or the new
 * content; durable also survives a crash of the node (fsync before the rename).
 */
static int write_file_atomic(const char *path, const char *text, bool durable)
{
	char tmp[PATH_MAX];
	size_t len = strlen(text);
	int fd, err = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len)
		err = errno ? -errno : -EIO;
	if (!err && durable && fsync(fd))
		err = -errno;
	close(fd);
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX], *p;

	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) && errno != EEXIST)
		return -errno;
	return 0;
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
			struct op_error *e)
{
	char dir[PATH_MAX], path[PATH_MAX + 16], want[32], have[64];
	struct owner_search s = {};
	int err;

	network_dir(a, network, dir, sizeof(dir));
	err = mkdir_p(dir, 0755);
	if (err)
		return op_fail(e, PODLANE_ERR_IO, "failed to create IPAM directory '%s': %s", dir,
			       strerror(-err));
	subnet_str(sn, want, sizeof(want));
	snprintf(path, sizeof(path), "%s/subnet", dir);
	if (read_small_file(path, have, sizeof(have)) > 0) {
		have[strcspn(have, "\n")] = '\0';
		if (!strcmp(have, want))
			return 0;
		walk_network(a, network, count_cb, &s);
		if (s.count)
			return op_fail(e, PODLANE_ERR_INVALID_CONFIG,
				       "network '%s' allocates from %s, cannot switch to %s while "
				       "%d addresses are allocated", network, have, want, s.count);
		log_info("network subnet changed network=%s old=%s new=%s", network, have, want);
	}
	snprintf(have, sizeof(have), "%s\n", want);
	err = write_file_atomic(path, have, true);
	if (err)
		return op_fail(e, PODLANE_ERR_IO, "failed to write '%s': %s", path,
			       strerror(-err));
	return 0;
}

int ipam_alloc(struct agent *a, const char *network, const char *subnet, const char *container_id,
	       const char *ifname, in_addr_t *addr, bool *fresh, struct op_error *e)
{
	char dir[PATH_MAX], path[PATH_MAX + 32], text[PODLANE_CONTAINER_ID_LEN + 32];
	uint32_t first, last, start, cur, span, i;
	struct subnet4 sn;
	struct in_addr in;
	int err;

	*fresh = false;
	if (subnet_parse(subnet, &sn))
		return op_fail(e, PODLANE_ERR_INVALID_CONFIG,
			       "invalid subnet '%s': want a.b.c.d/len", subnet ? subnet : "");
	if (sn.prefix_len > 30)
		return op_fail(e, PODLANE_ERR_INVALID_CONFIG,
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
			return op_fail(e, PODLANE_ERR_IO, "failed to create '%s': %s", path,
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
			return op_fail(e, PODLANE_ERR_IO, "failed to write '%s': %s", path,
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
	return op_fail(e, PODLANE_ERR_POOL_EXHAUSTED, "no free address left in %s for network '%s'",
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

static int unlink_addr(struct agent *a, const char *network, in_addr_t addr)
{
	char dir[PATH_MAX], path[PATH_MAX + 32], ip[INET_ADDRSTRLEN];

	network_dir(a, network, dir, sizeof(dir));
	inet_ntop(AF_INET, &addr, ip, sizeof(ip));
	snprintf(path, sizeof(path), "%s/%s", dir, ip);
	if (unlink(path)) {
		if (errno != ENOENT)
			log_warn("failed to release address path=%s err=\"%s\"", path,
				 strerror(errno));
		return 0;
	}
	log_info("address released network=%s ip=%s", network, ip);
	return 1;
}

int ipam_release(struct agent *a, const char *network, const char *container_id,
		 const char *ifname)
{
	struct owner_search s = { .container_id = container_id, .ifname = ifname };
	int n = 0, i;

	/* One address per attachment is the norm; the bound only guards against a bad state dir. */
	for (i = 0; i < 64; i++) {
		if (walk_network(a, network, release_cb, &s) != 2)
			break;
		if (!unlink_addr(a, network, s.addr))
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

	network_dir(a, network, dir, sizeof(dir));
	inet_ntop(AF_INET, &addr, ip, sizeof(ip));
	snprintf(path, sizeof(path), "%s/%s", dir, ip);
	if (read_small_file(path, text, sizeof(text)) < 0)
		return 0;
	parse_owner(text, &ent);
	if (strcmp(ent.container_id, container_id) || strcmp(ent.ifname, ifname)) {
		log_warn("address owned by someone else, not released network=%s ip=%s owner=%s",
			 network, ip, ent.container_id);
		return 0;
	}
	return unlink_addr(a, network, addr);
}

void ipam_status(struct agent *a, struct json_object *obj)
{
	char dir[PATH_MAX], path[PATH_MAX + 300], subnet[64];
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/ipam", a->state_dir);
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		struct owner_search s = {};
		struct json_object *net;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/subnet", dir, de->d_name);
		if (read_small_file(path, subnet, sizeof(subnet)) < 0)
			subnet[0] = '\0';
		subnet[strcspn(subnet, "\n")] = '\0';
		walk_network(a, de->d_name, count_cb, &s);
		net = json_object_new_object();
		json_object_object_add(net, "subnet", json_object_new_string(subnet));
		json_object_object_add(net, "allocated", json_object_new_int(s.count));
		json_object_object_add(obj, de->d_name, net);
	}
	closedir(d);
}
