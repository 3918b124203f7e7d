#!/usr/bin/env python3
# api.py - send one request to podlaned over its SOCK_SEQPACKET socket and print the reply.
#   api.py SOCKET JSON            print the whole reply (one line of JSON)
#   api.py SOCKET JSON FIELD      print one field of the reply, e.g. "ip" or "endpoints.0.ip"
# Exit status: 0 reply ok, 1 reply is an error (its "code" is printed for FIELD=code), 2 no reply.
import json
import socket
import sys


def field(obj, path):
    for part in path.split("."):
        if isinstance(obj, list):
            obj = obj[int(part)]
        else:
            obj = obj[part]
    if isinstance(obj, bool):
        return "true" if obj else "false"
    if isinstance(obj, (dict, list)):
        return json.dumps(obj)
    return str(obj)


def main():
    if len(sys.argv) not in (3, 4):
        print("usage: api.py SOCKET JSON [FIELD]", file=sys.stderr)
        return 2
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(30)
    try:
        s.connect(sys.argv[1])
        s.send(sys.argv[2].encode())
        data = s.recv(256 * 1024 + 1)
    except OSError as e:
        print("no reply from podlaned: %s" % e, file=sys.stderr)
        return 2
    finally:
        s.close()
    try:
        reply = json.loads(data)
    except ValueError:
        print("podlaned sent something that is not JSON: %r" % data[:200], file=sys.stderr)
        return 2
    if len(sys.argv) == 4:
        try:
            print(field(reply, sys.argv[3]))
        except (KeyError, IndexError, ValueError):
            print("reply has no field %s: %s" % (sys.argv[3], json.dumps(reply)),
                  file=sys.stderr)
            return 2
    else:
        print(json.dumps(reply))
    return 0 if reply.get("ok") else 1


sys.exit(main())
