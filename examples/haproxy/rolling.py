#!/usr/bin/python3
"""
Rolling restart and rolling binary upgrade of the servers behind HAProxy, one at a
time, each back in HAProxy's rotation before the next is touched.

    rolling.py restart --haproxy-socket SOCK --backend kahttpd ka1=/run/ka1.pid ka2=/run/ka2.pid
    rolling.py upgrade --haproxy-socket SOCK --backend kahttpd ka1=/run/ka1.pid ka2=/run/ka2.pid

Each NAME=PIDFILE is a server of the backend (its name in haproxy.cfg) and the file
holding its process id.

restart: sends --stop-signal (TERM: kahttpd turns /healthz to 503, keeps serving for
  --drain-delay while HAProxy's health checks take it out of rotation, then drains),
  waits for the process to exit, starts the same command line again (from
  /proc/PID/cmdline, in the same directory and environment, output appended to
  --log-dir/NAME.log) and writes its pid, or runs --start's command and waits for
  the server to write its own pid (nginx rewrites its command line and daemonizes),
  then waits until it accepts connections and HAProxy reports it UP. For nginx:
  --stop-signal QUIT (what `nginx -s quit` sends) and --start.
upgrade: sends USR2 (kahttpd starts the binary on disk with the listening sockets and
  drains the old process once the new one is ready), waits until PIDFILE names the new
  process (with --wait-old, also until the old one has exited: kahttpd's old process
  lives until its idle keep-alive connections are closed by their clients, or time
  out), and until HAProxy reports the server UP.
  --quit-old sends QUIT to the old process once the new one runs, as nginx's upgrade
  needs (USR2, then QUIT to the old master).

Standard library only. Exits 0 when every server went round, 1 otherwise.
"""
import argparse
import csv
import io
import os
import shlex
import signal
import socket
import subprocess
import sys
import time

POLL = 0.05  # s between two looks at a process or at HAProxy


def log(msg):
    print(f"rolling: {time.strftime('%H:%M:%S')} {msg}", flush=True)


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not within {timeout} s")
        time.sleep(POLL)


def read_pid(pidfile):
    try:
        with open(pidfile) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def is_running(pid):
    """True while pid exists and is not a zombie (an exited child nobody reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def haproxy_command(sock_path, command):
    """One command on HAProxy's runtime API socket; its answer."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    try:
        s.connect(sock_path)
        s.sendall(command.encode() + b"\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    finally:
        s.close()
    return data.decode()


def haproxy_status(sock_path, backend, server):
    """The server's status in HAProxy's `show stat` (UP, DOWN, NOLB, MAINT, ...)."""
    text = haproxy_command(sock_path, "show stat").lstrip("# ")
    for row in csv.DictReader(io.StringIO(text)):
        if row.get("pxname") == backend and row.get("svname") == server:
            return row.get("status", "")
    raise LookupError(f"no server {backend}/{server} in HAProxy's show stat")


def haproxy_server_addr(sock_path, backend, server):
    """(address, port) of a server, from `show servers state BACKEND`."""
    lines = haproxy_command(sock_path, f"show servers state {backend}").splitlines()
    header = next(line for line in lines if line.startswith("# be_id"))[2:].split()
    for line in lines:
        fields = line.split()
        if len(fields) == len(header) and not line.startswith("#"):
            row = dict(zip(header, fields))
            if row["srv_name"] == server:
                return row["srv_addr"], int(row["srv_port"])
    raise LookupError(f"no server {backend}/{server} in HAProxy's show servers state")


def accepts(addr):
    try:
        socket.create_connection(addr, timeout=1).close()
        return True
    except OSError:
        return False


def wait_up(args, name):
    """Until the server accepts connections again and HAProxy has it UP (HAProxy may not
    even have seen it down when a restart is quick)."""
    if args.haproxy_socket:
        addr = haproxy_server_addr(args.haproxy_socket, args.backend, name)
        wait_for(lambda: accepts(addr), args.timeout, f"{name} to accept on {addr}")
        wait_for(lambda: haproxy_status(args.haproxy_socket, args.backend, name) == "UP",
                 args.timeout, f"{name} UP in HAProxy")


def process_image(pid):
    """(argv, cwd, environment) of a running process, to start it again alike."""
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        argv = [a.decode() for a in f.read().split(b"\0")[:-1]]
    cwd = os.readlink(f"/proc/{pid}/cwd")
    with open(f"/proc/{pid}/environ", "rb") as f:
        env = dict(e.decode().split("=", 1) for e in f.read().split(b"\0") if b"=" in e)
    return argv, cwd, env


def restart(args, name, pidfile):
    pid = read_pid(pidfile)
    if pid is None or not is_running(pid):
        raise RuntimeError(f"{name}: no running process in {pidfile}")
    argv, cwd, env = process_image(pid)
    if args.start:  # in this script's environment (nginx clears its own)
        argv, env = shlex.split(args.start.replace("{name}", name)), dict(os.environ)
    log(f"{name}: SIG{args.stop_signal} to {pid}")
    os.kill(pid, getattr(signal, "SIG" + args.stop_signal))
    wait_for(lambda: not is_running(pid), args.timeout, f"{name} (pid {pid}) to exit")
    with open(os.path.join(args.log_dir, f"{name}.log"), "ab") as out:
        child = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                 stdout=out, stderr=out, start_new_session=True)
    if args.start:
        wait_for(lambda: read_pid(pidfile) not in (None, pid) and is_running(read_pid(pidfile)),
                 args.timeout, f"{name}: its new process id in {pidfile}")
    else:
        with open(pidfile + ".tmp", "w") as f:
            f.write(f"{child.pid}\n")
        os.replace(pidfile + ".tmp", pidfile)
    log(f"{name}: started again as {read_pid(pidfile)}")
    wait_up(args, name)
    log(f"{name}: UP")


def upgrade(args, name, pidfile):
    pid = read_pid(pidfile)
    if pid is None or not is_running(pid):
        raise RuntimeError(f"{name}: no running process in {pidfile}")
    log(f"{name}: SIGUSR2 to {pid}")
    os.kill(pid, signal.SIGUSR2)

    def new_pid():
        p = read_pid(pidfile)
        return p is not None and p != pid and is_running(p)
    wait_for(new_pid, args.timeout, f"{name}: a new process in {pidfile}")
    if args.quit_old:
        os.kill(pid, signal.SIGQUIT)
    if args.wait_old:
        wait_for(lambda: not is_running(pid), args.timeout, f"{name}: old process {pid} to exit")
    log(f"{name}: now {read_pid(pidfile)}")
    wait_up(args, name)
    log(f"{name}: UP")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("action", choices=("restart", "upgrade"))
    ap.add_argument("servers", nargs="+", metavar="NAME=PIDFILE")
    ap.add_argument("--haproxy-socket", help="HAProxy's stats socket (level admin or user)")
    ap.add_argument("--backend", default="kahttpd")
    ap.add_argument("--stop-signal", default="TERM", choices=("TERM", "QUIT", "INT"))
    ap.add_argument("--start", metavar="COMMAND",
                    help="restart: the command that starts a server, {name} its name "
                         "[the stopped process's own command line]")
    ap.add_argument("--quit-old", action="store_true",
                    help="upgrade: send QUIT to the old process once the new one runs (nginx)")
    ap.add_argument("--wait-old", action="store_true",
                    help="upgrade: wait for the old process to exit before the next server")
    ap.add_argument("--log-dir", default=".")
    ap.add_argument("--timeout", type=float, default=60.0,
                    help="longest wait for each step, in seconds [60]")
    args = ap.parse_args(argv)
    servers = []
    for spec in args.servers:
        name, eq, pidfile = spec.partition("=")
        if not eq or not name or not pidfile:
            ap.error(f"expected NAME=PIDFILE, got {spec!r}")
        servers.append((name, pidfile))
    try:
        for name, pidfile in servers:
            (restart if args.action == "restart" else upgrade)(args, name, pidfile)
    except (OSError, RuntimeError, TimeoutError, LookupError) as e:
        log(f"failed: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
