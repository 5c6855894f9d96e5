"""
One page load of www/page/ in a real browser, through the delay relay, counted on the
server's side. Used by the end-to-end test (tests/e2e/test_browser.py) and by
`make browser-report` (report.py).

A load: kahttpd is already running with --admin and --access-log; a relay
(tests/relay/relay.py) is started in front of it with the round-trip time asked for;
load.cjs opens the page through the relay in a new chromium with a new profile and
prints what the browser saw; then, once kahttpd has no connection left open, its
/status gives the connections it accepted and the requests it received during the
load, and its access log (conn=ID req=N on every line) gives the requests of each
connection. A connection accepted that never carried a request (a browser's unused
preconnect) shows up as accepted minus the connections in the log.

Over HTTPS (kahttpd started with tls=make_cert(...), load_page(..., scheme="https"))
the relay carries the TLS bytes unchanged (it copies bytes and parses nothing), chromium
is told to accept the self-signed certificate, and /status adds the TLS handshakes of
the load, full and resumed from a session ticket; the access log says which connections
resumed (tls=1.3 resumed=0|1 on every line).

Nothing here sleeps to synchronise: processes announce themselves on stdout, and
server figures are polled with a deadline until they are complete.
"""
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
# The e2e suite's helpers for waiting on a server (stdlib only); appended, so that
# nothing there shadows a module of this directory's scripts.
sys.path.append(str(REPO / "tests" / "e2e"))
from waiting import admin_get, stop_process, wait_for  # noqa: E402

WWW = REPO / "www"
PAGE_PATH = "/page/"
LOAD_MJS = HERE / "load.cjs"
RELAY = REPO / "tests" / "relay" / "relay.py"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
NODE = shutil.which("node")

# The page: what a complete load must have fetched (and nothing else).
PAGE_RESOURCES = (["", "css/base.css", "css/layout.css", "css/gallery.css"]
                  + ["js/%s.js" % n for n in ("data", "toc", "gallery", "resources", "timing",
                                               "facts", "footer")]
                  + ["img/icon-%d.png" % n for n in range(1, 7)]
                  + ["img/photo-%02d.png" % n for n in range(1, 25)])

START_TIMEOUT = 15.0
BROWSER_TIMEOUT = 90.0
SETTLE_TIMEOUT = 10.0  # browser gone -> kahttpd has closed every connection, log flushed

LISTEN_RE = re.compile(r"^kahttpd: listening on http://([^\s]+):(\d+)$")
TLS_LISTEN_RE = re.compile(r"^kahttpd: listening on https://([^\s]+):(\d+)$")
ADMIN_RE = re.compile(r"^kahttpd: admin on http://([^\s]+):(\d+)$")
RELAY_RE = re.compile(r"^relay: listening on (\S+):(\d+)$")
LOG_RE = re.compile(r'"(?P<method>[A-Z]+) (?P<target>\S+) HTTP/1\.[01]" (?P<status>\d{3}) .*'
                    r' conn=(?P<conn>\d+) req=(?P<req>\d+) persist=(?P<persist>[a-z-]+) '
                    r'(?:.* tls=(?P<tls>\S+) resumed=(?P<resumed>[01]))?')


def missing_tools():
    """What this machine lacks to run a load (tests/deps.sh installs all of it)."""
    out = []
    if not os.access(CHROMIUM, os.X_OK):
        out.append("chromium (Debian package chromium)")
    if not NODE:
        out.append("node (Debian package nodejs)")
    if not (HERE / "node_modules" / "playwright-core" / "package.json").exists():
        out.append("playwright-core (tests/browser/setup.sh runs npm ci)")
    return out


class Proc:
    """A child process that announces itself on stdout; stopped with SIGTERM."""

    def __init__(self, argv, stderr_path):
        self.argv = argv
        self.stderr_path = stderr_path
        self._err = open(stderr_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._err, text=True)
        self.lines = []
        self._queue = queue.Queue()
        # Drained by a thread, so a process never blocks on a full pipe.
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self):
        for line in iter(self.proc.stdout.readline, ""):
            self._queue.put(line)
        self._queue.put(None)

    def wait_lines(self, regexes):
        """Reads stdout until each regex has matched a line; returns the matches."""
        found = [None] * len(regexes)
        deadline = time.monotonic() + START_TIMEOUT
        while None in found:
            try:
                line = self._queue.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"{self.argv[0]}: no ready line within {START_TIMEOUT}s: "
                                     f"{self.lines!r}") from None
            if line is None:
                raise AssertionError(f"{' '.join(self.argv)} exited ({self.proc.wait()}): "
                                     f"{self.lines!r} {self.stderr()[-2000:]!r}")
            self.lines.append(line)
            for i, rx in enumerate(regexes):
                m = rx.match(line.strip())
                if m and found[i] is None:
                    found[i] = m
        return found

    def stderr(self):
        return Path(self.stderr_path).read_text(errors="replace")

    def stop(self, timeout=10.0):
        """SIGTERM; returns the exit status, or None when it had to be killed."""
        rc = stop_process(self.proc, timeout)
        self._reader.join(5)
        self.proc.stdout.close()
        self._err.close()
        return rc


def addr_of(m):
    return m.group(1).strip("[]"), int(m.group(2))


def make_cert(dirpath):
    """An ECDSA P-256 self-signed certificate for localhost and 127.0.0.1, made with
    the openssl command: (cert path, key path)."""
    cert, key = Path(dirpath) / "localhost.crt", Path(dirpath) / "localhost.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=30)
    return cert, key


class Kahttpd(Proc):
    """kahttpd on port 0 serving www/ with an admin listener and an access log (for
    report.py; the e2e test uses its own harness). With tls=(cert, key) it also listens
    for HTTPS on port 0: tls_addr."""

    def __init__(self, binary, workdir, keepalive, extra=(), tls=None):
        self.log_path = workdir / "access.log"
        if self.log_path.exists():
            self.log_path.unlink()  # the log appends; counting starts from an empty one
        args = [str(binary), "--listen", "127.0.0.1:0", "--root", str(WWW),
                "--admin", "127.0.0.1:0", "--access-log", str(self.log_path), *extra]
        if not keepalive:
            args += ["--keepalive-timeout", "0"]
        if tls:
            args += ["--tls-listen", "127.0.0.1:0", "--tls-cert", str(tls[0]),
                     "--tls-key", str(tls[1])]
        super().__init__(args, workdir / "kahttpd.stderr")
        wanted = [LISTEN_RE, ADMIN_RE] + ([TLS_LISTEN_RE] if tls else [])
        found = self.wait_lines(wanted)
        self.addr, self.admin = addr_of(found[0]), addr_of(found[1])
        self.tls_addr = addr_of(found[2]) if tls else None


class Relay(Proc):
    def __init__(self, upstream, rtt_ms, workdir):
        super().__init__([sys.executable, str(RELAY), "--listen", "127.0.0.1:0", "--upstream",
                          f"{upstream[0]}:{upstream[1]}", "--rtt-ms", str(rtt_ms)],
                         workdir / f"relay-{rtt_ms}.stderr")
        self.addr = addr_of(self.wait_lines([RELAY_RE])[0])


def log_lines(path):
    try:
        return Path(path).read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return []


def browse(url, workdir, screenshot=None):
    """Runs load.cjs on url in a new chromium with a new profile; returns its JSON."""
    profile = workdir / f"profile-{time.monotonic_ns()}"
    profile.mkdir(parents=True)
    cmd = [NODE, str(LOAD_MJS), "--url", url, "--profile", str(profile),
           "--timeout-ms", str(int(BROWSER_TIMEOUT * 1000 * 0.8))]
    if screenshot:
        cmd += ["--screenshot", str(screenshot)]
    env = dict(os.environ, HOME=str(workdir), PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1",
               CHROMIUM=CHROMIUM)
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=BROWSER_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError(f"browser load did not finish within {BROWSER_TIMEOUT}s: {cmd}") from None
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert proc.returncode == 0, f"load.cjs exited {proc.returncode}: {err.decode(errors='replace')[-3000:]}"
    return json.loads(out.decode().strip().splitlines()[-1])


def tls_counts(status):
    """The TLS figures of a /status (zeros from a kahttpd without them)."""
    tls = status.get("tls", {})
    hs = tls.get("handshakes", {})
    return {"full": hs.get("full", 0), "resumed": hs.get("resumed", 0),
            "failed": sum(tls.get("failed", {}).values())}


def load_page(server_addr, admin, log_path, rtt_ms, workdir, screenshot=None, scheme="http"):
    """One load of the page through a relay adding rtt_ms; returns a record of what the
    browser and the server saw. The server must be idle when it is called. server_addr
    is the listener of the scheme: kahttpd's tls_addr for "https"."""
    before = admin_get(admin)
    assert before["connections"]["active"] == 0, before["connections"]
    wait_for(lambda: len(log_lines(log_path)), lambda n: n == before["requests"], SETTLE_TIMEOUT,
             "access log complete before the load")
    relay = Relay(server_addr, rtt_ms, workdir)
    try:
        url = f"{scheme}://{relay.addr[0]}:{relay.addr[1]}{PAGE_PATH}"
        seen = browse(url, workdir, screenshot)
        # The browser has exited: every connection ends, through the relay.
        after = wait_for(lambda: admin_get(admin), lambda s: s["connections"]["active"] == 0,
                         SETTLE_TIMEOUT, "kahttpd: every connection closed after the browser exited")
    finally:
        relay_rc = relay.stop()
    assert relay_rc == 0 and "Traceback" not in relay.stderr(), relay.stderr()[-2000:]
    lines = wait_for(lambda: log_lines(log_path), lambda ls: len(ls) >= after["requests"],
                     SETTLE_TIMEOUT, "access log lines for every request")[before["requests"]:]
    per_conn = {}
    logged = []
    conn_tls = {}  # conn -> (version, resumed), over HTTPS
    for line in lines:
        m = LOG_RE.search(line)
        assert m, f"unexpected access log line {line!r}"
        logged.append((m["target"], int(m["status"]), m["persist"]))
        per_conn[m["conn"]] = max(per_conn.get(m["conn"], 0), int(m["req"]))
        if m["tls"]:
            conn_tls[m["conn"]] = (m["tls"], m["resumed"] == "1")
    accepted = after["accepted"] - before["accepted"]
    requests = after["requests"] - before["requests"]
    tls_before, tls_after = tls_counts(before), tls_counts(after)
    # Connections in the order kahttpd accepted them (conn ids grow): which resumed.
    order = sorted(conn_tls, key=int)
    return {
        "scheme": scheme,
        "rtt_ms": rtt_ms,
        "url": url,
        "browser": seen,
        "load_ms": seen["load_time_ms"],
        "accepted": accepted,
        "requests": requests,
        "requests_per_connection": sorted(per_conn.values(), reverse=True),
        "unused_connections": accepted - len(per_conn),
        "logged": logged,
        "tls_full": tls_after["full"] - tls_before["full"],
        "tls_resumed": tls_after["resumed"] - tls_before["resumed"],
        "tls_failed": tls_after["failed"] - tls_before["failed"],
        "tls_versions": sorted({conn_tls[c][0] for c in order}),
        "tls_resumed_in_order": [conn_tls[c][1] for c in order],
    }


def check_load(rec, keepalive):
    """The assertions of issue 9 on one load record; returns the list of problems."""
    problems = []
    seen = rec["browser"]
    prefix = rec["url"]
    wanted = sorted(prefix + p for p in PAGE_RESOURCES)
    got = sorted(r["url"] for r in seen["requests"])
    if got != wanted:
        problems.append(f"resources requested by the page differ: missing "
                        f"{sorted(set(wanted) - set(got))}, extra {sorted(set(got) - set(wanted))}")
    bad = [r for r in seen["requests"] if r["status"] != 200 or r["failure"]]
    if bad:
        problems.append(f"resources not loaded with 200: {bad}")
    if seen["console_errors"]:
        problems.append(f"console errors: {seen['console_errors']}")
    rendered = seen["rendered"]
    want_rendered = {"images": 30, "images_drawn": 30, "scripts": 7, "stylesheets": 3,
                     "captions": 24, "toc_items": 2, "facts": 6, "table_rows": 4, "table_total": "41"}
    diff = {k: (rendered.get(k), v) for k, v in want_rendered.items() if rendered.get(k) != v}
    if diff:
        problems.append(f"page not rendered as expected (got, want): {diff}")
    if rendered.get("stylesheet_rules", 0) < 20:
        problems.append(f"stylesheets not applied: {rendered}")
    if not rec["load_ms"] > 0:
        problems.append(f"no load time: {seen['navigation']}")
    bad_logged = [entry for entry in rec["logged"] if entry[1] != 200]
    if bad_logged:
        problems.append(f"kahttpd answered other than 200: {bad_logged}")
    if rec["requests"] != len(PAGE_RESOURCES):
        problems.append(f"kahttpd received {rec['requests']} requests, the page has {len(PAGE_RESOURCES)}")
    if rec.get("scheme") == "https":
        if rec["tls_full"] + rec["tls_resumed"] != rec["accepted"] or rec["tls_failed"]:
            problems.append(f"TLS: {rec['accepted']} connections accepted, handshakes "
                            f"{rec['tls_full']} full + {rec['tls_resumed']} resumed, "
                            f"{rec['tls_failed']} failed")
        if len(rec["tls_resumed_in_order"]) != len(rec["requests_per_connection"]):
            problems.append(f"TLS: the access log has no tls= on some line: {rec['logged']}")
        if not rec["url"].startswith("https://"):
            problems.append(f"TLS: loaded {rec['url']}")
    if keepalive:
        if rec["accepted"] > 8:
            problems.append(f"keep-alive: {rec['accepted']} connections accepted, more than 8")
    else:
        if rec["accepted"] != rec["requests"]:
            problems.append(f"without keep-alive: {rec['accepted']} connections accepted for "
                            f"{rec['requests']} requests")
        if any(entry[2] != "close" for entry in rec["logged"]):
            problems.append(f"without keep-alive a response was not the last on its connection: "
                            f"{rec['logged']}")
        if rec["requests_per_connection"] != [1] * rec["requests"]:
            problems.append(f"requests per connection: {rec['requests_per_connection']}")
    return problems
