"""
Issue 15, the upstream pool: told timeouts (`Keep-Alive: timeout=N` retires a pooled
connection after at least N/2 and at most N - 1 s of idleness; `max=M` after M more
requests), learned timeouts (a backend that closes after T without saying so: after
its first close, pooled connections are retired before T), a pooled connection checked
before reuse (a FIN or unexpected bytes close it at once), LIFO reuse, safe retries
(idempotent or Idempotency-Key requests once on a new connection; never a POST, which
goes only on a connection younger than half the timeout; never after a response byte),
the options that shape the pool, its figures in /status and the access log, and real
backends: Node.js (advertises), gunicorn (silent).

The backends record every connection they accept (who closed it, and its idle age at
the close), so each rule is read from the backend's side; /status is read with a
deadline after the event the test waits for.
"""
import re
import subprocess
import time

import pytest

from conftest import GET, http_request, run_kahttpd
from proxyfix import backends, elapsed, proxy  # noqa: F401
from test_proxy_forwarding import assert_gateway_error, echo_of
from waiting import wait_for

LOG_SUFFIX = re.compile(r" upstream=(?P<upstream>127\.0\.0\.1:\d+) up_conn=(?P<up_conn>\d+) "
                        r"up_reused=(?P<up_reused>[01]) up_ms=(?P<up_ms>\d+) "
                        r"retries=(?P<retries>\d+)$")
SLACK = 0.3  # s: a timer's lateness allowed on a loaded machine


def closed_conn(backend, conn_id, timeout):
    """The backend's record of connection conn_id once it has closed."""
    def find():
        return [r for r in backend.conns() if r["id"] == conn_id and r["closed"] is not None]
    return wait_for(find, bool, timeout, f"backend connection {conn_id} closed")[0]


# ---- told timeouts ---------------------------------------------------------------------------

def test_pool_told_timeout_retires_between_half_and_n_minus_1(proxy, backends):
    b = backends.http(advertise="timeout=4")  # says 4 s, never closes itself
    p = proxy({"/api/": b.urls()[0]})
    e = echo_of(p.exchange(GET("/api/a")))
    rec = closed_conn(b, e["conn"], 4 + 2)
    assert rec["closed_by"] == "peer", rec
    assert 2.0 - 0.05 <= rec["idle_at_close"] <= 3.0 + SLACK, \
        f"retired after {rec['idle_at_close']:.2f}s idle; told timeout=4: between 2 and 3 s"
    u = p.wait_upstream(b.urls()[0], lambda u: u["retired_told"] == 1, "retired_told 1")
    assert (u["told_timeout_s"], u["open"], u["idle"]) == (4, 0, 0), u
    e2 = echo_of(p.exchange(GET("/api/b")))
    assert e2["conn"] != e["conn"]


def test_pool_told_max_retires_after_that_many_requests(proxy, backends):
    b = backends.http(advertise="timeout=30", advertise_max=3)  # says max=2, 1, 0
    p = proxy({"/api/": b.urls()[0]})
    c = p.connect()
    conns = []
    for i in range(5):
        c.send(GET(f"/api/{i}"))
        conns.append(echo_of(c.read_response())["conn"])
    assert conns[:3] == [conns[0]] * 3 and conns[3] != conns[0], \
        f"max=2 after the first response: 3 requests on the first connection; {conns}"
    rec = closed_conn(b, conns[0], 3)
    assert rec["closed_by"] == "peer" and rec["requests"] == 3, rec
    u = p.upstream(b.urls()[0])
    assert u["retired_max"] >= 1, u


def test_pool_node_default_timeout_told_and_respected(proxy, backends):
    b = backends.node()  # Node's defaults: Keep-Alive: timeout=5
    p = proxy({"/node/": b.urls()[0]})
    t0 = time.monotonic()
    r = p.exchange(http_request("/node/x", "POST", body=b"hello"))
    assert r.status == 200 and r.body.startswith(b"node POST /node/x 5 "), r
    u = p.wait_upstream(b.urls()[0], lambda u: u["retired_told"] == 1, "retired_told 1",
                        timeout=4 + 2)
    assert elapsed(t0) <= 4 + SLACK + 0.2, f"retired {elapsed(t0):.2f}s after; told 5: at most 4"
    assert elapsed(t0) >= 2.5 - 0.05
    assert u["told_timeout_s"] == 5 and u["stale_failures"] == 0, u


# ---- learned timeouts and the watch on idle connections -------------------------------------

def test_pool_learned_timeout_retires_before_backend_closes(proxy, backends):
    b = backends.http(idle=1.5)  # closes after 1.5 s idle, says nothing
    p = proxy({"/api/": b.urls()[0]})
    first = echo_of(p.exchange(GET("/api/a")))["conn"]
    rec = closed_conn(b, first, 4)
    assert rec["closed_by"] == "backend-idle", rec
    u = p.wait_upstream(b.urls()[0], lambda u: u["closed_idle"] == 1 and u["open"] == 0,
                        "the backend's close seen at once (closed_idle 1, open 0)", timeout=1)
    assert u["learned_timeout_s"] is not None and 1.0 <= u["learned_timeout_s"] <= 1.6, u
    second = echo_of(p.exchange(GET("/api/b")))["conn"]
    rec = closed_conn(b, second, 3)
    assert rec["closed_by"] == "peer", f"the backend closed first again: {rec}"
    assert rec["idle_at_close"] < 1.5, rec
    u = p.upstream(b.urls()[0])
    assert u["retired_learned"] >= 1 and u["closed_idle"] == 1, u


def test_pool_gunicorn_silent_timeout_learned(proxy, backends):
    """gunicorn checks its keep-alive deadlines once a second, so it closes an idle
    connection anywhere from 1 to 3 s: the learned timeout is the shortest close seen,
    and once it is below what gunicorn does, connections are retired first."""
    b = backends.gunicorn(keep_alive=2)
    p = proxy({"/g/": b.urls()[0]})
    for i in range(5):
        r = p.exchange(GET(f"/g/{i}"))
        assert r.status == 200 and r.body.startswith(f"gunicorn GET /g/{i} 0 ".encode()), r
        u = p.wait_upstream(b.urls()[0], lambda u: u["open"] == 0, "the connection ended",
                            timeout=2 + 2)
        if u["retired_learned"]:
            break
    assert u["retired_learned"] >= 1 and 1 <= u["closed_idle"] <= i, u
    assert u["learned_timeout_s"] is not None and u["learned_timeout_s"] <= 3.1, u
    assert u["stale_failures"] == 0, u


def close_wait_sockets(port):
    """Local sockets in CLOSE-WAIT whose peer is 127.0.0.1:port (ss, iproute2)."""
    out = subprocess.run(["ss", "-Htn", "state", "close-wait", "dst", f"127.0.0.1:{port}"],
                         capture_output=True, text=True, timeout=10, check=True).stdout
    return [line for line in out.splitlines() if line.strip()]


def test_pool_backend_fin_closes_pooled_connection_at_once(proxy, backends):
    b = backends.http(idle=1.0)
    p = proxy({"/api/": b.urls()[0]})
    first = echo_of(p.exchange(GET("/api/a")))["conn"]
    rec = closed_conn(b, first, 3)
    assert rec["closed_by"] == "backend-idle", rec
    # Watched while idle: no socket left half-closed (CLOSE-WAIT) waiting for a reuse.
    wait_for(lambda: close_wait_sockets(b.port), lambda s: s == [], 0.5,
             "the proxy's side of the connection the backend closed")
    u = p.upstream(b.urls()[0])
    assert (u["closed_idle"], u["open"], u["idle"]) == (1, 0, 0), u
    r = p.exchange(http_request("/api/after", "POST", body=b"x"))
    assert echo_of(r)["conn"] != first


def test_pool_unexpected_bytes_close_idle_connection(proxy, backends):
    good = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngood"
    extra = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED"
    b = backends.scripted(lambda n, m, t: ([good, extra], "keep") if "first" in t
                          else (good, "keep"))
    p = proxy({"/api/": b.url()})
    c = p.connect()
    c.send(GET("/api/first"))
    assert c.read_response().body == b"good"
    wait_for(lambda: p.upstream(b.url()), lambda u: u["open"] == 0, 3,
             "the pooled connection closed when unexpected bytes arrived")
    c.send(GET("/api/second"))
    r = c.read_response()
    assert r.body == b"good" and b"SMUGGLED" not in r.raw, r
    assert b.conns[0] == ["/api/first"], b.conns


def test_pool_reuses_most_recent_connection(proxy, backends):
    b = backends.http()
    p = proxy({"/api/": b.urls()[0]})
    clients = [p.connect() for _ in range(3)]
    for i, c in enumerate(clients):  # three exchanges at once: three backend connections
        c.send(GET(f"/api/slow{i}?pause={0.2 * (i + 1):.1f}"))
    ids = [echo_of(c.read_response())["conn"] for c in clients]
    assert len(set(ids)) == 3, ids
    # The last to finish (pause 0.6) is the most recently used: LIFO takes it.
    for j in range(3):
        assert echo_of(p.exchange(GET(f"/api/next{j}")))["conn"] == ids[2], ids


# ---- retries ---------------------------------------------------------------------------------

def stale_second(first=b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"):
    """A backend whose connections answer once, then close at the second request
    without a byte: the reuse race, on demand."""
    return lambda n, m, t: (first, "keep") if n == 1 else (b"", "close")


@pytest.mark.parametrize("method,headers", [
    ("GET", []), ("HEAD", []), ("PUT", []), ("DELETE", []), ("OPTIONS", []),
    ("POST", [("Idempotency-Key", "k-1")]),
])
def test_pool_safe_request_retried_once_on_new_connection(proxy, backends, method, headers):
    b = backends.scripted(stale_second())
    p = proxy({"/api/": b.url()})
    c = p.connect()
    c.send(GET("/api/warm"))
    assert c.read_response().body == b"ok"
    c.send(http_request("/api/again", method, headers=headers,
                        body=b"data" if method in ("PUT", "POST") else b""))
    r = c.read_response(method)
    assert r.status == 200, f"{method} not retried: {r}"
    assert [len(t) for t in b.conns] == [2, 1], f"one failed try, one retry: {b.conns}"
    u = p.upstream(b.url())
    assert (u["retries"], u["stale_failures"]) == (1, 1), u
    line = wait_for(p.log_lines, lambda ls: len(ls) >= 2, 3, "2 access-log lines")[1]
    m = LOG_SUFFIX.search(line)
    assert m and m["retries"] == "1" and m["up_reused"] == "0", line


def test_pool_post_on_young_reused_connection_never_retried(proxy, backends):
    b = backends.scripted(stale_second())
    p = proxy({"/api/": b.url()})
    c = p.connect()
    c.send(GET("/api/warm"))
    assert c.read_response().body == b"ok"
    c.send(http_request("/api/pay", "POST", body=b"once only"))  # at once: a young connection
    assert_gateway_error(c.read_response(), 502)
    assert sum(t.count("/api/pay") for t in b.conns) == 1, f"the POST was sent twice: {b.conns}"
    assert p.upstream(b.url())["retries"] == 0


def test_pool_post_goes_on_new_connection_when_pooled_one_is_old(proxy, backends):
    b = backends.scripted(stale_second())
    p = proxy({"/api/": b.url()})
    c = p.connect()
    c.send(GET("/api/warm"))
    assert c.read_response().body == b"ok"
    c.expect_quiet(0.8)  # the pooled connection ages past 0.5 s (nothing told or learned)
    c.send(http_request("/api/pay", "POST", body=b"once only"))
    r = c.read_response()
    assert (r.status, r.body) == (200, b"ok"), r
    assert b.conns == [["/api/warm"], ["/api/pay"]], b.conns


def test_pool_no_retry_after_a_response_byte(proxy, backends):
    def respond(n, m, t):
        if n == 1:
            return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "keep"
        return b"HTTP/1.1 200 OK\r\nContent-Le", "close"
    b = backends.scripted(respond)
    p = proxy({"/api/": b.url()})
    c = p.connect()
    c.send(GET("/api/warm"))
    assert c.read_response().body == b"ok"
    c.send(GET("/api/again"))
    assert_gateway_error(c.read_response(), 502)
    assert sum(t.count("/api/again") for t in b.conns) == 1, b.conns


def test_pool_retry_only_once(proxy, backends):
    def respond(n, m, t):
        return ((b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "keep") if "warm" in t
                else (b"", "close"))
    b = backends.scripted(respond)
    p = proxy({"/api/": b.url()})
    c = p.connect()
    c.send(GET("/api/warm"))
    assert c.read_response().body == b"ok"
    c.send(GET("/api/doomed"))
    assert_gateway_error(c.read_response(), 502)
    assert sum(t.count("/api/doomed") for t in b.conns) == 2, f"one try and one retry: {b.conns}"


def test_pool_body_past_replay_limit_not_retried(proxy, backends):
    b = backends.scripted(stale_second())
    p = proxy({"/api/": b.url()})
    c = p.connect()
    c.send(GET("/api/warm"))
    assert c.read_response().body == b"ok"
    c.send(http_request("/api/big", "PUT", body=b"z" * 100000))  # more than 64 KiB kept
    assert_gateway_error(c.read_response(), 502)
    assert sum(t.count("/api/big") for t in b.conns) == 1, b.conns


# ---- options and figures ---------------------------------------------------------------------

def test_pool_upstream_keepalive_0_never_reuses(proxy, backends):
    b = backends.http()
    p = proxy({"/api/": b.urls()[0]}, "--upstream-keepalive", "0")
    c = p.connect()
    ids = []
    for i in range(4):
        c.send(GET(f"/api/{i}"))
        ids.append(echo_of(c.read_response())["conn"])
    assert len(set(ids)) == 4, ids
    u = p.upstream(b.urls()[0])
    assert (u["connects"], u["reuses"], u["reuse_ratio"]) == (4, 0, 0), u


def test_pool_upstream_idle_timeout_caps_idle_time(proxy, backends):
    b = backends.http()
    p = proxy({"/api/": b.urls()[0]}, "--upstream-idle-timeout", "1")
    e = echo_of(p.exchange(GET("/api/a")))
    rec = closed_conn(b, e["conn"], 3)
    assert rec["closed_by"] == "peer" and rec["idle_at_close"] <= 1 + SLACK, rec


def test_pool_status_and_access_log_figures(proxy, backends):
    b = backends.http()
    p = proxy({"/api/": b.urls()[0]})
    c = p.connect()
    for i in range(4):
        c.send(GET(f"/api/{i}"))
        echo_of(c.read_response())
    u = wait_for(lambda: p.upstream(b.urls()[0]), lambda u: u["idle"] == 1, 3, "one idle")
    assert (u["open"], u["idle"], u["connects"], u["reuses"]) == (1, 1, 1, 3), u
    assert u["reuse_ratio"] == pytest.approx(0.75, abs=0.01), u
    assert set(u["failures"]) == {"refused", "reset", "closed", "invalid", "connect_timeout",
                                  "timeout"}, u
    for k in ("retired_told", "retired_learned", "retired_max", "closed_idle", "stale_failures",
              "retries"):
        assert u[k] == 0, (k, u)
    lines = wait_for(p.log_lines, lambda ls: len(ls) >= 4, 3, "4 access-log lines")
    found = [LOG_SUFFIX.search(line) for line in lines]
    assert all(found), lines
    assert [m["up_reused"] for m in found] == ["0", "1", "1", "1"], lines
    assert len({m["up_conn"] for m in found}) == 1 and all(m["upstream"] == f"127.0.0.1:{b.port}"
                                                          for m in found), lines


@pytest.mark.parametrize("args", [
    ["--proxy", "nonsense"], ["--proxy", "/api/=ftp://127.0.0.1:1"], ["--proxy", "/api/="],
    ["--proxy", "/api/=http://127.0.0.1:99999"], ["--upstream-keepalive", "-1"],
    ["--upstream-keepalive", "x"], ["--upstream-idle-timeout", "soon"],
    ["--upstream-idle-timeout", "-1"], ["--upstream-connect-timeout", "abc"],
    ["--upstream-timeout", "-5"], ["--tunnel-idle-timeout", "forever"],
])
def test_pool_bad_option_values_exit_2(args):
    r = run_kahttpd("--listen", "127.0.0.1:0", *args)
    assert r.returncode == 2, (args, r.returncode, r.stderr)
    assert args[0].encode() in r.stderr, (args, r.stderr)


def test_pool_config_file_proxy_line_and_unreachable_backend(proxy, backends, tmp_path):
    b1, b2 = backends.http(name="one"), backends.http(name="two")
    conf = tmp_path / "k.conf"
    conf.write_text(f"proxy = /api/ = {b1.urls()[0]}, {b2.urls()[0]}\n"
                    "proxy = /gone/ = http://127.0.0.1:1\n")
    p = proxy({}, "--config", conf)
    names = [echo_of(p.exchange(GET(f"/api/{i}")))["backend"] for i in range(4)]
    assert sorted(names) == ["one", "one", "two", "two"], names
    assert_gateway_error(p.exchange(GET("/gone/x")), 502)
