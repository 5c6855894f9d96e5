"""
The --admin listener seen from a client, and readers for what the server writes about
its connections: access-log lines, trace lines, Prometheus text.

Counters are published by the worker a moment after it closes a socket, so a test that
has just seen a FIN waits for the figures it expects (wait_for, with a deadline) and
then asserts them exactly.
"""
import http.client
import json
import re
import signal
from datetime import datetime

from waiting import admin_addr, wait_for  # noqa: F401  (admin_addr: for the tests)


CLOSE_REASONS = ("keepalive_timeout", "keepalive_requests", "keepalive_time", "client_close",
                 "connection_close", "header_timeout", "io_timeout", "bad_request",
                 "tcp_keepalive", "evicted", "shutdown", "error", "tls_handshake")
STATES = ("reading", "processing", "writing", "idle", "lingering")
RPC_LE = [1, 2, 5, 10, 100, 1000, "+Inf"]
LIFE_LE = [0.1, 1, 5, 15, 60, 300, 1800, 3600, "+Inf"]


class Admin:
    """One request per fresh connection to the admin listener (http.client)."""

    def __init__(self, addr, timeout=5.0):
        self.addr = addr
        self.timeout = timeout

    def get(self, path, method="GET"):
        """(status, headers as a lower-cased dict, body bytes)."""
        conn = http.client.HTTPConnection(*self.addr, timeout=self.timeout)
        try:
            conn.request(method, path)
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def json(self, path):
        status, headers, body = self.get(path)
        assert status == 200, f"{path}: {status} {body[:300]!r}"
        assert headers.get("content-type", "").startswith("application/json"), headers
        return json.loads(body)

    def status(self):
        return self.json("/status")

    def connections(self):
        return self.json("/connections")

    def metrics(self):
        status, headers, body = self.get("/metrics")
        assert status == 200, f"/metrics: {status} {body[:300]!r}"
        assert headers.get("content-type", "").startswith("text/plain"), headers
        return body.decode()

    def wait_status(self, cond, what, timeout=5.0):
        return wait_for(self.status, cond, timeout, what)

    def wait_closed(self, n, timeout=5.0):
        """The /status once at least n connections have been counted closed (the test
        then asserts the exact figures)."""
        return self.wait_status(lambda s: sum(s["closed"].values()) >= n,
                                f"{n} closed connection(s) in /status", timeout)

    def wait_connections(self, cond, what, timeout=5.0):
        return wait_for(self.connections, cond, timeout, what)


def closed_counts(**nonzero):
    """The full "closed" object of /status with the given reasons non-zero."""
    unknown = set(nonzero) - set(CLOSE_REASONS)
    assert not unknown, unknown
    return {r: nonzero.get(r, 0) for r in CLOSE_REASONS}


def bucket_counts(bounds, *values):
    """Non-cumulative histogram counts, as /status gives them, for these observations."""
    counts = [0] * len(bounds)
    for v in values:
        counts[next(i for i, b in enumerate(bounds) if b == "+Inf" or v <= b)] += 1
    return counts


def peer_text(sock):
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def terminate(srv, timeout=10.0):
    """SIGTERM to a server this test started; waits and checks it exited 0. The fixture's
    teardown then finds it gone and still checks stderr."""
    srv.proc.send_signal(signal.SIGTERM)
    rc = srv.proc.wait(timeout)
    assert rc == 0, f"exit status {rc} after SIGTERM; stderr {srv.stderr_text()[-2000:]!r}"


# ---- the connection trace (--trace-connections, stderr) ------------------------------------

TRACE_LINE_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6})Z conn=(\d+|-) ([a-z_]+)((?: [a-z_]+=\S*)*)$")


class TraceEvent:
    def __init__(self, ts, conn, event, kv, line):
        self.ts, self.conn, self.event, self.kv, self.line = ts, conn, event, kv, line

    def __repr__(self):
        return self.line


def trace_events(stderr_text):
    """Every trace line on stderr, parsed; a line that starts like one but does not
    have the format fails the test."""
    events = []
    for line in stderr_text.splitlines():
        if not re.match(r"^\d{4}-\d\d-\d\dT", line):
            continue
        m = TRACE_LINE_RE.match(line)
        assert m, f"malformed trace line {line!r}"
        kv = dict(item.split("=", 1) for item in m.group(4).split())
        ts = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f")
        conn = int(m.group(2)) if m.group(2) != "-" else None  # None: the proxy pool's own
        events.append(TraceEvent(ts, conn, m.group(3), kv, line))
    return events


def trace_of(events, conn_id):
    return [e for e in events if e.conn == conn_id]


def wait_trace(srv, cond, what, timeout=5.0):
    return wait_for(lambda: trace_events(srv.stderr_text()), cond, timeout, what)


# ---- the access log -----------------------------------------------------------------------

# A quoted field holds printable ASCII except '"' and '\', and \xHH escapes.
_Q = r'((?:[^"\\\x00-\x1f\x7f-\xff]|\\x[0-9a-f]{2})*)'
LOG_LINE_RE = re.compile(
    r'^(?P<host>\S+) - - \[(?P<time>\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000)\] '
    r'"' + _Q.replace("(", "(?P<request>", 1) + r'" (?P<status>\d{3}) (?P<size>\d+|-) '
    r'"' + _Q.replace("(", "(?P<referer>", 1) + r'" "' + _Q.replace("(", "(?P<ua>", 1) + r'" '
    r'conn=(?P<conn>\d+) req=(?P<req>\d+) persist=(?P<persist>keep-alive|close) '
    r'dur_ms=(?P<dur_ms>\d+)$')


def log_entries(text):
    """Every line of an access log, parsed; a line of any other shape fails the test."""
    out = []
    for line in text.splitlines():
        m = LOG_LINE_RE.match(line)
        assert m, f"access-log line not in the expected format: {line!r}"
        d = m.groupdict()
        for k in ("conn", "req", "dur_ms", "status"):
            d[k] = int(d[k])
        d["line"] = line
        out.append(d)
    return out


def read_log(path):
    try:
        return path.read_text(encoding="latin-1")
    except FileNotFoundError:
        return ""


def wait_log(path, n, timeout=3.0):
    """The log's entries once it holds at least n lines."""
    text = wait_for(lambda: read_log(path), lambda t: t.count("\n") >= n, timeout,
                    f"{n} line(s) in {path}")
    return log_entries(text)


# ---- Prometheus text --------------------------------------------------------------------

_SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$")
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """{(name, ((label, value), ...)): float} for every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE_RE.match(line)
        assert m, f"bad sample line {line!r}"
        labels = tuple(sorted(_LABEL_RE.findall(m.group(2) or "")))
        key = (m.group(1), labels)
        assert key not in out, f"duplicate sample {line!r}"
        out[key] = float(m.group(3))
    return out
