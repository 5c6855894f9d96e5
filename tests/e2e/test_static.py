"""
The static file handler: GET and HEAD from --root, validators and conditional requests,
single byte ranges, directories, and the guarantee that nothing outside the root is
ever served.
"""
import os
import re

import pytest

from conftest import GET, STANDARD_FILES, assert_persistent, h11_parse, http_request

A = STANDARD_FILES["a.txt"]
MTIME = 784111777  # Sun, 06 Nov 1994 08:49:37 GMT
MTIME_HTTP = "Sun, 06 Nov 1994 08:49:37 GMT"
DIGITS = b"0123456789abcdef"


def get(srv, target, method="GET", headers=()):
    c = srv.connect()
    c.send(http_request(target, method, headers=headers))
    return c.read_response(method)


@pytest.mark.parametrize("name,ctype", [
    ("index.html", "text/html"),
    ("notes.txt", "text/plain"),
    ("style.css", "text/css"),
    ("app.js", "javascript"),
    ("data.json", "application/json"),
    ("pic.png", "image/png"),
    ("photo.jpg", "image/jpeg"),
    ("blob.unknownext", "application/octet-stream"),
])
def test_static_content_type_by_extension(server, www, name, ctype):
    www.add("sub/" + name, b"content of " + name.encode())
    srv = server()
    r = get(srv, "/sub/" + name)
    assert r.status == 200
    assert r.body == b"content of " + name.encode()
    got = (r.get("Content-Type") or "").lower()
    if ctype == "javascript":
        assert got.split(";")[0].strip() in ("text/javascript", "application/javascript"), got
    else:
        assert got.split(";")[0].strip() == ctype, got


def test_static_get_headers(server, www):
    www.add("page.html", b"<p>hi</p>", mtime=MTIME)
    srv = server()
    r = get(srv, "/page.html")
    assert r.status == 200
    assert r.get("Content-Length") == "9"
    assert r.get("Last-Modified") == MTIME_HTTP
    etag = r.get("ETag")
    assert etag and re.fullmatch(r'(W/)?"[\x21\x23-\x7e]*"', etag), etag
    resp, body, _ = h11_parse(r.raw)
    assert resp.status_code == 200 and body == b"<p>hi</p>"


def test_static_etag_changes_with_content(server, www):
    www.add("v.txt", b"version one", mtime=MTIME)
    srv = server()
    e1 = get(srv, "/v.txt").get("ETag")
    www.add("v.txt", b"version two!", mtime=MTIME + 100)
    e2 = get(srv, "/v.txt").get("ETag")
    assert e1 != e2


def test_static_head_matches_get(server, www):
    www.add("page.html", b"<p>hello</p>", mtime=MTIME)
    srv = server()
    g = get(srv, "/page.html")
    h = get(srv, "/page.html", "HEAD")
    assert h.status == 200 and h.body == b""
    for name in ("Content-Length", "Content-Type", "Last-Modified", "ETag"):
        assert h.get(name) == g.get(name), name


def test_static_if_none_match_304(server, www):
    www.add("page.html", b"<p>hi</p>", mtime=MTIME)
    srv = server()
    etag = get(srv, "/page.html").get("ETag")
    r = get(srv, "/page.html", headers=[("If-None-Match", etag)])
    assert r.status == 304 and r.body == b""
    assert r.get("ETag") == etag
    r = get(srv, "/page.html", headers=[("If-None-Match", f'"nope", {etag}')])
    assert r.status == 304
    r = get(srv, "/page.html", headers=[("If-None-Match", '"something-else"')])
    assert r.status == 200 and r.body == b"<p>hi</p>"


def test_static_if_modified_since_304(server, www):
    www.add("page.html", b"<p>hi</p>", mtime=MTIME)
    srv = server()
    r = get(srv, "/page.html", headers=[("If-Modified-Since", MTIME_HTTP)])
    assert r.status == 304 and r.body == b""
    r = get(srv, "/page.html", headers=[("If-Modified-Since", "Sun, 06 Nov 1994 08:49:36 GMT")])
    assert r.status == 200
    r = get(srv, "/page.html", headers=[("If-Modified-Since", "Mon, 07 Nov 1994 08:49:37 GMT")])
    assert r.status == 304


def test_static_if_none_match_takes_precedence_over_if_modified_since(server, www):
    # RFC 9110 13.1.3: with If-None-Match present, If-Modified-Since is ignored.
    www.add("page.html", b"<p>hi</p>", mtime=MTIME)
    srv = server()
    r = get(srv, "/page.html", headers=[("If-None-Match", '"other"'), ("If-Modified-Since", MTIME_HTTP)])
    assert r.status == 200


@pytest.mark.parametrize("spec,first,last", [
    ("bytes=2-5", 2, 5),
    ("bytes=10-", 10, 15),
    ("bytes=-4", 12, 15),
    ("bytes=5-100", 5, 15),
    ("bytes=0-0", 0, 0),
])
def test_static_single_range_206(server, www, spec, first, last):
    www.add("r.bin", DIGITS)
    srv = server()
    r = get(srv, "/r.bin", headers=[("Range", spec)])
    assert r.status == 206, r
    assert r.get("Content-Range") == f"bytes {first}-{last}/16"
    assert r.get("Content-Length") == str(last - first + 1)
    assert r.body == DIGITS[first:last + 1]


@pytest.mark.parametrize("spec", ["bytes=16-20", "bytes=100-"])
def test_static_unsatisfiable_range_416(server, www, spec):
    www.add("r.bin", DIGITS)
    srv = server()
    r = get(srv, "/r.bin", headers=[("Range", spec)])
    assert r.status == 416, r


def test_static_several_ranges_whole_file_200(server, www):
    www.add("r.bin", DIGITS)
    srv = server()
    r = get(srv, "/r.bin", headers=[("Range", "bytes=0-1,4-5")])
    assert r.status == 200
    assert r.body == DIGITS
    assert r.get("Content-Range") is None


def test_static_directory_index_html(server, www):
    www.add("docs/index.html", b"<h1>docs</h1>")
    srv = server()
    r = get(srv, "/docs/")
    assert (r.status, r.body) == (200, b"<h1>docs</h1>")
    assert (r.get("Content-Type") or "").startswith("text/html")
    r = get(srv, "/")
    assert r.status == 403  # the root has no index.html
    assert b"a.txt" not in r.body


def test_static_directory_without_slash_301(server, www):
    www.add("docs/index.html", b"<h1>docs</h1>")
    srv = server()
    c = srv.connect()
    c.send(GET("/docs"))
    r = c.read_response()
    assert r.status == 301
    location = r.get("Location") or ""
    assert location.endswith("/docs/"), location
    assert location == "/docs/" or re.fullmatch(r"https?://[^/]+/docs/", location), location
    assert_persistent(r)
    c.send(GET(location if location.startswith("/") else "/docs/"))
    assert c.read_response().body == b"<h1>docs</h1>"


def test_static_directory_without_index_403_never_listing(server, www):
    www.add("empty/listed-file-name.txt", b"x")
    srv = server()
    r = get(srv, "/empty/")
    assert r.status == 403
    assert b"listed-file-name" not in r.body


def test_static_missing_file_404(server):
    srv = server()
    c = srv.connect()
    c.send(GET("/no-such-file.txt") + GET("/a.txt"))
    r = c.read_response()
    assert r.status == 404
    assert c.read_response().body == A


@pytest.mark.parametrize("target", ["/" + "n" * 257, "/" + "/".join(["d" * 100] * 50)])
def test_static_name_or_path_too_long_for_any_file_is_404_not_414(server, target):
    # Far under the 8 KiB target limit (414), but no file can have a name over 255
    # bytes or a path over 4 KiB: not found, and the connection stays open.
    srv = server()
    c = srv.connect()
    c.send(GET(target))
    r = c.read_response()
    assert r.status == 404, r
    assert_persistent(r)


@pytest.mark.skipif(os.geteuid() == 0, reason="running as root: file permission bits do not deny root, "
                                              "so an unreadable file cannot be made")
def test_static_unreadable_file_403(server, www):
    p = www.add("locked.txt", b"locked")
    p.chmod(0)
    srv = server()
    assert get(srv, "/locked.txt").status == 403


@pytest.mark.parametrize("target", [
    "/../secret.txt",
    "/../../secret.txt",
    "/a/../../secret.txt",
    "/./../secret.txt",
    "/%2e%2e/secret.txt",
    "/%2E%2E/secret.txt",
    "/.%2e/secret.txt",
    "/%2e%2e%2fsecret.txt",
    "/..%2fsecret.txt",
    "/..%5csecret.txt",
    "/a.txt%00",
    "/%00../secret.txt",
    "/escape-link.txt",
    "/escape-dir/secret.txt",
    "/escape-dir/www/a.txt",
    "//../secret.txt",
])
def test_static_no_path_escapes_root(server, www, secret, target):
    www.symlink("escape-link.txt", "../secret.txt")
    www.symlink("escape-dir", str(www.path.parent))
    srv = server()
    c = srv.connect()
    c.send(GET(target))
    r = c.read_response()
    assert 400 <= r.status < 500, f"{target} answered {r.status}"
    assert secret.encode() not in r.raw


def test_static_raw_nul_in_target_rejected(server, secret):
    srv = server()
    c = srv.connect()
    c.send(b"GET /a.txt\x00/../../secret.txt HTTP/1.1\r\nHost: t\r\n\r\n")
    r = c.read_response()
    assert r.status == 400
    assert secret.encode() not in r.raw


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_static_other_methods_405_with_allow(server, method):
    srv = server()
    c = srv.connect()
    c.send(http_request("/a.txt", method, headers=[("Content-Length", "0")]))
    r = c.read_response()
    assert r.status == 405, r
    allow = [t.strip().upper() for t in (r.get("Allow") or "").split(",")]
    assert "GET" in allow and "HEAD" in allow, r.get("Allow")
