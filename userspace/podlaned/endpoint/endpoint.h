/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * endpoint/endpoint.h - pod wiring for podlane-cni: the veth pair, addresses, routes and
 * neighbours on both sides, the endpoint's maps (through datapath/eps.h) and its tc programs;
 * DEL, CHECK and GC; the start-up reconcile and the XDP fast-path flags.
 */
#ifndef PODLANED_ENDPOINT_ENDPOINT_H
#define PODLANED_ENDPOINT_ENDPOINT_H

#include <stddef.h>
#include <stdint.h>
#include <net/if.h>
#include <netinet/in.h>

struct agent;
struct api_error;
struct label_set;

struct add_request {
	const char *container_id;
	const char *netns;
	const char *ifname;
	const char *network;
	const char *subnet;
	const char *ip;		/* NULL unless a delegated IPAM plugin chose it */
	unsigned int mtu;	/* 0: datapath_pod_mtu() */
	int default_route;	/* 1: via this interface, first; 0: never; -1: if the pod has none */
	/* The Kubernetes pod, for network policy: both names or neither (NULL). */
	const char *pod_namespace;
	const char *pod_name;
	const struct label_set *labels;	/* may be NULL */
};

struct add_result {
	in_addr_t addr;
	char host_ifname[IF_NAMESIZE];
	uint8_t host_mac[6];
	uint8_t pod_mac[6];
	int pod_ifindex;
	int host_ifindex;
	bool default_route;	/* the pod's default route goes via this interface */
};

int endpoint_add(struct agent *a, const struct add_request *req, struct add_result *res,
		 struct api_error *e);
int endpoint_del(struct agent *a, const char *container_id, const char *ifname,
		 const char *network, struct api_error *e);
int endpoint_check(struct agent *a, const char *container_id, const char *ifname,
		   const char *network, const char *netns, const char *ip, struct api_error *e);

struct gc_keep {
	const char *container_id;
	const char *ifname;
};

/* Remove network's endpoints and allocations not in keep; returns how many went, or -1. */
int endpoint_gc(struct agent *a, const char *network, const struct gc_keep *keep, size_t nkeep,
		struct api_error *e);
/* Start-up: drop endpoints whose veth or netns vanished, re-attach the live ones. */
void endpoint_reconcile(struct agent *a);
/*
 * After the LB datapath is open: give every endpoint PODLANE_EP_F_XDP_RX (and its pod end
 * NAPI) when a->xdp_fastpath, take the flag away when not.
 */
void endpoint_xdp_rx_sync(struct agent *a);
/* The host veth's name for container_id+ifname: "pl" and 12 hex digits of a hash. */
void endpoint_host_ifname(const char *container_id, const char *ifname, char *out);
/* Delete the host veths still queued for deletion, then stop the thread that does it. */
void endpoint_reaper_stop(void);

#endif /* PODLANED_ENDPOINT_ENDPOINT_H */
