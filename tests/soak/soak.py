#!/usr/bin/python3
"""
Soak test (issue 8, part 3): many clients over loopback doing random mixes of
keep-alive reuse, pipelining, request bodies, slow writes, closing mid-request,
closing mid-response, slow heads and idle timeouts against one kahttpd, for a bounded
time. Every response read is checked (status, body, and whether the connection
persists). Afterwards, once the server has settled (its /status says no connection is
open, polled up to a deadline):

  - no file descriptor leaked: /proc/PID/fd holds as many entries as after warm-up;
  - resident memory (VmRSS) has not grown more than 5 % over its value after warm-up
    (the warm-up runs the same mixes, and rounds in which every client holds a body
    in the server at once, so that pools and the allocator are already grown);
  - the counters agree: accepted = every connection the clients opened = closed + open,
    closed by server + by client = closed, both histograms count every closed
    connection, requests = the requests-per-connection sum, no close for "error";
  - on SIGTERM the server exits 0 and its stderr holds no sanitizer report.

Usage: soak.py [--seconds S] [--warmup S] [--clients N] [--seed N] [BINARY]
BINARY defaults to $KAHTTPD, else build-asan/kahttpd. The seed is printed; a run with
the same seed gives every client the same sequence of mixes and requests (the
interleaving of clients is up to the scheduler). Exits 0 when every check passed.

Rules kept from the e2e harness: the server listens on port 0 and is found from its
ready lines; the clients stop by themselves (bounded in time and in count); waiting is
done by reading (a response, EOF, a read that must time out) or by polling /status up
to a deadline, never by a sleep.
"""
import argparse
import collections
import http.client
import json
import os
import queue
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
from conftest import Conn, chunked, http_request  # noqa: E402  (the e2e harness's client)

# Server settings: short timeouts so that idle and header timeouts happen many times
# within a run.
KEEPALIVE_TIMEOUT = 2      # s, enforced
KEEPALIVE_GRACE = 1        # s, so Keep-Alive: timeout=1 is advertised
ADVERTISED = KEEPALIVE_TIMEOUT - KEEPALIVE_GRACE
HEADER_TIMEOUT = 2         # s
IO_TIMEOUT = 3             # s
REQUEST_CAP = 20           # --keepalive-requests: some connections reach it
WORKERS = 2
LINGER = 2                 # s, the server's lingering close limit (worker.c)

SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                     "ThreadSanitizer", "MemorySanitizer")
READY_RE = re.compile(rb"^kahttpd: (listening|admin) on http://(\[[^\]]+\]|[^:\s]+):(\d+)\s*$")
START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0
READ_TIMEOUT = 10.0        # one response; generous for a sanitizer build under load
SLACK = 3.0                # s a timeout may fire late on a loaded two-core machine
RSS_GROWTH_MAX = 0.05
MAX_BODY = 300_000         # the largest request body a mix sends
QUARANTINE_MB = 2          # ASan's quarantine of freed memory (see main())
GLIBC_TUNABLES = "glibc.malloc.mmap_threshold=65536:glibc.malloc.trim_threshold=131072"
FLUSH_ECHOES = 32          # 100 KiB echoes before each measurement (Server.flush)
# Warm-up rounds in which every client holds a body of this size in the server at
# once: the server's body buffer doubles from 4 KiB as it fills, so these reach each
# buffer size (512, 128, 64, 32, 16 and 8 KiB), each with as many held as there are
# clients. An allocator keeps each size apart, so every size needs its own round.
PEAK_SIZES = [MAX_BODY, 100_000, 50_000, 25_000, 12_000, 6_000]

# The document root: distinct sizes on both sides of the 16 KiB small-file limit
# (copied behind the head vs sendfile), and one large file to abandon mid-response.
FILE_SIZES = {"f1.txt": 1, "f100.txt": 100, "f1k.txt": 1000, "f5k.txt": 5000,
              "f16k.txt": 16384, "f16k1.txt": 16385, "f100k.bin": 100_000,
              "big.bin": 4_000_000}
SMALL_FILES = [n for n, s in FILE_SIZES.items() if s <= 100_000]
INDEX_HTML = b"<!doctype html><title>soak</title>index\n"


def file_bytes(name, size):
    """Content that differs in every file and every position, so that a response
    belonging to another request, or a misplaced slice, is noticed."""
    seed = name.encode()
    unit = b"".join(b"%s:%08d\n" % (seed, i) for i in range(1 + size // (len(seed) + 10)))
    return unit[:size]


def make_root(path):
    path.mkdir()
    files = {}
    for name, size in FILE_SIZES.items():
        data = file_bytes(name, size)
        (path / name).write_bytes(data)
        files[name] = data
    (path / "d").mkdir()
    (path / "d" / "index.html").write_bytes(INDEX_HTML)
    # An mtime in the past, so the small-file cache keeps them from the first request
    # (it does not keep files changed in the last two seconds).
    old = time.time() - 3600
    for p in [*path.iterdir(), path / "d" / "index.html"]:
        os.utime(p, (old, old))
    return files


# ---- the server ---------------------------------------------------------------------------

class Server:
    def __init__(self, binary, root, workdir, extra_env):
        self.stderr_path = workdir / "kahttpd.stderr"
        self._stderr = open(self.stderr_path, "wb")
        self.args = [binary, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
                     "--root", str(root), "--workers", str(WORKERS), "--demo",
                     "--keepalive-timeout", str(KEEPALIVE_TIMEOUT),
                     "--keepalive-grace", str(KEEPALIVE_GRACE),
                     "--keepalive-requests", str(REQUEST_CAP),
                     "--header-timeout", str(HEADER_TIMEOUT), "--io-timeout", str(IO_TIMEOUT),
                     "--max-body-size", "1048576"]
        env = dict(os.environ, **extra_env)
        self.proc = subprocess.Popen(self.args, cwd=workdir, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self._stderr, env=env)
        self.lines = queue.Queue()
        threading.Thread(target=self._drain, daemon=True).start()
        self.addr = self.admin = None
        deadline = time.monotonic() + START_TIMEOUT
        while self.addr is None or self.admin is None:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise SystemExit(f"soak: kahttpd not ready within {START_TIMEOUT}s")
            if line is None:
                raise SystemExit(f"soak: kahttpd exited ({self.proc.wait()}) before it was "
                                 f"ready:\n{self.stderr_text()[-2000:]}")
            m = READY_RE.match(line)
            if m:
                addr = (m.group(2).decode().strip("[]"), int(m.group(3)))
                if m.group(1) == b"listening":
                    self.addr = addr
                else:
                    self.admin = addr

    def _drain(self):
        for line in iter(self.proc.stdout.readline, b""):
            self.lines.put(line)
        self.lines.put(None)

    def admin_get(self, path):
        c = http.client.HTTPConnection(*self.admin, timeout=READ_TIMEOUT)
        try:
            c.request("GET", path)
            r = c.getresponse()
            body = r.read()
            if r.status != 200:
                raise AssertionError(f"{path} answered {r.status}: {body[:200]!r}")
            return json.loads(body)
        finally:
            c.close()

    def status(self):
        return self.admin_get("/status")

    def flush(self):
        """The same few requests before each measurement: echoes whose bodies, freed,
        push what the mixes left out of ASan's quarantine, so that both measurements
        see it in the same state. Returns the connections and requests it made."""
        body = bytes(range(256)) * 400
        per_conn = REQUEST_CAP // 2
        conns = 0
        for first in range(0, FLUSH_ECHOES, per_conn):
            c = Conn(self.addr, READ_TIMEOUT)
            conns += 1
            try:
                n = min(per_conn, FLUSH_ECHOES - first)
                for i in range(n):
                    last = [("Connection", "close")] if i == n - 1 else []
                    c.send(http_request("/_demo/echo", "POST", host="soak", body=body,
                                        headers=last))
                    r = c.read_response("POST")
                    assert r.status == 200 and r.body == body, f"flush echo: {r.raw[:200]!r}"
            finally:
                c.close()
        return conns, FLUSH_ECHOES

    def settle(self, deadline_s):
        """Polls /status until no client connection is open, or the deadline."""
        deadline = time.monotonic() + deadline_s
        while True:
            st = self.status()
            if st["connections"]["active"] == 0 or time.monotonic() >= deadline:
                return st
            time.sleep(0.1)  # the poll interval, not a synchronisation

    def fds(self):
        """The server's open descriptors, as {fd: target}, without the admin
        connections this script's own /status polls may still hold open (a client's
        close reaches the admin worker a moment later; they are counted nowhere)."""
        pid = self.proc.pid
        polls = set()
        for table in ("tcp", "tcp6"):
            try:
                lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                f = line.split()
                if int(f[1].rsplit(":", 1)[1], 16) == self.admin[1] and f[3] != "0A":  # not LISTEN
                    polls.add(f"socket:[{f[9]}]")
        out = {}
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue  # closed while we looked
            if target not in polls:
                out[int(fd)] = target
        return out

    def rss_kib(self):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS in /proc/PID/status")

    def stderr_text(self):
        return self.stderr_path.read_text(errors="replace")

    def stop(self):
        """SIGTERM; returns (exit status or None, stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = None
        self._stderr.close()
        return rc, self.stderr_text()


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
        "stalled_body": 2, "stalled_reader": 2,
    }

    def __init__(self, soak, index, rng, deadline, budget, barrier=None):
        super().__init__(daemon=True, name=f"soak-client-{index}")
        self.soak, self.rng, self.deadline, self.budget = soak, rng, deadline, budget
        self.barrier = barrier
        self.addr = soak.server.addr
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


# ---- the run ------------------------------------------------------------------------------

class Soak:
    def __init__(self, server, files):
        self.server, self.files = server, files
        self.rss = []

    def load(self, seconds, clients, rng_for, peak=False):
        """Runs the clients for `seconds`; samples the server's VmRSS about once a
        second meanwhile (into self.rss)."""
        deadline = time.monotonic() + seconds
        budget = int(seconds * 400) + 10  # scenarios per client: a count bound as well
        barrier = threading.Barrier(clients) if peak else None
        threads = [Client(self, i, rng_for(i), deadline, budget, barrier)
                   for i in range(clients)]
        for t in threads:
            t.start()
        give_up = deadline + 60
        while time.monotonic() < give_up:
            alive = [t for t in threads if t.is_alive()]
            if not alive:
                break
            if self.server.proc.poll() is not None:
                raise RuntimeError(f"kahttpd exited ({self.server.proc.returncode}) under load")
            self.rss.append(self.server.rss_kib())
            alive[0].join(1.0)
        stuck = sum(t.is_alive() for t in threads)
        total = {"mixes": collections.Counter(), "failures": [], "connects": 0,
                 "requests": 0, "cut": 0, "responses": 0, "stuck": stuck}
        for t in threads:
            total["mixes"].update(t.mixes)
            total["failures"] += t.failures
            for k in ("connects", "requests", "cut", "responses"):
                total[k] += getattr(t, k)
        return total


# Mixes that end in one way only, and the close reason the server must count for them
# (at least once per mix: other connections may end the same way).
MIX_CLOSE_REASON = {"idle_timeout": "keepalive_timeout", "header_timeout": "header_timeout",
                    "slow_head_408": "header_timeout", "bad_request": "bad_request",
                    "stalled_body": "io_timeout", "stalled_reader": "io_timeout"}


def counter_problems(st, connects, requests, cut, responses, mixes):
    """The identities the counters promise (stats.c, admin.c) once nothing is open,
    and what they must say about the mixes the clients ran."""
    problems = []
    want = collections.Counter()
    for mix, reason in MIX_CLOSE_REASON.items():
        want[reason] += mixes[mix]
    for reason, n in want.items():
        if st["closed"][reason] < n:
            problems.append(f"closed for {reason}: {st['closed'][reason]}, but {n} mixes "
                            f"ended that way")
    closed = sum(st["closed"].values())
    active = st["connections"]["active"]
    if active != 0:
        problems.append(f"{active} connections still open after settling: {st['connections']}")
    if st["accepted"] != closed + active:
        problems.append(f"accepted {st['accepted']} != closed {closed} + open {active}")
    if st["accepted"] != connects:
        problems.append(f"accepted {st['accepted']} != {connects} connections the clients opened")
    by = st["closed_by"]
    if by["server"] + by["client"] != closed:
        problems.append(f"closed_by {by} does not add up to closed {closed}")
    for h in ("requests_per_connection", "connection_lifetime_seconds"):
        if st[h]["count"] != closed or sum(st[h]["counts"]) != closed:
            problems.append(f"{h} counts {st[h]['count']} connections, closed {closed}")
    if active == 0 and st["requests"] != st["requests_per_connection"]["sum"]:
        problems.append(f"requests {st['requests']} != requests_per_connection sum "
                        f"{st['requests_per_connection']['sum']}")
    # Every response read answered a request the server counted; it counts no request
    # the clients did not send (a request cut short counts once its head is in).
    if not responses <= st["requests"] <= requests + cut:
        problems.append(f"requests {st['requests']}: not between the {responses} responses "
                        f"the clients checked and the {requests} + {cut} cut short they sent")
    if st["closed"].get("error"):
        problems.append(f"{st['closed']['error']} connections closed for 'error'")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("binary", nargs="?", default=os.environ.get("KAHTTPD")
                    or str(REPO / "build-asan" / "kahttpd"))
    ap.add_argument("--seconds", type=float, default=60, help="load after warm-up (default 60)")
    ap.add_argument("--warmup", type=float, default=10, help="warm-up load (default 10)")
    ap.add_argument("--clients", type=int, default=24)
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    binary = os.path.abspath(args.binary)
    print(f"soak: {binary}, {args.clients} clients, {args.warmup:g} s warm-up + "
          f"{args.seconds:g} s, seed {seed} (rerun: --seed {seed})", flush=True)

    failures = []
    with tempfile.TemporaryDirectory(prefix="kahttpd-soak-") as tmp:
        tmp = Path(tmp)
        files = make_root(tmp / "www")
        # ASan keeps freed memory in quarantine (256 MiB by default, and 1 MiB more per
        # thread) before reuse, which would read as growth, or as shrinking, depending on
        # what happens to be there. A small one fills during the warm-up, and the flush
        # before each measurement leaves it holding the same echo bodies both times.
        env = {"ASAN_OPTIONS": f"quarantine_size_mb={QUARANTINE_MB}:"
                               "thread_local_quarantine_size_kb=64:detect_leaks=1:"
                               + os.environ.get("ASAN_OPTIONS", ""),
               "UBSAN_OPTIONS": os.environ.get("UBSAN_OPTIONS",
                                               "print_stacktrace=1:halt_on_error=1"),
               # The normal build: glibc's malloc moves its mmap and trim thresholds with
               # what it has seen freed, so the warm-up's peak could stay in the heap
               # and be trimmed later, or not. Fixed thresholds make large bodies come
               # and go with mmap, as under ASan.
               "GLIBC_TUNABLES": os.environ.get("GLIBC_TUNABLES", GLIBC_TUNABLES)}
        server = Server(binary, tmp / "www", tmp, env)
        soak = Soak(server, files)
        settle_s = max(KEEPALIVE_TIMEOUT, HEADER_TIMEOUT, IO_TIMEOUT) + LINGER + 3 * SLACK
        try:
            t0 = time.monotonic()
            warm = soak.load(args.warmup, args.clients,
                             lambda i: random.Random(f"{seed}:warm:{i}"), peak=True)
            soak.rss = []
            flushed = server.flush()
            st = server.settle(settle_s)
            fds0, rss0 = server.fds(), server.rss_kib()
            fd0 = len(fds0)
            print(f"soak: warm-up: {warm['requests']} requests, {warm['connects']} connections; "
                  f"then {fd0} fds, VmRSS {rss0} KiB", flush=True)
            if st["connections"]["active"]:
                failures.append(f"after warm-up {st['connections']} still open")
            run = soak.load(args.seconds, args.clients,
                            lambda i: random.Random(f"{seed}:run:{i}"))
            t_settle = time.monotonic()
            server.flush()
            st = server.settle(settle_s)
            settled_in = time.monotonic() - t_settle
            fds1, rss1 = server.fds(), server.rss_kib()
            fd1 = len(fds1)
            listed = server.admin_get("/connections")
            elapsed = time.monotonic() - t0
        except BaseException as e:
            rc, err = server.stop()
            print(f"soak: FAIL: aborted ({type(e).__name__}: {e}); kahttpd exit status {rc}, "
                  f"stderr (tail):\n{err[-4000:]}", flush=True)
            return 1

        mixes = warm["mixes"] + run["mixes"]
        for part in (warm, run):
            failures += part["failures"]
            if part["stuck"]:
                failures.append(f"{part['stuck']} client threads did not stop")
        connects, requests, cut, responses = (warm[k] + run[k] for k in
                                              ("connects", "requests", "cut", "responses"))
        connects += 2 * flushed[0]
        requests += 2 * flushed[1]
        responses += 2 * flushed[1]
        failures += counter_problems(st, connects, requests, cut, responses, mixes)
        if st["connections"]["active"] == 0 and listed:
            failures.append(f"/status says no connection is open, /connections lists "
                            f"{len(listed)}: {listed[:3]}")
        if fd1 != fd0:
            new = sorted(set(fds1.items()) - set(fds0.items()))
            gone = sorted(set(fds0.items()) - set(fds1.items()))
            failures.append(f"file descriptors: {fd0} after warm-up, {fd1} at the end; "
                            f"new {new[:10]}, gone {gone[:10]}")
        growth = (rss1 - rss0) / rss0
        if growth > RSS_GROWTH_MAX:
            failures.append(f"VmRSS grew {growth:+.1%}: {rss0} KiB after warm-up, {rss1} KiB "
                            f"at the end (limit {RSS_GROWTH_MAX:.0%})")
        rc, err = server.stop()
        if rc != 0:
            failures.append(f"exit status {rc} after SIGTERM, expected 0")
        for marker in SANITIZER_MARKERS:
            if marker in err:
                failures.append(f"server stderr contains {marker!r}")
        if err.strip():
            print("soak: server stderr (tail):\n" + err[-6000:], flush=True)

    print("soak: mixes: " + ", ".join(f"{k} {v}" for k, v in sorted(mixes.items())))
    print(f"soak: server counters: accepted {st['accepted']}, requests {st['requests']}, "
          f"closed {json.dumps(st['closed'])}, closed_by {st['closed_by']}")
    if soak.rss:
        q = [soak.rss[min(len(soak.rss) - 1, len(soak.rss) * k // 4)] for k in range(4)]
        print(f"soak: VmRSS under load (KiB): at 0/25/50/75 % of the run {q}, last "
              f"{soak.rss[-1]}, max {max(soak.rss)}")
    print(f"soak: settled in {settled_in:.1f} s; fds {fd0} -> {fd1}; "
          f"VmRSS {rss0} -> {rss1} KiB ({growth:+.1%})")
    for f in failures[:30]:
        print(f"soak: FAIL {f}")
    if len(failures) > 30:
        print(f"soak: ... and {len(failures) - 30} more failures")
    print(f"soak: {'PASS' if not failures else 'FAIL'}: {requests} requests, {responses} "
          f"responses checked, {connects} connections, {sum(mixes.values())} mixes in "
          f"{elapsed:.0f} s, {len(failures)} failures (seed {seed})", flush=True)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
