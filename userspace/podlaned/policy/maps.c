// SPDX-License-Identifier: GPL-2.0-only
/*
 * policy/maps.c - the one writer of podlane_ipcache, podlane_policy, podlane_ep_policy and
 * podlane_pol_rev, and the reader of podlane_pol_stat: every system call on them is here;
 * the rest of policy/ says what to write. podlane_ipcache is mirrored in memory (what was
 * written), so a change writes only the entries that differ.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "core/agent.h"
#include "datapath/loader.h"
#include "log.h"
#include "policy/policy_int.h"

static unsigned int map_max_entries(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.max_entries;
}

static unsigned int map_value_size(int fd)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	return info.value_size;
}

int maps_open(struct agent *a)
{
	struct pol_state *s = a->policy;
	__u32 zero = 0;
	int err;

	err = loader_map_open(a, "podlane_ipcache", PIN_RW, &s->ipcache_fd) ?:
	      loader_map_open(a, "podlane_policy", PIN_RW, &s->policy_fd) ?:
	      loader_map_open(a, "podlane_ep_policy", PIN_RW, &s->ep_fd) ?:
	      loader_map_open(a, "podlane_pol_rev", PIN_RW, &s->rev_fd) ?:
	      loader_map_open(a, "podlane_pol_stat", PIN_RDONLY, &s->stat_fd) ?:
	      loader_map_open(a, "podlane_pol_ct", PIN_RW, &s->ct_fd);
	if (err) {
		log_error("the datapath has no network policy maps: is podlane's BPF older than "
			  "this podlaned? (stop podlaned, 'podlaned --uninstall', start again)");
		return err;
	}
	s->max_entries = map_max_entries(s->policy_fd);
	s->ct_max = map_max_entries(s->ct_fd);
	s->ipcache_max = map_max_entries(s->ipcache_fd);
	if (bpf_map_lookup_elem(s->rev_fd, &zero, &s->revision))
		s->revision = 0;
	return 0;
}

void maps_close(struct pol_state *s)
{
	int *fds[] = { &s->ipcache_fd, &s->policy_fd, &s->ep_fd, &s->rev_fd, &s->stat_fd,
		       &s->ct_fd };
	size_t i;

	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
	free(s->ipc);
	s->ipc = NULL;
	s->nipc = 0;
}

/* ---- podlane_policy ---- */

static struct policy_key policy_key_of(__u32 set, const struct set_ent *e)
{
	struct policy_key k;

	memset(&k, 0, sizeof(k));
	k.prefixlen = e->prefixlen;
	k.set = htonl(set);
	k.peer = htonl(e->peer);
	k.proto = e->proto;
	k.port = htons(e->port);
	return k;
}

int map_policy_put(struct agent *a, __u32 set, const struct set_ent *e)
{
	struct pol_state *s = a->policy;
	struct policy_key k = policy_key_of(set, e);

	s->writes_policy++;
	return bpf_map_update_elem(s->policy_fd, &k, &e->val, BPF_ANY) ? -errno : 0;
}

int map_policy_del(struct agent *a, __u32 set, const struct set_ent *e)
{
	struct pol_state *s = a->policy;
	struct policy_key k = policy_key_of(set, e);

	s->writes_policy++;
	if (bpf_map_delete_elem(s->policy_fd, &k) && errno != ENOENT) {
		log_warn("failed to delete a podlane_policy entry set=%u err=\"%s\"", set,
			 strerror(errno));
		return -errno;
	}
	return 0;
}

int map_policy_walk(struct agent *a, map_policy_cb cb, void *data)
{
	struct pol_state *s = a->policy;
	struct policy_key k, next;
	struct policy_entry v;
	struct set_ent e;
	void *prev = NULL;
	int err;

	while (!bpf_map_get_next_key(s->policy_fd, prev, &next)) {
		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(s->policy_fd, &k, &v))
			continue;
		memset(&e, 0, sizeof(e));
		e.prefixlen = k.prefixlen;
		e.peer = ntohl(k.peer);
		e.proto = k.proto;
		e.port = ntohs(k.port);
		e.val = v;
		e.val.pad = 0;
		err = cb(ntohl(k.set), &e, data);
		if (err)
			return err;
	}
	return errno == ENOENT ? 0 : -errno;
}

/* ---- podlane_ep_policy ---- */

int map_ep_put(struct agent *a, __u32 ifindex, const struct ep_policy *v)
{
	struct pol_state *s = a->policy;

	s->writes_ep++;
	return bpf_map_update_elem(s->ep_fd, &ifindex, v, BPF_ANY) ? -errno : 0;
}

void map_ep_del(struct agent *a, __u32 ifindex)
{
	struct pol_state *s = a->policy;

	s->writes_ep++;
	if (bpf_map_delete_elem(s->ep_fd, &ifindex) && errno != ENOENT)
		log_warn("failed to delete a podlane_ep_policy entry ifindex=%u err=\"%s\"",
			 ifindex, strerror(errno));
}

void map_ep_walk(struct agent *a, map_ep_cb cb, void *data)
{
	struct pol_state *s = a->policy;
	__u32 k, next, *prev = NULL;
	struct ep_policy v;

	while (!bpf_map_get_next_key(s->ep_fd, prev, &next)) {
		k = next;
		prev = &k;
		if (!bpf_map_lookup_elem(s->ep_fd, &k, &v))
			cb(k, &v, data);
	}
}

/* ---- podlane_ipcache ---- */

int ipc_cmp(const void *x, const void *y)
{
	const struct ipc_ent *a = x, *b = y;
	__u32 aa = ntohl(a->key.addr), ba = ntohl(b->key.addr);

	if (a->key.prefixlen != b->key.prefixlen)
		return a->key.prefixlen < b->key.prefixlen ? -1 : 1;
	return aa < ba ? -1 : aa > ba;
}

int map_ipcache_put(struct agent *a, const struct ipc_ent *want, size_t n)
{
	struct pol_state *s = a->policy;
	size_t i, j = 0;
	int c, err = 0;

	for (i = 0; i < n; i++) {
		while (j < s->nipc && ipc_cmp(&s->ipc[j], &want[i]) < 0)
			j++;
		c = j < s->nipc ? ipc_cmp(&s->ipc[j], &want[i]) : 1;
		if (!c && !memcmp(&s->ipc[j].val, &want[i].val, sizeof(want[i].val)))
			continue;
		s->writes_ipcache++;
		if (bpf_map_update_elem(s->ipcache_fd, &want[i].key, &want[i].val, BPF_ANY)) {
			char ip[INET_ADDRSTRLEN];

			err = -errno;
			log_warn("failed to write podlane_ipcache entry=%s/%u err=\"%s\"",
				 inet_ntop(AF_INET, &want[i].key.addr, ip, sizeof(ip)),
				 want[i].key.prefixlen, strerror(errno));
		}
	}
	return err;
}

void map_ipcache_prune(struct agent *a, struct ipc_ent *want, size_t n)
{
	struct pol_state *s = a->policy;
	size_t i, j = 0;

	for (i = 0; i < s->nipc; i++) {
		while (j < n && ipc_cmp(&want[j], &s->ipc[i]) < 0)
			j++;
		if (j < n && !ipc_cmp(&want[j], &s->ipc[i]))
			continue;
		s->writes_ipcache++;
		if (bpf_map_delete_elem(s->ipcache_fd, &s->ipc[i].key) && errno != ENOENT)
			log_warn("failed to delete a podlane_ipcache entry err=\"%s\"",
				 strerror(errno));
	}
	free(s->ipc);
	s->ipc = want;
	s->nipc = n;
}

int map_ipcache_load(struct agent *a)
{
	struct pol_state *s = a->policy;
	struct ipcache_key k, next, *prev = NULL;
	struct ipcache_value v;
	struct ipc_ent *grown;
	size_t cap = 0;

	while (!bpf_map_get_next_key(s->ipcache_fd, prev, &next)) {
		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(s->ipcache_fd, &k, &v))
			continue;
		if (s->nipc == cap) {
			cap = cap ? cap * 2 : 256;
			grown = realloc(s->ipc, cap * sizeof(*grown));
			if (!grown)
				return -ENOMEM;
			s->ipc = grown;
		}
		s->ipc[s->nipc++] = (struct ipc_ent){ .key = k, .val = v };
	}
	if (s->nipc)
		qsort(s->ipc, s->nipc, sizeof(*s->ipc), ipc_cmp);
	return 0;
}

/* ---- podlane_pol_rev, podlane_pol_stat ---- */

void map_rev_bump(struct agent *a)
{
	struct pol_state *s = a->policy;
	__u32 zero = 0, rev = s->revision + 1;

	if (bpf_map_update_elem(s->rev_fd, &zero, &rev, BPF_ANY))
		log_warn("failed to bump podlane_pol_rev err=\"%s\"", strerror(errno));
	else
		s->revision = rev;
}

/*
 * podlane_pol_stat is a per-CPU array: one __u64 per slot, or one value of all the slots; the
 * value size tells.
 */
int map_stat_read(struct agent *a, __u64 sum[PODLANE_POL_STAT_SLOTS])
{
	struct pol_state *s = a->policy;
	unsigned int vsize = map_value_size(s->stat_fd), per, slot, cpu, rounded;
	__u64 *v;
	__u32 key;
	int err = 0;

	memset(sum, 0, PODLANE_POL_STAT_SLOTS * sizeof(*sum));
	if (!vsize || vsize % 8)
		return -EINVAL;
	per = vsize / 8;
	rounded = (vsize + 7) & ~7U;
	v = calloc(a->ncpus, rounded);
	if (!v)
		return -ENOMEM;
	for (key = 0; key < (per == 1 ? PODLANE_POL_STAT_SLOTS : 1); key++) {
		if (bpf_map_lookup_elem(s->stat_fd, &key, v)) {
			err = -errno;
			break;
		}
		for (cpu = 0; cpu < (unsigned int)a->ncpus; cpu++)
			for (slot = 0; slot < per && key + slot < PODLANE_POL_STAT_SLOTS; slot++)
				sum[key + slot] += v[cpu * (rounded / 8) + slot];
	}
	free(v);
	return err;
}
