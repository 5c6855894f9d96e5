"""
Rule 6, pipelining: requests that arrive together are answered in order, and nothing
after a request that ends the connection is processed.
"""
from conftest import (GET, HEAD, STANDARD_FILES, assert_closes_with_fin, assert_last,
                      assert_persistent, h11_parse, http_request)

A, B, C = (STANDARD_FILES[n] for n in ("a.txt", "b.txt", "c.txt"))


def test_rule6_pipelined_requests_answered_in_order(server, www):
    www.add("d.txt", b"delta" * 1000)
    srv = server()
    c = srv.connect()
    c.send(GET("/a.txt") + HEAD("/b.txt") + GET("/c.txt") + GET("/d.txt") + GET("/a.txt"))
    methods = ["GET", "HEAD", "GET", "GET", "GET"]
    responses = [c.read_response(m) for m in methods]
    assert [r.status for r in responses] == [200] * 5
    assert [r.body for r in responses] == [A, b"", C, b"delta" * 1000, A]
    assert responses[1].get("Content-Length") == str(len(B))
    for r, m in zip(responses, methods):
        assert_persistent(r)
        resp, body, _ = h11_parse(r.raw, method=m)
        assert resp.status_code == 200 and body == r.body
    c.send(GET("/b.txt"))  # still in sync afterwards
    assert c.read_response().body == B


def test_rule6_pipelined_requests_split_across_segments(server):
    # The second request's head straddles two writes.
    srv = server()
    c = srv.connect()
    data = GET("/a.txt") + GET("/b.txt") + GET("/c.txt")
    cut = len(GET("/a.txt")) + 7
    c.send(data[:cut])
    assert c.read_response().body == A
    c.send(data[cut:])
    assert [c.read_response().body for _ in range(2)] == [B, C]


def test_rule6_pipelined_connection_close_stops_processing(server):
    srv = server()
    c = srv.connect()
    c.send(GET("/a.txt") + GET("/b.txt", headers=[("Connection", "close")]) + GET("/c.txt"))
    r1 = c.read_response()
    r2 = c.read_response()
    assert (r1.status, r1.body) == (200, A)
    assert_persistent(r1)
    assert (r2.status, r2.body) == (200, B)
    assert_last(r2)
    assert_closes_with_fin(c)  # exactly two responses, then FIN


def test_rule6_pipelined_malformed_request_stops_processing(server):
    srv = server()
    c = srv.connect()
    bad = b"GET /b.txt HTTP/1.1\r\nHost: test\r\nNoColonHere\r\n\r\n"
    c.send(GET("/a.txt") + bad + GET("/c.txt"))
    r1 = c.read_response()
    assert (r1.status, r1.body) == (200, A)
    assert_persistent(r1)
    r2 = c.read_response()
    assert r2.status == 400, r2
    assert_last(r2)
    assert_closes_with_fin(c)


def test_rule6_pipelined_http10_without_keepalive_stops_processing(server):
    srv = server()
    c = srv.connect()
    c.send(GET("/a.txt") + GET("/b.txt", version="HTTP/1.0") + GET("/c.txt"))
    assert c.read_response().body == A
    r2 = c.read_response()
    assert r2.body == B
    assert_last(r2)
    assert_closes_with_fin(c)


def test_rule6_pipelined_bodies_and_requests_in_one_write(server):
    srv = server("--demo")
    c = srv.connect()
    c.send(http_request("/_demo/echo", "POST", body=b"first")
           + GET("/a.txt")
           + http_request("/_demo/echo", "POST", body=b"third", headers=[("Content-Type", "text/x-third")]))
    r = [c.read_response() for _ in range(3)]
    assert [x.body for x in r] == [b"first", A, b"third"]
    assert r[2].get("Content-Type") == "text/x-third"
