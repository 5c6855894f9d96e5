"""
Rule 10, the header timeout (a request head must be complete within --header-timeout
of its first byte, or of the accept for a connection's first request), the silent
closing of connections that send nothing, and --io-timeout (stalls inside a body or
a response).
"""
import socket
import time

from conftest import GET, STANDARD_FILES, assert_last, assert_persistent, client_stalls, http_request

A = STANDARD_FILES["a.txt"]
PARTIAL = b"GET /a.txt HTTP/1.1\r\nHost: test\r\n"


def _read_408(c):
    r = c.read_response(timeout=5)
    assert r.status == 408, r
    assert_last(r)
    data, how = c.read_until_close(5)
    assert (data, how) == (b"", "fin"), (data, how)
    return r


def test_rule10_partial_head_gets_408_and_close(server):
    srv = server("--header-timeout", "0.5", "--keepalive-timeout", "5")
    c = srv.connect()
    c.send(PARTIAL)
    r = _read_408(c)
    waited = r.t_first - c.t_connect
    assert 0.5 - 0.05 <= waited <= 0.5 + 0.5, f"408 after {waited:.3f}s, expected ~0.5s"


def test_rule10_header_timeout_counts_from_accept_for_first_request(server):
    srv = server("--header-timeout", "1", "--keepalive-timeout", "5")
    c = srv.connect()
    c.expect_quiet(0.6)
    c.send(PARTIAL)
    r = _read_408(c)
    waited = r.t_first - c.t_connect
    # From the accept: ~1.0 s. From the first byte it would be ~1.6 s.
    assert 1.0 - 0.05 <= waited <= 1.0 + 0.45, f"408 {waited:.3f}s after connect, expected ~1.0s"


def test_rule10_header_timeout_counts_from_first_byte_on_kept_alive_connection(server):
    srv = server("--header-timeout", "0.5", "--keepalive-timeout", "5")
    c = srv.connect()
    c.send(GET("/a.txt"))
    assert_persistent(c.read_response())
    c.expect_quiet(0.4)
    c.send(PARTIAL)
    t_first_byte = c.t_sent
    r = _read_408(c)
    waited = r.t_first - t_first_byte
    # From the first byte: ~0.5 s. From the previous response it would be ~0.1 s.
    assert 0.5 - 0.05 <= waited <= 0.5 + 0.5, f"408 {waited:.3f}s after the first byte, expected ~0.5s"


def test_rule10_header_timeout_not_extended_by_trickling_bytes(server):
    # One byte every 0.2 s never completes the head; the deadline does not move.
    srv = server("--header-timeout", "1", "--keepalive-timeout", "5")
    c = srv.connect()
    slow = PARTIAL + b"X-Slow: " + b"a" * 100
    got = None
    for byte in slow:
        c.send(bytes([byte]))
        c.sock.settimeout(0.2)  # the pace of the trickle, and a check for the 408
        try:
            got = c.sock.recv(65536)
        except socket.timeout:
            continue
        break
    assert got is not None, "no response while trickling the head for %.1fs" % (time.monotonic() - c.t_connect)
    assert got, "connection closed without a 408"
    c.buf += got
    r = _read_408(c)
    waited = r.t_first - c.t_connect
    assert waited <= 1.0 + 0.5, f"408 only after {waited:.3f}s"


def test_rule10_head_completed_in_time_is_served(server):
    srv = server("--header-timeout", "1", "--keepalive-timeout", "5")
    c = srv.connect()
    req = GET("/a.txt")
    c.send(req[:10])
    c.expect_quiet(0.4)
    c.send(req[10:])
    r = c.read_response()
    assert (r.status, r.body) == (200, A)


def test_rule10_silent_new_connection_closed_without_bytes(server):
    srv = server("--header-timeout", "0.5", "--keepalive-timeout", "5")
    c = srv.connect()
    data, how = c.read_until_close(5)
    waited = time.monotonic() - c.t_connect
    assert (data, how) == (b"", "fin"), f"expected a silent FIN, got {how} {data[:300]!r}"
    assert 0.5 - 0.05 <= waited <= 0.5 + 0.5, f"closed after {waited:.3f}s, expected ~0.5s"


def test_rule10_silent_kept_alive_connection_closed_after_keepalive_timeout(server):
    # After a response the idle timer (1.5 s) applies, not the header timeout (0.5 s).
    srv = server("--header-timeout", "0.5", "--keepalive-timeout", "1.5")
    c = srv.connect()
    c.send(GET("/a.txt"))
    r = c.read_response()
    assert_persistent(r)
    data, how = c.read_until_close(5)
    idle = time.monotonic() - r.t_done
    assert (data, how) == (b"", "fin"), f"expected a silent FIN, got {how} {data[:300]!r}"
    assert 1.5 - 0.05 <= idle <= 1.5 + 0.5, f"closed {idle:.3f}s after the response, expected ~1.5s"


# ---- --io-timeout -------------------------------------------------------------------------------

def test_io_timeout_stalled_request_body_closes_connection(server):
    srv = server("--demo", "--io-timeout", "0.5", "--header-timeout", "5", "--keepalive-timeout", "5")
    c = srv.connect()
    c.send(http_request("/_demo/echo", "POST", headers=[("Content-Length", "100")]) + b"0123456789")
    t_stall = c.t_sent
    data, how = c.read_until_close(5)
    waited = time.monotonic() - t_stall
    assert how == "fin", f"expected the server to close the stalled connection, got {how} {data[:300]!r}"
    assert b"200 OK" not in data, data
    assert 0.5 - 0.05 <= waited <= 0.5 + 1.0, f"closed after {waited:.3f}s, expected ~0.5s"


def test_io_timeout_stalled_reader_closes_connection(server, www):
    size = 32 * 1024 * 1024
    with open(www.path / "huge.bin", "wb") as f:
        f.truncate(size)  # sparse: cheap to create, the server still has to send it all
    srv = server("--io-timeout", "0.5", "--keepalive-timeout", "5")
    c = srv.connect()
    c.send(GET("/huge.bin"))
    client_stalls(2.0)  # the client reads nothing: the server's writes stall for 2 s
    data, how = c.read_until_close(10)
    assert how in ("fin", "rst"), f"connection still open after the stall ({len(data)} bytes read)"
    assert len(data) < size, "the whole file arrived although the client stalled past --io-timeout"


def _send_then_fin(c, data):
    """Sends data and the client's FIN in one segment: TCP_CORK holds the data back, so
    shutdown() puts the FIN on it. The server is woken once, for both."""
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
    c.send(data)
    c.shutdown_write()


def test_rule10_fin_with_partial_head_closes_at_once(server):
    # Half a head and the client's FIN together: the head can never be finished, so the
    # connection ends now, silently, not with a 408 at --header-timeout.
    srv = server("--header-timeout", "10", "--keepalive-timeout", "10")
    c = srv.connect()
    _send_then_fin(c, PARTIAL)
    data, how = c.read_until_close(5)
    assert (data, how) == (b"", "fin"), (data[:200], how)


def test_rule10_fin_with_partial_head_on_kept_alive_connection_closes_at_once(server):
    srv = server("--header-timeout", "10", "--keepalive-timeout", "10")
    c = srv.connect()
    c.send(GET("/a.txt"))
    assert_persistent(c.read_response())
    _send_then_fin(c, PARTIAL)
    data, how = c.read_until_close(5)
    assert (data, how) == (b"", "fin"), (data[:200], how)


def test_io_timeout_fin_with_partial_body_closes_at_once(server):
    # The head is complete, the body never will be: close now, not at --io-timeout.
    srv = server("--demo", "--io-timeout", "10", "--keepalive-timeout", "10")
    c = srv.connect()
    _send_then_fin(c, http_request("/_demo/echo", "POST",
                                   headers=[("Content-Length", "100")], body=b"x" * 10))
    data, how = c.read_until_close(5)
    assert (data, how) == (b"", "fin"), (data[:200], how)
