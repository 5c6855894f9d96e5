"""
Rule 9, response framing: Content-Length when the length is known; chunked for an
unknown length to HTTP/1.1, close-delimited to HTTP/1.0; no body for HEAD, 204, 304.
"""
from conftest import (GET, HEAD, STANDARD_FILES, assert_closes_with_fin, assert_last, assert_persistent,
                      h11_header, h11_parse)

A, B, C = (STANDARD_FILES[n] for n in ("a.txt", "b.txt", "c.txt"))


def test_rule9_known_length_has_content_length(server, www):
    big = bytes(range(256)) * 4096  # 1 MiB
    www.add("big.bin", big)
    srv = server()
    c = srv.connect()
    for path, body in (("/a.txt", A), ("/big.bin", big)):
        c.send(GET(path))
        r = c.read_response(timeout=10)
        assert r.status == 200
        assert r.get_all("Content-Length") == [str(len(body))]
        assert r.get("Transfer-Encoding") is None
        assert r.body == body
        assert_persistent(r)


def test_rule9_stream_http11_is_chunked_and_persistent(server):
    srv = server("--demo")
    client = srv.h11()
    resp, data = client.request("GET", "/_demo/stream?chunks=4&interval_ms=20&size=100")
    assert resp.status_code == 200
    assert (h11_header(resp, "transfer-encoding") or "").lower() == "chunked"
    assert h11_header(resp, "content-length") is None
    assert len(data) == 400
    assert client.reusable
    resp, data = client.request("GET", "/a.txt")
    assert (resp.status_code, data) == (200, A)


def test_rule9_stream_http11_raw_chunks(server):
    srv = server("--demo")
    c = srv.connect()
    c.send(GET("/_demo/stream?chunks=3&interval_ms=10&size=7") + GET("/b.txt"))
    r = c.read_response()
    assert r.framing == "chunked"
    assert sum(r.chunk_sizes) == 21 and len(r.body) == 21
    assert_persistent(r)
    assert c.read_response().body == B  # the next response starts right after the last chunk


def test_rule9_stream_http10_close_delimited(server):
    srv = server("--demo")
    c = srv.connect()
    c.send(GET("/_demo/stream?chunks=3&interval_ms=10&size=64", version="HTTP/1.0"))
    r = c.read_response()
    assert r.status == 200
    assert r.get("Content-Length") is None and r.get("Transfer-Encoding") is None, r.headers
    assert r.framing == "close" and r.close_how == "fin"
    assert len(r.body) == 192


def test_rule9_head_has_length_but_no_body(server, www):
    www.add("page.html", b"<html>" + b"x" * 5000 + b"</html>")
    srv = server()
    c = srv.connect()
    c.send(HEAD("/page.html") + GET("/a.txt") + HEAD("/b.txt") + GET("/c.txt"))
    h1 = c.read_response("HEAD")
    assert h1.status == 200
    assert h1.get("Content-Length") == str(5013)
    assert h1.body == b""
    assert c.read_response().body == A  # would fail to parse if the HEAD had body bytes
    h2 = c.read_response("HEAD")
    assert h2.get("Content-Length") == str(len(B))
    assert c.read_response().body == C
    resp, body, _ = h11_parse(h1.raw, method="HEAD")
    assert resp.status_code == 200 and body == b""


def test_rule9_head_http10_then_close(server):
    srv = server()
    c = srv.connect()
    c.send(HEAD("/a.txt", version="HTTP/1.0"))
    r = c.read_response("HEAD")
    assert r.status == 200 and r.get("Content-Length") == str(len(A))
    assert_last(r)
    assert_closes_with_fin(c)  # and no body bytes before the FIN


def test_rule9_304_has_no_body(server):
    srv = server()
    c = srv.connect()
    c.send(GET("/a.txt"))
    etag = c.read_response().get("ETag")
    assert etag
    c.send(GET("/a.txt", headers=[("If-None-Match", etag)]) + GET("/b.txt"))
    r = c.read_response()
    assert r.status == 304
    assert r.get("Transfer-Encoding") is None
    assert c.read_response().body == B  # nothing between the 304 head and the next response
    assert_persistent(r)
