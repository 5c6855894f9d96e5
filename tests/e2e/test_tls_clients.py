"""HTTPS with the load tools and the browser people use (wrk, h2load --h1, ab -k,
Chromium): each keeps its connections alive over TLS, and kahttpd counts far fewer
connections and handshakes than requests. Every run is bounded in count and time."""
import re
import shutil
import subprocess

import pytest

from obs.browser import CHROMIUM, run_chromium
from test_tls import cert, start_tls  # noqa: F401 (cert is a fixture)


def needs(tool):
    return pytest.mark.skipif(not shutil.which(tool), reason=f"{tool} is installed by make test")


def run(cmd, timeout=60):
    r = subprocess.run(cmd, capture_output=True, timeout=timeout)
    assert r.returncode == 0, (cmd, r.stdout[-2000:], r.stderr[-2000:])
    return r.stdout.decode(errors="replace")


def reuse(admin, requests):
    """Waits for the server to have counted the requests; returns /status."""
    return admin.wait_status(lambda s: s["requests"] >= requests, f"{requests} requests",
                             timeout=10)


@needs("wrk")
def test_wrk_over_tls_keeps_connections_alive(server, cert):  # noqa: F811
    # No request cap: its closes would be counted too.
    srv, https, admin = start_tls(server, cert, "--keepalive-requests", "0")
    out = run(["wrk", "-t1", "-c4", "-d1s", f"https://127.0.0.1:{https[1]}/a.txt"])
    n = int(re.search(r"(\d+) requests in", out).group(1))
    assert n > 100, out
    st = reuse(admin, n)
    assert st["accepted"] <= 8, st  # 4 connections (and wrk's probe), whatever the requests
    assert st["tls"]["handshakes"]["full"] + st["tls"]["handshakes"]["resumed"] <= 8, st["tls"]


@needs("h2load")
def test_h2load_h1_over_tls_reuses_connections(server, cert):  # noqa: F811
    srv, https, admin = start_tls(server, cert)
    out = run(["h2load", "--h1", "-n", "400", "-c", "4", f"https://127.0.0.1:{https[1]}/a.txt"])
    assert re.search(r"requests: 400 total, 400 started, 400 done, 400 succeeded", out), out
    st = reuse(admin, 400)
    assert st["accepted"] == 4, st


@needs("ab")
def test_ab_keepalive_over_tls(server, cert):  # noqa: F811
    srv, https, admin = start_tls(server, cert)
    out = run(["ab", "-k", "-n", "300", "-c", "3", f"https://127.0.0.1:{https[1]}/a.txt"])
    assert re.search(r"Keep-Alive requests:\s+300", out), out
    assert re.search(r"Failed requests:\s+0", out), out
    st = reuse(admin, 300)
    assert st["accepted"] <= 6, st


@pytest.mark.skipif(not CHROMIUM, reason="chromium is installed by make test")
def test_chromium_loads_a_page_over_tls_on_few_connections(server, cert, www, tmp_path):  # noqa: F811
    images = "".join(f'<img src="/img{i}.txt" alt="{i}">' for i in range(12))
    www.add("page.html", f"<!doctype html><title>tls</title><p id=ok>over tls</p>{images}".encode())
    for i in range(12):
        www.add(f"img{i}.txt", b"x" * 100)
    srv, https, admin = start_tls(server, cert)
    # Told to accept the test's self-signed certificate.
    out, _ = run_chromium(f"https://localhost:{https[1]}/page.html", tmp_path,
                          "--ignore-certificate-errors", "--virtual-time-budget=3000",
                          "--dump-dom")
    assert b"over tls" in out, out[:2000]
    st = reuse(admin, 13)
    # Chromium opens at most 6 connections per host: 13 requests, fewer connections.
    assert st["accepted"] <= 6, st
