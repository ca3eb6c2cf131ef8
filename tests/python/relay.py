"""A man in the middle for the security tests (run as its own process).

    python relay.py PORT TARGET_HOST:TARGET_PORT REPORT_FILE [--mode M] [--dir D]
                    [--record K] [--marker TEXT] [--listen ADDR]

Listens on ADDR:PORT (default 127.0.0.1; the network tests listen on the
test's own address on the namespaces' network, between two hosts) and relays every connection to the target,
passing the handshake through untouched. It understands the framing just
enough to find where the handshake ends (two plain pydron frames each way)
and the sealed records after it ([len:4][ciphertext:len][tag:16]). On the
first connection only, in direction D ("up": dialer to listener, "down":
back), at sealed record K it does mode M:
  pass    nothing (just watch)
  flip    flip one bit of the record's ciphertext
  replay  send the record twice
  inject  send a made-up record of the same length first
  drop    leave the record out
It counts bytes and records and looks for MARKER (bytes a test put in task
arguments and values) in everything it relays; REPORT_FILE gets one JSON
line per finished direction of a connection.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import struct
import sys
import threading

lock = threading.Lock()
first_done = threading.Event()
conn_no = 0


def read_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        b = s.recv(n - len(buf))
        if not b:
            raise EOFError
        buf += b
    return bytes(buf)


def pump(src, dst, args, direction, idx):
    stats = dict(conn=idx, dir=direction, bytes=0, frames=0, records=0, marker_seen=False,
                 acted=False)
    marker = args.marker.encode() if args.marker else None
    tail = b""

    def send(b):
        nonlocal tail
        stats["bytes"] += len(b)
        if marker:
            window = tail + b
            if marker in window:
                stats["marker_seen"] = True
            tail = window[-len(marker):]
        dst.sendall(b)

    act = idx == 0 and direction == args.dir and args.mode != "pass"
    try:
        for _ in range(2):  # Hello + Auth up, Challenge + Auth down: plain frames
            pre = read_exact(src, 20)
            if pre[:4] != b"PDRN":
                raise EOFError
            hlen, plen = struct.unpack_from("<IQ", pre, 8)
            send(pre + read_exact(src, hlen + plen))
            stats["frames"] += 1
        k = 0
        while True:
            hdr = read_exact(src, 4)
            (n,) = struct.unpack("<I", hdr)
            body = read_exact(src, n + 16)
            rec = hdr + body
            if act and k == args.record:
                stats["acted"] = True
                if args.mode == "flip":
                    b = bytearray(rec)
                    b[4 + n // 2] ^= 0x20
                    send(bytes(b))
                elif args.mode == "replay":
                    send(rec)
                    send(rec)
                elif args.mode == "inject":
                    send(hdr + os.urandom(n + 16))
                    send(rec)
                elif args.mode == "drop":
                    pass
            else:
                send(rec)
            stats["records"] += 1
            k += 1
    except (EOFError, OSError):
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        with lock, open(args.report, "a") as f:
            f.write(json.dumps(stats) + "\n")


def serve(args):
    global conn_no
    host, port = args.target.rsplit(":", 1)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((args.listen, args.port))
    ls.listen(64)
    print("ready", flush=True)
    while True:
        c, _ = ls.accept()
        try:
            t = socket.create_connection((host, int(port)))
        except OSError:
            c.close()
            continue
        with lock:
            idx = conn_no
            conn_no += 1
        for a, b, d in ((c, t, "up"), (t, c, "down")):
            threading.Thread(target=pump, args=(a, b, args, d, idx), daemon=True).start()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("port", type=int)
    p.add_argument("target")
    p.add_argument("report")
    p.add_argument("--mode", default="pass", choices=["pass", "flip", "replay", "inject", "drop"])
    p.add_argument("--dir", default="up", choices=["up", "down"])
    p.add_argument("--record", type=int, default=0)
    p.add_argument("--marker", default="")
    p.add_argument("--listen", default="127.0.0.1")
    serve(p.parse_args())


if __name__ == "__main__":
    sys.exit(main())
