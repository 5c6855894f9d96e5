#!/usr/bin/python3
"""
The reuse race, measured: a client load through a reverse proxy to real backends whose
idle timeouts are short, each request sent after an idle gap scattered around its
backend's timeout, so that the proxy's pooled connection is reused again and again
just as the backend closes it. Through kahttpd no request may fail; through nginx
configured as everyone configures upstream keep-alive, the failures are counted.

Backends (each started here on port 0; nginx on a free port):
  node      Node.js http server, keepAliveTimeout 2 s, advertised (Keep-Alive: timeout=2);
            Node 20 closes 1 s later than it says
  gunicorn  gunicorn gthread, --keep-alive 2, says nothing
  nginx     nginx, keepalive_timeout 1s, keepalive_requests 3, says nothing
  silent    the test backend, closes after exactly 1 s idle, says nothing
  http10    the test backend as an HTTP/1.0 server (close-delimited: never reused)

Every client ("lane") has a backend port of its own, behind a prefix of its own, so the
proxy's pooled connection to that port is idle exactly as long as its client waits
(plus the proxy's own latency). A lane alternates GET and POST at random (POST bodies of
0-16 KiB of random bytes) and checks each answer against its request (method, target,
body length and SHA-1, as the backend echoes them). Half the gaps are uniform over
0.5-1.5 x T, half within +-1 % of T, where the close and the reuse cross.

Usage:
  tests/e2e/proxy_race.py [--seconds S] [--lanes N] [--proxies kahttpd,nginx]
                          [--update-doc docs/proxy.md] [--check]
KAHTTPD selects the binary (default build/kahttpd).
"""
import argparse
import hashlib
import json
import os
import random
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from backends import (GunicornBackend, HttpBackend, KahttpdProxy, Links,  # noqa: E402
                      NginxBackend, NginxProxy, NodeBackend)

# kind: the idle time T after which the backend closes, around which the gaps scatter.
# Node's is measured when it starts (Node 20 closes 1 s after the keepAliveTimeout it
# advertises); gunicorn checks its keep-alive deadlines once a second, so its closes
# come anywhere from 1 to 3 s (its nominal 2 s is where the gaps scatter).
KINDS = {"node": 3.0, "gunicorn": 2.0, "nginx": 1.0, "silent": 1.0, "http10": 1.0}
NEAR = 0.01           # the concentrated half of the gaps: within +-1 % of T
RTT_MS = 2.0          # the links' round-trip time between the proxy and the backends
READ_TIMEOUT = 15.0   # one response; longer than any backend needs


class Backends:
    """Every backend kind on `lanes` ports each (http10 on a quarter as many)."""

    def __init__(self, workdir, lanes, rtt_ms=RTT_MS):
        n10 = max(1, lanes // 4)
        self.procs = []
        try:
            self.node = self._add(NodeBackend(workdir, lanes, keepalive_ms=2000))
            self.gunicorn = self._add(GunicornBackend(workdir, lanes, keep_alive=2))
            self.nginx = self._add(NginxBackend(workdir, lanes, "1s", 3))
            self.silent = self._add(HttpBackend(workdir, lanes, idle=1.0, name="silent"))
            self.http10 = self._add(HttpBackend(workdir, n10, http10=True, name="http10"))
            self.timeouts = dict(KINDS, node=measure_close(self.node.port))
        except Exception:
            self.stop()
            raise
        self.lanes = []  # (kind, prefix, backend URL)
        for kind in KINDS:
            for i, url in enumerate(getattr(self, kind).urls()):
                self.lanes.append((kind, f"/{kind}{i}/", url))
        if rtt_ms:
            try:
                links = self._add(Links(workdir, [url for _, _, url in self.lanes], rtt_ms))
            except Exception:
                self.stop()
                raise
            self.lanes = [(k, p, u) for (k, p, _), u in zip(self.lanes, links.urls())]

    def _add(self, proc):
        self.procs.append(proc)
        return proc

    def routes(self):
        return [(prefix, [url]) for _, prefix, url in self.lanes]

    def stop(self):
        for p in self.procs:
            p.stop()


def measure_close(port):
    """Seconds from a response to the backend's FIN on an idle connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT) as s:
        s.sendall(b"GET /measure HTTP/1.1\r\nHost: race.test\r\n\r\n")
        read_response(s, b"")
        t = time.monotonic()
        while s.recv(65536):
            pass
        return round(time.monotonic() - t, 3)


# ---- one client ----------------------------------------------------------------------------

class Failure(Exception):
    pass


def read_response(sock, buf):
    """(status, body, rest of buf, closes) of one response; Failure on a reset, an early
    close or a timeout."""
    def more():
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            raise Failure("reset") from None
        except socket.timeout:
            raise Failure("timeout") from None
        if not data:
            raise Failure("closed")
        return data

    while b"\r\n\r\n" not in buf:
        buf += more()
    head, _, buf = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    hdrs = {}
    for line in lines[1:]:
        n, _, v = line.partition(":")
        hdrs[n.strip().lower()] = v.strip()
    closes = "close" in hdrs.get("connection", "").lower()
    if "chunked" in hdrs.get("transfer-encoding", "").lower():
        body = b""
        while True:
            while b"\r\n" not in buf:
                buf += more()
            line, _, buf = buf.partition(b"\r\n")
            size = int(line.split(b";")[0], 16)
            if size:
                while len(buf) < size + 2:
                    buf += more()
                body += buf[:size]
                buf = buf[size + 2:]
            else:
                while True:  # trailer lines, up to the empty line
                    while b"\r\n" not in buf:
                        buf += more()
                    line, _, buf = buf.partition(b"\r\n")
                    if not line:
                        return status, body, buf, closes
    if "content-length" in hdrs:
        n = int(hdrs["content-length"])
        while len(buf) < n:
            buf += more()
        return status, buf[:n], buf[n:], closes
    while True:  # close-delimited
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            raise Failure("reset") from None
        if not data:
            return status, buf, b"", True
        buf += data


def expected_ok(kind, method, target, body, status, answer):
    """Whether the answer is the backend's echo of this very request."""
    if status != 200:
        return False
    sha = hashlib.sha1(body).hexdigest()
    if kind in ("node", "gunicorn"):
        return answer == f"{kind} {method} {target} {len(body)} {sha}\n".encode()
    if kind == "nginx":
        length = str(len(body)) if method == "POST" else ""
        return answer == f"nginx {method} {target} {length}\n".encode()
    try:
        echo = json.loads(answer)
    except ValueError:
        return False
    return (echo["method"], echo["target"], echo["body_len"], echo["body_sha1"]) == \
        (method, target, len(body), sha)


class Lane(threading.Thread):
    def __init__(self, addr, kind, prefix, timeout_s, deadline, seed):
        super().__init__(daemon=True)
        self.addr, self.kind, self.prefix, self.t = addr, kind, prefix, timeout_s
        self.deadline = deadline
        self.rng = random.Random(seed)
        self.results = []  # (method, gap before it or None, outcome: "ok" or the failure)

    def run(self):
        sock, buf, n, gap = None, b"", 0, None
        while time.monotonic() < self.deadline:
            n += 1
            method = self.rng.choice(("GET", "POST"))
            body = self.rng.randbytes(self.rng.randrange(0, 16384)) if method == "POST" else b""
            target = f"{self.prefix}r{n}"
            req = (f"{method} {target} HTTP/1.1\r\nHost: race.test\r\n"
                   + (f"Content-Length: {len(body)}\r\n" if method == "POST" else "")
                   + "\r\n").encode() + body
            try:
                if sock is None:
                    sock = socket.create_connection(self.addr, timeout=READ_TIMEOUT)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    buf = b""
                sock.sendall(req)
                status, answer, buf, closes = read_response(sock, buf)
                outcome = "ok" if expected_ok(self.kind, method, target, body, status, answer) \
                    else (f"status {status}" if status != 200 else "mismatch")
            except Failure as e:
                outcome, closes = str(e), True
            except OSError as e:
                outcome, closes = f"error {e.__class__.__name__}", True
            self.results.append((method, gap, outcome))
            if closes or outcome != "ok":
                if sock is not None:
                    sock.close()
                sock = None
            if self.rng.random() < 0.5:
                gap = self.t * self.rng.uniform(0.5, 1.5)
            else:
                gap = self.t * self.rng.uniform(1 - NEAR, 1 + NEAR)
            time.sleep(min(gap, max(0.0, self.deadline - time.monotonic())))  # the idle gap
        if sock is not None:
            sock.close()


def run_load(addr, lanes, seconds, timeouts=KINDS, seed=1):
    """Runs every lane for `seconds`, its gaps around timeouts[kind]; returns
    {kind: summary}."""
    deadline = time.monotonic() + seconds
    threads = [Lane(addr, kind, prefix, timeouts[kind], deadline, seed * 100003 + i)
               for i, (kind, prefix, _) in enumerate(lanes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 4 * READ_TIMEOUT)
    out = {}
    for t in threads:
        s = out.setdefault(t.kind, {"requests": 0, "get": 0, "post": 0, "near": 0,
                                    "failed": 0, "failed_post": 0, "failures": {}})
        for method, gap, outcome in t.results:
            s["requests"] += 1
            s["get" if method == "GET" else "post"] += 1
            if gap is not None and abs(gap - t.t) <= NEAR * t.t:
                s["near"] += 1
            if outcome != "ok":
                s["failed"] += 1
                s["failed_post"] += method == "POST"
                s["failures"][outcome] = s["failures"].get(outcome, 0) + 1
    return out


# ---- the comparison ------------------------------------------------------------------------

def upstream_totals(admin):
    """kahttpd's /status upstreams, summed over every backend."""
    import http.client
    c = http.client.HTTPConnection(*admin, timeout=5)
    try:
        c.request("GET", "/status")
        ups = json.loads(c.getresponse().read()).get("upstreams", [])
    finally:
        c.close()
    keys = ("connects", "reuses", "retired_told", "retired_learned", "retired_max",
            "closed_idle", "stale_failures", "retries")
    return {k: sum(u.get(k, 0) for u in ups) for k in keys}


def nginx_error_counts(text):
    return {"prematurely closed": text.count("upstream prematurely closed connection"),
            "reset by peer": text.count("Connection reset by peer"),
            "other errors": sum(1 for line in text.splitlines() if "[error]" in line
                                and "prematurely closed" not in line
                                and "reset by peer" not in line)}


def run_one(proxy, workdir, backends, seconds, seed):
    if proxy == "kahttpd":
        p = KahttpdProxy(workdir, backends.routes())
        stats = lambda: upstream_totals(p.admin)  # noqa: E731
    else:
        p = NginxProxy(workdir, backends.routes(), usual=True)
        stats = lambda: nginx_error_counts(p.error_log())  # noqa: E731
    try:
        result = run_load(p.addr, backends.lanes, seconds, backends.timeouts, seed)
        return result, stats()
    finally:
        rc = p.stop()
        if proxy == "kahttpd" and rc not in (0, None):
            print(f"proxy_race: kahttpd exited {rc}", file=sys.stderr)


def table(results, seconds, lanes):
    """The side-by-side Markdown table of docs/proxy.md."""
    proxies = list(results)
    rows = ["| backend (idle timeout) | requests (GET / POST) | sent within 1 % of the timeout | "
            + " | ".join(f"failed through {p}" for p in proxies) + " |",
            "|---|---|---|" + "---|" * len(proxies)]
    names = {"node": "Node.js http, advertises 2 s, closes at 3 s", "gunicorn": "gunicorn, 2 s, silent",
             "nginx": "nginx, 1 s and 3 requests, silent", "silent": "test backend, 1 s, silent",
             "http10": "HTTP/1.0, close-delimited"}
    first = results[proxies[0]][0]
    totals = {p: 0 for p in proxies}
    for kind in KINDS:
        if kind not in first:
            continue
        cells = []
        for p in proxies:
            s = results[p][0][kind]
            totals[p] += s["failed"]
            detail = ", ".join(f"{v} {k}" for k, v in sorted(s["failures"].items()))
            cells.append(f"{s['failed']} of {s['requests']}" + (f" ({detail})" if detail else ""))
        rows.append(f"| {names[kind]} | {first[kind]['requests']} ({first[kind]['get']} / "
                    f"{first[kind]['post']}) | {first[kind]['near']} | " + " | ".join(cells) + " |")
    rows.append("| **all** | | | " + " | ".join(f"**{totals[p]}**" for p in proxies) + " |")
    notes = [f"{seconds:g} s, {lanes} lanes per backend kind, one worker each."]
    for p in proxies:
        notes.append(f"{p}: " + ", ".join(f"{k} {v}" for k, v in results[p][1].items()))
    return "\n".join(rows) + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--lanes", type=int, default=14,
                    help="clients (and ports) per backend kind; kahttpd takes at most 64 prefixes")
    ap.add_argument("--proxies", default="kahttpd,nginx")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--update-doc", metavar="FILE",
                    help="also write the table into FILE between its two RACE_TABLE markers")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 if any request failed through kahttpd")
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="proxy_race.") as d:
        for proxy in args.proxies.split(","):
            # Fresh backends per proxy, so that neither inherits the other's connections.
            backends = Backends(d, args.lanes)
            try:
                results[proxy] = run_one(proxy, d, backends, args.seconds, args.seed)
            finally:
                backends.stop()
            print(f"{proxy}: " + json.dumps(results[proxy]), file=sys.stderr)
    text = table(results, args.seconds, args.lanes)
    print(text, end="")
    if args.update_doc:
        update_doc(Path(args.update_doc), text, " ".join(sys.argv[1:]))
    if args.check and "kahttpd" in results:
        lost = sum(s["failed"] for s in results["kahttpd"][0].values())
        if lost:
            print(f"proxy_race: {lost} requests failed through kahttpd", file=sys.stderr)
            return 1
    return 0


def update_doc(path, text, argv):
    """Replaces what lies between the markers <!-- RACE_TABLE --> and
    <!-- /RACE_TABLE --> in path with the table."""
    doc = path.read_text()
    start, end = "<!-- RACE_TABLE -->", "<!-- /RACE_TABLE -->"
    assert start in doc and end in doc, f"{path}: no {start} ... {end} markers"
    head, rest = doc.split(start, 1)
    tail = rest.split(end, 1)[1]
    made = f"\n<!-- made by tests/e2e/proxy_race.py {argv}; do not edit -->\n"
    path.write_text(head + start + made + text + end + tail)


if __name__ == "__main__":
    sys.exit(main())
