"""
Rule 8, request bodies: Content-Length and chunked bodies are decoded; a body the
handler does not read is discarded so the next request parses (up to 64 KiB; more
than that closes the connection); Expect: 100-continue gets its interim response.
"""
from conftest import (GET, STANDARD_FILES, assert_closes_with_fin, assert_last, assert_persistent,
                      chunked, h11_header, http_request)

A, B = STANDARD_FILES["a.txt"], STANDARD_FILES["b.txt"]


def test_rule8_content_length_body_echoed(server):
    srv = server("--demo")
    client = srv.h11()
    body = bytes(range(256)) * 40
    resp, data = client.request("POST", "/_demo/echo", headers=[("Content-Type", "application/x-test")], body=body)
    assert resp.status_code == 200
    assert data == body
    assert h11_header(resp, "content-type") == "application/x-test"
    assert client.reusable
    resp, data = client.request("PUT", "/_demo/echo", headers=[("Content-Type", "text/plain; charset=utf-8")],
                                body=b"put body")
    assert (resp.status_code, data) == (200, b"put body")
    assert h11_header(resp, "content-type") == "text/plain; charset=utf-8"


def test_rule8_empty_content_length_body_echoed(server):
    srv = server("--demo")
    c = srv.connect()
    c.send(http_request("/_demo/echo", "POST", headers=[("Content-Length", "0")]))
    r = c.read_response()
    assert (r.status, r.body) == (200, b"")
    assert_persistent(r)


def test_rule8_chunked_body_with_extensions_and_trailers_decoded(server):
    srv = server("--demo")
    c = srv.connect()
    body = (b"5;ext=1\r\nhello\r\n"
            b"6;name=\"quoted value\";flag\r\n world\r\n"
            b"A\r\n, chunked!\r\n"
            b"0\r\nX-Trailer: yes\r\nX-Other: 2\r\n\r\n")
    c.send(http_request("/_demo/echo", "POST", headers=[("Transfer-Encoding", "chunked"),
                                                        ("Content-Type", "text/x-chunks")], body=body))
    r = c.read_response()
    assert r.status == 200
    assert r.body == b"hello world, chunked!"
    assert r.get("Content-Type") == "text/x-chunks"
    assert_persistent(r)
    c.send(GET("/a.txt"))  # the trailers were consumed exactly
    assert c.read_response().body == A


def test_rule8_chunked_body_split_across_writes(server):
    srv = server("--demo")
    c = srv.connect()
    data = http_request("/_demo/echo", "POST", headers=[("Transfer-Encoding", "chunked")],
                        body=chunked(b"abc", b"defgh", b"i" * 3000))
    first, rest = data[:-3020], data[-3020:]
    c.send(first)
    c.expect_quiet(0.1)  # the body is incomplete: no response yet
    c.send(rest[:15])
    c.expect_quiet(0.1)
    c.send(rest[15:])
    r = c.read_response()
    assert (r.status, r.body) == (200, b"abcdefgh" + b"i" * 3000)


def test_rule8_unread_content_length_body_discarded(server):
    srv = server()
    c = srv.connect()
    c.send(GET("/a.txt", body=b"0123456789") + GET("/b.txt"))
    r1, r2 = c.read_response(), c.read_response()
    assert (r1.status, r1.body) == (200, A)
    assert_persistent(r1)
    assert (r2.status, r2.body) == (200, B)
    assert_persistent(r2)


def test_rule8_unread_chunked_body_discarded(server):
    srv = server()
    c = srv.connect()
    c.send(GET("/a.txt", headers=[("Transfer-Encoding", "chunked")],
               body=chunked(b"GET /c.txt HTTP/1.1\r\n", b"x" * 100, trailers=b"X-T: 1\r\n"))
           + GET("/b.txt"))
    r1, r2 = c.read_response(), c.read_response()
    assert (r1.status, r1.body) == (200, A)
    assert_persistent(r1)
    assert (r2.status, r2.body) == (200, B)


def test_rule8_unread_body_over_64k_closes(server):
    srv = server()
    c = srv.connect()
    c.send_background(GET("/a.txt", body=b"b" * 200_000) + GET("/b.txt"))
    r = c.read_response()
    assert (r.status, r.body) == (200, A)
    assert_last(r)
    assert_closes_with_fin(c)
    c.sender.join(10)


def test_rule8_unread_body_discarded_across_several_writes(server):
    srv = server()
    c = srv.connect()
    c.send(GET("/a.txt", headers=[("Content-Length", "40000")]) + b"w" * 10000)
    c.send(b"w" * 30000)
    c.send(GET("/b.txt"))
    r1, r2 = c.read_response(), c.read_response()
    assert (r1.status, r1.body) == (200, A)
    assert_persistent(r1)
    assert (r2.status, r2.body) == (200, B)


def test_rule8_expect_100_continue(server):
    srv = server("--demo")
    c = srv.connect()
    c.send(http_request("/_demo/echo", "POST", headers=[("Content-Length", "11"), ("Expect", "100-continue")]))
    interim = c.read_response()
    assert interim.status == 100, interim
    assert interim.head.startswith(b"HTTP/1.1 100 Continue"), interim.head
    c.send(b"hello there")
    r = c.read_response()
    assert (r.status, r.body) == (200, b"hello there")
    assert_persistent(r)


def test_rule8_expect_100_continue_value_case_insensitive(server):
    srv = server("--demo")
    c = srv.connect()
    head = http_request("/_demo/echo", "POST", headers=[("Content-Length", "4"), ("Expect", "100-Continue")])
    c.send(head)
    interim = c.read_response()
    assert interim.status == 100
    c.send(b"body")
    r = c.read_response()
    assert (r.status, r.body) == (200, b"body")


def test_rule8_expect_100_continue_not_sent_to_http10(server):
    srv = server("--demo")
    c = srv.connect()
    c.send(http_request("/_demo/echo", "POST", version="HTTP/1.0", body=b"ten bytes!",
                        headers=[("Expect", "100-continue"), ("Connection", "keep-alive")]))
    r = c.read_response()
    assert r.status == 200, "no interim response may go to an HTTP/1.0 client"
    assert r.body == b"ten bytes!"
    assert_persistent(r)
