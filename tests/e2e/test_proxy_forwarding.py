"""
Issue 15, forwarding: what kahttpd's reverse proxy (`--proxy PREFIX=URL[,URL...]`)
changes in a request and a response and what it must leave alone (RFC 9110 7.6,
RFC 9112): hop-by-hop fields removed both ways, Via and X-Forwarded-*, Host, the URL's
path prepended, re-framing (chunked request bodies, an HTTP/1.0 backend's
close-delimited response reaching an HTTP/1.1 client chunked), Expect: 100-continue,
HEAD/204/304, large bodies both ways with slow peers in bounded memory, the WebSocket
tunnel, round-robin, refused backends skipped, 502 and 504 with their text/plain
bodies, and a response cut after its head reaching the client as a cut.

The backend (backends/http_backend.py) answers with a JSON echo of what it received,
so each test reads exactly what the proxy sent. Backends and the proxy are started per
test on port 0; see proxyfix.py.
"""
import base64
import hashlib
import json
import os
import re
import socket
import ssl
import struct
import subprocess
import threading
import time

import pytest

from conftest import (GET, HEAD, assert_persistent, chunked, http_request, make_cert,
                      read_until_close)
from proxyfix import Blackhole, backends, elapsed, proxy, refused_url, rss_kib  # noqa: F401

HOP_REQUEST = ["Connection", "X-Client-Hop", "Keep-Alive", "Proxy-Connection", "TE", "Trailer",
               "Upgrade"]
HOP_RESPONSE = ["X-Backend-Hop", "X-Backend-Hop2", "Proxy-Connection", "Trailer", "Upgrade", "TE"]


def echo_of(resp):
    assert resp.status == 200, resp
    return json.loads(resp.body)


def fields(echo, name):
    return [v for n, v in echo["headers"] if n.lower() == name.lower()]


def tokens(values):
    return [t.strip().lower() for v in values for t in v.split(",") if t.strip()]


def assert_gateway_error(resp, status):
    """A 502/504 from the proxy itself: text/plain "<status> <reason>: <detail>\\n"."""
    reason = {502: "Bad Gateway", 504: "Gateway Timeout"}[status]
    assert resp.status == status, resp
    assert (resp.get("Content-Type") or "").startswith("text/plain"), resp.headers
    text = resp.body.decode("latin-1")
    assert text.startswith(f"{status} {reason}: ") and text.endswith("\n"), text
    assert len(text) > len(f"{status} {reason}: \n"), f"no detail in {text!r}"


# ---- hop-by-hop fields, Via, X-Forwarded-*, Host, the path ----------------------------------

def test_forward_hop_by_hop_request_fields_removed(proxy, backends):
    b = backends.http()
    p = proxy({"/api/": b.urls()[0]})
    body = b"0123456789" * 500
    req = http_request("/api/hop", "POST", headers=[
        ("Connection", "keep-alive, X-Client-Hop"), ("X-Client-Hop", "secret"),
        ("Keep-Alive", "timeout=300"), ("Proxy-Connection", "keep-alive"), ("TE", "trailers"),
        ("Trailer", "X-Client-Trailer"), ("Upgrade", "example/1"), ("X-End-To-End", "kept"),
        ("Transfer-Encoding", "chunked")],
        body=chunked(body[:1000], body[1000:], trailers=b"X-Client-Trailer: t\r\n"))
    e = echo_of(p.exchange(req))
    for name in HOP_REQUEST:
        if name == "Connection":
            # RFC 9112 9.3: the proxy may say keep-alive to the backend; nothing else.
            assert set(tokens(fields(e, name))) <= {"keep-alive"}, e["headers"]
        else:
            assert fields(e, name) == [], f"{name} reached the backend: {e['headers']}"
    assert fields(e, "X-End-To-End") == ["kept"], e["headers"]
    assert (e["body_len"], e["body_sha1"]) == (len(body), hashlib.sha1(body).hexdigest())
    te = fields(e, "Transfer-Encoding")
    assert te in ([], ["chunked"]), f"only the proxy's own framing may reach the backend: {te}"
    assert e["version"] == "HTTP/1.1"


def test_forward_hop_by_hop_response_fields_removed(proxy, backends):
    b = backends.http()
    p = proxy({"/api/": b.urls()[0]})
    c = p.connect()
    for query in ("hop=1", "hop=1&chunked=1&size=3000"):
        c.send(GET(f"/api/x?{query}"))
        r = c.read_response()
        assert r.status == 200, r
        for name in HOP_RESPONSE:
            assert r.get(name) is None, f"{name} reached the client ({query}): {r.headers}"
        assert set(r.tokens("Connection")) <= {"keep-alive"}, r.headers
        assert "987" not in (r.get("Keep-Alive") or ""), f"the backend's Keep-Alive: {r.headers}"
        assert r.get("X-End-To-End") == "kept", r.headers
        if "size" in query:
            assert r.body == b"x" * 3000
        assert_persistent(r)


def test_forward_via_x_forwarded_and_host(proxy, backends):
    b = backends.http()
    p = proxy({"/api/": b.urls()[0]})
    c = p.connect()
    c.send(GET("/api/a", host="example.test:8443",
               headers=[("X-Forwarded-For", "203.0.113.7"), ("Via", "1.0 fred")]))
    e = echo_of(c.read_response())
    assert fields(e, "Host") == ["example.test:8443"], e["headers"]
    assert tokens(fields(e, "X-Forwarded-For")) == ["203.0.113.7", "127.0.0.1"], e["headers"]
    assert tokens(fields(e, "X-Forwarded-Proto")) == ["http"], e["headers"]
    assert fields(e, "X-Forwarded-Host") == ["example.test:8443"], e["headers"]
    via = tokens(fields(e, "Via"))
    assert via and via[-1] == "1.1 kahttpd", e["headers"]
    assert "1.0 fred" in via, f"the client's Via must stay: {e['headers']}"
    c.send(GET("/api/b", host="plain.test"))
    e = echo_of(c.read_response())
    assert tokens(fields(e, "X-Forwarded-For")) == ["127.0.0.1"], e["headers"]
    assert fields(e, "Host") == ["plain.test"] and fields(e, "X-Forwarded-Host") == ["plain.test"]


def test_forward_url_path_is_prepended(proxy, backends):
    b = backends.http()
    p = proxy({"/api/": f"http://127.0.0.1:{b.port}/base", "/other/": b.urls()[0]})
    e = echo_of(p.exchange(GET("/api/x/y?q=1&r=%20")))
    assert e["target"] == "/base/api/x/y?q=1&r=%20", e
    e = echo_of(p.exchange(GET("/other/z")))
    assert e["target"] == "/other/z", e
    r = p.exchange(GET("/elsewhere/a.txt"))
    assert r.status != 200 or b"backend" not in r.body, "a path outside every prefix was proxied"


# ---- framing --------------------------------------------------------------------------------

def test_forward_http10_backend_reaches_http11_client_chunked(proxy, backends):
    b = backends.http(http10=True)
    p = proxy({"/old/": b.urls()[0]})
    c = p.connect()
    for i in range(3):
        c.send(GET(f"/old/{i}"))
        r = c.read_response()
        assert r.framing == "chunked", f"close-delimited body not re-framed: {r.headers}"
        assert_persistent(r)
        assert echo_of(r)["target"] == f"/old/{i}"
    c.send(GET("/old/big?size=300000"))
    r = c.read_response()
    assert (r.framing, r.body) == ("chunked", b"x" * 300000)


def test_forward_request_bodies_reframed(proxy, backends):
    b = backends.http()
    p = proxy({"/api/": b.urls()[0]})
    c = p.connect()
    pieces = [os.urandom(n) for n in (1, 4096, 70000, 3)]
    whole = b"".join(pieces)
    c.send(http_request("/api/c", "POST", headers=[("Transfer-Encoding", "chunked")],
                        body=chunked(*pieces)))
    e = echo_of(c.read_response())
    assert (e["body_len"], e["body_sha1"]) == (len(whole), hashlib.sha1(whole).hexdigest())
    c.send(http_request("/api/l", "PUT", body=whole))
    e = echo_of(c.read_response())
    assert (e["method"], e["body_len"], e["body_sha1"]) == \
        ("PUT", len(whole), hashlib.sha1(whole).hexdigest())
    c.send(http_request("/api/empty", "POST", headers=[("Content-Length", "0")]))
    assert echo_of(c.read_response())["body_len"] == 0


def test_forward_expect_100_continue(proxy, backends):
    b = backends.http()
    p = proxy({"/api/": b.urls()[0]})
    c = p.connect()
    body = os.urandom(20000)
    c.send(http_request("/api/e", "POST", headers=[("Expect", "100-continue"),
                                                     ("Content-Length", str(len(body)))]))
    interim = c.read_response()
    assert interim.status == 100, f"expected 100 Continue before the body: {interim}"
    c.send(body)
    e = echo_of(c.read_response())
    assert e["body_sha1"] == hashlib.sha1(body).hexdigest()


def test_forward_expect_100_continue_final_answer_reaches_client_before_body(proxy, backends):
    """RFC 9110 10.1.1: a proxy forwards the expectation (it may send 100 itself only to
    a next hop it believes is HTTP/1.0), so a backend's final answer instead of 100
    reaches the client, which then never sends its body."""
    b = backends.http()
    p = proxy({"/api/": b.urls()[0]})
    c2 = p.connect()
    c2.send(http_request("/api/e?refuse=1", "POST",
                         headers=[("Expect", "100-continue"), ("Content-Length", "5000")]))
    r = c2.read_response()
    assert r.status == 417, r


def test_forward_head_204_304_have_no_body(proxy, backends):
    b = backends.http()
    p = proxy({"/api/": b.urls()[0]})
    c = p.connect()
    c.send(HEAD("/api/h?size=1000"))
    r = c.read_response("HEAD")
    assert r.status == 200 and r.body == b"" and r.get("Content-Length") in ("1000", None), r
    c.send(GET("/api/n?status=204"))
    r = c.read_response()
    assert (r.status, r.body, r.get("Transfer-Encoding")) == (204, b"", None), r
    c.send(GET("/api/m?status=304", headers=[("If-None-Match", '"v1"')]))
    r = c.read_response()
    assert (r.status, r.body, r.get("ETag")) == (304, b"", '"v1"'), r
    c.send(GET("/api/after"))  # nothing of a body left over ahead of this answer
    assert echo_of(c.read_response())["target"] == "/api/after"


# ---- large bodies, slow peers, bounded memory -----------------------------------------------

BIG = 200 * 1000 * 1000
RSS_LIMIT_KIB = 64 * 1024


def read_head(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        assert more, f"closed before the head: {data[:300]!r}"
        data += more
    head, _, rest = data.partition(b"\r\n\r\n")
    return head.decode("latin-1").lower(), rest


def test_forward_large_response_slow_client_bounded_memory(proxy, backends):
    b = backends.http()
    p = proxy({"/api/": b.urls()[0]})
    before = peak = rss_kib(p.pid)
    c = p.connect(timeout=60, rcvbuf=65536)
    c.send(GET(f"/api/big?size={BIG}"))
    head, rest = read_head(c.sock)
    assert head.startswith("http/1.1 200"), head
    got = len(rest)
    # A client that reads 64 KiB, then pauses, for two seconds: the proxy must slow the
    # backend down, not take in the rest of the 200 MB.
    for _ in range(40):
        got += len(c.sock.recv(65536))
        time.sleep(0.05)  # the slow client's pause (it plays a peer, it does not wait)
        peak = max(peak, rss_kib(p.pid))
    t0 = time.monotonic()
    while got < BIG and elapsed(t0) < 120:
        data = c.sock.recv(1 << 20)
        if not data:
            break
        got += len(data)
        if got % (8 << 20) < len(data):
            peak = max(peak, rss_kib(p.pid))
    if "chunked" in head:  # the proxy's own framing: the data plus chunk lines
        assert got >= BIG, f"only {got} bytes of a {BIG}-byte body"
    else:
        assert f"content-length: {BIG}" in head and got == BIG, (head, got)
    assert peak - before < RSS_LIMIT_KIB, f"proxy RSS grew {peak - before} KiB for a slow client"


def test_forward_large_upload_slow_backend_bounded_memory(proxy, backends):
    b = backends.http()
    p = proxy({"/api/": b.urls()[0]})
    before = peak = rss_kib(p.pid)
    c = p.connect(timeout=120)
    block = os.urandom(1 << 20)
    n = BIG // len(block)
    sha = hashlib.sha1()
    for _ in range(n):
        sha.update(block)
    # The backend reads 64 KiB and then pauses 1 ms: a slow reader.
    c.send(http_request("/api/up?readpause=0.001", "POST",
                        headers=[("Content-Length", str(n * len(block)))]))
    errors = []

    def upload():
        try:
            for _ in range(n):
                c.sock.sendall(block)
        except OSError as e:
            errors.append(e)
    sender = threading.Thread(target=upload, daemon=True)
    sender.start()
    t0 = time.monotonic()
    while sender.is_alive() and elapsed(t0) < 120:
        peak = max(peak, rss_kib(p.pid))
        sender.join(0.1)
    assert not sender.is_alive() and not errors, f"upload stalled or failed: {errors}"
    e = echo_of(c.read_response(timeout=120))
    assert (e["body_len"], e["body_sha1"]) == (n * len(block), sha.hexdigest())
    assert peak - before < RSS_LIMIT_KIB, f"proxy RSS grew {peak - before} KiB for an upload"


def test_forward_slow_backend_streams(proxy, backends):
    b = backends.http()
    p = proxy({"/api/": b.urls()[0]})
    c = p.connect(timeout=10)
    c.send(GET("/api/s?size=1048576&trickle=0.02"))
    r = c.read_response(timeout=30)
    assert r.body == b"x" * 1048576, len(r.body)


# ---- WebSocket ------------------------------------------------------------------------------

def ws_frame(opcode, payload):
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        hdr = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        hdr = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return hdr + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))


def ws_read(c):
    b0, b1 = c._read_exact(2, time.monotonic() + 10, "a frame")
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", c._read_exact(2, time.monotonic() + 10, "length"))[0]
    elif n == 127:
        n = struct.unpack("!Q", c._read_exact(8, time.monotonic() + 10, "length"))[0]
    return b0 & 0x0F, c._read_exact(n, time.monotonic() + 10, "payload")


def test_forward_websocket_echo_through_the_tunnel(proxy, backends):
    b = backends.http()
    p = proxy({"/ws/": b.urls()[0]})
    c = p.connect()
    key = base64.b64encode(os.urandom(16)).decode()
    c.send(GET("/ws/echo", headers=[("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                    ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")]))
    r = c.read_response()
    assert r.status == 101, r
    want = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
                                         .encode()).digest()).decode()
    assert r.get("Sec-WebSocket-Accept") == want, r.headers
    assert "websocket" in r.tokens("Upgrade") and "upgrade" in r.tokens("Connection"), r.headers
    for payload in (b"hello", os.urandom(300), os.urandom(100000)):
        c.send(ws_frame(2, payload))
        assert ws_read(c) == (2, payload)
    c.send(ws_frame(8, struct.pack("!H", 1000)))
    assert ws_read(c) == (8, struct.pack("!H", 1000))
    data, how = read_until_close(c, 5)
    assert (data, how) == (b"", "fin"), (data[:200], how)


# ---- balancing and failures -----------------------------------------------------------------

def test_forward_round_robin_over_two_backends(proxy, backends):
    b1, b2 = backends.http(name="one"), backends.http(name="two")
    p = proxy({"/api/": [b1.urls()[0], b2.urls()[0]]})
    c = p.connect()
    names = []
    for i in range(10):
        c.send(GET(f"/api/{i}"))
        names.append(echo_of(c.read_response())["backend"])
    assert names.count("one") == names.count("two") == 5, names
    assert all(x != y for x, y in zip(names, names[1:])), f"not round-robin: {names}"


def test_forward_refused_backend_skipped(proxy, backends):
    b = backends.http(name="alive")
    p = proxy({"/api/": [refused_url(), b.urls()[0], refused_url()]})
    c = p.connect()
    for i in range(6):
        c.send(http_request(f"/api/{i}", "POST", body=b"not idempotent, still safe"))
        e = echo_of(c.read_response())
        assert (e["backend"], e["target"]) == ("alive", f"/api/{i}")


def test_forward_502_when_every_backend_refuses(proxy):
    p = proxy({"/api/": [refused_url(), refused_url()]})
    c = p.connect()
    c.send(GET("/api/x"))
    assert_gateway_error(c.read_response(), 502)
    c.send(GET("/api/again"))  # the client connection stays usable
    assert_gateway_error(c.read_response(), 502)


def test_forward_504_on_connect_timeout(proxy):
    hole = Blackhole()
    try:
        assert hole.hangs(), "the blackhole answered a connect: the test cannot show a timeout"
        p = proxy({"/api/": hole.url()}, "--upstream-connect-timeout", "1")
        t0 = time.monotonic()
        r = p.exchange(GET("/api/x"))
        assert_gateway_error(r, 504)
        assert 0.9 <= elapsed(t0) <= 3.5, f"504 after {elapsed(t0):.2f}s, timeout 1 s"
    finally:
        hole.close()


def test_forward_504_on_upstream_timeout(proxy, backends):
    b = backends.http()
    p = proxy({"/api/": b.urls()[0]}, "--upstream-timeout", "1")
    t0 = time.monotonic()
    r = p.exchange(GET("/api/x?pause=4"))
    assert_gateway_error(r, 504)
    assert 0.9 <= elapsed(t0) <= 2.5, f"504 after {elapsed(t0):.2f}s, --upstream-timeout 1"
    r = p.exchange(GET("/api/y?pause=0.2"))  # a prompt answer is still served
    assert echo_of(r)["target"] == "/api/y?pause=0.2"


HEAD_CL = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"
HEAD_CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize("what,pieces", [
    ("body cut short", [HEAD_CL + b"y" * 5000, b"y" * 100]),
    ("bad chunk", [HEAD_CHUNKED + b"5\r\nhello\r\n", b"zz\r\nmore\r\n"]),
    ("chunk cut short", [HEAD_CHUNKED + b"5\r\nhello\r\n", b"1000\r\n" + b"y" * 100]),
    ("no last chunk", [HEAD_CHUNKED + b"5\r\nhello\r\n", b"5\r\nworld\r\n"]),
])
def test_forward_response_broken_after_head_cuts_the_client(proxy, backends, what, pieces):
    """The backend sends the head and some body, pauses (the proxy forwards them), then
    breaks the framing and closes: the client must see a cut, not a whole response."""
    b = backends.scripted(lambda n, m, t: (pieces, "close"))
    p = proxy({"/api/": b.url()})
    c = p.connect()
    c.send(GET("/api/x"))
    data, how = read_until_close(c, 10)
    assert how in ("fin", "rst"), f"{what}: the client connection was not ended ({how})"
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), f"{what}: the head was not forwarded: {data[:300]!r}"
    lowered = head.lower()
    if b"content-length:" in lowered:
        length = int(lowered.split(b"content-length:")[1].split(b"\r\n")[0])
        assert len(body) < length, f"{what}: a complete-looking response: {data[:300]!r}"
    else:
        assert b"chunked" in lowered, f"{what}: close-delimited looks complete: {head!r}"
        assert not body.endswith(b"0\r\n\r\n"), f"{what}: a last chunk was made up: {body[-50:]!r}"
    assert all(len(reqs) == 1 for reqs in b.conns), f"a broken connection was reused: {b.conns}"


def test_forward_client_keepalive_is_the_proxys_own(proxy, backends):
    b = backends.http(advertise="timeout=1", max_requests=2)
    p = proxy({"/api/": b.urls()[0]}, "--keepalive-timeout", "10", "--keepalive-requests", "5")
    c = p.connect()
    for i in range(5):
        c.send(GET(f"/api/{i}"))
        r = c.read_response()
        assert echo_of(r)["target"] == f"/api/{i}"
        if i < 4:
            assert_persistent(r)
            assert r.get("Keep-Alive") == f"timeout=9, max={4 - i}", r.headers
    assert r.has_token("Connection", "close"), "the client's own request cap ends it"


def test_forward_client_gone_closes_backend_exchange(proxy, backends):
    b = backends.http()
    p = proxy({"/api/": b.urls()[0]})
    c = p.connect()
    c.send(GET(f"/api/big?size={50 * 1000 * 1000}&trickle=0.01"))
    assert c.sock.recv(1024).startswith(b"HTTP/1.1 200")
    c.close()

    def backend_saw_close():
        return [r for r in b.conns() if r["closed"] is not None]
    from waiting import wait_for
    closed = wait_for(backend_saw_close, bool, 10, "the backend connection closed after the "
                      "client left mid-response")
    assert closed[0]["closed_by"] in ("peer", "peer-reset", "error [Errno 32] Broken pipe",
                                      "error [Errno 104] Connection reset by peer"), closed
    r = p.exchange(GET("/api/next"))
    assert echo_of(r)["conn"] != closed[0]["id"], "the abandoned connection was reused"


# ---- what the issue asks of the sockets: TCP keepalive, the tunnel's idle timer, HTTPS -----

def keepalive_timers(pid):
    """{(local port, peer port): seconds left on the keepalive timer} of pid's established
    TCP sockets, as ss -o shows them (sockets without SO_KEEPALIVE show no such timer)."""
    out = subprocess.run(["ss", "-tnoHp", "state", "established"], capture_output=True,
                         text=True, timeout=30, check=True).stdout
    timers = {}
    for line in out.splitlines():
        m = re.search(r"(\S+):(\d+)\s+(\S+):(\d+)\s.*timer:\(keepalive,([\d.]+)(ms|sec|min)", line)
        if m and f"pid={pid}," in line:
            scale = {"ms": 0.001, "sec": 1, "min": 60}[m.group(6)]
            timers[(int(m.group(2)), int(m.group(4)))] = float(m.group(5)) * scale
    return timers


def test_forward_tunnel_keepalive_on_both_sockets_and_idle_timeout(proxy, backends):
    """A WebSocket tunnel probes both its sockets with TCP keepalive (--tcp-keepalive, as
    every client socket), and ends after --tunnel-idle-timeout of silence both ways."""
    b = backends.http()
    p = proxy({"/ws/": b.urls()[0]}, "--tunnel-idle-timeout", "1", "--tcp-keepalive", "7:3:4")
    c = p.connect()
    c.send(GET("/ws/echo", headers=[("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                    ("Sec-WebSocket-Key", base64.b64encode(os.urandom(16)).decode()),
                                    ("Sec-WebSocket-Version", "13")]))
    assert c.read_response().status == 101
    opened = time.monotonic()
    timers = keepalive_timers(p.pid)
    client_side = [t for (local, _), t in timers.items() if local == p.addr[1]]
    backend_side = [t for (_, peer), t in timers.items() if peer == b.port]
    assert len(client_side) == 1 and len(backend_side) == 1, timers
    assert 0 < client_side[0] <= 7 and 0 < backend_side[0] <= 7, timers
    data, how = read_until_close(c, 10)
    assert (data, how) == (b"", "fin"), (data[:200], how)
    assert 0.9 <= time.monotonic() - opened < 8, "closed at the wrong time for a 1 s idle timeout"


def test_forward_https_client_gets_x_forwarded_proto_https(proxy, backends, tmp_path):
    b = backends.http()
    cert, key = make_cert(tmp_path)
    p = proxy({"/api/": b.urls()[0]}, "--tls-listen", "127.0.0.1:0", "--tls-cert", cert,
              "--tls-key", key)
    ctx = ssl.create_default_context(cafile=str(cert))
    host, port = p.srv.addrs[1]
    with socket.create_connection((host, port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname="localhost") as s:
        s.sendall(b"GET /api/tls HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    e = json.loads(body)
    assert tokens(fields(e, "X-Forwarded-Proto")) == ["https"], e["headers"]
