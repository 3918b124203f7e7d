// SPDX-License-Identifier: GPL-2.0-only
/* log.c - structured log lines, see log.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *log_component = "podlane";
static enum log_level log_threshold = LOG_LVL_INFO;
static FILE *log_file;

static const char *const level_names[] = {
	[LOG_LVL_ERROR] = "error",
	[LOG_LVL_WARN] = "warn",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

int log_open(const char *component, const char *path, enum log_level level)
{
	log_component = component;
	log_threshold = level;
	if (path) {
		FILE *f = fopen(path, "ae");

		if (!f)
			return -errno;
		setvbuf(f, NULL, _IOLBF, 0);
		log_file = f;
	}
	return 0;
}

void log_set_level(enum log_level level)
{
	log_threshold = level;
}

bool log_enabled(enum log_level level)
{
	return level <= log_threshold;
}

/* Offset of the first " key=" in line, or its length when it has none. */
static size_t text_end(const char *line)
{
	const char *p;

	for (p = strchr(line, ' '); p; p = strchr(p + 1, ' ')) {
		size_t n = strspn(p + 1, "abcdefghijklmnopqrstuvwxyz0123456789_");

		if (n && p[1 + n] == '=')
			return p - line;
	}
	return strlen(line);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	FILE *out = log_file ? log_file : stderr;
	struct timespec ts;
	char when[32], line[1024];
	struct tm tm;
	va_list ap;
	size_t n;

	if (!log_enabled(level))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	n = text_end(line);
	fprintf(out, "ts=%s.%06ldZ level=%s comp=%s pid=%d msg=\"%.*s\"%s\n", when,
		ts.tv_nsec / 1000, level_names[level], log_component, (int)getpid(), (int)n, line,
		line + n);
}
