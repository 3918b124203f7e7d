// SPDX-License-Identifier: GPL-2.0-only
/*
 * bpf_attach.c - load every program of the given BPF objects into the running kernel and
 * attach each one where its type belongs on a network device, printing TAP. The test guest
 * runs it on every build/bpf/<name>.bpf.o so a program that the 6.1 verifier rejects, or that uses
 * a helper or attach point 6.1 lacks, fails here; new programs are picked up by the glob.
 *
 * Usage: bpf_attach <ifname> <object.bpf.o>...
 * tc and XDP programs attach to <ifname>, cgroup programs to the cgroup2 root (BPF_CGROUP
 * env overrides /sys/fs/cgroup), everything else through libbpf's section-name auto-attach
 * (tp_btf, fentry, ...); each attachment is removed again at once. Maps pinned by name go
 * under a private pin root that is removed at exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <linux/if_link.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>

#include "podlane.h"

#define MAX_OBJS	64
#define LOG_HEAD	5	/* lines of a long libbpf message shown from its start ... */
#define LOG_TAIL	40	/* ... and from its end, where the verifier says why */

static int tests, failed;
static bool tc_hooked;	/* we created clsact on the device: remove it at exit */
static int tc_hook_err;	/* why there is no clsact, if there is none */

static void ok(int cond, const char *fmt, ...)
{
	va_list ap;

	tests++;
	failed += !cond;
	printf("%sok %d - ", cond ? "" : "not ", tests);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/*
 * libbpf's warnings become TAP diagnostics. A verifier log arrives as one message of possibly
 * thousands of lines and the reason is at its end: keep the head and the tail.
 */
static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char *text = NULL, *line, *next;
	int n_lines = 0, i = 0;

	if (level == LIBBPF_DEBUG || vasprintf(&text, fmt, ap) < 0)
		return 0;
	for (line = text; *line; line++)
		n_lines += *line == '\n';
	for (line = text; line && *line; line = next, i++) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (i < LOG_HEAD || i >= n_lines - LOG_TAIL)
			printf("# %s\n", line);
		else if (i == LOG_HEAD)
			printf("# ... %d lines of the log left out ...\n", n_lines - LOG_HEAD - LOG_TAIL);
	}
	free(text);
	return 0;
}

static int attach_tc(struct bpf_program *prog, int ifindex, enum bpf_tc_attach_point point)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = point);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = 1, .priority = 1,
			    .prog_fd = bpf_program__fd(prog));
	int err;

	if (tc_hook_err)
		return tc_hook_err;
	err = bpf_tc_attach(&hook, &opts);
	if (err)
		return err;
	opts.flags = 0;
	opts.prog_fd = 0;
	opts.prog_id = 0;
	return bpf_tc_detach(&hook, &opts);
}

static void attach_one(struct bpf_program *prog, int ifindex)
{
	const char *name = bpf_program__name(prog);
	enum bpf_prog_type type = bpf_program__type(prog);
	int err;

	switch (type) {
	case BPF_PROG_TYPE_SCHED_CLS:
		err = attach_tc(prog, ifindex, BPF_TC_INGRESS);
		if (!err)
			err = attach_tc(prog, ifindex, BPF_TC_EGRESS);
		ok(!err, "%s: tc attach on clsact ingress and egress (%s)", name, strerror(-err));
		break;
	case BPF_PROG_TYPE_XDP:
		err = bpf_xdp_attach(ifindex, bpf_program__fd(prog), XDP_FLAGS_DRV_MODE, NULL);
		if (!err)
			err = bpf_xdp_detach(ifindex, XDP_FLAGS_DRV_MODE, NULL);
		ok(!err, "%s: native XDP attach (%s)", name, strerror(-err));
		break;
	case BPF_PROG_TYPE_CGROUP_SKB:
	case BPF_PROG_TYPE_CGROUP_SOCK:
	case BPF_PROG_TYPE_CGROUP_SOCK_ADDR:
	case BPF_PROG_TYPE_CGROUP_SOCKOPT:
	case BPF_PROG_TYPE_CGROUP_SYSCTL:
	case BPF_PROG_TYPE_CGROUP_DEVICE:
	case BPF_PROG_TYPE_SOCK_OPS: {
		const char *dir = getenv("BPF_CGROUP") ?: "/sys/fs/cgroup";
		int fd = open(dir, O_RDONLY | O_DIRECTORY);
		struct bpf_link *link;

		if (fd < 0) {
			ok(0, "%s: open cgroup '%s': %s", name, dir, strerror(errno));
			break;
		}
		link = bpf_program__attach_cgroup(prog, fd);
		err = link ? 0 : -errno;
		bpf_link__destroy(link);
		close(fd);
		ok(!err, "%s: attach to cgroup %s (%s)", name, dir, strerror(-err));
		break;
	}
	default: {
		struct bpf_link *link = bpf_program__attach(prog);

		err = link ? 0 : -errno;
		bpf_link__destroy(link);
		if (err == -EOPNOTSUPP || err == -ESRCH) {
			tests++;
			printf("ok %d - %s: verified # SKIP no attach rule for type %s\n", tests,
			       name, libbpf_bpf_prog_type_str(type));
			break;
		}
		ok(!err, "%s: %s auto-attach by section '%s' (%s)", name,
		   libbpf_bpf_prog_type_str(type), bpf_program__section_name(prog), strerror(-err));
	}
	}
}

/*
 * podlaned fills each Maglev table through mmap in a fresh BPF_F_MMAPABLE array and puts it
 * into podlane_maglev (bpf/lib/lb.h, userspace/podlaned/lb/maps.c): check that this kernel
 * takes such an inner map and reads back what was stored through the mapping.
 */
static void maglev_check(struct bpf_object *obj, const char *path)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_MMAPABLE);
	struct bpf_map *outer = bpf_object__find_map_by_name(obj, "podlane_maglev");
	size_t len = ((size_t)PODLANE_MAGLEV_M * 8 + getpagesize() - 1) &
		     ~((size_t)getpagesize() - 1);
	__u32 id = 1, slot = 7, v = 0;
	int fd, err = 0;
	__u32 *p;

	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "pl_mglv", 4, 4, PODLANE_MAGLEV_M, &opts);
	if (fd < 0) {
		ok(0, "%s: create an mmapable Maglev table (%s)", path, strerror(errno));
		return;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		err = -errno;
	} else {
		p[2 * slot] = 42;	/* array elements are 8-byte aligned */
		munmap(p, len);
		if (bpf_map_update_elem(bpf_map__fd(outer), &id, &fd, BPF_ANY))
			err = -errno;
		else
			bpf_map_delete_elem(bpf_map__fd(outer), &id);
		if (!err && (bpf_map_lookup_elem(fd, &slot, &v) || v != 42))
			err = -EIO;
	}
	close(fd);
	ok(!err, "%s: an mmapable Maglev table written through mmap joins podlane_maglev (%s)",
	   path, strerror(-err));
}

int main(int argc, char **argv)
{
	struct bpf_object *objs[MAX_OBJS] = {};
	char pin_root[64];
	int i, ifindex, n_objs = argc - 2, planned = 0;
	struct bpf_program *prog;

	if (argc < 3 || n_objs > MAX_OBJS) {
		fprintf(stderr, "usage: %s <ifname> <object.bpf.o>... (at most %d)\n", argv[0],
			MAX_OBJS);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	libbpf_set_print(print_libbpf);
	ifindex = if_nametoindex(argv[1]);
	if (!ifindex) {
		printf("1..0 # SKIP no device %s\n", argv[1]);
		return 0;
	}
	snprintf(pin_root, sizeof(pin_root), "/sys/fs/bpf/podlane-attach-%d", getpid());
	if (mkdir(pin_root, 0700)) {
		printf("Bail out! failed to create pin root '%s': %s\n", pin_root, strerror(errno));
		return 1;
	}

	{
		DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
				    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);

		tc_hook_err = bpf_tc_hook_create(&hook);
		tc_hooked = !tc_hook_err;
		if (tc_hook_err == -EEXIST)
			tc_hook_err = 0;
	}

	/* Open everything first: the plan is one load per object plus one per program. */
	for (i = 0; i < n_objs; i++) {
		DECLARE_LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_root);

		objs[i] = bpf_object__open_file(argv[i + 2], &opts);
		if (!objs[i])
			continue;
		bpf_object__for_each_program(prog, objs[i])
			planned++;
		if (bpf_object__find_map_by_name(objs[i], "podlane_maglev"))
			planned++;
	}
	printf("1..%d\n", n_objs + planned);

	for (i = 0; i < n_objs; i++) {
		int err;

		if (!objs[i]) {
			ok(0, "open %s: %s", argv[i + 2], strerror(errno));
			continue;
		}
		err = bpf_object__load(objs[i]);
		ok(!err, "load %s on this kernel's verifier (%s)", argv[i + 2], strerror(-err));
		bpf_object__for_each_program(prog, objs[i]) {
			if (err)
				ok(0, "%s: not loaded", bpf_program__name(prog));
			else
				attach_one(prog, ifindex);
		}
		if (bpf_object__find_map_by_name(objs[i], "podlane_maglev")) {
			if (err)
				ok(0, "%s: podlane_maglev not created", argv[i + 2]);
			else
				maglev_check(objs[i], argv[i + 2]);
		}
	}

	for (i = 0; i < n_objs; i++) {
		if (!objs[i])
			continue;
		bpf_object__unpin_maps(objs[i], NULL);
		bpf_object__close(objs[i]);
	}
	if (tc_hooked) {
		DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
				    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);

		bpf_tc_hook_destroy(&hook);
	}
	if (rmdir(pin_root))
		printf("# failed to remove pin root '%s': %s\n", pin_root, strerror(errno));
	return failed ? 1 : 0;
}
