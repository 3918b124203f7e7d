// SPDX-License-Identifier: GPL-2.0-only
/*
 * kmod_fuzz.c - random generic-netlink messages against podlane.ko, run in the 6.1 test guest
 * as root (scripts/guest/run.sh), printed as TAP.
 *
 * Each worker is a process with its own socket that sends seeded random messages to the podlane
 * family: random commands (unknown ones too), netlink flags, genetlink versions and reserved
 * bytes, attributes of random types and lengths (right and wrong types for the policy, nests
 * several deep, truncated and oversized headers, 8 KiB blobs), CGROUP_PATHs through the real
 * tree (files, dots, long names), cut lengths, and two or three messages in one send. Half the
 * messages come from five unprivileged workers, one for each way of lacking CAP_NET_ADMIN:
 * "nobody" on its own socket, "nobody" on a socket root opened, root writing to a socket
 * "nobody" opened, root without CAP_NET_ADMIN, and root of a fresh user and network namespace.
 * The other half from two privileged workers at once, so SET_CONFIG and dumps race. Cgroup
 * files are held open through the run, as a monitoring agent's are.
 *
 * Every reply is checked against a model of what the kernel must answer, built from the
 * request's bytes: genetlink's header checks, the command's policy under strict validation, and
 * what the module does with valid input (the cgroup tree is read beforehand, so a CGROUP_ID or
 * CGROUP_PATH is known to exist or not). Replies must be well-formed (extended-ACK message a
 * printable string, offsets inside the request), data replies carry exactly the attributes the
 * uAPI lists, errors that the module gives carry a message, and for the unprivileged every
 * command that changes state (all but GET_VERSION, NODE_PRESSURE and CGROUP_DUMP) answers
 * -EPERM and the configuration does not change. Afterwards: nothing in the kernel log since the
 * start matches BUG/WARNING/Oops/KASAN/UBSAN/refcount/leak, no new taint, the module still
 * answers, no cgroup is left referenced, unreclaimable slab did not grow, rmmod succeeds.
 *
 * Bounded: -n messages in all (half unprivileged, half privileged); each phase stops after half
 * of -t seconds, and a worker stopped that way fails. The seed is printed; -s SEED replays a
 * run, -o WORKER runs only that worker.
 *
 * Usage: kmod_fuzz [-n MESSAGES] [-t SECONDS] [-s SEED] [-o WORKER] <podlane.ko> [cgroup2-mount]
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/capability.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include "podlane_genl.h"

#define PLAN		19
#define UNIT_MAX	12288		/* bytes in one send */
#define BATCH_UNITS	8		/* sends between two syncs */
#define MAX_EXPECT	(BATCH_UNITS * 3 + 1)
#define RECV_BUF	32768
#define NOBODY		65534
#define MAX_NODES	4096
#define PRINT_MAX	5		/* mismatches printed per worker */
#define ERRNO_MAX	160
#define FUZZ_DIR	"podlane-fuzz"
#define SYNC_SEQ	0x80000000u

static const char *ko_path, *cg_mount = "/sys/fs/cgroup";
static int tests, failed;

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

static void skip(const char *fmt, ...)
{
	va_list ap;

	tests++;
	printf("ok %d # SKIP ", tests);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* One write per line: workers print from several processes at once. */
static void diag(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line + 2, sizeof(line) - 3, fmt, ap);
	va_end(ap);
	line[0] = '#';
	line[1] = ' ';
	if (n > (int)sizeof(line) - 4)
		n = sizeof(line) - 4;
	line[n + 2] = '\n';
	fflush(stdout);
	if (write(STDOUT_FILENO, line, n + 3) < 0)
		return;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* Random numbers: splitmix64, one stream per worker ------------------------------------- */

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint32_t below(uint64_t *s, uint32_t n)
{
	return n ? rnd(s) % n : 0;
}

/* True with probability @permille / 1000. */
static bool chance(uint64_t *s, unsigned int permille)
{
	return below(s, 1000) < permille;
}

/* The cgroup tree, read before the run: what a CGROUP_ID or CGROUP_PATH resolves to ------ */

struct node {
	char name[256];
	char path[512];		/* "/" or "/podlane-fuzz/a" */
	int parent;		/* -1 for the root */
	bool dir;
	uint64_t id;		/* inode number == kernfs id == cgroup id on 64-bit */
	int subtree;		/* cgroups in the subtree, itself included (directories) */
};

static struct node *nodes;
static int n_nodes;
static uint64_t removed_id;	/* a cgroup that existed and was removed */

static int tree_add(int parent, const char *name, const struct stat *st)
{
	char path[sizeof(nodes->path) + sizeof(nodes->name) + 2];
	struct node *n;
	int len;

	if (n_nodes >= MAX_NODES)
		return -1;
	n = &nodes[n_nodes];
	len = snprintf(path, sizeof(path), "%s%s%s", parent < 0 ? "" : nodes[parent].path,
		       parent > 0 ? "/" : "", parent < 0 ? "/" : name);
	if (len >= (int)sizeof(n->path) || strlen(name) >= sizeof(n->name))
		return -1;
	memcpy(n->path, path, len + 1);
	strcpy(n->name, name);
	n->parent = parent;
	n->dir = S_ISDIR(st->st_mode);
	n->id = st->st_ino;
	n->subtree = n->dir;
	return n_nodes++;
}

static int tree_read(const char *fs_path, int self)
{
	struct dirent *de;
	char p[1024];
	struct stat st;
	DIR *d = opendir(fs_path);
	int child;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", fs_path, de->d_name);
		if (lstat(p, &st))
			continue;
		child = tree_add(self, de->d_name, &st);
		if (child < 0)
			continue;
		if (nodes[child].dir && tree_read(p, child) == 0)
			nodes[self].subtree += nodes[child].subtree;
	}
	closedir(d);
	return 0;
}

static int tree_child(int parent, const char *name)
{
	int i;

	for (i = 0; i < n_nodes; i++)
		if (nodes[i].parent == parent && !strcmp(nodes[i].name, name))
			return i;
	return -1;
}

/* What cgroup_get_from_path() answers for @path: 0 and the node, -ENOENT or -ENOTDIR. */
static int resolve_path(const char *path, int *node)
{
	static char buf[4096];
	char *p = buf, *name;
	int cur = 0;

	if (strlen(path) >= sizeof(buf))
		return -ENOENT;
	strcpy(buf, path);
	while ((name = strsep(&p, "/"))) {
		if (!*name)
			continue;
		if (!nodes[cur].dir)
			return -ENOTDIR;
		cur = tree_child(cur, name);
		if (cur < 0)
			return -ENOENT;
	}
	if (!nodes[cur].dir)
		return -ENOTDIR;
	*node = cur;
	return 0;
}

/* 0 and the node, -ENOENT, or 1: an id we know nothing about (random). */
static int resolve_id(uint64_t id, int *node)
{
	int i;

	if (id == removed_id)
		return -ENOENT;
	for (i = 0; i < n_nodes; i++)
		if (nodes[i].id == id) {
			if (!nodes[i].dir)
				return -ENOENT;
			*node = i;
			return 0;
		}
	return 1;
}

/* What the workers share with the parent ----------------------------------------------- */

struct wstats {
	char name[40];
	bool priv, skipped, time_limited, aborted;
	char note[160];
	double secs;
	uint64_t units, msgs, dispatched, replies, data, dumps, syncs;
	uint64_t writes_checked, writes_eperm, setcfg_ok;
	uint64_t mismatches, malformed;
	uint64_t err[ERRNO_MAX];	/* outcomes by errno (0: success) */
};

struct env {
	uint16_t family;
	uint64_t features;
	bool node_psi, cgroup_psi;
	uint64_t seed;
	double deadline;
	uint64_t quota;
	struct wstats st[8];
};

static struct env *env;

/* One worker's state ------------------------------------------------------------------- */

enum { O_NONE, O_ACK, O_ERR, O_REPLY, O_DUMP };
#define ERR_POLICY	1	/* O_ERR: -EINVAL or -ERANGE, what validation answers */
#define ERR_ANY		2	/* O_DUMP: any error */

struct outcome {
	uint8_t kind;
	bool ack;		/* O_REPLY: then an ACK */
	bool need_msg;		/* an extended-ACK message must come with the error */
	int err;		/* O_ERR, O_DUMP: -errno or ERR_* */
	int min, max;		/* O_DUMP: data messages */
	uint64_t first_id;	/* O_DUMP: id of the first cgroup, 0: any */
};

struct expect {
	const uint8_t *req;	/* the request's bytes as the kernel saw them */
	uint32_t len, seq;
	uint16_t flags;
	uint8_t cmd;
	bool sync, unpriv_write, setcfg_applies;
	int n_out;
	struct outcome out[4];
	/* what came back */
	int n_data, n_multi, n_err, err, n_done, done_err;
	bool err_msg, done_msg, after_end;
	uint64_t first_id;
};

struct worker {
	struct wstats *st;
	int fd;
	uint32_t portid;
	bool priv;
	uint64_t rng;
	uint32_t seq;
	int printed;
	uint8_t unit[BATCH_UNITS][UNIT_MAX];
	uint8_t sync[64];
	struct expect exp[MAX_EXPECT];
	int n_exp;
	int dump_running;	/* 0 no, 1 yes, 2 maybe */
};

static void hexdump(char *out, size_t size, const uint8_t *p, size_t len)
{
	size_t i, o = 0;

	for (i = 0; i < len && i < 64 && o + 3 < size; i++)
		o += snprintf(out + o, size - o, "%02x", p[i]);
	if (i < len && o + 4 < size)
		snprintf(out + o, size - o, "...");
}

static void mismatch(struct worker *w, const struct expect *e, const char *fmt, ...)
{
	char what[400], hex[160];
	va_list ap;

	w->st->mismatches++;
	if (w->printed++ >= PRINT_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (e) {
		hexdump(hex, sizeof(hex), e->req, e->len);
		diag("%s: seq %u (message %" PRIu64 ", seed %" PRIu64 "): %s; request %u bytes %s",
		     w->st->name, e->seq, w->st->msgs, env->seed, what, e->len, hex);
	} else {
		diag("%s: after message %" PRIu64 " (seed %" PRIu64 "): %s", w->st->name,
		     w->st->msgs, env->seed, what);
	}
}

/* Message generation ------------------------------------------------------------------- */

struct gen {
	uint8_t *buf;
	size_t len, cap;
};

static uint8_t *put(struct gen *g, size_t n)
{
	uint8_t *p;

	if (g->len + n > g->cap)
		return NULL;
	p = g->buf + g->len;
	g->len += n;
	return p;
}

static void put_bytes(struct gen *g, const void *data, size_t n)
{
	uint8_t *p = put(g, n);

	if (p)
		memcpy(p, data, n);
}

static void put_random(struct worker *w, struct gen *g, size_t n)
{
	uint8_t *p = put(g, n);
	size_t i;

	for (i = 0; p && i < n; i++)
		p[i] = rnd(&w->rng);
}

static void pad4(struct gen *g)
{
	while (g->len % 4 && g->len < g->cap)
		g->buf[g->len++] = 0;
}

static int node_pick(struct worker *w, bool dir)
{
	int i, tries;

	for (tries = 0; tries < 16; tries++) {
		i = below(&w->rng, n_nodes);
		if (nodes[i].dir == dir)
			return i;
	}
	return 0;
}

/* A CGROUP_PATH value: names that exist, files, dots, slashes, long names, junk. */
static void gen_path(struct worker *w, struct gen *g)
{
	static const char * const odd[] = {
		"..", ".", "/../" FUZZ_DIR, FUZZ_DIR "/../" FUZZ_DIR, "nonexistent",
		"/" FUZZ_DIR "/zz", FUZZ_DIR "/a/b/c/d", "\n", "*", FUZZ_DIR "/a\n",
	};
	char s[600];
	size_t n = 0, i;
	int k = below(&w->rng, 16), d = node_pick(w, true), f = node_pick(w, false);

	switch (k) {
	case 0:
		n = snprintf(s, sizeof(s), "/");
		break;
	case 1:
		break;
	case 2:
	case 3:
		n = snprintf(s, sizeof(s), "%s", nodes[d].path + (k == 3));
		break;
	case 4:	/* doubled and trailing slashes */
		for (i = 0; nodes[d].path[i] && n < sizeof(s) - 4; i++) {
			s[n++] = nodes[d].path[i];
			if (s[n - 1] == '/')
				s[n++] = '/';
		}
		s[n++] = '/';
		break;
	case 5:	/* a file, or something below a file */
	case 6:
		n = snprintf(s, sizeof(s), "%s%s", nodes[f].path, k == 6 ? "/x" : "");
		break;
	case 7:
		n = snprintf(s, sizeof(s), "%s", odd[below(&w->rng, sizeof(odd) / sizeof(odd[0]))]);
		break;
	case 8:	/* names at and past NAME_MAX */
		n = snprintf(s, sizeof(s), "%s/", nodes[d].path);
		for (i = 0; i < 254u + below(&w->rng, 4) && n < sizeof(s) - 1; i++)
			s[n++] = 'n';
		break;
	case 9:
		for (i = below(&w->rng, 40) + 1; i; i--)
			s[n++] = ' ' + below(&w->rng, 95);
		break;
	case 10:
		for (i = below(&w->rng, 40) + 1; i; i--)
			s[n++] = rnd(&w->rng);
		break;
	case 11:	/* at and around the policy's 4095 */
	case 12: {
		size_t len = 4090 + below(&w->rng, 10);
		uint8_t *p = put(g, len);

		if (p)
			memset(p, k == 11 ? 'a' : '/', len);
		n = 0;
		break;
	}
	default:
		n = snprintf(s, sizeof(s), "%s", nodes[d].path);
		break;
	}
	put_bytes(g, s, n);
	if (chance(&w->rng, 50)) {	/* an embedded NUL, then more */
		put_bytes(g, "", 1);
		put_random(w, g, below(&w->rng, 8));
	}
	if (chance(&w->rng, 900))
		put_bytes(g, "", 1);
}

static uint64_t gen_id(struct worker *w)
{
	switch (below(&w->rng, 10)) {
	case 0: case 1: case 2: case 3:
		return nodes[node_pick(w, true)].id;
	case 4:
		return nodes[node_pick(w, false)].id;
	case 5:
		return removed_id;
	case 6:
		return 0;
	case 7:
		return below(&w->rng, 100000);
	case 8:
		return ~0ULL;
	default:
		return rnd(&w->rng);
	}
}

static void gen_attrs(struct worker *w, struct gen *g, int depth, int count);

static void gen_attr(struct worker *w, struct gen *g, int depth)
{
	static const uint16_t interesting[] = {
		PODLANE_A_CGROUP_ID, PODLANE_A_CGROUP_PATH, PODLANE_A_CONFIG_CGROUP_PSI,
	};
	size_t start = g->len;
	struct nlattr *a;
	uint16_t type;
	uint64_t v;
	int k;

	if (!put(g, NLA_HDRLEN))
		return;
	k = below(&w->rng, 100);
	if (k < 55)
		type = interesting[below(&w->rng, 3)];
	else if (k < 92)
		type = below(&w->rng, PODLANE_A_MAX + 3);
	else
		type = rnd(&w->rng);
	if (chance(&w->rng, 50))
		type |= NLA_F_NESTED;
	if (chance(&w->rng, 30))
		type |= NLA_F_NET_BYTEORDER;

	k = below(&w->rng, 100);
	if (k < 55) {	/* the payload the type wants */
		switch (type & NLA_TYPE_MASK) {
		case PODLANE_A_CGROUP_ID:
			v = gen_id(w);
			put_bytes(g, &v, 8);
			break;
		case PODLANE_A_CGROUP_PATH:
		case PODLANE_A_KERNEL_RELEASE:
			gen_path(w, g);
			break;
		case PODLANE_A_CONFIG_CGROUP_PSI: {
			static const uint8_t vals[] = { 0, 1, 0, 1, 2, 255 };

			put_bytes(g, &vals[below(&w->rng, sizeof(vals))], 1);
			break;
		}
		case PODLANE_A_VERSION:
		case PODLANE_A_CGROUP_LEVEL:
			v = below(&w->rng, 4);
			put_bytes(g, &v, 4);
			break;
		case PODLANE_A_PSI_CPU:
		case PODLANE_A_PSI_MEMORY:
		case PODLANE_A_PSI_IO:
			if (depth < 4)
				gen_attrs(w, g, depth + 1, below(&w->rng, 5));
			break;
		default:
			v = rnd(&w->rng);
			put_bytes(g, &v, 8);
			break;
		}
	} else if (k < 75) {
		put_random(w, g, below(&w->rng, 17));
	} else if (k < 87) {
		if (depth < 4) {
			if (chance(&w->rng, 700))
				type |= NLA_F_NESTED;
			gen_attrs(w, g, depth + 1, below(&w->rng, 5));
		}
	} else if (k < 98) {
		put_random(w, g, below(&w->rng, 257));
	} else {
		put_random(w, g, 2000 + below(&w->rng, 6000));
	}
	a = (struct nlattr *)(g->buf + start);
	a->nla_type = type;
	a->nla_len = g->len - start > 0xffff ? 0xffff : g->len - start;
	pad4(g);
}

static void gen_attrs(struct worker *w, struct gen *g, int depth, int count)
{
	struct nlattr *last = NULL;
	size_t start;
	int i;

	for (i = 0; i < count && g->cap - g->len > 64; i++) {
		start = g->len;
		gen_attr(w, g, depth);
		if (g->len > start)
			last = (struct nlattr *)(g->buf + start);
	}
	/* Damage: headers that lie about lengths, bytes that are no attribute. */
	switch (below(&w->rng, 100)) {
	case 0: case 1: case 2: case 3:
		if (last)
			last->nla_len += 1 + below(&w->rng, 64);
		break;
	case 4: case 5:
		if (last)
			last->nla_len = below(&w->rng, 4);
		break;
	case 6:
		if (last)
			last->nla_len = 0xffff;
		break;
	case 7: case 8: case 9:
		put_random(w, g, 1 + below(&w->rng, 3));
		break;
	}
}

static uint16_t gen_flags(struct worker *w)
{
	uint16_t f = 0;

	if (chance(&w->rng, 20))
		return rnd(&w->rng);
	if (chance(&w->rng, 930))
		f |= NLM_F_REQUEST;
	if (chance(&w->rng, 500))
		f |= NLM_F_ACK;
	if (chance(&w->rng, 250))
		f |= NLM_F_DUMP;
	else if (chance(&w->rng, 40))
		f |= chance(&w->rng, 500) ? NLM_F_ROOT : NLM_F_MATCH;
	if (chance(&w->rng, 40))
		f |= NLM_F_ECHO;
	if (chance(&w->rng, 15))
		f |= NLM_F_ATOMIC;
	return f;
}

/*
 * A request as a client would send it - header, flags and attribute types right, values from
 * the pools - so that most of them get past validation into the module's own code.
 */
static void gen_clean(struct worker *w, struct gen *g, struct nlmsghdr *nlh)
{
	static const uint8_t cmds[] = {
		PODLANE_CMD_GET_VERSION, PODLANE_CMD_NODE_PRESSURE, PODLANE_CMD_CGROUP_DUMP,
		PODLANE_CMD_CGROUP_DUMP, PODLANE_CMD_CGROUP_DUMP, PODLANE_CMD_SET_CONFIG,
		PODLANE_CMD_SET_CONFIG,
	};
	struct genlmsghdr gh = { .version = PODLANE_GENL_VERSION };
	size_t start;
	uint64_t v;
	uint8_t u8;
	int k;

	gh.cmd = cmds[below(&w->rng, sizeof(cmds))];
	nlh->nlmsg_flags = NLM_F_REQUEST | (chance(&w->rng, 500) ? NLM_F_ACK : 0);
	if (gh.cmd == PODLANE_CMD_CGROUP_DUMP && chance(&w->rng, 950))
		nlh->nlmsg_flags |= NLM_F_DUMP;
	put_bytes(g, &gh, GENL_HDRLEN);
	k = below(&w->rng, 10);
	if (gh.cmd == PODLANE_CMD_CGROUP_DUMP) {
		if (k < 3)
			return;
		if (k < 6 || k == 9) {
			struct nlattr a = { NLA_HDRLEN + 8, PODLANE_A_CGROUP_ID };

			v = gen_id(w);
			put_bytes(g, &a, NLA_HDRLEN);
			put_bytes(g, &v, 8);
		}
		if (k >= 6) {
			start = g->len;
			if (!put(g, NLA_HDRLEN))
				return;
			gen_path(w, g);
			((struct nlattr *)(g->buf + start))->nla_len = g->len - start;
			((struct nlattr *)(g->buf + start))->nla_type = PODLANE_A_CGROUP_PATH;
			pad4(g);
		}
	} else if (gh.cmd == PODLANE_CMD_SET_CONFIG && k < 9) {
		struct nlattr a = { NLA_HDRLEN + 1, PODLANE_A_CONFIG_CGROUP_PSI };

		u8 = k < 8 ? k % 2 : 2;
		put_bytes(g, &a, NLA_HDRLEN);
		put_bytes(g, &u8, 1);
		pad4(g);
	}
}

/* One netlink message at @g; @last: it may lie about its own length (nothing follows it). */
static void gen_msg(struct worker *w, struct gen *g, bool last)
{
	size_t start = g->len, n;
	struct nlmsghdr *nlh = (struct nlmsghdr *)put(g, NLMSG_HDRLEN);
	struct genlmsghdr gh = {};
	int k;

	if (!nlh)
		return;
	if (chance(&w->rng, 350)) {
		nlh->nlmsg_type = env->family;
		nlh->nlmsg_seq = ++w->seq & ~SYNC_SEQ;
		gen_clean(w, g, nlh);
		nlh = (struct nlmsghdr *)(g->buf + start);
		nlh->nlmsg_len = g->len - start;
		return;
	}
	nlh->nlmsg_type = chance(&w->rng, 10) ? below(&w->rng, NLMSG_MIN_TYPE) : env->family;
	nlh->nlmsg_flags = gen_flags(w);
	nlh->nlmsg_seq = ++w->seq & ~SYNC_SEQ;
	nlh->nlmsg_pid = chance(&w->rng, 100) ? rnd(&w->rng) : 0;

	k = below(&w->rng, 100);
	if (k < 75)
		gh.cmd = 1 + below(&w->rng, PODLANE_CMD_MAX);
	else if (k < 85)
		gh.cmd = 0;
	else
		gh.cmd = rnd(&w->rng);
	gh.version = chance(&w->rng, 850) ? PODLANE_GENL_VERSION : rnd(&w->rng);
	gh.reserved = chance(&w->rng, 40) ? rnd(&w->rng) : 0;
	if (chance(&w->rng, 30)) {	/* a cut genetlink header, nothing after it */
		put_bytes(g, &gh, below(&w->rng, GENL_HDRLEN));
	} else {
		put_bytes(g, &gh, GENL_HDRLEN);
		k = below(&w->rng, 100);
		gen_attrs(w, g, 0, k < 30 ? 0 : k < 65 ? 1 : k < 90 ? 2 + below(&w->rng, 2) :
			  4 + below(&w->rng, 9));
	}
	n = g->len - start;
	nlh = (struct nlmsghdr *)(g->buf + start);
	nlh->nlmsg_len = n;
	if (last && chance(&w->rng, 60)) {
		switch (below(&w->rng, 3)) {
		case 0:	/* longer than what was sent: netlink drops it */
			nlh->nlmsg_len = chance(&w->rng, 100) ? ~0u : n + 1 + below(&w->rng, 64);
			break;
		case 1:	/* shorter than a netlink header */
			nlh->nlmsg_len = below(&w->rng, NLMSG_HDRLEN);
			break;
		default:	/* cut, the rest too short for another message */
			if (n > NLMSG_HDRLEN)
				nlh->nlmsg_len = n - 1 - below(&w->rng, n - NLMSG_HDRLEN < 15 ?
								 n - NLMSG_HDRLEN : 15);
			break;
		}
	}
}

/* One send: mostly one message, sometimes two or three, now and then a few stray bytes. */
static size_t gen_unit(struct worker *w, uint8_t *buf, int *n_msgs)
{
	struct gen g = { .buf = buf, .cap = UNIT_MAX };
	int i, n = 1;

	if (chance(&w->rng, 8)) {	/* not even a header (an empty send is only ENODATA) */
		put_random(w, &g, 1 + below(&w->rng, NLMSG_HDRLEN - 1));
		*n_msgs = 1;
		return g.len;
	}
	if (chance(&w->rng, 40))
		n = 2 + below(&w->rng, 2);
	for (i = 0; i < n && g.cap - g.len > 256; i++) {
		while (g.len % NLMSG_ALIGNTO)
			g.buf[g.len++] = 0;
		/* Leave room for what follows: all but the last get a quarter of it. */
		g.cap = i == n - 1 ? UNIT_MAX : g.len + (UNIT_MAX - g.len) / 4;
		gen_msg(w, &g, i == n - 1);
	}
	*n_msgs = i;
	return g.len;
}

/* The model: what the kernel must answer to one message -------------------------------- */

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return v;
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

enum { V_INVALID, V_VALID };

struct req_attrs {
	const uint8_t *id, *path, *config;
};

/* Commands that only read; every other command of the uAPI changes state (CAP_NET_ADMIN). */
static bool cmd_reads_only(uint8_t cmd)
{
	return cmd == PODLANE_CMD_GET_VERSION || cmd == PODLANE_CMD_NODE_PRESSURE ||
	       cmd == PODLANE_CMD_CGROUP_DUMP;
}

static bool cmd_takes(uint8_t cmd, int type)
{
	switch (cmd) {
	case PODLANE_CMD_CGROUP_DUMP:
		return type == PODLANE_A_CGROUP_ID || type == PODLANE_A_CGROUP_PATH;
	case PODLANE_CMD_SET_CONFIG:
		return type == PODLANE_A_CONFIG_CGROUP_PSI;
	default:
		return false;
	}
}

/*
 * The command's policy under genetlink's strict validation (lib/nlattr.c): framing, unknown
 * and unlisted types, NLA_F_NESTED on a scalar, exact sizes, ranges, NUL-terminated strings of
 * at most 4095 bytes. The last of duplicate attributes wins, as in nla_parse().
 */
static int classify(uint8_t cmd, const uint8_t *p, int len, struct req_attrs *ra)
{
	memset(ra, 0, sizeof(*ra));
	while (len >= NLA_HDRLEN) {
		uint16_t nla_len = get16(p), nla_type = get16(p + 2);
		int type = nla_type & NLA_TYPE_MASK, alen = nla_len - NLA_HDRLEN, minlen;
		const uint8_t *data = p + NLA_HDRLEN;

		if (nla_len < NLA_HDRLEN || nla_len > len)
			break;
		if (type == 0 || type > PODLANE_A_MAX || !cmd_takes(cmd, type) ||
		    (nla_type & NLA_F_NESTED))
			return V_INVALID;
		switch (type) {
		case PODLANE_A_CONFIG_CGROUP_PSI:
			if (alen != 1 || data[0] > 1)
				return V_INVALID;
			ra->config = data;
			break;
		case PODLANE_A_CGROUP_ID:
			if (alen != 8 || get64(data) == 0)
				return V_INVALID;
			ra->id = data;
			break;
		case PODLANE_A_CGROUP_PATH:
			minlen = alen < PODLANE_CGROUP_PATH_MAX ? alen : PODLANE_CGROUP_PATH_MAX;
			if (!minlen || !memchr(data, 0, minlen))
				return V_INVALID;
			if (!data[alen - 1])
				alen--;
			if (alen > PODLANE_CGROUP_PATH_MAX - 1)
				return V_INVALID;
			ra->path = data;
			break;
		}
		p += NLA_ALIGN(nla_len);
		len -= NLA_ALIGN(nla_len);
	}
	return len > 0 ? V_INVALID : V_VALID;
}

static void allow(struct expect *e, struct outcome o)
{
	if (e->n_out < 4)
		e->out[e->n_out++] = o;
}

#define OUT(...) ((struct outcome){ __VA_ARGS__ })

/* CGROUP_DUMP with valid attributes: the module resolves the root in its first round. */
static void expect_dump(struct worker *w, struct expect *e, const struct req_attrs *ra)
{
	int node = 0, r;

	if (ra->id && ra->path) {
		allow(e, OUT(O_DUMP, .err = -EINVAL, .need_msg = true));
		return;
	}
	if (ra->id)
		r = resolve_id(get64(ra->id), &node);
	else
		r = resolve_path(ra->path ? (const char *)ra->path : "/", &node);
	if (r == 0) {
		allow(e, OUT(O_DUMP, .min = nodes[node].subtree, .max = nodes[node].subtree,
			     .first_id = nodes[node].id));
		w->dump_running = w->dump_running ?: 1;
	} else if (r < 0) {
		allow(e, OUT(O_DUMP, .err = r, .need_msg = true));
	} else {	/* an id nobody knows: gone, or by chance a real cgroup */
		allow(e, OUT(O_DUMP, .err = -ENOENT, .need_msg = true));
		allow(e, OUT(O_DUMP, .min = 1, .max = n_nodes));
		w->dump_running = 2;
	}
}

static void expect_msg(struct worker *w, struct expect *e)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)e->req;
	const struct genlmsghdr *gh = (const void *)(e->req + NLMSG_HDRLEN);
	uint16_t f = nlh->nlmsg_flags, bad;
	bool ack = f & NLM_F_ACK, dump = (f & NLM_F_DUMP) == NLM_F_DUMP;
	struct req_attrs ra;
	int running, valid;

	e->n_out = 0;
	/* netlink_rcv_skb(): not a request, or a control message - acked if asked, no more. */
	if (!(f & NLM_F_REQUEST) || nlh->nlmsg_type < NLMSG_MIN_TYPE) {
		allow(e, OUT(ack ? O_ACK : O_NONE));
		return;
	}
	/* genl_family_rcv_msg() and genl_header_check() (resv_start_op is 0: every command). */
	if (e->len < NLMSG_HDRLEN + GENL_HDRLEN) {
		allow(e, OUT(O_ERR, .err = -EINVAL));
		return;
	}
	e->cmd = gh->cmd;
	bad = f;
	if (dump)
		bad &= ~NLM_F_DUMP;
	if (gh->reserved || (bad & ~(NLM_F_REQUEST | NLM_F_ACK | NLM_F_ECHO))) {
		allow(e, OUT(O_ERR, .err = -EINVAL, .need_msg = true));
		return;
	}
	if (gh->cmd < 1 || gh->cmd > PODLANE_CMD_MAX) {
		allow(e, OUT(O_ERR, .err = -EOPNOTSUPP));
		return;
	}
	if (!cmd_reads_only(gh->cmd) && !w->priv) {
		e->unpriv_write = true;
		allow(e, OUT(O_ERR, .err = -EPERM));
		return;
	}
	w->st->dispatched++;
	if (dump != (gh->cmd == PODLANE_CMD_CGROUP_DUMP)) {
		allow(e, OUT(O_ERR, .err = -EOPNOTSUPP));
		return;
	}
	valid = classify(gh->cmd, e->req + NLMSG_HDRLEN + GENL_HDRLEN,
			 e->len - NLMSG_HDRLEN - GENL_HDRLEN, &ra);
	if (dump) {
		/* One dump per socket at a time; the check comes before the policy's. */
		running = w->dump_running;
		if (running)
			allow(e, OUT(O_ERR, .err = -EBUSY));
		if (running == 1)
			return;
		if (valid == V_VALID)
			expect_dump(w, e, &ra);
		else
			allow(e, OUT(O_ERR, .err = ERR_POLICY, .need_msg = true));
		return;
	}
	if (valid != V_VALID) {
		allow(e, OUT(O_ERR, .err = ERR_POLICY, .need_msg = true));
		return;
	}
	switch (gh->cmd) {
	case PODLANE_CMD_GET_VERSION:
		allow(e, OUT(O_REPLY, .ack = ack));
		break;
	case PODLANE_CMD_NODE_PRESSURE:
		if (env->node_psi)
			allow(e, OUT(O_REPLY, .ack = ack));
		else
			allow(e, OUT(O_ERR, .err = -EOPNOTSUPP, .need_msg = true));
		break;
	case PODLANE_CMD_SET_CONFIG:
		if (!ra.config)
			allow(e, OUT(O_ERR, .err = -EINVAL, .need_msg = true));
		else if (*ra.config && !env->cgroup_psi)
			allow(e, OUT(O_ERR, .err = -EOPNOTSUPP, .need_msg = true));
		else
			allow(e, OUT(ack ? O_ACK : O_NONE));
		e->setcfg_applies = e->out[0].kind != O_ERR;
		break;
	}
}

/* The messages netlink_rcv_skb() walks in one send, each with what it must answer. */
static void expect_unit(struct worker *w, const uint8_t *buf, size_t len)
{
	size_t off = 0, step;

	while (len - off >= NLMSG_HDRLEN && w->n_exp < MAX_EXPECT - 1) {
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)(buf + off);
		struct expect *e = &w->exp[w->n_exp++];

		if (nlh->nlmsg_len < NLMSG_HDRLEN || nlh->nlmsg_len > len - off) {
			w->n_exp--;
			break;
		}
		memset(e, 0, sizeof(*e));
		e->req = buf + off;
		e->len = nlh->nlmsg_len;
		e->seq = nlh->nlmsg_seq;
		e->flags = nlh->nlmsg_flags;
		expect_msg(w, e);
		step = NLMSG_ALIGN(nlh->nlmsg_len);
		off += step > len - off ? len - off : step;
	}
}

/* Reply checks ------------------------------------------------------------------------- */

static void malformed(struct worker *w, const struct expect *e, const char *what)
{
	w->st->malformed++;
	mismatch(w, e, "malformed reply: %s", what);
}

/* The TLVs after an error or DONE. Returns whether a message string came. */
static bool check_ack_tlvs(struct worker *w, const struct expect *e, const uint8_t *p, int len,
			   bool error)
{
	bool has_msg = false;

	while (len >= NLA_HDRLEN) {
		uint16_t nla_len = get16(p), type = get16(p + 2) & NLA_TYPE_MASK;
		int alen = nla_len - NLA_HDRLEN;
		const uint8_t *d = p + NLA_HDRLEN;
		size_t i;

		if (nla_len < NLA_HDRLEN || nla_len > len) {
			malformed(w, e, "extended-ACK attribute overruns the message");
			return has_msg;
		}
		switch (type) {
		case NLMSGERR_ATTR_MSG:
			if (alen < 1 || d[alen - 1] || memchr(d, 0, alen - 1)) {
				malformed(w, e, "extended-ACK message is not one string");
				break;
			}
			for (i = 0; i < (size_t)alen - 1; i++)
				if (!isprint(d[i])) {
					malformed(w, e, "extended-ACK message is not printable");
					break;
				}
			has_msg = true;
			break;
		case NLMSGERR_ATTR_OFFS:
		case NLMSGERR_ATTR_MISS_NEST:
			if (!error || alen != 4 || get32(d) < NLMSG_HDRLEN || get32(d) >= e->len)
				malformed(w, e, "extended-ACK offset not inside the request");
			break;
		case NLMSGERR_ATTR_MISS_TYPE:
			if (alen != 4)
				malformed(w, e, "extended-ACK missing type is not a u32");
			break;
		case NLMSGERR_ATTR_POLICY:
			if (!(get16(p + 2) & NLA_F_NESTED) && alen)
				malformed(w, e, "extended-ACK policy is not a nest");
			break;
		case NLMSGERR_ATTR_COOKIE:
			if (alen > 20)
				malformed(w, e, "extended-ACK cookie longer than 20 bytes");
			break;
		default:
			malformed(w, e, "unknown extended-ACK attribute");
		}
		p += NLA_ALIGN(nla_len);
		len -= NLA_ALIGN(nla_len);
	}
	if (len > 0)
		malformed(w, e, "bytes after the extended-ACK attributes");
	return has_msg;
}

/* Sizes of podlane's reply attributes (uAPI): 0 a string, -1 a nest of PSI, -2 any. */
static const int reply_attr_size[PODLANE_A_MAX + 1] = {
	[PODLANE_A_PAD] = -2, [PODLANE_A_VERSION] = 4, [PODLANE_A_FEATURES] = 8,
	[PODLANE_A_KERNEL_RELEASE] = 0, [PODLANE_A_PSI_CPU] = -1, [PODLANE_A_PSI_MEMORY] = -1,
	[PODLANE_A_PSI_IO] = -1, [PODLANE_A_CGROUP_ID] = 8, [PODLANE_A_CGROUP_PATH] = 0,
	[PODLANE_A_CGROUP_LEVEL] = 4, [PODLANE_A_CPU_USAGE_US] = 8, [PODLANE_A_CPU_USER_US] = 8,
	[PODLANE_A_CPU_SYSTEM_US] = 8, [PODLANE_A_MEMORY_CURRENT] = 8,
	[PODLANE_A_MEMORY_MAX] = 8, [PODLANE_A_CONFIG_CGROUP_PSI] = 1,
};

static const char *check_psi_nest(const uint8_t *p, int len)
{
	while (len >= NLA_HDRLEN) {
		uint16_t nla_len = get16(p), type = get16(p + 2) & NLA_TYPE_MASK;
		int alen = nla_len - NLA_HDRLEN;

		if (nla_len < NLA_HDRLEN || nla_len > len)
			return "PSI attribute overruns its nest";
		if (type == 0 || type > PODLANE_PSI_A_MAX)
			return "unknown PSI attribute";
		if (type != PODLANE_PSI_A_PAD &&
		    alen != (type == PODLANE_PSI_A_SOME_TOTAL_US ||
			     type == PODLANE_PSI_A_FULL_TOTAL_US ? 8 : 4))
			return "PSI attribute of the wrong size";
		p += NLA_ALIGN(nla_len);
		len -= NLA_ALIGN(nla_len);
	}
	return len > 0 ? "bytes after the PSI attributes" : NULL;
}

/* A data reply: the genetlink header and exactly the attributes the uAPI lists. */
static const char *check_data(uint8_t cmd, const uint8_t *p, int len, uint64_t *id)
{
	const struct genlmsghdr *gh = (const void *)p;
	uint64_t seen = 0, need;
	const char *err;

	if (len < GENL_HDRLEN)
		return "no genetlink header";
	if (gh->cmd != cmd || gh->version != PODLANE_GENL_VERSION || gh->reserved)
		return "genetlink header is not cmd/version of the request";
	p += GENL_HDRLEN;
	len -= GENL_HDRLEN;
	while (len >= NLA_HDRLEN) {
		uint16_t nla_len = get16(p), type = get16(p + 2) & NLA_TYPE_MASK;
		int alen = nla_len - NLA_HDRLEN, size;
		const uint8_t *d = p + NLA_HDRLEN;

		if (nla_len < NLA_HDRLEN || nla_len > len)
			return "attribute overruns the message";
		if (type == 0 || type > PODLANE_A_MAX)
			return "unknown attribute type";
		size = reply_attr_size[type];
		if (size > 0 && alen != size)
			return "attribute of the wrong size";
		if (size == 0 && (alen < 1 || d[alen - 1] || memchr(d, 0, alen - 1)))
			return "string attribute is not one NUL-terminated string";
		if (size == -1 && (err = check_psi_nest(d, alen)))
			return err;
		if (type == PODLANE_A_VERSION && get32(d) != PODLANE_GENL_VERSION)
			return "VERSION is not PODLANE_GENL_VERSION";
		if (type == PODLANE_A_CONFIG_CGROUP_PSI && d[0] > 1)
			return "CONFIG_CGROUP_PSI is not 0 or 1";
		if (type == PODLANE_A_CGROUP_PATH && d[0] != '/')
			return "CGROUP_PATH does not start with /";
		if (type == PODLANE_A_CGROUP_ID && !(seen & (1ULL << type)))
			*id = get64(d);
		seen |= 1ULL << type;
		p += NLA_ALIGN(nla_len);
		len -= NLA_ALIGN(nla_len);
	}
	if (len > 0)
		return "bytes after the attributes";
	switch (cmd) {
	case PODLANE_CMD_GET_VERSION:
		need = 1ULL << PODLANE_A_VERSION | 1ULL << PODLANE_A_FEATURES |
		       1ULL << PODLANE_A_KERNEL_RELEASE | 1ULL << PODLANE_A_CONFIG_CGROUP_PSI;
		break;
	case PODLANE_CMD_NODE_PRESSURE:
		need = 1ULL << PODLANE_A_PSI_CPU | 1ULL << PODLANE_A_PSI_MEMORY |
		       1ULL << PODLANE_A_PSI_IO;
		break;
	case PODLANE_CMD_CGROUP_DUMP:
		need = 1ULL << PODLANE_A_CGROUP_ID | 1ULL << PODLANE_A_CGROUP_PATH |
		       1ULL << PODLANE_A_CGROUP_LEVEL | 1ULL << PODLANE_A_CPU_USAGE_US |
		       1ULL << PODLANE_A_CPU_USER_US | 1ULL << PODLANE_A_CPU_SYSTEM_US;
		break;
	default:
		return "data for a command that has none";
	}
	return (seen & need) == need ? NULL : "a required attribute is missing";
}

static struct expect *find_expect(struct worker *w, uint32_t seq)
{
	int i;

	for (i = 0; i < w->n_exp; i++)
		if (w->exp[i].seq == seq)
			return &w->exp[i];
	return NULL;
}

static void on_reply(struct worker *w, const struct nlmsghdr *nlh)
{
	const uint8_t *p = (const uint8_t *)NLMSG_DATA(nlh);
	int len = nlh->nlmsg_len - NLMSG_HDRLEN;
	struct expect *e = find_expect(w, nlh->nlmsg_seq);
	const char *err;

	w->st->replies++;
	if (!e) {
		malformed(w, NULL, "reply to a sequence number not sent");
		return;
	}
	if (nlh->nlmsg_pid != w->portid)
		malformed(w, e, "reply not addressed to our port");
	if (e->n_err || e->n_done)
		e->after_end = true;

	switch (nlh->nlmsg_type) {
	case NLMSG_ERROR: {
		const struct nlmsgerr *ne = (const void *)p;
		int off = sizeof(*ne);

		e->n_err++;
		if (len < (int)sizeof(*ne)) {
			malformed(w, e, "error message shorter than struct nlmsgerr");
			return;
		}
		e->err = ne->error;
		if (ne->error > 0 || ne->error < -4095)
			malformed(w, e, "error code out of range");
		/* NETLINK_CAP_ACK: the request's header comes back, not its payload. */
		if (memcmp(&ne->msg, e->req, NLMSG_HDRLEN))
			malformed(w, e, "echoed header differs from the request's");
		if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
			off = NLMSG_ALIGN(off);
			e->err_msg = check_ack_tlvs(w, e, p + off, len - off, ne->error);
		} else if (len != (int)NLMSG_ALIGN(off)) {
			malformed(w, e, "bytes after the error");
		}
		break;
	}
	case NLMSG_DONE:
		e->n_done++;
		if (len < (int)sizeof(int) || !(nlh->nlmsg_flags & NLM_F_MULTI)) {
			malformed(w, e, "DONE without an error code or NLM_F_MULTI");
			return;
		}
		e->done_err = *(const int *)p;
		if (e->done_err > 0 || e->done_err < -4095)
			malformed(w, e, "DONE error out of range");
		if (nlh->nlmsg_flags & NLM_F_ACK_TLVS)
			e->done_msg = check_ack_tlvs(w, e, p + 4, len - 4, false);
		else if (len != 4)
			malformed(w, e, "bytes after DONE's error code");
		break;
	default:
		if (nlh->nlmsg_type != env->family) {
			malformed(w, e, "reply of a type that is neither error, DONE nor podlane");
			return;
		}
		e->n_data++;
		w->st->data++;
		if (nlh->nlmsg_flags & NLM_F_MULTI)
			e->n_multi++;
		err = check_data(e->sync ? PODLANE_CMD_GET_VERSION : e->cmd, p, len,
				 e->n_data == 1 ? &e->first_id : &(uint64_t){ 0 });
		if (err)
			malformed(w, e, err);
	}
}

static bool outcome_matches(const struct worker *w, const struct expect *e,
			    const struct outcome *o)
{
	if (e->after_end)
		return false;
	switch (o->kind) {
	case O_NONE:
		return !e->n_data && !e->n_err && !e->n_done;
	case O_ACK:
		return !e->n_data && !e->n_done && e->n_err == 1 && e->err == 0;
	case O_ERR:
		if (e->n_data || e->n_done || e->n_err != 1 || e->err >= 0)
			return false;
		if (o->need_msg && !e->err_msg)
			return false;
		if (o->err == ERR_POLICY)
			return e->err == -EINVAL || e->err == -ERANGE;
		return e->err == o->err;
	case O_REPLY:
		return e->n_data == 1 && !e->n_multi && !e->n_done &&
		       (o->ack ? e->n_err == 1 && e->err == 0 : e->n_err == 0);
	case O_DUMP:
		if (e->n_err || e->n_done != 1 || e->n_multi != e->n_data)
			return false;
		if (o->err == ERR_ANY ? e->done_err >= 0 : e->done_err != o->err)
			return false;
		if (e->done_err && o->need_msg && !e->done_msg)
			return false;
		return e->n_data >= o->min && e->n_data <= o->max &&
		       (!o->first_id || o->first_id == e->first_id);
	}
	return false;
}

static const char *kind_name[] = { "nothing", "ACK", "error", "reply", "dump" };

static void evaluate(struct worker *w, struct expect *e)
{
	char want[200];
	size_t o = 0;
	int i, code;

	for (i = 0; i < e->n_out; i++)
		if (outcome_matches(w, e, &e->out[i]))
			break;
	if (e->unpriv_write) {
		w->st->writes_checked++;
		w->st->writes_eperm += e->n_err == 1 && e->err == -EPERM;
	}
	/* e->cmd is set once netlink hands the message to genetlink. */
	if (!w->priv && e->cmd >= 1 && e->cmd <= PODLANE_CMD_MAX && !cmd_reads_only(e->cmd) &&
	    e->n_err == 1 && e->err == 0)
		mismatch(w, e, "a command that changes state succeeded for the unprivileged");
	if (e->setcfg_applies && i < e->n_out)
		w->st->setcfg_ok++;
	code = e->n_err ? -e->err : e->n_done ? -e->done_err : 0;
	if (code >= 0 && code < ERRNO_MAX && (e->n_err || e->n_done || e->n_data))
		w->st->err[code]++;
	w->st->dumps += e->n_done;
	if (i < e->n_out)
		return;
	for (i = 0; i < e->n_out && o < sizeof(want) - 40; i++)
		o += snprintf(want + o, sizeof(want) - o, "%s%s %d%s [%d,%d]", i ? " or " : "",
			      kind_name[e->out[i].kind], e->out[i].err,
			      e->out[i].need_msg ? " with message" : "", e->out[i].min,
			      e->out[i].max);
	mismatch(w, e, "expected %s; got %d data (%d multi), %d errors (last %d%s), "
		 "%d DONE (%d%s)%s", want, e->n_data, e->n_multi, e->n_err, e->err,
		 e->err_msg ? " with message" : "", e->n_done, e->done_err,
		 e->done_msg ? " with message" : "",
		 e->after_end ? ", replies after the end" : "");
}

/* Batches: send up to BATCH_UNITS, then a GET_VERSION to sync on, then read it all ------- */

static int set_opt(int fd, int opt, int val)
{
	return setsockopt(fd, SOL_NETLINK, opt, &val, sizeof(val));
}

static bool dumps_open(const struct worker *w)
{
	int i;

	for (i = 0; i < w->n_exp; i++)
		if (w->exp[i].n_multi && !w->exp[i].n_done && !w->exp[i].n_err)
			return true;
	return false;
}

static int batch(struct worker *w)
{
	static uint8_t buf[RECV_BUF];
	struct expect *sync;
	struct nlmsghdr *nlh;
	int u, i, n_msgs;
	size_t len;

	w->n_exp = 0;
	w->dump_running = 0;
	for (u = 0; u < BATCH_UNITS && w->st->msgs < env->quota; u++) {
		len = gen_unit(w, w->unit[u], &n_msgs);
		w->st->units++;
		w->st->msgs += n_msgs;
		expect_unit(w, w->unit[u], len);
		if (send(w->fd, w->unit[u], len, 0) != (ssize_t)len) {
			mismatch(w, NULL, "send of %zu bytes: %s", len, strerror(errno));
			return -EIO;
		}
	}

	nlh = (struct nlmsghdr *)w->sync;
	memset(w->sync, 0, sizeof(w->sync));
	nlh->nlmsg_len = NLMSG_HDRLEN + GENL_HDRLEN;
	nlh->nlmsg_type = env->family;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = SYNC_SEQ | ++w->st->syncs;
	((struct genlmsghdr *)NLMSG_DATA(nlh))->cmd = PODLANE_CMD_GET_VERSION;
	((struct genlmsghdr *)NLMSG_DATA(nlh))->version = PODLANE_GENL_VERSION;
	sync = &w->exp[w->n_exp++];
	memset(sync, 0, sizeof(*sync));
	sync->req = w->sync;
	sync->len = nlh->nlmsg_len;
	sync->seq = nlh->nlmsg_seq;
	sync->flags = nlh->nlmsg_flags;
	sync->sync = true;
	sync->cmd = PODLANE_CMD_GET_VERSION;
	allow(sync, OUT(O_REPLY, .ack = true));
	if (send(w->fd, w->sync, nlh->nlmsg_len, 0) != (ssize_t)nlh->nlmsg_len) {
		mismatch(w, NULL, "send of the sync message: %s", strerror(errno));
		return -EIO;
	}

	while (!sync->n_err || dumps_open(w)) {
		struct pollfd pfd = { .fd = w->fd, .events = POLLIN };
		ssize_t n;
		int rem;

		if (poll(&pfd, 1, 20000) != 1) {
			mismatch(w, NULL, "no answer within 20 s");
			return -ETIMEDOUT;
		}
		n = recv(w->fd, buf, sizeof(buf), MSG_TRUNC);
		if (n < 0) {
			mismatch(w, NULL, "recv: %s", strerror(errno));
			if (errno == ENOBUFS)
				continue;
			return -errno;
		}
		if (n > (ssize_t)sizeof(buf)) {
			malformed(w, NULL, "reply larger than the receive buffer");
			continue;
		}
		rem = n;
		for (nlh = (struct nlmsghdr *)buf; NLMSG_OK(nlh, rem); nlh = NLMSG_NEXT(nlh, rem))
			on_reply(w, nlh);
		if (rem > 0 && rem != (int)(NLMSG_ALIGN(n) - n))
			malformed(w, NULL, "bytes after the last message of a read");
	}
	for (i = 0; i < w->n_exp; i++)
		evaluate(w, &w->exp[i]);
	return 0;
}

static void worker_run(struct worker *w)
{
	double t0 = now();
	int rcvbuf = 1 << 20;

	setsockopt(w->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (set_opt(w->fd, NETLINK_EXT_ACK, 1) || set_opt(w->fd, NETLINK_CAP_ACK, 1)) {
		snprintf(w->st->note, sizeof(w->st->note), "NETLINK_EXT_ACK, NETLINK_CAP_ACK: %s",
			 strerror(errno));
		w->st->aborted = true;
		return;
	}
	while (w->st->msgs < env->quota) {
		if (now() > env->deadline) {
			w->st->time_limited = true;
			break;
		}
		if (batch(w)) {
			w->st->aborted = true;
			break;
		}
	}
	w->st->secs = now() - t0;
}

static int nl_open(uint32_t *portid)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl)) {
		close(fd);
		return -errno;
	}
	*portid = sa.nl_pid;
	return fd;
}

/* Ways of lacking CAP_NET_ADMIN -------------------------------------------------------- */

static int drop_to_nobody(void)
{
	if (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
	    setresuid(NOBODY, NOBODY, NOBODY))
		return -errno;
	return 0;
}

static int drop_net_admin(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (prctl(PR_CAPBSET_DROP, CAP_NET_ADMIN, 0, 0, 0) ||
	    syscall(SYS_capget, &h, d))
		return -errno;
	d[0].effective &= ~(1u << CAP_NET_ADMIN);
	d[0].permitted &= ~(1u << CAP_NET_ADMIN);
	d[0].inheritable &= ~(1u << CAP_NET_ADMIN);
	if (syscall(SYS_capset, &h, d))
		return -errno;
	return 0;
}

/* A socket opened by "nobody" in a short-lived child, passed back over a unix socket. */
static int nobody_socket(uint32_t *portid)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = {};
	struct iovec iov = { .iov_base = portid, .iov_len = sizeof(*portid) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	int sv[2], fd = -1, status;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv))
		return -errno;
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		if (drop_to_nobody())
			_exit(2);
		fd = nl_open(portid);
		if (fd < 0)
			_exit(3);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
		_exit(sendmsg(sv[1], &mh, 0) < 0 ? 4 : 0);
	}
	close(sv[1]);
	if (pid > 0 && recvmsg(sv[0], &mh, 0) > 0 && (c = CMSG_FIRSTHDR(&mh)) &&
	    c->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(c), sizeof(int));
	close(sv[0]);
	if (pid > 0)
		waitpid(pid, &status, 0);
	return fd >= 0 ? fd : -EPERM;
}

enum variant { NOBODY_OWN, NOBODY_ROOTS, ROOT_NOBODYS, ROOT_NO_CAP, USERNS_ROOT, PRIV1, PRIV2 };

static const char * const variant_name[] = {
	[NOBODY_OWN]	= "unpriv-nobody",
	[NOBODY_ROOTS]	= "unpriv-nobody-on-root-socket",
	[ROOT_NOBODYS]	= "unpriv-root-on-nobody-socket",
	[ROOT_NO_CAP]	= "unpriv-root-without-cap-net-admin",
	[USERNS_ROOT]	= "unpriv-root-of-user-namespace",
	[PRIV1]		= "priv-1",
	[PRIV2]		= "priv-2",
};

/* Child: become the variant, open its socket, fuzz, exit. */
static void worker_main(enum variant v, struct wstats *st)
{
	static struct worker w;
	int fd = -1, err = 0;

	w.st = st;
	w.priv = v >= PRIV1;
	w.rng = env->seed ^ (0x1000193ULL * (v + 1));
	w.seq = v << 26;
	switch (v) {
	case NOBODY_OWN:
		err = drop_to_nobody();
		fd = err ?: nl_open(&w.portid);
		break;
	case NOBODY_ROOTS:
		fd = nl_open(&w.portid);
		err = fd < 0 ? fd : drop_to_nobody();
		break;
	case ROOT_NOBODYS:
		fd = nobody_socket(&w.portid);
		break;
	case ROOT_NO_CAP:
		err = drop_net_admin();
		fd = err ?: nl_open(&w.portid);
		break;
	case USERNS_ROOT:
		if (unshare(CLONE_NEWUSER | CLONE_NEWNET)) {
			st->skipped = true;
			snprintf(st->note, sizeof(st->note),
				 "unshare(CLONE_NEWUSER|CLONE_NEWNET): %s", strerror(errno));
			_exit(0);
		}
		fd = nl_open(&w.portid);
		break;
	default:
		fd = nl_open(&w.portid);
		break;
	}
	if (err || fd < 0) {
		snprintf(st->note, sizeof(st->note), "setting up: %s",
			 strerror(-(err ?: fd)));
		st->aborted = true;
		_exit(1);
	}
	w.fd = fd;
	worker_run(&w);
	_exit(0);
}

/* Runs the workers [from, to) at once; returns how many did not exit cleanly. */
static int run_workers(enum variant from, enum variant to, const char *only, double secs)
{
	pid_t pids[8] = {};
	int v, status, bad = 0;

	env->deadline = now() + secs;
	for (v = from; v < to; v++) {
		struct wstats *st = &env->st[v];

		memset(st, 0, sizeof(*st));
		snprintf(st->name, sizeof(st->name), "%s", variant_name[v]);
		st->priv = v >= PRIV1;
		if (only && strcmp(only, st->name)) {
			st->skipped = true;
			snprintf(st->note, sizeof(st->note), "not selected (-o %s)", only);
			continue;
		}
		pids[v] = fork();
		if (pids[v] == 0) {
			alarm(secs + 120);
			worker_main(v, st);
		}
	}
	for (v = from; v < to; v++) {
		if (pids[v] <= 0)
			continue;
		waitpid(pids[v], &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			bad++;
			if (!env->st[v].note[0])
				snprintf(env->st[v].note, sizeof(env->st[v].note),
					 "worker died (status 0x%x)", status);
			env->st[v].aborted = true;
		}
	}
	return bad;
}

static void report_worker(const struct wstats *st)
{
	char errs[400], end[200] = "";
	size_t o = 0;
	int i;

	if (st->skipped) {
		skip("%s: %s", st->name, st->note);
		return;
	}
	for (i = 0; i < ERRNO_MAX && o < sizeof(errs) - 40; i++)
		if (st->err[i])
			o += snprintf(errs + o, sizeof(errs) - o, " %s%s=%" PRIu64, i ? "-" : "",
				      i ? strerrorname_np(i) ?: "?" : "ok", st->err[i]);
	diag("%s: %" PRIu64 " messages in %" PRIu64 " sends, %.1f s (%.0f/s); %" PRIu64
	     " reached a command, %" PRIu64 " replies (%" PRIu64 " data, %" PRIu64 " dumps)",
	     st->name, st->msgs, st->units, st->secs, st->secs > 0 ? st->msgs / st->secs : 0,
	     st->dispatched, st->replies, st->data, st->dumps);
	diag("%s: outcomes%s", st->name, errs);
	if (st->aborted)
		snprintf(end, sizeof(end), "; aborted: %s", st->note);
	else if (st->time_limited)
		snprintf(end, sizeof(end), "; stopped by the time limit");
	if (st->priv)
		ok(!st->mismatches && !end[0],
		   "%s: %" PRIu64 " messages, every answer well-formed and as the model says "
		   "(%" PRIu64 " mismatches, %" PRIu64 " malformed; SET_CONFIG applied %" PRIu64
		   " times)%s", st->name, st->msgs, st->mismatches, st->malformed, st->setcfg_ok,
		   end);
	else
		ok(!st->mismatches && !end[0] && st->writes_eperm == st->writes_checked &&
		   (st->writes_checked || st->msgs < 1000),
		   "%s: %" PRIu64 " messages, every answer well-formed and as the model says "
		   "(%" PRIu64 " mismatches, %" PRIu64 " malformed); commands that change state: "
		   "%" PRIu64 " EPERM of %" PRIu64 "%s", st->name, st->msgs, st->mismatches,
		   st->malformed, st->writes_eperm, st->writes_checked, end);
}

/* The parent's own requests ------------------------------------------------------------ */

struct psock {
	int fd;
	uint32_t portid, seq;
};

/*
 * Send one request and read to its end: returns the error (0 success), and for GET_VERSION the
 * CONFIG_CGROUP_PSI value and features; for dumps the number of messages.
 */
static int request(struct psock *s, uint16_t type, uint8_t cmd, uint16_t flags,
		   const void *attrs, size_t attrs_len, int *count, uint8_t *config,
		   uint64_t *features)
{
	static uint8_t buf[RECV_BUF];
	uint8_t req[256] = {};
	struct nlmsghdr *nlh = (struct nlmsghdr *)req;
	struct genlmsghdr *gh = NLMSG_DATA(nlh);

	nlh->nlmsg_len = NLMSG_HDRLEN + GENL_HDRLEN + attrs_len;
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	nlh->nlmsg_seq = ++s->seq;
	gh->cmd = cmd;
	gh->version = 1;
	memcpy(req + NLMSG_HDRLEN + GENL_HDRLEN, attrs, attrs_len);
	if (count)
		*count = 0;
	if (send(s->fd, req, nlh->nlmsg_len, 0) < 0)
		return -errno;
	for (;;) {
		struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
		ssize_t n;
		int rem;

		if (poll(&pfd, 1, 10000) != 1)
			return -ETIMEDOUT;
		n = recv(s->fd, buf, sizeof(buf), 0);
		if (n < 0)
			return -errno;
		rem = n;
		for (nlh = (struct nlmsghdr *)buf; NLMSG_OK(nlh, rem); nlh = NLMSG_NEXT(nlh, rem)) {
			const uint8_t *p = NLMSG_DATA(nlh);
			int len = nlh->nlmsg_len - NLMSG_HDRLEN;

			if (nlh->nlmsg_seq != s->seq)
				continue;
			if (nlh->nlmsg_type == NLMSG_ERROR || nlh->nlmsg_type == NLMSG_DONE)
				return *(const int *)p;
			if (count)
				(*count)++;
			for (p += GENL_HDRLEN, len -= GENL_HDRLEN; len >= NLA_HDRLEN;
			     len -= NLA_ALIGN(get16(p)), p += NLA_ALIGN(get16(p))) {
				uint16_t t = get16(p + 2) & NLA_TYPE_MASK;

				if (get16(p) < NLA_HDRLEN)
					break;
				if (type == GENL_ID_CTRL) {
					if (t == CTRL_ATTR_FAMILY_ID)
						env->family = get16(p + 4);
					continue;
				}
				if (t == PODLANE_A_CONFIG_CGROUP_PSI && config)
					*config = p[4];
				if (t == PODLANE_A_FEATURES && features)
					*features = get64(p + 4);
			}
		}
	}
}

static int family_resolve(struct psock *s)
{
	uint8_t a[16] = {};
	uint16_t hdr[2] = { NLA_HDRLEN + sizeof(PODLANE_GENL_NAME), CTRL_ATTR_FAMILY_NAME };

	memcpy(a, hdr, sizeof(hdr));
	memcpy(a + 4, PODLANE_GENL_NAME, sizeof(PODLANE_GENL_NAME));
	env->family = 0;
	return request(s, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 0, a,
		       NLA_ALIGN(NLA_HDRLEN + sizeof(PODLANE_GENL_NAME)), NULL, NULL, NULL) ?:
	       (env->family ? 0 : -ENOENT);
}

static int get_config(struct psock *s, uint8_t *config)
{
	*config = 0xff;
	return request(s, env->family, PODLANE_CMD_GET_VERSION, 0, NULL, 0, NULL, config,
		       &env->features);
}

static int set_config(struct psock *s, uint8_t val)
{
	uint8_t a[8] = { 5, 0, PODLANE_A_CONFIG_CGROUP_PSI, 0, val };

	return request(s, env->family, PODLANE_CMD_SET_CONFIG, 0, a, sizeof(a), NULL, NULL, NULL);
}

/* Module, cgroups, kernel log, memory ------------------------------------------------- */

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

/* The last netlink socket's release is RCU-deferred: retry a while. */
static int module_unload_wait(void)
{
	int i, err = 0;

	for (i = 0; i < 200; i++) {
		err = syscall(SYS_delete_module, "podlane", O_NONBLOCK) ? -errno : 0;
		if (err != -EWOULDBLOCK && err != -EBUSY)
			return err;
		usleep(25000);
	}
	return err;
}

static long read_long(const char *path, const char *key)
{
	char line[256];
	long v = -1;
	size_t kl = key ? strlen(key) : 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!key) {
			v = strtol(line, NULL, 10);
			break;
		}
		if (!strncmp(line, key, kl) && (line[kl] == ' ' || line[kl] == ':')) {
			v = strtol(line + kl + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

static long dying_descendants(void)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/cgroup.stat", cg_mount);
	return read_long(p, "nr_dying_descendants");
}

static const char * const fuzz_dirs[] = { FUZZ_DIR, FUZZ_DIR "/a", FUZZ_DIR "/a/b", FUZZ_DIR "/c" };
#define N_FUZZ_DIRS (int)(sizeof(fuzz_dirs) / sizeof(fuzz_dirs[0]))
static int held[8], n_held;

static int setup_cgroups(void)
{
	static const char * const hold[] = {
		FUZZ_DIR "/a/cgroup.procs", FUZZ_DIR "/cpu.pressure", FUZZ_DIR "/a/b/cgroup.events",
		"cgroup.procs", "cpu.pressure", FUZZ_DIR "/c/memory.pressure",
	};
	char p[512];
	struct stat st;
	int i, fd;

	for (i = 0; i < N_FUZZ_DIRS; i++) {
		snprintf(p, sizeof(p), "%s/%s", cg_mount, fuzz_dirs[i]);
		if (mkdir(p, 0755) && errno != EEXIST)
			return -errno;
	}
	snprintf(p, sizeof(p), "%s/%s/gone", cg_mount, FUZZ_DIR);
	if ((mkdir(p, 0755) && errno != EEXIST) || stat(p, &st) || rmdir(p))
		return -errno;
	removed_id = st.st_ino;
	/* Held open through the run, as a monitoring agent would. */
	for (i = 0; i < (int)(sizeof(hold) / sizeof(hold[0])); i++) {
		snprintf(p, sizeof(p), "%s/%s", cg_mount, hold[i]);
		fd = open(p, O_RDONLY | O_CLOEXEC);
		if (fd >= 0)
			held[n_held++] = fd;
	}
	nodes = calloc(MAX_NODES, sizeof(*nodes));
	if (!nodes || stat(cg_mount, &st))
		return -ENOMEM;
	tree_add(-1, "", &st);
	return tree_read(cg_mount, 0);
}

static int remove_cgroups(void)
{
	char p[512];
	int i, err = 0;

	while (n_held)
		close(held[--n_held]);
	for (i = N_FUZZ_DIRS - 1; i >= 0; i--) {
		snprintf(p, sizeof(p), "%s/%s", cg_mount, fuzz_dirs[i]);
		if (rmdir(p) && errno != ENOENT)
			err = -errno;
	}
	return err;
}

static const char * const bad_words[] = {
	"WARNING", "BUG", "Oops", "KASAN", "UBSAN", "general protection", "Call Trace",
	"kmemleak", "list_add corruption", "list_del corruption", "stack-protector",
	"page allocation failure", "rcu_sched self-detected", "blocked for more than",
};

static bool bad_line(const char *msg)
{
	size_t i;

	for (i = 0; i < sizeof(bad_words) / sizeof(bad_words[0]); i++)
		if (strstr(msg, bad_words[i]))
			return true;
	return strcasestr(msg, "refcount") || strcasestr(msg, "leak");
}

/* Reads the kernel log from @fd (positioned at the start of the run) to its end. */
static void check_kmsg(int fd, int *bad, int *netlink, int *lost, int *total)
{
	char rec[8192];
	ssize_t n;

	*bad = *netlink = *lost = *total = 0;
	for (;;) {
		char *msg;

		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE) {
			(*lost)++;
			continue;
		}
		if (n <= 0)
			break;
		rec[n] = '\0';
		msg = strchr(rec, ';');
		msg = msg ? msg + 1 : rec;
		(*total)++;
		if (bad_line(msg)) {
			(*bad)++;
			if (*bad <= 20)
				diag("dmesg: %.*s", (int)strcspn(msg, "\n"), msg);
		} else if (!strncmp(msg, "netlink: ", 9) || strstr(msg, "callbacks suppressed")) {
			(*netlink)++;
			if (*netlink <= 3)
				diag("dmesg (expected, netlink's own note on bad input): %.*s",
				     (int)strcspn(msg, "\n"), msg);
		} else if (*total - *netlink <= 10) {
			diag("dmesg: %.*s", (int)strcspn(msg, "\n"), msg);
		}
	}
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) < 0)
		err = -errno;
	close(fd);
	return err;
}

static void usage(const char *argv0)
{
	fprintf(stderr, "usage: %s [-n MESSAGES] [-t SECONDS] [-s SEED] [-o WORKER] "
		"<podlane.ko> [cgroup2-mount]\n", argv0);
	exit(2);
}

int main(int argc, char **argv)
{
	uint64_t total = 20000, seed = 0;
	double secs = 200, t0;
	const char *only = NULL;
	struct psock ps = {};
	long taint0, taint1, slab0, slab1, dying0, dying = -1;
	int err, opt, kmsg, bad, netlink, lost, nrec, count = -1, i;
	uint64_t all = 0, eperm = 0, checked = 0;
	uint8_t config;
	bool have_seed = false;

	while ((opt = getopt(argc, argv, "n:t:s:o:")) != -1) {
		switch (opt) {
		case 'n':
			total = strtoull(optarg, NULL, 0);
			break;
		case 't':
			secs = strtod(optarg, NULL);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			have_seed = true;
			break;
		case 'o':
			only = optarg;
			break;
		default:
			usage(argv[0]);
		}
	}
	if (optind >= argc)
		usage(argv[0]);
	ko_path = argv[optind];
	if (optind + 1 < argc)
		cg_mount = argv[optind + 1];
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid()) {
		printf("1..0 # SKIP needs root to load podlane.ko\n");
		return 0;
	}
	if (!have_seed)
		seed = (uint64_t)time(NULL) * 1000003 ^ getpid();
	env = mmap(NULL, sizeof(*env), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (env == MAP_FAILED)
		return 1;
	env->seed = seed;
	env->quota = (total + 9) / 10;	/* unprivileged: 5 workers x 1/10 */
	printf("1..%d\n", PLAN);
	diag("seed %" PRIu64 ", %" PRIu64 " messages, time limit %.0f s (replay: kmod_fuzz -s %"
	     PRIu64 " -n %" PRIu64 " %s)", seed, total, secs, seed, total, ko_path);

	kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (kmsg >= 0)
		lseek(kmsg, 0, SEEK_END);
	taint0 = read_long("/proc/sys/kernel/tainted", NULL);

	err = module_load();
	ok(!err, "load %s (%s)", ko_path, strerror(-err));
	ps.fd = nl_open(&ps.portid);
	err = ps.fd < 0 ? ps.fd : family_resolve(&ps) ?: get_config(&ps, &config);
	ok(!err, "family '%s' resolves and answers GET_VERSION (features 0x%" PRIx64 ", %s)",
	   PODLANE_GENL_NAME, env->features, strerror(-err));
	if (err) {
		printf("Bail out! module not usable\n");
		return 1;
	}
	env->node_psi = env->features & PODLANE_F_NODE_PRESSURE;
	env->cgroup_psi = env->features & PODLANE_F_CGROUP_PSI;
	dying0 = dying_descendants();
	err = setup_cgroups();
	ok(!err, "cgroups under %s/%s created, tree read: %d nodes, %d files held open (%s)",
	   cg_mount, FUZZ_DIR, n_nodes, n_held, strerror(-err));
	if (err) {
		printf("Bail out! no cgroup tree\n");
		return 1;
	}

	/* Unprivileged phase: the flag must stay 0 whatever they send. */
	err = set_config(&ps, 0) ?: get_config(&ps, &config);
	ok(!err && config == 0, "SET_CONFIG CGROUP_PSI=0 before the unprivileged phase (%s)",
	   strerror(-err));
	slab0 = read_long("/proc/meminfo", "SUnreclaim");
	t0 = now();
	run_workers(NOBODY_OWN, PRIV1, only, secs / 2);
	for (i = NOBODY_OWN; i < PRIV1; i++) {
		report_worker(&env->st[i]);
		all += env->st[i].msgs;
		eperm += env->st[i].writes_eperm;
		checked += env->st[i].writes_checked;
	}
	err = get_config(&ps, &config);
	ok(!err && config == 0, "configuration unchanged by the unprivileged workers "
	   "(CGROUP_PSI=%u; %" PRIu64 " commands that change state answered EPERM of %" PRIu64
	   ")", config, eperm, checked);

	env->quota = (total - env->quota * 5 + 1) / 2;
	run_workers(PRIV1, PRIV2 + 1, only, secs / 2);
	for (i = PRIV1; i <= PRIV2; i++) {
		report_worker(&env->st[i]);
		all += env->st[i].msgs;
	}
	diag("%" PRIu64 " messages in %.1f s (%.0f/s); seed %" PRIu64, all, now() - t0,
	     all / (now() - t0), seed);

	/* Afterwards. */
	bad = netlink = lost = nrec = 0;
	if (kmsg >= 0)
		check_kmsg(kmsg, &bad, &netlink, &lost, &nrec);
	ok(kmsg >= 0 && !bad && !lost, "kernel log since the start: %d records, none matches "
	   "BUG/WARNING/Oops/KASAN/UBSAN/refcount/leak (%d bad, %d netlink notes on bad input, "
	   "%d lost)", nrec, bad, netlink, lost);
	taint1 = read_long("/proc/sys/kernel/tainted", NULL);
	ok(taint1 >= 0 && !((taint1 & ~taint0) & (1 << 5 | 1 << 7 | 1 << 9 | 1 << 14)),
	   "no new taint: bad page, oops, warning or lockup (%ld, was %ld)", taint1, taint0);

	{
		uint8_t path[12] = { 6, 0, PODLANE_A_CGROUP_PATH, 0, '/', 0 };

		err = set_config(&ps, env->cgroup_psi) ?: get_config(&ps, &config) ?:
		      request(&ps, env->family, PODLANE_CMD_CGROUP_DUMP, NLM_F_DUMP, path, 8,
			      &count, NULL, NULL);
		if (!err && env->node_psi)
			err = request(&ps, env->family, PODLANE_CMD_NODE_PRESSURE, 0, NULL, 0,
				      NULL, NULL, NULL);
		ok(!err && config == env->cgroup_psi && count == nodes[0].subtree,
		   "module still answers: SET_CONFIG back to %d, GET_VERSION, NODE_PRESSURE, dump "
		   "of / (%d of %d cgroups) (%s)", env->cgroup_psi, count, nodes[0].subtree,
		   strerror(-err));
	}
	close(ps.fd);

	err = remove_cgroups();
	for (i = 0; i < 100 && (dying = dying_descendants()) > dying0; i++)
		usleep(100000);
	ok(!err && dying <= dying0, "fuzz cgroups removed, none left dying (referenced): %ld, "
	   "%ld before (%s)", dying, dying0, strerror(-err));

	sleep(1);
	write_str("/proc/sys/vm/drop_caches", "3");
	slab1 = read_long("/proc/meminfo", "SUnreclaim");
	ok(slab0 > 0 && slab1 > 0 && slab1 - slab0 < 4096,
	   "unreclaimable slab grew by %ld kB over the run (limit 4096 kB): %ld -> %ld",
	   slab1 - slab0, slab0, slab1);

	diag("module refcnt before unloading: %ld", read_long("/sys/module/podlane/refcnt", NULL));
	err = module_unload_wait();
	ok(!err, "rmmod podlane: no reference left (%s)", strerror(-err));

	err = module_load();
	ok(!err, "load again for the tests that follow (%s)", strerror(-err));
	if (tests != PLAN)
		printf("# planned %d tests, ran %d\n", PLAN, tests);
	return failed || tests != PLAN ? 1 : 0;
}
