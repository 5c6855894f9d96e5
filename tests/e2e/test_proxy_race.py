"""
Issue 15, the proof: the reuse race of proxy_race.py (real Node.js, gunicorn and nginx
backends, the silent test backend and an HTTP/1.0 backend, each behind a 2 ms link;
GET and POST with bodies sent after idle gaps scattered around each backend's idle
timeout, half of them within 1 % of it) through kahttpd loses no request.

The short run here (RACE_SECONDS, 20 s by default, 12 clients per backend kind) makes
a few hundred requests at the very moment a backend closes; `make proxy-proof` runs the
long one through kahttpd and through nginx configured as the usual upstream keep-alive
proxy, and prints the side-by-side table of docs/proxy.md.
"""
import os

from proxy_race import Backends, run_load
from waiting import admin_addr, admin_get

SECONDS = float(os.environ.get("RACE_SECONDS", "20"))
LANES = int(os.environ.get("RACE_LANES", "12"))


def test_race_no_request_lost_through_kahttpd(server, tmp_path):
    backends = Backends(tmp_path, LANES)
    try:
        args = []
        for prefix, urls in backends.routes():
            args += ["--proxy", f"{prefix}={','.join(urls)}"]
        srv = server(*args, "--admin", "127.0.0.1:0")
        admin = admin_addr(srv)
        result = run_load(srv.addr, backends.lanes, SECONDS, backends.timeouts)
        ups = admin_get(admin)["upstreams"]
    finally:
        backends.stop()
    failed = {k: s["failures"] for k, s in result.items() if s["failed"]}
    assert not failed, f"requests lost through kahttpd: {failed}"
    near = sum(s["near"] for s in result.values())
    posts = sum(s["post"] for s in result.values())
    assert near >= 150 and posts >= 150, f"too few races to prove anything: {result}"
    total = {k: sum(u[k] for u in ups) for k in ("retired_told", "retired_learned", "closed_idle",
                                                 "stale_failures", "retries", "reuses")}
    # The pool met every kind of close: told (Node), learned and seen (the silent ones).
    assert total["retired_told"] > 0 and total["retired_learned"] > 0, total
    assert total["reuses"] > 0, total
