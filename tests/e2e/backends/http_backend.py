"""
The test backend of the proxy tests: an HTTP/1.1 server on one or more ports (port 0,
each printed as "backend listening on 127.0.0.1:PORT"), a thread per connection, with
the behaviours the tests need and nothing that hides them:

  --idle T         closes a connection that has been idle T seconds after its last
                   response, silently (no Keep-Alive header, no Connection: close);
                   the timer is the connection's blocking read, so T is exact
  --advertise KA   sends "Keep-Alive: KA" on every response ("timeout=3" or
                   "timeout=3, max=M": max counts down per connection, as Apache does;
                   --max-requests gives M, and the connection closes after M responses;
                   --advertise-max M only says so and keeps serving)
  --http10         an HTTP/1.0 server: no Content-Length, the body ends at the close
  --name NAME      the name in every answer (tells two backends apart)

Every request is answered by its query (the path is ignored, so any proxy prefix
works): by default a JSON echo of what arrived (method, target, version, headers in
order, body length and SHA-1, this connection's id and its request count); `status=N`
(204 and 304 without a body), `size=N` a body of N bytes ('x' repeated, or chunked with
`chunked=1`), `pause=S` a pause of S seconds before the response and `trickle=S` one
after each 64 KiB of a body (a slow backend), `readpause=S` a pause after each 64 KiB
read of the request body, `hop=1` hop-by-hop fields in the response, `early=1` a close
right after the request head is read (no response), `reset=1` the same with a reset.
`Upgrade: websocket` gets a 101 and an echo of every frame until a close frame.

GET /__conns on any port (straight to the backend, not through the proxy) is the JSON
list of every connection so far: id, port, opened, closed (monotonic seconds), who
closed ("backend-idle", "backend-max", "peer", "peer-reset"), requests, and the idle
age at the close; monotonic clocks of this process and the test's agree on one host.
"""
import argparse
import base64
import hashlib
import json
import socket
import struct
import sys
import threading
import time
from urllib.parse import parse_qs, urlsplit

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
BLOCK = 65536

conns = []          # records of every connection, in accept order
conns_lock = threading.Lock()


class Closed(Exception):
    pass


class Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def fill(self, timeout=None):
        self.sock.settimeout(timeout)
        data = self.sock.recv(BLOCK)
        if not data:
            raise Closed("peer")
        self.buf += data

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        i = self.buf.index(b"\r\n")
        out = bytes(self.buf[:i])
        del self.buf[:i + 2]
        return out

    def exact(self, n):
        while len(self.buf) < n:
            self.fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def some(self, limit):
        if not self.buf:
            self.fill()
        out = bytes(self.buf[:limit])
        del self.buf[:limit]
        return out


def read_head(rd):
    lines = []
    while True:
        line = rd.line()
        if not line:
            if lines:
                break
            continue  # RFC 9112 2.2: empty lines before a request line are ignored
        lines.append(line)
    method, target, version = lines[0].decode("latin-1").split(" ", 2)
    headers = []
    for line in lines[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        headers.append([name, value.strip()])
    return method, target, version, headers


def hget(headers, name):
    for n, v in headers:
        if n.lower() == name:
            return v
    return None


def read_body(rd, headers, readpause):
    """(length, sha1 hex) of the request body, read as it comes."""
    sha = hashlib.sha1()
    total = 0
    te = hget(headers, "transfer-encoding")
    if te is not None and te.lower().endswith("chunked"):
        while True:
            size = int(rd.line().split(b";")[0], 16)
            if size == 0:
                while rd.line():
                    pass
                break
            left = size
            while left:
                piece = rd.some(min(left, BLOCK))
                sha.update(piece)
                left -= len(piece)
                total += len(piece)
                if readpause and total % BLOCK < len(piece):
                    time.sleep(readpause)
            rd.exact(2)
    else:
        left = int(hget(headers, "content-length") or 0)
        while left:
            piece = rd.some(min(left, BLOCK))
            sha.update(piece)
            left -= len(piece)
            total += len(piece)
            if readpause:
                time.sleep(readpause)
    return total, sha.hexdigest()


def ws_echo(sock, rd):
    """RFC 6455 frames from the client (masked) echoed back unmasked until a close."""
    while True:
        b0, b1 = rd.exact(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", rd.exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", rd.exact(8))[0]
        mask = rd.exact(4) if b1 & 0x80 else b"\0\0\0\0"
        data = bytes(c ^ mask[i % 4] for i, c in enumerate(rd.exact(n)))
        if n < 126:
            hdr = bytes([b0, n])
        elif n < 65536:
            hdr = bytes([b0, 126]) + struct.pack("!H", n)
        else:
            hdr = bytes([b0, 127]) + struct.pack("!Q", n)
        sock.sendall(hdr + data)
        if b0 & 0x0F == 8:
            return


class Backend:
    def __init__(self, args):
        self.args = args

    def serve(self, sock, port, peer):
        rec = {"id": None, "port": port, "peer": peer, "opened": time.monotonic(),
               "closed": None, "closed_by": None, "requests": 0, "idle_at_close": None}
        with conns_lock:
            rec["id"] = len(conns) + 1
            conns.append(rec)
        rd = Reader(sock)
        last = time.monotonic()
        try:
            while True:
                try:
                    rd.fill(self.args.idle) if not rd.buf else None
                except socket.timeout:
                    rec["closed_by"] = "backend-idle"
                    break
                method, target, version, headers = read_head(rd)
                rec["requests"] += 1
                if not self.answer(sock, rd, rec, method, target, version, headers):
                    break
                last = time.monotonic()
                if self.args.max_requests and rec["requests"] >= self.args.max_requests:
                    rec["closed_by"] = "backend-max"
                    break
        except Closed:
            rec["closed_by"] = "peer"
        except ConnectionResetError:
            rec["closed_by"] = "peer-reset"
        except (OSError, ValueError) as e:
            rec["closed_by"] = f"error {e}"
        rec["closed"] = time.monotonic()
        rec["idle_at_close"] = rec["closed"] - last
        try:
            sock.close()
        except OSError:
            pass

    def answer(self, sock, rd, rec, method, target, version, headers):
        """Answers one request; False when the connection is to end."""
        q = {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}
        if urlsplit(target).path == "/__conns":
            with conns_lock:
                body = json.dumps(conns).encode()
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body) + body)
            return True
        if q.get("early") or q.get("reset"):
            if q.get("reset"):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            rec["closed_by"] = "backend-early"
            return False
        up = hget(headers, "upgrade")
        if up and up.lower() == "websocket":
            key = hget(headers, "sec-websocket-key") or ""
            accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest())
            sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            ws_echo(sock, rd)
            return False
        expect = hget(headers, "expect")
        if expect and expect.lower() == "100-continue":
            if q.get("refuse"):  # a final answer instead of 100: the body is never sent
                sock.sendall(b"HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n"
                             b"Connection: close\r\n\r\n")
                return False
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        body_len, body_sha = read_body(rd, headers, float(q.get("readpause", 0)))
        if q.get("pause"):
            time.sleep(float(q["pause"]))
        status = int(q.get("status", 200))
        extra = []
        if self.args.advertise:
            ka = self.args.advertise
            cap = self.args.max_requests or self.args.advertise_max
            if cap:
                ka += f", max={max(0, cap - rec['requests'])}"
            extra.append(f"Keep-Alive: {ka}")
        if q.get("hop"):
            extra += ["Connection: X-Backend-Hop, X-Backend-Hop2", "X-Backend-Hop: 1",
                      "X-Backend-Hop2: 2", "Keep-Alive: timeout=987, max=654",
                      "Proxy-Connection: keep-alive", "Trailer: X-Backend-Trailer",
                      "Upgrade: backend-proto/1", "TE: trailers", "X-End-To-End: kept"]
        if status in (204, 304) or status < 200:
            if status == 304:
                extra.append('ETag: "v1"')
            return self.send(sock, method, status, extra, b"", None, 0)
        if "size" in q:
            body, size = None, int(q["size"])
        else:
            body = json.dumps({"backend": self.args.name, "port": rec["port"], "conn": rec["id"],
                               "nreq": rec["requests"], "method": method, "target": target,
                               "version": version, "headers": headers, "body_len": body_len,
                               "body_sha1": body_sha, "peer": rec["peer"]}).encode() + b"\n"
            size = len(body)
            extra.append("Content-Type: application/json")
        return self.send(sock, method, status, extra, body, size, float(q.get("trickle", 0)),
                         bool(q.get("chunked")))

    def send(self, sock, method, status, extra, body, size, trickle, chunked=False):
        http10 = self.args.http10
        head = [f"HTTP/1.{0 if http10 else 1} {status} {REASONS.get(status, 'Status')}",
                f"Server: test-backend/{self.args.name}"] + extra
        if status in (204, 304):
            pass
        elif http10:
            pass  # close-delimited
        elif chunked:
            head.append("Transfer-Encoding: chunked")
        else:
            head.append(f"Content-Length: {size}")
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if method == "HEAD" or status in (204, 304):
            return not http10
        if body is not None:
            self.write(sock, body, chunked)
        else:
            block = b"x" * BLOCK
            left = size
            while left:
                piece = block[:min(left, BLOCK)]
                self.write(sock, piece, chunked)
                left -= len(piece)
                if trickle:
                    time.sleep(trickle)
        if chunked:
            sock.sendall(b"0\r\nX-Backend-Trailer: t\r\n\r\n")
        return not http10

    @staticmethod
    def write(sock, data, chunked):
        if chunked:
            sock.sendall(b"%x\r\n" % len(data) + data + b"\r\n")
        else:
            sock.sendall(data)


REASONS = {100: "Continue", 200: "OK", 201: "Created", 204: "No Content",
           304: "Not Modified", 404: "Not Found", 500: "Internal Server Error"}


def accept_loop(backend, lsock):
    port = lsock.getsockname()[1]
    while True:
        c, peer = lsock.accept()
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=backend.serve, args=(c, port, f"{peer[0]}:{peer[1]}"),
                         daemon=True).start()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ports", type=int, default=1, help="how many ports to listen on")
    ap.add_argument("--idle", type=float, default=None)
    ap.add_argument("--advertise", default=None)
    ap.add_argument("--max-requests", type=int, default=0)
    ap.add_argument("--advertise-max", type=int, default=0)
    ap.add_argument("--http10", action="store_true")
    ap.add_argument("--name", default="backend")
    args = ap.parse_args()
    backend = Backend(args)
    socks = []
    for _ in range(args.ports):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1024)
        socks.append(s)
    for s in socks:
        print(f"backend listening on 127.0.0.1:{s.getsockname()[1]}", flush=True)
        threading.Thread(target=accept_loop, args=(backend, s), daemon=True).start()
    try:
        sys.stdin.read()  # runs until the test closes stdin or signals it
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
