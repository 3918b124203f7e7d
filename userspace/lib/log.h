/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * log.h - structured log lines for podlane's userspace: `ts=... level=... msg="..." k=v ...`
 * on stderr (or the file given to log_open()). Never stdout: the CNI plugin's stdout is the
 * CNI result.
 */
#ifndef PODLANE_LOG_H
#define PODLANE_LOG_H

#include <stdbool.h>

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Set the component name and threshold; path NULL keeps stderr. Returns 0 or -errno. */
int log_open(const char *component, const char *path, enum log_level level);
void log_set_level(enum log_level level);
bool log_enabled(enum log_level level);

/* The text up to the first " key=" becomes msg="..."; key=value pairs follow, e.g.
 * log_info("endpoint added ip=%s ifindex=%d", ip, ifindex). */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...)	log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif /* PODLANE_LOG_H */
