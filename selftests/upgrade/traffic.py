#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""traffic.py - the connections selftests/upgrade/upgrade.t keeps open across an agent swap.

Unlike scripts/nettool.py's stream (a constant byte, counted) these check what an upgrade
must not break: every byte arrives, in order, and nothing stalls. Every mode stops by itself:
when STOP (a file) appears, or after --duration seconds.

  recv PORT STATUS [--timeout S] [--ready FILE]
        accept one TCP stream and check every byte against the sender's pattern (byte at
        offset i is i % 251); tracks the longest gap between two reads, first byte to EOF.
  send HOST PORT STATUS STOP [--duration S] [--rate KIB_PER_S]
        send the pattern, paced, until STOP; then half-close and wait for the receiver's
        close so that both counts are final.
  rr HOST PORT STATUS STOP [--duration S] [--interval MS]
        one TCP connection to a selftests/lb/svc_tool.py backend (it greets with its name,
        then echoes lines): a request every --interval ms, each answer checked; tracks the
        longest gap between two answers and stops at the first error.

STATUS is a JSON object rewritten in place (write, then rename) about every 50 ms:
{"state": "run"|"done"|"error", "bytes" or "answers": n, "error": text}, plus "max_gap_ms"
(recv, rr) and "backend" (rr).
"""
import argparse
import json
import os
import socket
import sys
import time

PRIME = 251


def pattern(length):
    """A buffer long enough to slice any chunk of up to length bytes at any offset."""
    reps = length // PRIME + 2
    return bytes(range(PRIME)) * reps


def now_ms():
    return time.monotonic() * 1000.0


class Status:
    def __init__(self, path, **fields):
        self.path = path
        self.fields = {"state": "run", "error": None}
        self.fields.update(fields)
        self.last = 0.0
        self.write(force=True)

    def write(self, force=False, **fields):
        self.fields.update(fields)
        t = now_ms()
        if not force and t - self.last < 50:
            return
        self.last = t
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.fields, f)
            f.write("\n")
        os.replace(tmp, self.path)

    def end(self, state, error=None):
        self.write(force=True, state=state, error=error)
        return 0 if state == "done" else 1


def recv(args):
    st = Status(args.status, bytes=0, max_gap_ms=0.0)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", args.port))
    srv.listen(1)
    srv.settimeout(args.timeout)
    if args.ready:
        open(args.ready, "w").close()
    try:
        conn, _ = srv.accept()
    except OSError as e:
        return st.end("error", "accept: %s" % e)
    srv.close()
    deadline = time.monotonic() + args.timeout
    bufsize = 65536
    pat = pattern(bufsize)
    total, max_gap, last = 0, 0.0, None
    with conn:
        conn.settimeout(5)
        while True:
            if time.monotonic() > deadline:
                return st.end("error", "timeout after %d bytes" % total)
            try:
                chunk = conn.recv(bufsize)
            except OSError as e:
                return st.end("error", "recv after %d bytes: %s" % (total, e))
            t = now_ms()
            if last is not None:
                max_gap = max(max_gap, t - last)
            last = t
            if not chunk:
                break
            off = total % PRIME
            if chunk != pat[off:off + len(chunk)]:
                bad = next(i for i in range(len(chunk)) if chunk[i] != pat[off + i])
                st.write(force=True, bytes=total + bad, max_gap_ms=round(max_gap, 1))
                return st.end("error", "byte %d is %d, expected %d" %
                              (total + bad, chunk[bad], (total + bad) % PRIME))
            total += len(chunk)
            st.write(bytes=total, max_gap_ms=round(max_gap, 1))
    st.write(force=True, bytes=total, max_gap_ms=round(max_gap, 1))
    return st.end("done")


def send(args):
    st = Status(args.status, bytes=0)
    chunk_len = 1024
    pat = pattern(chunk_len)
    try:
        s = socket.create_connection((args.host, args.port), timeout=5)
    except OSError as e:
        return st.end("error", "connect: %s" % e)
    deadline = time.monotonic() + args.duration
    # Pace in 10 ms steps: rate KiB/s is rate/100 chunks per step.
    per_step = max(1, args.rate // 100)
    total = 0
    with s:
        s.settimeout(5)
        while time.monotonic() < deadline and not os.path.exists(args.stop):
            step_end = time.monotonic() + 0.01
            try:
                for _ in range(per_step):
                    off = total % PRIME
                    s.sendall(pat[off:off + chunk_len])
                    total += chunk_len
            except OSError as e:
                return st.end("error", "send after %d bytes: %s" % (total, e))
            st.write(bytes=total)
            left = step_end - time.monotonic()
            if left > 0:
                time.sleep(left)
        st.write(force=True, bytes=total)
        try:
            s.shutdown(socket.SHUT_WR)
            s.settimeout(10)
            while s.recv(4096):	# the receiver sends nothing: this waits for its close
                pass
        except OSError as e:
            return st.end("error", "close after %d bytes: %s" % (total, e))
    return st.end("done")


def read_line(s, buf):
    """One line from s; buf holds bytes read past the previous line."""
    while b"\n" not in buf:
        chunk = s.recv(256)
        if not chunk:
            raise OSError("connection closed by the peer")
        buf += chunk
    line, _, rest = buf.partition(b"\n")
    return line.decode(errors="replace"), rest


def rr(args):
    st = Status(args.status, answers=0, max_gap_ms=0.0, backend=None)
    deadline = time.monotonic() + args.duration
    buf = b""
    try:
        s = socket.create_connection((args.host, args.port), timeout=3)
        s.settimeout(5)
        backend, buf = read_line(s, buf)
    except OSError as e:
        return st.end("error", "connect: %s" % e)
    st.write(force=True, backend=backend)
    n, max_gap, last = 0, 0.0, now_ms()
    with s:
        while time.monotonic() < deadline and not os.path.exists(args.stop):
            n += 1
            req = "req %d" % n
            try:
                s.sendall((req + "\n").encode())
                got, buf = read_line(s, buf)
            except OSError as e:
                return st.end("error", "request %d: %s" % (n, e))
            if got != req:
                return st.end("error", "request %d answered %r" % (n, got))
            t = now_ms()
            max_gap = max(max_gap, t - last)
            last = t
            st.write(answers=n, max_gap_ms=round(max_gap, 1))
            time.sleep(args.interval / 1000.0)
    st.write(force=True, answers=n, max_gap_ms=round(max_gap, 1))
    return st.end("done")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="mode", required=True)

    sp = sub.add_parser("recv")
    sp.add_argument("port", type=int)
    sp.add_argument("status")
    sp.add_argument("--timeout", type=float, default=120)
    sp.add_argument("--ready")

    sp = sub.add_parser("send")
    sp.add_argument("host")
    sp.add_argument("port", type=int)
    sp.add_argument("status")
    sp.add_argument("stop")
    sp.add_argument("--duration", type=float, default=60)
    sp.add_argument("--rate", type=int, default=2048, help="KiB/s")

    sp = sub.add_parser("rr")
    sp.add_argument("host")
    sp.add_argument("port", type=int)
    sp.add_argument("status")
    sp.add_argument("stop")
    sp.add_argument("--duration", type=float, default=60)
    sp.add_argument("--interval", type=float, default=50, help="ms between requests")

    args = p.parse_args()
    return {"recv": recv, "send": send, "rr": rr}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
