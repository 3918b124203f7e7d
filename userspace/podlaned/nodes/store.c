// SPDX-License-Identifier: GPL-2.0-only
/*
 * nodes/store.c - the node records under <state-dir>/nodes/<name>, one JSON object each: the
 * source of truth that podlane_nodes and the kernel routes are made to match at start-up.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <json-c/json.h>

#include "core/addr.h"
#include "core/agent.h"
#include "log.h"
#include "nodes/nodes.h"
#include "nodes/nodes_int.h"

static void nodes_dir(const char *state_dir, char *buf, size_t len)
{
	snprintf(buf, len, "%s/nodes", state_dir);
}

static struct json_object *record_json(const struct node_record *n)
{
	struct json_object *o = json_object_new_object();
	char ip[INET_ADDRSTRLEN], cidr[CIDR4_STRLEN];

	json_object_object_add(o, "name", json_object_new_string(n->name));
	json_object_object_add(o, "node_ip", json_object_new_string(ip4_str(n->node_ip, ip)));
	json_object_object_add(o, "pod_cidr", json_object_new_string(
		cidr4_str(n->pod_cidr, n->pod_cidr_len, cidr)));
	if (n->from_sync)
		json_object_object_add(o, "from_sync", json_object_new_boolean(1));
	return o;
}

/* Written to a temporary file and renamed, so a crash leaves the old or the new record. */
int node_store_write(struct agent *a, const struct node_record *n)
{
	char dir[PATH_MAX], path[PATH_MAX + 80], tmp[PATH_MAX + 96];
	struct json_object *o = record_json(n);
	int err = 0;
	FILE *f;

	nodes_dir(a->state_dir, dir, sizeof(dir));
	if (mkdir(dir, 0755) && errno != EEXIST) {
		err = -errno;
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, n->name);
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, n->name);
	f = fopen(tmp, "we");
	if (!f) {
		err = -errno;
		goto out;
	}
	if (fprintf(f, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)) < 0)
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
out:
	json_object_put(o);
	return err;
}

int node_store_unlink(struct agent *a, const char *name)
{
	char dir[PATH_MAX], path[PATH_MAX + 80];

	nodes_dir(a->state_dir, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (unlink(path) && errno != ENOENT)
		return -errno;
	return 0;
}

int node_store_read(const char *path, struct node_record *n, struct api_error *e)
{
	struct json_object *o = json_object_from_file(path), *name, *ip, *cidr, *from_sync;
	int err;

	if (!o)
		return api_fail(e, PODLANE_ERR_IO, "not a JSON file");
	if (!json_object_object_get_ex(o, "name", &name) ||
	    !json_object_object_get_ex(o, "node_ip", &ip) ||
	    !json_object_object_get_ex(o, "pod_cidr", &cidr)) {
		json_object_put(o);
		return api_fail(e, PODLANE_ERR_IO, "name, node_ip or pod_cidr missing");
	}
	err = node_record_parse(n, json_object_get_string(name), json_object_get_string(ip),
				json_object_get_string(cidr), e);
	/* Absent in records from before the flag: those were taken as podlanectl's. */
	n->from_sync = json_object_object_get_ex(o, "from_sync", &from_sync) &&
		       json_object_get_boolean(from_sync);
	json_object_put(o);
	return err;
}

void node_store_walk(const char *state_dir, node_store_cb cb, void *data)
{
	char dir[PATH_MAX], path[PATH_MAX + 300];
	struct node_record n;
	struct api_error e;
	struct dirent *d;
	DIR *dh;

	nodes_dir(state_dir, dir, sizeof(dir));
	dh = opendir(dir);
	if (!dh)
		return;
	while ((d = readdir(dh))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		e = (struct api_error){};
		if (node_store_read(path, &n, &e)) {
			log_warn("ignoring node record path=%s err=\"%s\"", path, e.msg);
			continue;
		}
		if (strcmp(n.name, d->d_name)) {
			log_warn("ignoring node record path=%s err=\"named '%s'\"", path, n.name);
			continue;
		}
		cb(d->d_name, &n, data);
	}
	closedir(dh);
}
