#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
# etcd_replay.py - a stand-in for etcd's JSON gateway that answers podlaned's session calls
# trivially and serves a recorded /v3/watch stream as fast as the socket takes it, so
# bench-sync.sh can time podlaned's own apply rate without etcd's delivery in the figure.
#   etcd_replay.py PORT STREAM-FILE SECONDS     (stops by itself after SECONDS)
import http.server
import json
import sys
import threading
import time

HEADER = {"cluster_id": "1", "member_id": "1", "revision": "1", "raft_term": "1"}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, obj):
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/v3/watch":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            with open(STREAM, "rb") as f:
                while True:
                    data = f.read(1 << 20)
                    if not data:
                        break
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
            # Hold the stream open, as etcd does, until the benchmark ends.
            time.sleep(DEADLINE - time.time() if DEADLINE > time.time() else 0)
            return
        if self.path == "/v3/kv/txn":
            return self.reply({"header": HEADER, "succeeded": True})
        if self.path == "/v3/lease/grant":
            return self.reply({"header": HEADER, "ID": "1", "TTL": "60"})
        if self.path == "/v3/lease/keepalive":
            return self.reply({"result": {"header": HEADER, "ID": "1", "TTL": "60"}})
        if self.path == "/v3/kv/range":
            return self.reply({"header": HEADER})
        return self.reply({"header": HEADER})


STREAM = sys.argv[2]
DEADLINE = time.time() + float(sys.argv[3])
server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()
time.sleep(float(sys.argv[3]))
