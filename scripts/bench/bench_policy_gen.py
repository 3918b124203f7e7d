#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""bench_policy_gen.py - the policies and iptables rules of bench-policy.sh.

  rr DIR                 100 policies selecting the pods labelled rr=pol (namespace perf), each
                         with an ingress and an egress rule to the same pods (policy rr-0 on
                         every port, rr-<i> on port 30000 + i)
  crr N DIR              N ingress rules for the pods labelled srv=<N>, 10 to a policy
                         (crr-<N>-<j>): rule k admits pods labelled g<k % 10>=1 on TCP port
                         crr_port(N, k) (8080 for k = N / 2, the client's; else 10000 + 5k:
                         distinct and never adjacent)
  calico N...            the same rules as Calico's iptables mode lays them out (filter table,
                         iptables-restore format): FORWARD -> cali-FORWARD -> cali-to-wl-dispatch
                         -> cali-tw-calis<N> (ESTABLISHED accepted first, then one
                         cali-pi-crr-<N>-<j> chain per policy, each rule an ipset match of the
                         peers plus a port that marks; drop when no policy marked); N = 0 gets no
                         chain (not isolated)
  scale shared|distinct PODS DIR
                         namespace scale: 10 policies, one per group grp=0..9, or PODS policies,
                         one per pod pod=p-<i>; each admits role=client on three TCP ports
DIR gets JSON Lists of at most 200 policies and about 64 KiB (podlanectl takes 256 at a time,
and a request must fit the agent's API message), named so that a glob lists them in order.
"""
import json
import os
import sys

CHUNK = 200
MAX_BYTES = 64 * 1024	# a request must fit the agent's API message (PODLANE_API_MAX_MSG)


def policy(ns, name, selector, ingress=None, egress=None, types=None):
    spec = {"podSelector": {"matchLabels": selector}}
    if types:
        spec["policyTypes"] = types
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"namespace": ns, "name": name}, "spec": spec}


def write(policies, out, prefix):
    os.makedirs(out, exist_ok=True)
    c = 0
    while c < len(policies):
        n, size = 0, 0
        while c + n < len(policies) and n < CHUNK and size < MAX_BYTES:
            size += len(json.dumps(policies[c + n]))
            n += 1
        with open(os.path.join(out, "%s-%06d.json" % (prefix, c)), "w") as f:
            json.dump({"apiVersion": "v1", "kind": "List", "items": policies[c:c + n]}, f)
        c += n


def crr_port(n, k):
    return 8080 if k == n // 2 else 10000 + 5 * k


def rr(out):
    v = []
    for i in range(100):
        peer = [{"podSelector": {"matchLabels": {"rr": "pol"}}}]
        ing, eg = {"from": peer}, {"to": peer}
        if i:
            ing["ports"] = eg["ports"] = [{"port": 30000 + i}]
        v.append(policy("perf", "rr-%d" % i, {"rr": "pol"}, [ing], [eg],
                        ["Ingress", "Egress"]))
    write(v, out, "rr")


def crr(n, out):
    v = []
    for j in range((n + 9) // 10):
        rules = [{"from": [{"podSelector": {"matchLabels": {"g%d" % (k % 10): "1"}}}],
                  "ports": [{"port": crr_port(n, k)}]}
                 for k in range(10 * j, min(n, 10 * j + 10))]
        v.append(policy("perf", "crr-%d-%d" % (n, j), {"srv": str(n)}, rules))
    write(v, out, "crr-%d" % n)


def calico(counts):
    counts = [n for n in counts if n > 0]
    p = print
    p("*filter")
    p(":cali-FORWARD - [0:0]")
    p(":cali-to-wl-dispatch - [0:0]")
    for n in counts:
        p(":cali-tw-calis%d - [0:0]" % n)
        for j in range((n + 9) // 10):
            p(":cali-pi-crr-%d-%d - [0:0]" % (n, j))
    p('-A FORWARD -m comment --comment "cali:wUHhoiAYhphO9Mso" -j cali-FORWARD')
    p('-A cali-FORWARD -m comment --comment "cali:vjrMJCRpqwy5oRoX" '
      '-j MARK --set-xmark 0x0/0xe0000')
    p('-A cali-FORWARD -o cali+ -m comment --comment "cali:A_sPAO0mcxbT9mOV" '
      '-j cali-to-wl-dispatch')
    p('-A cali-FORWARD -m mark --mark 0x10000/0x10000 '
      '-m comment --comment "cali:MH9kMp5aNICL-Olv" -j ACCEPT')
    for n in counts:
        tw = "cali-tw-calis%d" % n
        p('-A cali-to-wl-dispatch -o calis%d -m comment --comment "cali:dispatch-%d" -g %s'
          % (n, n, tw))
        p("-A %s -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT" % tw)
        p("-A %s -m conntrack --ctstate INVALID -j DROP" % tw)
        p("-A %s -j MARK --set-xmark 0x0/0x10000" % tw)
        p('-A %s -m comment --comment "Start of policies" -j MARK --set-xmark 0x0/0x20000' % tw)
        for j in range((n + 9) // 10):
            p("-A %s -m mark --mark 0x0/0x20000 -j cali-pi-crr-%d-%d" % (tw, n, j))
            p('-A %s -m mark --mark 0x10000/0x10000 '
              '-m comment --comment "Return if policy accepted" -j RETURN' % tw)
        p('-A %s -m mark --mark 0x0/0x20000 '
          '-m comment --comment "Drop if no policies passed packet" -j DROP' % tw)
        for k in range(n):
            pi = "cali-pi-crr-%d-%d" % (n, k // 10)
            p("-A %s -p tcp -m set --match-set cali40s:g%d src -m multiport "
              "--destination-ports %d -j MARK --set-xmark 0x10000/0x10000"
              % (pi, k % 10, crr_port(n, k)))
            p("-A %s -m mark --mark 0x10000/0x10000 -j RETURN" % pi)
    p("COMMIT")


def scale(kind, pods, out):
    n = 10 if kind == "shared" else pods
    v = []
    for i in range(n):
        sel = {"grp": str(i)} if kind == "shared" else {"pod": "p-%d" % i}
        rule = {"from": [{"podSelector": {"matchLabels": {"role": "client"}}}],
                "ports": [{"port": 20000 + i}, {"port": 40000 + i}, {"port": 60000 - i}]}
        v.append(policy("scale", "%s-%d" % (kind, i), sel, [rule]))
    write(v, out, kind)


def main(a):
    if len(a) == 2 and a[0] == "rr":
        return rr(a[1])
    if len(a) == 3 and a[0] == "crr":
        return crr(int(a[1]), a[2])
    if len(a) >= 1 and a[0] == "calico":
        return calico([int(x) for x in a[1:]])
    if len(a) == 4 and a[0] == "scale" and a[1] in ("shared", "distinct"):
        return scale(a[1], int(a[2]), a[3])
    sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
