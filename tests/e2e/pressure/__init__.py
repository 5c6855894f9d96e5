"""
Helpers for the issue 5 tests (test_pressure.py, test_drain.py, test_slow_clients.py):
the --admin /status figures, the --trace-connections lines with their timestamps as
epoch seconds (so they can be set against the client's own time.time()), the state of a
client socket seen without blocking, and waiting for many sockets to be closed.

Like the rest of the suite they see the server only from outside: its stdout, its
stderr file and its sockets. Waiting is always done by reading (a socket, the trace
file, /status) with a deadline, never by sleeping for the server.
"""
import errno
import re
import resource
import selectors
import socket
import time
from datetime import datetime, timezone

from waiting import admin_addr, admin_get, wait_for  # noqa: F401  (admin_addr: for the tests)

POLL_INTERVAL = 0.01       # s: these tests poll twice as often as waiting.wait_for
TRACE_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6})Z conn=(\d+) ([a-z_]+)((?: [a-z_]+=\S*)*)$")


# ---- --admin -------------------------------------------------------------------------------

def status(addr):
    """GET /status on the admin listener, parsed."""
    return admin_get(addr, "/status")


def wait_status(addr, cond, what, timeout=5.0):
    return wait_for(lambda: status(addr), cond, timeout, what, POLL_INTERVAL)


def closed_nonzero(st):
    """The close reasons of /status that are not zero, e.g. {'evicted': 2}."""
    return {k: v for k, v in st["closed"].items() if v}


# ---- --trace-connections -------------------------------------------------------------------

class Event:
    __slots__ = ("ts", "conn", "event", "kv", "line")

    def __init__(self, ts, conn, event, kv, line):
        self.ts, self.conn, self.event, self.kv, self.line = ts, conn, event, kv, line

    def __repr__(self):
        return self.line


def trace(srv):
    """Every trace line the server has written to stderr so far. ts is the line's
    timestamp as epoch seconds (the server writes CLOCK_REALTIME, UTC, in µs)."""
    events = []
    for line in srv.stderr_text().splitlines():
        m = TRACE_RE.match(line)
        if not m:
            continue
        ts = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc)
        kv = dict(item.split("=", 1) for item in m.group(4).split())
        events.append(Event(ts.timestamp(), int(m.group(2)), m.group(3), kv, line))
    return events


class TraceTail:
    """The trace read incrementally: poll() parses only the lines written since the
    last call (a test that reads the trace often must not re-parse thousands of lines
    each time) and returns every event so far."""

    def __init__(self, srv):
        self.path = srv.stderr_path
        self.pos = 0
        self.partial = b""
        self.events = []
        self._seconds = {}

    def _epoch(self, stamp):
        whole, frac = stamp.split(".")
        base = self._seconds.get(whole)
        if base is None:
            base = self._seconds[whole] = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(
                tzinfo=timezone.utc).timestamp()
        return base + int(frac) / 1e6

    def poll(self):
        with open(self.path, "rb") as f:
            f.seek(self.pos)
            data = f.read()
        self.pos += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        for raw in lines:
            m = TRACE_RE.match(raw.decode("latin-1"))
            if m:
                kv = dict(item.split("=", 1) for item in m.group(4).split())
                self.events.append(Event(self._epoch(m.group(1)), int(m.group(2)), m.group(3), kv,
                                         m.group(0)))
        return self.events

    def wait(self, cond, what, timeout=5.0):
        return wait_for(self.poll, cond, timeout, what, POLL_INTERVAL)


def local_peer(sock):
    """The peer= text the server traces for the connection of this client socket."""
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def conn_ids(events, socks):
    """{socket: server connection id}, from the accept lines' peer= field."""
    by_peer = {e.kv.get("peer"): e.conn for e in events if e.event == "accept"}
    return {s: by_peer.get(local_peer(s)) for s in socks}


def wait_trace(srv, cond, what, timeout=5.0):
    """The trace once cond(events) holds."""
    return wait_for(lambda: trace(srv), cond, timeout, what, POLL_INTERVAL)


def wait_accepted(srv, socks, timeout=5.0):
    """{socket: conn id} once the server has traced the accept of every socket."""
    def ids():
        return conn_ids(trace(srv), socks)
    return wait_for(ids, lambda m: all(v is not None for v in m.values()), timeout,
                    "accept trace lines for every client socket", POLL_INTERVAL)


def closes(events):
    """{conn id: close event}."""
    return {e.conn: e for e in events if e.event == "close"}


# ---- client sockets ------------------------------------------------------------------------

def peek_state(sock):
    """What a client socket can tell without blocking: 'open' (nothing to read),
    'data', 'fin' (the server closed, EOF), or 'rst'."""
    timeout = sock.gettimeout()
    sock.settimeout(0)  # a socket with a timeout would wait out EAGAIN in poll()
    try:
        data = sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return "open"
    except ConnectionResetError:
        return "rst"
    finally:
        sock.settimeout(timeout)
    return "data" if data else "fin"


def wait_closed(socks, timeout):
    """Reads every socket until the server closes it or timeout seconds pass.
    Returns {socket: (how, monotonic time of the close or None, bytes read)} with how
    'fin', 'rst' or 'open' (still open at the deadline)."""
    sel = selectors.DefaultSelector()
    out = {}
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        out[s] = ("open", None, b"")
    deadline = time.monotonic() + timeout
    pending = set(socks)
    while pending:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        for key, _ in sel.select(remaining):
            s = key.fileobj
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                out[s] = ("rst", time.monotonic(), out[s][2])
            else:
                if data:
                    out[s] = ("open", None, out[s][2] + data)
                    continue
                out[s] = ("fin", time.monotonic(), out[s][2])
            sel.unregister(s)
            pending.discard(s)
    sel.close()
    for s in socks:
        s.setblocking(True)
    return out


def connect_refused(addr, timeout=2.0):
    """'refused' when connect() fails with ECONNREFUSED, 'connected' otherwise
    (the socket is closed again)."""
    s = socket.socket(socket.AF_INET6 if ":" in addr[0] else socket.AF_INET)
    s.settimeout(timeout)
    try:
        s.connect(addr)
    except ConnectionRefusedError:
        return "refused"
    except OSError as e:
        return f"connect failed: {errno.errorcode.get(e.errno, e.errno)}"
    finally:
        s.close()
    return "connected"


# ---- limits --------------------------------------------------------------------------------

def raise_nofile(want):
    """Raises this process's RLIMIT_NOFILE soft limit to at least want (and the hard
    limit too when allowed, as root). Returns the previous (soft, hard) so the caller
    can restore it, or None when the limit cannot reach want."""
    old = resource.getrlimit(resource.RLIMIT_NOFILE)
    soft, hard = old
    if soft >= want:
        return old
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return old
        except (ValueError, OSError):
            return None
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return old


def process_nofile(pid):
    """The soft 'Max open files' limit of a running process, from /proc."""
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    raise AssertionError(f"no 'Max open files' in /proc/{pid}/limits")
