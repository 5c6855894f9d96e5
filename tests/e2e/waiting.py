"""
Waiting on a kahttpd from outside, written once for every harness that starts one: the
e2e suite (conftest.py, pressure/, obs/), the soak test (tests/soak/) and the browser
page loads (tests/browser/pageload.py). Only the standard library, so that scripts
outside pytest can import it: they put tests/e2e on sys.path, as pytest does for its
rootdir.

Waiting is polling with a deadline (wait_for): the figures are read, never assumed,
and nothing sleeps to synchronise with the server.
"""
import http.client
import json
import re
import signal
import subprocess
import time

POLL_INTERVAL = 0.02       # s between two reads in wait_for
ADMIN_LINE_TIMEOUT = 5.0   # s; the admin line comes with the listening lines
ADMIN_RE = re.compile(r"^kahttpd: admin on http://(\[[^\]]+\]|[^:\s]+):(\d+)\s*$")


def wait_for(fetch, cond, timeout, what, interval=POLL_INTERVAL):
    """Calls fetch() until cond(value) holds, for at most timeout seconds; returns the
    value. On the deadline, fails with what and the last value seen."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if cond(value):
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout}s; last seen {value!r}"[:3000])
        time.sleep(interval)


def admin_addr(srv, timeout=ADMIN_LINE_TIMEOUT):
    """(host, port) from the server's 'kahttpd: admin on http://HOST:PORT' line, for a
    conftest.py Server: its reader thread keeps collecting stdout (srv.stdout_lines)
    after the ready line, and the admin line is printed together with the listening
    lines."""
    def find():
        for raw in list(srv.stdout_lines):
            m = ADMIN_RE.match(raw.decode("latin-1"))
            if m:
                return m.group(1).strip("[]"), int(m.group(2))
        return None
    return wait_for(find, lambda v: v is not None, timeout,
                    f"admin line on stdout (got {srv.stdout_lines!r})")


def admin_get(addr, path="/status", timeout=5.0):
    """GET path (/status, /connections) on the admin listener at addr, parsed from
    JSON; fails unless it answers 200."""
    conn = http.client.HTTPConnection(*addr, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        assert r.status == 200, f"{path} answered {r.status}: {body[:300]!r}"
        return json.loads(body)
    finally:
        conn.close()


def stop_process(proc, timeout):
    """SIGTERM unless it has already exited, then wait up to timeout seconds; past that,
    SIGKILL. Returns the exit status, or None when it had to be killed."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None
