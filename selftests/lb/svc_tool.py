#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""svc_tool.py - backends and clients for the service tests (selftests/lb/agent*.t).

Every mode is bounded in time and stops by itself.

  serve NAME [--tcp PORT] [--udp PORT] [--timeout S]
        TCP: greet each connection with "NAME\\n", then echo lines until the peer closes.
        UDP: answer each datagram with "NAME <datagram>".
  spread HOST PORT N        N TCP connections; prints one JSON object {backend: count}
                            (connection failures count under "error:<reason>")
  hold HOST PORT DIR        one TCP connection kept open: writes DIR/backend, then answers
                            each DIR/go.K that appears with a round trip and DIR/ok.K or
                            DIR/fail.K; stops when DIR/stop appears (or after --timeout)
  udp HOST PORT N [--size B]  N datagrams (B payload bytes) from one unconnected socket;
                            prints JSON {"sources": [...distinct reply sources...],
                            "backends": {..}, "replies": n, "bad": replies not echoing
                            the datagram}
  xfer HOST PORT BYTES      one TCP connection to a serve backend: send BYTES of random
                            data and read the echo back; prints JSON {"backend": name,
                            "sent": n, "received": n, "intact": bool}
  ethtool IFNAME [on|off]   legacy SIOCETHTOOL: set transmit checksum offload, print
                            "tx=on|off gro=on|off" (no ethtool binary needed)
"""
import argparse
import fcntl
import hashlib
import json
import os
import select
import socket
import sys
import time


def serve(args):
    deadline = time.monotonic() + args.timeout
    socks = {}
    if args.tcp:
        lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lst.bind(("0.0.0.0", args.tcp))
        lst.listen(512)
        socks[lst.fileno()] = ("listen", lst)
    if args.udp:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("0.0.0.0", args.udp))
        socks[u.fileno()] = ("udp", u)
    name = args.name.encode()
    while time.monotonic() < deadline:
        r, _, _ = select.select([s for _, s in socks.values()], [], [], 0.5)
        for s in r:
            kind, _ = socks.get(s.fileno(), (None, None))
            if kind == "listen":
                try:
                    c, _ = s.accept()
                except OSError:
                    continue
                try:
                    c.sendall(name + b"\n")
                except OSError:
                    c.close()
                    continue
                socks[c.fileno()] = ("conn", c)
            elif kind == "udp":
                data, peer = s.recvfrom(2048)
                s.sendto(name + b" " + data, peer)
            elif kind == "conn":
                try:
                    data = s.recv(2048)
                except OSError:
                    data = b""
                if not data:
                    del socks[s.fileno()]
                    s.close()
                    continue
                try:
                    s.sendall(data)
                except OSError:
                    pass
    return 0


def read_line(s, timeout):
    s.settimeout(timeout)
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(256)
        if not chunk:
            raise OSError("connection closed")
        buf += chunk
    return buf.decode().strip()


def spread(args):
    counts = {}
    for _ in range(args.n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # RST on close: hundreds of connections must not pile up in TIME_WAIT.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        try:
            s.settimeout(3)
            s.connect((args.host, args.port))
            who = read_line(s, 3)
        except OSError as e:
            who = "error:%s" % (e.strerror or str(e))
        finally:
            s.close()
        counts[who] = counts.get(who, 0) + 1
    print(json.dumps(counts))
    return 0


def hold(args):
    deadline = time.monotonic() + args.timeout
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.settimeout(3)
        s.connect((args.host, args.port))
        who = read_line(s, 3)
    except OSError as e:
        with open(os.path.join(args.dir, "backend"), "w") as f:
            f.write("error:%s\n" % e)
        return 1
    with open(os.path.join(args.dir, "backend.tmp"), "w") as f:
        f.write(who + "\n")
    os.replace(os.path.join(args.dir, "backend.tmp"), os.path.join(args.dir, "backend"))
    k = 1
    while time.monotonic() < deadline:
        if os.path.exists(os.path.join(args.dir, "stop")):
            break
        go = os.path.join(args.dir, "go.%d" % k)
        if not os.path.exists(go):
            time.sleep(0.05)
            continue
        msg = "ping %d\n" % k
        try:
            s.sendall(msg.encode())
            ok = read_line(s, 3) == msg.strip()
        except OSError:
            ok = False
        open(os.path.join(args.dir, ("ok.%d" if ok else "fail.%d") % k), "w").close()
        k += 1
    s.close()
    return 0


def udp(args):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    sources, backends, replies = set(), {}, 0
    bad = 0
    for i in range(args.n):
        q = (b"q%d " % i).ljust(args.size, b"x")
        s.sendto(q, (args.host, args.port))
        try:
            data, peer = s.recvfrom(65536)
        except OSError:
            continue
        replies += 1
        sources.add("%s:%d" % peer)
        who, _, echo = data.partition(b" ")
        bad += echo != q
        backends[who.decode()] = backends.get(who.decode(), 0) + 1
    print(json.dumps({"sources": sorted(sources), "backends": backends, "replies": replies,
                      "bad": bad}))
    return 0


def xfer(args):
    deadline = time.monotonic() + args.timeout
    data = os.urandom(args.bytes)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(3)
    s.connect((args.host, args.port))
    who = read_line(s, 3)
    s.setblocking(False)
    sent, back = 0, []
    received = 0
    # Send and read at once: the backend echoes as it reads, so both directions must drain.
    while received < len(data) and time.monotonic() < deadline:
        w = [s] if sent < len(data) else []
        r, w, _ = select.select([s], w, [], 0.5)
        if w:
            try:
                sent += s.send(data[sent:sent + 65536])
            except BlockingIOError:
                pass
        if r:
            chunk = s.recv(65536)
            if not chunk:
                break
            back.append(chunk)
            received += len(chunk)
    s.close()
    got = b"".join(back)
    print(json.dumps({"backend": who, "sent": sent, "received": received,
                      "intact": hashlib.sha256(got).digest() == hashlib.sha256(data).digest()}))
    return 0


# struct ethtool_value { __u32 cmd; __u32 data; } through struct ifreq's ifr_data.
ETHTOOL_GTXCSUM, ETHTOOL_STXCSUM, ETHTOOL_GGRO = 0x16, 0x17, 0x2b
SIOCETHTOOL = 0x8946


def ethtool_value(sock, ifname, cmd, value=0):
    import array
    import struct
    ev = array.array("I", [cmd, value])
    addr, _ = ev.buffer_info()
    ifr = struct.pack("16sP", ifname.encode(), addr) + b"\0" * 16
    fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifr)
    return ev[1]


def ethtool(args):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if args.tx:
        ethtool_value(s, args.ifname, ETHTOOL_STXCSUM, 1 if args.tx == "on" else 0)
    tx = ethtool_value(s, args.ifname, ETHTOOL_GTXCSUM)
    gro = ethtool_value(s, args.ifname, ETHTOOL_GGRO)
    print("tx=%s gro=%s" % ("on" if tx else "off", "on" if gro else "off"))
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="mode", required=True)
    sp = sub.add_parser("serve")
    sp.add_argument("name")
    sp.add_argument("--tcp", type=int, default=0)
    sp.add_argument("--udp", type=int, default=0)
    sp.add_argument("--timeout", type=float, default=300)
    sp = sub.add_parser("spread")
    sp.add_argument("host")
    sp.add_argument("port", type=int)
    sp.add_argument("n", type=int)
    sp = sub.add_parser("hold")
    sp.add_argument("host")
    sp.add_argument("port", type=int)
    sp.add_argument("dir")
    sp.add_argument("--timeout", type=float, default=300)
    sp = sub.add_parser("udp")
    sp.add_argument("host")
    sp.add_argument("port", type=int)
    sp.add_argument("n", type=int)
    sp.add_argument("--size", type=int, default=0)
    sp = sub.add_parser("xfer")
    sp.add_argument("host")
    sp.add_argument("port", type=int)
    sp.add_argument("bytes", type=int)
    sp.add_argument("--timeout", type=float, default=30)
    sp = sub.add_parser("ethtool")
    sp.add_argument("ifname")
    sp.add_argument("tx", nargs="?", choices=["on", "off"])
    args = p.parse_args()
    return {"serve": serve, "spread": spread, "hold": hold, "udp": udp, "xfer": xfer,
            "ethtool": ethtool}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
