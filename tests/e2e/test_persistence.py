"""
Persistent connections, rules 1-5 of the spec (RFC 9112 section 9): when a connection
persists, what the server advertises about it, and when and how it ends.
"""
import time

import pytest

import h11

from conftest import (GET, STANDARD_FILES, assert_closes_with_fin, assert_last, assert_persistent,
                      client_stalls, h11_header, h11_parse)

A, B, C = (STANDARD_FILES[n] for n in ("a.txt", "b.txt", "c.txt"))


# ---- rule 1: HTTP/1.1 is persistent unless Connection carries "close" ------------------------

def test_rule1_http11_persistent_by_default(server):
    srv = server()
    client = srv.h11()
    for path, body in (("/a.txt", A), ("/b.txt", B), ("/a.txt", A)):
        resp, data = client.request("GET", path)
        assert resp.status_code == 200 and data == body
        assert (h11_header(resp, "connection") or "").lower() == "keep-alive", resp.headers
        assert client.reusable, "h11 considers the connection unusable after a persistent response"


def test_rule1_error_status_keeps_connection(server):
    # A 404 is an ordinary answer, not a reason to close.
    srv = server()
    c = srv.connect()
    c.send(GET("/no-such-file"))
    r = c.read_response()
    assert r.status == 404
    assert_persistent(r)
    c.send(GET("/a.txt"))
    r = c.read_response()
    assert (r.status, r.body) == (200, A)


@pytest.mark.parametrize("connection", [
    ["close"],
    ["Close"],
    ["CLOSE"],
    ["keep-alive, close"],
    ["close, keep-alive"],
    ["x-foo ,close"],
    ["  x-foo,\tClose\t"],
    ["x-foo,,close"],
    ["keep-alive", "close"],          # several Connection headers
    ["x-foo", "CLOSE", "x-bar"],
], ids=lambda v: "|".join(v))
def test_rule1_connection_close_token_list_case_insensitive(server, connection):
    srv = server()
    c = srv.connect()
    c.send(GET("/a.txt", headers=[("Connection", v) for v in connection]))
    r = c.read_response()
    assert (r.status, r.body) == (200, A)
    assert_last(r)
    assert_closes_with_fin(c)


@pytest.mark.parametrize("connection", ["closed", "x-close", "close-later", "keep-alive", "x-foo"])
def test_rule1_close_must_be_a_whole_token(server, connection):
    srv = server()
    c = srv.connect()
    c.send(GET("/a.txt", headers=[("Connection", connection)]))
    r = c.read_response()
    assert r.status == 200
    assert_persistent(r)
    c.send(GET("/b.txt"))
    assert c.read_response().body == B


# ---- rule 2: HTTP/1.0 -------------------------------------------------------------------------

def test_rule2_http10_without_keepalive_closes(server):
    srv = server()
    c = srv.connect()
    c.send(GET("/a.txt", version="HTTP/1.0"))
    r = c.read_response()
    assert (r.status, r.body) == (200, A)
    assert r.get("Content-Length") == str(len(A))
    assert_last(r)
    assert_closes_with_fin(c)


def test_rule2_http10_keepalive_is_persistent(server):
    srv = server()
    c = srv.connect()
    for path, body in (("/a.txt", A), ("/b.txt", B)):
        c.send(GET(path, version="HTTP/1.0", headers=[("Connection", "keep-alive")]))
        r = c.read_response()
        assert (r.status, r.body) == (200, body)
        assert r.get("Content-Length") == str(len(body))
        assert_persistent(r)
    c.send(GET("/c.txt", version="HTTP/1.0"))  # no keep-alive this time: the last one
    r = c.read_response()
    assert r.body == C
    assert_last(r)
    assert_closes_with_fin(c)


def test_rule2_http10_keepalive_token_case_insensitive(server):
    srv = server()
    c = srv.connect()
    c.send(GET("/a.txt", version="HTTP/1.0", headers=[("Connection", "x-foo, Keep-Alive")]))
    r = c.read_response()
    assert r.status == 200
    assert_persistent(r)
    c.send(GET("/b.txt", version="HTTP/1.0", headers=[("Connection", "keep-alive")]))
    assert c.read_response().body == B


@pytest.mark.parametrize("tokens", ["keep-alive, close", "close, keep-alive"])
def test_rule2_http10_close_wins_over_keepalive(server, tokens):
    # RFC 9112 9.3: "close" means the connection will not persist, in any version.
    srv = server()
    c = srv.connect()
    c.send(GET("/a.txt", version="HTTP/1.0", headers=[("Connection", tokens)]))
    r = c.read_response()
    assert (r.status, r.body) == (200, A)
    assert_last(r)
    assert_closes_with_fin(c)


def test_rule2_http10_keepalive_unknown_length_closes(server):
    # /_demo/stream has no length in advance: HTTP/1.0 has no chunked coding, so the
    # body is delimited by closing, whatever the request asked for.
    srv = server("--demo")
    c = srv.connect()
    c.send(GET("/_demo/stream?chunks=3&interval_ms=10&size=50", version="HTTP/1.0",
               headers=[("Connection", "keep-alive")]))
    r = c.read_response()
    assert r.status == 200
    assert r.get("Content-Length") is None and r.get("Transfer-Encoding") is None, r.headers
    assert r.framing == "close" and r.close_how == "fin", (r.framing, r.close_how)
    assert len(r.body) == 150
    assert_last(r)


# ---- rule 3: what a persistent response advertises ---------------------------------------------

def test_rule3_keepalive_max_counts_down_and_last_response_closes(server):
    srv = server("--keepalive-timeout", "5", "--keepalive-grace", "1", "--keepalive-requests", "5")
    c = srv.connect()
    for expected_max in (4, 3, 2, 1):
        c.send(GET("/a.txt"))
        r = c.read_response()
        assert r.status == 200
        assert_persistent(r)
        assert r.get_all("Keep-Alive") == [f"timeout=4, max={expected_max}"], r.headers
    c.send(GET("/b.txt"))
    r = c.read_response()
    assert (r.status, r.body) == (200, B)
    assert_last(r)
    assert_closes_with_fin(c)


@pytest.mark.parametrize("timeout,grace,advertised", [
    ("7.9", "1", 6),
    ("2.5", "1", 1),
    ("10", "2.5", 7),
    ("3", "0", 3),
    ("0.5", "1", 0),   # never below zero
    ("1", "3", 0),
])
def test_rule3_keepalive_timeout_is_floor_of_timeout_minus_grace(server, timeout, grace, advertised):
    srv = server("--keepalive-timeout", timeout, "--keepalive-grace", grace, "--keepalive-requests", "10")
    c = srv.connect()
    c.send(GET("/a.txt"))
    r = c.read_response()
    assert_persistent(r)
    assert r.get_all("Keep-Alive") == [f"timeout={advertised}, max=9"], r.headers


def test_rule3_defaults_advertise_timeout_74_max_999(server):
    srv = server()
    c = srv.connect()
    c.send(GET("/a.txt"))
    r = c.read_response()
    assert_persistent(r)
    assert r.get_all("Keep-Alive") == ["timeout=74, max=999"], r.headers


def test_rule3_unlimited_requests_advertise_timeout_alone(server):
    srv = server("--keepalive-timeout", "5", "--keepalive-requests", "0")
    c = srv.connect()
    for _ in range(3):
        c.send(GET("/a.txt"))
        r = c.read_response()
        assert_persistent(r)
        assert r.get_all("Keep-Alive") == ["timeout=4"], r.headers


def test_rule3_http10_keepalive_response_advertises_too(server):
    srv = server("--keepalive-timeout", "5", "--keepalive-requests", "3")
    c = srv.connect()
    c.send(GET("/a.txt", version="HTTP/1.0", headers=[("Connection", "keep-alive")]))
    r = c.read_response()
    assert_persistent(r)
    assert r.get_all("Keep-Alive") == ["timeout=4, max=2"], r.headers


def test_rule3_headers_parse_with_h11(server):
    srv = server("--keepalive-requests", "2")
    c = srv.connect()
    c.send(GET("/a.txt"))
    r1 = c.read_response()
    resp, body, state = h11_parse(r1.raw)
    assert (resp.status_code, body) == (200, A)
    assert h11_header(resp, "keep-alive") == "timeout=74, max=1"
    c.send(GET("/b.txt"))
    r2 = c.read_response()
    resp, body, state = h11_parse(r2.raw)
    assert (resp.status_code, body) == (200, B)
    assert h11_header(resp, "connection").lower() == "close"
    assert state is h11.MUST_CLOSE, state


# ---- rule 4: the idle timer ----------------------------------------------------------------------

def test_rule4_idle_close_is_fin_at_deadline(server):
    srv = server("--keepalive-timeout", "0.5", "--header-timeout", "10")
    c = srv.connect()
    c.send(GET("/a.txt"))
    r = c.read_response()
    assert r.status == 200
    assert_persistent(r)
    data, how = c.read_until_close(5)
    closed = time.monotonic()
    assert (data, how) == (b"", "fin"), (data, how)
    idle = closed - r.t_done
    assert 0.5 - 0.05 <= idle <= 0.5 + 0.5, f"closed {idle:.3f}s after the response, expected ~0.5s"


def test_rule4_idle_timer_starts_after_last_response(server):
    # The request takes 1 s to answer; a timer started at the request (or at accept)
    # would have expired long before the response ends.
    srv = server("--demo", "--keepalive-timeout", "0.5")
    c = srv.connect()
    c.send(GET("/_demo/sleep?ms=1000"))
    r = c.read_response(timeout=5)
    assert r.status == 200
    assert_persistent(r)
    assert r.t_done - c.t_sent >= 0.95, "the sleep ended early"
    data, how = c.read_until_close(5)
    idle = time.monotonic() - r.t_done
    assert (data, how) == (b"", "fin"), (data, how)
    assert 0.5 - 0.05 <= idle <= 0.5 + 0.5, f"closed {idle:.3f}s after the response, expected ~0.5s"


def test_rule4_no_idle_timer_while_request_processed(server):
    srv = server("--demo", "--keepalive-timeout", "0.5")
    c = srv.connect()
    c.send(GET("/_demo/sleep?ms=1500"))
    r = c.read_response(timeout=6)
    assert r.status == 200
    assert r.t_done - c.t_sent >= 1.45
    assert_persistent(r)
    c.send(GET("/a.txt"))
    r = c.read_response()
    assert (r.status, r.body) == (200, A)


def test_rule4_no_idle_timer_while_response_is_being_written(server, www):
    # The client reads a 16 MiB response slowly for 0.7 s (> the 0.5 s idle timeout)
    # while the server still has most of it to write, then reads the rest at once and
    # sends its next request right away: the connection must still be open.
    size = 16 * 1024 * 1024
    with open(www.path / "big.bin", "wb") as f:
        f.truncate(size)
    srv = server("--keepalive-timeout", "0.5")
    c = srv.connect(rcvbuf=64 * 1024)
    c.send(GET("/big.bin"))
    received = 0
    for _ in range(7):
        client_stalls(0.1)
        goal = received + 512 * 1024
        while received < goal:
            chunk = c.sock.recv(goal - received)
            assert chunk, f"server closed the connection mid-response after {received} bytes"
            received += len(chunk)
            c.buf += chunk
    r = c.read_response(timeout=10)
    assert r.status == 200 and len(r.body) == size
    assert_persistent(r)
    c.send(GET("/a.txt"))
    r = c.read_response()
    assert (r.status, r.body) == (200, A)


def test_rule4_idle_timer_stops_when_next_request_starts(server):
    # 0.3 s idle, then the first bytes of a request, then 0.6 s more: 0.9 s > 0.5 s, but
    # the idle timer stopped at the first byte; the head completes within the 5 s
    # header timeout.
    srv = server("--keepalive-timeout", "0.5", "--header-timeout", "5")
    c = srv.connect()
    c.send(GET("/a.txt"))
    assert c.read_response().status == 200
    c.expect_quiet(0.3)
    request = GET("/b.txt")
    c.send(request[:5])
    c.expect_quiet(0.6)
    c.send(request[5:])
    r = c.read_response()
    assert (r.status, r.body) == (200, B)
    assert_persistent(r)


@pytest.mark.parametrize("request_bytes,answered", [
    (GET("/b.txt"), True),
    (b"POST /_demo/echo HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\nhello", False),
], ids=["whole-request", "partial-body"])
def test_rule4_client_fin_that_came_with_its_bytes_is_seen(server, request_bytes, answered):
    """A client that half-closes right after sending, its bytes and its FIN read by the
    server together: the end of input must be noticed then, not at a timeout (75 s idle,
    30 s io). Deterministic: with --max-connections 1 held by a half-sent head, the
    client waits in the backlog while its bytes and FIN queue up, so the server's first
    read of it takes the bytes and leaves the FIN, with no later input event to announce it."""
    srv = server("--demo", "--max-connections", "1")
    holder = srv.connect()
    holder.send(b"GET /a.txt HTTP/1.1\r\n")
    client = srv.connect()  # returns once the kernel has queued it: the backlog
    client.send(request_bytes)
    client.shutdown_write()
    holder.send(b"Host: test\r\nConnection: close\r\n\r\n")
    r = holder.read_response()
    assert (r.status, r.body) == (200, A)
    assert_closes_with_fin(holder)
    if answered:
        r = client.read_response()
        assert (r.status, r.body) == (200, B)
    data, how = client.read_until_close(2.0)
    assert (data, how) == (b"", "fin"), \
        f"the server did not close within 2s of a FIN it had (got {how} after {data[:200]!r})"


def test_rule4_requests_every_0_3s_keep_connection_open(server):
    srv = server("--keepalive-timeout", "0.5", "--keepalive-requests", "0")
    c = srv.connect()
    start = time.monotonic()
    for i in range(5):
        if i:
            c.expect_quiet(0.3)
        c.send(GET("/a.txt"))
        r = c.read_response()
        assert (r.status, r.body) == (200, A), f"request {i + 1}"
        assert_persistent(r)
    assert time.monotonic() - start > 1.2
    assert_closes_with_fin(c)  # and then, idle, it does close


def test_rule4_keepalive_timeout_zero_disables_persistence(server):
    srv = server("--keepalive-timeout", "0")
    c = srv.connect()
    c.send(GET("/a.txt"))
    r = c.read_response()
    assert (r.status, r.body) == (200, A)
    assert_last(r)
    assert_closes_with_fin(c)
    c = srv.connect()
    c.send(GET("/a.txt", version="HTTP/1.0", headers=[("Connection", "keep-alive")]))
    r = c.read_response()
    assert r.status == 200
    assert_last(r)
    assert_closes_with_fin(c)


# ---- rule 5: request cap and lifetime -----------------------------------------------------------

def test_rule5_keepalive_requests_nth_response_closes(server):
    srv = server("--keepalive-requests", "3")
    c = srv.connect()
    for path in ("/a.txt", "/b.txt"):
        c.send(GET(path))
        assert_persistent(c.read_response())
    c.send(GET("/c.txt"))
    r = c.read_response()
    assert (r.status, r.body) == (200, C)
    assert_last(r)
    assert_closes_with_fin(c)


def test_rule5_keepalive_requests_pipelined_beyond_cap_not_answered(server):
    srv = server("--keepalive-requests", "3")
    c = srv.connect()
    c.send(GET("/a.txt") + GET("/b.txt") + GET("/c.txt") + GET("/a.txt"))
    bodies = []
    for _ in range(3):
        bodies.append(c.read_response())
    assert [r.body for r in bodies] == [A, B, C]
    assert_persistent(bodies[1])
    assert_last(bodies[2])
    assert_closes_with_fin(c)


def test_rule5_keepalive_requests_one_means_no_persistence(server):
    srv = server("--keepalive-requests", "1")
    c = srv.connect()
    c.send(GET("/a.txt"))
    r = c.read_response()
    assert (r.status, r.body) == (200, A)
    assert_last(r)
    assert_closes_with_fin(c)


def test_rule5_keepalive_time_first_response_after_lifetime_closes(server):
    srv = server("--demo", "--keepalive-time", "1", "--keepalive-timeout", "10")
    c = srv.connect()
    c.send(GET("/a.txt"))
    assert_persistent(c.read_response())
    c.send(GET("/_demo/sleep?ms=1200"))  # finishes when the connection is > 1 s old
    r = c.read_response()
    assert r.status == 200
    assert time.monotonic() - c.t_connect > 1.0
    assert_last(r)
    assert_closes_with_fin(c)


def test_rule5_keepalive_time_closes_idle_connection(server):
    srv = server("--keepalive-time", "1", "--keepalive-timeout", "10")
    c = srv.connect()
    c.send(GET("/a.txt"))
    assert_persistent(c.read_response())
    data, how = c.read_until_close(5)
    age = time.monotonic() - c.t_connect
    assert (data, how) == (b"", "fin"), (data, how)
    assert 1.0 - 0.05 <= age <= 1.0 + 0.5, f"idle connection closed at age {age:.3f}s, expected ~1s"


def test_rule5_keepalive_time_zero_is_unlimited(server):
    # Unlimited cannot be shown in a fast test; this shows 0 is not "expire at once".
    srv = server("--keepalive-time", "0", "--keepalive-timeout", "5", "--keepalive-requests", "0")
    c = srv.connect()
    for i in range(3):
        if i:
            c.expect_quiet(0.3)
        c.send(GET("/a.txt"))
        assert_persistent(c.read_response())
