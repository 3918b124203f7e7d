// SPDX-License-Identifier: GPL-2.0-only
/* datapath/loader.c - loading BPF objects against the pin root, pinned maps and links. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <bpf/bpf.h>

#include "core/agent.h"
#include "datapath/loader.h"
#include "ct_gc.h"
#include "log.h"

bool loader_quiet_libbpf;

int loader_pin_root_ensure(const char *pin_root)
{
	char parent[PATH_MAX], *slash;
	struct statfs st;

	snprintf(parent, sizeof(parent), "%s", pin_root);
	slash = strrchr(parent, '/');
	if (slash && slash != parent)
		*slash = '\0';
	if (statfs(parent, &st) || st.f_type != BPF_FS_MAGIC) {
		/* A fresh node often has no bpffs (this project's CI machines do not). */
		if (strcmp(parent, "/sys/fs/bpf")) {
			log_error("pin root '%s' is not on a bpf filesystem; mount one (mount -t bpf "
				  "bpf %s) or pick a --pin-root under /sys/fs/bpf", pin_root, parent);
			return -ENOTSUP;
		}
		if (mount("bpf", parent, "bpf", 0, "mode=0700")) {
			log_error("failed to mount bpf filesystem '%s': %s", parent,
				  strerror(errno));
			return -errno;
		}
		log_info("mounted bpf filesystem path=%s", parent);
	}
	if (mkdir(pin_root, 0700) && errno != EEXIST) {
		log_error("failed to create pin directory '%s': %s", pin_root, strerror(errno));
		return -errno;
	}
	return 0;
}

void loader_open_opts(struct agent *a, struct bpf_object_open_opts *opts)
{
	opts->pin_root_path = a->pin_root;
}

unsigned int pin_map_size(const char *pin_root, const char *name)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int fd = pin_map_open(pin_root, name, PIN_RDONLY);

	if (fd < 0)
		return 0;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		info.max_entries = 0;
	close(fd);
	return info.max_entries;
}

int pin_map_open(const char *pin_root, const char *name, enum pin_access access)
{
	LIBBPF_OPTS(bpf_obj_get_opts, opts,
		    .file_flags = access == PIN_RDONLY ? BPF_F_RDONLY : 0);
	char path[PATH_MAX];
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", pin_root, name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = bpf_obj_get_opts(path, &opts);
	return fd < 0 ? -errno : fd;
}

int loader_map_open(struct agent *a, const char *name, enum pin_access access, int *fd)
{
	*fd = pin_map_open(a->pin_root, name, access);
	if (*fd >= 0)
		return 0;
	log_error("failed to open pinned map '%s/%s': %s", a->pin_root, name, strerror(-*fd));
	return *fd;
}

/* The size the agent wants for a map it creates; 0 leaves the object's own. */
static unsigned int wanted_size(struct agent *a, const char *name)
{
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);

	if (!strcmp(name, "podlane_eps") || !strcmp(name, "podlane_ep_stat") ||
	    !strcmp(name, "podlane_ep_meta") || !strcmp(name, "podlane_ep_policy"))
		return a->max_endpoints;
	if (!strcmp(name, "podlane_policy") && a->max_policy)
		return a->max_policy;
	/* Two entries a node for VXLAN (nodes/); an LPM trie allocates entries as they come. */
	if (!strcmp(name, "podlane_nodes") && a->max_nodes)
		return 2 * a->max_nodes;
	/* 1/400 of memory, see podlane.h: a node with 16 to 32 GiB gets PODLANE_MAX_CT. */
	if (!strcmp(name, "podlane_ct") && pages > 0 && page > 0)
		return ct_size_from_memory((__u64)pages * page);
	return 0;
}

int loader_size_maps(struct agent *a, struct bpf_object *obj)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, obj) {
		const char *name = bpf_map__name(map);
		unsigned int want = wanted_size(a, name), pinned;

		if (strncmp(name, "podlane_", 8))
			continue;	/* .rodata, private maps */
		/* A pinned map keeps its size: reuse it rather than refuse to start. */
		pinned = pin_map_size(a->pin_root, name);
		if (pinned) {
			if (want && pinned != want)
				log_info("pinned map keeps its size map=%s pinned=%u wanted=%u", name,
					 pinned, want);
			want = pinned;
		}
		if (want && bpf_map__set_max_entries(map, want))
			return -EINVAL;
	}
	return 0;
}

int loader_open_failed(const char *what)
{
	int err = -errno;

	log_error("failed to open BPF object '%s': %s", what, strerror(errno));
	return err ? err : -EINVAL;
}

int loader_load_failed(struct agent *a, const char *what, int err)
{
	log_error("failed to load BPF object '%s': %s", what, strerror(-err));
	if (err == -EINVAL || err == -EEXIST)
		log_error("a pinned map under %s may have a layout this build does not understand; "
			  "stop podlaned and run 'podlaned --uninstall --pin-root %s' to start "
			  "over (pods lose connectivity until they are re-added)", a->pin_root,
			  a->pin_root);
	return err;
}

static int link_path(const char *pin_root, const char *name, char *out, size_t len)
{
	if (snprintf(out, len, "%s/" LOADER_LINK_DIR "/%s", pin_root, name) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

int link_info(const char *pin_root, const char *name, struct bpf_link_info *info)
{
	__u32 len = sizeof(*info);
	char path[PATH_MAX];
	int fd, err;

	err = link_path(pin_root, name, path, sizeof(path));
	if (err)
		return err;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -ENOENT;
	memset(info, 0, sizeof(*info));
	err = bpf_obj_get_info_by_fd(fd, info, &len) ? -errno : 0;
	close(fd);
	return err;
}

/*
 * The pinned link `name` when it is attached where we want it, updated to prog_fd. -ENOENT
 * when there is none or it points elsewhere (then it is unpinned, which detaches it once the
 * last reference goes).
 */
static int link_adopt(const char *path, const char *name, int prog_fd, enum link_kind kind,
		      __u64 target)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	bool same;
	int fd, err;

	if (access(path, F_OK))
		return -ENOENT;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -ENOENT;
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		err = -errno;
		close(fd);
		return err;
	}
	if (kind == LINK_XDP)
		same = info.type == BPF_LINK_TYPE_XDP && info.xdp.ifindex == target;
	else
		same = info.type == BPF_LINK_TYPE_CGROUP && info.cgroup.cgroup_id == target;
	if (!same) {
		log_info("pinned link points elsewhere, replacing it link=%s id=%u", name, info.id);
		close(fd);
		unlink(path);
		return -ENOENT;
	}
	if (bpf_link_update(fd, prog_fd, NULL)) {
		/* Its target went away or it was detached: attach anew. */
		log_warn("pinned link unusable, attaching anew link=%s id=%u err=\"%s\"", name,
			 info.id, strerror(errno));
		close(fd);
		unlink(path);
		return -ENOENT;
	}
	close(fd);
	log_info("link adopted link=%s id=%u", name, info.id);
	return 0;
}

int link_attach(const char *pin_root, const char *name, int prog_fd, int target_fd,
		enum bpf_attach_type type, enum link_kind kind, __u64 target, bool *adopted)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	char path[PATH_MAX];
	int fd, err;

	if (adopted)
		*adopted = false;
	err = link_path(pin_root, "", path, sizeof(path));
	if (err)
		return err;
	if (mkdir(path, 0700) && errno != EEXIST) {
		err = -errno;
		log_error("failed to create link directory '%s': %s", path, strerror(errno));
		return err;
	}
	link_path(pin_root, name, path, sizeof(path));
	err = link_adopt(path, name, prog_fd, kind, target);
	if (err != -ENOENT) {
		if (!err && adopted)
			*adopted = true;
		return err;
	}
	fd = bpf_link_create(prog_fd, target_fd, type, NULL);
	if (fd < 0) {
		err = -errno;
		log_error("failed to attach program '%s': %s", name, strerror(errno));
		return err;
	}
	if (bpf_obj_pin(fd, path)) {
		err = -errno;
		log_error("failed to pin link '%s': %s", path, strerror(errno));
		close(fd);
		return err;
	}
	bpf_obj_get_info_by_fd(fd, &info, &len);
	close(fd);
	log_info("link created link=%s id=%u", name, info.id);
	return 0;
}

int link_remove(const char *pin_root, const char *name)
{
	char path[PATH_MAX];
	int err = link_path(pin_root, name, path, sizeof(path));

	if (err)
		return err;
	if (unlink(path)) {
		if (errno == ENOENT)
			return 0;
		err = -errno;
		log_error("failed to remove pin '%s': %s", path, strerror(errno));
		return err;
	}
	log_info("link removed, program detached link=%s", name);
	return 0;
}

/* Unpin what podlane pinned in dir: podlane_* entries, or everything when all. */
static int unpin_dir(const char *dir, bool all)
{
	char path[PATH_MAX + NAME_MAX + 2];
	struct dirent *d;
	int err = 0;
	DIR *dh;

	dh = opendir(dir);
	if (!dh)
		return errno == ENOENT ? 0 : -errno;
	while ((d = readdir(dh))) {
		if (d->d_name[0] == '.' || (!all && strncmp(d->d_name, "podlane_", 8)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		if (unlink(path) && errno != ENOENT) {
			err = -errno;
			log_error("failed to remove pin '%s': %s", path, strerror(errno));
		}
	}
	closedir(dh);
	if (rmdir(dir) && errno != ENOENT) {
		err = -errno;
		log_error("failed to remove pin directory '%s': %s", dir, strerror(errno));
	}
	return err;
}

int loader_remove_pins(const char *pin_root)
{
	char links[PATH_MAX];
	int err;

	link_path(pin_root, "", links, sizeof(links));
	/* Every entry of links/ is ours; unpinning a link detaches its program. */
	err = unpin_dir(links, true);
	return unpin_dir(pin_root, false) ?: err;
}
