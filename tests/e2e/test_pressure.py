"""
Issue 5, "keep-alive without its costs", rules 2-5: what kahttpd does when connections
pile up. --max-connections with eviction of the least recently active idle connection
(never one that is mid-request; a new client waits in the listen backlog only while no
connection is idle), the adaptive idle timeout above --idle-watermark, a Keep-Alive
header that never promises more than the server keeps (timeout= capped by the enforced
idle timeout and the remaining lifetime, max= exact), and the close-race guard (a
request that arrives at the idle deadline is answered, not dropped).

Counters come from --admin /status and the connection trace (--trace-connections);
both are read with a deadline after the client has seen what it waits for.
"""
import math
import os
import random
import resource
import socket
import time
from collections import Counter
from fractions import Fraction

import pytest

from conftest import GET, STANDARD_FILES, assert_last, assert_persistent, read_until_close
from pressure import (TraceTail, admin_addr, closed_nonzero, closes, conn_ids, peek_state, trace,
                      wait_accepted, wait_closed, wait_status, wait_trace)

A, B, C = (STANDARD_FILES[n] for n in ("a.txt", "b.txt", "c.txt"))


def kept_alive(srv, target="/a.txt", body=A):
    """A new connection that has had one persistent response and is now idle."""
    c = srv.connect()
    c.send(GET(target))
    r = c.read_response()
    assert (r.status, r.body) == (200, body), r
    assert_persistent(r)
    return c


def assert_serves(c, target="/c.txt", body=C):
    """The connection still works: one more request, a persistent response."""
    c.send(GET(target))
    r = c.read_response()
    assert (r.status, r.body) == (200, body), r
    assert_persistent(r)
    return r


# ---- rule 2: --max-connections, eviction ----------------------------------------------------

# A full server would shrink idle timeouts to --keepalive-min-timeout (rule 3); these
# tests keep them at 30 s so that only eviction closes anything.
NO_SHRINK = ("--keepalive-timeout", "30", "--keepalive-min-timeout", "30")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_rule2_eviction_closes_least_recently_active_idle_connection(server, workers):
    """At the limit a new client is served; room is made by closing the idle connection
    that has been idle longest (FIN, reason evicted, counted), one per new client, and
    no other connection is touched. With two workers, the kernel spreads the
    connections over both, and the one evicted is still the process's least recently
    active, whichever worker holds it or accepts the newcomer."""
    srv = server("--max-connections", "8", "--workers", workers, *NO_SHRINK,
                 "--admin", "127.0.0.1:0", "--trace-connections")
    admin = admin_addr(srv)
    idle = [kept_alive(srv) for _ in range(8)]  # idle[0] is the least recently active

    ninth = srv.connect()
    ninth.send(GET("/b.txt"))
    r = ninth.read_response()
    assert (r.status, r.body) == (200, B), r
    assert_persistent(r)
    assert read_until_close(idle[0], 3) == (b"", "fin"), "the oldest idle connection was not closed"
    others = {i: peek_state(c.sock) for i, c in enumerate(idle[1:], 1)}
    assert set(others.values()) == {"open"}, f"only the oldest may be evicted: {others}"
    st = wait_status(admin, lambda s: s["closed"]["evicted"] >= 1, "one eviction counted")
    assert closed_nonzero(st) == {"evicted": 1}, st["closed"]
    assert st["connections"]["active"] == 8, st["connections"]

    # idle[1] is now the least recently active; the 9th client is the most recent.
    tenth = srv.connect()
    tenth.send(GET("/b.txt"))
    r = tenth.read_response()
    assert (r.status, r.body) == (200, B), r
    assert read_until_close(idle[1], 3) == (b"", "fin"), "the second oldest was not evicted"
    survivors = idle[2:] + [ninth, tenth]
    states = {i: peek_state(c.sock) for i, c in enumerate(survivors)}
    assert set(states.values()) == {"open"}, f"a connection other than the second oldest closed: {states}"
    for c in survivors:
        assert_serves(c)
    st = wait_status(admin, lambda s: s["closed"]["evicted"] >= 2, "two evictions counted")
    assert closed_nonzero(st) == {"evicted": 2}, st["closed"]
    assert st["connections"]["active"] == 8, st["connections"]

    events = trace(srv)
    ids = conn_ids(events, [idle[0].sock, idle[1].sock])
    closed = [(e.conn, e.kv["reason"], e.kv["closed_by"]) for e in events if e.event == "close"]
    assert closed == [(ids[idle[0].sock], "evicted", "server"),
                      (ids[idle[1].sock], "evicted", "server")], closed


def test_rule2_lingering_connection_makes_room_before_idle_ones(server):
    """A connection whose last response is out (Connection: close) lingers until its
    client closes; at --max-connections it is the first to make room, before any idle
    one, and it keeps its own close reason: nothing is counted as evicted."""
    srv = server("--max-connections", "8", *NO_SHRINK,
                 "--admin", "127.0.0.1:0", "--trace-connections")
    admin = admin_addr(srv)
    idle = [kept_alive(srv) for _ in range(7)]
    done = srv.connect()
    done.send(GET("/a.txt", headers=[("Connection", "close")]))
    r = done.read_response()
    assert (r.status, r.body) == (200, A), r
    assert_last(r)
    assert read_until_close(done, 3) == (b"", "fin")  # our side stays open: it lingers
    ids = wait_accepted(srv, [done.sock])

    ninth = srv.connect()
    ninth.send(GET("/b.txt"))
    r = ninth.read_response()
    assert (r.status, r.body) == (200, B), r
    wait_trace(srv, lambda ev: ids[done.sock] in closes(ev), "the lingering connection closed")
    states = {i: peek_state(c.sock) for i, c in enumerate(idle)}
    assert set(states.values()) == {"open"}, f"an idle connection closed: {states}"
    for c in idle:
        assert_serves(c)
    st = wait_status(admin, lambda s: sum(s["closed"].values()) >= 1, "one close counted")
    assert closed_nonzero(st) == {"connection_close": 1}, st["closed"]


def test_rule2_eviction_skips_connections_mid_request(server):
    """The least recently active connections are mid-request (each had a response,
    then began a 2 s request): a 9th client evicts the one connection that is idle,
    though it is the most recently active, and every request in progress is answered."""
    srv = server("--max-connections", "8", "--demo", *NO_SHRINK,
                 "--admin", "127.0.0.1:0", "--trace-connections")
    admin = admin_addr(srv)
    conns = [kept_alive(srv) for _ in range(8)]
    for c in conns[:7]:
        c.send(GET("/_demo/sleep?ms=2000"))
    ids = wait_accepted(srv, [c.sock for c in conns])
    wait_trace(srv, lambda ev: sum(e.event == "request" and e.kv.get("req") == "2" for e in ev) == 7,
               "7 slow requests begun")
    ninth = srv.connect()
    ninth.send(GET("/b.txt"))
    r = ninth.read_response()
    assert (r.status, r.body) == (200, B), r
    assert read_until_close(conns[7], 3) == (b"", "fin"), "the idle connection was not the one evicted"
    for i, c in enumerate(conns[:7]):
        r = c.read_response(timeout=5)
        assert (r.status, r.body) == (200, b"slept 2000 ms\n"), f"connection {i}: {r!r}"
        assert_persistent(r)
    st = wait_status(admin, lambda s: s["closed"]["evicted"] >= 1, "one eviction counted")
    assert closed_nonzero(st) == {"evicted": 1}, st["closed"]
    ended = closes(trace(srv))
    assert list(ended) == [ids[conns[7].sock]], ended


def _busy_eight(srv, close_last=False):
    """Eight connections each waiting for a 2 s slow handler (the server is full and
    nothing is idle). With close_last the 8th request says Connection: close."""
    busy = []
    for i in range(8):
        c = srv.connect()
        headers = [("Connection", "close")] if close_last and i == 7 else []
        c.send(GET("/_demo/sleep?ms=2000", headers=headers))
        busy.append(c)
    ids = wait_accepted(srv, [c.sock for c in busy])
    wait_trace(srv, lambda ev: sum(e.event == "request" and e.conn in ids.values() for e in ev) == 8,
               "all 8 slow requests begun")
    return busy


def test_rule2_busy_connections_never_evicted_new_client_waits_in_backlog(server):
    """With every connection mid-request, a 9th client is not accepted (its connect
    completes in the kernel's backlog, but nothing answers, nothing closes it) and no
    busy connection is evicted. When one frees up (its response ends with
    Connection: close) the waiting client is accepted and answered; nothing is reset."""
    srv = server("--max-connections", "8", "--demo", *NO_SHRINK,
                 "--admin", "127.0.0.1:0", "--trace-connections")
    admin = admin_addr(srv)
    busy = _busy_eight(srv, close_last=True)
    waiter = srv.connect()  # returns once the kernel has queued it: the backlog
    waiter.send(GET("/b.txt"))
    waiter.expect_quiet(1.0)  # the sleeps end at ~2 s: until then no answer and no close
    assert not conn_ids(trace(srv), [waiter.sock])[waiter.sock], "the 9th client was accepted while full"

    for i, c in enumerate(busy):
        r = c.read_response(timeout=5)
        assert (r.status, r.body) == (200, b"slept 2000 ms\n"), r
        if i == 7:
            assert_last(r)
            freed = r.t_done
            assert c.read_until_close(3) == (b"", "fin")
        else:
            assert_persistent(r)
    r = waiter.read_response(timeout=3)
    assert (r.status, r.body) == (200, B), r
    assert r.t_first - freed < 1.0, f"the waiting client was answered {r.t_first - freed:.3f}s after room was made"
    st = wait_status(admin, lambda s: s["accepted"] == 9, "the waiting client accepted")
    assert st["closed"]["evicted"] == 0, st["closed"]
    assert closed_nonzero(st) == {"connection_close": 1}, st["closed"]


def _cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def test_rule2_out_of_descriptors_clients_wait_without_a_spin(server):
    """At the descriptor limit (ulimit -n, lowered here under the running server) accept4
    fails with EMFILE while clients wait in the backlog. The server neither spins on the
    still-readable listening socket nor floods stderr: it stops accepting for a moment,
    says so at most once a second, and serves the waiting clients once connections
    close and descriptors are free again."""
    srv = server()
    resource.prlimit(srv.proc.pid, resource.RLIMIT_NOFILE, (40, 40))
    conns = [srv.connect() for _ in range(60)]  # ~30 fit under the limit, the rest wait
    waiter = conns[-1]
    waiter.send(GET("/b.txt"))
    cpu = _cpu_seconds(srv.proc.pid)
    waiter.expect_quiet(1.0)
    cpu = _cpu_seconds(srv.proc.pid) - cpu
    assert cpu < 0.5, f"the server used {cpu:.2f} s of CPU in 1 s of waiting: a spin"

    for c in conns[:-1]:
        c.close()
    r = waiter.read_response(timeout=5)
    assert (r.status, r.body) == (200, B), r
    lines = [l for l in srv.stderr_text().splitlines() if "accept:" in l]
    assert 1 <= len(lines) <= 5, f"{len(lines)} accept messages on stderr: {lines[:3]}"
    assert "Too many open files" in lines[0], lines[0]


def test_rule2_waiting_client_served_once_a_busy_connection_goes_idle(server):
    """A client waiting in the backlog because nothing was idle is served as soon as a
    connection becomes idle: that idle connection is now evictable (rule 2: the server
    stops accepting only while no connection is idle). The shrunk idle timeout of a full
    server (--keepalive-min-timeout 10 here) must not be what lets it in."""
    srv = server("--max-connections", "8", "--demo", "--keepalive-timeout", "30",
                 "--keepalive-min-timeout", "10", "--admin", "127.0.0.1:0", "--trace-connections")
    admin = admin_addr(srv)
    busy = _busy_eight(srv)
    waiter = srv.connect()
    waiter.send(GET("/b.txt"))
    waiter.expect_quiet(1.0)  # all 8 are still sleeping: nothing may answer yet
    first_idle = None
    for c in busy:
        r = c.read_response(timeout=5)
        assert (r.status, r.body) == (200, b"slept 2000 ms\n"), r
        assert_persistent(r)
        first_idle = r.t_done if first_idle is None else min(first_idle, r.t_done)
    try:
        r = waiter.read_response(timeout=3)
    except AssertionError as e:
        raise AssertionError(f"the client waiting in the backlog got no answer within 3s of 8 "
                             f"connections going idle: {e}") from None
    assert (r.status, r.body) == (200, B), r
    waited = r.t_first - first_idle
    assert waited < 1.0, f"answered {waited:.3f}s after connections went idle"
    st = wait_status(admin, lambda s: s["closed"]["evicted"] >= 1, "one eviction counted")
    assert closed_nonzero(st) == {"evicted": 1}, st["closed"]
    result = wait_closed([c.sock for c in busy], 0.5)
    evicted = [i for i, c in enumerate(busy) if result[c.sock][0] != "open"]
    assert len(evicted) == 1 and result[busy[evicted[0]].sock][0] == "fin", result


# ---- rules 3 and 4: the adaptive idle timeout and what Keep-Alive says -------------------------

ADAPTIVE = ("--max-connections", "10", "--idle-watermark", "0.5", "--keepalive-timeout", "11",
            "--keepalive-grace", "1", "--keepalive-min-timeout", "1")


def enforced(n, max_conns=10, wm=Fraction(1, 2), kt=11, low=1):
    """E for n open connections (the one being served included), exactly."""
    load = Fraction(n, max_conns)
    if load <= wm:
        return Fraction(kt)
    return kt - (kt - low) * (load - wm) / (1 - wm)


def advertised(n, grace=1):
    return max(0, math.floor(enforced(n) - grace))


def test_rule3_advertised_timeout_shrinks_with_load_and_grows_back(server):
    """Above the watermark the advertised timeout is floor(E - grace) with
    E = kt - (kt - min) * (load - wm) / (1 - wm) and load counting the connection being
    served: 10,10,10,10,10,8,6,4,2,0 as 10 connections open one by one; and it grows
    back as connections close."""
    srv = server(*ADAPTIVE, "--admin", "127.0.0.1:0")
    admin = admin_addr(srv)
    conns, seen = [], []
    for n in range(1, 11):
        c = srv.connect()
        c.send(GET("/a.txt"))
        r = c.read_response()
        assert_persistent(r)
        seen.append(r.get("Keep-Alive"))
        conns.append(c)
    assert seen == [f"timeout={advertised(n)}, max=999" for n in range(1, 11)], seen

    # Close the newest first (the one with the shortest timeout); after each close a
    # request on the first connection advertises the value for the smaller load.
    grown = []
    for n in range(9, 3, -1):
        conns.pop().close()
        wait_status(admin, lambda s: s["connections"]["active"] == n, f"{n} connections open")
        conns[0].send(GET("/a.txt"))
        r = conns[0].read_response()
        assert_persistent(r)
        grown.append(r.get("Keep-Alive").split(",")[0])
    assert grown == [f"timeout={advertised(n)}" for n in range(9, 3, -1)], grown


def test_rule3_rule4_idle_close_at_enforced_timeout_never_before_advertised(server):
    """Each connection keeps the idle timeout E it was given when it went idle: told
    timeout=T (T = floor(E - 1)), it closes with a FIN no earlier than E - 0.05 s
    (hence never before T) and no later than E + 0.5 s of idleness, measured from the
    end of its response. Connections 8, 9 and 10 (E = 5, 3, 1 s) are timed; the first
    seven (E >= 7 s) are still open at the end."""
    srv = server(*ADAPTIVE, "--admin", "127.0.0.1:0")
    admin = admin_addr(srv)
    conns, done, told = [], [], []
    for n in range(1, 11):
        c = srv.connect()
        c.send(GET("/a.txt"))
        r = c.read_response()
        assert_persistent(r)
        told.append(int(r.get("Keep-Alive").split(",")[0].split("=")[1]))
        conns.append(c)
        done.append(r.t_done)
    timed = {c.sock: n for n, c in enumerate(conns, 1) if n >= 8}
    result = wait_closed(list(timed), float(enforced(8)) + 1.0)
    for s, n in timed.items():
        how, t_close, data = result[s]
        assert (how, data) == ("fin", b""), f"connection {n}: {how} after {data[:200]!r}"
        idle = t_close - done[n - 1]
        e = float(enforced(n))
        assert idle >= told[n - 1], f"connection {n} told timeout={told[n - 1]} closed after {idle:.3f}s"
        assert e - 0.05 <= idle <= e + 0.5, f"connection {n}: closed after {idle:.3f}s idle, E = {e}s"
    early = {n: peek_state(c.sock) for n, c in enumerate(conns[:7], 1)}
    assert set(early.values()) == {"open"}, early
    st = wait_status(admin, lambda s: sum(s["closed"].values()) >= 3, "three closes counted")
    assert closed_nonzero(st) == {"keepalive_timeout": 3}, st["closed"]


def test_rule4_keepalive_max_is_exact_remaining_request_budget(server):
    """max= is the number of requests the connection will still take, counted per
    connection: 4, 3, 2, 1 with --keepalive-requests 5, then the 5th response says
    Connection: close and the server closes."""
    srv = server("--keepalive-requests", "5", "--keepalive-timeout", "5", "--keepalive-grace", "1")
    first, second = srv.connect(), srv.connect()
    seen = {first: [], second: []}
    # Interleaved, so that a count shared between connections would show.
    for c in (first, second, second, first, first, second, first, second):
        c.send(GET("/a.txt"))
        r = c.read_response()
        assert (r.status, r.body) == (200, A), r
        assert_persistent(r)
        seen[c].append(r.get("Keep-Alive"))
    for c in (first, second):
        assert seen[c] == [f"timeout=4, max={m}" for m in (4, 3, 2, 1)], seen[c]
        c.send(GET("/b.txt"))
        r = c.read_response()
        assert (r.status, r.body) == (200, B), r
        assert_last(r)
        assert c.read_until_close(3) == (b"", "fin")


def test_rule4_timeout_capped_by_remaining_lifetime(server):
    """With --keepalive-time 3 the advertised timeout is floor(min(E, 3 - age) - grace):
    1 or 2 at once (the lifetime left is just under 3 s), 1 at age ~0.5 s, 0 at age
    ~1.2 s; the idle connection then closes (FIN, reason keepalive_time) at age ~3 s,
    well after its last advertised timeout ran out."""
    srv = server("--keepalive-time", "3", "--keepalive-timeout", "10", "--keepalive-grace", "1",
                 "--trace-connections")
    c = srv.connect()
    t_last = None
    for pause in (0, 0.5, 0.7):
        if pause:
            c.expect_quiet(pause)  # the client waits before its next request
        c.send(GET("/a.txt"))
        r = c.read_response()
        assert_persistent(r)
        # The server's age of the connection at its decision lies in this window.
        age_lo = max(0.0, c.t_sent - c.t_connected - 0.002)
        age_hi = r.t_first - c.t_connect + 0.002
        allowed = {max(0, math.floor(3 - 1 - age)) for age in (age_lo, age_hi)}
        ka = r.get("Keep-Alive")
        got = int(ka.split(",")[0].split("=")[1])
        assert min(allowed) <= got <= max(allowed), \
            f"at age {age_lo:.3f}..{age_hi:.3f}s advertised {ka!r}, expected timeout in {sorted(allowed)}"
        t_last, told = r.t_done, got
    data, how = c.read_until_close(4)
    t_close = time.monotonic()
    assert (data, how) == (b"", "fin"), (data, how)
    assert t_close - t_last >= told, "closed before the advertised timeout"
    age = t_close - c.t_connect
    assert 3 - 0.05 <= age <= 3 + 0.5, f"closed at age {age:.3f}s, expected ~3s"
    events = wait_trace(srv, lambda ev: any(e.event == "close" for e in ev), "the close trace line")
    reasons = [e.kv["reason"] for e in events if e.event == "close"]
    assert reasons == ["keepalive_time"], reasons


# ---- rule 5: the close-race guard ---------------------------------------------------------------

RACE_CONNS = 200      # per round; primed together, so that they expire together
RACE_ROUNDS = 4       # 800 requests in all
RACE_PIPELINE = 100   # pipelined requests that keep the worker busy while the 200 are primed
RACE_MARGIN = 0.00025  # s: noise allowed between the server's check and its close line
REQ = GET("/a.txt")


def _prime_together(srv, conns):
    """One persistent response on every connection, sent by the server in as few loop
    iterations as possible, so that the connections go idle together and expire in
    long batches. A pipeline of requests on another connection keeps the worker busy
    while the 200 requests arrive, so that its next epoll_wait returns many at once."""
    blocker = srv.connect()
    blocker.send(REQ * RACE_PIPELINE)
    for c in conns:
        c.sock.sendall(REQ)
    for c in conns:
        r = c.read_response()
        assert (r.status, r.body) == (200, A), r
        assert_persistent(r)
    for _ in range(RACE_PIPELINE):
        assert blocker.read_response().status == 200
    blocker.close()


def _pace_until(t_wall):
    """Paces the client: returns at wall-clock time t_wall (sleeps, then spins for the
    last fraction of a millisecond). This times the client's own send; it never waits
    for the server."""
    while True:
        left = t_wall - time.time()
        if left <= 0:
            return
        if left > 0.0005:
            time.sleep(left - 0.0003)


def test_rule5_race_guard_request_at_idle_deadline_is_never_lost(server):
    """Requests that reach an idle connection within a few ms of its deadline are
    answered; a request whose bytes the server had is never dropped.

    --keepalive-timeout 0.2, grace 0. Each round, 200 connections get one persistent
    response in a few server loop iterations (see _prime_together), so that they go idle
    together and the server expires them in batches that take a few ms: the race window
    is as wide as it gets. The trace gives each connection's deadline (its `request`
    line + 0.2 s: the server's loop clock is read just before) and, after each round,
    how late after its deadline the server really checked each connection (the `close`
    lines), which steers the next round. Each connection's next request is sent at its
    expected check time plus an offset: half the offsets sweep -5 .. +3 ms, half
    -1 .. +2 ms. Four rounds: 800 requests.

    How each send is judged. Just before sending, a non-blocking MSG_PEEK recv looks for
    the server's FIN:
    - EOF already there: the server closed first and nothing was sent; fine (a real
      client retries on a new connection).
    - Otherwise the request is sent, and must get a complete 200 response: with
      Connection: keep-alive if the server read it before the deadline, or with
      Connection: close if it arrived as the timer fired (the guard), then a FIN.
    - A FIN or RST without a response means the request was lost. The server's `close`
      trace line is written right after its check for arrived bytes, so a close line
      later than the end of our send() (on loopback the bytes are in the server's socket
      when send() returns) by more than 0.25 ms is a request the server had and
      dropped: a failure. An earlier close is the TCP race no server can avoid (it
      checked, found nothing, and closed as our bytes arrived): allowed, counted. (A
      server without the guard drops requests here with gaps of 0.1 to 3 ms; with it, the
      gaps of the unavoidable losses measure at or below 0.)
    Anything else fails: another answer, no answer and no close, an RST before sending.
    The sweep must land on both sides of the deadline (some requests answered, some
    connections found closed), or the test says it did not test anything."""
    srv = server("--keepalive-timeout", "0.2", "--keepalive-grace", "0", "--header-timeout", "5",
                 "--trace-connections")
    tail = TraceTail(srv)
    rng = random.Random(5)
    half = RACE_CONNS // 2
    offsets = ([(-5 + 8 * i / (half - 1)) / 1000 for i in range(half)] +
               [(-1 + 3 * i / (RACE_CONNS - half - 1)) / 1000 for i in range(RACE_CONNS - half)])
    lag = 0.0  # how long after its deadline the server checks a connection: learnt
    outcomes, problems, late = Counter(), [], []
    for rnd in range(RACE_ROUNDS):
        conns = [srv.connect() for _ in range(RACE_CONNS)]
        _prime_together(srv, conns)
        socks = [c.sock for c in conns]
        events = tail.wait(lambda ev: None not in conn_ids(ev, socks).values(), "accept lines")
        ids = conn_ids(events, socks)
        want = set(ids.values())
        events = tail.wait(lambda ev: want <= {e.conn for e in ev if e.event == "idle"}, "idle lines")
        deadline = {e.conn: e.ts + 0.2 for e in events if e.event == "request" and e.conn in want}
        rng.shuffle(offsets)
        plan = sorted(((deadline[ids[c.sock]] + lag + off, c) for off, c in zip(offsets, conns)),
                      key=lambda p: p[0])
        for c in conns:
            c.sock.setblocking(False)  # a bare recv/send pair: nothing slows the client here
        sent = []
        for t_plan, c in plan:
            _pace_until(t_plan)
            now = time.time()
            late.append(now - t_plan)
            off = now - deadline[ids[c.sock]]
            try:
                state = "fin" if not c.sock.recv(1, socket.MSG_PEEK) else "data"
            except BlockingIOError:
                state = "open"
            except ConnectionResetError:
                state = "rst"
            if state == "fin":
                outcomes["found closed before the send"] += 1
                continue
            if state != "open":
                problems.append(f"round {rnd} deadline{off * 1000:+.2f}ms: idle connection in state {state}")
                continue
            assert c.sock.send(REQ) == len(REQ)
            sent.append((c, off, time.time()))
        for c, off, t_sent in sent:
            where = f"round {rnd} conn {ids[c.sock]} sent at deadline{off * 1000:+.2f}ms"
            try:
                r = c.read_response(timeout=3)
            except AssertionError as e:
                lost = str(e)
                ended = lost.startswith(("connection reset (RST)", "connection closed (FIN)"))
                if not ended or not lost.endswith("buffered b''"):
                    problems.append(f"{where}: no complete answer: {lost}")
                    continue
                ev = closes(tail.wait(lambda ev: ids[c.sock] in closes(ev), "a close line"))[ids[c.sock]]
                gap = ev.ts - t_sent
                if gap > RACE_MARGIN:
                    problems.append(f"{where}: request dropped: the server closed {gap * 1000:.2f}ms "
                                    f"after it was sent ({lost}); {ev.line}")
                else:
                    outcomes["lost to the TCP race (server closed first)"] += 1
                continue
            if (r.status, r.body) != (200, A):
                problems.append(f"{where}: wrong response {r!r}")
            elif r.keeps_alive:
                outcomes["answered, keep-alive"] += 1
            else:
                assert_last(r)
                outcomes["answered with Connection: close (guard)"] += 1
                end = c.read_until_close(2)
                if end != (b"", "fin"):
                    problems.append(f"{where}: after the last response {end}")
        for c in conns:
            c.close()
        # Steer the next round: how late the server checked the connections it closed.
        lags = sorted(e.ts - deadline[e.conn] for e in tail.poll()
                      if e.event == "close" and e.conn in want and abs(e.ts - deadline[e.conn]) < 0.02)
        if lags:
            lag = lags[len(lags) // 2]
    total = sum(outcomes.values())
    late.sort()
    summary = (f"{dict(outcomes)}; checks {lag * 1000:+.2f}ms after the deadline; client late by "
               f"{late[len(late) // 2] * 1000:.2f}ms (median), {late[-1] * 1000:.2f}ms (max)")
    assert not problems, f"{len(problems)} of {total + len(problems)}: " + "\n".join(problems[:20]) + "\n" + summary
    assert total == RACE_CONNS * RACE_ROUNDS, summary
    answered = outcomes["answered, keep-alive"] + outcomes["answered with Connection: close (guard)"]
    assert answered and outcomes["found closed before the send"], f"the sweep did not straddle the deadline: {summary}"
    print(f"race guard: {summary}")
