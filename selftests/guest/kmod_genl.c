// SPDX-License-Identifier: GPL-2.0-only
/*
 * kmod_genl.c - tests of podlane.ko through its generic-netlink family, printed as TAP. Runs
 * inside the 6.1 test guest (scripts/guest/run.sh) as root: it loads and unloads the module
 * itself, creates cgroups under a cgroup2 mount, and checks every rejection's extended ACK.
 *
 * Usage: kmod_genl <path/to/podlane.ko> [cgroup2-mount (default /sys/fs/cgroup)]
 */
#include <dirent.h>
#include <sched.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include "podlane_genl.h"

#define BUF_SIZE	(64 * 1024)
#define TREE_TOP	40	/* cgroups under the test root ... */
#define TREE_LEAVES	50	/* ... each with this many children: 2000 leaves */
#define PLAN		47

static int tests, failed;
static const char *ko_path, *cg_mount = "/sys/fs/cgroup";
static char test_root[256];

static void ok(bool cond, const char *fmt, ...)
{
	va_list ap;

	tests++;
	if (!cond)
		failed++;
	printf("%sok %d - ", cond ? "" : "not ", tests);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* Module loading ------------------------------------------------------------------------ */

static int module_load(void)
{
	int fd, err = 0;

	fd = open(ko_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (syscall(SYS_finit_module, fd, "", 0))
		err = errno == EEXIST ? 0 : -errno;
	close(fd);
	return err;
}

static int module_unload(void)
{
	return syscall(SYS_delete_module, "podlane", O_NONBLOCK) ? -errno : 0;
}

/* Unloading can race with the last netlink socket's RCU-deferred release: retry a while. */
static int module_unload_wait(void)
{
	int i, err = 0;

	for (i = 0; i < 200; i++) {
		err = module_unload();
		if (err != -EWOULDBLOCK && err != -EBUSY)
			return err;
		usleep(25000);
	}
	return err;
}

/* Netlink plumbing ---------------------------------------------------------------------- */

struct gsock {
	struct mnl_socket *nl;
	unsigned int portid;
	unsigned int seq;
	uint16_t family;
};

/* What came back for one request: errno, the extended ACK, and the messages. */
struct reply {
	int error;
	char msg[256];
	uint32_t bad_offs;
	bool has_offs;
	int messages;
	int batches;
	mnl_cb_t cb;
	void *data;
};

static int gsock_open(struct gsock *s)
{
	int one = 1;

	s->nl = mnl_socket_open(NETLINK_GENERIC);
	if (!s->nl)
		return -errno;
	if (mnl_socket_bind(s->nl, 0, MNL_SOCKET_AUTOPID) ||
	    mnl_socket_setsockopt(s->nl, NETLINK_EXT_ACK, &one, sizeof(one))) {
		mnl_socket_close(s->nl);
		return -errno;
	}
	s->portid = mnl_socket_get_portid(s->nl);
	s->seq = time(NULL);
	s->family = 0;
	return 0;
}

static void gsock_close(struct gsock *s)
{
	if (s->nl)
		mnl_socket_close(s->nl);
	s->nl = NULL;
}

static struct nlmsghdr *msg_start(struct gsock *s, void *buf, uint16_t type, uint8_t cmd,
				  uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	nlh->nlmsg_seq = ++s->seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = PODLANE_GENL_VERSION;
	return nlh;
}

static int ack_attr_cb(const struct nlattr *attr, void *data)
{
	struct reply *r = data;

	switch (mnl_attr_get_type(attr)) {
	case NLMSGERR_ATTR_MSG:
		if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
			snprintf(r->msg, sizeof(r->msg), "%s", mnl_attr_get_str(attr));
		break;
	case NLMSGERR_ATTR_OFFS:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) == 0) {
			r->bad_offs = mnl_attr_get_u32(attr);
			r->has_offs = true;
		}
		break;
	}
	return MNL_CB_OK;
}

/* An NLMSG_ERROR or NLMSG_DONE: take the error code and the extended ACK attributes. */
static void parse_ack(const struct nlmsghdr *nlh, struct reply *r)
{
	unsigned int off;

	if (nlh->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

		if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
			return;
		r->error = e->error;
		off = sizeof(*e);
		if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
			off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
	} else {
		if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(int)))
			return;
		r->error = *(const int *)mnl_nlmsg_get_payload(nlh);
		off = sizeof(int);
	}
	if ((nlh->nlmsg_flags & NLM_F_ACK_TLVS) && mnl_nlmsg_size(off) <= nlh->nlmsg_len)
		mnl_attr_parse(nlh, off, ack_attr_cb, r);
}

/*
 * Send @nlh (or @raw_len bytes of it, for malformed messages) and read until the final ACK
 * or DONE. @stop_after_batches > 0 returns early with the dump still in progress.
 */
static int transact_raw(struct gsock *s, const void *msg, size_t len, struct reply *r,
			int stop_after_batches)
{
	static char buf[BUF_SIZE];
	uint32_t seq = ((const struct nlmsghdr *)msg)->nlmsg_seq;
	bool done = false;

	r->error = 0;
	r->msg[0] = '\0';
	r->has_offs = false;
	r->messages = 0;
	r->batches = 0;
	if (mnl_socket_sendto(s->nl, msg, len) < 0)
		return -errno;
	while (!done) {
		ssize_t n = mnl_socket_recvfrom(s->nl, buf, sizeof(buf));
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
		int left = n;

		if (n < 0)
			return -errno;
		r->batches++;
		for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
			if (nlh->nlmsg_seq != seq)
				continue;
			if (nlh->nlmsg_type == NLMSG_ERROR || nlh->nlmsg_type == NLMSG_DONE) {
				parse_ack(nlh, r);
				done = true;
				break;
			}
			r->messages++;
			if (r->cb && r->cb(nlh, r->data) < 0) {
				r->error = -EPROTO;
			}
		}
		if (!done && stop_after_batches && r->batches >= stop_after_batches)
			return 1;
	}
	return r->error;
}

static int transact(struct gsock *s, const struct nlmsghdr *nlh, struct reply *r)
{
	return transact_raw(s, nlh, nlh->nlmsg_len, r, 0);
}

static int family_id_cb(const struct nlattr *attr, void *data)
{
	if (mnl_attr_get_type(attr) == CTRL_ATTR_FAMILY_ID &&
	    mnl_attr_validate(attr, MNL_TYPE_U16) == 0)
		*(uint16_t *)data = mnl_attr_get_u16(attr);
	return MNL_CB_OK;
}

static int family_msg_cb(const struct nlmsghdr *nlh, void *data)
{
	return mnl_attr_parse(nlh, GENL_HDRLEN, family_id_cb, data);
}

static int family_resolve(struct gsock *s)
{
	char buf[256];
	struct nlmsghdr *nlh = msg_start(s, buf, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 0);
	struct reply r = { .cb = family_msg_cb, .data = &s->family };
	struct genlmsghdr *g = mnl_nlmsg_get_payload(nlh);

	g->version = 1;
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, PODLANE_GENL_NAME);
	s->family = 0;
	return transact(s, nlh, &r) ?: (s->family ? 0 : -ENOENT);
}

/* Reply parsing ------------------------------------------------------------------------- */

struct top_attrs {
	const struct nlattr *tb[PODLANE_A_MAX + 1];
};

static int top_attr_cb(const struct nlattr *attr, void *data)
{
	struct top_attrs *t = data;
	int type = mnl_attr_get_type(attr);

	/* Newer modules may add attributes: skip what we do not know. */
	if (mnl_attr_type_valid(attr, PODLANE_A_MAX) < 0)
		return MNL_CB_OK;
	t->tb[type] = attr;
	return MNL_CB_OK;
}

static void parse_top(const struct nlmsghdr *nlh, struct top_attrs *t)
{
	memset(t, 0, sizeof(*t));
	mnl_attr_parse(nlh, GENL_HDRLEN, top_attr_cb, t);
}

struct psi_vals {
	uint32_t some_avg10, some_avg60, some_avg300;
	uint64_t some_total;
	bool has_some, has_full;
};

static int psi_attr_cb(const struct nlattr *attr, void *data)
{
	struct psi_vals *p = data;

	switch (mnl_attr_get_type(attr)) {
	case PODLANE_PSI_A_SOME_AVG10:
		p->some_avg10 = mnl_attr_get_u32(attr);
		break;
	case PODLANE_PSI_A_SOME_AVG60:
		p->some_avg60 = mnl_attr_get_u32(attr);
		break;
	case PODLANE_PSI_A_SOME_AVG300:
		p->some_avg300 = mnl_attr_get_u32(attr);
		break;
	case PODLANE_PSI_A_SOME_TOTAL_US:
		p->some_total = mnl_attr_get_u64(attr);
		p->has_some = true;
		break;
	case PODLANE_PSI_A_FULL_TOTAL_US:
		p->has_full = true;
		break;
	}
	return MNL_CB_OK;
}

static bool parse_psi(const struct nlattr *nest, struct psi_vals *p)
{
	memset(p, 0, sizeof(*p));
	if (!nest)
		return false;
	mnl_attr_parse_nested(nest, psi_attr_cb, p);
	return p->has_some && p->some_avg10 <= 10000 && p->some_avg60 <= 10000 &&
	       p->some_avg300 <= 10000;
}

/* Reads "some ... total=N" from a pressure file; -1 on failure. */
static long long psi_file_total(const char *path)
{
	long long total = -1;
	char line[256];
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	if (fgets(line, sizeof(line), f)) {
		char *t = strstr(line, "total=");

		if (t)
			total = atoll(t + 6);
	}
	fclose(f);
	return total;
}

/* Tests: version and pressure ----------------------------------------------------------- */

static uint64_t features;
static bool quiet;	/* the churn child asks for the version many times */

static int version_cb(const struct nlmsghdr *nlh, void *data)
{
	struct top_attrs t;
	bool *good = data;

	parse_top(nlh, &t);
	if (!t.tb[PODLANE_A_VERSION] || !t.tb[PODLANE_A_FEATURES] ||
	    !t.tb[PODLANE_A_KERNEL_RELEASE] || !t.tb[PODLANE_A_CONFIG_CGROUP_PSI])
		return MNL_CB_OK;
	features = mnl_attr_get_u64(t.tb[PODLANE_A_FEATURES]);
	*good = mnl_attr_get_u32(t.tb[PODLANE_A_VERSION]) == PODLANE_GENL_VERSION;
	if (!quiet)
		diag("version %u, kernel %s, features 0x%" PRIx64 ", cgroup psi %u",
		     mnl_attr_get_u32(t.tb[PODLANE_A_VERSION]),
		     mnl_attr_get_str(t.tb[PODLANE_A_KERNEL_RELEASE]), features,
		     mnl_attr_get_u8(t.tb[PODLANE_A_CONFIG_CGROUP_PSI]));
	return MNL_CB_OK;
}

static int get_version(struct gsock *s)
{
	char buf[256];
	struct nlmsghdr *nlh = msg_start(s, buf, s->family, PODLANE_CMD_GET_VERSION, 0);
	bool good = false;
	struct reply r = { .cb = version_cb, .data = &good };
	int err = transact(s, nlh, &r);

	return err ?: (good ? 0 : -EPROTO);
}

struct pressure {
	struct psi_vals res[3];
	bool parsed;
};

static int pressure_cb(const struct nlmsghdr *nlh, void *data)
{
	struct pressure *p = data;
	struct top_attrs t;

	parse_top(nlh, &t);
	p->parsed = parse_psi(t.tb[PODLANE_A_PSI_CPU], &p->res[0]) &&
		    parse_psi(t.tb[PODLANE_A_PSI_MEMORY], &p->res[1]) &&
		    parse_psi(t.tb[PODLANE_A_PSI_IO], &p->res[2]);
	return MNL_CB_OK;
}

static void test_node_pressure(struct gsock *s)
{
	static const char *const files[3] = {
		"/proc/pressure/cpu", "/proc/pressure/memory", "/proc/pressure/io"
	};
	long long before[3], after[3];
	struct pressure p = {};
	struct reply r = { .cb = pressure_cb, .data = &p };
	char buf[256];
	struct nlmsghdr *nlh;
	bool in_range = true;
	int err, i;

	if (!(features & PODLANE_F_NODE_PRESSURE)) {
		for (i = 0; i < 2; i++)
			printf("ok %d - NODE_PRESSURE # SKIP module reports no node PSI\n", ++tests);
		return;
	}
	for (i = 0; i < 3; i++)
		before[i] = psi_file_total(files[i]);
	nlh = msg_start(s, buf, s->family, PODLANE_CMD_NODE_PRESSURE, 0);
	err = transact(s, nlh, &r);
	for (i = 0; i < 3; i++)
		after[i] = psi_file_total(files[i]);
	ok(!err && p.parsed, "NODE_PRESSURE returns cpu, memory and io PSI (err %d)", err);
	for (i = 0; i < 3 && p.parsed; i++) {
		if (before[i] < 0 || (long long)p.res[i].some_total < before[i] ||
		    (long long)p.res[i].some_total > after[i])
			in_range = false;
		diag("%s: some avg10 %u.%02u total %" PRIu64 " us (procfs %lld..%lld)", files[i],
		     p.res[i].some_avg10 / 100, p.res[i].some_avg10 % 100, p.res[i].some_total,
		     before[i], after[i]);
	}
	ok(p.parsed && in_range, "NODE_PRESSURE totals agree with /proc/pressure");
}

/* Tests: rejections --------------------------------------------------------------------- */

/*
 * Expect the error @err (0: any) with an extended-ACK message containing @want_msg (NULL: any
 * non-empty message, "": none required - the genetlink core rejects some messages without one)
 * and, with @want_offs, the offset of the offending attribute.
 */
static void expect_reject(struct gsock *s, const void *msg, size_t len, int err,
			  const char *want_msg, bool want_offs, const char *what)
{
	struct reply r = {};
	int got = transact_raw(s, msg, len, &r, 0);
	bool msg_ok = want_msg ? strstr(r.msg, want_msg) != NULL : r.msg[0] != '\0';

	ok(got < 0 && (!err || got == err) && msg_ok && (!want_offs || r.has_offs),
	   "%s: rejected with %d \"%s\"%s", what, got, r.msg, r.has_offs ? " at offset" : "");
}

static void test_rejections(struct gsock *s)
{
	static char buf[BUF_SIZE];
	char big[60000], path[512];
	struct nlmsghdr *nlh;
	struct nlattr *a;
	int fd, i, n;

	nlh = msg_start(s, buf, s->family, PODLANE_CMD_GET_VERSION, 0);
	mnl_attr_put_u32(nlh, PODLANE_A_MAX + 7, 1);
	expect_reject(s, nlh, nlh->nlmsg_len, -EINVAL, NULL, true, "unknown attribute type");

	nlh = msg_start(s, buf, s->family, PODLANE_CMD_GET_VERSION, 0);
	mnl_attr_put_u64(nlh, PODLANE_A_CGROUP_ID, 1);
	expect_reject(s, nlh, nlh->nlmsg_len, -EINVAL, NULL, true,
		      "attribute the command does not take");

	nlh = msg_start(s, buf, s->family, PODLANE_CMD_CGROUP_DUMP, NLM_F_DUMP);
	mnl_attr_put_u8(nlh, PODLANE_A_CGROUP_ID, 1);
	expect_reject(s, nlh, nlh->nlmsg_len, 0, NULL, true, "u8 where a u64 belongs");

	nlh = msg_start(s, buf, s->family, PODLANE_CMD_CGROUP_DUMP, NLM_F_DUMP);
	mnl_attr_put_u64(nlh, PODLANE_A_CGROUP_ID, 0);
	expect_reject(s, nlh, nlh->nlmsg_len, 0, NULL, true, "cgroup id 0 (below policy min)");

	nlh = msg_start(s, buf, s->family, PODLANE_CMD_CGROUP_DUMP, NLM_F_DUMP);
	mnl_attr_put(nlh, PODLANE_A_CGROUP_PATH, 4, "/abc");
	expect_reject(s, nlh, nlh->nlmsg_len, 0, NULL, true, "path without a NUL");

	memset(big, 'a', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	nlh = msg_start(s, buf, s->family, PODLANE_CMD_CGROUP_DUMP, NLM_F_DUMP);
	mnl_attr_put(nlh, PODLANE_A_CGROUP_PATH, sizeof(big), big);
	expect_reject(s, nlh, nlh->nlmsg_len, 0, NULL, true, "60000-byte path");

	nlh = msg_start(s, buf, s->family, PODLANE_CMD_CGROUP_DUMP, NLM_F_DUMP);
	mnl_attr_put_u64(nlh, PODLANE_A_CGROUP_ID, 1);
	mnl_attr_put_strz(nlh, PODLANE_A_CGROUP_PATH, "/");
	expect_reject(s, nlh, nlh->nlmsg_len, -EINVAL, "mutually exclusive", false,
		      "CGROUP_ID together with CGROUP_PATH");

	nlh = msg_start(s, buf, s->family, PODLANE_CMD_CGROUP_DUMP, NLM_F_DUMP);
	mnl_attr_put_u64(nlh, PODLANE_A_CGROUP_ID, 1ULL << 62);
	expect_reject(s, nlh, nlh->nlmsg_len, 0, "no cgroup with this CGROUP_ID", false,
		      "unknown cgroup id");

	nlh = msg_start(s, buf, s->family, PODLANE_CMD_CGROUP_DUMP, NLM_F_DUMP);
	mnl_attr_put_strz(nlh, PODLANE_A_CGROUP_PATH, "/no/such/cgroup");
	expect_reject(s, nlh, nlh->nlmsg_len, -ENOENT, "no cgroup v2 directory", false,
		      "unknown cgroup path");

	/*
	 * A path through a file: 6.1's cgroup_get_from_path() takes every name on the way for a
	 * directory, reads an open file's kernfs_open_node as a tree of children and oopses
	 * (found by kmod_fuzz). The file must be open for that, as an agent's often are.
	 */
	snprintf(path, sizeof(path), "%s/cgroup.procs", cg_mount);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	for (i = 0, n = 0; i < 32; i++) {
		struct reply r = {};

		nlh = msg_start(s, buf, s->family, PODLANE_CMD_CGROUP_DUMP, NLM_F_DUMP);
		snprintf(path, sizeof(path), "/cgroup.procs/%c%d", 'a' + i % 26, i);
		mnl_attr_put_strz(nlh, PODLANE_A_CGROUP_PATH, path);
		n += transact_raw(s, nlh, nlh->nlmsg_len, &r, 0) == -ENOTDIR &&
		     strstr(r.msg, "not a cgroup");
	}
	ok(fd >= 0 && n == 32, "32 cgroup paths through an open file: ENOTDIR \"not a cgroup\" "
	   "(%d of 32)", n);
	if (fd >= 0)
		close(fd);
	nlh = msg_start(s, buf, s->family, PODLANE_CMD_CGROUP_DUMP, NLM_F_DUMP);
	mnl_attr_put_strz(nlh, PODLANE_A_CGROUP_PATH, "//cgroup.procs");
	expect_reject(s, nlh, nlh->nlmsg_len, -ENOTDIR, "not a cgroup", false,
		      "cgroup path naming a file");

	/* An attribute header claiming more bytes than the message holds. */
	nlh = msg_start(s, buf, s->family, PODLANE_CMD_CGROUP_DUMP, NLM_F_DUMP);
	a = mnl_nlmsg_get_payload_tail(nlh);
	mnl_attr_put_u64(nlh, PODLANE_A_CGROUP_ID, 5);
	a->nla_len = 200;
	expect_reject(s, nlh, nlh->nlmsg_len, -EINVAL, NULL, false, "attribute longer than message");

	/* A nest where a scalar belongs. */
	nlh = msg_start(s, buf, s->family, PODLANE_CMD_SET_CONFIG, 0);
	a = mnl_attr_nest_start(nlh, PODLANE_A_CONFIG_CGROUP_PSI);
	mnl_attr_put_u32(nlh, 1, 1);
	mnl_attr_nest_end(nlh, a);
	expect_reject(s, nlh, nlh->nlmsg_len, 0, NULL, true, "nest where a u8 belongs");

	nlh = msg_start(s, buf, s->family, PODLANE_CMD_SET_CONFIG, 0);
	mnl_attr_put_u8(nlh, PODLANE_A_CONFIG_CGROUP_PSI, 2);
	expect_reject(s, nlh, nlh->nlmsg_len, -ERANGE, NULL, true, "config flag out of range");

	nlh = msg_start(s, buf, s->family, PODLANE_CMD_SET_CONFIG, 0);
	expect_reject(s, nlh, nlh->nlmsg_len, -EINVAL, "needs at least one", false,
		      "SET_CONFIG without attributes");

	nlh = msg_start(s, buf, s->family, 99, 0);
	expect_reject(s, nlh, nlh->nlmsg_len, -EOPNOTSUPP, "", false, "unknown command");

	/* The netlink header alone, no genetlink header. */
	nlh = msg_start(s, buf, s->family, PODLANE_CMD_GET_VERSION, 0);
	nlh->nlmsg_len = sizeof(*nlh);
	expect_reject(s, nlh, nlh->nlmsg_len, -EINVAL, "", false, "message without genl header");

	/* Reserved genetlink header bytes must be zero. */
	nlh = msg_start(s, buf, s->family, PODLANE_CMD_GET_VERSION, 0);
	((struct genlmsghdr *)mnl_nlmsg_get_payload(nlh))->reserved = 0xbeef;
	expect_reject(s, nlh, nlh->nlmsg_len, -EINVAL, NULL, false, "reserved header bytes set");
}

/* SET_CONFIG needs CAP_NET_ADMIN: an unprivileged child must get EPERM. */
static void test_admin_perm(void)
{
	int status = -1;
	pid_t pid = fork();

	if (pid == 0) {
		struct gsock s = {};
		struct reply r = {};
		char buf[256];
		struct nlmsghdr *nlh;

		if (setgid(65534) || setuid(65534) || gsock_open(&s) || family_resolve(&s))
			_exit(2);
		nlh = msg_start(&s, buf, s.family, PODLANE_CMD_GET_VERSION, 0);
		if (transact(&s, nlh, &r))
			_exit(3);
		nlh = msg_start(&s, buf, s.family, PODLANE_CMD_SET_CONFIG, 0);
		mnl_attr_put_u8(nlh, PODLANE_A_CONFIG_CGROUP_PSI, 0);
		_exit(transact(&s, nlh, &r) == -EPERM ? 0 : 4);
	}
	if (pid > 0)
		waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "unprivileged user may read but gets EPERM from SET_CONFIG (child status %d)", status);
}

/* The family is netnsok: a client in a fresh network namespace is served too. */
static void test_other_netns(void)
{
	int status = -1;
	pid_t pid = fork();

	if (pid == 0) {
		struct gsock s = {};

		quiet = true;
		if (unshare(CLONE_NEWNET))
			_exit(2);
		_exit(gsock_open(&s) || family_resolve(&s) || get_version(&s) ? 3 : 0);
	}
	if (pid > 0)
		waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "answered from another network namespace (child status %d)", status);
}

/* Random bytes after a valid header, for every command: the kernel must just say no. */
static void test_fuzz(struct gsock *s)
{
	static char buf[4096];
	unsigned int seed = 20240601, i, answered = 0;
	struct reply r;

	for (i = 0; i < 3000; i++) {
		struct nlmsghdr *nlh = msg_start(s, buf, s->family, rand_r(&seed) % 7,
						 rand_r(&seed) % 4 ? 0 : NLM_F_DUMP);
		size_t n = rand_r(&seed) % 128, j;
		char *p = mnl_nlmsg_get_payload_tail(nlh);

		for (j = 0; j < n; j++)
			p[j] = rand_r(&seed);
		/* Mostly plausible attribute headers, so validation goes deeper than the top. */
		if (n >= 4 && rand_r(&seed) % 2) {
			struct nlattr *a = (struct nlattr *)p;

			a->nla_len = 4 + rand_r(&seed) % (n - 3);
			a->nla_type = rand_r(&seed) % (PODLANE_A_MAX + 3);
		}
		nlh->nlmsg_len += n;
		if (transact_raw(s, nlh, nlh->nlmsg_len, &r, 0) != -ENOBUFS)
			answered++;
	}
	ok(answered == i && get_version(s) == 0,
	   "3000 random messages answered, module still responds (%u answered)", answered);
}

/* Tests: cgroup dump -------------------------------------------------------------------- */

struct cg_entry {
	uint64_t id;
	char path[128];
	bool seen;
};

struct cg_dump {
	struct cg_entry *want;	/* cgroups that exist, from walking the filesystem */
	size_t n_want;
	size_t count, unknown, dup, with_mem, with_psi, bad;
	uint64_t last_id;
	char last_path[128];
};

static int cg_cmp(const void *a, const void *b)
{
	const struct cg_entry *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct cg_dump *d = data;
	struct cg_entry key, *e;
	struct psi_vals p;
	struct top_attrs t;

	parse_top(nlh, &t);
	d->count++;
	if (!t.tb[PODLANE_A_CGROUP_ID] || !t.tb[PODLANE_A_CGROUP_PATH] ||
	    !t.tb[PODLANE_A_CGROUP_LEVEL] || !t.tb[PODLANE_A_CPU_USAGE_US]) {
		d->bad++;
		return MNL_CB_OK;
	}
	key.id = mnl_attr_get_u64(t.tb[PODLANE_A_CGROUP_ID]);
	d->last_id = key.id;
	snprintf(d->last_path, sizeof(d->last_path), "%s",
		 mnl_attr_get_str(t.tb[PODLANE_A_CGROUP_PATH]));
	if (t.tb[PODLANE_A_MEMORY_CURRENT])
		d->with_mem++;
	if (parse_psi(t.tb[PODLANE_A_PSI_CPU], &p) && parse_psi(t.tb[PODLANE_A_PSI_MEMORY], &p) &&
	    parse_psi(t.tb[PODLANE_A_PSI_IO], &p))
		d->with_psi++;
	if (!d->want)
		return MNL_CB_OK;
	e = bsearch(&key, d->want, d->n_want, sizeof(key), cg_cmp);
	if (!e) {
		d->unknown++;
	} else if (e->seen) {
		d->dup++;
	} else {
		e->seen = true;
		if (strcmp(e->path, d->last_path)) {
			diag("cgroup %" PRIu64 ": dump path '%s', filesystem path '%s'", key.id,
			     d->last_path, e->path);
			d->bad++;
		}
	}
	return MNL_CB_OK;
}

/* Collect every cgroup directory below @dir (paths relative to the cgroup2 mount). */
static int walk(const char *dir, struct cg_entry **v, size_t *n, size_t *cap)
{
	char full[1024];
	struct dirent *de;
	struct stat st;
	DIR *d;

	snprintf(full, sizeof(full), "%s%s", cg_mount, dir);
	if (stat(full, &st))
		return -errno;
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 256;
		*v = realloc(*v, *cap * sizeof(**v));
		if (!*v)
			return -ENOMEM;
	}
	(*v)[*n].id = st.st_ino;
	(*v)[*n].seen = false;
	snprintf((*v)[*n].path, sizeof((*v)[*n].path), "%s", dir);
	(*n)++;
	d = opendir(full);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char sub[512];

		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if (snprintf(sub, sizeof(sub), "%s/%s", strcmp(dir, "/") ? dir : "",
			     de->d_name) >= (int)sizeof(sub))
			continue;
		if (walk(sub, v, n, cap))
			break;
	}
	closedir(d);
	return 0;
}

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY), err = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) < 0)
		err = -errno;
	close(fd);
	return err;
}

static int make_tree(void)
{
	char p[512];
	int i, j;

	snprintf(test_root, sizeof(test_root), "%s/pltest", cg_mount);
	snprintf(p, sizeof(p), "%s/cgroup.subtree_control", cg_mount);
	if (write_file(p, "+memory"))
		diag("cannot enable the memory controller at the root: %s", strerror(errno));
	if (mkdir(test_root, 0755) && errno != EEXIST)
		return -errno;
	snprintf(p, sizeof(p), "%s/cgroup.subtree_control", test_root);
	write_file(p, "+memory");
	for (i = 0; i < TREE_TOP; i++) {
		snprintf(p, sizeof(p), "%s/t%02d", test_root, i);
		if (mkdir(p, 0755) && errno != EEXIST)
			return -errno;
		snprintf(p, sizeof(p), "%s/t%02d/cgroup.subtree_control", test_root, i);
		write_file(p, "+memory");
		for (j = 0; j < TREE_LEAVES; j++) {
			snprintf(p, sizeof(p), "%s/t%02d/leaf%02d", test_root, i, j);
			if (mkdir(p, 0755) && errno != EEXIST)
				return -errno;
		}
	}
	return 0;
}

static void remove_tree(void)
{
	char p[512];
	int i, j;

	for (i = 0; i < TREE_TOP; i++) {
		for (j = 0; j < TREE_LEAVES; j++) {
			snprintf(p, sizeof(p), "%s/t%02d/leaf%02d", test_root, i, j);
			rmdir(p);
		}
		snprintf(p, sizeof(p), "%s/t%02d", test_root, i);
		rmdir(p);
	}
	rmdir(test_root);
}

static int dump(struct gsock *s, struct cg_dump *d, const char *path, uint64_t id,
		struct reply *r, int stop_after)
{
	static char buf[8192];
	struct nlmsghdr *nlh = msg_start(s, buf, s->family, PODLANE_CMD_CGROUP_DUMP, NLM_F_DUMP);

	if (path)
		mnl_attr_put_strz(nlh, PODLANE_A_CGROUP_PATH, path);
	if (id)
		mnl_attr_put_u64(nlh, PODLANE_A_CGROUP_ID, id);
	r->cb = dump_cb;
	r->data = d;
	return transact_raw(s, nlh, nlh->nlmsg_len, r, stop_after);
}

/* Keep reading an interrupted dump to its end. */
static int dump_finish(struct gsock *s, struct reply *r)
{
	static char buf[BUF_SIZE];

	for (;;) {
		ssize_t n = mnl_socket_recvfrom(s->nl, buf, sizeof(buf));
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
		int left = n;

		if (n < 0)
			return -errno;
		r->batches++;
		for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
			if (nlh->nlmsg_type == NLMSG_ERROR || nlh->nlmsg_type == NLMSG_DONE) {
				parse_ack(nlh, r);
				return r->error;
			}
			r->messages++;
			r->cb(nlh, r->data);
		}
	}
}

static size_t count_unseen(const struct cg_dump *d)
{
	size_t i, n = 0;

	for (i = 0; i < d->n_want; i++)
		n += !d->want[i].seen;
	return n;
}

static long dying_descendants(void)
{
	char p[512], line[128];
	long n = -1;
	FILE *f;

	snprintf(p, sizeof(p), "%s/cgroup.stat", cg_mount);
	f = fopen(p, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "nr_dying_descendants %ld", &n) == 1)
			break;
	fclose(f);
	return n;
}

static void test_cgroup_dump(struct gsock *s)
{
	struct cg_dump d = {};
	size_t cap = 0;
	struct reply r;
	struct timespec t0, t1;
	struct stat st;
	char p[512];
	int err, i;
	long dying = -1;

	err = make_tree();
	ok(!err, "created %d cgroups under %s (%s)", TREE_TOP * (TREE_LEAVES + 1) + 1, test_root,
	   strerror(-err));
	walk("/", &d.want, &d.n_want, &cap);
	qsort(d.want, d.n_want, sizeof(*d.want), cg_cmp);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	err = dump(s, &d, NULL, 0, &r, 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	diag("dump: %zu cgroups in %d messages over %d reads, %.0f ms; %zu with memory, %zu with PSI",
	     d.count, r.messages, r.batches,
	     (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6, d.with_mem,
	     d.with_psi);
	ok(!err && d.count == d.n_want && !d.unknown && !d.dup && !d.bad && !count_unseen(&d),
	   "full dump lists every cgroup once with matching id and path (err %d, %zu of %zu, "
	   "%zu unknown, %zu dup, %zu bad)", err, d.count, d.n_want, d.unknown, d.dup, d.bad);
	ok(r.batches > 5, "dump spans many reads (%d)", r.batches);
	if (features & PODLANE_F_CGROUP_MEMORY)
		ok(d.with_mem == (size_t)TREE_TOP * (TREE_LEAVES + 1) + 1,
		   "memory usage for every cgroup with memcg (%zu)", d.with_mem);
	else
		ok(1, "memory usage # SKIP memcg not on cgroup v2");
	if (features & PODLANE_F_CGROUP_PSI)
		ok(d.with_psi == d.count, "PSI for every cgroup (%zu of %zu)", d.with_psi, d.count);
	else
		ok(1, "per-cgroup PSI # SKIP not available");

	/* Subtree by id: the test root and its descendants only. */
	memset(&d, 0, sizeof(d));
	if (stat(test_root, &st) == 0)
		err = dump(s, &d, NULL, st.st_ino, &r, 0);
	ok(!err && d.count == (size_t)TREE_TOP * (TREE_LEAVES + 1) + 1 && !d.bad,
	   "dump by CGROUP_ID covers exactly the subtree (%zu)", d.count);

	/* Subtree by path. */
	memset(&d, 0, sizeof(d));
	err = dump(s, &d, "/pltest/t07", 0, &r, 0);
	ok(!err && d.count == TREE_LEAVES + 1, "dump by CGROUP_PATH covers the subtree (%zu)",
	   d.count);

	/* Remove the cursor cgroup and others between two rounds of one dump. */
	free(d.want);
	memset(&d, 0, sizeof(d));
	cap = 0;
	walk("/pltest", &d.want, &d.n_want, &cap);
	qsort(d.want, d.n_want, sizeof(*d.want), cg_cmp);
	err = dump(s, &d, "/pltest", 0, &r, 1);
	if (err == 1) {
		int removed = 0;

		snprintf(p, sizeof(p), "%s%s", cg_mount, d.last_path);
		removed += rmdir(p) == 0;
		diag("removed the cursor %s: %s", d.last_path, removed ? "yes" : strerror(errno));
		for (i = 0; i < TREE_LEAVES; i += 2) {
			snprintf(p, sizeof(p), "%s/t39/leaf%02d", test_root, i);
			removed += rmdir(p) == 0;
		}
		err = dump_finish(s, &r);
		ok(!err && !d.dup && !d.unknown && !d.bad && d.count + removed >= d.n_want - 1,
		   "dump survives removals mid-walk (err %d, %zu sent, %d removed, %zu dup)", err,
		   d.count, removed, d.dup);
	} else {
		ok(0, "dump mid-walk removal: first round returned %d", err);
	}

	/* A dump abandoned half-way must drop its cgroup references. */
	{
		struct gsock s2 = {};
		struct cg_dump d2 = {};

		if (!gsock_open(&s2) && !family_resolve(&s2))
			dump(&s2, &d2, "/pltest", 0, &r, 1);
		gsock_close(&s2);
	}
	remove_tree();
	for (i = 0; i < 200; i++) {
		dying = dying_descendants();
		if (dying == 0)
			break;
		usleep(50000);
	}
	ok(dying == 0, "no dying cgroups left after an abandoned dump and removal (%ld)", dying);
	free(d.want);
}

/* Tests: load, unload, clients ---------------------------------------------------------- */

static void test_unload_with_clients(void)
{
	struct gsock a = {}, b = {};
	struct cg_dump d = {};
	struct reply r;
	char buf[256];
	struct nlmsghdr *nlh;
	int err;

	/* a: a dump in progress (it holds the module); b: connected, family resolved. */
	gsock_open(&a);
	gsock_open(&b);
	family_resolve(&a);
	family_resolve(&b);
	make_tree();
	err = dump(&a, &d, "/", 0, &r, 1);
	ok(err == 1, "dump left in progress (%d)", err);
	err = module_unload();
	ok(err == -EWOULDBLOCK || err == -EBUSY,
	   "unload refused while a dump is in progress (%s)", strerror(-err));
	gsock_close(&a);
	err = module_unload_wait();
	ok(!err, "unload succeeds once the dumping socket is closed (%s)", strerror(-err));
	remove_tree();

	nlh = msg_start(&b, buf, b.family, PODLANE_CMD_GET_VERSION, 0);
	err = transact(&b, nlh, &r);
	ok(err < 0, "a connected client's request after unload fails cleanly (%s)",
	   strerror(-err));
	ok(family_resolve(&b) == -ENOENT, "family is gone after unload");
	err = module_load();
	ok(!err && !family_resolve(&b) && !get_version(&b),
	   "reload, same socket resolves the family again and is answered (%s)", strerror(-err));
	gsock_close(&b);
}

/* A child hammers every command while the parent unloads and reloads the module. */
static void test_churn(void)
{
	int status = -1, i, cycles = 0;
	pid_t pid = fork();

	if (pid == 0) {
		struct timespec t0, t;

		alarm(120);
		quiet = true;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		do {
			struct gsock s = {};
			struct cg_dump d = {};
			struct reply r;
			char buf[256];

			if (gsock_open(&s))
				_exit(2);
			if (!family_resolve(&s)) {
				get_version(&s);
				transact(&s, msg_start(&s, buf, s.family,
						       PODLANE_CMD_NODE_PRESSURE, 0), &r);
				dump(&s, &d, "/", 0, &r, 0);
			}
			gsock_close(&s);
			clock_gettime(CLOCK_MONOTONIC, &t);
		} while (t.tv_sec - t0.tv_sec < 8);
		_exit(0);
	}
	for (i = 0; i < 15; i++) {
		if (module_unload_wait() == 0)
			cycles++;
		if (module_load())
			break;
		usleep(100000);
	}
	if (pid > 0)
		waitpid(pid, &status, 0);
	ok(module_load() == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 && cycles > 0,
	   "%d unload/reload cycles under a busy client (child status %d)", cycles, status);
}

int main(int argc, char **argv)
{
	struct gsock s = {};
	int err;

	if (argc < 2) {
		fprintf(stderr, "usage: %s <podlane.ko> [cgroup2-mount]\n", argv[0]);
		return 2;
	}
	ko_path = argv[1];
	if (argc > 2)
		cg_mount = argv[2];
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid()) {
		printf("1..0 # SKIP needs root to load podlane.ko\n");
		return 0;
	}
	printf("1..%d\n", PLAN);

	err = module_load();
	ok(!err, "load %s (%s)", ko_path, strerror(-err));
	err = gsock_open(&s) ?: family_resolve(&s);
	ok(!err, "generic netlink family '%s' resolves (%s)", PODLANE_GENL_NAME, strerror(-err));
	if (err) {
		printf("Bail out! module not usable\n");
		return 1;
	}
	err = get_version(&s);
	ok(!err && (features & PODLANE_F_CGROUP_DUMP), "GET_VERSION (%s)", strerror(-err));
	test_node_pressure(&s);
	test_rejections(&s);
	test_admin_perm();
	test_other_netns();

	{
		char buf[256];
		struct nlmsghdr *nlh = msg_start(&s, buf, s.family, PODLANE_CMD_SET_CONFIG, 0);
		struct cg_dump d = {};
		struct reply r = {};

		mnl_attr_put_u8(nlh, PODLANE_A_CONFIG_CGROUP_PSI, 0);
		err = transact(&s, nlh, &r);
		ok(!err, "SET_CONFIG turns per-cgroup PSI off (%s)", strerror(-err));
		dump(&s, &d, "/", 0, &r, 0);
		ok(d.count > 0 && d.with_psi == 0, "dump then carries no PSI (%zu of %zu)",
		   d.with_psi, d.count);
		nlh = msg_start(&s, buf, s.family, PODLANE_CMD_SET_CONFIG, 0);
		mnl_attr_put_u8(nlh, PODLANE_A_CONFIG_CGROUP_PSI, 1);
		ok(!transact(&s, nlh, &r), "SET_CONFIG turns it back on");
	}

	test_cgroup_dump(&s);
	test_fuzz(&s);
	gsock_close(&s);
	test_unload_with_clients();
	test_churn();

	err = module_unload_wait();
	ok(!err, "final unload (%s)", strerror(-err));
	err = module_load();
	ok(!err, "load again for the tests that follow (%s)", strerror(-err));
	if (tests != PLAN)
		printf("# planned %d tests, ran %d\n", PLAN, tests);
	return failed || tests != PLAN ? 1 : 0;
}
