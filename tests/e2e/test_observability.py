"""
Issue 4, "see every connection's life": the --admin listener (/status, /metrics,
/connections and the dashboard at /), --access-log and --trace-connections.

Each scenario is scripted so that the figures are known exactly: which close reason,
who closed first, how many requests, which histogram bucket, which log lines and which
trace events. Counters are published just after a socket is closed, so after a close
the tests wait (with a deadline) for the figures to appear, then compare them whole.
"""
import re
import shutil
import signal
import socket
import struct
import subprocess
import time

import pytest

from conftest import (GET, STANDARD_FILES, assert_error_response, assert_last, assert_persistent,
                      http_request)
from obs.admin import (LIFE_LE, RPC_LE, STATES, Admin, admin_addr, bucket_counts, closed_counts,
                       log_entries, parse_metrics, peer_text, read_log, terminate, trace_events,
                       trace_of, wait_for, wait_log, wait_trace)
from obs import browser

A = STANDARD_FILES["a.txt"]
PARTIAL = b"GET /a.txt HTTP/1.1\r\nHost: test\r\n"
BAD = b"GET /a.txt HTTP/1.1\r\nHost : test\r\n\r\n"  # space before the colon: 400


def start(server, *args, **kw):
    """A server with an admin listener on a free port; returns (srv, Admin)."""
    srv = server("--admin", "127.0.0.1:0", *args, **kw)
    return srv, Admin(admin_addr(srv))


def conn_id_of(admin, sock):
    """The id /connections gives the connection whose peer is this client socket."""
    peer = peer_text(sock)
    conns = admin.wait_connections(lambda cs: any(c["peer"] == peer for c in cs),
                                   f"connection from {peer} in /connections")
    return next(c["id"] for c in conns if c["peer"] == peer)


def traced_id_of(srv, sock):
    """The id of the connection whose trace 'accept' line names this client socket as
    its peer. Unlike /connections, this works after the connection has closed."""
    peer = peer_text(sock)
    events = wait_trace(srv, lambda evs: any(e.event == "accept" and e.kv.get("peer") == peer for e in evs),
                        f"accept from {peer} in the trace")
    return next(e.conn for e in events if e.event == "accept" and e.kv.get("peer") == peer)


def names(events):
    return [e.event for e in events]


def assert_quiet_status(st, accepted, requests, closed, by_server, by_client, rpc):
    """The whole /status of a server whose connections have all closed."""
    assert st["connections"] == dict({s: 0 for s in STATES}, active=0), st
    assert st["accepted"] == accepted, st
    assert st["requests"] == requests, st
    assert st["closed"] == closed, st
    assert st["closed_by"] == {"server": by_server, "client": by_client}, st
    h = st["requests_per_connection"]
    assert h["le"] == RPC_LE, h
    assert h["counts"] == bucket_counts(RPC_LE, *rpc), h
    assert (h["sum"], h["count"]) == (sum(rpc), len(rpc)), h
    life = st["connection_lifetime_seconds"]
    assert life["le"] == LIFE_LE and len(life["counts"]) == len(LIFE_LE), life
    assert sum(life["counts"]) == life["count"] == len(rpc), life


# ---- one connection's life, start to end --------------------------------------------------

def test_obs_idle_timeout_counted_logged_and_traced(server, tmp_path):
    log = tmp_path / "access.log"
    srv, admin = start(server, "--keepalive-timeout", "0.3", "--access-log", log,
                       "--trace-connections")
    n = 3
    c = srv.connect()
    for _ in range(n):
        c.send(GET("/a.txt"))
        r = c.read_response()
        assert r.status == 200 and r.body == A
        assert_persistent(r)
    t_last = r.t_done
    assert c.read_until_close(3) == (b"", "fin")
    closed_after = time.monotonic() - t_last
    assert 0.3 - 0.05 <= closed_after <= 0.3 + 0.5, f"idle close {closed_after:.3f}s after the last response"

    st = admin.wait_closed(1)
    assert_quiet_status(st, accepted=1, requests=n, closed=closed_counts(keepalive_timeout=1),
                        by_server=1, by_client=0, rpc=[n])
    life = st["connection_lifetime_seconds"]
    assert 0.3 <= life["sum"] < 5, life
    assert life["counts"] == bucket_counts(LIFE_LE, life["sum"]), life

    cid = traced_id_of(srv, c.sock)
    entries = wait_log(log, n)
    assert [(e["conn"], e["req"], e["persist"]) for e in entries] == \
        [(cid, i, "keep-alive") for i in range(1, n + 1)], entries
    for e in entries:
        assert (e["host"], e["request"], e["status"], e["size"], e["referer"], e["ua"]) == \
            ("127.0.0.1", "GET /a.txt HTTP/1.1", 200, str(len(A)), "-", "-"), e["line"]

    ev = trace_of(wait_trace(srv, lambda evs: "close" in names(trace_of(evs, cid)), "close event"), cid)
    assert names(ev) == ["accept"] + ["request", "response", "idle"] * n + ["close"], ev
    assert ev[0].kv == {"peer": peer_text(c.sock), "worker": "0"}, ev[0]
    for i in range(n):
        req, resp, idle = ev[1 + 3 * i:4 + 3 * i]
        assert req.kv == {"req": str(i + 1), "method": "GET", "target": "/a.txt", "version": "1.1"}, req
        assert resp.kv == {"req": str(i + 1), "status": "200", "persist": "keep-alive"}, resp
        assert idle.kv == {"timeout_ms": "300"}, idle
    close = ev[-1]
    assert {k: close.kv[k] for k in ("reason", "closed_by", "requests")} == \
        {"reason": "keepalive_timeout", "closed_by": "server", "requests": str(n)}, close
    assert int(close.kv["age_ms"]) >= 300, close
    assert [e.ts for e in ev] == sorted(e.ts for e in ev), ev
    idle_for = (close.ts - ev[-2].ts).total_seconds()
    assert 0.3 - 0.05 <= idle_for <= 0.3 + 0.5, f"trace: close {idle_for:.3f}s after idle"


def test_obs_connection_close_counted_and_server_keeps_time_wait(server, tmp_path):
    log = tmp_path / "access.log"
    srv, admin = start(server, "--access-log", log, "--trace-connections")
    tw_before = admin.status()["time_wait"]
    c = srv.connect()
    c.send(GET("/a.txt", headers=[("Connection", "close")]))
    assert_last(c.read_response())
    assert c.read_until_close(3) == (b"", "fin")
    c.close()

    st = admin.wait_closed(1)
    assert_quiet_status(st, accepted=1, requests=1, closed=closed_counts(connection_close=1),
                        by_server=1, by_client=0, rpc=[1])
    # The server closed first, so the server's socket is the one in TIME_WAIT.
    admin.wait_status(lambda s: s["time_wait"] >= tw_before + 1,
                      f"time_wait above {tw_before} after a server-first close")

    (entry,) = wait_log(log, 1)
    assert (entry["req"], entry["persist"], entry["status"]) == (1, "close", 200), entry["line"]
    ev = trace_of(trace_events(srv.stderr_text()), entry["conn"])
    assert names(ev) == ["accept", "request", "response", "close"], ev
    assert ev[2].kv["persist"] == "close", ev[2]
    assert (ev[3].kv["reason"], ev[3].kv["closed_by"]) == ("connection_close", "server"), ev[3]


def test_obs_client_close_first_counted_as_client(server):
    srv, admin = start(server, "--trace-connections")
    c1, c2 = srv.connect(), srv.connect()
    for c in (c1, c2):
        c.send(GET("/a.txt"))
        assert_persistent(c.read_response())
    id1, id2 = conn_id_of(admin, c1.sock), conn_id_of(admin, c2.sock)
    assert id1 != id2
    c1.close()
    c2.close()

    st = admin.wait_closed(2)
    assert_quiet_status(st, accepted=2, requests=2, closed=closed_counts(client_close=2),
                        by_server=0, by_client=2, rpc=[1, 1])
    evs = trace_events(srv.stderr_text())
    for cid in (id1, id2):
        close = trace_of(evs, cid)[-1]
        assert close.event == "close" and close.kv["reason"] == "client_close", close
        assert close.kv["closed_by"] == "client", close


def test_obs_fin_with_a_connection_close_request_counts_the_client_first(server):
    # The client's FIN comes with its last request (Connection: close, then shutdown at
    # once): it closed first and keeps TIME_WAIT. The reason stays connection_close.
    # The request is one the server answers 300 ms later, so that the FIN is surely
    # there before the answer: sent right behind a request served at once, it can
    # reach the server in a later event than the request, after the server's own FIN.
    srv, admin = start(server, "--trace-connections", "--demo")
    c = srv.connect()
    c.send(GET("/_demo/sleep?ms=300", headers=[("Connection", "close")]))
    c.sock.shutdown(socket.SHUT_WR)
    assert_last(c.read_response())
    assert c.read_until_close(3) == (b"", "fin")
    cid = traced_id_of(srv, c.sock)
    c.close()

    st = admin.wait_closed(1)
    assert_quiet_status(st, accepted=1, requests=1, closed=closed_counts(connection_close=1),
                        by_server=0, by_client=1, rpc=[1])
    close = trace_of(trace_events(srv.stderr_text()), cid)[-1]
    assert (close.event, close.kv["reason"], close.kv["closed_by"]) == \
        ("close", "connection_close", "client"), close


def test_obs_pipelined_batch_counted_and_logged_in_order(server, tmp_path):
    log = tmp_path / "access.log"
    srv, admin = start(server, "--access-log", log, "--trace-connections")
    c = srv.connect()
    c.send(GET("/a.txt") + GET("/b.txt") + GET("/c.txt"))
    bodies = [c.read_response().body for _ in range(3)]
    assert bodies == [STANDARD_FILES[n] for n in ("a.txt", "b.txt", "c.txt")]
    cid = conn_id_of(admin, c.sock)
    c.close()

    st = admin.wait_closed(1)
    assert_quiet_status(st, accepted=1, requests=3, closed=closed_counts(client_close=1),
                        by_server=0, by_client=1, rpc=[3])
    entries = wait_log(log, 3)
    assert [(e["conn"], e["req"], e["request"], e["persist"]) for e in entries] == [
        (cid, 1, "GET /a.txt HTTP/1.1", "keep-alive"),
        (cid, 2, "GET /b.txt HTTP/1.1", "keep-alive"),
        (cid, 3, "GET /c.txt HTTP/1.1", "keep-alive")], entries
    ev = [e for e in trace_of(trace_events(srv.stderr_text()), cid) if e.event in ("request", "response")]
    assert [(e.event, e.kv["req"]) for e in ev] == [
        ("request", "1"), ("response", "1"), ("request", "2"), ("response", "2"),
        ("request", "3"), ("response", "3")], ev


# ---- connections that end badly -------------------------------------------------------------

def test_obs_header_timeout_partial_head_gets_408_and_counted(server, tmp_path):
    log = tmp_path / "access.log"
    srv, admin = start(server, "--header-timeout", "0.3", "--access-log", log, "--trace-connections")
    c = srv.connect()
    c.send(PARTIAL)
    assert_error_response(c, 408)
    cid = traced_id_of(srv, c.sock)
    c.close()

    st = admin.wait_closed(1)
    # The 408 is the answer to a request, if an unfinished one: it counts as one.
    assert_quiet_status(st, accepted=1, requests=1, closed=closed_counts(header_timeout=1),
                        by_server=1, by_client=0, rpc=[1])
    (entry,) = wait_log(log, 1)
    assert (entry["conn"], entry["req"], entry["request"], entry["status"], entry["persist"]) == \
        (cid, 1, "-", 408, "close"), entry["line"]
    ev = trace_of(trace_events(srv.stderr_text()), cid)
    assert names(ev) == ["accept", "response", "close"], ev
    assert ev[1].kv == {"req": "1", "status": "408", "persist": "close"}, ev[1]
    assert (ev[2].kv["reason"], ev[2].kv["closed_by"]) == ("header_timeout", "server"), ev[2]


def test_obs_header_timeout_silent_connection_closed_without_a_byte(server, tmp_path):
    log = tmp_path / "access.log"
    srv, admin = start(server, "--header-timeout", "0.3", "--access-log", log, "--trace-connections")
    c = srv.connect()
    assert c.read_until_close(3) == (b"", "fin")
    cid = traced_id_of(srv, c.sock)

    st = admin.wait_closed(1)
    assert_quiet_status(st, accepted=1, requests=0, closed=closed_counts(header_timeout=1),
                        by_server=1, by_client=0, rpc=[0])
    ev = trace_of(trace_events(srv.stderr_text()), cid)
    assert names(ev) == ["accept", "close"], ev
    assert (ev[1].kv["reason"], ev[1].kv["closed_by"], ev[1].kv["requests"]) == \
        ("header_timeout", "server", "0"), ev[1]
    terminate(srv)
    assert read_log(log) == "", "a connection that sent nothing must not be logged"


def test_obs_bad_request_counted_lingering_then_logged_400(server, tmp_path):
    log = tmp_path / "access.log"
    srv, admin = start(server, "--access-log", log, "--trace-connections")
    c = srv.connect()
    c.send(BAD)
    resp = assert_error_response(c, 400)
    # Our side is still open: the server lingers, reading what we might still send.
    st = admin.wait_status(lambda s: s["connections"]["lingering"] == 1, "a lingering connection")
    assert st["connections"]["active"] == 1 and sum(st["closed"].values()) == 0, st
    c.close()

    st = admin.wait_closed(1)
    assert_quiet_status(st, accepted=1, requests=1, closed=closed_counts(bad_request=1),
                        by_server=1, by_client=0, rpc=[1])
    (entry,) = wait_log(log, 1)
    assert (entry["status"], entry["size"], entry["persist"], entry["req"]) == \
        (400, str(len(resp.body)), "close", 1), entry["line"]
    close = trace_of(trace_events(srv.stderr_text()), entry["conn"])[-1]
    assert (close.event, close.kv["reason"], close.kv["closed_by"]) == ("close", "bad_request", "server"), close


def test_obs_keepalive_requests_cap_counted(server, tmp_path):
    log = tmp_path / "access.log"
    srv, admin = start(server, "--keepalive-requests", "2", "--access-log", log)
    c = srv.connect()
    c.send(GET("/a.txt"))
    assert_persistent(c.read_response())
    c.send(GET("/a.txt"))
    assert_last(c.read_response())
    assert c.read_until_close(3) == (b"", "fin")
    c.close()

    st = admin.wait_closed(1)
    assert_quiet_status(st, accepted=1, requests=2, closed=closed_counts(keepalive_requests=1),
                        by_server=1, by_client=0, rpc=[2])
    entries = wait_log(log, 2)
    assert [(e["req"], e["persist"]) for e in entries] == [(1, "keep-alive"), (2, "close")], entries


# ---- /connections and the gauges ------------------------------------------------------------

def test_obs_connections_idle_countdown_decreases(server):
    srv, admin = start(server, "--keepalive-timeout", "5")
    c = srv.connect()
    c.send(GET("/a.txt"))
    assert_persistent(c.read_response())
    peer = peer_text(c.sock)

    # The response can reach us a moment before the server has moved the connection on
    # from "writing" to "idle": wait for it.
    first = admin.wait_connections(lambda cs: [c["state"] for c in cs] == ["idle"],
                                   "one idle connection")[0]
    assert set(first) == {"id", "peer", "worker", "state", "age_s", "idle_s", "requests",
                          "idle_timeout_in_s"}, first
    assert (first["peer"], first["worker"], first["state"], first["requests"]) == \
        (peer, 0, "idle", 1), first
    assert 0 < first["idle_timeout_in_s"] <= 5, first
    assert first["age_s"] >= first["idle_s"] >= 0, first
    c.expect_quiet(0.3)
    (second,) = admin.connections()
    assert second["id"] == first["id"] and second["state"] == "idle", second
    dropped = first["idle_timeout_in_s"] - second["idle_timeout_in_s"]
    assert 0.3 - 0.05 <= dropped <= 0.3 + 0.5, f"countdown went {first} -> {second}"
    assert second["idle_s"] - first["idle_s"] == pytest.approx(dropped, abs=0.002), (first, second)


def test_obs_connections_show_reading_processing_idle(server):
    srv, admin = start(server, "--demo", "--keepalive-timeout", "30")
    idle, busy, slow = srv.connect(), srv.connect(), srv.connect()
    idle.send(GET("/a.txt"))
    assert_persistent(idle.read_response())
    busy.send(GET("/_demo/sleep?ms=3000"))
    slow.send(PARTIAL)
    want = {peer_text(idle.sock): "idle", peer_text(busy.sock): "processing",
            peer_text(slow.sock): "reading"}
    conns = admin.wait_connections(lambda cs: {c["peer"]: c["state"] for c in cs} == want,
                                   f"states {want}")
    by_peer = {c["peer"]: c for c in conns}
    assert by_peer[peer_text(busy.sock)]["requests"] == 1
    assert by_peer[peer_text(slow.sock)]["requests"] == 0
    assert "idle_timeout_in_s" not in by_peer[peer_text(busy.sock)]
    assert len({c["id"] for c in conns}) == 3
    st = admin.status()
    assert st["connections"] == {"active": 3, "reading": 1, "processing": 1, "writing": 0,
                                 "idle": 1, "lingering": 0}, st
    assert busy.read_response(timeout=10).status == 200


def test_obs_admin_traffic_is_counted_nowhere(server, tmp_path):
    log = tmp_path / "access.log"
    srv, admin = start(server, "--access-log", log, "--trace-connections")
    c = srv.connect()
    c.send(GET("/a.txt"))
    assert_persistent(c.read_response())
    before = admin.wait_status(lambda s: s["requests"] == 1 and s["connections"]["idle"] == 1,
                               "the one request, and its connection idle")
    for _ in range(5):
        admin.status()
    admin.connections()
    admin.metrics()
    assert admin.get("/")[0] == 200
    assert admin.get("/nope")[0] == 404
    assert admin.get("/status", method="POST")[0] == 405
    after = admin.status()
    for key in ("accepted", "requests", "closed", "closed_by", "connections", "requests_per_connection"):
        assert after[key] == before[key], (key, before[key], after[key])
    assert after["connections"]["active"] == 1
    assert [x["peer"] for x in admin.connections()] == [peer_text(c.sock)]
    metrics = parse_metrics(admin.metrics())
    assert metrics[("kahttpd_requests_total", ())] == 1
    assert metrics[("kahttpd_connections_accepted_total", ())] == 1
    cid = admin.connections()[0]["id"]
    terminate(srv)
    assert [e["conn"] for e in log_entries(read_log(log))] == [cid]
    assert {e.conn for e in trace_events(srv.stderr_text())} == {cid}


def test_obs_metrics_pass_promtool_and_match_status(server):
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.skip("promtool is not installed (Debian package prometheus; make test installs it)")
    srv, admin = start(server)
    a = srv.connect()
    for _ in range(2):
        a.send(GET("/a.txt"))
        assert_persistent(a.read_response())
    a.close()
    b = srv.connect()
    b.send(GET("/a.txt", headers=[("Connection", "close")]))
    assert_last(b.read_response())
    b.close()
    bad = srv.connect()
    bad.send(BAD)
    assert_error_response(bad, 400)
    bad.close()
    kept = srv.connect()
    kept.send(GET("/a.txt"))
    assert_persistent(kept.read_response())
    admin.wait_status(lambda s: sum(s["closed"].values()) == 3 and s["connections"]["idle"] == 1,
                      "three closed, one idle")

    before, text, after = admin.status(), admin.metrics(), admin.status()
    check = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                           capture_output=True, timeout=30)
    assert check.returncode == 0 and not check.stdout.strip() and not check.stderr.strip(), \
        (check.returncode, check.stdout, check.stderr, text)
    for key in ("accepted", "requests", "closed", "closed_by", "connections",
                "requests_per_connection", "connection_lifetime_seconds"):
        assert before[key] == after[key], f"traffic during the comparison: {key}"
    m = parse_metrics(text)
    assert all(name.startswith("kahttpd_") for name, _ in m), sorted(m)
    st = after
    assert m[("kahttpd_connections_accepted_total", ())] == st["accepted"] == 4
    assert m[("kahttpd_requests_total", ())] == st["requests"] == 5
    assert m[("kahttpd_connections_active", ())] == st["connections"]["active"] == 1
    for state in STATES:
        assert m[("kahttpd_connections", (("state", state),))] == st["connections"][state], state
    for reason, n in st["closed"].items():
        assert m[("kahttpd_connections_closed_total", (("reason", reason),))] == n, reason
    assert st["closed"] == closed_counts(client_close=1, connection_close=1, bad_request=1)
    for side in ("server", "client"):
        assert m[("kahttpd_connections_closed_by_total", (("side", side),))] == st["closed_by"][side]
    for name, key in (("kahttpd_requests_per_connection", "requests_per_connection"),
                      ("kahttpd_connection_lifetime_seconds", "connection_lifetime_seconds")):
        h = st[key]
        cumulative = 0
        for le, count in zip(h["le"], h["counts"]):
            cumulative += count
            assert m[(name + "_bucket", (("le", str(le)),))] == cumulative, (name, le)
        assert m[(name + "_count", ())] == h["count"]
        assert m[(name + "_sum", ())] == pytest.approx(h["sum"], abs=0.001)
    assert st["requests_per_connection"]["counts"] == bucket_counts(RPC_LE, 2, 1, 1)
    assert m[("kahttpd_time_wait_sockets", ())] >= 0
    assert m[("kahttpd_uptime_seconds", ())] > 0


# ---- the access log -----------------------------------------------------------------------

def test_obs_access_log_file_flushed_within_a_second(server, tmp_path):
    log = tmp_path / "access.log"
    srv, _ = start(server, "--access-log", log)
    c = srv.connect()
    # Three requests, each waiting for its line: the flush must keep coming, not only once.
    for n in range(1, 4):
        c.send(GET("/a.txt"))
        r = c.read_response()
        entries = wait_log(log, n, timeout=1.0 + 0.5)
        waited = time.monotonic() - r.t_done
        assert waited <= 1.0 + 0.5, f"log line {n} written {waited:.3f}s after its response"
        assert [e["req"] for e in entries] == list(range(1, n + 1)), entries


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGQUIT])
def test_obs_access_log_flushed_at_exit(server, tmp_path, sig):
    # SIGTERM drains; SIGQUIT exits at once, but not without the buffered lines.
    log = tmp_path / "access.log"
    srv, _ = start(server, "--access-log", log)
    c = srv.connect()
    # The once-a-second flush may come at any moment: find a response whose line is
    # still buffered, then stop the server at once. (If a flush slips in between, the
    # test checks less, never wrongly.)
    for n in range(1, 6):
        c.send(GET("/a.txt"))
        assert c.read_response().status == 200
        if read_log(log).count("\n") < n:
            break
    else:
        pytest.fail(f"every line was already on disk right after its response: {read_log(log)!r}")
    c.close()
    srv.proc.send_signal(sig)
    rc = srv.proc.wait(10)
    assert rc == 0, f"exit status {rc} after {sig.name}; stderr {srv.stderr_text()[-2000:]!r}"
    entries = log_entries(read_log(log))
    assert [e["req"] for e in entries] == list(range(1, n + 1)), entries


def test_obs_access_log_line_for_every_request_even_unanswered_or_cut(server, www, tmp_path):
    # One line per request, also for those that never completed: a response cut short
    # by the client or by --io-timeout is logged with its status and the body bytes that
    # did leave (fewer than the file's), a request whose client left before any answer
    # with 499 (as nginx does): that client resets its connection (a FIN alone would be a
    # half-close, still answered). The log's lines then match /status's request count.
    size = 8 * 1024 * 1024  # more than the kernel buffers on both sides hold
    www.add("big.bin", b"b" * size)
    log = tmp_path / "access.log"
    srv, admin = start(server, "--access-log", log, "--demo", "--io-timeout", "1")
    gone = srv.connect(rcvbuf=4096)
    gone.send(GET("/big.bin"))
    assert gone.sock.recv(1000), "no response began"
    stalled = srv.connect(rcvbuf=4096)
    stalled.send(GET("/big.bin"))
    waiting = srv.connect()
    waiting.send(GET("/_demo/sleep?ms=3000"))
    admin.wait_status(lambda s: s["requests"] == 3, "the three requests counted")
    gone.close()
    waiting.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    waiting.close()  # with SO_LINGER 0: a reset
    st = admin.wait_closed(3)  # the stalled one after --io-timeout
    assert st["closed"]["client_close"] == 2 and st["closed"]["io_timeout"] == 1, st
    entries = wait_log(log, 3, timeout=1.0 + 0.5)
    assert len(entries) == st["requests"] == 3, entries
    by_target = {e["request"].split()[1]: [] for e in entries}
    for e in entries:
        by_target[e["request"].split()[1]].append(e)
    (sleep,) = by_target["/_demo/sleep?ms=3000"]
    assert (sleep["status"], sleep["size"], sleep["persist"]) == (499, "-", "close"), sleep["line"]
    assert len(by_target["/big.bin"]) == 2, entries
    for e in by_target["/big.bin"]:
        assert e["status"] == 200 and e["persist"] == "close", e["line"]
        assert e["size"] != "-" and 0 < int(e["size"]) < size, e["line"]
    stalled.close()


def test_obs_access_log_off_and_default_write_nothing(server, tmp_path):
    for args in (("--access-log", "off"), ()):
        run = tmp_path / ("run-off" if args else "run-default")
        run.mkdir()
        srv, admin = start(server, *args, cwd=run)
        c = srv.connect()
        c.send(GET("/a.txt", headers=[("Connection", "close")]))
        assert c.read_response().status == 200
        c.close()
        admin.wait_closed(1)
        terminate(srv)
        assert [ln.decode() for ln in srv.stdout_lines if not ln.startswith(b"kahttpd: ")] == [], args
        assert list(run.iterdir()) == [], f"{args}: files appeared: {list(run.iterdir())}"


def test_obs_access_log_to_stdout(server):
    srv, admin = start(server, "--access-log", "-")
    c = srv.connect()
    c.send(GET("/b.txt"))
    assert c.read_response().status == 200
    cid = conn_id_of(admin, c.sock)
    lines = wait_for(lambda: [ln.decode() for ln in srv.stdout_lines if not ln.startswith(b"kahttpd: ")],
                     lambda ls: len(ls) >= 1, 3, "an access-log line on stdout")
    (entry,) = log_entries("".join(lines))
    assert (entry["conn"], entry["req"], entry["request"]) == (cid, 1, "GET /b.txt HTTP/1.1")


def test_obs_access_log_escapes_client_fields(server, tmp_path):
    log = tmp_path / "access.log"
    srv, _ = start(server, "--access-log", log)
    c = srv.connect()
    ua = b'evil" "forged-field\\ \xc3\xa9'
    c.send(GET("/a.txt", headers=[("User-Agent", ua), ("Referer", b'http://x/"q"')]))
    assert c.read_response().status == 200
    (entry,) = wait_log(log, 1)
    assert entry["ua"] == r"evil\x22 \x22forged-field\x5c \xc3\xa9", entry["line"]
    assert entry["referer"] == r"http://x/\x22q\x22", entry["line"]
    assert entry["line"].count('"') == 6, entry["line"]


def test_obs_access_log_line_intact_with_longest_fields(server, tmp_path):
    # Every client-supplied field at its longest once escaped (non-ASCII bytes become
    # four characters each): the line must still be one well-formed line, each field cut
    # short rather than spilling into the next.
    log = tmp_path / "access.log"
    srv, _ = start(server, "--access-log", log)
    c = srv.connect()
    method, target = "M" * 600, "/" + "t" * 800
    referer, ua = b"\xc3" * 300, b"\xa9" * 300
    c.send(http_request(target, method, headers=[("Referer", referer), ("User-Agent", ua)]))
    assert c.read_response().status == 405
    (entry,) = wait_log(log, 1)
    request = entry["request"]
    assert request.startswith("M" * 100) and 200 <= len(request) <= 1000, entry["line"]
    for field, sent in (("referer", referer), ("ua", ua)):
        escaped = "".join(f"\\x{b:02x}" for b in sent)
        assert 200 <= len(entry[field]) <= len(escaped) and escaped.startswith(entry[field]), \
            (field, entry["line"])


# ---- the dashboard --------------------------------------------------------------------------

def test_obs_dashboard_served_and_self_contained(server):
    srv, admin = start(server)
    status, headers, body = admin.get("/")
    assert status == 200 and headers["content-type"].startswith("text/html"), headers
    html = body.decode()
    for needed in ('id="connections"', 'id="chart-active"', 'id="chart-rpc"', 'id="chart-reasons"',
                   "<script", "<style"):
        assert needed in html, needed
    # Nothing fetched from elsewhere: no external scripts, styles, fonts or images.
    assert not re.search(r"<script[^>]*\bsrc=|<link\b|@import|url\((?!#)|<img\b", html)
    urls = set(re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s\"'<>]*", html))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls
    assert admin.get("/", method="HEAD")[0] == 200


def _need_chromium():
    if not browser.CHROMIUM:
        pytest.skip("chromium is not installed (Debian package chromium; make test installs it)")


def test_obs_dashboard_in_chromium_shows_live_connection(server, tmp_path):
    _need_chromium()
    srv, admin = start(server, "--keepalive-timeout", "60")
    c = srv.connect()
    c.send(GET("/a.txt"))
    assert_persistent(c.read_response())
    cid = conn_id_of(admin, c.sock)
    admin.wait_connections(lambda cs: [x["state"] for x in cs] == ["idle"], "the connection idle")
    url = f"http://{admin.addr[0]}:{admin.addr[1]}/"
    # Refreshes come every second of the page's (virtual) time; the DOM is taken half a
    # second after one, so the countdown has been ticking on its own for a while.
    dom = browser.DomSummary(browser.dump_dom(url, tmp_path, budget_ms=4500))
    assert {"connections", "chart-active", "chart-rpc", "chart-reasons"} <= dom.ids, dom.ids
    assert list(dom.rows) == [str(cid)], dom.rows
    row = dom.rows[str(cid)]
    assert row[:4] == [str(cid), peer_text(c.sock), "0", "idle"], row
    shown = re.fullmatch(r"(\d+\.\d) s", row[-1])
    assert shown, f"no idle countdown in {row}"
    fetched = float(dom.row_attrs[str(cid)]["data-idle-timeout-in"])
    assert 0 < fetched <= 60
    assert fetched - 1.05 <= float(shown.group(1)) <= fetched - 0.15, \
        f"countdown shows {shown.group(1)} s, {fetched} s when fetched: not ticking between refreshes?"
    series = dict(dom.paths["chart-active"])
    assert re.fullmatch(r"M[\d.]+,[\d.]+( L[\d.]+,[\d.]+)*", series.get("active") or ""), dom.paths
    assert re.fullmatch(r"M[\d.]+,[\d.]+( L[\d.]+,[\d.]+)*", series.get("idle") or ""), dom.paths
    assert dom.shapes["chart-rpc"] >= len(RPC_LE), dom.shapes
    assert dom.shapes["chart-reasons"] >= 12, dom.shapes
    # The page's own fetches are admin traffic, counted nowhere.
    assert admin.status()["requests"] == 1


@pytest.mark.parametrize("failures", [4, 10**6], ids=["recovers", "stays-down"])
def test_obs_dashboard_shows_error_banner_and_keeps_retrying(server, tmp_path, failures):
    _need_chromium()
    srv, admin = start(server, "--keepalive-timeout", "60")
    c = srv.connect()
    c.send(GET("/a.txt"))
    assert_persistent(c.read_response())
    cid = conn_id_of(admin, c.sock)
    front = browser.FlakyFront(admin.get("/")[2], admin.addr, failures)
    try:
        dom_html = browser.dump_dom(front.url, tmp_path, budget_ms=6000)
    finally:
        front.close()
    dom = browser.DomSummary(dom_html)
    banner = re.search(r'<div id="error"([^>]*)>([^<]*)</div>', dom_html)
    assert banner, "no #error element"
    # One refresh asks for two resources; a failed refresh is retried a second later.
    assert front.data_requests >= 6, f"only {front.data_requests} requests for data in 6 s"
    if failures < 10**6:
        assert "hidden" in banner.group(1), f"banner still shown after recovery: {banner.group(0)}"
        assert list(dom.rows) == [str(cid)], dom.rows
    else:
        assert "hidden" not in banner.group(1), f"no banner while every fetch fails: {banner.group(0)}"
        assert "503" in banner.group(2), banner.group(2)
        assert dom.rows == {}, dom.rows


def test_obs_dashboard_screenshot_is_drawn(server, tmp_path):
    _need_chromium()
    srv, admin = start(server, "--keepalive-timeout", "60")
    c = srv.connect()
    c.send(GET("/a.txt"))
    assert_persistent(c.read_response())
    png = browser.screenshot(f"http://{admin.addr[0]}:{admin.addr[1]}/", tmp_path, tmp_path / "dash.png")
    assert png.exists() and png.stat().st_size > 20_000, png.stat().st_size
    size, colours = browser.png_colours(png)
    assert size == (1280, 900), size
    total = sum(colours.values())
    assert len(colours) > 50, f"only {len(colours)} colours: a blank page?"
    assert max(colours.values()) / total < 0.9, "one colour covers more than 90% of the page"
