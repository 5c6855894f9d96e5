"""
What kahttpd says about its reverse proxy (--proxy): /status's upstreams, the
kahttpd_upstream_* metrics (checked by promtool), the access log's upstream fields, the
trace's upstream events, and the dashboard's table of pools. The backend is a second
kahttpd whose idle timeout is 1.5 s, advertised as Keep-Alive: timeout=1, so that the
pool is told its timeout and retires a connection 0.5 s after its last use.
"""
import re
import shutil
import subprocess

import pytest

from conftest import GET, assert_persistent
from obs import browser
from obs.admin import Admin, admin_addr, parse_metrics, wait_trace
from waiting import wait_for


def start_pair(server, *args):
    """(backend, proxy, Admin of the proxy, the backend's HOST:PORT)."""
    backend = server("--keepalive-timeout", "1.5", "--keepalive-grace", "0.5")
    be = f"127.0.0.1:{backend.addr[1]}"
    proxy = server("--admin", "127.0.0.1:0", "--proxy", f"/px/=http://{be}", "--workers", "1",
                   *args)
    return backend, proxy, Admin(admin_addr(proxy)), be


def three_requests(proxy):
    """Three requests on one client connection: one new backend connection, two reuses
    (404s from the backend, which has no /px/: still its answers, passed on)."""
    c = proxy.connect()
    for _ in range(3):
        c.send(GET("/px/a.txt"))
        r = c.read_response()
        assert r.status == 404 and b"404 Not Found" in r.body, r
        assert r.get("Via") == "1.1 kahttpd", r.headers
        assert_persistent(r)
    return c


def upstream(admin, be):
    ups = admin.status()["upstreams"]
    assert [u["backend"] for u in ups] == [be], ups
    return ups[0]


def test_proxy_status_counts_connects_reuses_and_the_told_timeout(server):
    _, proxy, admin, be = start_pair(server)
    assert upstream(admin, be)["connects"] == 0
    three_requests(proxy)
    u = upstream(admin, be)
    assert (u["connects"], u["reuses"]) == (1, 2), u
    assert u["reuse_ratio"] == pytest.approx(2 / 3, abs=1e-3)
    assert (u["open"], u["idle"]) == (1, 1), u
    assert u["told_timeout_s"] == 1.0 and u["learned_timeout_s"] is None, u
    assert set(u["failures"]) == {"refused", "reset", "closed", "invalid", "connect_timeout",
                                  "timeout"} and not any(u["failures"].values()), u
    # Told 1 s: the pooled connection retires after half of it, before the backend's
    # own timer (1.5 s) could race a request.
    u = admin.wait_status(lambda s: s["upstreams"][0]["open"] == 0,
                          "the pooled connection retired")["upstreams"][0]
    assert (u["retired_told"], u["closed_idle"], u["idle"]) == (1, 0, 0), u


def test_proxy_status_without_proxy_is_an_empty_list(server):
    srv = server("--admin", "127.0.0.1:0")
    assert Admin(admin_addr(srv)).status()["upstreams"] == []


def test_proxy_metrics_pass_promtool_and_match_status(server):
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.skip("promtool is not installed (Debian package prometheus; make test installs it)")
    _, proxy, admin, be = start_pair(server)
    three_requests(proxy)
    text = admin.metrics()
    check = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                           capture_output=True, timeout=30)
    assert check.returncode == 0 and not check.stdout.strip() and not check.stderr.strip(), \
        (check.returncode, check.stdout, check.stderr, text)
    m = parse_metrics(text)
    u = upstream(admin, be)
    label = (("backend", be),)
    for key in ("connects", "reuses", "retired_told", "retired_learned", "retired_max",
                "closed_idle", "stale_failures", "retries"):
        assert m[(f"kahttpd_upstream_{key}_total", label)] == u[key], key
    assert m[("kahttpd_upstream_reuses_total", label)] == 2
    for cause, n in u["failures"].items():
        assert m[("kahttpd_upstream_failures_total", (("backend", be), ("cause", cause)))] == n


def test_proxy_access_log_names_backend_connection_and_reuse(server, tmp_path):
    log = tmp_path / "access.log"
    _, proxy, admin, be = start_pair(server, "--access-log", str(log))
    three_requests(proxy).close()
    pattern = re.compile(r' upstream=(\S+) up_conn=(\d+) up_reused=([01]) up_ms=(\d+) '
                         r'retries=(\d+)$')
    lines = wait_for(lambda: log.read_text().splitlines() if log.exists() else [],
                     lambda ls: len(ls) == 3, 5.0, "three access-log lines")
    fields = [pattern.search(line) for line in lines]
    assert all(fields), lines
    assert [f.group(1) for f in fields] == [be] * 3
    assert len({f.group(2) for f in fields}) == 1, "one backend connection for the three"
    assert [f.group(3) for f in fields] == ["0", "1", "1"]
    assert [f.group(5) for f in fields] == ["0", "0", "0"]


def test_proxy_trace_connect_reuse_then_retire_told(server):
    _, proxy, admin, be = start_pair(server, "--trace-connections")
    three_requests(proxy)
    events = wait_trace(proxy, lambda evs: any(e.event == "upstream_retire" for e in evs),
                        "the pooled connection's retirement")
    ups = [e for e in events if e.event.startswith("upstream_")]
    assert [e.event for e in ups] == ["upstream_connect", "upstream_reuse", "upstream_reuse",
                                      "upstream_retire"], ups
    assert all(e.kv["backend"] == be for e in ups)
    assert len({e.kv["up_conn"] for e in ups}) == 1
    client = ups[0].conn
    assert client is not None and [e.conn for e in ups[:3]] == [client] * 3
    retire = ups[-1]
    assert retire.conn is None and retire.kv["reason"] == "told" and retire.kv["requests"] == "3"
    assert 450 <= int(retire.kv["idle_ms"]) < 1500, retire


def test_proxy_dashboard_shows_the_pool(server, tmp_path):
    if not browser.CHROMIUM:
        pytest.skip("chromium is not installed (Debian package chromium; make test installs it)")
    _, proxy, admin, be = start_pair(server)
    three_requests(proxy)
    dom = browser.dump_dom(f"http://{admin.addr[0]}:{admin.addr[1]}/", tmp_path, budget_ms=2500)
    table = re.search(r'<section[^>]*id="pools"[^>]*>.*?</section>', dom, re.S)
    assert table and "hidden" not in table.group(0).split(">", 1)[0], dom[:2000]
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", table.group(0))
    # Backend, open, idle, reuse, retired, closed by it, retries, 502 / 504, timeouts:
    # by the time the page has loaded the pooled connection may have retired.
    assert len(cells) == 9 and cells[0] == be and cells[3] == "67%", cells
    assert (cells[1:3], cells[4]) in ((["1", "1"], "0 / 0 / 0"), (["0", "0"], "1 / 0 / 0")), cells
    assert cells[7:] == ["0 / 0", "1.0 s / –"], cells
