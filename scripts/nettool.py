#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""nettool.py - small, bounded TCP/UDP endpoints for podlane's demo and integration tests.

Run it inside a namespace with `ip netns exec`. Every mode stops by itself: servers after
--timeout seconds or --count exchanges, streams after --duration seconds. There is no
packaged tool here that does all of this (socat/netcat are not installed by default and
busybox nc cannot report how many bytes crossed a connection).

  serve  tcp|udp PORT [--bind ADDR] [--count N] [--timeout S] [--ready FILE]   echo server
  probe  tcp|udp HOST PORT [--timeout S]                          one echo round trip
  stream-recv PORT --status FILE [--timeout S] [--ready FILE]    count bytes of one TCP stream
  stream-send HOST PORT --status FILE --stop FILE [--duration S] send paced bytes until stop

Status files hold one line, rewritten in place: "run <bytes>", then "done <bytes>" on a clean
end or "error <bytes> <reason>" when the connection broke (a reset, a timeout).
"""
import argparse
import os
import socket
import sys
import time


def write_status(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text + "\n")
    os.replace(tmp, path)


def mark_ready(path):
    if path:
        write_status(path, "ready")


def serve(args):
    deadline = time.monotonic() + args.timeout
    family = socket.AF_INET
    if args.proto == "tcp":
        srv = socket.socket(family, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((args.bind, args.port))
        srv.listen(16)
    else:
        srv = socket.socket(family, socket.SOCK_DGRAM)
        srv.bind((args.bind, args.port))
    mark_ready(args.ready)
    served = 0
    while served < args.count:
        left = deadline - time.monotonic()
        if left <= 0:
            return 0
        srv.settimeout(left)
        try:
            if args.proto == "tcp":
                conn, _ = srv.accept()
                with conn:
                    conn.settimeout(5)
                    data = conn.recv(65536)
                    if data:
                        conn.sendall(data)
            else:
                data, peer = srv.recvfrom(65536)
                srv.sendto(data, peer)
        except (socket.timeout, OSError):
            continue
        served += 1
    return 0


def probe(args):
    token = ("podlane-%d-%f" % (os.getpid(), time.time())).encode()
    try:
        if args.proto == "tcp":
            with socket.create_connection((args.host, args.port), timeout=args.timeout) as s:
                s.sendall(token)
                s.settimeout(args.timeout)
                got = b""
                while len(got) < len(token):
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    got += chunk
        else:
            # UDP may lose the first datagram while neighbours settle: retry a few times.
            got = b""
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(max(args.timeout / 5, 0.2))
                for _ in range(5):
                    s.sendto(token, (args.host, args.port))
                    try:
                        got, _ = s.recvfrom(65536)
                        break
                    except socket.timeout:
                        continue
    except OSError as e:
        print("probe %s %s:%d failed: %s" % (args.proto, args.host, args.port, e), file=sys.stderr)
        return 1
    if got != token:
        print("probe %s %s:%d: echo mismatch" % (args.proto, args.host, args.port),
              file=sys.stderr)
        return 1
    return 0


def stream_recv(args):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", args.port))
    srv.listen(1)
    srv.settimeout(args.timeout)
    write_status(args.status, "run 0")
    mark_ready(args.ready)
    total = 0
    try:
        conn, _ = srv.accept()
    except OSError as e:
        write_status(args.status, "error 0 accept: %s" % e)
        return 1
    deadline = time.monotonic() + args.timeout
    last = 0.0
    with conn:
        conn.settimeout(5)
        while True:
            if time.monotonic() > deadline:
                write_status(args.status, "error %d timeout" % total)
                return 1
            try:
                chunk = conn.recv(65536)
            except OSError as e:
                write_status(args.status, "error %d %s" % (total, e))
                return 1
            if not chunk:
                break
            total += len(chunk)
            now = time.monotonic()
            if now - last > 0.05:
                write_status(args.status, "run %d" % total)
                last = now
    write_status(args.status, "done %d" % total)
    return 0


def stream_send(args):
    chunk = b"p" * 1024
    total = 0
    write_status(args.status, "run 0")
    try:
        s = socket.create_connection((args.host, args.port), timeout=5)
    except OSError as e:
        write_status(args.status, "error 0 connect: %s" % e)
        return 1
    deadline = time.monotonic() + args.duration
    last = 0.0
    with s:
        s.settimeout(5)
        while time.monotonic() < deadline and not os.path.exists(args.stop):
            try:
                s.sendall(chunk)
            except OSError as e:
                write_status(args.status, "error %d %s" % (total, e))
                return 1
            total += len(chunk)
            now = time.monotonic()
            if now - last > 0.05:
                write_status(args.status, "run %d" % total)
                last = now
            # About 1 MiB/s: enough to see bytes move every poll, little enough to stay quiet.
            time.sleep(0.001)
        try:
            s.shutdown(socket.SHUT_WR)
            s.settimeout(5)
            s.recv(1)	# wait for the receiver's close so its count is final
        except OSError as e:
            write_status(args.status, "error %d close: %s" % (total, e))
            return 1
    write_status(args.status, "done %d" % total)
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="mode", required=True)

    sp = sub.add_parser("serve")
    sp.add_argument("proto", choices=["tcp", "udp"])
    sp.add_argument("port", type=int)
    sp.add_argument("--bind", default="0.0.0.0")
    sp.add_argument("--count", type=int, default=1000)
    sp.add_argument("--timeout", type=float, default=60)
    sp.add_argument("--ready")

    sp = sub.add_parser("probe")
    sp.add_argument("proto", choices=["tcp", "udp"])
    sp.add_argument("host")
    sp.add_argument("port", type=int)
    sp.add_argument("--timeout", type=float, default=3)

    sp = sub.add_parser("stream-recv")
    sp.add_argument("port", type=int)
    sp.add_argument("--status", required=True)
    sp.add_argument("--timeout", type=float, default=120)
    sp.add_argument("--ready")

    sp = sub.add_parser("stream-send")
    sp.add_argument("host")
    sp.add_argument("port", type=int)
    sp.add_argument("--status", required=True)
    sp.add_argument("--stop", required=True)
    sp.add_argument("--duration", type=float, default=60)

    args = p.parse_args()
    modes = {"serve": serve, "probe": probe, "stream-recv": stream_recv,
             "stream-send": stream_send}
    return modes[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
