#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""cnicheck.py - judge what podlane-cni printed, for the CNI selftests.

  cnicheck.py error  FILE CODE [MSG-SUBSTRING]   a CNI error object with this code
  cnicheck.py result FILE VERSION IFNAME NETNS CIDR [DNS-JSON]
                                                a complete ADD result for that version
  cnicheck.py get    FILE EXPR                  print EXPR evaluated on the JSON as `j`
  cnicheck.py embed  CONF RESULT                print CONF with RESULT as prevResult

Problems go to stdout one per line; exit status 0 means the check passed.
"""
import ipaddress
import json
import re
import sys

MAC = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")
problems = []


def want(cond, what):
    if not cond:
        problems.append(what)


def load(path):
    with open(path) as f:
        text = f.read()
    try:
        return json.loads(text)
    except ValueError as e:
        print(f"stdout is not one JSON document ({e}): {text[:300]!r}")
        sys.exit(1)


def check_error(j, code, substr):
    want(isinstance(j, dict), "error is not an object")
    want(isinstance(j.get("cniVersion"), str) and j.get("cniVersion"),
         "error has no cniVersion")
    want(j.get("code") == code, f"code is {j.get('code')!r}, want {code}")
    want(isinstance(j.get("msg"), str) and j.get("msg"), "error has no msg")
    want(isinstance(j.get("details", ""), str), "details is not a string")
    if substr:
        want(substr in j.get("msg", ""), f"msg {j.get('msg')!r} does not mention {substr!r}")


def version_tuple(v):
    return tuple(int(x) for x in v.split("."))


def check_result(j, version, ifname, netns, cidr, dns):
    want(j.get("cniVersion") == version, f"cniVersion {j.get('cniVersion')!r} != {version}")
    ifs = j.get("interfaces")
    want(isinstance(ifs, list) and len(ifs) == 2, f"want 2 interfaces, got {ifs!r}")
    if isinstance(ifs, list) and len(ifs) == 2:
        host, pod = ifs
        want(re.match(r"^pl[0-9a-f]{12}$", host.get("name", "")),
             f"host veth name {host.get('name')!r} is not pl + 12 hex")
        want(MAC.match(host.get("mac", "")), f"host mac {host.get('mac')!r}")
        want(not host.get("sandbox"), "host veth must not have a sandbox")
        want(pod.get("name") == ifname, f"pod interface {pod.get('name')!r} != {ifname}")
        want(MAC.match(pod.get("mac", "")), f"pod mac {pod.get('mac')!r}")
        want(pod.get("sandbox") == netns, f"sandbox {pod.get('sandbox')!r} != {netns}")
        want(host.get("mac") != pod.get("mac"), "host and pod MAC are equal")
    ips = j.get("ips")
    want(isinstance(ips, list) and len(ips) == 1, f"want 1 ip, got {ips!r}")
    if isinstance(ips, list) and len(ips) == 1:
        ip = ips[0]
        addr = ip.get("address", "")
        want(re.match(r"^\d+\.\d+\.\d+\.\d+/32$", addr), f"address {addr!r} is not a.b.c.d/32")
        if cidr and "/" in addr:
            want(ipaddress.ip_address(addr.split("/")[0]) in ipaddress.ip_network(cidr),
                 f"{addr} is outside {cidr}")
        want(ip.get("gateway") == "169.254.1.1", f"gateway {ip.get('gateway')!r}")
        want(ip.get("interface") == 1, f"interface index {ip.get('interface')!r} != 1")
        if version_tuple(version) < (1, 0, 0):
            want(ip.get("version") == "4", f"{version} needs version \"4\", got {ip.get('version')!r}")
        else:
            want("version" not in ip, f"{version} must not have ips[].version")
    want(j.get("routes") == [{"dst": "0.0.0.0/0", "gw": "169.254.1.1"}],
         f"routes {j.get('routes')!r}")
    if dns is not None:
        want(j.get("dns") == dns, f"dns {j.get('dns')!r} != {dns!r}")
    extra = set(j) - {"cniVersion", "interfaces", "ips", "routes", "dns"}
    want(not extra, f"unexpected top-level keys {sorted(extra)}")


def main():
    cmd = sys.argv[1]
    if cmd == "error":
        check_error(load(sys.argv[2]), int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else "")
    elif cmd == "result":
        dns = json.loads(sys.argv[7]) if len(sys.argv) > 7 else None
        check_result(load(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], dns)
    elif cmd == "get":
        j = load(sys.argv[2])
        v = eval(sys.argv[3], {"j": j})
        print(v if not isinstance(v, (dict, list)) else json.dumps(v))
    elif cmd == "embed":
        conf = load(sys.argv[2])
        conf["prevResult"] = load(sys.argv[3])
        print(json.dumps(conf))
    else:
        print(f"unknown command {cmd}")
        return 2
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
