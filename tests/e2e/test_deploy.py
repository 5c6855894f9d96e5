"""
Many instances behind HAProxy (examples/haproxy/): the short version of the
rolling-restart proof (make scale-test runs the long one, and nginx beside it), and
the timeout order of the example configuration against kahttpd's own defaults.
"""
import json
import re
import shutil
import subprocess
import sys

import pytest

from conftest import KAHTTPD, REPO
from optdoc import help_sections, run_help

CFG = REPO / "examples" / "haproxy" / "haproxy.cfg"


def seconds(text):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)?", text)
    assert m, text
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, None: 0.001}[m.group(2)]


def haproxy_timeouts():
    return {m.group(1): seconds(m.group(2))
            for m in re.finditer(r"^\s*timeout ([a-z-]+) (\S+)$", CFG.read_text(), re.M)}


def test_haproxy_closes_idle_backend_connections_before_kahttpd():
    t = haproxy_timeouts()
    opts = {}
    for section in help_sections(run_help(KAHTTPD)).values():
        opts.update(section)
    keepalive = float(opts["--keepalive-timeout"][1])
    assert t["server"] < keepalive, (t, keepalive)
    assert t["http-keep-alive"] < keepalive, (t, keepalive)
    # HAProxy 2.6 closes an idle server connection after about three purge delays.
    purge = seconds(re.search(r"^\s*default-server .*pool-purge-delay (\S+)", CFG.read_text(),
                              re.M).group(1))
    assert 3 * purge < keepalive, (purge, keepalive)


def test_haproxy_retries_only_what_never_reached_a_server():
    text = CFG.read_text()
    retry_on = re.search(r"^\s*retry-on (.*)$", text, re.M).group(1).split()
    assert sorted(retry_on) == ["conn-failure", "empty-response"]


def test_haproxy_config_is_valid(tmp_path):
    if not shutil.which("haproxy") and not shutil.which("/usr/sbin/haproxy"):
        pytest.fail("haproxy is needed (tests/deps.sh installs it)")
    env = {"HA_BIND": "127.0.0.1:1", "HA_STATS": str(tmp_path / "s"), "KA1": "127.0.0.1:2",
           "KA2": "127.0.0.1:3", "KA1_CHECK_PORT": "4", "KA2_CHECK_PORT": "5",
           "KA_CHECK_URI": "/healthz", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    p = subprocess.run(["haproxy", "-c", "-f", str(CFG)], env=env, capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr


ROLLING = REPO / "examples" / "haproxy" / "rolling.py"


def test_rolling_script_rejects_a_bad_server_spec_with_exit_2():
    p = subprocess.run([sys.executable, str(ROLLING), "restart", "ka1"], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 2 and "NAME=PIDFILE" in p.stderr, p


def test_rolling_script_fails_on_a_missing_process(tmp_path):
    p = subprocess.run([sys.executable, str(ROLLING), "upgrade", f"ka1={tmp_path}/none.pid"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and "no running process" in p.stdout, p


def test_rolling_restart_behind_haproxy_fails_no_request(tmp_path):
    """Two kahttpd behind HAProxy under wrk (keep-alive) and h2load (a new connection
    per request): each restarted in turn, then each upgraded with SIGUSR2 (when this
    kahttpd has it): no request fails at the clients."""
    for tool in ("haproxy", "wrk", "h2load"):
        if not shutil.which(tool) and not shutil.which(f"/usr/sbin/{tool}"):
            pytest.fail(f"{tool} is needed (tests/deps.sh installs it)")
    p = subprocess.run([sys.executable, str(REPO / "tests" / "deploy" / "scale.py"),
                        "--restarts", "1", "--upgrades", "1", "--json", "--dir", str(tmp_path)],
                       env={"KAHTTPD": KAHTTPD, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
                       capture_output=True, text=True, timeout=300)
    assert p.stdout.strip(), p.stderr
    r = json.loads(p.stdout[p.stdout.index("{"):])
    summary = {k: r[k] for k in ("restarts", "upgrades", "errors", "failed_requests")}
    assert r["restarts"] == 2, summary
    assert [e for e in r["errors"] if "upgrades skipped" not in e] == [], summary
    assert r["wrk"]["requests"] > 0 and r["h2load"]["requests"] > 0, r
    assert r["failed_requests"] == 0, (r["wrk"]["output"], r["h2load"]["bad_runs"][:2])
    assert p.returncode == 0, p.stderr[-3000:]
