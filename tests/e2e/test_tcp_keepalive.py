"""
TCP keepalive and the event-stream heartbeat (issue 3): --tcp-keepalive,
--tcp-user-timeout, --heartbeat.

The dead-peer tests prove detection for real, with no other host. netns/dead_peer.py
runs in a private network namespace made for the purpose (`unshare -n`): it starts three
servers, brings one connection into each state (idle, reading a head, a handler working,
streaming), drops every packet of it with an nftables rule and captures lo with tcpdump.
The tests here read its report: the trace lines say when and why kahttpd closed each
connection, the capture shows the probes that made the kernel give up. All cases run
at once, so the whole experiment takes about IDLE + INTVL * CNT + 2 s.

The other tests run on the host: `ss -tno` shows the keepalive timer of accepted
sockets, heartbeats fill the silences of /_demo/events, a client leaving a stream
frees its connection, and bad option values exit 2.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import (GET, KAHTTPD, SANITIZER_MARKERS, STANDARD_FILES, assert_persistent,
                      h11_parse, run_kahttpd)

A = STANDARD_FILES["a.txt"]
NETNS_SCRIPT = Path(__file__).resolve().parent / "netns" / "dead_peer.py"

# ---- the dead-peer experiment -------------------------------------------------------------

IDLE, INTVL, CNT = 1, 1, 3
DEAD_AFTER = IDLE + INTVL * CNT  # seconds from the last segment received to ETIMEDOUT
USER_TIMEOUT_MS = 1500
PROBE_SLACK = 0.3   # a probe's time: the kernel's timer wheel may fire a 1 s timer late
DEATH_SLACK = 1.0   # the close: within IDLE + INTVL * CNT +- 1 s of the last traffic

_COMMON = ["--listen", "127.0.0.1:0", "--workers", "1", "--demo", "--trace-connections",
           "--heartbeat", "0", "--header-timeout", "60"]
SERVERS = {
    "probing": [*_COMMON, "--tcp-keepalive", f"{IDLE}:{INTVL}:{CNT}"],
    "off": [*_COMMON, "--tcp-keepalive", "off"],
    # Keepalive off, so that only TCP_USER_TIMEOUT can be what ends the connection.
    "user_timeout": [*_COMMON, "--tcp-keepalive", "off", "--tcp-user-timeout", str(USER_TIMEOUT_MS)],
}


def _get(target):
    return f"GET {target} HTTP/1.1\r\nHost: test\r\n\r\n"


TICKING = _get("/_demo/events?interval_ms=200&count=0")  # data every 200 ms: always some in flight
CASES = [
    # name, server, request, bytes to read back first, trace event to wait for, must stay open
    dict(name="in_flight", server="probing", send=TICKING, expect="data: event 1\n\n", stay_open=True),
    dict(name="user_timeout", server="user_timeout", send=TICKING, expect="data: event 1\n\n"),
    dict(name="processing", server="probing", send=_get("/_demo/sleep?ms=600000"), trace="request"),
    dict(name="idle", server="probing", send=_get("/_demo/sleep?ms=0"), expect="slept 0 ms\n",
         trace="idle"),
    dict(name="reading", server="probing", send="GET /_demo/sleep?ms=0 HTTP/1.1\r\nHost: te"),
    dict(name="events", server="probing", send=_get("/_demo/events?interval_ms=100000&count=0"),
         expect="\r\n\r\n"),
    dict(name="stream", server="probing", send=_get("/_demo/stream?chunks=2&interval_ms=600000&size=1"),
         expect="1\r\na\r\n"),
    dict(name="off", server="off", send=_get("/_demo/sleep?ms=600000"), trace="request", stay_open=True),
]
# The connections TCP keepalive must free, and the state the trace must name.
DEAD_STATES = {"idle": "idle", "reading": "reading", "processing": "processing",
               "events": "writing", "stream": "writing"}
WATCH = DEAD_AFTER + 1.5  # how long after the last drop the experiment keeps watching

TRACE_RE = re.compile(r"^(\S+Z) conn=(\d+) (\w+)(.*)$")
PKT_START_RE = re.compile(r"^\d+\.\d+ IP ")
PKT_RE = re.compile(r"(\d+\.\d+) IP .*? [\d.]+\.(\d+) > [\d.]+\.(\d+): Flags \[([^\]]*)\](.*)")


class TraceLine:
    def __init__(self, ts, conn, event, fields, text):
        self.ts, self.conn, self.event, self.fields, self.text = ts, conn, event, fields, text


def parse_trace(lines):
    out = []
    for line in lines:
        m = TRACE_RE.match(line)
        if m:
            ts = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
            fields = dict(kv.split("=", 1) for kv in m.group(4).split() if "=" in kv)
            out.append(TraceLine(ts.timestamp(), int(m.group(2)), m.group(3), fields, line))
    return out


class Packet:
    def __init__(self, ts, sport, dport, flags, seq, length, text):
        self.ts, self.sport, self.dport, self.flags = ts, sport, dport, flags
        self.seq, self.length, self.text = seq, length, text

    @property
    def end(self):
        """The sequence number after this segment (SYN and FIN count one)."""
        return (self.seq + self.length + ("S" in self.flags) + ("F" in self.flags)) % 2**32


def parse_capture(text):
    """Packets from `tcpdump -tt -n -S -vv` text, where a packet's TCP part is on the
    line after its IP line."""
    records = []
    for line in text.splitlines():
        if PKT_START_RE.match(line):
            records.append(line)
        elif records and line[:1].isspace():
            records[-1] += " " + line.strip()
    packets = []
    for rec in records:
        m = PKT_RE.match(rec)
        if not m:
            continue
        seq = re.search(r"\bseq (\d+)", m.group(5))
        length = re.search(r"\blength (\d+)", m.group(5))
        if seq and length:
            packets.append(Packet(float(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4),
                                  int(seq.group(1)), int(length.group(1)), rec))
    return packets


class DeadPeerReport:
    """What netns/dead_peer.py saw, with the questions the tests ask of it."""

    def __init__(self, raw, capture_path):
        self.raw = raw
        self.capture_path = capture_path
        self.packets = parse_capture(raw["capture"])
        self.traces = {name: parse_trace(s.get("stderr", [])) for name, s in raw["servers"].items()}

    def case(self, name):
        return self.raw["cases"][name]

    def trace(self, name):
        rec = self.case(name)
        return [t for t in self.traces[rec["server"]] if t.conn == rec["conn"]]

    def trace_text(self, name):
        return "\n".join(t.text for t in self.trace(name))

    def conn_packets(self, name):
        port = self.case(name)["client_port"]
        return [p for p in self.packets if port in (p.sport, p.dport)]

    def from_server(self, name):
        port = self.case(name)["client_port"]
        return [p for p in self.conn_packets(name) if p.dport == port]

    def excerpt(self, name, since=0.0):
        return "\n".join(p.text for p in self.conn_packets(name) if p.ts >= since)

    def last_received(self, name):
        """When the server last received a segment of this connection: the client's last
        one before its packets were dropped. TCP keepalive's idle time starts there."""
        rec = self.case(name)
        sent = [p.ts for p in self.conn_packets(name)
                if p.sport == rec["client_port"] and p.ts < rec["t_drop"]]
        assert sent, f"{name}: no client packet in the capture before the drop\n{self.excerpt(name)}"
        return max(sent)

    def probes(self, name):
        """The server's keepalive probes: empty ACKs with seq = snd_una - 1, one below the
        end of everything it sent before (with nothing in flight, snd_una = snd_nxt)."""
        probes, nxt = [], None
        for p in self.from_server(name):
            if nxt is not None and p.flags == "." and p.length == 0 and p.seq == (nxt - 1) % 2**32:
                probes.append(p)
            else:
                nxt = p.end
        return probes

    def event(self, name, event, before=None):
        """The connection's one trace line of this event (before a time), or None."""
        found = [t for t in self.trace(name) if t.event == event and (before is None or t.ts < before)]
        assert len(found) <= 1, f"{name}: {len(found)} '{event}' lines:\n{self.trace_text(name)}"
        return found[0] if found else None


@pytest.fixture(scope="module")
def dead_peer(tmp_path_factory):
    """Runs the experiment once for the module and returns its DeadPeerReport."""
    # The tools live in sbin directories, which a user's PATH may lack.
    env = dict(os.environ, PATH=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
    missing = [tool for tool in ("unshare", "ip", "nft", "tcpdump", "ss")
               if not shutil.which(tool, path=env["PATH"])]
    if missing:
        pytest.skip(f"the dead-peer tests need {', '.join(missing)} "
                    "(packages iproute2, nftables, tcpdump; tests/deps.sh installs them)")
    if not os.access(KAHTTPD, os.X_OK):
        pytest.fail(f"no server binary at {KAHTTPD} (run make, or set KAHTTPD=/path)")
    # No fallback to a user namespace (unshare -r): tcpdump's privilege drop fails there.
    unshare = ["unshare", "-n"]
    probe = subprocess.run([*unshare, "--", "true"], capture_output=True, timeout=30, env=env)
    if probe.returncode != 0:
        err = probe.stderr.decode(errors="replace").strip()
        if "Operation not permitted" in err:
            pytest.skip(f"cannot create a network namespace here ({' '.join(unshare)}: {err})")
        pytest.fail(f"{' '.join(unshare)} -- true failed: {err}")

    workdir = tmp_path_factory.mktemp("dead_peer")
    root = workdir / "www"
    root.mkdir()
    servers = {name: [*args, "--root", str(root)] for name, args in SERVERS.items()}
    plan = {"kahttpd": KAHTTPD, "workdir": str(workdir), "servers": servers, "cases": CASES,
            "watch_s": WATCH}
    # A session of its own, so that on a timeout its process group (the script, its
    # servers and tcpdump, and nothing else) can be killed as one.
    p = subprocess.Popen([*unshare, "--", sys.executable, str(NETNS_SCRIPT)], env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    try:
        out, err = p.communicate(json.dumps(plan).encode(), timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        pytest.fail(f"dead_peer.py still running after 120 s (killed); stderr:\n{err.decode()[-4000:]}")
    stderr = err.decode(errors="replace")
    try:
        raw = json.loads(out)
    except ValueError:
        pytest.fail(f"dead_peer.py exited {p.returncode} without a report; stderr:\n{stderr[-4000:]}")
    if raw.get("error"):
        traces = "\n".join(f"--- {n}\n" + "\n".join(s.get("stderr", [])[-30:])
                           for n, s in raw["servers"].items())
        pytest.fail(f"dead_peer.py failed:\n{raw['error']}\n{traces}\n{stderr[-2000:]}")
    return DeadPeerReport(raw, workdir / "capture.txt")


@pytest.mark.parametrize("name", list(DEAD_STATES))
def test_tcp_keepalive_frees_a_dead_peer_in_every_state(dead_peer, name):
    rep = dead_peer
    dead = rep.event(name, "tcp_keepalive_dead")
    close = rep.event(name, "close")
    trace = rep.trace_text(name)
    assert close is not None, f"{name}: the dead connection was not closed; trace:\n{trace}"
    assert (close.fields.get("reason"), close.fields.get("closed_by")) == ("tcp_keepalive", "server"), trace
    assert dead is not None and dead.fields.get("state") == DEAD_STATES[name], \
        f"{name}: expected tcp_keepalive_dead state={DEAD_STATES[name]}; trace:\n{trace}"
    assert dead.ts <= close.ts, trace
    due = rep.last_received(name) + DEAD_AFTER
    assert due - DEATH_SLACK <= dead.ts <= due + DEATH_SLACK, (
        f"{name}: declared dead {dead.ts - due + DEAD_AFTER:.3f}s after the last segment received, "
        f"expected {DEAD_AFTER}s +- {DEATH_SLACK}s\n{trace}\n{rep.excerpt(name)}")


@pytest.mark.parametrize("name", list(DEAD_STATES))
def test_tcp_keepalive_capture_shows_cnt_probes_intvl_apart_after_idle(dead_peer, name):
    rep = dead_peer
    rec = rep.case(name)
    last = rep.last_received(name)
    excerpt = rep.excerpt(name, since=last)
    resent = [p for p in rep.from_server(name) if p.ts > rec["t_drop"] and p.length > 0]
    assert not resent, (f"{name}: the server had data in flight after the drop (it retransmits "
                        f"instead of probing), so the setup is wrong:\n{excerpt}")
    probes = rep.probes(name)
    times = [p.ts for p in probes]
    assert len(probes) == CNT, f"{name}: {len(probes)} probes, expected {CNT}:\n{excerpt}"
    assert abs(times[0] - last - IDLE) <= PROBE_SLACK, \
        f"{name}: first probe {times[0] - last:.3f}s after the last segment, expected {IDLE}s:\n{excerpt}"
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(abs(g - INTVL) <= PROBE_SLACK for g in gaps), \
        f"{name}: probes {[round(g, 3) for g in gaps]}s apart, expected {INTVL}s:\n{excerpt}"
    # INTVL after the last unanswered probe the kernel gives up, and says so with a RST
    # (dropped like everything else); kahttpd hears of it as ETIMEDOUT.
    dead = rep.event(name, "tcp_keepalive_dead")
    assert dead is not None, rep.trace_text(name)
    assert abs(dead.ts - times[-1] - INTVL) <= PROBE_SLACK + 0.2, \
        f"{name}: closed {dead.ts - times[-1]:.3f}s after the last probe, expected {INTVL}s:\n{excerpt}"
    resets = [p for p in rep.from_server(name) if "R" in p.flags]
    assert resets and abs(resets[0].ts - times[-1] - INTVL) <= PROBE_SLACK, \
        f"{name}: no RST from the server {INTVL}s after the last probe:\n{excerpt}"


def test_tcp_keepalive_off_leaves_a_dead_peer_open(dead_peer):
    rep = dead_peer
    watched = rep.raw["t_watch_end"] - rep.last_received("off")
    assert watched >= DEAD_AFTER + DEATH_SLACK, f"watched only {watched:.3f}s"
    assert rep.event("off", "close", before=rep.raw["t_watch_end"]) is None, rep.trace_text("off")
    assert rep.probes("off") == [], rep.excerpt("off")
    ss = rep.case("off")["ss"]
    assert "ESTAB" in ss and "keepalive" not in ss, f"ss after {watched:.1f}s: {ss!r}"


def test_tcp_keepalive_probes_wait_while_data_is_unacknowledged(dead_peer):
    """The limit of probes: the kernel sends them only when nothing is in flight, so a
    peer that vanishes while a stream is sending is not detected by them at all."""
    rep = dead_peer
    rec = rep.case("in_flight")
    watched = rep.raw["t_watch_end"] - rep.last_received("in_flight")
    assert watched >= DEAD_AFTER + DEATH_SLACK, f"watched only {watched:.3f}s"
    assert rep.event("in_flight", "close", before=rep.raw["t_watch_end"]) is None, rep.trace_text("in_flight")
    assert rep.probes("in_flight") == [], rep.excerpt("in_flight")
    data = [p.seq for p in rep.from_server("in_flight") if p.ts > rec["t_drop"] and p.length > 0]
    assert len(data) > len(set(data)), \
        f"expected retransmissions after the drop:\n{rep.excerpt('in_flight', rec['t_drop'])}"
    assert "timer:(on," in rec["ss"], f"expected a retransmission timer: {rec['ss']!r}"


def test_tcp_user_timeout_frees_a_dead_peer_with_data_in_flight(dead_peer):
    rep = dead_peer
    rec = rep.case("user_timeout")
    trace = rep.trace_text("user_timeout")
    close = rep.event("user_timeout", "close")
    dead = rep.event("user_timeout", "tcp_keepalive_dead")
    assert close is not None and close.fields.get("reason") == "tcp_keepalive", trace
    assert dead is not None and dead.fields.get("state") == "writing", trace
    sent = [p for p in rep.from_server("user_timeout") if p.ts > rec["t_drop"] and p.length > 0]
    excerpt = rep.excerpt("user_timeout", rec["t_drop"])
    assert sent, f"no data sent after the drop:\n{excerpt}"
    assert len(sent) > len({p.seq for p in sent}), f"expected retransmissions:\n{excerpt}"
    # The clock starts no earlier than the first segment that was never acknowledged
    # (Linux counts from the first retransmission, one RTO later: 0.2-0.5 s here).
    limit = USER_TIMEOUT_MS / 1000
    took = dead.ts - sent[0].ts
    assert limit - 0.1 <= took <= limit + DEATH_SLACK, \
        f"closed {took:.3f}s after the first unacknowledged segment, expected {limit}s:\n{trace}\n{excerpt}"


def test_tcp_keepalive_servers_serve_on_and_stop_cleanly(dead_peer):
    problems = []
    for name, s in dead_peer.raw["servers"].items():
        if s.get("fresh_status_line", "")[:12] != "HTTP/1.1 200":
            problems.append(f"{name}: a new connection got {s.get('fresh_status_line')!r}")
        if s.get("rc") != 0:
            problems.append(f"{name}: exit status {s.get('rc')} after SIGTERM, expected 0")
        err = "\n".join(s.get("stderr", []))
        problems += [f"{name}: stderr contains {m!r}" for m in SANITIZER_MARKERS if m in err]
    assert not problems, "\n".join(problems)


# ---- ss shows the keepalive timer of accepted sockets ---------------------------------------

SS_TIMER_RE = re.compile(r"timer:\((\w+),([^,]*),(\d+)\)")


def ss_duration(text):
    """Seconds from ss's timer text: "7sec", "995ms", "1min30sec", and "6.995ms", which
    is ss's way of writing 6.995 s."""
    m = re.fullmatch(r"(?:(\d+)min)?(?:(\d+)(sec|\.))?(?:(\d+)ms)?", text)
    assert m and text, f"unexpected ss duration {text!r}"
    minutes, secs, _, ms = m.groups()
    return int(minutes or 0) * 60 + int(secs or 0) + int(ms or 0) / 1000


def ss_accepted(srv):
    """ss lines of the server's established sockets (local port = the listening port)."""
    p = subprocess.run(["ss", "-tnoH", "state", "established", f"( sport = :{srv.port} )"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, p.stderr
    return [line for line in p.stdout.splitlines() if line.strip()]


def served_connection(srv):
    """A connection kahttpd has accepted and answered, with nothing left in flight."""
    if not shutil.which("ss"):
        pytest.skip("needs ss (package iproute2; tests/deps.sh installs it)")
    c = srv.connect()
    c.send(GET("/a.txt"))
    r = c.read_response()
    assert (r.status, r.body) == (200, A)
    # An ACK the kernel is still delaying would leave the response unacknowledged, and
    # ss would show the retransmission timer instead: send it now.
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
    return c


def keepalive_timer(srv, c):
    lines = ss_accepted(srv)
    port = c.sock.getsockname()[1]
    mine = [line for line in lines if re.search(rf":{port}\s", line + " ")]
    assert len(mine) == 1, f"expected one server socket for client port {port}: {lines!r}"
    m = SS_TIMER_RE.search(mine[0])
    return (m.group(1), ss_duration(m.group(2))) if m else (None, None), mine[0]


@pytest.mark.parametrize("args,idle", [(["--tcp-keepalive", "7:3:4"], 7), ([], 60)],
                         ids=["7:3:4", "default"])
def test_tcp_keepalive_timer_runs_on_accepted_sockets(server, args, idle):
    srv = server(*args)
    c = served_connection(srv)
    (kind, remaining), line = keepalive_timer(srv, c)
    assert kind == "keepalive", f"no keepalive timer on the accepted socket: {line!r}"
    # Started at the handshake, a moment ago: at most IDLE left, and nearly all of it.
    assert idle - 2 < remaining <= idle, f"keepalive timer {remaining}s, expected just under {idle}s: {line!r}"


def test_tcp_keepalive_off_runs_no_timer_on_accepted_sockets(server):
    srv = server("--tcp-keepalive", "off")
    c = served_connection(srv)
    (kind, _), line = keepalive_timer(srv, c)
    assert kind is None and "keepalive" not in line, f"unexpected timer with --tcp-keepalive off: {line!r}"


def test_tcp_options_are_accepted_in_a_config_file(server, tmp_path):
    conf = tmp_path / "kahttpd.conf"
    conf.write_text("# issue 3\ntcp-keepalive = 7:3:4\ntcp-user-timeout = 5000\nheartbeat = 0.5\n")
    srv = server("--config", conf)
    c = served_connection(srv)
    (kind, remaining), line = keepalive_timer(srv, c)
    assert kind == "keepalive" and 5 < remaining <= 7, line


def test_tcp_keepalive_on_the_command_line_wins_over_the_config_file(server, tmp_path):
    conf = tmp_path / "kahttpd.conf"
    conf.write_text("tcp-keepalive = 7:3:4\n")
    srv = server("--config", conf, "--tcp-keepalive", "off")
    c = served_connection(srv)
    (kind, _), line = keepalive_timer(srv, c)
    assert kind is None, f"--tcp-keepalive off should win over the file: {line!r}"


@pytest.mark.parametrize("option,value", [
    ("--tcp-keepalive", "1:2"),
    ("--tcp-keepalive", "x:1:1"),
    ("--tcp-keepalive", "0:1:1"),
    ("--tcp-keepalive", "1:0:1"),
    ("--tcp-keepalive", "1:1:0"),
    ("--tcp-keepalive", "1:1:1:1"),
    ("--tcp-keepalive", "-1:1:1"),
    ("--tcp-keepalive", "on"),
    ("--tcp-keepalive", ""),
    ("--tcp-user-timeout", "-5"),
    ("--tcp-user-timeout", "soon"),
    ("--tcp-user-timeout", ""),
    ("--heartbeat", "-1"),
    ("--heartbeat", "x"),
])
def test_tcp_option_bad_value_exits_2_naming_it(www, option, value):
    p = run_kahttpd("--listen", "127.0.0.1:0", "--root", www.path, option, value)
    assert p.returncode == 2, p
    assert option.lstrip("-").encode() in p.stderr, p.stderr


@pytest.mark.parametrize("line", ["tcp-keepalive = 1:2", "tcp-user-timeout = -5"])
def test_tcp_option_bad_value_in_config_file_exits_2_naming_it(www, tmp_path, line):
    conf = tmp_path / "kahttpd.conf"
    conf.write_text(line + "\n")
    p = run_kahttpd("--listen", "127.0.0.1:0", "--root", www.path, "--config", conf)
    assert p.returncode == 2, p
    assert line.split(" =")[0].encode() in p.stderr, p.stderr


# ---- heartbeats on event streams --------------------------------------------------------------

COMMENT = b": keep-alive\n\n"


def sse_event(n):
    return b"id: %d\ndata: event %d\n\n" % (n, n)


def sse_pieces(body):
    """The body as server-sent-event blocks, each ending with an empty line."""
    pieces = re.findall(rb"(?:[^\n]+\n)+\n", body)
    assert b"".join(pieces) == body, f"not a sequence of event blocks: {body!r}"
    return pieces


def piece_times(r, pieces):
    """When each piece was complete: the time of the chunk holding its last byte."""
    ends, total = [], 0
    for size in r.chunk_sizes:
        total += size
        ends.append(total)
    out, pos = [], 0
    for piece in pieces:
        pos += len(piece)
        out.append(r.chunk_times[next(i for i, end in enumerate(ends) if end >= pos)])
    return out


def test_heartbeat_comments_fill_a_silent_event_stream(server):
    srv = server("--demo", "--heartbeat", "0.3")
    c = srv.connect()
    c.send(GET("/_demo/events?interval_ms=1000&count=2"))
    r = c.read_response(timeout=6)
    assert r.status == 200 and (r.get("Content-Type") or "").startswith("text/event-stream"), r
    assert r.framing == "chunked", r.headers
    assert_persistent(r)
    _, h11_body, _ = h11_parse(r.raw)
    assert h11_body == r.body
    pieces = sse_pieces(r.body)
    assert set(pieces) <= {COMMENT, sse_event(1), sse_event(2)}, pieces
    assert [p for p in pieces if p != COMMENT] == [sse_event(1), sse_event(2)], pieces
    assert pieces.index(sse_event(1)) >= 2, f"expected two heartbeats before event 1: {pieces}"

    times = piece_times(r, pieces)
    first_comment = times[pieces.index(COMMENT)] - c.t_sent
    assert 0.3 - 0.05 <= first_comment <= 0.3 + 0.5, f"first heartbeat after {first_comment:.3f}s"
    assert times[pieces.index(sse_event(1))] - c.t_sent >= 1.0 - 0.05
    gaps = [b - a for a, b in zip([c.t_sent] + times, times)]
    assert max(gaps) <= 0.3 + 0.5, f"silences of {[round(g, 3) for g in gaps]}s with --heartbeat 0.3"
    # The stream ended cleanly: the connection takes the next request.
    c.send(GET("/a.txt"))
    r2 = c.read_response()
    assert (r2.status, r2.body) == (200, A)


def test_heartbeat_is_sent_only_in_silence(server):
    srv = server("--demo", "--heartbeat", "0.3")
    c = srv.connect()
    c.send(GET("/_demo/events?interval_ms=100&count=6"))
    r = c.read_response(timeout=5)
    assert r.status == 200
    assert sse_pieces(r.body) == [sse_event(n) for n in range(1, 7)], r.body


def test_heartbeat_0_sends_no_comments(server):
    srv = server("--demo", "--heartbeat", "0")
    c = srv.connect()
    c.send(GET("/_demo/events?interval_ms=700&count=2"))
    r = c.read_response(timeout=5)
    assert r.status == 200 and r.framing == "chunked"
    assert r.body == sse_event(1) + sse_event(2), r.body
    times = piece_times(r, sse_pieces(r.body))
    assert times[0] - c.t_sent >= 0.7 - 0.05 and times[1] - times[0] >= 0.7 - 0.05, times


def wait_for_trace(srv, pattern, timeout):
    """The first trace line matching pattern, waiting up to timeout seconds for it: the
    trace file is read again every 20 ms until the line is there or time is up."""
    rx = re.compile(pattern, re.M)
    deadline = time.monotonic() + timeout
    while True:
        m = rx.search(srv.stderr_text())
        if m:
            return m
        if time.monotonic() >= deadline:
            raise AssertionError(f"no trace line matching {pattern!r} within {timeout}s; "
                                 f"stderr:\n{srv.stderr_text()[-3000:]}")
        time.sleep(0.02)


def read_until(sock, marker, timeout=5.0):
    """Reads from a plain socket until marker has arrived; returns all that was read."""
    sock.settimeout(timeout)
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before {marker!r}; got {data[-300:]!r}"
        data += chunk
    return data


def assert_closed_by_client_on_close(srv, c):
    """Closes the client c; the server must then close its connection, reason
    client_close (its trace says so within 5 s)."""
    port = c.sock.getsockname()[1]
    conn = wait_for_trace(srv, rf"conn=(\d+) accept peer=127\.0\.0\.1:{port} ", 5).group(1)
    c.close()
    m = wait_for_trace(srv, rf"conn={conn} close reason=(\S+)", 5)
    assert m.group(1) == "client_close", m.group(0)


def test_client_leaving_an_event_stream_frees_its_connection(server):
    srv = server("--demo", "--trace-connections", "--heartbeat", "0.2")
    other = srv.connect()
    other.send(GET("/_demo/events?interval_ms=150&count=4"))
    c = srv.connect()
    c.send(GET("/_demo/events?interval_ms=100&count=0"))
    read_until(c.sock, b"data: event 2\n\n")
    assert_closed_by_client_on_close(srv, c)
    # The other stream was not disturbed, and the server goes on serving.
    r = other.read_response(timeout=5)
    assert sse_pieces(r.body) == [sse_event(n) for n in range(1, 5)], r.body
    other.send(GET("/a.txt"))
    assert (other.read_response().status) == 200


def test_client_leaving_a_silent_event_stream_frees_its_connection_at_once(server):
    # No event for 100 s and no heartbeat: nothing will be written that could bring
    # back a reset, so the client's FIN itself must end the stream.
    srv = server("--demo", "--trace-connections", "--heartbeat", "0")
    c = srv.connect()
    c.send(GET("/_demo/events?interval_ms=100000&count=0"))
    read_until(c.sock, b"\r\n\r\n")
    assert_closed_by_client_on_close(srv, c)
