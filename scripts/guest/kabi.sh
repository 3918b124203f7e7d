#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# scripts/guest/kabi.sh - print the Debian kernel ABI of the test guest (e.g. 6.1.0-56-amd64):
# the one the linux-headers-amd64 metapackage depends on, so module headers and guest kernel
# always match. Prints nothing and fails when neither dpkg nor apt knows the package.
dep=$(dpkg-query -W -f='${Depends}' linux-headers-amd64 2>/dev/null)
[ -n "$dep" ] || dep=$(apt-cache depends linux-headers-amd64 2>/dev/null | sed -n 's/^ *Depends: //p')
abi=$(printf '%s\n' "$dep" | tr ',' '\n' | sed -n 's/^ *linux-headers-\([0-9][^ ]*-amd64\).*/\1/p' | head -n 1)
[ -n "$abi" ] || exit 1
echo "$abi"
