// SPDX-License-Identifier: GPL-2.0-only
/*
 * ipam.c - what a delegated IPAM plugin prints, read (delegate.c runs it): its VERSION answer,
 * its result or its error. Pure functions of their arguments: selftests/fuzz/fuzz_cni feeds
 * them anything a plugin could print.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cni.h"

bool ipam_versions_has(struct json_object *versions, const char *version)
{
	struct json_object *list;
	size_t i;

	if (!versions || !json_object_object_get_ex(versions, "supportedVersions", &list) ||
	    !json_object_is_type(list, json_type_array))
		return false;
	for (i = 0; i < json_object_array_length(list); i++) {
		const char *s = json_object_get_string(json_object_array_get_idx(list, i));

		/* A null entry has no string: strcmp(NULL) crashed the plugin. */
		if (s && !strcmp(s, version))
			return true;
	}
	return false;
}

const char *ipam_version_pick(struct json_object *versions, const char *config_version)
{
	struct json_object *list, *v;
	const char *best = NULL;
	size_t i;

	/* Not an array: json_object_array_length() would assert and abort the plugin. */
	if (!versions || !json_object_object_get_ex(versions, "supportedVersions", &list) ||
	    !json_object_is_type(list, json_type_array))
		return config_version;
	for (i = 0; i < json_object_array_length(list); i++) {
		const char *s;

		v = json_object_array_get_idx(list, i);
		s = json_object_get_string(v);
		if (!s || !cni_version_supported(s) || cni_version_cmp(s, config_version) > 0)
			continue;
		if (!best || cni_version_cmp(s, best) > 0)
			best = s;
	}
	return best ? best : config_version;
}

int ipam_output_parse(const char *output, int status, const char *type, const char *command,
		      struct json_object **result, struct cni_error *err)
{
	struct json_object *reply = NULL, *v;

	if (result)
		*result = NULL;
	if (output && *output)
		reply = json_tokener_parse(output);
	if (status != 0) {
		int code = PODLANE_ERR_INTERNAL;
		const char *msg = "no error message";

		if (reply && json_object_object_get_ex(reply, "code", &v))
			code = json_object_get_int(v);
		if (reply && json_object_object_get_ex(reply, "msg", &v) &&
		    json_object_is_type(v, json_type_string))
			msg = json_object_get_string(v);
		/* CNI error codes are positive: a plugin's 0 or -1 would reach the runtime as is. */
		cni_fail(err, code > 0 ? code : PODLANE_ERR_INTERNAL, "ipam plugin '%s' %s failed: %s",
			 type, command, msg);
		if (reply && json_object_object_get_ex(reply, "details", &v))
			snprintf(err->details, sizeof(err->details), "%s",
				 json_object_get_string(v));
		json_object_put(reply);
		return -1;
	}
	if (result) {
		if (!reply || !json_object_is_type(reply, json_type_object)) {
			json_object_put(reply);
			return cni_fail(err, 5, "ipam plugin '%s' %s printed no JSON result", type,
					command);
		}
		*result = reply;
		return 0;
	}
	json_object_put(reply);
	return 0;
}

/* Copy "a.b.c.d" out of "a.b.c.d/n" if it is an IPv4 address. */
static bool ipv4_of(const char *cidr, char *ip, size_t iplen)
{
	struct in_addr in;
	char buf[INET_ADDRSTRLEN];
	size_t n = strcspn(cidr, "/");

	if (n >= sizeof(buf))
		return false;
	memcpy(buf, cidr, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, &in) != 1)
		return false;
	snprintf(ip, iplen, "%s", buf);
	return true;
}

int ipam_first_ipv4(struct json_object *result, char *ip, size_t iplen, struct json_object **dns,
		    struct cni_error *err)
{
	struct json_object *ips, *entry, *addr, *ip4;
	size_t i;

	*dns = NULL;
	if (json_object_object_get_ex(result, "dns", &entry) &&
	    json_object_is_type(entry, json_type_object) && json_object_object_length(entry))
		*dns = entry;
	if (json_object_object_get_ex(result, "ips", &ips) &&
	    json_object_is_type(ips, json_type_array)) {
		for (i = 0; i < json_object_array_length(ips); i++) {
			entry = json_object_array_get_idx(ips, i);
			if (json_object_object_get_ex(entry, "address", &addr) &&
			    cni_json_string(addr) &&
			    ipv4_of(json_object_get_string(addr), ip, iplen))
				return 0;
		}
	}
	/* 0.1.0/0.2.0 results: { "ip4": { "ip": "a.b.c.d/n" } } */
	if (json_object_object_get_ex(result, "ip4", &ip4) &&
	    json_object_object_get_ex(ip4, "ip", &addr) &&
	    cni_json_string(addr) &&
	    ipv4_of(json_object_get_string(addr), ip, iplen))
		return 0;
	return cni_fail(err, 7, "ipam plugin returned no IPv4 address (podlane pods need one)");
}

/* "a.b.c.0/n" of "a.b.c.d/n" when it is ip with a prefix length 0-32, else false. */
static bool subnet_of(const char *cidr, const char *ip, char *subnet, size_t len)
{
	size_t n = strlen(ip);
	struct in_addr in;
	char *end;
	long plen;

	if (strncmp(cidr, ip, n) || cidr[n] != '/' || inet_pton(AF_INET, ip, &in) != 1)
		return false;
	plen = strtol(cidr + n + 1, &end, 10);
	if (end == cidr + n + 1 || *end || plen < 0 || plen > 32)
		return false;
	in.s_addr &= plen ? htonl(~0U << (32 - plen)) : 0;
	snprintf(subnet, len, "%s/%ld", inet_ntoa(in), plen);
	return true;
}

void ipam_subnet_of(struct json_object *result, const char *ip, char *subnet, size_t len)
{
	struct json_object *ips, *entry, *addr, *ip4;
	size_t i;

	subnet[0] = '\0';
	if (json_object_object_get_ex(result, "ips", &ips) &&
	    json_object_is_type(ips, json_type_array)) {
		for (i = 0; i < json_object_array_length(ips); i++) {
			entry = json_object_array_get_idx(ips, i);
			if (json_object_object_get_ex(entry, "address", &addr) &&
			    cni_json_string(addr) &&
			    subnet_of(json_object_get_string(addr), ip, subnet, len))
				return;
		}
	}
	if (json_object_object_get_ex(result, "ip4", &ip4) &&
	    json_object_object_get_ex(ip4, "ip", &addr) &&
	    cni_json_string(addr))
		subnet_of(json_object_get_string(addr), ip, subnet, len);
}
