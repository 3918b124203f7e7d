// SPDX-License-Identifier: GPL-2.0-only
/*
 * acct_snapshot.c - what one accounting snapshot of many cgroups costs through podlane.ko
 * against reading the same figures from cgroupfs, measured side by side in one run (the
 * guest half of scripts/bench/bench-snapshot.sh), plus TAP checks that both sources saw the
 * same cgroups and the same figures.
 *
 * A snapshot is what podlaned needs per cgroup: CPU usage (cpu.stat), memory (memory.current,
 * memory.max) and pressure (cpu/memory/io.pressure). Through the module it is one
 * CGROUP_DUMP of the subtree; through cgroupfs a directory walk that opens and reads each
 * file. Both are also timed without pressure (SET_CONFIG turns the module's per-cgroup PSI
 * off), since PSI is most of the file reads. Rounds alternate the sources so drift hits both.
 *
 * Usage: acct_snapshot <podlane.ko> [cgroups (default 1000)] [rounds (default 11)]
 *	[cgroup2 mount (default /sys/fs/cgroup)]
 *
 * It compiles podlaned's client (userspace/lib/genl.c) in: the guest binaries link no
 * libpodlane.a.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "genl.c"

#define FANOUT	10	/* cgroups under the bench root; leaves go below them */

static const char *cg_mount = "/sys/fs/cgroup";
static char root[512];
static int tests, failed;

static void ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void ok(bool cond, const char *fmt, ...)
{
	va_list ap;

	tests++;
	failed += !cond;
	printf("%sok %d - ", cond ? "" : "not ", tests);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static int module_load(const char *ko)
{
	int fd = open(ko, O_RDONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	if (syscall(SYS_finit_module, fd, "", 0))
		err = errno == EEXIST ? 0 : -errno;
	close(fd);
	return err;
}

static void write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	if (write(fd, s, strlen(s)) < 0)
		fprintf(stderr, "# write %s to %s: %s\n", s, path, strerror(errno));
	close(fd);
}

/* root plus FANOUT groups plus leaves below them: n cgroups under root in all. */
static int make_tree(int n)
{
	char p[700];
	int i, j, per = (n - FANOUT) / FANOUT;

	snprintf(p, sizeof(p), "%s/cgroup.subtree_control", cg_mount);
	write_file(p, "+memory");
	snprintf(root, sizeof(root), "%s/plbench", cg_mount);
	if (mkdir(root, 0755) && errno != EEXIST)
		return -errno;
	snprintf(p, sizeof(p), "%s/cgroup.subtree_control", root);
	write_file(p, "+memory");
	for (i = 0; i < FANOUT; i++) {
		snprintf(p, sizeof(p), "%s/g%02d", root, i);
		if (mkdir(p, 0755) && errno != EEXIST)
			return -errno;
		snprintf(p, sizeof(p), "%s/g%02d/cgroup.subtree_control", root, i);
		write_file(p, "+memory");
		for (j = 0; j < per; j++) {
			snprintf(p, sizeof(p), "%s/g%02d/l%03d", root, i, j);
			if (mkdir(p, 0755) && errno != EEXIST)
				return -errno;
		}
	}
	return FANOUT + FANOUT * per;
}

static void remove_tree(int n)
{
	char p[700];
	int i, j, per = (n - FANOUT) / FANOUT;

	for (i = 0; i < FANOUT; i++) {
		for (j = 0; j < per; j++) {
			snprintf(p, sizeof(p), "%s/g%02d/l%03d", root, i, j);
			rmdir(p);
		}
		snprintf(p, sizeof(p), "%s/g%02d", root, i);
		rmdir(p);
	}
	rmdir(root);
}

/* What a snapshot collected: enough to compare the sources, little enough to be cheap. */
struct snap {
	size_t count, with_mem, with_psi;
	uint64_t mem_sum, cpu_sum;
};

static int snap_cb(const struct pl_cgroup_info *info, void *data)
{
	struct snap *s = data;

	s->count++;
	if (info->has_memory) {
		s->with_mem++;
		s->mem_sum += info->memory_current;
	}
	if (info->psi[PL_PSI_CPU].valid && info->psi[PL_PSI_MEMORY].valid &&
	    info->psi[PL_PSI_IO].valid)
		s->with_psi++;
	s->cpu_sum += info->cpu_usage_us;
	return 0;
}

static double now_us(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int set_cgroup_psi(struct pl_genl *g, bool on)
{
	char buf[256];
	struct genl_call c = { .g = g };
	struct nlmsghdr *nlh = msg_start(g, buf, g->family, PODLANE_CMD_SET_CONFIG,
					 PODLANE_GENL_VERSION, 0);

	mnl_attr_put_u8(nlh, PODLANE_A_CONFIG_CGROUP_PSI, on);
	return transact(&c, nlh);
}

enum { M_PSI, F_PSI, M_NOPSI, F_NOPSI, NWAYS };

static const char *const way_name[NWAYS] = {
	"module, cpu+memory+psi", "cgroupfs, cpu+memory+psi", "module, cpu+memory",
	"cgroupfs, cpu+memory",
};

/* One snapshot one way; wall and CPU (user + system: the module works in our recvmsg). */
static int snapshot(struct pl_genl *g, uint64_t id, int way, struct snap *s, double *wall,
		    double *cpu)
{
	double w0, c0;
	int err;

	memset(s, 0, sizeof(*s));
	w0 = now_us(CLOCK_MONOTONIC);
	c0 = now_us(CLOCK_PROCESS_CPUTIME_ID);
	if (way == M_PSI || way == M_NOPSI)
		err = pl_genl_cgroup_dump(g, id, snap_cb, s);
	else
		err = pl_cgroupfs_walk(cg_mount, "/plbench", way == F_PSI, snap_cb, s);
	*cpu = now_us(CLOCK_PROCESS_CPUTIME_ID) - c0;
	*wall = now_us(CLOCK_MONOTONIC) - w0;
	return err;
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), dbl_cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	int n = 1000, rounds = 11, created, err, r, w;
	struct snap s[NWAYS];
	double *wall[NWAYS], *cpu[NWAYS], mw[NWAYS], mc[NWAYS];
	struct pl_genl g;
	struct stat st;

	if (argc < 2) {
		fprintf(stderr, "usage: %s <podlane.ko> [cgroups] [rounds] [cgroup2-mount]\n",
			argv[0]);
		return 2;
	}
	if (argc > 2)
		n = atoi(argv[2]);
	if (argc > 3)
		rounds = atoi(argv[3]);
	if (argc > 4)
		cg_mount = argv[4];
	if (n < 2 * FANOUT || rounds < 1) {
		fprintf(stderr, "need at least %d cgroups and one round\n", 2 * FANOUT);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("1..5\n");
	err = module_load(argv[1]);
	ok(!err, "load %s (%s)", argv[1], strerror(-err));
	err = err ?: pl_genl_open(&g);
	if (err) {
		printf("Bail out! module not usable: %s\n", strerror(-err));
		return 1;
	}
	created = make_tree(n);
	ok(created > 0 && !stat(root, &st), "created %d cgroups under %s", created, root);
	if (created <= 0)
		return 1;

	for (w = 0; w < NWAYS; w++) {
		wall[w] = calloc(rounds, sizeof(double));
		cpu[w] = calloc(rounds, sizeof(double));
	}
	/* One untimed pass each: warm the dentry cache and the module's code. */
	for (w = 0; w < NWAYS; w++) {
		double x, y;

		if (w == M_NOPSI)
			set_cgroup_psi(&g, false);
		snapshot(&g, st.st_ino, w, &s[w], &x, &y);
		if (w == M_NOPSI)
			set_cgroup_psi(&g, true);
	}
	ok(s[M_PSI].count == s[F_PSI].count && s[M_PSI].count == (size_t)created + 1,
	   "both sources list the same %zu cgroups (module %zu, cgroupfs %zu)",
	   (size_t)created + 1, s[M_PSI].count, s[F_PSI].count);
	ok(s[M_PSI].with_mem == s[F_PSI].with_mem && s[M_PSI].with_psi == s[F_PSI].with_psi &&
	   s[M_NOPSI].with_psi == 0,
	   "same figures from both: memory %zu/%zu, psi %zu/%zu (module without psi: %zu)",
	   s[M_PSI].with_mem, s[F_PSI].with_mem, s[M_PSI].with_psi, s[F_PSI].with_psi,
	   s[M_NOPSI].with_psi);

	err = 0;
	for (r = 0; r < rounds && !err; r++) {
		for (w = 0; w < NWAYS && !err; w++) {
			/* Alternate the order so neither source always runs second. */
			int way = r % 2 ? NWAYS - 1 - w : w;

			if (way == M_NOPSI)
				err = set_cgroup_psi(&g, false);
			err = err ?: snapshot(&g, st.st_ino, way, &s[way], &wall[way][r],
					      &cpu[way][r]);
			if (way == M_NOPSI)
				set_cgroup_psi(&g, true);
		}
	}
	ok(!err, "%d timed rounds of each (%s)", rounds, strerror(-err));
	for (w = 0; w < NWAYS; w++) {
		mw[w] = median(wall[w], rounds);
		mc[w] = median(cpu[w], rounds);
		printf("# %-26s %zu cgroups: median %9.0f us wall, %9.0f us cpu\n", way_name[w],
		       s[w].count, mw[w], mc[w]);
	}
	printf("# module vs cgroupfs with psi: %.1fx faster (wall), %.1fx (cpu); "
	       "without psi: %.1fx (wall), %.1fx (cpu)\n", mw[F_PSI] / mw[M_PSI],
	       mc[F_PSI] / mc[M_PSI], mw[F_NOPSI] / mw[M_NOPSI], mc[F_NOPSI] / mc[M_NOPSI]);
	printf("bench cgroups=%zu rounds=%d module_psi_us=%.0f cgroupfs_psi_us=%.0f "
	       "module_us=%.0f cgroupfs_us=%.0f\n", s[M_PSI].count, rounds, mw[M_PSI],
	       mw[F_PSI], mw[M_NOPSI], mw[F_NOPSI]);
	pl_genl_close(&g);
	remove_tree(n);
	return failed ? 1 : 0;
}
