/* SPDX-License-Identifier: GPL-2.0-only */
/* core/fs.h - the agent's state files: directories, small files, atomic replacement. */
#ifndef PODLANED_CORE_FS_H
#define PODLANED_CORE_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* mkdir -p: every missing directory of path; 0 or -errno. */
int mkdir_p(const char *path, mode_t mode);
/* Read at most len - 1 bytes of path into buf, NUL-terminated; bytes read or -errno. */
int read_small_file(const char *path, char *buf, size_t len);
/*
 * Replace path with text atomically (temp file + rename), so a crash of the agent leaves the
 * old or the new content; durable also survives a crash of the node (fsync before rename).
 */
int write_file_atomic(const char *path, const char *text, bool durable);

#endif /* PODLANED_CORE_FS_H */
