"""
Third-party servers and helpers for the kaprobe tests and for `make probe-report`
(tests/probe_report.py), in one place: nginx and lighttpd on free ports with a
configuration written for the purpose, kahttpd on port 0, and the delay relay
(tests/relay/relay.py) to put a network's round trip between a proxy and its backend.

No pytest here, so the report script can use it too: a server that does not start
raises ServerError. nginx and lighttpd cannot listen on port 0: they get a port the
kernel just gave out, retried if they fail to bind it; each is waited for by connecting
until it accepts, and stop() ends only the process started here.
"""
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RELAY = REPO / "tests" / "relay" / "relay.py"
NGINX = "/usr/sbin/nginx"
LIGHTTPD = "/usr/sbin/lighttpd"
START_TIMEOUT = 10.0


class ServerError(Exception):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


class Process:
    """A started process; stop() sends SIGTERM, then SIGKILL after 10 s."""

    proc = None
    log = None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log:
            self.log.close()


class External(Process):
    """A third-party server on a free port, run in the foreground, killed at teardown."""

    def __init__(self, tmp_path, name, argv_for_port, config_for_port):
        for attempt in range(5):
            self.port = free_port()
            conf = tmp_path / f"{name}.conf"
            conf.write_text(config_for_port(self.port))
            self.log = open(tmp_path / f"{name}-{attempt}.out", "wb")
            self.proc = subprocess.Popen(argv_for_port(conf), stdin=subprocess.DEVNULL,
                                         stdout=self.log, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline and not accepts(self.port):
                try:
                    self.proc.wait(0.02)  # returns at once if it exited (port taken)
                    break
                except subprocess.TimeoutExpired:
                    pass
            if self.proc.poll() is None and accepts(self.port):
                return
            self.stop()
        raise ServerError(f"{name} did not start; see {tmp_path}")

    def url(self, path="/"):
        return f"http://127.0.0.1:{self.port}{path}"


def nginx(tmp_path, http="", server="", listen="", name="nginx"):
    """nginx with one server block: `http` lines go in the http block, `server` lines in
    the server block, `listen` after its listen address (" so_keepalive=2s:1:3")."""
    t = tmp_path / name
    t.mkdir(exist_ok=True)

    def config(port):
        temps = "".join(f"  {k}_temp_path {t}/{k};\n"
                        for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        return (f"daemon off;\nmaster_process off;\nworker_processes 1;\npid {t}/nginx.pid;\n"
                f"error_log {t}/error.log notice;\nevents {{ worker_connections 512; }}\n"
                f"http {{\n  access_log off;\n{temps}{http}"
                f"  server {{\n    listen 127.0.0.1:{port}{listen};\n{server}  }}\n}}\n")

    return External(t, name, lambda conf: [NGINX, "-p", str(t), "-e", str(t / "error.log"),
                                           "-c", str(conf)], config)


def lighttpd(tmp_path, docroot, extra="", name="lighttpd"):
    t = tmp_path / name
    t.mkdir(exist_ok=True)

    def config(port):
        return (f'server.document-root = "{docroot}"\nserver.bind = "127.0.0.1"\n'
                f'server.port = {port}\nserver.pid-file = "{t}/lighttpd.pid"\n'
                f'server.errorlog = "{t}/error.log"\n'
                f'index-file.names = ( "index.html" )\n{extra}')

    return External(t, name, lambda conf: [LIGHTTPD, "-D", "-f", str(conf)], config)


class Kahttpd(Process):
    """kahttpd on 127.0.0.1 port 0; the port comes from its listening line."""

    def __init__(self, binary, tmp_path, *args, name="kahttpd"):
        self.log = open(tmp_path / f"{name}.err", "wb")
        self.proc = subprocess.Popen([binary, "--listen", "127.0.0.1:0", *map(str, args)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.log)
        line = self.proc.stdout.readline().decode()
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if not m:
            self.stop()
            raise ServerError(f"{name}: unexpected first line {line!r}")
        self.port = int(m.group(1))

    def url(self, path="/"):
        return f"http://127.0.0.1:{self.port}{path}"


class Relay(Process):
    """tests/relay/relay.py in front of 127.0.0.1:port, adding rtt_ms."""

    def __init__(self, tmp_path, port, rtt_ms, name="relay"):
        self.log = open(tmp_path / f"{name}.err", "wb")
        self.proc = subprocess.Popen(["/usr/bin/python3", str(RELAY), "--listen", "127.0.0.1:0",
                                      "--upstream", f"127.0.0.1:{port}", "--rtt-ms", str(rtt_ms)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.log)
        line = self.proc.stdout.readline().decode()
        m = re.match(r"relay: listening on 127\.0\.0\.1:(\d+)$", line.strip())
        if not m:
            self.stop()
            raise ServerError(f"relay: unexpected first line {line!r}")
        self.port = int(m.group(1))


def nginx_proxy(tmp_path, upstream_port, name="front"):
    """nginx as a reverse proxy with upstream keep-alive: idle upstream connections kept
    60 s (keepalive_timeout inside upstream, nginx >= 1.15.3), as a balancer does."""
    http = (f"  keepalive_timeout 60s;\n"
            f"  upstream backend {{\n    server 127.0.0.1:{upstream_port};\n    keepalive 32;\n"
            f"    keepalive_timeout 60s;\n  }}\n")
    server = ("    location / {\n      proxy_pass http://backend;\n"
              "      proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n    }\n")
    return nginx(tmp_path, http=http, server=server, name=name)
