"""
The soak test's clients (soak.py runs them): each one a thread that runs randomly
chosen mixes (keep-alive reuse, pipelining, bodies, slow writes, closes mid-request
and mid-response, timeouts, bad requests) against kahttpd and checks every response
it reads: status, body, and whether the connection persists. What the mixes saw is
counted on the Client for the driver to add up.

Waiting is done by reading (a response, EOF, a read that must time out), never by a
sleep; the sleeps here are a client being slow on purpose.
"""
import collections
import socket
import ssl
import struct
import threading
import time

# tests/e2e is on sys.path (soak.py puts it there): the e2e harness's client.
from conftest import Conn, chunked, http_request
from settings import (ADVERTISED, BACKEND_KEEPALIVE, HEADER_TIMEOUT, INDEX_HTML, IO_TIMEOUT,
                      KEEPALIVE_TIMEOUT, MAX_BODY, PEAK_SIZES, PROXY_PREFIX, READ_TIMEOUT,
                      REQUEST_CAP, SLACK, SMALL_FILES)


# ---- requests and their expected responses -------------------------------------------------

class Req:
    """One request, and what its response must be. closes: the request itself ends the
    connection (Connection: close, HTTP/1.0 without keep-alive, a parse error, a
    close-delimited body)."""

    def __init__(self, data, method="GET", status=200, closes=False, check=None, what=""):
        self.data, self.method, self.status = data, method, status
        self.closes, self.check, self.what = closes, check, what


def stream_body(chunks, size):
    return b"".join(bytes([ord("a") + k % 26]) * size for k in range(chunks))


def events_body(count):
    return b"".join(b"id: %d\ndata: event %d\n\n" % (i, i) for i in range(1, count + 1))


# Requests the parser must refuse (400) whatever comes before them on the connection.
BAD_REQUESTS = [
    b"POST /_demo/echo HTTP/1.1\r\nHost: s\r\nContent-Length: 5\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST /_demo/echo HTTP/1.1\r\nHost: s\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
    b"GET /f1.txt HTTP/1.1\r\nHost: s\r\nX-Folded: a\r\n b\r\n\r\n",
    b"GET /f1.txt HTTP/1.1\r\n\r\n",
    b"GET /f1.txt HTTP/1.1\r\nHost: s\r\nContent-Length: 1, 1\r\n\r\nx",
    b"GET /f1.txt HTTP/1.1\r\nHost : s\r\n\r\n",
]


class Client(threading.Thread):
    """One simulated client: runs randomly chosen mixes until its deadline or its
    scenario budget, whichever comes first."""

    MIXES = {  # name: weight
        "keepalive": 22, "pipeline": 14, "bodies": 12, "slow_write": 8,
        "close_mid_request": 8, "close_mid_response": 8, "idle_timeout": 6,
        "header_timeout": 4, "slow_head_408": 3, "http10": 6, "bad_request": 4,
        "stalled_body": 2, "stalled_reader": 2, "tls_keepalive": 10, "proxy": 10,
    }

    def __init__(self, soak, index, rng, deadline, budget, barrier=None):
        super().__init__(daemon=True, name=f"soak-client-{index}")
        self.soak, self.rng, self.deadline, self.budget = soak, rng, deadline, budget
        self.barrier = barrier
        self.addr = soak.server.addr
        self.tls_addr = soak.server.tls_addr
        self.tls_ctx = ssl.create_default_context(cafile=str(soak.server.cert[0]))
        self.files = soak.files
        self.etags = {}
        self.mixes = collections.Counter()
        self.failures = []
        self.connects = 0
        self.requests = 0     # complete requests sent
        self.cut = 0          # requests cut short (the server may or may not count them)
        self.responses = 0    # responses read and checked
        self.conns = []

    # -- plumbing
    def connect(self, rcvbuf=None):
        c = Conn(self.addr, READ_TIMEOUT, rcvbuf)
        self.connects += 1
        self.conns.append(c)
        return c

    def reset_close(self, c):
        """Closes with RST: SO_LINGER 0 (as a crashed client or one with unread data)."""
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()

    def run(self):
        names = list(self.MIXES)
        weights = [self.MIXES[n] for n in names]
        done = 0
        if self.barrier:
            for size in PEAK_SIZES:
                self.peak_size = size
                self.run_mix("peak")
        while time.monotonic() < self.deadline and done < self.budget:
            done += 1
            self.run_mix(self.rng.choices(names, weights)[0])

    def run_mix(self, mix):
        try:
            getattr(self, "mix_" + mix)()
            self.mixes[mix] += 1
        except Exception as e:  # noqa: BLE001 (any exception is a failed mix)
            self.mixes[mix + " FAILED"] += 1
            self.failures.append(f"{mix}: {type(e).__name__}: {e}")
        finally:
            for c in self.conns:
                c.close()
            self.conns = []

    # -- request generation
    def pick_request(self, version=1, allow_body=True, allow_stream=True, close=False):
        """A random valid request, with the response it must get."""
        r = self.rng
        kinds = ["file", "file", "file", "head", "range", "etag", "missing", "dir",
                 "dir_slash", "sleep"]
        if allow_stream:
            kinds += ["stream", "events"]
        if allow_body:
            kinds += ["echo", "echo"]
        kind = r.choice(kinds)
        ver = f"HTTP/1.{version}"
        hdrs = []
        if close:
            hdrs.append(("Connection", "close"))
        elif version == 0:
            hdrs.append(("Connection", "keep-alive"))
        # HTTP/1.0 has no chunked coding: a body of unknown length ends with the close
        closes = close or (version == 0 and kind in ("stream", "events"))

        def req(target, method="GET", **kw):
            extra = kw.pop("headers", [])
            body = kw.pop("body", b"")
            data = http_request(target, method, ver, hdrs + extra, body, host="soak",
                                content_length=kw.pop("content_length", True))
            return Req(data, method, closes=closes, what=f"{method} {target}", **kw)

        if kind == "file":
            name = r.choice(SMALL_FILES)
            return self._file_req(req, name)
        if kind == "head":
            name = r.choice(SMALL_FILES)
            size = len(self.files[name])

            def check(resp):
                assert resp.get("Content-Length") == str(size), f"HEAD Content-Length {resp.headers}"
            return req("/" + name, "HEAD", check=check)
        if kind == "range":
            name = r.choice([n for n in SMALL_FILES if len(self.files[n]) > 10])
            data = self.files[name]
            first = r.randrange(len(data) - 1)
            last = r.randrange(first, len(data))
            return req("/" + name, headers=[("Range", f"bytes={first}-{last}")], status=206,
                       check=self._body_is(data[first:last + 1]))
        if kind == "etag":
            name = r.choice(SMALL_FILES)
            if name not in self.etags:
                return self._file_req(req, name)
            return req("/" + name, headers=[("If-None-Match", self.etags[name])], status=304,
                       check=self._body_is(b""))
        if kind == "missing":
            return req(f"/no-such-{r.randrange(1000)}.txt", status=404)
        if kind == "dir":
            def check(resp):
                assert resp.get("Location") == "/d/", f"301 Location {resp.headers}"
            return req("/d", status=301, check=check)
        if kind == "dir_slash":
            return req("/d/", check=self._body_is(INDEX_HTML))
        if kind == "sleep":
            ms = r.randrange(0, 60)
            return req(f"/_demo/sleep?ms={ms}", check=self._body_is(b"slept %d ms\n" % ms))
        if kind == "stream":
            n, size, ivl = r.randrange(1, 8), r.choice([1, 64, 1000, 9000]), r.randrange(0, 15)
            return req(f"/_demo/stream?chunks={n}&interval_ms={ivl}&size={size}",
                       check=self._body_is(stream_body(n, size)))
        if kind == "events":
            n = r.randrange(1, 4)
            return req(f"/_demo/events?interval_ms={r.randrange(1, 20)}&count={n}",
                       check=self._body_is(events_body(n)))
        # echo: Content-Length, or chunked in random pieces (HTTP/1.1 only)
        body = self.random_body()
        ctype = f"application/x-soak-{r.randrange(100)}"

        def check(resp, body=body, ctype=ctype):
            assert resp.get("Content-Type") == ctype, f"echo Content-Type {resp.headers}"
            self._body_is(body)(resp)
        if version == 1 and r.random() < 0.5:
            return req("/_demo/echo", "POST", check=check, content_length=False,
                       headers=[("Content-Type", ctype), ("Transfer-Encoding", "chunked")],
                       body=chunked(*self.split(body)))
        return req("/_demo/echo", r.choice(["POST", "PUT"]), check=check, body=body,
                   headers=[("Content-Type", ctype)] + ([("Content-Length", "0")] if not body else []))

    def _file_req(self, req, name):
        data = self.files[name]

        def check(resp):
            self._body_is(data)(resp)
            etag = resp.get("ETag")
            assert etag, f"no ETag on {name}: {resp.headers}"
            self.etags[name] = etag
        return req("/" + name, check=check)

    @staticmethod
    def _body_is(expected):
        def check(resp):
            assert resp.body == expected, (f"body of {len(resp.body)} bytes differs from the "
                                           f"{len(expected)} expected: {resp.body[:120]!r}")
        return check

    def random_body(self):
        r = self.rng
        size = r.choice([0, 1, r.randrange(2, 2000), r.randrange(2000, 70000),
                         r.randrange(70000, MAX_BODY + 1)])
        return r.randbytes(size)

    def split(self, data, max_pieces=6):
        if not data:
            return []
        cuts = sorted(self.rng.sample(range(1, len(data)), min(len(data) - 1,
                                                               self.rng.randrange(max_pieces))))
        bounds = [0, *cuts, len(data)]
        return [data[a:b] for a, b in zip(bounds, bounds[1:])]

    # -- response checking
    def verify(self, req, resp, nth):
        """nth: this request's number on its connection, from 1."""
        assert resp.status == req.status, (f"{req.what}: status {resp.status}, expected "
                                           f"{req.status}: {resp.raw[:300]!r}")
        if req.check:
            req.check(resp)
        last = req.closes or nth >= REQUEST_CAP
        if last:
            assert resp.has_token("Connection", "close") and resp.get("Keep-Alive") is None, \
                f"{req.what} (request {nth}): expected the last response, got {resp.headers}"
        else:
            ka = resp.get("Keep-Alive")
            want = f"timeout={ADVERTISED}, max={REQUEST_CAP - nth}"
            assert resp.keeps_alive and ka == want, \
                f"{req.what} (request {nth}): expected keep-alive with {want!r}, got {resp.headers}"
        self.responses += 1
        return last

    def read_checked(self, c, req, nth):
        while True:
            resp = c.read_response(req.method)
            if resp.status != 100:
                break
        return self.verify(req, resp, nth)

    def expect_fin(self, c, what, within):
        data, how = c.read_until_close(within)
        assert (data, how) == (b"", "fin"), f"{what}: expected FIN and nothing else, got {how} after {data[:200]!r}"

    # -- the mixes
    def mix_peak(self):
        """Warm-up only: every client has a body of self.peak_size in the server at
        the same moment (all but its last byte sent, then a barrier), so that the
        server's allocator has grown to the peak the mixes can ask of it before the
        baseline is taken."""
        c = self.connect()
        body = self.rng.randbytes(self.peak_size)
        c.send(http_request("/_demo/echo", "POST", host="soak", body=body)[:-1])
        self.barrier.wait(READ_TIMEOUT)
        c.send(body[-1:])
        self.requests += 1
        resp = c.read_response("POST")
        assert resp.status == 200 and resp.body == body, f"peak echo: {resp.raw[:200]!r}"
        self.responses += 1

    def mix_keepalive(self):
        """Sequential requests on one connection; some end with Connection: close, some
        reach --keepalive-requests, the others are closed by the client."""
        c = self.connect()
        n = self.rng.choice([1, 2, 3, 5, 8, 12, REQUEST_CAP])
        ask_close = self.rng.random() < 0.3
        for i in range(1, n + 1):
            req = self.pick_request(close=ask_close and i == n)
            c.send(req.data)
            self.requests += 1
            if self.read_checked(c, req, i):
                self.expect_fin(c, "after the last response", READ_TIMEOUT)
                return
        if self.rng.random() < 0.5:
            c.shutdown_write()
            self.expect_fin(c, "after the client's FIN", READ_TIMEOUT)

    def mix_proxy(self):
        """Requests through the reverse proxy, on one client connection, with idle gaps
        scattered around the backend's advertised timeout: the pooled backend
        connection is reused young, retired, or raced. Files come back whole; a body
        streams to a backend that refuses it (405) and still reads it; none may fail."""
        c = self.connect()
        n = self.rng.randrange(1, 6)
        for i in range(1, n + 1):
            if i > 1 and self.rng.random() < 0.4:
                # The idle gap under test (below the client's own timeout), not a wait
                # for something to happen.
                time.sleep(self.rng.uniform(0.3, 1.3) * (BACKEND_KEEPALIVE - 0.5))
            name = self.rng.choice(SMALL_FILES)
            target = PROXY_PREFIX + name
            kind = self.rng.random()
            if kind < 0.7:
                req = Req(http_request(target, host="soak"), check=self._body_is(self.files[name]),
                          what=f"GET {target}")
            elif kind < 0.85:
                size = str(len(self.files[name]))

                def check(resp, size=size):
                    assert resp.get("Content-Length") == size, f"HEAD {resp.headers}"
                req = Req(http_request(target, "HEAD", host="soak"), "HEAD", check=check,
                          what=f"HEAD {target}")
            else:
                body = self.rng.randbytes(self.rng.choice([1, 3000, 70000]))
                req = Req(http_request(target, "POST", host="soak", body=body), "POST",
                          status=405, what=f"POST {target}")
            c.send(req.data)
            self.requests += 1
            if self.read_checked(c, req, i):
                self.expect_fin(c, "after the last response", READ_TIMEOUT)
                return

    def mix_tls_keepalive(self):
        """The keep-alive mix over HTTPS: sequential requests on one TLS connection (a
        session resumed now and then), some closing, others closed by the client."""
        c = Conn(self.tls_addr, READ_TIMEOUT, None)
        self.connects += 1
        self.conns.append(c)
        session = getattr(self, "tls_session", None) if self.rng.random() < 0.5 else None
        c.sock = self.tls_ctx.wrap_socket(c.sock, server_hostname="localhost", session=session)
        n = self.rng.choice([1, 2, 3, 5, 8])
        ask_close = self.rng.random() < 0.3
        for i in range(1, n + 1):
            req = self.pick_request(close=ask_close and i == n, allow_stream=False)
            c.send(req.data)
            self.requests += 1
            if self.read_checked(c, req, i):
                self.expect_fin(c, "after the last response over TLS", READ_TIMEOUT)
                break
        self.tls_session = c.sock.session

    def mix_pipeline(self):
        """Several requests in one write, answered in order."""
        c = self.connect()
        nth = 0
        for _ in range(self.rng.choice([1, 1, 2])):
            k = self.rng.randrange(2, 11)
            reqs = [self.pick_request() for _ in range(k)]
            if nth + k >= REQUEST_CAP:
                reqs = reqs[:REQUEST_CAP - nth]
            # Sent from a thread: with large bodies, responses must be read while the
            # requests are still going out, or both sides fill their buffers and stall.
            sender = c.send_background(b"".join(r.data for r in reqs), limit_seconds=READ_TIMEOUT)
            self.requests += len(reqs)
            for req in reqs:
                nth += 1
                last = self.read_checked(c, req, nth)
                if last:
                    self.expect_fin(c, "after the last pipelined response", READ_TIMEOUT)
            sender.join(READ_TIMEOUT)
            assert not sender.is_alive() and sender.error is None, \
                f"pipelined send: {sender.error or 'still sending'}"
            if last:
                return

    def mix_bodies(self):
        """Echo of bodies with Content-Length or chunked, some with 100-continue."""
        c = self.connect()
        for i in range(1, self.rng.randrange(2, 5)):
            body = self.random_body()
            ctype = "application/x-soak-body"
            if self.rng.random() < 0.5:
                hdrs = [("Content-Type", ctype), ("Transfer-Encoding", "chunked")]
                wire = chunked(*self.split(body, 12))
            else:
                hdrs = [("Content-Type", ctype), ("Content-Length", str(len(body)))]
                wire = body
            expect = self.rng.random() < 0.25 and body
            if expect:
                hdrs.append(("Expect", "100-continue"))
            head = http_request("/_demo/echo", "POST", headers=hdrs, host="soak")
            req = Req(head + wire, "POST", check=self._body_is(body), what="POST echo")
            if expect:
                c.send(head)
                interim = c.read_response("POST")
                assert interim.status == 100, f"expected 100 Continue, got {interim.raw[:200]!r}"
                c.send(wire)
            else:
                c.send(req.data)
            self.requests += 1
            self.read_checked(c, req, i)

    def mix_slow_write(self):
        """Requests trickled in pieces, a few milliseconds apart."""
        c = self.connect()
        for i in range(1, self.rng.randrange(2, 4)):
            req = self.pick_request(allow_stream=False)
            pieces = self.split(req.data, 10)
            for p in pieces:
                c.send(p)
                time.sleep(self.rng.uniform(0.001, 0.03))  # the client is slow (not a wait)
            self.requests += 1
            self.read_checked(c, req, i)

    def mix_close_mid_request(self):
        """A request cut short: the client closes (FIN or RST) part-way through the head
        or the body, possibly after earlier complete requests."""
        c = self.connect()
        nth = 0
        for _ in range(self.rng.randrange(0, 3)):
            req = self.pick_request()
            nth += 1
            c.send(req.data)
            self.requests += 1
            self.read_checked(c, req, nth)
        req = self.pick_request()
        cut = self.rng.randrange(1, len(req.data))
        c.send(req.data[:cut])
        self.cut += 1
        how = self.rng.choice(["shutdown", "close", "rst"])
        if how == "shutdown":
            # The server must not answer half a request, nor a body that never ended.
            c.shutdown_write()
            data, closed = c.read_until_close(READ_TIMEOUT)
            assert (data, closed) == (b"", "fin"), \
                f"FIN after {cut} of {len(req.data)} bytes: got {closed} after {data[:200]!r}"
        elif how == "rst":
            self.reset_close(c)
        else:
            c.close()

    def mix_close_mid_response(self):
        """The client reads the start of a long response and goes away."""
        r = self.rng
        target = r.choice(["/big.bin", "/big.bin", "/f100k.bin",
                           "/_demo/stream?chunks=200&interval_ms=5&size=8192",
                           "/_demo/events?interval_ms=5&count=0"])
        c = self.connect(rcvbuf=r.choice([None, 4096]))
        c.send(http_request(target, host="soak"))
        self.requests += 1
        got = b""
        want = r.randrange(len("HTTP/1.1 200 "), 3000)
        while len(got) < want:
            c.sock.settimeout(READ_TIMEOUT)
            data = c.sock.recv(want - len(got))
            assert data, f"{target}: FIN after {got[:200]!r}"
            got += data
        assert got.startswith(b"HTTP/1.1 200 "), f"{target}: {got[:200]!r}"
        if r.random() < 0.5:
            self.reset_close(c)
        else:
            c.close()

    def mix_idle_timeout(self):
        """After one or two requests the client waits: the server closes the idle
        connection (FIN) no earlier than Keep-Alive promised and not much after
        --keepalive-timeout."""
        c = self.connect()
        n = self.rng.randrange(1, 3)
        t_last = None
        for i in range(1, n + 1):
            req = self.pick_request(allow_stream=False)
            c.send(req.data)
            self.requests += 1
            self.read_checked(c, req, i)
            t_last = time.monotonic()
        self.expect_fin(c, "idle keep-alive connection", KEEPALIVE_TIMEOUT + SLACK)
        waited = time.monotonic() - t_last
        assert waited >= ADVERTISED, f"idle connection closed after {waited:.3f}s, " \
                                     f"before the advertised {ADVERTISED}s"

    def mix_header_timeout(self):
        """A client that connects and sends nothing is closed silently at
        --header-timeout."""
        c = self.connect()
        self.expect_fin(c, "silent new connection", HEADER_TIMEOUT + SLACK)
        waited = time.monotonic() - c.t_connect
        # The server's clock is read once per loop iteration, so allow it that much.
        assert waited >= HEADER_TIMEOUT - 0.25, f"silent connection closed after {waited:.3f}s"

    def mix_slow_head_408(self):
        """Slowloris: part of a head, then nothing; 408 at --header-timeout, then FIN."""
        c = self.connect()
        c.send(b"GET /f1.txt HTTP/1.1\r\nHost: soak\r\nX-Slow: ")
        resp = c.read_response(timeout=HEADER_TIMEOUT + SLACK)
        assert resp.status == 408 and resp.has_token("Connection", "close"), resp.raw[:300]
        self.responses += 1
        self.expect_fin(c, "after 408", READ_TIMEOUT)

    def mix_stalled_body(self):
        """A head and part of its body, then silence: the server gives up after
        --io-timeout and closes without an answer."""
        c = self.connect()
        body = self.random_body() or b"x"
        head = http_request("/_demo/echo", "POST", host="soak",
                            headers=[("Content-Length", str(len(body) + 1))])
        c.send(head + body)
        t_sent = time.monotonic()
        self.cut += 1
        self.expect_fin(c, "stalled body", IO_TIMEOUT + SLACK)
        waited = time.monotonic() - t_sent
        assert waited >= IO_TIMEOUT - 0.25, f"stalled body cut after {waited:.3f}s"

    def mix_stalled_reader(self):
        """A client that asks for a large file and reads nothing: the server's writes
        stall and it gives up after --io-timeout, so less than the file ever arrives."""
        c = self.connect(rcvbuf=4096)
        c.send(http_request("/big.bin", host="soak"))
        self.requests += 1
        time.sleep(IO_TIMEOUT + SLACK)  # the client does not read (a slow peer, not a wait)
        data, how = c.read_until_close(READ_TIMEOUT)
        assert data.startswith(b"HTTP/1.1 200 ") and how in ("fin", "rst"), \
            f"stalled reader: {how} after {len(data)} bytes {data[:100]!r}"
        assert len(data) < len(self.files["big.bin"]), \
            f"stalled reader got the whole file ({len(data)} bytes): not cut at --io-timeout"

    def mix_http10(self):
        """HTTP/1.0: without keep-alive one response and close; with it, reuse."""
        c = self.connect()
        if self.rng.random() < 0.5:
            req = self.pick_request(version=0, allow_body=False)
            req.data = req.data.replace(b"Connection: keep-alive\r\n", b"")
            req.closes = True
            c.send(req.data)
            self.requests += 1
            self.read_checked(c, req, 1)
            self.expect_fin(c, "after an HTTP/1.0 response", READ_TIMEOUT)
            return
        for i in range(1, self.rng.randrange(2, 6)):
            req = self.pick_request(version=0)
            c.send(req.data)
            self.requests += 1
            if self.read_checked(c, req, i):
                self.expect_fin(c, "after the last HTTP/1.0 response", READ_TIMEOUT)
                return

    def mix_bad_request(self):
        """Good requests, then one the parser must refuse: 400, Connection: close, FIN;
        nothing after it is answered."""
        c = self.connect()
        good = [self.pick_request(allow_stream=False) for _ in range(self.rng.randrange(0, 3))]
        bad = Req(self.rng.choice(BAD_REQUESTS), status=400, closes=True, what="bad request")
        trailing = self.pick_request().data if self.rng.random() < 0.5 else b""
        sender = c.send_background(b"".join(r.data for r in good) + bad.data + trailing,
                                   limit_seconds=READ_TIMEOUT)
        self.requests += len(good) + 1
        for i, req in enumerate(good + [bad], 1):
            self.read_checked(c, req, i)
        self.expect_fin(c, "after 400", READ_TIMEOUT)
        sender.join(READ_TIMEOUT)
