#!/usr/bin/python3
"""
The dead-peer experiment of test_tcp_keepalive.py. It runs inside a private network
namespace (`unshare -n -- python3 dead_peer.py < plan.json`) because it installs
nftables rules and captures on lo, which a test must never do on the host.

The plan (JSON on stdin) names the kahttpd binary, the servers to start (name ->
arguments) and the connections to open (server, request bytes, what to read back, which
trace event to wait for). Each connection is brought to its state; then every packet
of it is dropped in the prerouting hook, which on lo runs after tcpdump has seen the
packet, so the capture still shows what each side sent while neither receives anything.
The script then watches for `watch_s` seconds, undoes the drop, ends the clients with a
reset, stops the servers with SIGTERM and prints one JSON object: each server's stderr
and exit status, each connection's client port and timestamps (time.time(), the clock
of the trace lines and of tcpdump -tt), `ss` lines for the connections still open, and
the tcpdump text. It decides nothing: the assertions are in the test.

Stdlib only. Synchronisation is by reading: the ready line, trace lines (waited for with
a deadline), response bytes, and tcpdump's "listening on" line.
"""
import json
import os
import queue
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback

TABLE = "kahttpd_dead_peer"
STOP_TIMEOUT = 10.0
STEP_TIMEOUT = 10.0  # any single wait: ready line, response bytes, trace line


class Server:
    """One kahttpd started here; its stderr (the trace lines) is collected as it comes."""

    def __init__(self, name, binary, args, cwd):
        self.name, self.args = name, args
        self.proc = subprocess.Popen([binary, *args], cwd=cwd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines = []
        self.cond = threading.Condition()
        self.ready = queue.Queue()
        self.rc = None
        threading.Thread(target=self._read_stdout, daemon=True).start()
        self._err_reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._err_reader.start()

    def _read_stdout(self):
        for line in iter(self.proc.stdout.readline, b""):
            self.ready.put(line.decode(errors="replace"))
        self.ready.put(None)

    def _read_stderr(self):
        for line in iter(self.proc.stderr.readline, b""):
            with self.cond:
                self.lines.append(line.decode(errors="replace").rstrip("\n"))
                self.cond.notify_all()

    def wait_port(self):
        try:
            line = self.ready.get(timeout=STEP_TIMEOUT)
        except queue.Empty:
            line = None
        m = line and re.match(r"kahttpd: listening on http://127\.0\.0\.1:(\d+)", line)
        if not m:
            raise RuntimeError(f"{self.name}: no ready line (got {line!r}); stderr {self.lines[-5:]!r}")
        self.port = int(m.group(1))
        return self.port

    def wait_line(self, pattern, deadline):
        """The first stderr line matching pattern, waiting until deadline; None then."""
        rx = re.compile(pattern)
        with self.cond:
            while True:
                for line in self.lines:
                    m = rx.search(line)
                    if m:
                        return m
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self.cond.wait(remaining)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.rc = self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.rc = None  # did not stop within STOP_TIMEOUT of SIGTERM
        self._err_reader.join(5)


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=STEP_TIMEOUT, **kw)


def nft(script):
    p = run(["nft", "-f", "-"], input=script)
    if p.returncode != 0:
        raise RuntimeError(f"nft failed: {p.stderr.strip()}\n{script}")


def read_until(sock, buf, marker, deadline):
    while marker not in buf:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RuntimeError(f"no {marker!r} from the server; got {bytes(buf)[:300]!r}")
        sock.settimeout(remaining)
        data = sock.recv(65536)
        if not data:
            raise RuntimeError(f"server closed before {marker!r}; got {bytes(buf)[:300]!r}")
        buf += data


def open_case(case, srv):
    """Brings one connection to its state, then drops its packets. Returns its record."""
    deadline = time.monotonic() + STEP_TIMEOUT
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=STEP_TIMEOUT)
    cport = sock.getsockname()[1]
    m = srv.wait_line(rf" conn=(\d+) accept peer=127\.0\.0\.1:{cport} ", deadline)
    if not m:
        raise RuntimeError(f"{case['name']}: no accept trace line for port {cport}")
    conn_id = int(m.group(1))
    sock.sendall(case["send"].encode("latin-1"))
    t_sent = time.time()
    buf = bytearray()
    if case.get("expect"):
        read_until(sock, buf, case["expect"].encode("latin-1"), deadline)
    # Send now any ACK the kernel was delaying for what we read: dropped, it would leave
    # the server with unacknowledged data, and then it retransmits instead of probing.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
    if case.get("trace") and not srv.wait_line(rf" conn={conn_id} {case['trace']}\b", deadline):
        raise RuntimeError(f"{case['name']}: no '{case['trace']}' trace line for conn={conn_id}")
    nft(f"add element inet {TABLE} dead {{ {cport} }}\n")
    t_drop = time.time()
    return sock, {"server": case["server"], "client_port": cport, "conn": conn_id,
                  "t_sent": t_sent, "t_drop": t_drop, "received": bytes(buf).decode("latin-1")}


def main():
    plan = json.load(sys.stdin)
    workdir = plan["workdir"]
    out = {"servers": {}, "cases": {}, "capture": "", "capture_stderr": "", "error": None}
    servers, socks, tcpdump = {}, {}, None
    capture_path = os.path.join(workdir, "capture.txt")
    try:
        p = run(["ip", "link", "set", "lo", "up"])
        if p.returncode != 0:
            raise RuntimeError(f"ip link set lo up: {p.stderr.strip()}")
        # Priority raw: before conntrack, so nothing else in the namespace sees them.
        nft(f"""table inet {TABLE} {{
    set dead {{ type inet_service; }}
    chain prerouting {{
        type filter hook prerouting priority raw; policy accept;
        tcp sport @dead drop
        tcp dport @dead drop
    }}
}}
""")
        for name, args in plan["servers"].items():
            servers[name] = Server(name, plan["kahttpd"], args, workdir)
        ports = {name: srv.wait_port() for name, srv in servers.items()}
        for name, srv in servers.items():
            out["servers"][name] = {"args": srv.args, "port": ports[name]}

        # -S: absolute sequence numbers; -vv: print seq on empty segments too (a probe is
        # told from an ordinary ACK by its seq); -l: a line as soon as a packet is seen.
        port_filter = " or ".join(f"port {p}" for p in ports.values())
        capture = open(capture_path, "w")
        tcpdump = subprocess.Popen(["tcpdump", "-i", "lo", "-n", "-tt", "-S", "-vv", "-l",
                                    f"tcp and ({port_filter})"],
                                   stdout=capture, stderr=subprocess.PIPE, text=True)
        capture.close()
        line = ""
        deadline = time.monotonic() + STEP_TIMEOUT
        while "listening on" not in line:
            line = tcpdump.stderr.readline()
            if not line or time.monotonic() > deadline:
                raise RuntimeError(f"tcpdump did not start: {line!r}")

        for case in plan["cases"]:
            sock, rec = open_case(case, servers[case["server"]])
            socks[case["name"]] = sock
            out["cases"][case["name"]] = rec

        # The watch: connections that must stay open are given the whole window; a close
        # of one of them ends it early (the test will fail on it).
        deadline_wall = max(r["t_drop"] for r in out["cases"].values()) + plan["watch_s"]
        deadline = time.monotonic() + (deadline_wall - time.time())
        for case in plan["cases"]:
            if case.get("stay_open"):
                rec = out["cases"][case["name"]]
                servers[case["server"]].wait_line(rf" conn={rec['conn']} close ", deadline)
        out["t_watch_end"] = time.time()

        for case in plan["cases"]:
            rec = out["cases"][case["name"]]
            ss = run(["ss", "-tnoiH", "state", "all",
                      f"( sport = :{ports[case['server']]} and dport = :{rec['client_port']} )"])
            rec["ss"] = ss.stdout.strip()

        # Undo the drop and reset every client, so each server is left with nothing to
        # drain and must exit 0 on SIGTERM.
        nft(f"delete table inet {TABLE}\n")
        for sock in socks.values():
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        socks.clear()
        # Each server still serves a new connection after its dead peers.
        for name, srv in servers.items():
            with socket.create_connection(("127.0.0.1", srv.port), timeout=STEP_TIMEOUT) as s:
                s.sendall(b"GET /_demo/sleep?ms=0 HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
                buf = bytearray()
                read_until(s, buf, b"\r\n", time.monotonic() + STEP_TIMEOUT)
                out["servers"][name]["fresh_status_line"] = bytes(buf).split(b"\r\n")[0].decode("latin-1")
    except Exception:
        out["error"] = traceback.format_exc()
    finally:
        for sock in socks.values():
            sock.close()
        for name, srv in servers.items():
            srv.stop()
            out["servers"].setdefault(name, {"args": srv.args})
            out["servers"][name].update(rc=srv.rc, stderr=srv.lines)
        if tcpdump:
            tcpdump.send_signal(signal.SIGTERM)
            try:
                tcpdump.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                tcpdump.kill()
                tcpdump.wait()
            out["capture_stderr"] = tcpdump.stderr.read()
            with open(capture_path) as f:
                out["capture"] = f.read()
    json.dump(out, sys.stdout)
    return 1 if out["error"] else 0


if __name__ == "__main__":
    sys.exit(main())
