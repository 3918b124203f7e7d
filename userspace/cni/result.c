// SPDX-License-Identifier: GPL-2.0-only
/*
 * result.c - turn podlaned's add reply (struct api_add_reply) into a CNI result for the
 * config's cniVersion, and read the pod's address back out of a prevResult. The result is what chained plugins
 * (portmap, tuning, bandwidth) receive as prevResult, so interface indexes and sandbox must be
 * exact: interfaces[0] is the host veth, interfaces[1] the pod interface, every IP points at 1.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "cni.h"

static struct json_object *new_interface(const char *name, const char *mac, const char *sandbox)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(name ? name : ""));
	if (mac)
		json_object_object_add(o, "mac", json_object_new_string(mac));
	if (sandbox)
		json_object_object_add(o, "sandbox", json_object_new_string(sandbox));
	return o;
}

struct json_object *cni_result_build(const struct netconf *conf, const struct cni_args *args,
				     const struct api_add_reply *reply,
				     struct json_object *ipam_dns)
{
	struct json_object *res = json_object_new_object(), *arr, *o;
	const char *gateway = reply->gateway;
	char address[64];

	snprintf(address, sizeof(address), "%s/%lld", reply->ip, (long long)reply->prefix_len);

	json_object_object_add(res, "cniVersion", json_object_new_string(conf->cni_version));

	arr = json_object_new_array();
	json_object_array_add(arr, new_interface(reply->host_ifname, reply->host_mac, NULL));
	json_object_array_add(arr, new_interface(args->ifname, reply->pod_mac, args->netns));
	json_object_object_add(res, "interfaces", arr);

	arr = json_object_new_array();
	o = json_object_new_object();
	/* 0.3.x and 0.4.0 name the family per address; 1.0.0 dropped the field. */
	if (cni_version_cmp(conf->cni_version, "1.0.0") < 0)
		json_object_object_add(o, "version", json_object_new_string("4"));
	json_object_object_add(o, "address", json_object_new_string(address));
	json_object_object_add(o, "gateway", json_object_new_string(gateway));
	json_object_object_add(o, "interface", json_object_new_int(1));
	json_object_array_add(arr, o);
	json_object_object_add(res, "ips", arr);

	arr = json_object_new_array();
	o = json_object_new_object();
	json_object_object_add(o, "dst", json_object_new_string("0.0.0.0/0"));
	json_object_object_add(o, "gw", json_object_new_string(gateway));
	json_object_array_add(arr, o);
	json_object_object_add(res, "routes", arr);

	/* The config's dns wins; otherwise pass on what a delegated IPAM plugin suggested. */
	if (conf->dns)
		json_object_object_add(res, "dns", json_object_get(conf->dns));
	else if (ipam_dns)
		json_object_object_add(res, "dns", json_object_get(ipam_dns));
	return res;
}

/* A string member of o, or NULL: a null, a number or a string with a NUL has none to compare. */
static const char *str_member(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !cni_json_string(v))
		return NULL;
	return json_object_get_string(v);
}

/*
 * The IPv4 address that prevResult gives to ifname inside the sandbox; falls back to the
 * first IPv4 address when no entry names its interface (older results may omit it). Fields
 * of the wrong type are skipped like missing ones (a null "address" or "name" crashed CHECK).
 */
int prev_result_ipv4(const struct netconf *conf, const char *ifname, char *ip, size_t iplen,
		     struct cni_error *err)
{
	struct json_object *ifaces = NULL, *ips, *entry, *v, *iface;
	const char *name, *sandbox;
	char fallback[INET_ADDRSTRLEN] = "";
	size_t i;

	if (!conf->prev_result)
		return cni_fail(err, 7, "CHECK needs 'prevResult' in the network config");
	json_object_object_get_ex(conf->prev_result, "interfaces", &ifaces);
	if (!json_object_object_get_ex(conf->prev_result, "ips", &ips) ||
	    !json_object_is_type(ips, json_type_array))
		return cni_fail(err, 7, "prevResult has no 'ips'");

	for (i = 0; i < json_object_array_length(ips); i++) {
		char buf[INET_ADDRSTRLEN];
		struct in_addr in;
		const char *addr;
		size_t n;

		entry = json_object_array_get_idx(ips, i);
		addr = str_member(entry, "address");
		if (!addr)
			continue;
		n = strcspn(addr, "/");
		if (n >= sizeof(buf))
			continue;
		memcpy(buf, addr, n);
		buf[n] = '\0';
		if (inet_pton(AF_INET, buf, &in) != 1)
			continue;
		if (!*fallback)
			snprintf(fallback, sizeof(fallback), "%s", buf);
		if (!json_object_object_get_ex(entry, "interface", &v) || !ifaces ||
		    !json_object_is_type(ifaces, json_type_array))
			continue;
		iface = json_object_array_get_idx(ifaces, json_object_get_int(v));
		name = str_member(iface, "name");
		sandbox = str_member(iface, "sandbox");
		if (name && !strcmp(name, ifname) && sandbox && *sandbox) {
			snprintf(ip, iplen, "%s", buf);
			return 0;
		}
	}
	if (!*fallback)
		return cni_fail(err, 7, "prevResult has no IPv4 address for interface '%s'",
				ifname);
	snprintf(ip, iplen, "%s", fallback);
	return 0;
}
