"""
Strict parsing: every malformed or unsupported request gets its precise status, a short
text/plain body naming the problem, Connection: close, and a lingering close (the client
sees the whole response and then a FIN).
"""
import pytest

from conftest import GET, STANDARD_FILES, assert_error_response, assert_persistent, chunked, http_request

A = STANDARD_FILES["a.txt"]
H = b"Host: test\r\n"


def _req(head_lines, body=b""):
    return b"\r\n".join(head_lines) + b"\r\n\r\n" + body


# (id, request bytes, expected status)
HEAD_CASES = [
    # request line
    ("request-line-no-version", b"GET /a.txt\r\n\r\n", 400),
    ("request-line-double-space", b"GET  /a.txt HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("request-line-trailing-space", b"GET /a.txt HTTP/1.1 \r\n" + H + b"\r\n", 400),
    ("request-line-space-in-target", b"GET /a b.txt HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("request-line-bad-method-char", b"G@T /a.txt HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("request-line-no-target", b"GET HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("request-line-control-char", b"GET /a\x01.txt HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("request-line-nul", b"GET /a\x00.txt HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("request-line-bare-cr", b"GET /a.txt HTTP/1.1\r" + H + b"\r\n", 400),
    # header lines
    ("header-space-before-colon", b"GET /a.txt HTTP/1.1\r\nHost : test\r\n\r\n", 400),
    ("header-tab-before-colon", b"GET /a.txt HTTP/1.1\r\n" + H + b"X-A\t: b\r\n\r\n", 400),
    ("header-obs-fold", b"GET /a.txt HTTP/1.1\r\n" + H + b"X-A: one\r\n two\r\n\r\n", 400),
    ("header-obs-fold-tab", b"GET /a.txt HTTP/1.1\r\n" + H + b"X-A: one\r\n\ttwo\r\n\r\n", 400),
    ("header-no-colon", b"GET /a.txt HTTP/1.1\r\n" + H + b"NoColon\r\n\r\n", 400),
    ("header-empty-name", b"GET /a.txt HTTP/1.1\r\n" + H + b": value\r\n\r\n", 400),
    ("header-control-char-in-value", b"GET /a.txt HTTP/1.1\r\n" + H + b"X-A: a\x01b\r\n\r\n", 400),
    ("header-nul-in-value", b"GET /a.txt HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n\r\n", 400),
    ("header-del-in-value", b"GET /a.txt HTTP/1.1\r\n" + H + b"X-A: a\x7fb\r\n\r\n", 400),
    ("header-control-char-in-name", b"GET /a.txt HTTP/1.1\r\n" + H + b"X\x01A: b\r\n\r\n", 400),
    ("header-bad-char-in-name", b"GET /a.txt HTTP/1.1\r\n" + H + b"X(A): b\r\n\r\n", 400),
    ("header-bare-cr-in-value", b"GET /a.txt HTTP/1.1\r\n" + H + b"X-A: a\rb\r\n\r\n", 400),
    ("header-bare-cr-before-crlf", b"GET /a.txt HTTP/1.1\r\n" + H + b"X-A: b\r\r\n\r\n", 400),
    # Host
    ("http11-without-host", b"GET /a.txt HTTP/1.1\r\n\r\n", 400),
    ("http11-two-host", b"GET /a.txt HTTP/1.1\r\n" + H + H + b"\r\n", 400),
    ("http11-two-different-host", b"GET /a.txt HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400),
    # Content-Length
    ("content-length-letters", _req([b"POST /a.txt HTTP/1.1", b"Host: t", b"Content-Length: abc"]), 400),
    ("content-length-plus", _req([b"POST /a.txt HTTP/1.1", b"Host: t", b"Content-Length: +5"], b"hello"), 400),
    ("content-length-negative", _req([b"POST /a.txt HTTP/1.1", b"Host: t", b"Content-Length: -1"]), 400),
    ("content-length-hex", _req([b"POST /a.txt HTTP/1.1", b"Host: t", b"Content-Length: 0x5"], b"hello"), 400),
    ("content-length-decimal", _req([b"POST /a.txt HTTP/1.1", b"Host: t", b"Content-Length: 5.0"], b"hello"), 400),
    ("content-length-empty", _req([b"POST /a.txt HTTP/1.1", b"Host: t", b"Content-Length:"]), 400),
    ("content-length-list", _req([b"POST /a.txt HTTP/1.1", b"Host: t", b"Content-Length: 5, 5"], b"hello"), 400),
    ("content-length-conflicting", _req([b"POST /a.txt HTTP/1.1", b"Host: t", b"Content-Length: 5",
                                         b"Content-Length: 6"], b"hello!"), 400),
    ("content-length-overflow-2^64", _req([b"POST /a.txt HTTP/1.1", b"Host: t",
                                          b"Content-Length: 18446744073709551616"]), 400),
    ("content-length-overflow-2^64+1", _req([b"POST /a.txt HTTP/1.1", b"Host: t",
                                            b"Content-Length: 18446744073709551617"], b"x"), 400),
    ("content-length-overflow-huge", _req([b"POST /a.txt HTTP/1.1", b"Host: t",
                                          b"Content-Length: " + b"9" * 40]), 400),
    # Transfer-Encoding
    ("te-and-content-length", _req([b"POST /_demo/echo HTTP/1.1", b"Host: t", b"Transfer-Encoding: chunked",
                                    b"Content-Length: 5"], chunked(b"hello")), 400),
    ("te-chunked-not-final", _req([b"POST /_demo/echo HTTP/1.1", b"Host: t",
                                   b"Transfer-Encoding: chunked, gzip"], chunked(b"hello")), 400),
    ("te-in-http10", _req([b"POST /_demo/echo HTTP/1.0", b"Host: t", b"Transfer-Encoding: chunked"],
                          chunked(b"hello")), 400),
    ("te-gzip-chunked", _req([b"POST /_demo/echo HTTP/1.1", b"Host: t", b"Transfer-Encoding: gzip, chunked"],
                             chunked(b"hello")), 501),
    ("te-gzip-chunked-two-headers", _req([b"POST /_demo/echo HTTP/1.1", b"Host: t", b"Transfer-Encoding: gzip",
                                          b"Transfer-Encoding: chunked"], chunked(b"hello")), 501),
    # versions
    ("version-http2", b"GET /a.txt HTTP/2.0\r\n" + H + b"\r\n", 505),
    ("version-http30", b"GET /a.txt HTTP/3.0\r\n" + H + b"\r\n", 505),
    ("version-lowercase", b"GET /a.txt http/1.1\r\n" + H + b"\r\n", 400),
    ("version-no-minor", b"GET /a.txt HTTP/1\r\n" + H + b"\r\n", 400),
    ("version-two-digit-minor", b"GET /a.txt HTTP/1.10\r\n" + H + b"\r\n", 400),
    ("version-three-parts", b"GET /a.txt HTTP/1.1.1\r\n" + H + b"\r\n", 400),
    ("version-not-http", b"GET /a.txt HTTPS/1.1\r\n" + H + b"\r\n", 400),
    ("version-space", b"GET /a.txt HTTP/ 1.1\r\n" + H + b"\r\n", 400),
]


@pytest.mark.parametrize("raw,status", [c[1:] for c in HEAD_CASES], ids=[c[0] for c in HEAD_CASES])
def test_parse_malformed_request_rejected(server, raw, status):
    srv = server("--demo")
    c = srv.connect()
    c.send(raw)
    assert_error_response(c, status)


def test_parse_error_after_good_request_on_same_connection(server):
    # The connection was in use; the error still ends it properly.
    srv = server()
    c = srv.connect()
    c.send(GET("/a.txt"))
    assert_persistent(c.read_response())
    c.send(b"GET /a.txt HTTP/1.1\r\nHost : test\r\n\r\n")
    assert_error_response(c, 400)


# RFC 9112 3.2, RFC 3986 2: a request-target is ASCII. The file exists under its UTF-8
# name, so only the parser can be what refuses the raw form.
CAFE = "caf\u00e9.txt"


def test_parse_target_raw_utf8_400(server, www):
    www.add(CAFE, b"cafe\n")
    srv = server()
    c = srv.connect()
    c.send(b"GET /caf\xc3\xa9.txt HTTP/1.1\r\nHost: test\r\n\r\n")
    resp = assert_error_response(c, 400)
    assert b"outside ASCII" in resp.body, resp.body


def test_parse_target_percent_encoded_utf8_served(server, www):
    www.add(CAFE, b"cafe\n")
    srv = server()
    c = srv.connect()
    c.send(GET("/caf%C3%A9.txt"))
    r = c.read_response()
    assert (r.status, r.body) == (200, b"cafe\n")
    assert_persistent(r)


def test_parse_http10_without_host_accepted(server):
    srv = server()
    c = srv.connect()
    c.send(b"GET /a.txt HTTP/1.0\r\n\r\n")
    r = c.read_response()
    assert (r.status, r.body) == (200, A)


def test_parse_leading_empty_lines_skipped(server):
    # RFC 9112 2.2: a server SHOULD ignore at least one empty line before the request line.
    srv = server()
    c = srv.connect()
    c.send(b"\r\n" + GET("/a.txt"))
    r = c.read_response()
    assert (r.status, r.body) == (200, A)


CHUNK_CASES = [
    ("chunk-size-not-hex", b"zz\r\nhello\r\n0\r\n\r\n"),
    ("chunk-size-0x-prefix", b"0x5\r\nhello\r\n0\r\n\r\n"),
    ("chunk-size-empty", b"\r\nhello\r\n0\r\n\r\n"),
    ("chunk-size-negative", b"-5\r\nhello\r\n0\r\n\r\n"),
    ("chunk-ext-no-name", b"5;\r\nhello\r\n0\r\n\r\n"),
    ("chunk-ext-bad-char", b"5;a@b\r\nhello\r\n0\r\n\r\n"),
    ("chunk-ext-unterminated-quote", b"5;a=\"open\r\nhello\r\n0\r\n\r\n"),
    ("chunk-data-no-crlf", b"5\r\nhelloXX0\r\n\r\n"),
    ("chunk-data-too-long", b"5\r\nhello!\r\n0\r\n\r\n"),
    ("chunk-size-bare-lf", b"5\nhello\r\n0\r\n\r\n"),
    ("chunk-data-bare-lf", b"5\r\nhello\n0\r\n\r\n"),
    ("chunk-bad-trailer", b"5\r\nhello\r\n0\r\nBad Trailer\r\n\r\n"),
]


@pytest.mark.parametrize("body", [c[1] for c in CHUNK_CASES], ids=[c[0] for c in CHUNK_CASES])
def test_parse_bad_chunked_body_400(server, body):
    srv = server("--demo")
    c = srv.connect()
    c.send(http_request("/_demo/echo", "POST", headers=[("Transfer-Encoding", "chunked")], body=body))
    assert_error_response(c, 400)


# ---- limits --------------------------------------------------------------------------------------

def test_parse_target_over_8k_414(server):
    srv = server()
    c = srv.connect()
    c.send(GET("/" + "a" * 9000))
    assert_error_response(c, 414)


def test_parse_target_just_under_8k_served(server):
    srv = server()
    c = srv.connect()
    c.send(GET("/a.txt?" + "q" * 8000))
    r = c.read_response()
    assert (r.status, r.body) == (200, A)


def test_parse_head_over_max_header_size_431(server):
    srv = server("--max-header-size", "1024")
    c = srv.connect()
    c.send(GET("/a.txt", headers=[("X-Big", "b" * 1100)]))
    assert_error_response(c, 431)


def test_parse_head_over_default_max_header_size_431(server):
    srv = server()
    c = srv.connect()
    c.send(GET("/a.txt", headers=[(f"X-H{i}", "v" * 1000) for i in range(17)]))
    assert_error_response(c, 431)


def test_parse_head_under_max_header_size_served(server):
    srv = server("--max-header-size", "4096")
    c = srv.connect()
    c.send(GET("/a.txt", headers=[("X-Big", "b" * 3000)]))
    r = c.read_response()
    assert (r.status, r.body) == (200, A)


def test_parse_body_over_max_body_size_413(server):
    srv = server("--demo", "--max-body-size", "100")
    c = srv.connect()
    c.send(http_request("/_demo/echo", "POST", body=b"x" * 101))
    assert_error_response(c, 413)


def test_parse_chunked_body_over_max_body_size_413(server):
    srv = server("--demo", "--max-body-size", "100")
    c = srv.connect()
    c.send(http_request("/_demo/echo", "POST", headers=[("Transfer-Encoding", "chunked")],
                        body=chunked(b"x" * 60, b"y" * 41)))
    assert_error_response(c, 413)


@pytest.mark.parametrize("size_line", [b"65", b"4000000000000000"])  # 101 bytes; 2^62
def test_parse_chunk_announced_over_max_body_size_413_at_once(server, size_line):
    # Only the size line of a chunk too big for --max-body-size has come, and the
    # client waits: the 413 comes now, as it would for Content-Length, not after
    # the chunk's bytes or a timeout.
    srv = server("--demo", "--max-body-size", "100", "--io-timeout", "30")
    c = srv.connect()
    c.send(http_request("/_demo/echo", "POST", headers=[("Transfer-Encoding", "chunked")])
           + size_line + b"\r\n")
    assert_error_response(c, 413)


def test_parse_body_at_max_body_size_accepted(server):
    srv = server("--demo", "--max-body-size", "100")
    c = srv.connect()
    c.send(http_request("/_demo/echo", "POST", body=b"x" * 100))
    r = c.read_response()
    assert (r.status, r.body) == (200, b"x" * 100)


@pytest.mark.parametrize("minor", [b"2", b"9"])
def test_parse_higher_minor_version_is_505(server, minor):
    # HTTP/1.2 to 1.9: well formed, but no version kahttpd speaks (nor any that exists).
    srv = server()
    c = srv.connect()
    c.send(b"GET /a.txt HTTP/1." + minor + b"\r\nHost: t\r\n\r\n")
    assert_error_response(c, 505)
