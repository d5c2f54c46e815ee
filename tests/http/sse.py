"""A minimal Server-Sent Events reader over a raw socket, for tests."""
import json
import socket
import time


class SSE:
    def __init__(self, port, path="/events", rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n"
                           % path).encode())
        self.buf = b""
        head = self._until(b"\r\n\r\n")
        assert b" 200 " in head.split(b"\r\n")[0], head
        assert b"text/event-stream" in head
        self.chunked = b"chunked" in head.lower()
        self.raw = b""

    def _recv(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("stream closed")
        return data

    def _until(self, sep):
        while sep not in self.buf:
            self.buf += self._recv()
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _fill(self):
        """Moves de-chunked body bytes from buf to raw."""
        if not self.chunked:
            self.raw += self.buf or self._recv()
            self.buf = b""
            return
        while True:
            while b"\r\n" not in self.buf:
                self.buf += self._recv()
            size_line, rest = self.buf.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            while len(rest) < size + 2:
                rest += self._recv()
            self.raw += rest[:size]
            self.buf = rest[size + 2:]
            return

    def next(self, timeout=5.0):
        """The next event as (type, data); comments are skipped."""
        deadline = time.time() + timeout
        while True:
            while b"\n\n" not in self.raw:
                self.sock.settimeout(max(0.01, deadline - time.time()))
                self._fill()
            block, self.raw = self.raw.split(b"\n\n", 1)
            lines = block.decode().split("\n")
            if all(l.startswith(":") for l in lines):
                continue
            etype = next(l[7:] for l in lines if l.startswith("event: "))
            data = json.loads(next(l[6:] for l in lines if l.startswith("data: ")))
            return etype, data

    def wait_for(self, pred, timeout=5.0):
        deadline = time.time() + timeout
        while True:
            etype, data = self.next(max(0.05, deadline - time.time()))
            if pred(etype, data):
                return etype, data

    def close(self):
        self.sock.close()
