"""
Issue 5, rule 6: graceful drain. On SIGTERM or SIGINT kahttpd stops accepting at once
(its listeners are closed, so a new client's connect is refused with ECONNREFUSED),
closes idle connections at once (FIN), lets requests in progress finish with
Connection: close, and exits 0 when the last connection is gone, or 1 after
--shutdown-timeout if it had to cut connections. SIGQUIT exits at once. Nothing a client
already sent in full is dropped without an answer.

The signal is sent only once the server is known to be in the state under test: a slow
request has its `request` trace line, an idle connection has had its response. What
happens next is read from the sockets and the exit status, with deadlines.
"""
import signal
import subprocess
import time

import pytest

from conftest import GET, STANDARD_FILES, assert_last, assert_persistent
from pressure import closes, conn_ids, connect_refused, trace, wait_accepted, wait_closed, wait_trace

B = STANDARD_FILES["b.txt"]
DRAIN_SIGNALS = [pytest.param(signal.SIGTERM, id="SIGTERM"), pytest.param(signal.SIGINT, id="SIGINT")]


def kept_alive(srv):
    """A connection that has had one persistent response and is now idle."""
    c = srv.connect()
    c.send(GET("/a.txt"))
    assert_persistent(c.read_response())
    return c


def in_progress(srv, ms):
    """A connection whose request (a slow handler of ms milliseconds) the server has
    begun: its `request` trace line is there."""
    c = srv.connect()
    c.send(GET(f"/_demo/sleep?ms={ms}"))
    ident = wait_accepted(srv, [c.sock])[c.sock]
    wait_trace(srv, lambda ev: any(e.event == "request" and e.conn == ident for e in ev),
               "the slow request begun")
    return c


@pytest.mark.parametrize("sig", DRAIN_SIGNALS)
def test_rule6_drain_closes_idle_at_once_answers_in_flight_refuses_new(server, sig):
    """Idle connections get a FIN at once (well within 0.5 s); a new client is refused
    (the listeners closed before the idle connections did); the request in progress
    (a 1.5 s handler) is allowed to finish and is answered with Connection: close; the
    server exits 0 as soon as that last connection is gone, long before the 10 s
    shutdown timeout."""
    srv = server("--demo", "--keepalive-timeout", "30", "--trace-connections")
    idle = [kept_alive(srv) for _ in range(3)]
    busy = in_progress(srv, 1500)
    t_sig = time.monotonic()
    srv.proc.send_signal(sig)

    result = wait_closed([c.sock for c in idle], 2.0)
    for i, c in enumerate(idle):
        how, t_close, data = result[c.sock]
        assert (how, data) == ("fin", b""), f"idle connection {i}: {how} after {data[:200]!r}"
        assert t_close - t_sig < 0.5, f"idle connection {i} closed {t_close - t_sig:.3f}s after the signal"
    assert connect_refused(srv.addr) == "refused", "a new connection was not refused during the drain"

    r = busy.read_response(timeout=5)
    assert (r.status, r.body) == (200, b"slept 1500 ms\n"), r
    assert_last(r)
    assert r.t_first - busy.t_sent >= 1.5 - 0.05, "the request in progress was cut short"
    assert busy.read_until_close(3) == (b"", "fin")
    busy.close()
    t_gone = time.monotonic()
    rc = srv.proc.wait(5)
    t_exit = time.monotonic()
    assert rc == 0, f"exit status {rc}"
    assert t_exit - t_gone < 1.0, f"exited {t_exit - t_gone:.3f}s after the last connection was gone"
    assert connect_refused(srv.addr) == "refused"

    events = trace(srv)
    ids = conn_ids(events, [c.sock for c in idle])
    ended = closes(events)
    for c in idle:
        assert (ended[ids[c.sock]].kv["reason"], ended[ids[c.sock]].kv["closed_by"]) == \
            ("shutdown", "server"), ended[ids[c.sock]]


def test_rule6_shutdown_timeout_cuts_requests_in_progress_and_exits_1(server, tmp_path):
    """With --shutdown-timeout 0.5, a request that would take 5 s is cut about 0.5 s
    after SIGTERM (no response: the connection just ends), and the exit status is 1.
    The access log still has its line: 444, closed by the server without an answer."""
    log = tmp_path / "access.log"
    srv = server("--demo", "--shutdown-timeout", "0.5", "--trace-connections", "--access-log", log)
    busy = in_progress(srv, 5000)
    t_sig = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    data, how = busy.read_until_close(4)
    t_cut = time.monotonic()
    assert data == b"" and how in ("fin", "rst"), (data[:200], how)
    assert 0.5 - 0.05 <= t_cut - t_sig <= 0.5 + 0.5, f"cut {t_cut - t_sig:.3f}s after SIGTERM"
    srv.expected_exit = 1
    rc = srv.proc.wait(3)
    assert rc == 1, f"exit status {rc}, expected 1 (connections were cut)"
    assert time.monotonic() - t_sig <= 1.5
    (line,) = log.read_text().splitlines()
    assert '"GET /_demo/sleep?ms=5000 HTTP/1.1" 444 - ' in line and "persist=close" in line, line


def test_rule6_sigquit_exits_at_once_even_with_request_in_progress(server):
    """SIGQUIT does not drain: the process is gone within 0.5 s although a 5 s request
    is in progress, and that client's connection just ends. (Its exit status is not
    specified; it must be an exit, not death by the signal.)"""
    srv = server("--demo", "--trace-connections")
    idle = kept_alive(srv)
    busy = in_progress(srv, 5000)
    t_sig = time.monotonic()
    srv.proc.send_signal(signal.SIGQUIT)
    rc = srv.proc.wait(3)
    t_exit = time.monotonic()
    srv.expected_exit = rc
    assert rc >= 0, f"killed by signal {-rc}, expected an exit"
    assert t_exit - t_sig < 0.5, f"exited {t_exit - t_sig:.3f}s after SIGQUIT"
    for c in (busy, idle):
        data, how = c.read_until_close(2)
        assert data == b"" and how in ("fin", "rst"), (data[:200], how)


def test_rule6_response_being_sent_at_sigterm_finishes_then_connection_closes(server, www):
    """A response already on its way when SIGTERM arrives (an 8 MB file to a client that
    has read only its head, so its head said keep-alive) is sent in full; then the
    connection must be closed at once like any idle one (FIN within 1 s of the last
    byte), and the server exits 0 right after, not held until --shutdown-timeout (10 s)
    and exiting 1. An idle witness connection's FIN shows that the drain has begun."""
    size = 8 * 1024 * 1024
    www.add("big.bin", bytes(range(256)) * (size // 256))
    srv = server("--keepalive-timeout", "30", "--trace-connections")
    witness = kept_alive(srv)
    c = srv.connect(rcvbuf=65536)
    c.send(GET("/big.bin"))
    head = bytearray()
    while b"\r\n\r\n" not in head:
        chunk = c.sock.recv(4096)
        assert chunk, bytes(head)
        head += chunk
    assert head.startswith(b"HTTP/1.1 200 ") and b"\r\nConnection: keep-alive\r\n" in head, bytes(head[:400])
    srv.proc.send_signal(signal.SIGTERM)
    assert witness.read_until_close(2) == (b"", "fin"), "the drain did not begin"
    got = len(head) - head.index(b"\r\n\r\n") - 4
    c.sock.settimeout(5)
    while got < size:
        chunk = c.sock.recv(1 << 20)
        assert chunk, f"the response in progress was cut after {got} of {size} body bytes"
        got += len(chunk)
    assert got == size, got
    t_done = time.monotonic()
    data, how = c.read_until_close(2)
    assert (data, how) == (b"", "fin"), \
        f"after its response the connection was {how} for {time.monotonic() - t_done:.2f}s ({data[:100]!r})"
    c.close()
    try:
        rc = srv.proc.wait(2)
    except subprocess.TimeoutExpired:
        raise AssertionError("still running 2 s after the last connection ended") from None
    assert rc == 0, f"exit status {rc}"


def test_rule6_request_sent_in_full_just_before_sigterm_is_answered(server):
    """A request sent on a kept-alive connection immediately before SIGTERM (no pause
    between the send and the signal) is answered, whichever of the two the server sees
    first; then the connection ends with a FIN and the server exits 0. Five times."""
    for attempt in range(5):
        srv = server("--keepalive-timeout", "30")
        c = kept_alive(srv)
        c.send(GET("/b.txt"))
        srv.proc.send_signal(signal.SIGTERM)
        r = c.read_response(timeout=5)
        assert (r.status, r.body) == (200, B), f"attempt {attempt}: {r!r}"
        assert c.read_until_close(3) == (b"", "fin"), f"attempt {attempt}"
        c.close()
        assert srv.proc.wait(5) == 0, f"attempt {attempt}"


def test_rule6_request_waiting_in_backlog_at_sigterm_is_answered(server):
    """A client the server has not accepted yet because it is full (--max-connections 2,
    both connections mid-request) has sent its request in full and waits in the listen
    backlog. SIGTERM must not turn that into a reset: "nothing a client already sent in
    full is dropped without an answer". Any complete response will do (the request's
    own 200, or a 503), ending with Connection: close. The two requests in progress are
    answered with Connection: close as usual."""
    srv = server("--demo", "--max-connections", "2", "--trace-connections")
    busy = [in_progress(srv, 1000) for _ in range(2)]
    waiter = srv.connect()  # completes in the kernel: the backlog
    waiter.send(GET("/b.txt"))
    waiter.expect_quiet(0.3)  # the server is full: nothing answers yet
    assert conn_ids(trace(srv), [waiter.sock])[waiter.sock] is None, "accepted although full"
    srv.proc.send_signal(signal.SIGTERM)
    for c in busy:
        r = c.read_response(timeout=5)
        assert (r.status, r.body) == (200, b"slept 1000 ms\n"), r
        assert_last(r)
    try:
        r = waiter.read_response(timeout=5)
    except AssertionError as e:
        raise AssertionError(f"the request waiting in the backlog was not answered: {e}") from None
    assert r.status in (200, 503), r
    if r.status == 200:
        assert r.body == B, r
    assert_last(r)
    for c in busy + [waiter]:
        c.close()
    assert srv.proc.wait(5) == 0


def test_rule6_pipelined_request_behind_one_in_progress_is_answered_too(server):
    """A slow request and, pipelined behind it in the same write, another: SIGTERM comes
    while the first is in progress. Both were sent in full, so both are answered, the
    second with Connection: close (the first may not end the connection, or the second
    would be dropped); then a FIN and exit 0."""
    srv = server("--demo", "--trace-connections")
    c = srv.connect()
    c.send(GET("/_demo/sleep?ms=500") + GET("/b.txt"))
    ident = wait_accepted(srv, [c.sock])[c.sock]
    wait_trace(srv, lambda ev: any(e.event == "request" and e.conn == ident for e in ev),
               "the slow request begun")
    srv.proc.send_signal(signal.SIGTERM)
    first = c.read_response(timeout=5)
    assert first.status == 200, first
    assert_persistent(first)
    second = c.read_response(timeout=5)
    assert (second.status, second.body) == (200, B), second
    assert_last(second)
    assert c.read_until_close(3) == (b"", "fin")
    assert srv.proc.wait(5) == 0
