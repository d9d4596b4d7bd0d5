#!/usr/bin/env python3
"""Open many idle Postgres client connections through pgtide and hold them.

    idle_opener.py PORT COUNT FIRST_SOURCE_OCTET [USER] [DB]

Connects COUNT clients to 127.0.0.1:PORT from source addresses
127.F.0.1, 127.F.0.2, ... (a few thousand connections per address, so the
ephemeral ports of one address never run out), logs each one in (startup
packet, trust), waits for ReadyForQuery, and then holds them all idle. It
prints "ready N refused M" once every connection has either logged in or
been refused, then holds them until it is sent SIGTERM (or SIGINT).
Non-blocking sockets and one selector: one process holds ~19,000 clients.
"""
import selectors
import signal
import socket
import struct
import sys

PER_ADDR = 4000


def startup(user, db):
    body = struct.pack("!I", 196608)
    for k, v in (("user", user), ("database", db), ("application_name", "idle")):
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


def main():
    port, count, octet = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    user = sys.argv[4] if len(sys.argv) > 4 else "postgres"
    db = sys.argv[5] if len(sys.argv) > 5 else "app"
    pkt = startup(user, db)
    sel = selectors.DefaultSelector()
    socks, state = [], {}
    ready = refused = 0
    pending = 0
    i = 0

    def open_more():
        nonlocal i, pending, refused
        # keep at most 2,000 logins in flight: a burst is fine, a flood
        # only fills pgtide's accept queue
        while i < count and pending < 2000:
            a = i // PER_ADDR
            src = "127.%d.%d.%d" % (octet, a // 250, a % 250 + 1)
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind((src, 0))
            except OSError:
                s.close()
                refused += 1
                i += 1
                continue
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            except OSError:
                s.close()
                refused += 1
                i += 1
                continue
            state[s.fileno()] = [s, b"", False]
            sel.register(s, selectors.EVENT_WRITE)
            pending += 1
            i += 1

    open_more()
    while pending:
        for key, ev in sel.select(timeout=30):
            s = key.fileobj
            st = state[s.fileno()]
            if ev & selectors.EVENT_WRITE and not st[2]:
                try:
                    s.send(pkt)
                    st[2] = True
                    sel.modify(s, selectors.EVENT_READ)
                except OSError:
                    sel.unregister(s)
                    s.close()
                    refused += 1
                    pending -= 1
                continue
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if not data:
                sel.unregister(s)
                s.close()
                refused += 1
                pending -= 1
                continue
            st[1] += data
            buf = st[1]
            # scan complete messages for ReadyForQuery ('Z') or an error
            off, done, bad = 0, False, False
            while len(buf) - off >= 5:
                t = buf[off:off + 1]
                n = struct.unpack("!I", buf[off + 1:off + 5])[0]
                if len(buf) - off < 1 + n:
                    break
                if t == b"Z":
                    done = True
                if t == b"E":
                    bad = True
                off += 1 + n
            st[1] = buf[off:]
            if bad:
                sel.unregister(s)
                s.close()
                refused += 1
                pending -= 1
            elif done:
                sel.unregister(s)
                st[1] = b""
                socks.append(s)
                ready += 1
                pending -= 1
        open_more()
    print("ready %d refused %d" % (ready, refused), flush=True)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
