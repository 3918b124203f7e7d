// SPDX-License-Identifier: GPL-2.0-only
/*
 * delegate.c - run the IPAM plugin named by the config's "ipam.type" the standard CNI way:
 * found in CNI_PATH, same environment except CNI_COMMAND, the network config on stdin, the
 * result or error on stdout.
 *
 * Delegates often speak an older spec than the config (Debian's host-local stops at 1.0.0), so
 * the delegate is asked for its VERSION first and, if it does not know the config's version,
 * gets the config with the highest version both sides support. IPAM input and output did not
 * change between 0.3.0 and 1.1.0, so nothing else needs converting. What the delegate prints
 * is read by ipam.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api.h"
#include "cni.h"
#include "log.h"

#define PLUGIN_OUTPUT_MAX	(1024 * 1024)

/* Answer of the delegate's VERSION, asked at most once per invocation. */
static struct json_object *ipam_versions;
static bool ipam_versions_asked;

static int find_plugin(const char *cni_path, const char *type, char *out, size_t len)
{
	const char *dir = cni_path, *end;

	while (dir && *dir) {
		end = strchr(dir, ':');
		if (end != dir) {
			int n = end ? end - dir : (int)strlen(dir);

			snprintf(out, len, "%.*s/%s", n, dir, type);
			if (access(out, X_OK) == 0)
				return 0;
		}
		dir = end ? end + 1 : NULL;
	}
	return -ENOENT;
}

/*
 * Run plugin with CNI_COMMAND=command, feed it input, collect its stdout into *output (NUL
 * terminated). Returns the exit status (0..255), or -errno when it could not be run.
 */
static int run_plugin(const char *plugin, const char *command, const char *input, char **output)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, status, err;
	size_t in_len = strlen(input), in_off = 0, out_len = 0;
	char *buf;
	pid_t pid;

	*output = NULL;
	buf = malloc(PLUGIN_OUTPUT_MAX + 1);
	if (!buf)
		return -ENOMEM;
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC)) {
		err = -errno;
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		err = -errno;
		goto fail;
	}
	if (pid == 0) {
		/* dup2 clears O_CLOEXEC on the copies, so only stdin/stdout survive the exec. */
		if (dup2(in[0], STDIN_FILENO) < 0 || dup2(out[1], STDOUT_FILENO) < 0)
			_exit(127);
		/* podlane-cni ignores SIGPIPE; the delegate should not inherit that. */
		signal(SIGPIPE, SIG_DFL);
		setenv("CNI_COMMAND", command, 1);
		execl(plugin, plugin, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	in[0] = out[1] = -1;
	if (!in_len) {
		close(in[1]);
		in[1] = -1;
	}

	/* Write and read together: a plugin may answer before it has read all of its input. */
	while (out[0] >= 0) {
		struct pollfd pfd[2] = {
			{ .fd = out[0], .events = POLLIN },
			{ .fd = in[1], .events = POLLOUT },
		};
		ssize_t n;

		if (poll(pfd, in[1] >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (in[1] >= 0 && pfd[1].revents) {
			n = write(in[1], input + in_off, in_len - in_off);
			if (n > 0)
				in_off += n;
			if (n < 0 || in_off == in_len) {
				close(in[1]);
				in[1] = -1;
			}
		}
		if (pfd[0].revents) {
			n = read(out[0], buf + out_len, PLUGIN_OUTPUT_MAX - out_len);
			if (n > 0)
				out_len += n;
			if (n <= 0 || out_len == PLUGIN_OUTPUT_MAX) {
				close(out[0]);
				out[0] = -1;
			}
		}
	}
	if (in[1] >= 0)
		close(in[1]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	buf[out_len] = '\0';
	*output = buf;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);

fail:
	if (in[0] >= 0) {
		close(in[0]);
		close(in[1]);
	}
	if (out[0] >= 0) {
		close(out[0]);
		close(out[1]);
	}
	free(buf);
	return err;
}

static int plugin_path(const struct cni_args *args, const struct netconf *conf, char *path,
		       size_t len, struct cni_error *err)
{
	if (!args->path || !*args->path)
		return cni_fail(err, 4, "CNI_PATH is required to run ipam plugin '%s'",
				conf->ipam_type);
	if (find_plugin(args->path, conf->ipam_type, path, len))
		return cni_fail(err, 7, "ipam plugin '%s' not found in CNI_PATH '%s'",
				conf->ipam_type, args->path);
	return 0;
}

bool ipam_supports(const struct cni_args *args, const struct netconf *conf, const char *version)
{
	struct cni_error err;
	char path[4096], input[64], *output = NULL;
	int rc;

	if (!ipam_versions_asked) {
		ipam_versions_asked = true;
		if (plugin_path(args, conf, path, sizeof(path), &err))
			return false;
		snprintf(input, sizeof(input), "{\"cniVersion\":\"%s\"}", conf->cni_version);
		rc = run_plugin(path, "VERSION", input, &output);
		if (rc == 0)
			ipam_versions = json_tokener_parse(output);
		else
			log_warn("ipam plugin did not answer VERSION plugin=%s rc=%d", path, rc);
		free(output);
	}
	return ipam_versions_has(ipam_versions, version);
}

/* The highest version the delegate and podlane share that is not above the config's. */
static const char *ipam_version(const struct cni_args *args, const struct netconf *conf)
{
	if (ipam_supports(args, conf, conf->cni_version))
		return conf->cni_version;
	return ipam_version_pick(ipam_versions, conf->cni_version);
}

int ipam_exec(const struct cni_args *args, const struct netconf *conf, const char *command,
	      struct json_object **result, struct cni_error *err)
{
	struct json_object *input = NULL;
	const char *version, *text;
	char path[4096], *output = NULL;
	int rc;

	if (result)
		*result = NULL;
	if (plugin_path(args, conf, path, sizeof(path), err))
		return -1;
	version = ipam_version(args, conf);
	if (strcmp(version, conf->cni_version)) {
		if (json_object_deep_copy(conf->root, &input, NULL))
			return cni_fail(err, 5, "out of memory");
		json_object_object_add(input, "cniVersion", json_object_new_string(version));
		text = json_object_to_json_string_ext(input, JSON_C_TO_STRING_PLAIN);
		log_debug("ipam plugin speaks an older spec plugin=%s version=%s",
			  conf->ipam_type, version);
	} else {
		text = json_object_to_json_string_ext(conf->root, JSON_C_TO_STRING_PLAIN);
	}

	rc = run_plugin(path, command, text, &output);
	json_object_put(input);
	if (rc < 0)
		return cni_fail(err, 5, "failed to run ipam plugin '%s': %s", path, strerror(-rc));
	rc = ipam_output_parse(output, rc, conf->ipam_type, command, result, err);
	free(output);
	return rc;
}
