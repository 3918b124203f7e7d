// SPDX-License-Identifier: GPL-2.0-only
/*
 * lb/state.c - <state-dir>/services/: one <namespace>.<name>.json per podlanectl service, the
 * spec as service_spec_to_json() writes it. An update writes <file>.tmp before its frontends
 * flip and renames it after (apply.c), so a crash in between leaves a .tmp that start-up
 * deletes: the maps never said what it says. The cluster store's services have no file.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <json-c/json.h>

#include "core/agent.h"
#include "lb/lb_int.h"
#include "log.h"

#define SVC_DIR			"services"

static void state_path(struct agent *a, const struct svc *s, const char *suffix, char *out,
		       size_t len)
{
	snprintf(out, len, "%s/" SVC_DIR "/%s.%s.json%s", a->state_dir, s->spec.namespace,
		 s->spec.name, suffix);
}

/* <file>.tmp with s's spec, before its frontends flip (apply.c); PODLANE_ERR_IO in e. */
int state_write_tmp(struct agent *a, const struct svc *s, struct api_error *e)
{
	struct json_object *o = service_spec_to_json(&s->spec);
	char path[PATH_MAX];
	const char *text;
	FILE *f;
	int err = 0;

	state_path(a, s, ".tmp", path, sizeof(path));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
	f = fopen(path, "we");
	if (!f || fputs(text, f) < 0 || fputc('\n', f) < 0)
		err = -errno ?: -EIO;
	if (f && fclose(f) && !err)
		err = -errno;
	json_object_put(o);
	if (err) {
		unlink(path);
		return api_fail(e, PODLANE_ERR_IO, "failed to write service state '%s': %s", path,
			       strerror(-err));
	}
	return 0;
}

/* The update is in place: <file>.tmp becomes the file. */
void state_commit(struct agent *a, const struct svc *s)
{
	char tmp[PATH_MAX], path[PATH_MAX];

	state_path(a, s, ".tmp", tmp, sizeof(tmp));
	state_path(a, s, "", path, sizeof(path));
	if (rename(tmp, path))
		log_error("failed to rename '%s' to '%s': %s", tmp, path, strerror(errno));
}

/* The state file of a service that has none yet, or that changes hands to podlanectl. */
int state_write(struct agent *a, const struct svc *s, struct api_error *e)
{
	if (state_write_tmp(a, s, e))
		return -1;
	state_commit(a, s);
	return 0;
}

/* Remove s's file (suffix "") or the .tmp of an update that failed (".tmp"). */
void state_discard(struct agent *a, const struct svc *s, const char *suffix)
{
	char path[PATH_MAX];

	state_path(a, s, suffix, path, sizeof(path));
	unlink(path);
}

/* Parse one state file; spec is taken over by load(). */
static void load_file(struct agent *a, const char *path,
		      void (*load)(struct agent *a, struct service_spec *spec, const char *path))
{
	struct service_spec spec;
	struct json_object *o;
	char why[512];

	o = json_object_from_file(path);
	if (!o) {
		log_error("failed to read service state '%s': %s", path, json_util_get_last_err());
		return;
	}
	if (service_spec_parse(o, &spec, why, sizeof(why))) {
		json_object_put(o);
		log_error("failed to load service '%s': %s", path, why);
		return;
	}
	json_object_put(o);
	load(a, &spec, path);
}

int state_load(struct agent *a, void (*load)(struct agent *a, struct service_spec *spec,
					     const char *path))
{
	char dir[PATH_MAX], path[PATH_MAX + 256];
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/" SVC_DIR, a->state_dir);
	if (mkdir(dir, 0755) && errno != EEXIST) {
		log_error("failed to create service state directory '%s': %s", dir,
			  strerror(errno));
		return -errno;
	}
	d = opendir(dir);
	if (!d) {
		log_error("failed to open service state directory '%s': %s", dir, strerror(errno));
		return -errno;
	}
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);

		if (n > 9 && !strcmp(de->d_name + n - 9, ".json.tmp")) {
			/* An update that never committed: the maps were never flipped to it. */
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			unlink(path);
			continue;
		}
		if (n < 6 || strcmp(de->d_name + n - 5, ".json"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		load_file(a, path, load);
	}
	closedir(d);
	return 0;
}
