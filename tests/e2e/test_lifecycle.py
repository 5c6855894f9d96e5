"""
Issue 16: running kahttpd like nginx. GET /healthz on the admin listener (200 ok while
serving, 503 draining from the moment a drain or an upgrade begins), --drain-delay,
--pid-file, --user, and the SIGUSR2 binary upgrade: a new process that inherits the
listening sockets, the old one draining once the new one serves, idle keep-alive
connections that lose no request, a new binary that fails leaving the old one serving,
and a client at full speed across ten upgrades that sees no error at all.

The processes an upgrade starts are the server's descendants; the test learns their
pids from the pid file and stops the last one itself. Waiting is reading: the pid file,
/proc, sockets and /healthz, with deadlines.
"""
import http.client
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import (GET, KAHTTPD, STANDARD_FILES, Conn, assert_last, assert_persistent,
                      make_cert, run_kahttpd)
from pressure import admin_addr, wait_accepted, wait_trace
from waiting import wait_for

A = STANDARD_FILES["a.txt"]


def health(addr):
    """(status, body) of GET /healthz on the admin listener."""
    conn = http.client.HTTPConnection(*addr, timeout=5)
    try:
        conn.request("GET", "/healthz")
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def alive(pid):
    """Whether pid runs (a zombie does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def read_pid(path):
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return int(text) if text.strip().isdigit() else None


def wait_new_pid(pidfile, old, timeout=15.0):
    """The pid the upgrade's new process wrote to pidfile."""
    return wait_for(lambda: read_pid(pidfile), lambda p: p is not None and p != old, timeout,
                    f"a new pid in {pidfile}")


def listening_inodes(port):
    """Inodes of the TCP sockets listening on port (IPv4), from /proc/net/tcp."""
    out = set()
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:
                out.add(int(fields[9]))
    return out


def socket_inodes(pid):
    """Inodes of every socket pid holds open."""
    out = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(int(target[8:-1]))
    return out


def wait_gone(pid, timeout=15.0):
    wait_for(lambda: alive(pid), lambda a: not a, timeout, f"pid {pid} to exit")


class Descendants:
    """The processes upgrades started: stopped (SIGTERM, then SIGKILL) at the end."""

    def __init__(self):
        self.pids = []

    def add(self, pid):
        self.pids.append(pid)
        return pid

    def stop(self):
        for pid in self.pids:
            if alive(pid):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for pid in self.pids:
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
                raise AssertionError(f"pid {pid} did not exit on SIGTERM")


@pytest.fixture
def descendants():
    d = Descendants()
    yield d
    d.stop()


def in_progress(srv, ms):
    """A connection whose slow request (ms milliseconds) the server has begun."""
    c = srv.connect()
    c.send(GET(f"/_demo/sleep?ms={ms}"))
    ident = wait_accepted(srv, [c.sock])[c.sock]
    wait_trace(srv, lambda ev: any(e.event == "request" and e.conn == ident for e in ev),
               "the slow request begun")
    return c


# ---- /healthz and --drain-delay -------------------------------------------------------------

def test_healthz_ok_while_serving_503_draining_during_drain(server):
    """200 'ok' while serving; from SIGTERM on, 503 'draining' for as long as the drain
    lasts (the admin listener stays up until the request workers are done)."""
    srv = server("--demo", "--admin", "127.0.0.1:0", "--trace-connections")
    addr = admin_addr(srv)
    assert health(addr) == (200, b"ok\n")
    busy = in_progress(srv, 1500)
    srv.proc.send_signal(signal.SIGTERM)
    wait_for(lambda: health(addr), lambda h: h == (503, b"draining\n"), 2, "/healthz 503")
    r = busy.read_response()
    assert r.status == 200
    assert_last(r)
    assert srv.proc.wait(10) == 0


def test_healthz_head_and_other_methods(server):
    srv = server("--admin", "127.0.0.1:0")
    conn = http.client.HTTPConnection(*admin_addr(srv), timeout=5)
    conn.request("HEAD", "/healthz")
    r = conn.getresponse()
    assert (r.status, r.read()) == (200, b"")
    conn.request("POST", "/healthz", body=b"x")
    r = conn.getresponse()
    r.read()
    assert r.status == 405
    conn.close()


def test_drain_delay_serves_normally_then_drains(server):
    """--drain-delay 1.5: /healthz is 503 at once, but idle connections stay open and
    persistent, new clients are served, for the delay; then the usual drain."""
    srv = server("--admin", "127.0.0.1:0", "--drain-delay", "1.5")
    addr = admin_addr(srv)
    idle = srv.connect()
    idle.send(GET("/a.txt"))
    assert_persistent(idle.read_response())
    t_sig = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    wait_for(lambda: health(addr), lambda h: h == (503, b"draining\n"), 2, "/healthz 503")
    idle.send(GET("/a.txt"))
    r = idle.read_response()
    assert r.body == A
    assert_persistent(r)
    fresh = srv.exchange(GET("/a.txt"))
    assert fresh.body == A and fresh.keeps_alive
    data, how = idle.read_until_close(10)
    waited = time.monotonic() - t_sig
    assert (data, how) == (b"", "fin")
    assert waited >= 1.0, f"the drain began {waited:.2f}s after SIGTERM, before the delay"
    assert srv.proc.wait(10) == 0


def test_drain_delay_second_signal_drains_at_once(server):
    srv = server("--drain-delay", "60")
    idle = srv.connect()
    idle.send(GET("/a.txt"))
    assert_persistent(idle.read_response())
    srv.proc.send_signal(signal.SIGTERM)
    idle.expect_quiet(0.3)
    srv.proc.send_signal(signal.SIGTERM)
    assert idle.read_until_close(5) == (b"", "fin")
    assert srv.proc.wait(10) == 0


# ---- --pid-file and --user ---------------------------------------------------------------------

def test_pid_file_written_after_binding_and_removed_at_exit(server, tmp_path):
    pidfile = tmp_path / "kahttpd.pid"
    srv = server("--pid-file", pidfile)
    assert read_pid(pidfile) == srv.proc.pid
    assert pidfile.read_text() == f"{srv.proc.pid}\n"
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(10) == 0
    assert not pidfile.exists()


def test_pid_file_unwritable_exits_2(tmp_path):
    r = run_kahttpd("--listen", "127.0.0.1:0", "--pid-file", tmp_path / "no" / "such" / "dir.pid")
    assert r.returncode == 2
    assert b"--pid-file" in r.stderr


def test_user_unknown_exits_2():
    r = run_kahttpd("--listen", "127.0.0.1:0", "--user", "no-such-user-kahttpd")
    assert r.returncode == 2
    assert b"--user" in r.stderr and b"no-such-user-kahttpd" in r.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")
def test_user_drops_privileges_after_binding(server, www, tmp_path):
    """Started as root with --user nobody: every uid and gid of the process is nobody's,
    no supplementary group is root's, and it serves (the socket was bound as root)."""
    nobody = pwd.getpwnam("nobody")
    os.chmod(tmp_path, 0o755)
    for p in [www.path, *www.path.iterdir()]:
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    srv = server("--user", "nobody")
    status = open(f"/proc/{srv.proc.pid}/status").read()
    fields = {line.split(":")[0]: line.split(":")[1].split() for line in status.splitlines()}
    assert fields["Uid"] == [str(nobody.pw_uid)] * 4
    assert fields["Gid"] == [str(nobody.pw_gid)] * 4
    assert "0" not in fields["Groups"]
    assert srv.exchange(GET("/a.txt")).body == A


# ---- SIGUSR2: binary upgrade -------------------------------------------------------------------

def test_upgrade_new_process_serves_old_drains_pid_file_oldbin(server, tmp_path, descendants):
    """After SIGUSR2 the pid file names the new process and FILE.oldbin the old one while
    it drains; the new one holds the very listening socket the old one had (inherited,
    not bound again); the old one's request in progress is answered (Connection: close); the
    old one exits 0 and removes FILE.oldbin; the new one serves on the same port and
    says 200 on /healthz."""
    pidfile = tmp_path / "k.pid"
    srv = server("--demo", "--admin", "127.0.0.1:0", "--trace-connections", "--pid-file",
                 pidfile)
    addr = admin_addr(srv)
    before = listening_inodes(srv.port)
    assert len(before) == 1
    busy = in_progress(srv, 1500)
    srv.proc.send_signal(signal.SIGUSR2)
    new = descendants.add(wait_new_pid(pidfile, srv.proc.pid))
    # The same sockets, not new ones bound beside them: nothing in a queue is lost.
    assert listening_inodes(srv.port) == before
    assert before <= socket_inodes(new)
    assert read_pid(tmp_path / "k.pid.oldbin") == srv.proc.pid
    r = busy.read_response()
    assert r.status == 200
    assert_last(r)
    assert srv.proc.wait(10) == 0
    assert not (tmp_path / "k.pid.oldbin").exists()
    assert alive(new)
    assert srv.exchange(GET("/a.txt")).body == A
    assert health(addr) == (200, b"ok\n")
    assert "upgrade: pid" in srv.stderr_text()


def test_upgrade_idle_keepalive_connection_loses_no_request(server, tmp_path, descendants):
    """An idle keep-alive connection of the old process is not closed under its client:
    its next request is answered, with Connection: close, and then it closes."""
    pidfile = tmp_path / "k.pid"
    srv = server("--pid-file", pidfile, "--keepalive-timeout", "30")
    idle = srv.connect()
    idle.send(GET("/a.txt"))
    assert_persistent(idle.read_response())
    srv.proc.send_signal(signal.SIGUSR2)
    descendants.add(wait_new_pid(pidfile, srv.proc.pid))
    idle.expect_quiet(0.5)
    idle.send(GET("/a.txt"))
    r = idle.read_response()
    assert r.body == A
    assert_last(r)
    assert idle.read_until_close(5) == (b"", "fin")
    assert srv.proc.wait(10) == 0


def test_upgrade_failure_leaves_old_serving(server, tmp_path):
    """The binary on disk fails (a script that exits 3): stderr says so, the old process
    goes on serving with its pid file back in place and /healthz 200 again; a second
    SIGUSR2 with the binary gone says so too."""
    exe = tmp_path / "kahttpd-copy"
    shutil.copy(KAHTTPD, exe)
    pidfile = tmp_path / "k.pid"
    srv = server("--pid-file", pidfile, "--admin", "127.0.0.1:0", binary=str(exe))
    addr = admin_addr(srv)
    c = srv.connect()
    c.send(GET("/a.txt"))
    assert_persistent(c.read_response())
    exe.unlink()
    exe.write_text("#!/bin/sh\necho 'the new binary is broken' >&2\nexit 3\n")
    exe.chmod(0o755)
    srv.proc.send_signal(signal.SIGUSR2)
    wait_for(srv.stderr_text, lambda t: "still serving" in t, 10, "the failure on stderr")
    assert "exited with status 3" in srv.stderr_text()
    assert read_pid(pidfile) == srv.proc.pid
    assert not (tmp_path / "k.pid.oldbin").exists()
    assert health(addr) == (200, b"ok\n")
    c.send(GET("/a.txt"))
    r = c.read_response()
    assert r.body == A
    assert_persistent(r)
    exe.unlink()
    srv.proc.send_signal(signal.SIGUSR2)
    wait_for(srv.stderr_text, lambda t: "cannot execute" in t, 10, "the exec failure")
    assert srv.exchange(GET("/a.txt")).body == A


class Client(threading.Thread):
    """Requests /a.txt at full speed until told to stop (or a bound is reached):
    reusing its keep-alive connection (a new one after each Connection: close), or a
    new connection per request. Every failure is kept: a reset, a refused connect, a
    timeout, a connection closed without a response, a wrong body."""

    MAX_REQUESTS = 200_000
    MAX_SECONDS = 120

    def __init__(self, addr, reuse):
        super().__init__(daemon=True)
        self.addr, self.reuse = addr, reuse
        self.stop = threading.Event()
        self.errors = []
        self.served = 0
        self.connections = 0

    def _connect(self):
        self.connections += 1
        return Conn(self.addr, timeout=10)

    def run(self):
        deadline = time.monotonic() + self.MAX_SECONDS
        conn = None
        while not self.stop.is_set() and self.served < self.MAX_REQUESTS:
            if time.monotonic() > deadline:
                self.errors.append("time bound reached")
                break
            try:
                if conn is None:
                    conn = self._connect()
                headers = () if self.reuse else (("Connection", "close"),)
                conn.send(GET("/a.txt", headers=headers))
                r = conn.read_response()
                if r.status != 200 or r.body != A:
                    self.errors.append(f"bad response {r!r}")
                self.served += 1
                if not r.keeps_alive:
                    data, how = conn.read_until_close(10)
                    if (data, how) != (b"", "fin"):
                        self.errors.append(f"after Connection: close: {how} {data[:100]!r}")
                    conn.close()
                    conn = None
            except (AssertionError, OSError) as e:
                self.errors.append(f"{type(e).__name__}: {e}"[:300])
                if conn:
                    conn.close()
                conn = None
        if conn:
            conn.close()


def test_ten_upgrades_under_full_speed_clients_lose_nothing(server, tmp_path, descendants):
    """Four clients reuse keep-alive connections and two open a new connection per
    request, at full speed, across ten SIGUSR2 upgrades (each waited for: the new pid in
    the pid file, the old process gone): no reset, no refused connection, no missing or
    wrong response, and requests were served during every upgrade."""
    pidfile = tmp_path / "k.pid"
    srv = server("--pid-file", pidfile, "--workers", "2")
    clients = [Client(srv.addr, reuse=i < 4) for i in range(6)]
    for c in clients:
        c.start()
    try:
        pid = srv.proc.pid
        for i in range(10):
            before = sum(c.served for c in clients)
            os.kill(pid, signal.SIGUSR2)
            new = descendants.add(wait_new_pid(pidfile, pid))
            if i == 0:
                assert srv.proc.wait(15) == 0
            else:
                wait_gone(pid)
            wait_for(lambda: sum(c.served for c in clients), lambda n: n > before + 50, 10,
                     f"requests served around upgrade {i + 1}")
            pid = new
    finally:
        for c in clients:
            c.stop.set()
        for c in clients:
            c.join(15)
    errors = [e for c in clients for e in c.errors]
    assert not errors, f"{len(errors)} client errors, first: {errors[:5]}"
    assert all(c.served > 0 for c in clients)
    assert "still serving" not in srv.stderr_text()


def test_upgrade_old_process_sigterm_closes_idle_connections(server, tmp_path, descendants):
    """The old process waits for its idle connections' next request; SIGTERM makes it
    close them at once, as any drain does, and exit 0."""
    pidfile = tmp_path / "k.pid"
    srv = server("--pid-file", pidfile, "--keepalive-timeout", "60")
    idle = srv.connect()
    idle.send(GET("/a.txt"))
    assert_persistent(idle.read_response())
    srv.proc.send_signal(signal.SIGUSR2)
    descendants.add(wait_new_pid(pidfile, srv.proc.pid))
    idle.expect_quiet(0.3)
    srv.proc.send_signal(signal.SIGTERM)
    assert idle.read_until_close(5) == (b"", "fin")
    assert srv.proc.wait(10) == 0


@pytest.mark.parametrize("value", ["x", "3", "3:gopher:127.0.0.1:0", "99:http:127.0.0.1:0"])
def test_malformed_inherited_sockets_exit_2(tmp_path, value):
    """KAHTTPD_LISTEN_FDS that is not FD:ROLE:TEXT, or names a descriptor that is no
    listening socket: a message naming the variable, exit 2, nothing served."""
    r = subprocess.run([KAHTTPD, "--listen", "127.0.0.1:0", "--root", str(tmp_path)],
                       env={**os.environ, "KAHTTPD_LISTEN_FDS": value}, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=10)
    assert r.returncode == 2, r
    assert b"KAHTTPD_LISTEN_FDS" in r.stderr
    assert b"listening on" not in r.stdout


def test_upgrade_keeps_https_listener(server, tmp_path, descendants):
    """An HTTPS listener is handed on too: after the upgrade the same port completes a
    TLS handshake with the new process and serves."""
    cert, key = make_cert(tmp_path)
    pidfile = tmp_path / "k.pid"
    srv = server("--tls-listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key,
                 "--pid-file", pidfile)
    srv.proc.send_signal(signal.SIGUSR2)
    descendants.add(wait_new_pid(pidfile, srv.proc.pid))
    assert srv.proc.wait(10) == 0
    ctx = ssl.create_default_context(cafile=str(cert))
    with socket.create_connection(srv.addrs[1], timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(GET("/a.txt", headers=[("Connection", "close")]))
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    assert data.startswith(b"HTTP/1.1 200 ") and data.endswith(A)
