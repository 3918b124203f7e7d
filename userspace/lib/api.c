// SPDX-License-Identifier: GPL-2.0-only
/* api.c - the transport of podlaned's local API (api.h), and its error helper. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "api.h"

int api_fail(struct api_error *e, int code, const char *fmt, ...)
{
	va_list ap;

	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int api_reply_parse(const char *msg, struct json_object **reply)
{
	*reply = json_tokener_parse(msg);
	if (!*reply || !json_object_is_type(*reply, json_type_object)) {
		json_object_put(*reply);
		*reply = NULL;
		return -EPROTO;
	}
	return 0;
}

int api_call(const char *sock_path, struct json_object *req, struct json_object **reply,
	     int timeout_ms, char *errbuf, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct pollfd pfd;
	const char *text;
	char *buf = NULL;
	ssize_t n;
	int fd, err;

	*reply = NULL;
	if (timeout_ms <= 0)
		timeout_ms = 10000;
	if (strlen(sock_path) >= sizeof(sun.sun_path)) {
		snprintf(errbuf, errlen, "socket path '%s' is too long", sock_path);
		return -ENAMETOOLONG;
	}
	strcpy(sun.sun_path, sock_path);

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		snprintf(errbuf, errlen, "failed to create socket: %s", strerror(errno));
		return err;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		err = -errno;
		snprintf(errbuf, errlen, "failed to connect to podlaned at '%s': %s", sock_path,
			 strerror(errno));
		goto out;
	}
	text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	if (send(fd, text, strlen(text), MSG_NOSIGNAL) < 0) {
		err = -errno;
		snprintf(errbuf, errlen, "failed to send request to podlaned: %s", strerror(errno));
		goto out;
	}
	pfd.fd = fd;
	pfd.events = POLLIN;
	n = poll(&pfd, 1, timeout_ms);
	if (n <= 0) {
		err = n < 0 ? -errno : -ETIMEDOUT;
		snprintf(errbuf, errlen, "no reply from podlaned within %d ms", timeout_ms);
		goto out;
	}
	buf = malloc(PODLANE_API_MAX_MSG + 1);
	if (!buf) {
		err = -ENOMEM;
		snprintf(errbuf, errlen, "out of memory");
		goto out;
	}
	n = recv(fd, buf, PODLANE_API_MAX_MSG, 0);
	if (n <= 0) {
		err = n < 0 ? -errno : -ECONNRESET;
		snprintf(errbuf, errlen, "podlaned closed the connection without a reply");
		goto out;
	}
	buf[n] = '\0';
	err = api_reply_parse(buf, reply);
	if (err)
		snprintf(errbuf, errlen, "podlaned sent a reply that is not a JSON object");
out:
	free(buf);
	close(fd);
	return err;
}

int api_stream_open(const char *sock_path, struct json_object *req, char *errbuf, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	const char *text;
	int fd, err;

	if (strlen(sock_path) >= sizeof(sun.sun_path)) {
		snprintf(errbuf, errlen, "socket path '%s' is too long", sock_path);
		return -ENAMETOOLONG;
	}
	strcpy(sun.sun_path, sock_path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		snprintf(errbuf, errlen, "failed to create socket: %s", strerror(errno));
		return err;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		err = -errno;
		snprintf(errbuf, errlen, "failed to connect to podlaned at '%s': %s", sock_path,
			 strerror(errno));
		close(fd);
		return err;
	}
	text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	if (send(fd, text, strlen(text), MSG_NOSIGNAL) < 0) {
		err = -errno;
		snprintf(errbuf, errlen, "failed to send request to podlaned: %s", strerror(errno));
		close(fd);
		return err;
	}
	return fd;
}

int api_stream_next(int fd, int timeout_ms, struct json_object **msg)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char *buf;
	ssize_t n;
	int err;

	*msg = NULL;
	n = poll(&pfd, 1, timeout_ms);
	if (n < 0)
		return -errno;
	if (!n)
		return -ETIMEDOUT;
	buf = malloc(PODLANE_API_MAX_MSG + 1);
	if (!buf)
		return -ENOMEM;
	n = recv(fd, buf, PODLANE_API_MAX_MSG, 0);
	if (n <= 0) {
		err = n < 0 ? -errno : -ECONNRESET;
		free(buf);
		return err;
	}
	buf[n] = '\0';
	err = api_reply_parse(buf, msg);
	free(buf);
	return err;
}
