#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# podman.t - a real libcni runtime: podman 4.3 with its CNI backend runs a container on a podlane
# network (conflist in a private network_config_dir, podlane-cni found through cni_plugin_dirs),
# the container talks to a pod wired directly through podlane-cni and to the node, and removing
# the container releases its endpoint. Everything podman creates lives under a temporary
# --root/--runroot and is reset at cleanup. If podman cannot run even a network-less container
# on this machine, that is outside podlane and the test skips with podman's own words.
. "$(dirname "$0")/lib.sh"

require_root
require_cmd ip jq python3 ping podman runc busybox
require_build podlaned podlane-cni podlanectl
busybox_bin=$(command -v busybox)
ldd "$busybox_bin" >/dev/null 2>&1 &&
	skip_all "$busybox_bin is not static (install busybox-static)"

integration_setup
cni_bin_setup

NET=plint-podman
PM=$PL_TMP/podman
mkdir -p "$PM/net" "$PM/rootfs/bin" "$PM/tmp"
cat > "$PM/containers.conf" <<EOC
# Only what differs from the defaults, and why (shared/notes/platform.md): CNI instead of
# netavark, runc because crun fails here, cgroupfs because no systemd manages this VM's cgroups.
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[network]
network_backend = "cni"
network_config_dir = "$PM/net"
cni_plugin_dirs = ["$CNI_BIN", "/usr/lib/cni"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$PM/events.log"
tmp_dir = "$PM/tmp"
EOC
export CONTAINERS_CONF=$PM/containers.conf
pm() { timeout 120 podman --root "$PM/root" --runroot "$PM/runroot" "$@"; }
podman_cleanup() {
	pm rm -a -f -t 0
	pm system reset -f
	rm -rf "$PM"
}
on_cleanup podman_cleanup

cat > "$PM/net/$NET.conflist" <<EOC
{"cniVersion": "1.0.0", "name": "$NET", "plugins": [
  {"type": "podlane-cni", "podCIDR": "10.244.15.0/24", "agentSocket": "$PL_SOCK"}
]}
EOC

# An image without a registry: a static busybox as the whole rootfs.
cp "$busybox_bin" "$PM/rootfs/bin/busybox"
for a in sh nc cat ping ip sleep; do ln -s busybox "$PM/rootfs/bin/$a"; done
tar -C "$PM/rootfs" -cf "$PM/rootfs.tar" .
IMG=localhost/podlane-test-busybox:latest
out=$(pm import "$PM/rootfs.tar" "$IMG" 2>&1) || skip_all "podman import failed: $(tail -n 1 <<< "$out")"
out=$(pm run --rm --network none "$IMG" /bin/sh -c 'echo up' 2>&1)
[ "$out" = up ] || skip_all "podman cannot run a container here: $(tail -n 1 <<< "$out")"


agent_start
ok $? "podlaned starts"
ok $(pm network ls --format '{{.Name}}' 2>/dev/null | grep -qx "$NET"; echo $?) \
	"podman lists the podlane network from its network_config_dir"

# A persistent TCP echo server in the container (busybox nc runs cat per connection).
out=$(pm run -d --name "plc$PL_ID" --network "$NET" --cap-add NET_RAW "$IMG" \
	/bin/nc -ll -p 7301 -e /bin/cat 2>&1)
rc=$?
ok $rc "podman run on network $NET"
[ $rc -eq 0 ] || diag "podman: $(tail -n 3 <<< "$out")"
CID=$(pm inspect -f '{{.Id}}' "plc$PL_ID" 2>/dev/null)
CIP=$(pm inspect -f "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}" "plc$PL_ID" 2>/dev/null)
ok $([ "${CIP%.*}" = 10.244.15 ]; echo $?) "the container got a podlane address ($CIP)"
ok $(endpoints_json | jq -e --arg c "$CID" '(.endpoints? // .) | any(.container_id == $c)' \
	>/dev/null 2>&1; echo $?) "podlanectl lists an endpoint for container ${CID:0:12}"

CONF=$PL_TMP/podlane.conf
cni_conf "$CONF" "$NET" 10.244.15.0/24
pod_add p "$CONF"
ok $? "a pod wired by podlane-cni directly on the same network (${POD_IP[p]:-?})"
poll 10 probe "${POD_NS[p]}" tcp "$CIP" 7301
ok $? "TCP pod -> container echo server"
check "ICMP container -> pod" pm exec "plc$PL_ID" ping -c 2 -W 2 "${POD_IP[p]}"
check "TCP node -> container" probe host tcp "$CIP" 7301

check "podman rm removes the container" pm rm -f -t 0 "plc$PL_ID"
ok $(endpoints_json | jq -e --arg c "$CID" '(.endpoints? // .) | any(.container_id == $c) | not' \
	>/dev/null 2>&1; echo $?) "its endpoint is gone (podman ran CNI DEL)"
done_testing
