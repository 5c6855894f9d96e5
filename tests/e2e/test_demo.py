"""
The demo endpoints (--demo): /_demo/sleep, /_demo/stream, /_demo/echo; and their
absence without the flag.
"""
import socket

import pytest

from conftest import GET, STANDARD_FILES, assert_persistent, http_request

A = STANDARD_FILES["a.txt"]


def test_demo_sleep_answers_after_n_ms(server):
    srv = server("--demo")
    c = srv.connect()
    c.send(GET("/_demo/sleep?ms=300"))
    r = c.read_response()
    assert r.status == 200
    assert r.t_done - c.t_sent >= 0.3 - 0.01
    assert_persistent(r)


def test_demo_sleep_does_not_block_worker(server):
    srv = server("--demo", "--workers", "1")
    sleeper = srv.connect()
    sleeper.send(GET("/_demo/sleep?ms=1500"))
    other = srv.connect()
    other.send(GET("/a.txt"))
    r = other.read_response(timeout=1.0)  # fails if it waits for the sleep
    assert (r.status, r.body) == (200, A)
    slept = sleeper.read_response(timeout=5)
    assert slept.status == 200
    assert slept.t_done - sleeper.t_sent >= 1.45
    assert r.t_done < slept.t_done


def test_demo_stream_sends_pieces_over_time(server):
    srv = server("--demo")
    c = srv.connect()
    c.send(GET("/_demo/stream?chunks=5&interval_ms=100&size=33"))
    r = c.read_response(timeout=5)
    assert r.status == 200
    assert r.framing == "chunked" and r.get("Content-Length") is None
    assert len(r.body) == 5 * 33
    duration = r.t_done - c.t_sent
    assert duration >= 0.4 - 0.02, f"5 pieces 100 ms apart took only {duration:.3f}s"
    # Streamed, not buffered: the first piece arrives long before the last.
    assert r.chunk_times[0] - c.t_sent < 0.2, r.chunk_times
    assert_persistent(r)


def test_demo_echo_returns_body_and_content_type(server):
    srv = server("--demo")
    c = srv.connect()
    for method in ("POST", "PUT"):
        c.send(http_request("/_demo/echo", method, headers=[("Content-Type", "image/x-" + method.lower())],
                            body=method.encode() * 10))
        r = c.read_response()
        assert (r.status, r.body) == (200, method.encode() * 10)
        assert r.get("Content-Type") == "image/x-" + method.lower()
        assert r.get("Content-Length") == str(len(r.body))


@pytest.mark.parametrize("target", ["/_demo/sleep?ms=10", "/_demo/stream?chunks=1&interval_ms=1&size=1",
                                    "/_demo/echo"])
def test_demo_endpoints_404_without_flag(server, target):
    srv = server()
    c = srv.connect()
    c.send(GET(target))
    assert c.read_response().status == 404


# ---- a client that half-closes once its requests are sent ------------------------------------
# Its FIN says it will send nothing more, not that it wants no answer: what it sent in
# full is answered, even by a handler that answers later, and then the server closes.

def _half_closed(srv, data):
    c = srv.connect()
    c.send(data)
    c.sock.shutdown(socket.SHUT_WR)
    return c


def test_demo_half_closed_client_still_gets_a_late_answer(server):
    srv = server("--demo")
    c = _half_closed(srv, GET("/_demo/sleep?ms=200"))
    r = c.read_response(timeout=5)
    assert r.status == 200 and r.t_done - c.t_sent >= 0.2 - 0.01, r
    assert c.read_until_close(5) == (b"", "fin")


def test_demo_half_closed_client_gets_every_pipelined_answer(server):
    srv = server("--demo")
    c = _half_closed(srv, GET("/a.txt") + GET("/_demo/sleep?ms=200") + GET("/b.txt"))
    bodies = [c.read_response(timeout=5).body for _ in range(3)]
    assert bodies[0] == A and bodies[2] == STANDARD_FILES["b.txt"], bodies
    assert c.read_until_close(5) == (b"", "fin")


def test_demo_half_closed_client_gets_the_whole_stream(server):
    srv = server("--demo")
    c = _half_closed(srv, GET("/_demo/stream?chunks=3&interval_ms=50&size=10"))
    r = c.read_response(timeout=5)
    assert (r.status, r.framing, len(r.body)) == (200, "chunked", 30), r
    assert c.read_until_close(5) == (b"", "fin")
