#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
# selftests/fuzz/genl_seeds.py - writes the seed corpus of fuzz_genl (corpus/genl/): datagrams
# as podlane.ko sends them (kmod/podlane_main.c, podlane_psi.c, podlane_cgroup.c) and as
# genetlink's controller answers the family lookup, with the attribute numbers read from
# kmod/uapi/podlane_genl.h. Run from the tree: python3 selftests/fuzz/genl_seeds.py
import os
import re
import struct

ROOT = os.path.dirname(os.path.abspath(__file__))
UAPI = os.path.join(ROOT, '..', '..', 'kmod', 'uapi', 'podlane_genl.h')
OUT = os.path.join(ROOT, 'corpus', 'genl')


def enum_values(text, first):
    """The members of the enum whose first member is `first`, numbered from 0."""
    body = text[text.index(first):]
    body = body[:body.index('}')]
    names = re.findall(r'^\s*([A-Z_][A-Z0-9_]*)\s*[,=]', body, re.M)
    return {n: i for i, n in enumerate(names)}


uapi = open(UAPI).read()
A = enum_values(uapi, 'PODLANE_A_UNSPEC')
P = enum_values(uapi, 'PODLANE_PSI_A_UNSPEC')
CMD = enum_values(uapi, 'PODLANE_CMD_UNSPEC')

NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_MULTI, NLM_F_CAPPED, NLM_F_ACK_TLVS = 0x2, 0x100, 0x200
GENL_ID_CTRL, CTRL_CMD_NEWFAMILY = 0x10, 1
CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME = 1, 2
NLMSGERR_ATTR_MSG = 1
SEQ, PORT, FAMILY = 1733000000, 4242, 0x1c


def pad(b):
    return b + b'\0' * (-len(b) % 4)


def attr(t, payload):
    return pad(struct.pack('=HH', 4 + len(payload), t) + payload)


def u8(t, v): return attr(t, struct.pack('=B', v))
def u16(t, v): return attr(t, struct.pack('=H', v))
def u32(t, v): return attr(t, struct.pack('=I', v))
def u64(t, v): return attr(t, struct.pack('=Q', v))
def string(t, s): return attr(t, s.encode() + b'\0')
def nest(t, *attrs): return attr(t | 0x8000, b''.join(attrs))


def msg(mtype, payload, flags=0, seq=SEQ, port=PORT):
    return struct.pack('=IHHII', 16 + len(payload), mtype, flags, seq, port) + payload


def genl(cmd, *attrs, flags=0, mtype=FAMILY):
    return msg(mtype, struct.pack('=BBH', cmd, 1, 0) + b''.join(attrs), flags)


def done():
    return msg(NLMSG_DONE, struct.pack('=i', 0), NLM_F_MULTI)


def ack(err, text=None, request_len=20):
    """NLMSG_ERROR: the error, the request's header (capped), an extended ACK message."""
    req = struct.pack('=IHHII', request_len, FAMILY, 5, SEQ, PORT)
    tlvs = attr(NLMSGERR_ATTR_MSG, text.encode() + b'\0') if text else b''
    flags = NLM_F_CAPPED | (NLM_F_ACK_TLVS if text else 0)
    return msg(NLMSG_ERROR, struct.pack('=i', err) + req + tlvs, flags)


def psi(t, full=True):
    a = [u32(P['PODLANE_PSI_A_SOME_AVG10'], 125), u32(P['PODLANE_PSI_A_SOME_AVG60'], 50),
         u32(P['PODLANE_PSI_A_SOME_AVG300'], 7), u64(P['PODLANE_PSI_A_SOME_TOTAL_US'], 987654)]
    if full:
        a += [u32(P['PODLANE_PSI_A_FULL_AVG10'], 100), u32(P['PODLANE_PSI_A_FULL_AVG60'], 20),
              u32(P['PODLANE_PSI_A_FULL_AVG300'], 3),
              u64(P['PODLANE_PSI_A_FULL_TOTAL_US'], 123456)]
    return nest(t, *a)


def cgroup(cid, path, level, memory_max=None):
    a = [u64(A['PODLANE_A_CGROUP_ID'], cid), string(A['PODLANE_A_CGROUP_PATH'], path),
         u32(A['PODLANE_A_CGROUP_LEVEL'], level), u64(A['PODLANE_A_CPU_USAGE_US'], 5000),
         u64(A['PODLANE_A_CPU_USER_US'], 3000), u64(A['PODLANE_A_CPU_SYSTEM_US'], 2000),
         u64(A['PODLANE_A_MEMORY_CURRENT'], 1 << 20)]
    if memory_max is not None:
        a.append(u64(A['PODLANE_A_MEMORY_MAX'], memory_max))
    a += [psi(A['PODLANE_A_PSI_CPU']), psi(A['PODLANE_A_PSI_MEMORY']),
          psi(A['PODLANE_A_PSI_IO'])]
    return genl(CMD['PODLANE_CMD_CGROUP_DUMP'], *a, flags=NLM_F_MULTI)


seeds = {
    'family': msg(GENL_ID_CTRL, struct.pack('=BBH', CTRL_CMD_NEWFAMILY, 2, 0) +
                  u16(CTRL_ATTR_FAMILY_ID, FAMILY) + string(CTRL_ATTR_FAMILY_NAME, 'podlane')) +
    ack(0),
    'version': genl(CMD['PODLANE_CMD_GET_VERSION'], u32(A['PODLANE_A_VERSION'], 1),
                    u64(A['PODLANE_A_FEATURES'], 7),
                    string(A['PODLANE_A_KERNEL_RELEASE'], '6.1.0-28-amd64'),
                    u8(A['PODLANE_A_CONFIG_CGROUP_PSI'], 1)) + ack(0),
    'pressure': genl(CMD['PODLANE_CMD_NODE_PRESSURE'], psi(A['PODLANE_A_PSI_CPU'], False),
                     psi(A['PODLANE_A_PSI_MEMORY']), psi(A['PODLANE_A_PSI_IO'])) + ack(0),
    'dump': cgroup(1, '/', 0) + cgroup(4242, '/pods/pod-a', 2, 64 << 20) +
    cgroup(4243, '/pods/pod-b', 2) + done(),
    'dump-other-request-first': msg(FAMILY, b'\1\1\0\0', seq=SEQ + 1) + cgroup(7, '/x', 1) +
    done(),
    'error-extack': ack(-1, 'podlane: CGROUP_DUMP needs CAP_NET_ADMIN'),
    'error-uncapped': msg(NLMSG_ERROR, struct.pack('=i', -22) +
                          struct.pack('=IHHII', 28, FAMILY, 5, SEQ, PORT) + b'\4\0\1\0\0\0\0\0'),
}

os.makedirs(OUT, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(OUT, name), 'wb') as f:
        f.write(data)
print(f'{len(seeds)} seeds in {OUT}')
