"""
kaprobe's checks of what the wire shows (issue 17): TCP keepalive probes, the close
race, the advertised against the enforced idle timeout, lingering; the findings
("what to change") in the table, in --markdown and in --json; `kaprobe compare`; and
`kaprobe chain` with its demonstration, a front (nginx with upstream keep-alive, 60 s)
before a backend with a 1 s idle timeout.

Each check is validated against kahttpd and at least one other server, started here
on free ports with a configuration that says what kaprobe must find (servers.py). The
chain puts the delay relay (tests/relay/relay.py, 60 ms round trip) between the front
and the backend: on loopback a backend's FIN reaches the front within microseconds,
and the race the articles saw on real networks needs a real network's round trip.

tcp_keepalive needs CAP_NET_RAW: the tests run as root, and the no-capability path
runs kaprobe under `setpriv --bounding-set -net_raw` (util-linux), which takes the
capability away from the process it starts, as for any user.
"""
import json
import os
import shutil
import subprocess

import pytest

import servers
from conftest import KAHTTPD
from test_kaprobe import KAPROBE, PROBE_KEYS, probe_json, run_kaprobe
from test_kaprobe import docroot, hello_server  # noqa: F401 (fixtures)

KA = (2, 1, 3)   # TCP keepalive: first probe after 2 s idle, every 1 s, 3 probes
SLACK = 0.3      # a keepalive timer of the kernel may fire a little late


def _started(factory, *args, **kw):
    try:
        return factory(*args, **kw)
    except servers.ServerError as e:
        pytest.fail(str(e))


@pytest.fixture
def start(tmp_path):
    """start(factory, ...) starts a servers.py server and stops it at teardown."""
    started = []

    def go(factory, *args, **kw):
        if factory in (servers.nginx, servers.nginx_proxy) and not os.access(servers.NGINX, os.X_OK):
            pytest.skip("nginx is not installed (tests/deps.sh installs nginx-light)")
        if factory is servers.lighttpd and not os.access(servers.LIGHTTPD, os.X_OK):
            pytest.skip("lighttpd is not installed (tests/deps.sh installs it)")
        srv = _started(factory, tmp_path, *args, **kw)
        started.append(srv)
        return srv

    yield go
    for srv in reversed(started):
        srv.stop()


def _kahttpd(tmp_path, *args, name="kahttpd"):
    """kahttpd serving tmp_path/www (the docroot fixture's, or an empty one)."""
    (tmp_path / "www").mkdir(exist_ok=True)
    return servers.Kahttpd(KAHTTPD, tmp_path, "--root", tmp_path / "www", *args, name=name)


def nginx_static(start, docroot, http="", listen="", name="nginx"):
    return start(servers.nginx, http=http, listen=listen, name=name,
                 server=f"    root {docroot};\n")


def findings(r, check):
    return [f for f in r["findings"] if f["check"] == check]


# ---- tcp_keepalive ---------------------------------------------------------------------------

def assert_probes(r, expected=KA):
    idle, intvl, cnt = expected
    ka = r["tcp_keepalive"]
    assert ka is not None, r
    assert set(ka) == {"first_probe_after_s", "interval_s", "count", "probes_seen"}, ka
    assert idle - 0.05 <= ka["first_probe_after_s"] <= idle + SLACK, ka
    assert intvl - 0.05 <= ka["interval_s"] <= intvl + SLACK, ka
    assert (ka["count"], ka["probes_seen"]) == (cnt, cnt), ka


def test_tcp_keepalive_kahttpd_probes_2_1_3(start, docroot):
    srv = start(_kahttpd, "--keepalive-timeout", 30, "--tcp-keepalive", "2:1:3")
    r = probe_json(srv.url("/index.html"), "--only", "tcp_keepalive", "--max-wait", 10)
    assert_probes(r)
    # Probes, then the reset after the third: about 2 + 1 * 3 s, not --max-wait.
    assert r["elapsed"] < 2 + 3 + 2, r


def test_tcp_keepalive_nginx_so_keepalive_2s_1_3(start, docroot):
    srv = nginx_static(start, docroot, http="  keepalive_timeout 30s;\n",
                       listen=" so_keepalive=2s:1:3")
    r = probe_json(srv.url("/index.html"), "--only", "tcp_keepalive", "--max-wait", 10)
    assert_probes(r)


def test_tcp_keepalive_lighttpd_has_none(start, docroot):
    srv = start(servers.lighttpd, docroot, "server.max-keep-alive-idle = 3\n")
    r = probe_json(srv.url("/index.html"), "--only", "tcp_keepalive", "--max-wait", 10)
    assert r["tcp_keepalive"] is None, r
    # It closed the idle connection before any probe: the FIN, seen on the wire, ends it.
    assert r["elapsed"] < 3 + 1.5 + 1, r
    assert [f["severity"] for f in findings(r, "tcp_keepalive")] == ["info"], r


def test_tcp_keepalive_none_within_max_wait_is_null(start, docroot):
    srv = start(_kahttpd, "--keepalive-timeout", 30, "--tcp-keepalive", "off")
    r = probe_json(srv.url("/index.html"), "--only", "tcp_keepalive", "--max-wait", 1)
    assert r["tcp_keepalive"] is None, r
    assert 1 <= r["elapsed"] < 3, r


def test_tcp_keepalive_without_cap_net_raw_is_null_with_exit_0(start, docroot):
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    srv = start(_kahttpd, "--keepalive-timeout", 30, "--tcp-keepalive", "2:1:3")
    p = subprocess.run(["setpriv", "--inh-caps", "-net_raw", "--bounding-set", "-net_raw",
                        KAPROBE, "--json", "--only",
                        "tcp_keepalive,keep_alive_header", srv.url("/index.html")],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    assert p.returncode == 0, p
    r = json.loads(p.stdout)
    assert r["tcp_keepalive"] is None and r["keep_alive_header"] is not None, r
    assert b"CAP_NET_RAW" in p.stderr, p.stderr
    assert "CAP_NET_RAW" in findings(r, "tcp_keepalive")[0]["message"], r
    table = subprocess.run(["setpriv", "--bounding-set", "-net_raw",
                            KAPROBE, "--only", "tcp_keepalive",
                            srv.url("/index.html")], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=30)
    assert table.returncode == 0 and b"not measured" in table.stdout, table


# ---- close_race --------------------------------------------------------------------------------

def assert_race_counts(r):
    race = r["close_race"]
    assert race is not None and set(race) == {"answered", "reset", "closed_unanswered", "tries"}, r
    assert race["answered"] + race["reset"] + race["closed_unanswered"] == race["tries"], race
    return race


def test_close_race_kahttpd_answers_every_request_it_received(start, docroot):
    srv = start(_kahttpd, "--keepalive-timeout", 1)
    r = probe_json(srv.url("/index.html"), "--only", "close_race")
    race = assert_race_counts(r)
    assert race["tries"] >= 3 and race["reset"] == race["closed_unanswered"] == 0, r
    assert findings(r, "close_race") == [], r
    assert r["idle_timeout_s"] is not None  # close_race runs the idle check it needs
    assert r["elapsed"] < 2 * 1 + 1.5, r


@pytest.mark.parametrize("which", ["nginx", "lighttpd"])
def test_close_race_other_servers_are_counted(start, docroot, which):
    if which == "nginx":
        srv = nginx_static(start, docroot, http="  keepalive_timeout 1s;\n")
    else:
        srv = start(servers.lighttpd, docroot, "server.max-keep-alive-idle = 1\n")
    r = probe_json(srv.url("/index.html"), "--only", "close_race")
    race = assert_race_counts(r)
    assert race["tries"] >= 1, r  # lighttpd's wandering close: the second round sends
    lost = race["reset"] + race["closed_unanswered"]
    assert bool(findings(r, "close_race")) == (lost > 0), r


# ---- advertised_vs_enforced ------------------------------------------------------------------

def test_advertised_vs_enforced_kahttpd_advertises_less(start, docroot):
    srv = start(_kahttpd, "--keepalive-timeout", 2)
    r = probe_json(srv.url("/index.html"), "--only", "advertised_vs_enforced")
    adv = r["advertised_vs_enforced"]
    assert (adv["advertised_s"], adv["verdict"]) == (1, "ok"), r
    assert 2 - 0.05 <= adv["enforced_s"] <= 2.25, r
    assert findings(r, "advertised_vs_enforced") == [], r


def test_advertised_vs_enforced_nginx_advertising_more_is_flagged(start, docroot):
    srv = nginx_static(start, docroot, http="  keepalive_timeout 1s 5;\n")
    r = probe_json(srv.url("/index.html"), "--only", "advertised_vs_enforced")
    adv = r["advertised_vs_enforced"]
    assert (adv["advertised_s"], adv["verdict"]) == (5, "advertises_more"), r
    f = findings(r, "advertised_vs_enforced")
    assert [x["severity"] for x in f] == ["error"] and "timeout=5" in f[0]["message"], r


def test_advertised_vs_enforced_lighttpd_advertises_nothing(start, docroot):
    srv = start(servers.lighttpd, docroot, "server.max-keep-alive-idle = 1\n")
    r = probe_json(srv.url("/index.html"), "--only", "advertised_vs_enforced")
    assert r["advertised_vs_enforced"]["verdict"] == "not_advertised", r
    f = findings(r, "advertised_vs_enforced")
    assert f and "no `Keep-Alive: timeout`" in f[0]["message"] and "advertise it" in f[0]["message"], r


# ---- lingering --------------------------------------------------------------------------------

def test_lingering_kahttpd_and_nginx_end_with_a_fin(start, docroot):
    for srv in (start(_kahttpd), nginx_static(start, docroot)):
        r = probe_json(srv.url("/index.html"), "--only", "lingering")
        assert r["lingering"] == "fin", r
        assert findings(r, "lingering") == [], r


def test_lingering_nginx_without_lingering_close_resets(start, docroot):
    srv = nginx_static(start, docroot, http="  lingering_close off;\n")
    r = probe_json(srv.url("/index.html"), "--only", "lingering")
    assert r["lingering"] == "reset", r
    f = findings(r, "lingering")
    assert f and f[0]["message"].startswith("closes without lingering"), r


# ---- reports ---------------------------------------------------------------------------------

def test_findings_in_table_markdown_and_json_agree(start, docroot):
    srv = nginx_static(start, docroot, http="  keepalive_timeout 1s 5;\n  lingering_close off;\n")
    args = ["--only", "advertised_vs_enforced,lingering", srv.url("/index.html")]
    r = probe_json(*args[2:], *args[:2])  # checks the keys and their order
    messages = [f["message"] for f in r["findings"]]
    assert len(messages) >= 2 and all(set(f) == {"check", "severity", "message"}
                                      for f in r["findings"]), r
    table = run_kaprobe(*args).stdout.decode()
    md = run_kaprobe("--markdown", *args).stdout.decode()
    assert "what to change:" in table and "### What to change" in md, (table, md)
    assert "| check | result | evidence |" in md, md
    for m in messages:
        assert m in table and m in md, (m, table, md)


def test_compare_one_column_per_server_every_check_a_row(start, docroot):
    ka = start(_kahttpd, "--keepalive-timeout", 1)
    ng = nginx_static(start, docroot, http="  keepalive_timeout 1s;\n")
    p = run_kaprobe("compare", "--max-requests", 20, ka.url("/index.html"), ng.url("/index.html"))
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode()
    head = next(ln for ln in out.splitlines() if ln.startswith("check "))
    assert "kahttpd" in head and "nginx/" in head, out
    for check in ("persistent_http11", "idle_timeout", "tcp_keepalive", "close_race",
                  "advertised_vs_enforced", "lingering"):
        assert any(ln.startswith(check + " ") for ln in out.splitlines()), (check, out)
    j = run_kaprobe("compare", "--json", "--only", "keep_alive_header", ka.url("/index.html"),
                    ng.url("/index.html"))
    servers_ = json.loads(j.stdout)["servers"]
    assert [s["result"]["server"].split("/")[0] for s in servers_] == ["kahttpd", "nginx"], j
    assert all(list(s["result"]) == PROBE_KEYS for s in servers_), servers_


# ---- chain -----------------------------------------------------------------------------------

RELAY_RTT_MS = 60


def test_chain_nginx_front_before_1s_backend_demonstrates_502s(start, tmp_path):
    (tmp_path / "www").mkdir(exist_ok=True)
    back = start(_kahttpd, "--keepalive-timeout", 1, "--demo", name="backend")
    relay = start(servers.Relay, back.port, RELAY_RTT_MS)
    front = start(servers.nginx_proxy, relay.port)
    p = run_kaprobe("chain", "--json", "--max-wait", 3, "--max-requests", 20,
                    "--demonstrate", 8, front.url("/_demo/echo"), back.url("/_demo/echo"),
                    timeout=120)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["verdict"] == "front_outlives_backend", r
    assert r["front"]["idle_timeout_s"] is None and 0.95 <= r["backend"]["idle_timeout_s"] <= 1.25, r
    d = r["demonstration"]
    assert (d["method"], d["requests"]) == ("POST", 8), d
    assert d["failures"] >= 1 and d["failures"] == d["status_5xx"] + d["reset"] + d["closed"] + \
        d["timed_out"], d
    assert 0.9 <= d["gap_min_s"] < d["backend_timeout_s"] < d["gap_max_s"] <= 1.3, d
    msgs = [f["message"] for f in r["findings"] if f["check"] == "chain"]
    assert any("expect 502s" in m for m in msgs), msgs


def test_chain_table_and_get_is_retried(start, tmp_path):
    """The same chain with GET, which nginx may retry on another connection (RFC 9110
    9.2.2): the demonstration's count is the front's retry policy made visible."""
    (tmp_path / "www").mkdir(exist_ok=True)
    (tmp_path / "www" / "index.html").write_text("x\n")
    back = start(_kahttpd, "--keepalive-timeout", 1, name="backend")
    relay = start(servers.Relay, back.port, RELAY_RTT_MS)
    front = start(servers.nginx_proxy, relay.port)
    p = run_kaprobe("chain", "--max-wait", 2, "--max-requests", 10, "--demonstrate", 4,
                    "--method", "GET", front.url("/index.html"), back.url("/index.html"),
                    timeout=120)
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode()
    assert "front" in out and "backend (direct)" in out and "verdict:" in out, out
    assert "demonstration: 4 GET requests" in out and "0 failed" in out, out
    assert "what to change:" in out and "expect 502s" in out, out


def test_chain_kahttpd_proxy_front_loses_nothing(start, tmp_path):
    help_text = subprocess.run([KAHTTPD, "--help"], capture_output=True, timeout=30).stdout
    if b"--proxy" not in help_text:
        pytest.skip("kahttpd has no --proxy yet (the reverse proxy issue)")
    (tmp_path / "www").mkdir(exist_ok=True)
    back = start(_kahttpd, "--keepalive-timeout", 1, "--demo", name="backend")
    relay = start(servers.Relay, back.port, RELAY_RTT_MS)
    front = start(_kahttpd, "--proxy", f"/=http://127.0.0.1:{relay.port}", name="front")
    p = run_kaprobe("chain", "--json", "--max-wait", 3, "--max-requests", 20,
                    "--demonstrate", 8, front.url("/_demo/echo"), back.url("/_demo/echo"),
                    timeout=120)
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)["demonstration"]
    assert d["requests"] == 8 and d["failures"] == 0, d


# ---- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("args,named", [
    (["--only", "tcp_keepalives", "http://127.0.0.1:1/"], "tcp_keepalives"),
    (["--connections", "0", "http://127.0.0.1:1/"], "--connections"),
    (["--json", "--markdown", "http://127.0.0.1:1/"], "--markdown"),
    (["chain", "http://127.0.0.1:1/"], "FRONT_URL BACKEND_URL"),
    (["chain", "http://127.0.0.1:1/", "http://127.0.0.1:2/", "http://127.0.0.1:3/"], "URL"),
    (["chain", "--demonstrate", "x", "http://127.0.0.1:1/", "http://127.0.0.1:2/"], "--demonstrate"),
    (["chain", "--method", "PO ST", "http://127.0.0.1:1/", "http://127.0.0.1:2/"], "--method"),
    (["chain", "--only", "lingering", "http://127.0.0.1:1/", "http://127.0.0.1:2/"], "--only"),
    (["chain", "http://127.0.0.1:1/", "ftp://x/"], "ftp://x/"),
    (["compare", "http://127.0.0.1:1/"], "URL URL..."),
    (["compare", "--demonstrate", "3", "http://127.0.0.1:1/", "http://127.0.0.1:2/"], "--demonstrate"),
    (["compare", "http://127.0.0.1:1/", "nope://"], "nope://"),
    (["compare", "--only", "tls_resumption", "https://127.0.0.1:1/", "http://127.0.0.1:2/"],
     "https://"),
])
def test_new_commands_bad_usage_exits_2(args, named):
    p = run_kaprobe(*args)
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert named in p.stderr.decode(), p.stderr
    assert p.stdout == b"", p.stdout


@pytest.mark.parametrize("mode", ["chain", "compare"])
def test_new_commands_unreachable_or_garbage_exit_1(mode, hello_server, start):
    import socket
    with socket.socket() as s:  # bound, never listening: connects are refused
        s.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{s.getsockname()[1]}/"
        p = run_kaprobe(mode, refused, hello_server, timeout=30)
    assert p.returncode == 1 and b"refused" in p.stderr and refused.encode() in p.stderr, p
    srv = start(_kahttpd)
    p = run_kaprobe(mode, "--max-wait", 1, srv.url(), hello_server, timeout=30)
    assert p.returncode == 1 and b"not answer with HTTP" in p.stderr, p
    assert p.stdout == b"" and p.elapsed < 10, p


def test_connections_1_runs_every_check_one_at_a_time(start, docroot):
    srv = start(_kahttpd, "--keepalive-timeout", 0.3)
    only = "persistent_http11,pipelining,lingering,close_race"
    one = probe_json(srv.url("/index.html"), "--only", only, "--connections", 1)
    many = probe_json(srv.url("/index.html"), "--only", only)
    for r in (one, many):
        assert r["persistent_http11"] and r["pipelining"] and r["lingering"] == "fin", r
        assert r["close_race"]["tries"] >= 1 and r["close_race"]["reset"] == 0, r
    # One at a time, close_race's eight tries follow each other: each waits the idle
    # timeout, so the probe takes several times longer than with 16 at once.
    assert one["elapsed"] > 4 * 0.3 and many["elapsed"] < 3 * 0.3 + 1, (one, many)


def test_doc_holds_generated_reports():
    """docs/kaprobe.md's example runs are make probe-report's output: every marked
    section is filled, with the command and what it printed."""
    text = (servers.REPO / "docs" / "kaprobe.md").read_text()
    for name in ("kahttpd", "kahttpd-json", "nginx", "lighttpd", "markdown", "compare", "chain",
                 "nginx-tls"):
        start_mark, end_mark = f"<!-- probe-report:{name} -->", f"<!-- /probe-report:{name} -->"
        assert start_mark in text and end_mark in text, name
        body = text.split(start_mark)[1].split(end_mark)[0]
        assert body.strip(), f"section {name} is empty: run make probe-report"
        if name != "markdown":
            assert body.lstrip("`\n").startswith("$ build/kaprobe "), (name, body[:200])
    kahttpd = text.split("<!-- probe-report:kahttpd -->")[1]
    for check in ("tcp_keepalive", "close_race", "advertised_vs_enforced", "lingering"):
        assert f"\n{check} " in kahttpd, check
