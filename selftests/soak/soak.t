#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# soak.t - the short version of scripts/soak.sh: 60 s of chaos (16 CNI workers, podlaned killed
# every 2-5 s for the first 60%, services, node records and etcd members churning, a stream and
# a ClusterIP connection throughout), then the same account of what is left. The README reports
# the long run (scripts/soak.sh -t 1800).
exec "$(dirname "$0")/../../scripts/soak.sh" -t "${PL_SOAK_SECONDS:-60}" -w 16 -k 2,5 -q 40
