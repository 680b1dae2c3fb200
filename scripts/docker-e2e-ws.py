#!/usr/bin/env python3
"""WebSocket probe for scripts/docker-e2e.

Opens /ws through the dashboard gateway, creates a task with POST /api/tasks, and
waits for the matching `task.created` message. Exit 0 when it arrives in time.

Written against the standard library only (a raw RFC 6455 client), so the test needs
no pip install on a machine without one.

Usage: docker-e2e-ws.py HOST PORT TITLE [TIMEOUT_SECONDS]
"""

import base64
import json
import os
import socket
import sys
import time
import urllib.request

TEXT, CLOSE, PING = 0x1, 0x8, 0x9


def handshake(host, port):
    """Returns a connected socket after a 101 answer, plus bytes read past the headers."""
    sock = socket.create_connection((host, port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    origin = f"http://{host}:{port}"
    request = (
        f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n\r\n"
    )
    sock.sendall(request.encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise SystemExit("ws: connection closed during the handshake")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    status = head.split(b"\r\n", 1)[0].decode(errors="replace")
    if " 101 " not in status + " ":
        raise SystemExit(f"ws: handshake answered {status!r}")
    return sock, rest


class Reader:
    """Reads whole frames; server frames are never masked (RFC 6455 section 5.1)."""

    def __init__(self, sock, buf):
        self.sock, self.buf = sock, buf

    def exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise SystemExit("ws: connection closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def frame(self):
        b0, b1 = self.exact(2)
        length = b1 & 0x7F
        if length == 126:
            length = int.from_bytes(self.exact(2), "big")
        elif length == 127:
            length = int.from_bytes(self.exact(8), "big")
        return b0 & 0x0F, self.exact(length)


def create_task(host, port, title):
    body = json.dumps({"title": title}).encode()
    request = urllib.request.Request(
        f"http://{host}:{port}/api/tasks",
        data=body,
        headers={"content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def main():
    host, port, title = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 10.0
    sock, rest = handshake(host, port)
    reader = Reader(sock, rest)
    status = create_task(host, port, title)
    if status != 201:
        raise SystemExit(f"ws: POST /api/tasks answered {status}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            opcode, payload = reader.frame()
        except socket.timeout:
            break
        if opcode == CLOSE:
            raise SystemExit("ws: server closed the connection")
        if opcode != TEXT:
            continue  # pings and pongs: the server does not need a reply this soon
        message = json.loads(payload)
        data = message.get("data") or {}
        if message.get("type") == "task.created" and data.get("title") == title:
            print(f"ws: got task.created seq={message.get('seq')} for {title!r}")
            return
    raise SystemExit(f"ws: no task.created for {title!r} within {timeout} s")


if __name__ == "__main__":
    main()
