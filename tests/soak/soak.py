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

This file is the driver and the checks; the clients and their mixes are in clients.py,
the server's settings and the document root in settings.py.
"""
import argparse
import collections
import json
import os
import queue
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
from conftest import Conn, http_request, make_cert  # noqa: E402  (the e2e harness)
from waiting import admin_get, stop_process  # noqa: E402

from clients import Client  # noqa: E402  (this directory: the script's own)
from settings import (BACKEND_KEEPALIVE, HEADER_TIMEOUT, IO_TIMEOUT, KEEPALIVE_GRACE,  # noqa: E402
                      KEEPALIVE_TIMEOUT, LINGER, PROXY_PREFIX, READ_TIMEOUT, REQUEST_CAP, SLACK,
                      WORKERS, make_root)

SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                     "ThreadSanitizer", "MemorySanitizer")
READY_RE = re.compile(rb"^kahttpd: (listening|admin) on (https?)://(\[[^\]]+\]|[^:\s]+):(\d+)\s*$")
START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0
RSS_GROWTH_MAX = 0.05
QUARANTINE_MB = 2          # ASan's quarantine of freed memory (see main())
GLIBC_TUNABLES = "glibc.malloc.mmap_threshold=65536:glibc.malloc.trim_threshold=131072"
FLUSH_ECHOES = 32          # 100 KiB echoes before each measurement (Server.flush)


# ---- the server ---------------------------------------------------------------------------

def start_backend(binary, root, workdir, env):
    """The reverse proxy's backend: another kahttpd on the same files, with a short
    idle timeout. Returns (process, port)."""
    args = [binary, "--listen", "127.0.0.1:0", "--root", str(root), "--workers", "1",
            "--keepalive-timeout", str(BACKEND_KEEPALIVE), "--keepalive-grace", "0.5"]
    with open(workdir / "backend.stderr", "wb") as err:
        proc = subprocess.Popen(args, cwd=workdir, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=err, env=dict(os.environ, **env))
    line = proc.stdout.readline()
    m = READY_RE.match(line)
    if not m:
        proc.kill()
        raise SystemExit(f"soak: the backend kahttpd did not start: {line!r}")
    return proc, int(m.group(4))


class Server:
    def __init__(self, binary, root, workdir, extra_env, backend_port):
        self.stderr_path = workdir / "kahttpd.stderr"
        self._stderr = open(self.stderr_path, "wb")
        self.cert = make_cert(workdir)  # conftest's
        self.args = [binary, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
                     "--tls-listen", "127.0.0.1:0", "--tls-cert", str(self.cert[0]),
                     "--tls-key", str(self.cert[1]),
                     "--root", str(root), "--workers", str(WORKERS), "--demo",
                     "--keepalive-timeout", str(KEEPALIVE_TIMEOUT),
                     "--keepalive-grace", str(KEEPALIVE_GRACE),
                     "--keepalive-requests", str(REQUEST_CAP),
                     "--header-timeout", str(HEADER_TIMEOUT), "--io-timeout", str(IO_TIMEOUT),
                     "--max-body-size", "1048576",
                     "--proxy", f"{PROXY_PREFIX}=http://127.0.0.1:{backend_port}"]
        env = dict(os.environ, **extra_env)
        self.proc = subprocess.Popen(self.args, cwd=workdir, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self._stderr, env=env)
        self.lines = queue.Queue()
        threading.Thread(target=self._drain, daemon=True).start()
        self.addr = self.admin = self.tls_addr = None
        deadline = time.monotonic() + START_TIMEOUT
        while self.addr is None or self.admin is None or self.tls_addr is None:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise SystemExit(f"soak: kahttpd not ready within {START_TIMEOUT}s")
            if line is None:
                raise SystemExit(f"soak: kahttpd exited ({self.proc.wait()}) before it was "
                                 f"ready:\n{self.stderr_text()[-2000:]}")
            m = READY_RE.match(line)
            if m:
                addr = (m.group(3).decode().strip("[]"), int(m.group(4)))
                if m.group(1) == b"admin":
                    self.admin = addr
                elif m.group(2) == b"https":
                    self.tls_addr = addr
                else:
                    self.addr = addr

    def _drain(self):
        for line in iter(self.proc.stdout.readline, b""):
            self.lines.put(line)
        self.lines.put(None)

    def admin_get(self, path):
        return admin_get(self.admin, path, READ_TIMEOUT)

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
        """Polls /status until no client connection is open and the proxy's pool has
        retired every backend connection, or the deadline."""
        deadline = time.monotonic() + deadline_s
        while True:
            st = self.status()
            pooled = sum(u["open"] for u in st["upstreams"])
            if (st["connections"]["active"] == 0 and pooled == 0) or time.monotonic() >= deadline:
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
        rc = stop_process(self.proc, STOP_TIMEOUT)
        self._stderr.close()
        return rc, self.stderr_text()

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
        # ASan also keeps, for ever, every distinct stack that allocated (its stack
        # depot); OpenSSL's handshakes (full, resumed, failed) allocate from so many
        # that the depot grows through the whole run: +10 % with 4 frames recorded,
        # +0.6 % with none, while the normal build stays flat. One frame (the call
        # site) bounds it; a problem the soak finds is rerun with its --seed under the
        # full stacks of the end-to-end suite's settings.
        env = {"ASAN_OPTIONS": f"quarantine_size_mb={QUARANTINE_MB}:"
                               "thread_local_quarantine_size_kb=64:detect_leaks=1:"
                               "malloc_context_size=1:"
                               + os.environ.get("ASAN_OPTIONS", ""),
               "UBSAN_OPTIONS": os.environ.get("UBSAN_OPTIONS",
                                               "print_stacktrace=1:halt_on_error=1"),
               # The normal build: glibc's malloc moves its mmap and trim thresholds with
               # what it has seen freed, so the warm-up's peak could stay in the heap
               # and be trimmed later, or not. Fixed thresholds make large bodies come
               # and go with mmap, as under ASan.
               "GLIBC_TUNABLES": os.environ.get("GLIBC_TUNABLES", GLIBC_TUNABLES)}
        backend, backend_port = start_backend(binary, tmp / "www", tmp, env)
        server = Server(binary, tmp / "www", tmp, env, backend_port)
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
            stop_process(backend, STOP_TIMEOUT)
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
        if stop_process(backend, STOP_TIMEOUT) != 0:
            failures.append("the backend kahttpd did not exit 0 after SIGTERM")
        pool = {k: sum(u[k] for u in st["upstreams"]) for k in
                ("connects", "reuses", "retired_told", "retired_max", "closed_idle",
                 "stale_failures", "retries")}
        pool["failures"] = sum(sum(u["failures"].values()) for u in st["upstreams"])
        print(f"soak: proxy pool: {json.dumps(pool)}", flush=True)
        if pool["failures"]:
            failures.append(f"proxied requests failed: {pool}")
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
