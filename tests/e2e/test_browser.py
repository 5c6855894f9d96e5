"""
Issue 9: a real browser (Debian's chromium, driven by playwright-core) loads the test
page www/page/ (one document, 30 images, 7 scripts, 3 stylesheets) through the delay
relay at 0 and 50 ms round-trip time, from kahttpd with keep-alive on and with
--keepalive-timeout 0. Every resource must load with 200 and the page's scripts must
have rendered it; kahttpd's own counters (/status) and access log say how many
connections it accepted and how many requests each carried: with keep-alive at most 8
connections, without it exactly one per request.

One load per configuration here; `make browser-report` runs five of each and writes
docs/browser.md. The machinery is in tests/browser/pageload.py.
"""
import sys

import pytest

from conftest import REPO
from obs.admin import admin_addr

sys.path.insert(0, str(REPO / "tests" / "browser"))
import pageload  # noqa: E402

RTTS_MS = (0, 50)


def _need_tools():
    # A failure, not a skip: make test installs all of these (tests/deps.sh and
    # tests/browser/setup.sh), and a skip would let it pass without a browser.
    missing = pageload.missing_tools()
    if missing:
        pytest.fail("missing for the browser test: " + ", ".join(missing) + " (run make deps)")


def _loads(server, tmp_path, keepalive):
    _need_tools()
    log = tmp_path / "access.log"
    args = ["--root", pageload.WWW, "--admin", "127.0.0.1:0", "--access-log", log]
    if not keepalive:
        args += ["--keepalive-timeout", "0"]
    srv = server(*args)
    admin = admin_addr(srv)
    records = []
    for rtt in RTTS_MS:
        rec = pageload.load_page(srv.addr, admin, log, rtt, tmp_path)
        print(f"keep-alive {'on' if keepalive else 'off'}, RTT {rtt} ms: load {rec['load_ms']:.0f} ms, "
              f"{rec['accepted']} connections, {rec['requests']} requests, "
              f"per connection {rec['requests_per_connection']}")
        records.append(rec)
    return records


def test_browser_page_with_keepalive_loads_over_at_most_8_connections(server, tmp_path):
    for rec in _loads(server, tmp_path, keepalive=True):
        problems = pageload.check_load(rec, keepalive=True)
        assert not problems, f"RTT {rec['rtt_ms']} ms: " + "; ".join(problems)
        # Reuse really happened: some connection carried several requests.
        assert max(rec["requests_per_connection"]) > 1, rec["requests_per_connection"]


def test_browser_page_without_keepalive_takes_one_connection_per_request(server, tmp_path):
    for rec in _loads(server, tmp_path, keepalive=False):
        problems = pageload.check_load(rec, keepalive=False)
        assert not problems, f"RTT {rec['rtt_ms']} ms: " + "; ".join(problems)
