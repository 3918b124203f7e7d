/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * datapath/loader.h - the one way podlaned loads a BPF object and finds its pins, used by the
 * tc objects (datapath/tc.c), the service LB (lb/datapath.c) and accounting (acct/bpf.c):
 *
 *	LIBBPF_OPTS(bpf_object_open_opts, opts);
 *	loader_open_opts(a, &opts);
 *	skel = x__open_opts(&opts);		(NULL: return loader_open_failed(a, "x"))
 *	skel->rodata->knob = ...;
 *	err = loader_size_maps(a, skel->obj) ?: x__load(skel);
 *	if (err) return loader_load_failed(a, "x", err);
 *
 * Every podlane_* map is pinned by name under the pin root: the first object that declares it
 * creates it, every later object and every later agent reuses it. A pinned map keeps the size
 * it was created with, so loader_size_maps() takes that size; a map created now gets its size
 * from the options (the endpoint maps, --max-endpoints) or from memory (podlane_ct).
 *
 * After loading, nothing uses the skeleton's map fds: each pinned map has exactly one writer
 * module, which opens it with pin_map_open(PIN_RW); every other module opens it PIN_RDONLY,
 * so the kernel refuses a write from anywhere else (selftests/layers.sh checks the first part).
 *
 * Programs that must outlive the agent hang on bpf_links pinned under <pin-root>/links/:
 * link_attach() adopts a pinned link that still points at the wanted target and swaps the new
 * program into it (BPF_LINK_UPDATE: same link id, never attached twice, never missing).
 */
#ifndef PODLANED_DATAPATH_LOADER_H
#define PODLANED_DATAPATH_LOADER_H

#include <stdbool.h>
#include <linux/types.h>
#include <bpf/libbpf.h>

struct agent;

#define LOADER_LINK_DIR	"links"		/* under the pin root */

/*
 * The pin root must be on a bpf filesystem: mount the conventional one at /sys/fs/bpf when a
 * fresh node has none, then create the pin root. 0 or -errno (logged).
 */
int loader_pin_root_ensure(const char *pin_root);

void loader_open_opts(struct agent *a, struct bpf_object_open_opts *opts);
/* Sizes of obj's maps before load: the pinned size, else the agent's choice, else the object's. */
int loader_size_maps(struct agent *a, struct bpf_object *obj);
/* Log why an open or a load failed and what to do about it; returns err (-errno for open). */
int loader_open_failed(const char *what);
int loader_load_failed(struct agent *a, const char *what, int err);

/* Set around libbpf calls whose expected failures (-EEXIST) the caller handles itself. */
extern bool loader_quiet_libbpf;

enum pin_access {
	PIN_RDONLY,	/* every reader */
	PIN_RW,		/* the map's one writer module */
};

/* fd of the pinned map <pin_root>/<name>, or -errno (-ENOENT when not pinned). */
int pin_map_open(const char *pin_root, const char *name, enum pin_access access);
/*
 * The agent's way: *fd = the pinned map under --pin-root, 0 or -errno (logged). Name the map
 * as a literal or its PODLANE_*_MAP macro with the access on the same call, so the layer check
 * (scripts/check-layers.py) sees who opens what for writing.
 */
int loader_map_open(struct agent *a, const char *name, enum pin_access access, int *fd);
/* max_entries of the pinned map, 0 when there is none. */
unsigned int pin_map_size(const char *pin_root, const char *name);

/* Where a pinned link must point to be adopted. */
enum link_kind {
	LINK_CGROUP,	/* target: cgroup id (cgroup v2 directory inode) */
	LINK_XDP,	/* target: ifindex */
};

/*
 * Attach prog_fd at target_fd (attach type) through the link pinned as <pin-root>/links/name,
 * adopting it when it points at target. *adopted (may be NULL) says which happened. 0 or -errno,
 * logged.
 */
int link_attach(const char *pin_root, const char *name, int prog_fd, int target_fd,
		enum bpf_attach_type type, enum link_kind kind, __u64 target, bool *adopted);
/* The pinned link's info; -ENOENT when there is none. */
int link_info(const char *pin_root, const char *name, struct bpf_link_info *info);
/* Unpin the link (its program detaches once the last reference goes); 0 when there was none. */
int link_remove(const char *pin_root, const char *name);

/*
 * --uninstall: unpin every link under links/ and every podlane_* map of the pin root, then
 * remove both directories. Pinned maps vanish with their last user.
 */
int loader_remove_pins(const char *pin_root);

#endif /* PODLANED_DATAPATH_LOADER_H */
