#!/usr/bin/python3
"""An exact-count HTTP/1.1 keep-alive load: C connections share N GET requests, each
connection sending the next request (or the next batch of --pipeline requests) when the
previous response has arrived. Unlike wrk it stops at exactly N responses, so a profile
can be divided by N. It also serves as a correctness check before a benchmark
(--expect FILE compares every body with the file, and a server that closes a connection
is an error). Talks to loopback only; bounded by --timeout.

Prints one line: "load_client: requests=N connections=C seconds=T".
"""
import argparse
import ipaddress
import selectors
import socket
import sys
import time


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.out = b""      # bytes still to send
        self.inbuf = b""    # bytes received, not yet parsed
        self.waiting = 0    # responses expected on this connection


def parse_response(buf):
    """Returns (consumed, status, body) for a complete response at the start of buf,
    or None if more bytes are needed. Only Content-Length framing is expected here."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buf[:end].decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    length = 0
    for line in head[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
        elif name.strip().lower() == "transfer-encoding":
            raise ValueError("chunked response: not expected from a static file")
    total = end + 4 + length
    if len(buf) < total:
        return None
    return total, status, buf[end + 4:total]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/hello.txt")
    ap.add_argument("--connections", type=int, default=10)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--pipeline", type=int, default=1, help="requests per write")
    ap.add_argument("--expect", help="file whose bytes every response body must equal")
    ap.add_argument("--timeout", type=float, default=300.0, help="give up after this many s")
    args = ap.parse_args()

    if not ipaddress.ip_address(args.host).is_loopback:
        sys.exit("load_client: loopback addresses only")
    expect = open(args.expect, "rb").read() if args.expect else None
    request = (f"GET {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n"
               "User-Agent: kahttpd-bench\r\n\r\n").encode()

    sel = selectors.DefaultSelector()
    issued = done = 0
    start = time.monotonic()
    deadline = start + args.timeout

    def send_next(c):
        nonlocal issued
        k = min(args.pipeline, args.requests - issued)
        if k <= 0:
            return False
        issued += k
        c.waiting += k
        c.out += request * k
        sel.modify(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
        return True

    conns = []
    for _ in range(min(args.connections, args.requests)):
        s = socket.create_connection((args.host, args.port), timeout=10)
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c = Conn(s)
        sel.register(s, selectors.EVENT_READ, c)
        conns.append(c)
        send_next(c)

    while done < args.requests:
        left = deadline - time.monotonic()
        if left <= 0:
            sys.exit(f"load_client: timed out after {done} of {args.requests} responses")
        for key, events in sel.select(min(left, 1.0)):
            c = key.data
            if events & selectors.EVENT_WRITE and c.out:
                n = c.sock.send(c.out)
                c.out = c.out[n:]
                if not c.out:
                    sel.modify(c.sock, selectors.EVENT_READ, c)
            if events & selectors.EVENT_READ:
                data = c.sock.recv(65536)
                if not data:
                    sys.exit(f"load_client: server closed a connection after {done} responses")
                c.inbuf += data
                while c.waiting:
                    r = parse_response(c.inbuf)
                    if r is None:
                        break
                    used, status, body = r
                    c.inbuf = c.inbuf[used:]
                    c.waiting -= 1
                    done += 1
                    if status != 200:
                        sys.exit(f"load_client: status {status} for {args.path}")
                    if expect is not None and body != expect:
                        sys.exit(f"load_client: body of {args.path} differs from {args.expect}")
                if not c.waiting:
                    send_next(c)
    seconds = time.monotonic() - start
    for c in conns:
        c.sock.close()
    print(f"load_client: requests={done} connections={len(conns)} seconds={seconds:.3f}")


if __name__ == "__main__":
    main()
