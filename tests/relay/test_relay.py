"""
The delay relay (relay.py) against a known echo server in this process: the added
delay is measured by the clock both ends share (time.monotonic), each figure the
median of several exchanges with the direct path's median subtracted, and must be
within 10 % of what was set. Also: one upstream connection per client connection,
opened at the accept; FINs passed on both ways; loopback only.

The relay runs as its own process, started like the tests start kahttpd: on port 0,
ready when it prints its listening line.
"""
import os
import re
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

RELAY = Path(__file__).resolve().parent / "relay.py"
READY_RE = re.compile(r"^relay: listening on (\S+):(\d+)$")
TIMEOUT = 10.0
TOLERANCE = 0.10
ROUNDS = 9


class Echo:
    """Echo server on a free loopback port, one thread per connection. Records the
    monotonic time of every accept and of every piece it receives; answers b'bye\\n'
    by echoing it and closing."""

    def __init__(self):
        self.lsock = socket.create_server(("127.0.0.1", 0))
        self.addr = self.lsock.getsockname()
        self.accepts = []
        self.received = []   # (conn index, time, data)
        self.eofs = []       # (conn index, time)
        self.resets = []     # conn index
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            with self.cond:
                self.accepts.append(time.monotonic())
                idx = len(self.accepts) - 1
                self.cond.notify_all()
            threading.Thread(target=self._serve, args=(s, idx), daemon=True).start()

    def _serve(self, s, idx):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with s:
            while True:
                try:
                    data = s.recv(65536)
                except OSError:
                    with self.cond:
                        self.resets.append(idx)
                        self.cond.notify_all()
                    return
                now = time.monotonic()
                with self.cond:
                    if data:
                        self.received.append((idx, now, data))
                    else:
                        self.eofs.append((idx, now))
                    self.cond.notify_all()
                if not data:
                    return
                s.sendall(data)
                if data.endswith(b"bye\n"):
                    return

    def wait(self, cond, what):
        with self.cond:
            assert self.cond.wait_for(cond, TIMEOUT), f"echo server: no {what} within {TIMEOUT}s"

    def close(self):
        self.lsock.close()


class RelayProc:
    def __init__(self, upstream, rtt_ms, listen="127.0.0.1:0"):
        self.proc = subprocess.Popen(
            [sys.executable, str(RELAY), "--listen", listen, "--upstream",
             f"{upstream[0]}:{upstream[1]}", "--rtt-ms", str(rtt_ms)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = READY_RE.match(line.strip())
        assert m, f"relay did not print its listening line: {line!r} {self.proc.stderr.read()!r}"
        self.addr = (m.group(1).strip("[]"), int(m.group(2)))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(TIMEOUT)
        err = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return rc, err


@pytest.fixture
def echo():
    e = Echo()
    yield e
    e.close()


@pytest.fixture
def relay():
    started = []

    def start(upstream, rtt_ms, **kw):
        r = RelayProc(upstream, rtt_ms, **kw)
        started.append(r)
        return r

    yield start
    for r in started:
        rc, err = r.stop()
        assert rc == 0 and "Traceback" not in err, f"relay exit {rc}: {err[-2000:]}"


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(65536)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    return data


def connect(addr):
    s = socket.create_connection(addr, timeout=TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def measure(addr, echo, rounds=ROUNDS):
    """Median seconds of: first round trip on a new connection (connect() to the echo
    read back), a later round trip on it, and the one-way time from send() to the echo
    server's receipt on an established connection."""
    first, later, one_way = [], [], []
    for i in range(rounds):
        s = connect(addr)
        t0 = time.monotonic()
        msg = b"first %d\n" % i
        s.sendall(msg)
        recv_exact(s, len(msg))
        first.append(time.monotonic() - t0)
        for j in range(2):
            msg = b"later %d %d\n" % (i, j)
            n_before = len(echo.received)
            t1 = time.monotonic()
            s.sendall(msg)
            recv_exact(s, len(msg))
            later.append(time.monotonic() - t1)
            echo.wait(lambda: len(echo.received) > n_before, "data")
            one_way.append(next(t for _, t, d in echo.received[n_before:] if d == msg) - t1)
        s.close()
    return statistics.median(first), statistics.median(later), statistics.median(one_way)


@pytest.mark.parametrize("rtt_ms", [50, 200])
def test_relay_added_delay_within_10_percent(echo, relay, rtt_ms):
    base_first, base_later, base_one_way = measure(echo.addr, echo)
    r = relay(echo.addr, rtt_ms)
    first, later, one_way = measure(r.addr, echo)
    rtt = rtt_ms / 1000.0
    added = {
        # a new connection: one RTT of handshake, then the round trip itself
        "first round trip on a new connection": (first - base_first, 2 * rtt),
        "round trip on an open connection": (later - base_later, rtt),
        "one way, client to server": (one_way - base_one_way, rtt / 2),
    }
    report = {k: f"{v[0] * 1000:.1f} ms (expected {v[1] * 1000:.0f})" for k, v in added.items()}
    for what, (got, want) in added.items():
        assert abs(got - want) <= TOLERANCE * want, f"{what}: {report}"


def test_relay_zero_rtt_adds_no_delay(echo, relay):
    base_first, base_later, _ = measure(echo.addr, echo)
    r = relay(echo.addr, 0)
    first, later, _ = measure(r.addr, echo)
    # Only the relay's own copying: far below any RTT the tests use (5 ms is 10 % of 50).
    assert first - base_first < 0.005 and later - base_later < 0.005, (first, later)


def test_relay_opens_one_upstream_per_client_at_accept(echo, relay):
    r = relay(echo.addr, 100)
    socks = [connect(r.addr) for _ in range(3)]
    # Nothing sent yet: the relay has already connected upstream, once per client.
    echo.wait(lambda: len(echo.accepts) == 3, "3 upstream connections")
    for i, s in enumerate(socks):
        msg = b"conn %d\n" % i
        s.sendall(msg)
        assert recv_exact(s, len(msg)) == msg
    by_conn = {}
    for idx, _, data in echo.received:
        by_conn.setdefault(idx, b"")
        by_conn[idx] += data
    assert sorted(by_conn.values()) == [b"conn 0\n", b"conn 1\n", b"conn 2\n"], by_conn
    assert len(echo.accepts) == 3
    for s in socks:
        s.close()


def test_relay_passes_client_fin_upstream_and_server_close_back(echo, relay):
    rtt_ms = 100
    r = relay(echo.addr, rtt_ms)
    s = connect(r.addr)
    s.sendall(b"hello\n")
    assert recv_exact(s, 6) == b"hello\n"
    t_shut = time.monotonic()
    s.shutdown(socket.SHUT_WR)
    echo.wait(lambda: echo.eofs, "EOF from the relay")
    # The FIN travels like data: RTT/2 late.
    assert abs((echo.eofs[0][1] - t_shut) - rtt_ms / 2000) <= TOLERANCE * rtt_ms / 1000, echo.eofs
    assert s.recv(100) == b""  # the echo server then closed: passed back as EOF
    s.close()

    # And the other way: the server closes first, the client sees the data then EOF.
    s = connect(r.addr)
    s.sendall(b"bye\n")
    assert recv_exact(s, 4) == b"bye\n"
    assert s.recv(100) == b""
    s.close()


def test_relay_passes_a_reset_on(echo, relay):
    r = relay(echo.addr, 20)
    s = connect(r.addr)
    s.sendall(b"hello\n")
    assert recv_exact(s, 6) == b"hello\n"
    # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    echo.wait(lambda: echo.resets, "reset passed on by the relay")
    assert echo.eofs == [], "the relay turned a reset into a FIN"


def test_relay_listens_on_loopback_only(echo):
    rc = subprocess.run([sys.executable, str(RELAY), "--listen", "0.0.0.0:0", "--upstream",
                         f"127.0.0.1:{echo.addr[1]}"], capture_output=True, text=True, timeout=TIMEOUT)
    assert rc.returncode == 2 and "loopback" in rc.stderr, rc


def test_relay_ipv6_loopback(relay):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        lsock = socket.create_server(("::1", 0), family=socket.AF_INET6)
    except OSError:
        pytest.skip("::1 not available")
    with lsock:
        r = relay(lsock.getsockname()[:2], 0, listen="[::1]:0")
        assert r.addr[0] == "::1"
        s = socket.create_connection(r.addr, timeout=TIMEOUT)
        up, _ = lsock.accept()
        s.sendall(b"x")
        assert up.recv(1) == b"x"
        up.close()
        s.close()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"] + sys.argv[1:]))
