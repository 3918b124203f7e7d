#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# scripts/guest/build.sh - assemble the Debian 6.1 test guest under $OUTPUT/guest (default
# build/guest): the kernel from Debian's linux-image package (downloaded once with
# `apt-get download`, unpacked with `dpkg -x`, never installed), the modules the tests need with
# their dependencies, busybox, iproute2, podlane.ko, podlane's binaries and test programs with
# the libraries ldd lists, and the BPF objects. The package and its unpacked tree are cached;
# the initramfs is rebuilt every time (a few seconds) so it always carries the current build.
#
# Usage: scripts/guest/build.sh [tests-file]
#   tests-file: lines "<name> <command...>" for the guest's init to run in order (see init).
# Prints "kernel=<path>" and "initrd=<path>" on success. Exit 4 = cannot be built here (the
# reason is on stderr): tests turn that into a skip.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(cd "$root" && mkdir -p "${OUTPUT:-build}" && cd "${OUTPUT:-build}" && pwd)
guest=$out/guest

skip() { echo "guest: $*" >&2; exit 4; }

abi=$("$root/scripts/guest/kabi.sh") || skip "cannot tell the kernel ABI (is linux-headers-amd64 known to apt?)"
pkg=linux-image-$abi
tree=$guest/$pkg
modules=$tree/lib/modules/$abi
kernel=$tree/boot/vmlinuz-$abi

# 1. The kernel package, once.
if [ ! -e "$tree/.unpacked" ]; then
	mkdir -p "$guest"
	deb=$(ls "$guest"/"${pkg}"_*.deb 2>/dev/null | head -n 1 || true)
	if [ -z "$deb" ]; then
		echo "guest: downloading $pkg" >&2
		(cd "$guest" && apt-get download -q "$pkg" >&2) ||
			skip "apt-get download $pkg failed"
		deb=$(ls "$guest"/"${pkg}"_*.deb | head -n 1)
	fi
	rm -rf "$tree"
	echo "guest: unpacking $(basename "$deb")" >&2
	dpkg -x "$deb" "$tree"
	touch "$tree/.unpacked"
fi
[ -r "$kernel" ] || skip "no kernel image at $kernel"

# 2. The initramfs tree.
stage=$guest/initramfs
rm -rf "$stage"
mkdir -p "$stage"/{bin,sbin,dev,proc,sys,tmp,run,lib/modules,opt/podlane,etc}
[ -x /bin/busybox ] || skip "needs busybox-static"
ldd /bin/busybox > /dev/null 2>&1 && skip "/bin/busybox is dynamically linked (install busybox-static)"
cp /bin/busybox "$stage/bin/busybox"
install -m 0755 "$root/scripts/guest/init" "$stage/init"

# Shared libraries of a binary, with their directories, plus the dynamic loader.
copy_with_libs() {	# copy_with_libs <binary> <destination inside the guest>
	local bin=$1 dest=$2 lib
	mkdir -p "$stage/$(dirname "$dest")"
	cp -L "$bin" "$stage/$dest"
	ldd "$bin" 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }' |
	while read -r lib; do
		[ -e "$stage/$lib" ] && continue
		mkdir -p "$stage/$(dirname "$lib")"
		cp -L "$lib" "$stage/$lib"
	done
}

# iproute2 under /sbin, ahead of busybox's ip/tc applets in the guest's PATH. Busybox's sh
# runs its own applets before searching PATH, so /bin/sh (what system() and the test commands
# use) is dash, which does search PATH; init itself runs under busybox.
[ -x /bin/dash ] || skip "needs dash (/bin/dash) for the guest's /bin/sh"
copy_with_libs /bin/dash /bin/sh
for tool in ip tc bpftool; do
	path=$(command -v "$tool" || true)
	[ -n "$path" ] && copy_with_libs "$path" "/sbin/$tool"
done

# Kernel modules the tests need, dependencies first, decompressed (busybox insmod takes .ko).
# The package ships no modules.dep (depmod runs at install), so read each module's depends=.
want=(veth sch_ingress cls_bpf)
index=$guest/modules.index
[ -s "$index" ] || (cd "$modules" && find kernel -name '*.ko*' | LC_ALL=C sort) > "$index"
order=()
unpack_module() {	# unpack_module <path below $modules> <destination file>
	case $1 in
	*.xz) xz -dc "$modules/$1" > "$2" ;;
	*.zst) zstd -qdc "$modules/$1" > "$2" ;;
	*.gz) gzip -dc "$modules/$1" > "$2" ;;
	*) cp "$modules/$1" "$2" ;;
	esac
}
resolve() {	# resolve <module name>
	local name=$1 path dep tmp
	path=$(grep -m1 -E "/${name//[-_]/[-_]}\.ko(\.xz|\.zst|\.gz)?\$" "$index") ||
		return 0	# built into the kernel
	for dep in "${order[@]}"; do
		[ "$dep" = "$path" ] && return 0
	done
	tmp=$stage/lib/modules/$(basename "${path%.ko*}").ko
	unpack_module "$path" "$tmp"
	for dep in $(objcopy -O binary --only-section=.modinfo "$tmp" /dev/stdout | tr '\0' '\n' |
		     sed -n 's/^depends=//p' | tr ',' ' '); do
		resolve "$dep"
	done
	order+=("$path")
}
for m in "${want[@]}"; do
	resolve "$m"
done
for path in "${order[@]}"; do
	echo "$(basename "${path%.ko*}").ko"
done > "$stage/lib/modules/load-order"

# podlane: module, binaries, test programs, BPF objects. Whatever is built goes in.
[ -e "$out/podlane.ko" ] && cp "$out/podlane.ko" "$stage/opt/podlane/"
for b in podlaned podlane-cni podlanectl selftests/datapath/test_datapath \
	 selftests/policy/test_policy_dp \
	 $(cd "$out" && compgen -G "selftests/guest/*"); do
	[ -f "$out/$b" ] && [ -x "$out/$b" ] && copy_with_libs "$out/$b" "/opt/podlane/$b"
done
if compgen -G "$out/bpf/*.bpf.o" > /dev/null; then
	mkdir -p "$stage/opt/podlane/bpf"
	cp "$out"/bpf/*.bpf.o "$stage/opt/podlane/bpf/"
fi
if [ $# -ge 1 ]; then
	cp "$1" "$stage/etc/podlane-tests"
fi

# 3. Pack. gzip -1: the kernel unpacks it faster than qemu would read a better-packed one.
(cd "$stage" && find . | LC_ALL=C sort | cpio --quiet -o -H newc | gzip -1) > "$guest/initramfs.cpio.gz.tmp"
mv "$guest/initramfs.cpio.gz.tmp" "$guest/initramfs.cpio.gz"
echo "kernel=$kernel"
echo "initrd=$guest/initramfs.cpio.gz"
