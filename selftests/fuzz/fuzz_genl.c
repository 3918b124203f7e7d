// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz_genl.c - podlane.ko's generic-netlink answers as userspace reads them
 * (userspace/lib/genl.c): the input is one received datagram, read by pl_genl_rx() as the
 * answer to each request podlaned makes (the family lookup, GET_VERSION, NODE_PRESSURE, a
 * CGROUP_DUMP read to its end and one stopped after its first record), with the message
 * parsers those requests use. The request's sequence number and port are the first message's,
 * so the fuzzer does not have to guess them; later messages may differ. Invariants: strings
 * handed on end inside the datagram, an answer's status is 0, 1 (more to read) or -errno, and
 * the kernel's extended ACK message is terminated.
 */
#include <errno.h>
#include <math.h>
#include <linux/genetlink.h>

#include "fuzz.h"
#include "genl.h"

struct dump {
	const char *buf;
	size_t len;
	unsigned int records, stop_after;
};

static void check_psi(const struct pl_psi *p)
{
	int i;

	for (i = 0; i < 3; i++)
		FUZZ_CHECK(isfinite(p->some_avg[i]) && p->some_avg[i] >= 0 &&
			   isfinite(p->full_avg[i]) && p->full_avg[i] >= 0, "PSI average out of range");
}

static int dump_record(const struct nlmsghdr *nlh, void *data)
{
	struct dump *d = data;
	struct pl_cgroup_info info;
	int i;

	if (pl_genl_cgroup_parse(nlh, &info))
		return 1;
	FUZZ_CHECK(info.path >= d->buf && info.path < d->buf + d->len &&
		   memchr(info.path, '\0', d->buf + d->len - info.path), "path outside the datagram");
	for (i = 0; i < PL_PSI_NR; i++)
		check_psi(&info.psi[i]);
	return ++d->records == d->stop_after ? 0 : 1;
}

static void check_status(const struct pl_genl *g, int ret)
{
	FUZZ_CHECK(ret == 1 || ret <= 0, "status %d", ret);
	FUZZ_CHECK(memchr(g->errmsg, '\0', sizeof(g->errmsg)), "extended ACK message unterminated");
}

static int answer(const char *buf, size_t len, uint32_t seq, uint32_t port, pl_genl_msg_cb cb,
		  void *data)
{
	struct pl_genl g = { .portid = port };
	int stopped = 0, ret;

	ret = pl_genl_rx(&g, buf, len, seq, cb, data, &stopped);
	check_status(&g, ret);
	FUZZ_CHECK(!stopped || stopped == -ECANCELED, "stopped %d", stopped);
	return ret;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Exactly the bytes received, at an address as aligned as a receive buffer's. */
	char *buf = malloc(size ? size : 1);
	struct pl_genl_version v = {};
	struct pl_psi psi[PL_PSI_NR] = {};
	struct dump d;
	uint32_t seq = 0, port = 0;
	uint16_t family = 0;
	int i;

	FUZZ_CHECK(buf, "out of memory");
	memcpy(buf, data, size);
	if (size >= sizeof(struct nlmsghdr)) {
		seq = ((const struct nlmsghdr *)buf)->nlmsg_seq;
		port = ((const struct nlmsghdr *)buf)->nlmsg_pid;
	}
	answer(buf, size, seq, port, pl_genl_family_parse, &family);
	answer(buf, size, seq, port, pl_genl_version_parse, &v);
	FUZZ_CHECK(memchr(v.kernel_release, '\0', sizeof(v.kernel_release)),
		   "kernel release unterminated");
	answer(buf, size, seq, port, pl_genl_pressure_parse, psi);
	for (i = 0; i < PL_PSI_NR; i++)
		check_psi(&psi[i]);
	d = (struct dump){ .buf = buf, .len = size };
	answer(buf, size, seq, port, dump_record, &d);
	d = (struct dump){ .buf = buf, .len = size, .stop_after = 1 };
	answer(buf, size, seq, port, dump_record, &d);
	free(buf);
	return 0;
}
