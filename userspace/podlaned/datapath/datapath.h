/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * datapath/datapath.h - the tc objects (bpf/tc_endpoint.bpf.c, bpf/tc_uplink.bpf.c): loading
 * them against the pinned maps, attaching their programs to pod veths, the uplink and the
 * vxlan device, the node-wide drop counters, and --uninstall.
 *
 * Restarts are non-disruptive: maps are never recreated while pinned, and programs are
 * attached with BPF_TC_F_REPLACE on a fixed handle/priority, so the kernel swaps the old
 * program for the new one in a single step.
 */
#ifndef PODLANED_DATAPATH_DATAPATH_H
#define PODLANED_DATAPATH_DATAPATH_H

#include <stdbool.h>
#include <linux/types.h>

#include "podlane.h"

struct agent;
struct api_error;

/*
 * Our tc filters are recognised by this handle/priority pair (plus the program name), so a
 * restart replaces exactly them and --uninstall removes nothing that belongs to someone else.
 * Priority 1 so the pod's datapath runs before anything else on the device.
 */
#define PODLANED_TC_HANDLE	0x706c	/* "pl" */
#define PODLANED_TC_PRIO	1

void datapath_probe(struct features *f);
/* Probe, load tc_endpoint (and tc_uplink with an uplink or VXLAN), open podlane_drops. */
int datapath_open(struct agent *a);
void datapath_close(struct agent *a);

int datapath_attach_endpoint(struct agent *a, int ifindex, struct api_error *e);
/* 1 when both our filters are attached to ifindex, 0 when not, -errno on failure. */
int datapath_endpoint_attached(int ifindex);
/* tc_from_uplink on --uplink's ingress, forwarding on for that device only. */
int datapath_attach_uplink(struct agent *a);
/* tc_from_tunnel on the vxlan device's ingress (nodes/ creates the device). */
int datapath_attach_tunnel(struct agent *a, int ifindex);

/*
 * The MTU a pod gets when its CNI config names none: the uplink's MTU for direct routing, 50
 * bytes less for VXLAN (outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14), so that a pod's
 * full-size packet still fits the uplink once encapsulated and nothing relies on
 * fragmentation or PMTU discovery. 1500 (1450 for VXLAN) without an uplink.
 */
unsigned int datapath_pod_mtu(struct agent *a);

/* One loaded tc program, for status. */
struct datapath_prog {
	const char *name;	/* "tc_from_pod" */
	const char *hook;	/* "tc ingress, pod host veth" */
	__u32 id;		/* kernel program id, 0 when unknown */
};

/* The tc programs in use (at most 4); returns how many were filled in. */
unsigned int datapath_programs(struct agent *a, struct datapath_prog *out, unsigned int max);

/* Node-wide drops per reason slot, summed over CPUs (podlane_drops). 0 or -errno. */
int datapath_drops_read(struct agent *a, struct drop_counter sum[PODLANE_DROP_SLOTS]);

/* Detach our tc filters from recorded pod veths and the uplink, remove every pin. */
int datapath_uninstall(const char *pin_root, const char *uplink, const char *state_dir);

#endif /* PODLANED_DATAPATH_DATAPATH_H */
