// SPDX-License-Identifier: GPL-2.0-only
/*
 * genl.c - per-cgroup CPU, memory and pressure from podlane.ko (a libmnl client of its
 * generic-netlink family) or, with the same records, from cgroupfs. See genl.h.
 *
 * Self-contained on purpose (libc and libmnl only): the 6.1 guest's benchmark compiles it in.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include "genl.h"

#define GENL_BUF_SIZE	(64 * 1024)

/* ---- netlink plumbing ---- */

struct genl_call {
	struct pl_genl	*g;
	pl_genl_msg_cb	cb;	/* per data message */
	void		*data;
	int		stopped;	/* cb asked to stop: drain, then return this */
};

static int ack_attr_cb(const struct nlattr *attr, void *data)
{
	struct pl_genl *g = data;

	if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
	    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
		snprintf(g->errmsg, sizeof(g->errmsg), "%s", mnl_attr_get_str(attr));
	return MNL_CB_OK;
}

/*
 * NLMSG_ERROR or NLMSG_DONE: the error code, and the kernel's message when it sent one. A code
 * the kernel never sends (above 0, below -MAX_ERRNO) is -EBADMSG: a positive one would read as
 * "more to come" and leave the caller waiting for a datagram that never arrives.
 */
static int parse_ack(struct pl_genl *g, const struct nlmsghdr *nlh)
{
	unsigned int off;
	int err;

	if (nlh->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

		if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
			return -EBADMSG;
		err = e->error;
		off = sizeof(*e);
		if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
			off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
	} else {
		if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(int)))
			return -EBADMSG;
		err = *(const int *)mnl_nlmsg_get_payload(nlh);
		off = sizeof(int);
	}
	if ((nlh->nlmsg_flags & NLM_F_ACK_TLVS) && mnl_nlmsg_size(off) <= nlh->nlmsg_len)
		mnl_attr_parse(nlh, off, ack_attr_cb, g);
	return err > 0 || err < -4095 ? -EBADMSG : err;
}

static struct nlmsghdr *msg_start(struct pl_genl *g, void *buf, uint16_t type, uint8_t cmd,
				  uint8_t version, uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *gh;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	nlh->nlmsg_seq = ++g->seq;
	gh = mnl_nlmsg_put_extra_header(nlh, sizeof(*gh));
	gh->cmd = cmd;
	gh->version = version;
	return nlh;
}

int pl_genl_rx(struct pl_genl *g, const void *buf, size_t len, uint32_t seq, pl_genl_msg_cb cb,
	       void *data, int *stopped)
{
	const struct nlmsghdr *nlh = buf;
	int left = len > INT_MAX ? INT_MAX : (int)len;

	/*
	 * libmnl 1.0.4's mnl_nlmsg_ok() compares nlmsg_len as an int, so a length of 0xffffffff
	 * passes and mnl_nlmsg_next() then steps by 0 (its 4-byte alignment wraps): the loop
	 * would never end. The unsigned comparison refuses it.
	 */
	for (; mnl_nlmsg_ok(nlh, left) && nlh->nlmsg_len <= (unsigned int)left;
	     nlh = mnl_nlmsg_next(nlh, &left)) {
		if (nlh->nlmsg_seq != seq || nlh->nlmsg_pid != g->portid)
			continue;
		if (nlh->nlmsg_type == NLMSG_ERROR || nlh->nlmsg_type == NLMSG_DONE) {
			int err = parse_ack(g, nlh);

			return *stopped && !err ? *stopped : err;
		}
		if (*stopped || !cb)
			continue;
		if (cb(nlh, data) != MNL_CB_OK)
			*stopped = -ECANCELED;
	}
	return 1;
}

/* Send one request and read to its final ACK or DONE, handing data messages to c->cb. */
static int transact(struct genl_call *c, const struct nlmsghdr *req)
{
	struct pl_genl *g = c->g;
	int ret;

	g->errmsg[0] = '\0';
	if (mnl_socket_sendto(g->nl, req, req->nlmsg_len) < 0)
		return -errno;
	do {
		ssize_t n = mnl_socket_recvfrom(g->nl, g->rx, GENL_BUF_SIZE);

		if (n < 0)
			return -errno;
		ret = pl_genl_rx(g, g->rx, n, req->nlmsg_seq, c->cb, c->data, &c->stopped);
	} while (ret == 1);
	return ret;
}

static int family_attr_cb(const struct nlattr *attr, void *data)
{
	if (mnl_attr_get_type(attr) == CTRL_ATTR_FAMILY_ID &&
	    mnl_attr_validate(attr, MNL_TYPE_U16) == 0)
		*(uint16_t *)data = mnl_attr_get_u16(attr);
	return MNL_CB_OK;
}

int pl_genl_family_parse(const struct nlmsghdr *nlh, void *family)
{
	mnl_attr_parse(nlh, GENL_HDRLEN, family_attr_cb, family);
	return MNL_CB_OK;
}

int pl_genl_open(struct pl_genl *g)
{
	char buf[256];
	struct genl_call c = { .g = g, .cb = pl_genl_family_parse, .data = &g->family };
	struct nlmsghdr *nlh;
	int one = 1, err;

	memset(g, 0, sizeof(*g));
	g->rx = malloc(GENL_BUF_SIZE);
	if (!g->rx)
		return -ENOMEM;
	g->nl = mnl_socket_open(NETLINK_GENERIC);
	if (!g->nl) {
		err = -errno;
		pl_genl_close(g);
		return err;
	}
	if (mnl_socket_bind(g->nl, 0, MNL_SOCKET_AUTOPID) ||
	    mnl_socket_setsockopt(g->nl, NETLINK_EXT_ACK, &one, sizeof(one))) {
		err = -errno;
		pl_genl_close(g);
		return err;
	}
	g->portid = mnl_socket_get_portid(g->nl);
	g->seq = time(NULL);
	nlh = msg_start(g, buf, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, 0);
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, PODLANE_GENL_NAME);
	err = transact(&c, nlh);
	if (!err && !g->family)
		err = -ENOENT;
	if (err) {
		pl_genl_close(g);
		return err;
	}
	return 0;
}

void pl_genl_close(struct pl_genl *g)
{
	if (g->nl)
		mnl_socket_close(g->nl);
	free(g->rx);
	g->nl = NULL;
	g->rx = NULL;
	g->family = 0;
}

/* ---- replies ---- */

struct top_attrs {
	const struct nlattr *tb[PODLANE_A_MAX + 1];
};

static int top_attr_cb(const struct nlattr *attr, void *data)
{
	struct top_attrs *t = data;

	/* A newer module may send more: what this build does not know is skipped. */
	if (mnl_attr_type_valid(attr, PODLANE_A_MAX) < 0)
		return MNL_CB_OK;
	t->tb[mnl_attr_get_type(attr)] = attr;
	return MNL_CB_OK;
}

static void parse_top(const struct nlmsghdr *nlh, struct top_attrs *t)
{
	memset(t, 0, sizeof(*t));
	mnl_attr_parse(nlh, GENL_HDRLEN, top_attr_cb, t);
}

static uint64_t attr_u64(const struct nlattr *a)
{
	return a && mnl_attr_validate(a, MNL_TYPE_U64) == 0 ? mnl_attr_get_u64(a) : 0;
}

static int psi_attr_cb(const struct nlattr *attr, void *data)
{
	struct pl_psi *p = data;
	int type = mnl_attr_get_type(attr);

	switch (type) {
	case PODLANE_PSI_A_SOME_AVG10:
	case PODLANE_PSI_A_SOME_AVG60:
	case PODLANE_PSI_A_SOME_AVG300:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) == 0)
			p->some_avg[type - PODLANE_PSI_A_SOME_AVG10] =
				mnl_attr_get_u32(attr) / 100.0;
		break;
	case PODLANE_PSI_A_FULL_AVG10:
	case PODLANE_PSI_A_FULL_AVG60:
	case PODLANE_PSI_A_FULL_AVG300:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) == 0)
			p->full_avg[type - PODLANE_PSI_A_FULL_AVG10] =
				mnl_attr_get_u32(attr) / 100.0;
		p->has_full = true;
		break;
	case PODLANE_PSI_A_SOME_TOTAL_US:
		p->some_total_us = attr_u64(attr);
		p->valid = true;
		break;
	case PODLANE_PSI_A_FULL_TOTAL_US:
		p->full_total_us = attr_u64(attr);
		p->has_full = true;
		break;
	}
	return MNL_CB_OK;
}

static void parse_psi(const struct nlattr *nest, struct pl_psi *p)
{
	memset(p, 0, sizeof(*p));
	if (nest)
		mnl_attr_parse_nested(nest, psi_attr_cb, p);
}

int pl_genl_version_parse(const struct nlmsghdr *nlh, void *data)
{
	struct pl_genl_version *v = data;
	struct top_attrs t;

	parse_top(nlh, &t);
	if (t.tb[PODLANE_A_VERSION] && !mnl_attr_validate(t.tb[PODLANE_A_VERSION], MNL_TYPE_U32))
		v->version = mnl_attr_get_u32(t.tb[PODLANE_A_VERSION]);
	v->features = attr_u64(t.tb[PODLANE_A_FEATURES]);
	if (t.tb[PODLANE_A_KERNEL_RELEASE] &&
	    !mnl_attr_validate(t.tb[PODLANE_A_KERNEL_RELEASE], MNL_TYPE_NUL_STRING))
		snprintf(v->kernel_release, sizeof(v->kernel_release), "%s",
			 mnl_attr_get_str(t.tb[PODLANE_A_KERNEL_RELEASE]));
	if (t.tb[PODLANE_A_CONFIG_CGROUP_PSI] &&
	    !mnl_attr_validate(t.tb[PODLANE_A_CONFIG_CGROUP_PSI], MNL_TYPE_U8))
		v->cgroup_psi = mnl_attr_get_u8(t.tb[PODLANE_A_CONFIG_CGROUP_PSI]);
	return MNL_CB_OK;
}

int pl_genl_version(struct pl_genl *g, struct pl_genl_version *v)
{
	char buf[256];
	struct genl_call c = { .g = g, .cb = pl_genl_version_parse, .data = v };

	memset(v, 0, sizeof(*v));
	return transact(&c, msg_start(g, buf, g->family, PODLANE_CMD_GET_VERSION,
				      PODLANE_GENL_VERSION, 0));
}

int pl_genl_pressure_parse(const struct nlmsghdr *nlh, void *data)
{
	struct pl_psi *psi = data;
	struct top_attrs t;

	parse_top(nlh, &t);
	parse_psi(t.tb[PODLANE_A_PSI_CPU], &psi[PL_PSI_CPU]);
	parse_psi(t.tb[PODLANE_A_PSI_MEMORY], &psi[PL_PSI_MEMORY]);
	parse_psi(t.tb[PODLANE_A_PSI_IO], &psi[PL_PSI_IO]);
	return MNL_CB_OK;
}

int pl_genl_node_pressure(struct pl_genl *g, struct pl_psi psi[PL_PSI_NR])
{
	char buf[256];
	struct genl_call c = { .g = g, .cb = pl_genl_pressure_parse, .data = psi };

	memset(psi, 0, sizeof(*psi) * PL_PSI_NR);
	return transact(&c, msg_start(g, buf, g->family, PODLANE_CMD_NODE_PRESSURE,
				      PODLANE_GENL_VERSION, 0));
}

int pl_genl_cgroup_parse(const struct nlmsghdr *nlh, struct pl_cgroup_info *info)
{
	struct top_attrs t;
	const struct nlattr *a;

	memset(info, 0, sizeof(*info));
	parse_top(nlh, &t);
	if (!t.tb[PODLANE_A_CGROUP_ID] || !t.tb[PODLANE_A_CGROUP_PATH] ||
	    mnl_attr_validate(t.tb[PODLANE_A_CGROUP_PATH], MNL_TYPE_NUL_STRING))
		return -EINVAL;
	info->id = attr_u64(t.tb[PODLANE_A_CGROUP_ID]);
	info->path = mnl_attr_get_str(t.tb[PODLANE_A_CGROUP_PATH]);
	a = t.tb[PODLANE_A_CGROUP_LEVEL];
	if (a && !mnl_attr_validate(a, MNL_TYPE_U32))
		info->level = mnl_attr_get_u32(a);
	if (t.tb[PODLANE_A_CPU_USAGE_US]) {
		info->has_cpu = true;
		info->cpu_usage_us = attr_u64(t.tb[PODLANE_A_CPU_USAGE_US]);
		info->cpu_user_us = attr_u64(t.tb[PODLANE_A_CPU_USER_US]);
		info->cpu_system_us = attr_u64(t.tb[PODLANE_A_CPU_SYSTEM_US]);
	}
	if (t.tb[PODLANE_A_MEMORY_CURRENT]) {
		info->has_memory = true;
		info->memory_current = attr_u64(t.tb[PODLANE_A_MEMORY_CURRENT]);
	}
	if (t.tb[PODLANE_A_MEMORY_MAX]) {
		info->has_memory_max = true;
		info->memory_max = attr_u64(t.tb[PODLANE_A_MEMORY_MAX]);
	}
	parse_psi(t.tb[PODLANE_A_PSI_CPU], &info->psi[PL_PSI_CPU]);
	parse_psi(t.tb[PODLANE_A_PSI_MEMORY], &info->psi[PL_PSI_MEMORY]);
	parse_psi(t.tb[PODLANE_A_PSI_IO], &info->psi[PL_PSI_IO]);
	return 0;
}

struct dump_ctx {
	pl_cgroup_cb cb;
	void *data;
};

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *d = data;
	struct pl_cgroup_info info;

	/* A record without id or path is skipped. */
	if (pl_genl_cgroup_parse(nlh, &info))
		return MNL_CB_OK;
	return d->cb(&info, d->data) ? MNL_CB_STOP : MNL_CB_OK;
}

int pl_genl_cgroup_dump(struct pl_genl *g, uint64_t id, pl_cgroup_cb cb, void *data)
{
	char buf[256];
	struct dump_ctx d = { .cb = cb, .data = data };
	struct genl_call c = { .g = g, .cb = dump_cb, .data = &d };
	struct nlmsghdr *nlh;

	nlh = msg_start(g, buf, g->family, PODLANE_CMD_CGROUP_DUMP, PODLANE_GENL_VERSION,
			NLM_F_DUMP);
	if (id)
		mnl_attr_put_u64(nlh, PODLANE_A_CGROUP_ID, id);
	return transact(&c, nlh);
}

/* ---- cgroupfs ---- */

int pl_cgroup2_mount(char *buf, size_t len)
{
	char line[1024], dev[256], dir[PATH_MAX], type[64];
	FILE *f = fopen("/proc/self/mounts", "re");
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%255s %4095s %63s", dev, dir, type) != 3 ||
		    strcmp(type, "cgroup2"))
			continue;
		snprintf(buf, len, "%s", dir);
		err = 0;
		break;
	}
	fclose(f);
	return err;
}

/* Read a small file whole; returns its length or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		n = -errno;
	else
		buf[n] = '\0';
	close(fd);
	return n;
}

static void psi_parse_line(const char *line, double avg[3], uint64_t *total)
{
	const char *p;

	p = strstr(line, "avg10=");
	if (p)
		avg[0] = strtod(p + 6, NULL);
	p = strstr(line, "avg60=");
	if (p)
		avg[1] = strtod(p + 6, NULL);
	p = strstr(line, "avg300=");
	if (p)
		avg[2] = strtod(p + 7, NULL);
	p = strstr(line, "total=");
	if (p)
		*total = strtoull(p + 6, NULL, 10);
}

int pl_psi_read_file(const char *path, struct pl_psi *psi)
{
	char buf[512], *full;
	ssize_t n;

	memset(psi, 0, sizeof(*psi));
	n = read_small(path, buf, sizeof(buf));
	if (n < 0)
		return n;
	if (strncmp(buf, "some ", 5))
		return -EINVAL;
	psi_parse_line(buf, psi->some_avg, &psi->some_total_us);
	full = strstr(buf, "\nfull ");
	if (full) {
		psi->has_full = true;
		psi_parse_line(full, psi->full_avg, &psi->full_total_us);
	}
	psi->valid = true;
	return 0;
}

int pl_psi_read_node(struct pl_psi psi[PL_PSI_NR])
{
	static const char *const files[PL_PSI_NR] = {
		"/proc/pressure/cpu", "/proc/pressure/memory", "/proc/pressure/io",
	};
	int i, ret, err = 0;

	for (i = 0; i < PL_PSI_NR; i++) {
		ret = pl_psi_read_file(files[i], &psi[i]);
		if (ret)
			err = ret;
	}
	return err;
}

static uint64_t stat_field(const char *text, const char *key)
{
	size_t klen = strlen(key);
	const char *p = text;

	while ((p = strstr(p, key))) {
		if ((p == text || p[-1] == '\n') && p[klen] == ' ')
			return strtoull(p + klen + 1, NULL, 10);
		p += klen;
	}
	return 0;
}

int pl_cgroupfs_read(const char *mount, const char *rel, bool with_psi,
		     struct pl_cgroup_info *info)
{
	static const char *const psi_files[PL_PSI_NR] = {
		"cpu.pressure", "memory.pressure", "io.pressure",
	};
	char dir[PATH_MAX], path[PATH_MAX + 32], buf[1024];
	struct stat st;
	int i;

	memset(info, 0, sizeof(*info));
	snprintf(dir, sizeof(dir), "%s%s%s", mount, rel[0] == '/' ? "" : "/", rel);
	if (stat(dir, &st))
		return -errno;
	info->id = st.st_ino;
	info->path = rel;
	snprintf(path, sizeof(path), "%s/cpu.stat", dir);
	if (read_small(path, buf, sizeof(buf)) > 0) {
		info->has_cpu = true;
		info->cpu_usage_us = stat_field(buf, "usage_usec");
		info->cpu_user_us = stat_field(buf, "user_usec");
		info->cpu_system_us = stat_field(buf, "system_usec");
	}
	snprintf(path, sizeof(path), "%s/memory.current", dir);
	if (read_small(path, buf, sizeof(buf)) > 0) {
		info->has_memory = true;
		info->memory_current = strtoull(buf, NULL, 10);
		snprintf(path, sizeof(path), "%s/memory.max", dir);
		if (read_small(path, buf, sizeof(buf)) > 0 && strncmp(buf, "max", 3)) {
			info->has_memory_max = true;
			info->memory_max = strtoull(buf, NULL, 10);
		}
	}
	for (i = 0; with_psi && i < PL_PSI_NR; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, psi_files[i]);
		pl_psi_read_file(path, &info->psi[i]);
	}
	return 0;
}

static int walk(const char *mount, char *rel, size_t cap, bool with_psi, pl_cgroup_cb cb,
		void *data, int depth)
{
	struct pl_cgroup_info info;
	char dir[PATH_MAX];
	struct dirent *de;
	size_t len;
	DIR *d;
	int ret;

	ret = pl_cgroupfs_read(mount, rel, with_psi, &info);
	if (ret)
		/* Removed meanwhile: skipped, as a dump would skip it. */
		return ret == -ENOENT ? 0 : ret;
	info.level = depth;
	ret = cb(&info, data);
	if (ret)
		return ret;
	snprintf(dir, sizeof(dir), "%s%s", mount, rel);
	d = opendir(dir);
	if (!d)
		return 0;
	len = strlen(rel);
	while ((de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if (len + strlen(de->d_name) + 2 >= cap)
			continue;
		snprintf(rel + len, cap - len, "%s%s", len > 1 ? "/" : "", de->d_name);
		ret = walk(mount, rel, cap, with_psi, cb, data, depth + 1);
		rel[len] = '\0';
		if (ret)
			break;
	}
	closedir(d);
	return ret;
}

int pl_cgroupfs_walk(const char *mount, const char *rel, bool with_psi, pl_cgroup_cb cb,
		     void *data)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s", rel && rel[0] ? rel : "/");
	return walk(mount, path, sizeof(path), with_psi, cb, data, 0);
}
