"""
Issue 15, malformed or ambiguous backend responses: every case of proxy_malformed.tsv
(status lines, Content-Length and Transfer-Encoding, header lines, an oversized head,
bytes before the response, a connection that ends or turns early) is one backend's
answer to a GET through the proxy. Each must give the client a 502 with its text/plain
body, nothing of the backend's bytes as a response of its own, a client connection
whose next request is answered correctly (no desync), and a backend connection that
is never used again.

The backend is a ScriptedBackend (backends.py): it answers a target containing "good"
with a correct response, anything else with the case's bytes, and records the targets
of every connection it accepted.
"""
import re
from pathlib import Path

import pytest

from conftest import GET
from proxyfix import backends, proxy  # noqa: F401
from test_proxy_forwarding import assert_gateway_error

TABLE = Path(__file__).with_name("proxy_malformed.tsv")
GOOD = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngood"
_ESCAPE = re.compile(r"\\(r|n|t|\\|x[0-9a-fA-F]{2})|\{(\d+)\*(.)\}")


def unescape(text, where):
    def one(m):
        if m.group(2):
            return m.group(3) * int(m.group(2))
        e = m.group(1)
        return {"r": "\r", "n": "\n", "t": "\t", "\\": "\\"}.get(e) or chr(int(e[1:], 16))
    assert not re.search(r"\\(?!r|n|t|\\|x[0-9a-fA-F]{2})", text), f"{where}: bad escape"
    return _ESCAPE.sub(one, text).encode("latin-1")


def load_table():
    cases = []
    for lineno, line in enumerate(TABLE.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        where = f"{TABLE.name}:{lineno}"
        assert len(fields) == 4, f"{where}: {len(fields)} fields, expected 4"
        case_id, then, response, why = fields
        assert then in ("keep", "close", "reset"), f"{where}: then {then!r}"
        cases.append(pytest.param(then, unescape(response, where), why, id=case_id))
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), "duplicate ids in the table"
    return cases


CASES = load_table()


def test_malformed_table_has_at_least_25_cases():
    assert len(CASES) >= 25, len(CASES)


@pytest.mark.parametrize("then,response,why", CASES)
def test_malformed_backend_response_is_502_without_desync(proxy, backends, then, response, why):
    def respond(n, method, target):
        return (GOOD, "keep") if "good" in target else (response, then)
    b = backends.scripted(respond)
    p = proxy({"/bad/": b.url()})
    c = p.connect()
    c.send(GET("/bad/case"))
    r = c.read_response()
    assert_gateway_error(r, 502)
    assert b"SMUGGLED" not in r.raw, r.raw
    assert not r.has_token("Connection", "close"), \
        f"the client connection should survive a backend's bad answer: {r.headers}"
    c.send(GET("/bad/good"))
    r = c.read_response()
    assert (r.status, r.body) == (200, b"good"), f"desync after the bad answer ({why}): {r}"
    c.expect_quiet(0.1)  # nothing left over from the bad answer
    for targets in b.conns:
        if "/bad/case" in targets:
            assert targets[-1] == "/bad/case", f"the bad connection was used again: {b.conns}"
