#!/usr/bin/python3
"""Idle keep-alive connections: measures how much resident memory a server process gains
per idle HTTP keep-alive connection.

Warm-up: it opens --inflight connections, sends an unfinished request head on each,
then finishes them all, reads the responses and closes, so the server's buffer pools and
allocator already hold what --inflight concurrent requests need. Then it reads the server's VmRSS (/proc/PID/status), opens N connections
(at most --inflight handshakes and requests at a time), sends one GET on each and reads
the whole response, so every connection has completed one request and sits idle,
persistent. After
--settle seconds it reads VmRSS again, checks that the server closed none of them, and
prints one line:

  idle_client: n=N closed=K rss_before_kib=A rss_after_kib=B bytes_per_conn=X
               smaps_rss_before_kib=... smaps_rss_after_kib=... smaps_bytes_per_conn=...

With --tls every connection is HTTPS: a full TLS handshake (Python's ssl, no certificate
verification, no session reuse; versions, suites and groups as OPENSSL_CONF allows, see
bench/servers.sh's tls_setup), then the same one request, then idle. The difference
between a server's TLS and plain figures is what TLS adds per idle connection, mostly
OpenSSL's SSL object and what hangs from it.

bytes_per_conn = (B - A) * 1024 / N. smaps_rollup's Rss is an exact page-table walk,
printed beside VmRSS as a cross-check (VmRSS may lag by a few per-CPU counter batches).

One source address has about 28,000 ephemeral ports (net.ipv4.ip_local_port_range)
towards one server port, and other tests may be holding some: so the connections are
spread over several loopback source addresses, 127.0.0.2, 127.0.0.3, ... (--per-source
each), bound with IP_BIND_ADDRESS_NO_PORT so that the port is chosen per 4-tuple at
connect. Loopback only; everything is bounded by --timeout.
"""
import argparse
import errno
import ipaddress
import os
import resource
import select
import socket
import ssl
import sys
import time

IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def smaps_rss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


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


def open_idle(args, request, count, deadline, ctx):
    """Opens count connections, at most args.inflight unanswered at a time, sends one
    request on each (after a TLS handshake with ctx, if not None) and reads its
    response; returns the sockets, all open and idle."""
    ep = select.epoll()
    pending = {}    # fd -> [socket, response bytes so far, request sent, TLS handshaken]
    idle = []       # sockets whose one request is answered
    opened = 0
    while len(idle) < count:
        if time.monotonic() > deadline:
            sys.exit(f"idle_client: timed out with {len(idle)} of {count} connections idle")
        while opened < count and len(pending) < args.inflight:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            s.bind((f"127.0.0.{2 + opened // args.per_source}", 0))
            s.setblocking(False)
            err = s.connect_ex((args.host, args.port))
            if err not in (0, errno.EINPROGRESS):
                sys.exit(f"idle_client: connect #{opened}: {os.strerror(err)}")
            pending[s.fileno()] = [s, b"", False, ctx is None]
            ep.register(s.fileno(), select.EPOLLOUT)
            opened += 1
        for fd, events in ep.poll(1.0):
            entry = pending[fd]
            s = entry[0]
            if not entry[2] and not entry[3] and not isinstance(s, ssl.SSLSocket):
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    sys.exit(f"idle_client: connect: {os.strerror(err)} "
                             f"after {len(idle)} idle connections")
                s = entry[0] = ctx.wrap_socket(s, server_hostname=args.server_name,
                                               do_handshake_on_connect=False)
            if not entry[3]:  # TLS handshake, one step per readiness report
                try:
                    s.do_handshake()
                    entry[3] = True
                except ssl.SSLWantReadError:
                    ep.modify(fd, select.EPOLLIN)
                    continue
                except ssl.SSLWantWriteError:
                    ep.modify(fd, select.EPOLLOUT)
                    continue
                except (ssl.SSLError, OSError) as e:
                    sys.exit(f"idle_client: TLS handshake: {e} after {len(idle)} idle connections")
            if not entry[2]:  # connected (or failed), handshaken: send the request
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    sys.exit(f"idle_client: connect: {os.strerror(err)} "
                             f"after {len(idle)} idle connections")
                s.send(request)  # a few dozen bytes: fits the empty send buffer
                entry[2] = True
                ep.modify(fd, select.EPOLLIN)
                continue
            try:
                data = s.recv(65536)
            except ssl.SSLWantReadError:
                continue  # a TLS record that carried no data (a session ticket)
            except (ConnectionResetError, ssl.SSLError):
                data = b""
            if not data:
                sys.exit(f"idle_client: server closed a connection after {len(idle)} idle ones")
            entry[1] += data
            if response_complete(entry[1]):
                if b" 200 " not in entry[1][:16]:
                    sys.exit("idle_client: status other than 200: "
                             + entry[1][:40].decode("latin-1"))
                ep.unregister(fd)
                del pending[fd]
                idle.append(s)
    ep.close()
    return idle


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True, help="the server process to measure")
    ap.add_argument("-n", type=int, default=15000, help="idle connections to open")
    ap.add_argument("--path", default="/hello.txt")
    ap.add_argument("--per-source", type=int, default=5000,
                    help="connections per source address 127.0.0.2, .3, ...")
    ap.add_argument("--inflight", type=int, default=100,
                    help="connections between connect and the end of their response")
    ap.add_argument("--settle", type=float, default=1.0,
                    help="seconds to wait before the second RSS reading")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--tls", action="store_true", help="HTTPS connections")
    ap.add_argument("--server-name", default="localhost", help="SNI, with --tls")
    args = ap.parse_args()

    # A descriptor per connection: take the hard limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft != resource.RLIM_INFINITY and args.n + args.inflight + 50 > soft:
        sys.exit(f"idle_client: {args.n} connections need more descriptors than the limit {soft}")
    ctx = None
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["http/1.1"])

    if not ipaddress.ip_address(args.host).is_loopback:
        sys.exit("idle_client: loopback addresses only")
    nsources = (args.n + args.per_source - 1) // args.per_source
    if nsources > 250:
        sys.exit("idle_client: too many source addresses; raise --per-source")
    deadline = time.monotonic() + args.timeout
    request = (f"GET {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n"
               "User-Agent: kahttpd-bench\r\n\r\n").encode()

    # Warm-up: --inflight connections, each holding an unfinished request head at the
    # same moment, then finished, answered and closed. The server's buffer pools and
    # allocator so reach the high-water mark of --inflight concurrent requests, which
    # the opening below never exceeds: the measurement counts idle connections, not
    # buffers held by requests in progress (without this the result wandered by a
    # megabyte, a pool's worth of buffers, from run to run).
    warm = [socket.create_connection((args.host, args.port), timeout=10)
            for _ in range(args.inflight)]
    if ctx:
        warm = [ctx.wrap_socket(s, server_hostname=args.server_name) for s in warm]
    for s in warm:
        s.sendall(request[:-2])
    time.sleep(0.3)
    for s in warm:
        s.sendall(request[-2:])
    for s in warm:
        buf = b""
        while not response_complete(buf):
            data = s.recv(65536)
            if not data:
                sys.exit("idle_client: a warm-up connection closed early")
            buf += data
        s.close()
    time.sleep(args.settle)
    before = rss_kib(args.pid)
    smaps_before = smaps_rss_kib(args.pid)

    idle = open_idle(args, request, args.n, deadline, ctx)

    time.sleep(args.settle)
    after = rss_kib(args.pid)
    smaps_after = smaps_rss_kib(args.pid)

    # A connection the server closed is readable (EOF) now. Over TLS a readable one may
    # only hold a late session ticket: read to tell.
    poller = select.poll()
    by_fd = {}
    for s in idle:
        poller.register(s, select.POLLIN)
        by_fd[s.fileno()] = s
    closed = 0
    for fd, _ in poller.poll(0):
        s = by_fd[fd]
        try:
            s.setblocking(False)
            closed += not s.recv(65536)
        except (ssl.SSLWantReadError, BlockingIOError):
            pass
        except (OSError, ssl.SSLError):
            closed += 1
    for s in idle:
        s.close()

    n = args.n
    print(f"idle_client: n={n} closed={closed} rss_before_kib={before} rss_after_kib={after} "
          f"bytes_per_conn={(after - before) * 1024 / n:.1f} "
          f"smaps_rss_before_kib={smaps_before} smaps_rss_after_kib={smaps_after} "
          f"smaps_bytes_per_conn={(smaps_after - smaps_before) * 1024 / n:.1f}")
    if closed:
        sys.exit(f"idle_client: the server closed {closed} idle connections")


if __name__ == "__main__":
    main()
