#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""selftests/policy/polmaps.py - the network policy maps of a pin root, decoded from
`bpftool -j map dump` as bpf/podlane.h lays them out, printed as JSON:

  polmaps.py PIN ep        {"<ifindex>": {ingress_set, egress_set, ingress_policy,
                           egress_policy, flags, id}}
  polmaps.py PIN policy    [{set, peer, proto, port, prefixlen, policy, rule}] sorted
  polmaps.py PIN ipcache   [{cidr, id, cidr_id}] sorted
  polmaps.py PIN rev       the revision (a number)
"""
import ipaddress
import json
import subprocess
import sys


def dump(pin, name):
    out = subprocess.run(["bpftool", "-j", "map", "dump", "pinned", f"{pin}/{name}"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def raw(hexes):
    return bytes(int(h, 16) for h in hexes)


def le(b):
    return int.from_bytes(b, "little")


def be(b):
    return int.from_bytes(b, "big")


def main():
    pin, what = sys.argv[1], sys.argv[2]
    if what == "ep":
        out = {}
        for e in dump(pin, "podlane_ep_policy"):
            k, v = raw(e["key"]), raw(e["value"])
            out[str(le(k))] = {
                "ingress_set": le(v[0:4]), "egress_set": le(v[4:8]),
                "ingress_policy": le(v[8:12]), "egress_policy": le(v[12:16]),
                "flags": le(v[16:20]), "id": le(v[20:24]),
            }
    elif what == "policy":
        out = []
        for e in dump(pin, "podlane_policy"):
            k, v = raw(e["key"]), raw(e["value"])
            out.append({"set": be(k[4:8]), "peer": be(k[8:12]), "proto": k[12],
                        "port": be(k[13:15]), "prefixlen": le(k[0:4]),
                        "policy": le(v[0:4]), "rule": le(v[4:6])})
        out.sort(key=lambda x: (x["set"], x["peer"], x["proto"], x["prefixlen"], x["port"]))
    elif what == "ipcache":
        out = []
        for e in dump(pin, "podlane_ipcache"):
            k, v = raw(e["key"]), raw(e["value"])
            out.append({"cidr": f"{ipaddress.IPv4Address(k[4:8])}/{le(k[0:4])}",
                        "id": le(v[0:4]), "cidr_id": le(v[4:8])})
        out.sort(key=lambda x: x["cidr"])
    elif what == "rev":
        out = le(raw(dump(pin, "podlane_pol_rev")[0]["value"]))
    else:
        sys.exit(f"polmaps.py: unknown '{what}'")
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
