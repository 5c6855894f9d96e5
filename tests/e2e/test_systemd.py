"""
Issue 16: kahttpd under systemd, tested without systemd as PID 1. The test listens on a
NOTIFY_SOCKET of its own (a Unix datagram socket with SO_PASSCRED, so each message's
sender pid is known) and checks every message in order: READY=1 after binding, STATUS=
with open connections and requests per second, WATCHDOG=1 when WATCHDOG_USEC is set,
RELOADING=1 (with MONOTONIC_USEC=) then READY=1 around a SIGHUP, MAINPID= from the old process after a SIGUSR2 upgrade, STOPPING=1 at the drain.
Socket activation: systemd-socket-activate (Debian's systemd package) binds the sockets
and passes them with LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES (http, admin); kahttpd uses
them instead of binding its --listen addresses.
"""
import os
import shutil
import signal
import socket
import struct
import time

import pytest

from conftest import GET, KAHTTPD, STANDARD_FILES, assert_persistent
from test_lifecycle import Descendants, health, wait_gone, wait_new_pid
from waiting import wait_for

A = STANDARD_FILES["a.txt"]
ACTIVATE = shutil.which("systemd-socket-activate")


class NotifySocket:
    """The manager's end of sd_notify: every datagram, with its sender's pid."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(self.path)
        self.messages = []  # (pid, [lines])

    def _read(self, timeout):
        self.sock.settimeout(max(0.001, timeout))
        try:
            data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            return False
        pid = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", payload[:12])[0]
        self.messages.append((pid, data.decode().split("\n")))
        return True

    def wait(self, cond, what, timeout=10.0):
        """Reads until cond(messages) holds."""
        deadline = time.monotonic() + timeout
        while not cond(self.messages):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{what}: not within {timeout}s; got {self.messages!r}")
            self._read(left)

    def lines(self, skip=("STATUS=", "WATCHDOG=1")):
        """(pid, line) of every message line but the periodic ones."""
        return [(pid, line) for pid, lines in self.messages for line in lines
                if not line.startswith(skip)]

    def close(self):
        self.sock.close()


@pytest.fixture
def notify(tmp_path):
    n = NotifySocket(tmp_path / "notify.sock")
    yield n
    n.close()


def has_line(line):
    return lambda msgs: any(line in lines for _, lines in msgs)


def free_port():
    """A port no one listens on right now, for systemd-socket-activate, which cannot
    bind port 0."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_notify_ready_status_watchdog_mainpid_stopping_in_order(server, notify, tmp_path):
    """READY=1 once serving; STATUS= lines with connections and requests/s; WATCHDOG=1
    about every WATCHDOG_USEC/2; SIGHUP: RELOADING=1 and READY=1; SIGUSR2: MAINPID=<new pid> from the old process and
    nothing more from it; SIGTERM to the new one: STOPPING=1 from it. In that order."""
    pidfile = tmp_path / "k.pid"
    descendants = Descendants()
    srv = server("NOTIFY_SOCKET=" + notify.path, "WATCHDOG_USEC=300000", KAHTTPD,
                 "--listen", "127.0.0.1:0", "--pid-file", pidfile, listen=False,
                 binary="/usr/bin/env")
    try:
        old = srv.proc.pid
        notify.wait(has_line("READY=1"), "READY=1")
        assert notify.lines()[0] == (old, "READY=1")
        c = srv.connect()
        for _ in range(5):
            c.send(GET("/a.txt"))
            assert_persistent(c.read_response())
        notify.wait(lambda m: sum("WATCHDOG=1" in lines for _, lines in m) >= 3,
                    "three WATCHDOG=1")
        notify.wait(lambda m: any(l.startswith("STATUS=") and "1 connections open" in l
                                  for _, lines in m for l in lines), "STATUS= with 1 open")
        status = [l for _, lines in notify.messages for l in lines if l.startswith("STATUS=")]
        assert all("connections open" in l and "requests/s" in l for l in status), status
        srv.proc.send_signal(signal.SIGHUP)
        notify.wait(lambda m: sum("READY=1" in lines for _, lines in m) == 2,
                    "READY=1 after the reload")
        reloading = next(lines for _, lines in notify.messages if "RELOADING=1" in lines)
        assert reloading[0] == "RELOADING=1" and reloading[1].startswith("MONOTONIC_USEC=")
        assert int(reloading[1].split("=")[1]) > 0
        srv.proc.send_signal(signal.SIGUSR2)
        new = descendants.add(wait_new_pid(pidfile, old))
        notify.wait(has_line(f"MAINPID={new}"), "MAINPID=")
        c.close()
        assert srv.proc.wait(10) == 0
        os.kill(new, signal.SIGTERM)
        notify.wait(has_line("STOPPING=1"), "STOPPING=1")
        wait_gone(new)
        assert notify.lines(skip=("STATUS=", "WATCHDOG=1", "MONOTONIC_USEC=")) == [
            (old, "READY=1"), (old, "RELOADING=1"), (old, "READY=1"), (old, f"MAINPID={new}"),
            (new, "STOPPING=1")]
        after_handover = [pid for pid, lines in notify.messages[
            next(i for i, (_, ls) in enumerate(notify.messages) if f"MAINPID={new}" in ls) + 1:]]
        assert old not in after_handover, notify.messages
    finally:
        descendants.stop()


def test_no_notify_socket_no_messages(server, notify):
    """Without NOTIFY_SOCKET nothing is sent anywhere (and nothing fails)."""
    srv = server()
    assert srv.exchange(GET("/a.txt")).body == A
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(10) == 0
    assert not notify._read(0.2)


@pytest.mark.skipif(ACTIVATE is None, reason="needs systemd-socket-activate (Debian systemd)")
def test_socket_activation_uses_passed_sockets(server, notify, www):
    """systemd-socket-activate binds an http and an admin socket and starts kahttpd on
    the first connection: kahttpd serves on those sockets (its --listen address is not
    bound), answers the client that woke it, reports the passed addresses in its
    listening lines, sends READY=1, and drains on SIGTERM."""
    port, admin_port = free_port(), free_port()
    srv = server("-l", f"127.0.0.1:{port}", "-l", f"127.0.0.1:{admin_port}",
                 "--fdname=http:admin", "-E", "NOTIFY_SOCKET=" + notify.path,
                 KAHTTPD, "--listen", "127.0.0.1:1", "--admin", "127.0.0.1:1",
                 listen=False, listeners=0, binary=ACTIVATE)
    wait_for(srv.stderr_text, lambda t: t.count("Listening on") == 2, 10,
             "systemd-socket-activate's two sockets")
    first = socket.create_connection(("127.0.0.1", port), timeout=10)
    first.sendall(GET("/a.txt", headers=[("Connection", "close")]))
    srv.wait_ready(1)
    assert srv.addr == ("127.0.0.1", port)
    data = b""
    while chunk := first.recv(65536):
        data += chunk
    first.close()
    assert data.startswith(b"HTTP/1.1 200 ") and data.endswith(A), data
    assert health(("127.0.0.1", admin_port)) == (200, b"ok\n")
    notify.wait(has_line("READY=1"), "READY=1")
    assert any(l == f"kahttpd: admin on http://127.0.0.1:{admin_port}\n".encode()
               for l in srv.stdout_lines), srv.stdout_lines
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(10) == 0
    notify.wait(has_line("STOPPING=1"), "STOPPING=1")


@pytest.mark.skipif(ACTIVATE is None, reason="needs systemd-socket-activate (Debian systemd)")
def test_socket_activation_unknown_name_exits_2(server, tmp_path):
    port = free_port()
    srv = server("-l", f"127.0.0.1:{port}", "--fdname=gopher", KAHTTPD, listen=False,
                 listeners=0, binary=ACTIVATE)
    srv.expected_exit = 2
    wait_for(srv.stderr_text, lambda t: "Listening on" in t, 10, "the socket")
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    assert srv.proc.wait(10) == 2
    s.close()
    assert "LISTEN_FDNAMES" in srv.stderr_text() and "gopher" in srv.stderr_text()


@pytest.mark.skipif(ACTIVATE is None, reason="needs systemd-socket-activate (Debian systemd)")
def test_socket_activated_sockets_survive_an_upgrade(server, tmp_path, www):
    """The sockets systemd gave are handed on at SIGUSR2 like any other: the new process
    serves on them (its --listen address still unbound) and the old one exits 0."""
    port = free_port()
    pidfile = tmp_path / "k.pid"
    srv = server("-l", f"127.0.0.1:{port}", "--fdname=http", KAHTTPD, "--listen",
                 "127.0.0.1:1", "--pid-file", pidfile, listen=False, listeners=0,
                 binary=ACTIVATE)
    wait_for(srv.stderr_text, lambda t: "Listening on" in t, 10, "the socket")
    first = socket.create_connection(("127.0.0.1", port), timeout=10)
    srv.wait_ready(1)
    first.close()
    descendants = Descendants()
    try:
        srv.proc.send_signal(signal.SIGUSR2)
        descendants.add(wait_new_pid(pidfile, srv.proc.pid))
        assert srv.proc.wait(10) == 0
        r = srv.exchange(GET("/a.txt"))
        assert r.status == 200 and r.body == A
    finally:
        descendants.stop()
