// SPDX-License-Identifier: GPL-2.0-only
/* datapath/eps.c - the one writer of podlane_eps, podlane_ep_meta and podlane_ep_stat. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "core/agent.h"
#include "datapath/eps.h"
#include "datapath/loader.h"
#include "log.h"

#define ADDR_FLAG_BITS	12

/* An address that carries address flags (eps.h), whether or not an endpoint has it. */
struct addr_flags {
	in_addr_t addr;
	__u32 flags;
	struct addr_flags *next;
};

struct eps {
	int eps_fd, meta_fd, stat_fd;
	struct endpoint_stats *vals;		/* per-CPU lookup buffer */
	struct addr_flags *buckets[1U << ADDR_FLAG_BITS];
	eps_addr_cb on_addr;			/* eps_on_addr_change() */
	void *on_addr_data;
};

/* The flags other modules own, by address; everything else belongs to the endpoint. */
#define ADDR_FLAGS	PODLANE_EP_F_LB_BACKEND

static struct addr_flags **addr_find(struct eps *ep, in_addr_t addr)
{
	struct addr_flags **pp;

	pp = &ep->buckets[(ntohl(addr) * 2654435761u) >> (32 - ADDR_FLAG_BITS)];
	while (*pp && (*pp)->addr != addr)
		pp = &(*pp)->next;
	return pp;
}

static __u32 addr_flags_of(struct eps *ep, in_addr_t addr)
{
	struct addr_flags *f = *addr_find(ep, addr);

	return f ? f->flags : 0;
}

static int addr_flags_set(struct eps *ep, in_addr_t addr, __u32 flag, bool on)
{
	struct addr_flags **pp = addr_find(ep, addr), *f = *pp;

	if (!f) {
		if (!on)
			return 0;
		f = calloc(1, sizeof(*f));
		if (!f)
			return -ENOMEM;
		f->addr = addr;
		*pp = f;
	}
	f->flags = on ? f->flags | flag : f->flags & ~flag;
	if (!f->flags) {
		*pp = f->next;
		free(f);
	}
	return 0;
}

int eps_open(struct agent *a)
{
	struct endpoint_key key, next, *prev = NULL;
	struct endpoint_value val;
	struct eps *ep;
	int err;

	ep = calloc(1, sizeof(*ep));
	if (!ep)
		return -ENOMEM;
	a->eps = ep;
	ep->eps_fd = ep->meta_fd = ep->stat_fd = -1;
	ep->vals = calloc(a->ncpus, sizeof(*ep->vals));
	if (!ep->vals)
		return -ENOMEM;
	err = loader_map_open(a, "podlane_eps", PIN_RW, &ep->eps_fd) ?:
	      loader_map_open(a, "podlane_ep_meta", PIN_RW, &ep->meta_fd) ?:
	      loader_map_open(a, "podlane_ep_stat", PIN_RW, &ep->stat_fd);
	if (err)
		return err;
	/* Address flags a previous agent set: held again until their owner decides. */
	while (!bpf_map_get_next_key(ep->eps_fd, prev, &next)) {
		key = next;
		prev = &key;
		if (key.addr.family == PODLANE_AF_INET &&
		    !bpf_map_lookup_elem(ep->eps_fd, &key, &val) && (val.flags & ADDR_FLAGS) &&
		    addr_flags_set(ep, key.addr.ip4, val.flags & ADDR_FLAGS, true))
			return -ENOMEM;
	}
	return 0;
}

void eps_close(struct agent *a)
{
	struct eps *ep = a->eps;
	struct addr_flags *f, *next;
	unsigned int b;

	if (!ep)
		return;
	for (b = 0; b < 1U << ADDR_FLAG_BITS; b++) {
		for (f = ep->buckets[b]; f; f = next) {
			next = f->next;
			free(f);
		}
	}
	if (ep->eps_fd >= 0)
		close(ep->eps_fd);
	if (ep->meta_fd >= 0)
		close(ep->meta_fd);
	if (ep->stat_fd >= 0)
		close(ep->stat_fd);
	free(ep->vals);
	free(ep);
	a->eps = NULL;
}

/* ---- records and counters ---- */

int eps_walk(struct agent *a, eps_walk_cb cb, void *data)
{
	struct endpoint_meta meta;
	__u32 key, next, *prev = NULL;
	int ret;

	while (!bpf_map_get_next_key(a->eps->meta_fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(a->eps->meta_fd, &key, &meta))
			continue;
		ret = cb(key, &meta, data);
		if (ret)
			return ret;
	}
	return 0;
}

int eps_meta_get(struct agent *a, __u32 ifindex, struct endpoint_meta *meta)
{
	return bpf_map_lookup_elem(a->eps->meta_fd, &ifindex, meta) ? -errno : 0;
}

int eps_meta_add(struct agent *a, __u32 ifindex, const struct endpoint_meta *meta)
{
	return bpf_map_update_elem(a->eps->meta_fd, &ifindex, meta, BPF_NOEXIST) ? -errno : 0;
}

int eps_stat_reset(struct agent *a, __u32 ifindex)
{
	struct eps *ep = a->eps;

	memset(ep->vals, 0, a->ncpus * sizeof(*ep->vals));
	return bpf_map_update_elem(ep->stat_fd, &ifindex, ep->vals, BPF_ANY) ? -errno : 0;
}

int eps_stat_read(struct agent *a, __u32 ifindex, struct endpoint_stats *sum)
{
	struct eps *ep = a->eps;
	int cpu, slot;

	memset(sum, 0, sizeof(*sum));
	if (bpf_map_lookup_elem(ep->stat_fd, &ifindex, ep->vals))
		return -errno;
	for (cpu = 0; cpu < a->ncpus; cpu++) {
		const struct endpoint_stats *s = &ep->vals[cpu];

		sum->rx_packets += s->rx_packets;
		sum->rx_bytes += s->rx_bytes;
		sum->tx_packets += s->tx_packets;
		sum->tx_bytes += s->tx_bytes;
		for (slot = 0; slot < PODLANE_DROP_SLOTS; slot++)
			sum->drops[slot] += s->drops[slot];
	}
	return 0;
}

void eps_forget(struct agent *a, __u32 ifindex)
{
	bpf_map_delete_elem(a->eps->stat_fd, &ifindex);
	bpf_map_delete_elem(a->eps->meta_fd, &ifindex);
}

/* ---- the fast-path entries ---- */

void eps_key(struct endpoint_key *key, in_addr_t addr)
{
	memset(key, 0, sizeof(*key));
	key->addr.family = PODLANE_AF_INET;
	key->addr.ip4 = addr;
}

int eps_lookup(struct agent *a, in_addr_t addr, struct endpoint_value *val)
{
	struct endpoint_key key;

	eps_key(&key, addr);
	return bpf_map_lookup_elem(a->eps->eps_fd, &key, val) ? -errno : 0;
}

void eps_on_addr_change(struct agent *a, eps_addr_cb cb, void *data)
{
	a->eps->on_addr = cb;
	a->eps->on_addr_data = data;
}

static void addr_changed(struct eps *ep, in_addr_t addr, bool present)
{
	if (ep->on_addr)
		ep->on_addr(addr, present, ep->on_addr_data);
}

int eps_publish(struct agent *a, in_addr_t addr, const struct endpoint_value *val, bool create)
{
	struct endpoint_value v = *val;
	struct endpoint_key key;

	eps_key(&key, addr);
	v.flags = (v.flags & ~ADDR_FLAGS) | addr_flags_of(a->eps, addr);
	if (bpf_map_update_elem(a->eps->eps_fd, &key, &v, create ? BPF_NOEXIST : BPF_ANY))
		return -errno;
	addr_changed(a->eps, addr, true);
	return 0;
}

bool eps_unpublish(struct agent *a, in_addr_t addr, __u32 ifindex)
{
	struct endpoint_value val;
	struct endpoint_key key;

	eps_key(&key, addr);
	if (bpf_map_lookup_elem(a->eps->eps_fd, &key, &val) || val.ifindex != ifindex ||
	    bpf_map_delete_elem(a->eps->eps_fd, &key))
		return false;
	addr_changed(a->eps, addr, false);
	return true;
}

/* Rewrite addr's entry with flags changed; BPF_EXIST: one deleted meanwhile stays deleted. */
static int flags_update(struct agent *a, in_addr_t addr, __u32 ifindex, __u32 flag, bool on)
{
	struct endpoint_value val;
	struct endpoint_key key;
	__u32 flags;

	eps_key(&key, addr);
	if (bpf_map_lookup_elem(a->eps->eps_fd, &key, &val) ||
	    (ifindex && val.ifindex != ifindex))
		return -ENOENT;
	flags = on ? val.flags | flag : val.flags & ~flag;
	if (flags == val.flags)
		return 0;
	val.flags = flags;
	return bpf_map_update_elem(a->eps->eps_fd, &key, &val, BPF_EXIST) ? -errno : 0;
}

int eps_endpoint_flag(struct agent *a, in_addr_t addr, __u32 ifindex, __u32 flag, bool on)
{
	if (flag & ADDR_FLAGS)
		return -EINVAL;
	return flags_update(a, addr, ifindex, flag, on);
}

void eps_addr_flag(struct agent *a, in_addr_t addr, __u32 flag, bool on)
{
	char ip[INET_ADDRSTRLEN];
	int err;

	if (!(flag & ADDR_FLAGS) || (flag & ~ADDR_FLAGS))
		return;
	if (addr_flags_set(a->eps, addr, flag, on)) {
		log_error("failed to hold endpoint flags: out of memory");
		return;
	}
	err = flags_update(a, addr, 0, flag, on);
	inet_ntop(AF_INET, &addr, ip, sizeof(ip));
	if (err && err != -ENOENT)
		log_warn("failed to update endpoint flags ip=%s err=\"%s\"", ip, strerror(-err));
	else if (!err)
		log_debug("endpoint flag %s ip=%s flag=0x%x", on ? "set" : "cleared", ip, flag);
}

bool eps_addr_flagged(struct agent *a, in_addr_t addr, __u32 flag)
{
	return addr_flags_of(a->eps, addr) & flag;
}

void eps_addr_flag_walk(struct agent *a, __u32 flag, void (*cb)(in_addr_t addr, void *data),
			void *data)
{
	struct addr_flags *f, *next;
	unsigned int b;

	for (b = 0; b < 1U << ADDR_FLAG_BITS; b++) {
		for (f = a->eps->buckets[b]; f; f = next) {
			next = f->next;		/* cb may clear the flag */
			if (f->flags & flag)
				cb(f->addr, data);
		}
	}
}

int eps_sweep_orphans(struct agent *a)
{
	struct eps *ep = a->eps;
	struct endpoint_meta meta;
	struct endpoint_value val;
	struct endpoint_key k, nk, *pk = NULL;
	__u32 i, ni, *pi = NULL;
	int n = 0, guard;

	for (guard = 0; guard < 1 << 20 && !bpf_map_get_next_key(ep->eps_fd, pk, &nk); guard++) {
		k = nk;
		if (!bpf_map_lookup_elem(ep->eps_fd, &k, &val) &&
		    bpf_map_lookup_elem(ep->meta_fd, &val.ifindex, &meta)) {
			bpf_map_delete_elem(ep->eps_fd, &k);
			if (k.addr.family == PODLANE_AF_INET)
				addr_changed(ep, k.addr.ip4, false);
			n++;
			pk = NULL;	/* the walk restarts after a delete */
			continue;
		}
		pk = &k;
	}
	for (guard = 0; guard < 1 << 20 && !bpf_map_get_next_key(ep->stat_fd, pi, &ni); guard++) {
		i = ni;
		if (bpf_map_lookup_elem(ep->meta_fd, &i, &meta)) {
			bpf_map_delete_elem(ep->stat_fd, &i);
			n++;
			pi = NULL;
			continue;
		}
		pi = &i;
	}
	return n;
}
