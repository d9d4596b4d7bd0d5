"""Raw wire-protocol client for pgtide's tests: sends exactly the bytes a
test wants (including hostile ones) and reads back what pgtide answers."""
import socket
import struct


def startup_packet(params, version=196608):
    body = struct.pack("!I", version)
    for k, v in params.items():
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


def msg(t, body=b""):
    return t.encode() + struct.pack("!I", len(body) + 4) + body


def query(sql):
    return msg("Q", sql.encode() + b"\0")


class Conn:
    def __init__(self, port, host="127.0.0.1", timeout=10):
        self.s = socket.create_connection((host, port), timeout)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def read_msg(self):
        """(type, body) or None at EOF."""
        while len(self.buf) < 5:
            d = self.s.recv(65536)
            if not d:
                return None
            self.buf += d
        t = chr(self.buf[0])
        n = struct.unpack("!I", self.buf[1:5])[0]
        while len(self.buf) < 1 + n:
            d = self.s.recv(65536)
            if not d:
                return None
            self.buf += d
        body = self.buf[5:1 + n]
        self.buf = self.buf[1 + n:]
        return t, body

    def read_until(self, types):
        out = []
        while True:
            m = self.read_msg()
            if m is None:
                return out, None
            out.append(m)
            if m[0] in types:
                return out, m

    def login(self, user="postgres", db="app", extra=None):
        p = {"user": user, "database": db}
        p.update(extra or {})
        self.send(startup_packet(p))
        return self.read_until("ZE")

    def close(self):
        self.s.close()


def error_fields(body):
    fields = {}
    for part in body.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode(errors="replace")
    return fields
