"""
Request smuggling table (issue 8, part 2): every case of smuggling.tsv is sent on a
fresh connection followed by a valid GET /c.txt, once in one write and once in two,
and the responses are read strictly. The first response must have the case's status
and persistence; the follow-up must then be answered correctly as the next request,
or never be answered (closed, or taken as body bytes) exactly as the case says. A
response to anything else, a smuggled request included, fails the case.

One server serves the whole module (the cases are independent connections), so the
module runs in a few seconds. The table's format is described at its top.
"""
import re
from pathlib import Path

import pytest

from conftest import (STANDARD_FILES, DocRoot, Server, _require_binary, assert_closes_with_fin,
                      assert_last, assert_persistent)

TABLE = Path(__file__).with_name("smuggling.tsv")
FOLLOW_UP = b"GET /c.txt HTTP/1.1\r\nHost: t\r\n\r\n"
FOLLOW_UP_BODY = STANDARD_FILES["c.txt"]
ESCAPE_RE = re.compile(rb'\\(x[0-9a-fA-F]{2}|[rnt\\"])')
SIMPLE_ESCAPES = {b"r": b"\r", b"n": b"\n", b"t": b"\t", b"\\": b"\\", b'"': b'"'}


def unescape(text, where):
    raw = text.encode("utf-8")
    out, pos = bytearray(), 0
    for m in ESCAPE_RE.finditer(raw):
        out += raw[pos:m.start()]
        code = m.group(1)
        out += bytes([int(code[1:], 16)]) if code[:1] == b"x" else SIMPLE_ESCAPES[code]
        pos = m.end()
    out += raw[pos:]
    rest = ESCAPE_RE.sub(b"", raw)
    assert b"\\" not in rest, f"{where}: unknown escape in {text!r}"
    return bytes(out)


class Case:
    def __init__(self, fields, where):
        assert len(fields) == 7, f"{where}: {len(fields)} fields, expected 7 (a TAB lost?)"
        self.id, status, close, then, body, request, self.why = fields
        assert re.fullmatch(r"[a-z0-9][a-z0-9.^+-]*", self.id), f"{where}: bad id {self.id!r}"
        assert status == "-" or re.fullmatch(r"[1-5]\d\d", status), f"{where}: bad status {status!r}"
        assert close in ("yes", "no"), f"{where}: close must be yes or no, not {close!r}"
        assert then in ("served", "closed", "quiet") or re.fullmatch(r"[45]\d\d", then), \
            f"{where}: bad 'then' {then!r}"
        assert (close == "yes") == (then == "closed"), f"{where}: close={close} with then={then}"
        assert status != "-" or (close, then) == ("no", "quiet"), f"{where}: no response means quiet"
        assert self.why, f"{where}: say why"
        self.status = None if status == "-" else int(status)
        self.close = close == "yes"
        self.then = then
        self.body = None if body == "-" else unescape(body, where)
        self.request = unescape(request, where)
        self.method = "HEAD" if self.request.startswith(b"HEAD ") else "GET"


def load_table():
    cases, ids = [], set()
    for lineno, line in enumerate(TABLE.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        case = Case(line.split("\t"), f"{TABLE.name}:{lineno}")
        assert case.id not in ids, f"{TABLE.name}:{lineno}: duplicate id {case.id}"
        ids.add(case.id)
        cases.append(case)
    return cases


CASES = load_table()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory):
    """One kahttpd (--demo, one worker) for the module; stopped and checked like the
    conftest's servers: exit status 0 and no sanitizer report."""
    _require_binary()
    tmp = tmp_path_factory.mktemp("smuggling")
    www = DocRoot(tmp / "www")
    srv = Server(["--listen", "127.0.0.1:0", "--workers", "1", "--root", str(www.path), "--demo"],
                 tmp, tmp / "kahttpd.stderr").wait_ready(1)
    yield srv
    problems = srv.stop()
    if problems:
        pytest.fail(f"kahttpd {' '.join(srv.args)}: " + "; ".join(problems)
                    + f"\n--- stderr (tail) ---\n{srv.stderr_text()[-4000:]}", pytrace=False)


def assert_response_status(resp, status, what):
    assert resp.status == status, f"{what}: expected {status}, got {resp.status}: {resp.raw[:500]!r}"
    if status >= 400:
        ctype = resp.get("Content-Type") or ""
        assert ctype.lower().startswith("text/plain"), f"{what}: error body not text/plain: {resp.headers}"
        assert 0 < len(resp.body) <= 1024, f"{what}: error body should be short and present: {resp.body!r}"


def assert_nothing_more(conn):
    """Ends the client's side and requires the server to close with nothing more. A
    request still in the server's buffer would be answered before it sees the end of
    input, so this proves no further response was due, without waiting for a timer."""
    assert not conn.buf, f"unexpected bytes after the last expected response: {bytes(conn.buf)!r}"
    conn.shutdown_write()
    assert_closes_with_fin(conn)


@pytest.mark.parametrize("writes", ["one-write", "two-writes"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_smuggling_table(shared_server, case, writes):
    c = shared_server.connect()
    # A response the client's own request ends the connection with (HTTP/1.0 without
    # keep-alive, Connection: close): RFC 9112 9.6 says such a client sends nothing more,
    # so with nothing of it unread the server closes at once, and bytes sent after the
    # request in a second write could land after that close and be answered with a
    # reset. In one write they are buffered with the request, and the server lingers.
    client_closes = case.close and case.status is not None and case.status < 400
    try:
        if writes == "one-write":
            c.send(case.request + FOLLOW_UP)
        elif client_closes:
            c.send(case.request)
        else:
            c.send(case.request)
            c.send(FOLLOW_UP)

        if case.status is None:
            assert_nothing_more(c)
            return
        first = c.read_response(case.method)
        assert_response_status(first, case.status, "the case's response")
        if case.body is not None:
            assert first.body == case.body, f"body {first.body!r}, expected {case.body!r}"
        if case.close:
            assert_last(first)
            data, how = c.read_until_close(5.0)
            # The follow-up, when it came with the request, is dropped while the server
            # lingers; either way the response is whole and the close a FIN, never a
            # reset.
            assert data == b"" and how == "fin", \
                f"expected the server to close with nothing more, got {how} after {data[:300]!r}"
            return
        assert_persistent(first)

        if case.then == "served":
            follow = c.read_response()
            assert (follow.status, follow.body) == (200, FOLLOW_UP_BODY), \
                f"the follow-up GET /c.txt was not answered next: {follow.raw[:500]!r}"
            assert_persistent(follow)
        elif case.then != "quiet":
            leftover = c.read_response()
            assert_response_status(leftover, int(case.then), "the leftover bytes' response")
            assert_last(leftover)
            assert_closes_with_fin(c)
            return
        assert_nothing_more(c)
    finally:
        c.close()
