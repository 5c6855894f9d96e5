"""
Rule 7, lingering close: when the server closes while the client may still be sending,
it shuts down its write side and reads and discards input (up to 2 s, or until the
client closes), so the client gets the whole response and a FIN instead of a reset.
"""
import select
import socket
import time

from conftest import GET, STANDARD_FILES, assert_last, http_request
from obs.admin import Admin, admin_addr

A = STANDARD_FILES["a.txt"]
MORE = b"x" * (200 * 1024)


def _expect_whole_response_then_fin(c, status, body=None):
    r = c.read_response()
    assert r.status == status, r
    if body is not None:
        assert r.body == body
    assert_last(r)
    data, how = c.read_until_close(5)
    assert (data, how) == (b"", "fin"), f"after the response: {how} {data[:200]!r}"
    return r


def test_rule7_lingering_close_after_bad_request_with_more_bytes(server):
    srv = server()
    c = srv.connect()
    c.send_background(b"GET /a.txt HTTP/1.1\r\nHost : test\r\n\r\n" + MORE)
    r = _expect_whole_response_then_fin(c, 400)
    assert r.body, "the 400 should name the problem"
    c.sender.join(10)
    assert c.sender.error is None, f"server stopped reading before the client finished: {c.sender.error!r}"


def test_rule7_lingering_close_after_connection_close_with_more_bytes(server):
    srv = server()
    c = srv.connect()
    c.send_background(GET("/a.txt", headers=[("Connection", "close")]) + MORE)
    _expect_whole_response_then_fin(c, 200, A)
    c.sender.join(10)
    assert c.sender.error is None, repr(c.sender.error)


def test_rule7_lingering_close_unread_large_body_on_get(server):
    srv = server()
    c = srv.connect()
    body = b"y" * (200 * 1024)
    c.send_background(GET("/a.txt", body=body))
    _expect_whole_response_then_fin(c, 200, A)
    c.sender.join(10)
    assert c.sender.error is None, repr(c.sender.error)


def test_rule7_lingering_close_after_413_with_body_in_flight(server):
    srv = server("--demo", "--max-body-size", "1000")
    c = srv.connect()
    body = b"z" * (300 * 1024)
    c.send_background(http_request("/_demo/echo", "POST", body=body))
    _expect_whole_response_then_fin(c, 413)
    c.sender.join(10)
    assert c.sender.error is None, repr(c.sender.error)


def test_rule7_lingering_close_gives_up_after_2s(server):
    # A client that never stops sending must not hold the connection for ever: after
    # about 2 s of lingering the server closes for real (our sends then fail).
    srv = server()
    c = srv.connect()
    c.send(b"GET /a.txt HTTP/1.1\r\nHost : test\r\n\r\n")
    r = c.read_response()
    assert r.status == 400
    t_response = r.t_done
    sender = c.send_background(b"q" * 65536, forever=True, limit_seconds=8)
    data, how = c.read_until_close(5)
    assert (data, how) == (b"", "fin"), (data, how)
    sender.join(12)
    assert sender.error is not None, "the server still accepted bytes 8 s after the response"
    assert not isinstance(sender.error, socket.timeout), \
        f"the server stopped reading without closing: {sender.error!r}"
    lingered = sender.t_end - t_response
    assert lingered <= 2.0 + 1.0, f"lingered {lingered:.2f}s, expected at most ~2s"


def test_rule7_lingering_flood_does_not_starve_the_worker(server):
    # A lingering client that sends as fast as it can is read in bounded turns: the
    # worker still answers its other connections meanwhile, and the 2 s limit holds.
    srv = server("--workers", "1")
    c = srv.connect()
    c.send(b"GET /a.txt HTTP/1.1\r\nHost : test\r\n\r\n")
    assert c.read_response().status == 400
    senders = [c.send_background(b"q" * (1 << 20), chunk=1 << 20, forever=True, limit_seconds=8)
               for _ in range(3)]
    other = srv.connect()
    slowest = 0.0
    for _ in range(30):  # about 3 s of probes, across the flood and its end
        t0 = time.monotonic()
        other.send(GET("/b.txt"))
        r = other.read_response(timeout=4)
        assert (r.status, r.body) == (200, STANDARD_FILES["b.txt"]), r
        slowest = max(slowest, time.monotonic() - t0)
        time.sleep(0.1)  # pacing the probes, not waiting for anything
    for s in senders:
        s.join(12)
    assert all(s.error is not None for s in senders), "still accepting bytes 8 s on"
    assert slowest < 1.0, f"a request on another connection waited {slowest:.2f}s"


def test_rule7_connection_close_with_nothing_unread_closes_without_lingering(server):
    # RFC 9112 9.6: a client that sent "Connection: close" sends nothing more. With
    # nothing of it unread and the response gone in one write, lingering protects
    # nothing: the server closes at once (its FIN leaves with the response). Bytes sent
    # regardless then meet a closed socket, and the kernel answers them with a reset,
    # which a lingering server would never send.
    srv = server()
    c = srv.connect()
    c.send(GET("/a.txt", headers=[("Connection", "close")]))
    _expect_whole_response_then_fin(c, 200, A)
    c.send(GET("/b.txt"))  # against the rules, and never answered
    # Past the FIN, recv() only ever says end of input; a reset shows as POLLERR (with
    # POLLHUP), which poll() reports whatever is asked.
    p = select.poll()
    p.register(c.sock, 0)
    assert p.poll(5000) != [], "no reset: the server lingered though nothing needed it"


def test_rule7_http10_without_keep_alive_closes_without_lingering(server):
    # HTTP/1.0 without keep-alive asks to close just as "Connection: close" does.
    srv = server()
    c = srv.connect()
    c.send(b"GET /a.txt HTTP/1.0\r\n\r\n")
    r = c.read_response(timeout=5)
    assert (r.status, r.body) == (200, A), r
    data, how = c.read_until_close(5)
    assert (data, how) == (b"", "fin"), f"after the response: {how} {data[:200]!r}"
    c.send(GET("/b.txt"))
    p = select.poll()
    p.register(c.sock, 0)
    assert p.poll(5000) != [], "no reset: the server lingered though nothing needed it"


def test_rule7_server_chosen_close_still_lingers(server):
    # The server ends this connection itself (--keepalive-requests 1), so the client may
    # well be sending its next request: the server lingers, and bytes sent after its FIN
    # are read and dropped, never answered with a reset.
    srv = server("--keepalive-requests", "1")
    c = srv.connect()
    c.send(GET("/a.txt"))
    _expect_whole_response_then_fin(c, 200, A)
    c.send(GET("/b.txt"))
    p = select.poll()
    p.register(c.sock, 0)
    assert p.poll(1000) == [], "the server reset the connection instead of lingering"


def test_rule7_bytes_with_the_clients_fin_do_not_reset_a_response_still_queued(server, www):
    # The client asked to close but reads slowly (a 4 KB receive buffer): the server has
    # written the whole 60 KB response and shut its side (lingering), while most of it
    # still waits in the server's send queue. Then the client sends a few bytes and its
    # FIN together. The server must read them before it closes: close() with unread
    # bytes answers with an RST, which would throw the queued end of the response away.
    body = bytes(range(256)) * 240
    www.add("sixty.bin", body)
    srv = server("--admin", "127.0.0.1:0")
    admin = Admin(admin_addr(srv))
    c = srv.connect(rcvbuf=4096)
    c.send(GET("/sixty.bin", headers=[("Connection", "close")]))
    admin.wait_status(lambda s: s["connections"]["lingering"] == 1, "the connection lingering")
    c.send(b"JUNK")
    c.sock.shutdown(socket.SHUT_WR)
    r = c.read_response(timeout=5)
    assert (r.status, len(r.body)) == (200, len(body)), r
    assert r.body == body
    data, how = c.read_until_close(5)
    assert (data, how) == (b"", "fin"), f"after the response: {how} {data[:200]!r}"
