#!/usr/bin/python3
"""A new TLS connection with a full handshake for every request, for bench/run.sh's
tls_close scenario, printing its result in wrk's format (so report.py reads both alike).

wrk cannot do this: it keeps one SSL object per connection and SSL_clear()s it on
reconnect, which keeps the session, so about every other handshake is a resumption
(kahttpd counted 1,082 full and 1,078 resumed in 2 s); h2load --h1 resumes nearly all.
Here every connection gets a fresh SSL object from one context and no session is ever
offered back, so each handshake is a full one: ECDHE key exchange and the server's
certificate signature.

Each of --connections threads loops until --duration is over: connect, handshake, send
GET with Connection: close, read the response until the server closes (its close_notify
or FIN), close. Python's ssl module releases the GIL during handshakes, reads and writes,
so the threads overlap on one CPU. The TLS version, suite and group are those the
context allows: run.sh narrows them for every client alike with OPENSSL_CONF (Python 3.11
has no call for TLS 1.3 suites). No certificate verification. Loopback only.
"""
import argparse
import ipaddress
import socket
import ssl
import sys
import threading
import time


def response_complete(buf):
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return False
    length = 0
    for line in buf[:end].decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    return len(buf) >= end + 4 + length


def fmt_us(us):
    if us >= 1e6:
        return f"{us / 1e6:.2f}s"
    if us >= 1e3:
        return f"{us / 1e3:.2f}ms"
    return f"{us:.2f}us"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/hello.txt")
    ap.add_argument("--server-name", default="localhost", help="SNI")
    ap.add_argument("-c", "--connections", type=int, default=50)
    ap.add_argument("-d", "--duration", type=float, default=5.0, help="seconds")
    ap.add_argument("--timeout", type=float, default=2.0, help="per socket operation")
    args = ap.parse_args()
    if not ipaddress.ip_address(args.host).is_loopback:
        sys.exit("tls_close_client: loopback addresses only")

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.set_alpn_protocols(["http/1.1"])
    request = (f"GET {args.path} HTTP/1.1\r\nHost: {args.server_name}\r\n"
               "Connection: close\r\nUser-Agent: kahttpd-bench\r\n\r\n").encode()

    lock = threading.Lock()
    latencies = []
    counts = {"connect": 0, "read": 0, "write": 0, "timeout": 0, "non2xx": 0, "bytes": 0}
    start = time.monotonic()
    deadline = start + args.duration

    def worker():
        mine = []
        errs = {k: 0 for k in counts}
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            try:
                raw = socket.create_connection((args.host, args.port), timeout=args.timeout)
            except socket.timeout:
                errs["timeout"] += 1
                continue
            except OSError:
                errs["connect"] += 1
                continue
            buf = b""
            try:
                with ctx.wrap_socket(raw, server_hostname=args.server_name) as s:
                    s.sendall(request)
                    while True:
                        try:
                            data = s.recv(65536)
                        except (ssl.SSLEOFError, ConnectionResetError):
                            data = b""  # FIN without close_notify: the end all the same
                        if not data:
                            break
                        buf += data
            except socket.timeout:
                errs["timeout"] += 1
                continue
            except (OSError, ssl.SSLError):
                if not response_complete(buf):
                    errs["read"] += 1
                    continue
            if not response_complete(buf):
                errs["read"] += 1
                continue
            mine.append((time.perf_counter() - t0) * 1e6)
            errs["bytes"] += len(buf)
            if not buf.startswith(b"HTTP/1.1 2") and not buf.startswith(b"HTTP/1.1 3"):
                errs["non2xx"] += 1
        with lock:
            latencies.extend(mine)
            for k, v in errs.items():
                counts[k] += v

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(args.duration + 4 * args.timeout + 5)
    elapsed = time.monotonic() - start

    latencies.sort()
    n = len(latencies)

    def pct(p):
        return latencies[min(n - 1, int(p / 100 * n))] if n else 0.0

    print(f"Running {args.duration:g}s test @ https://{args.host}:{args.port}{args.path}")
    print(f"  {args.connections} threads and {args.connections} connections "
          "(tls_close_client.py: a full handshake per request)")
    print("  Latency Distribution")
    for p in (50, 75, 90, 99):
        print(f"     {p}%   {fmt_us(pct(p))}")
    print(f"  {n} requests in {elapsed:.2f}s, {counts['bytes'] / 1024:.2f}KB read")
    errors = counts["connect"] + counts["read"] + counts["write"] + counts["timeout"]
    if errors:
        print(f"  Socket errors: connect {counts['connect']}, read {counts['read']}, "
              f"write {counts['write']}, timeout {counts['timeout']}")
    if counts["non2xx"]:
        print(f"  Non-2xx or 3xx responses: {counts['non2xx']}")
    print(f"Requests/sec: {n / elapsed:.2f}")


if __name__ == "__main__":
    main()
