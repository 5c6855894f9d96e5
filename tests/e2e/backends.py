"""
Backends and proxies for the reverse-proxy tests, started on port 0 (or, for nginx,
which cannot report a port it chose, on a port found free and retried if taken) and
stopped by the harness that started them. Standard library only, so that
proxy_race.py runs outside pytest too.

  HttpBackend      backends/http_backend.py: the inspecting test backend (JSON echo,
                   exact silent idle close, advertised Keep-Alive, HTTP/1.0,
                   WebSocket echo, slow and large bodies)
  NodeBackend      Node.js's http server (Debian nodejs), backends/node_backend.js
  GunicornBackend  Debian's gunicorn, gthread workers, --keep-alive N
  NginxBackend     nginx answering every request itself, keepalive_timeout 1s,
                   keepalive_requests 3
  Links            a delay relay in front of each backend (a network link's latency)
  ScriptedBackend  a raw backend in this process: answers each request with given bytes
  NginxProxy       nginx as the usual upstream keep-alive proxy, for comparison
  KahttpdProxy     kahttpd --proxy ..., its admin listener and access log

Every backend here serves on several ports when asked (ports=N): each port is a backend
of its own to the proxy, with its own pool, so that a test controls the idle gaps of
each pooled connection by the gaps of the one client that uses it.
"""
import os
import queue
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

from servers import Process, accepts, free_port

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PYTHON = "/usr/bin/python3"
START_TIMEOUT = 20.0
READY_RE = re.compile(r"backend listening on 127\.0\.0\.1:(\d+)")


def kahttpd_binary():
    path = os.environ.get("KAHTTPD") or str(REPO / "build" / "kahttpd")
    return os.path.abspath(path)


class Proc(Process):
    """A process that prints one ready line per port (on stdout or stderr); ports are
    read from those lines. stop() signals it (SIGTERM) and waits."""

    def __init__(self, argv, nports, logpath, ready_re=READY_RE, env=None, cwd=None,
                 ready_on_stderr=False):
        self.argv = argv
        self.log = open(logpath, "wb")
        self.logpath = logpath
        out = subprocess.PIPE
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                     stdout=self.log if ready_on_stderr else out,
                                     stderr=out if ready_on_stderr else self.log,
                                     env=env, cwd=cwd)
        self.lines = queue.Queue()
        stream = self.proc.stderr if ready_on_stderr else self.proc.stdout
        threading.Thread(target=self._drain, args=(stream,), daemon=True).start()
        self.ports = []
        self.ready_lines = []
        deadline = time.monotonic() + START_TIMEOUT
        while len(self.ports) < nports:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                self.stop()
                raise RuntimeError(f"{argv[:3]}: {len(self.ports)} of {nports} ports within "
                                   f"{START_TIMEOUT}s; log {logpath}")
            if line is None:
                self.stop()
                raise RuntimeError(f"{argv[:3]} exited before it was ready; log {logpath}: "
                                   f"{Path(logpath).read_text(errors='replace')[-1500:]}")
            found = [int(p) for p in ready_re.findall(line)]
            if found:
                self.ready_lines.append(line)
            self.ports += found

    def _drain(self, stream):
        for raw in iter(stream.readline, b""):
            line = raw.decode("latin-1")
            self.log.write(raw)
            self.log.flush()
            self.lines.put(line)
        self.lines.put(None)

    @property
    def port(self):
        return self.ports[0]

    def urls(self, path=""):
        return [f"http://127.0.0.1:{p}{path}" for p in self.ports]

    def stop(self):
        super().stop()
        return self.proc.returncode


# ---- backends ------------------------------------------------------------------------------

class HttpBackend(Proc):
    """backends/http_backend.py; see its docstring for the options and queries."""

    def __init__(self, workdir, ports=1, idle=None, advertise=None, max_requests=0, http10=False,
                 name="backend", advertise_max=0):
        argv = [PYTHON, "-u", str(HERE / "backends" / "http_backend.py"), "--ports", str(ports),
                "--name", name]
        if idle is not None:
            argv += ["--idle", str(idle)]
        if advertise:
            argv += ["--advertise", advertise]
        if max_requests:
            argv += ["--max-requests", str(max_requests)]
        if advertise_max:
            argv += ["--advertise-max", str(advertise_max)]
        if http10:
            argv.append("--http10")
        self.idle = idle
        super().__init__(argv, ports, Path(workdir) / f"{name}-{time.monotonic_ns()}.log")

    def conns(self):
        """The backend's record of every connection (GET /__conns, straight to it)."""
        import http.client
        import json
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            c.request("GET", "/__conns")
            return [r for r in json.loads(c.getresponse().read())
                    if r["peer"] != "%s:%d" % c.sock.getsockname()]
        finally:
            c.close()


class NodeBackend(Proc):
    """Node's http server; keepalive_ms None keeps Node's default (5 s, advertised)."""

    def __init__(self, workdir, ports=1, keepalive_ms=None):
        env = dict(os.environ, PORTS=str(ports))
        if keepalive_ms is not None:
            env["KEEPALIVE_MS"] = str(int(keepalive_ms))
        self.idle = (keepalive_ms or 5000) / 1000
        super().__init__(["node", str(HERE / "backends" / "node_backend.js")], ports,
                         Path(workdir) / f"node-{time.monotonic_ns()}.log", env=env)


class GunicornBackend(Proc):
    """gunicorn, one gthread worker, --keep-alive SEC; it prints its addresses on
    stderr ("Listening at: http://127.0.0.1:P,http://127.0.0.1:Q")."""

    def __init__(self, workdir, ports=1, keep_alive=2, threads=8):
        argv = ["gunicorn", "--worker-class", "gthread", "--workers", "1", "--threads",
                str(threads), "--keep-alive", str(keep_alive), "--chdir", str(HERE / "backends"),
                "--log-level", "info"]
        for _ in range(ports):
            argv += ["--bind", "127.0.0.1:0"]
        argv.append("wsgi_app:app")
        self.idle = keep_alive
        super().__init__(argv, ports, Path(workdir) / f"gunicorn-{time.monotonic_ns()}.log",
                         ready_re=re.compile(r"http://127\.0\.0\.1:(\d+)"), ready_on_stderr=True)


def nginx_main_conf(d, http_block):
    temps = "".join(f"  {k}_temp_path {d}/{k};\n"
                    for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (f"daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n"
            f"error_log {d}/error.log notice;\nworker_rlimit_nofile 8192;\n"
            f"events {{ worker_connections 4096; }}\n"
            f"http {{\n  access_log off;\n{temps}{http_block}}}\n")


class Nginx(Process):
    """nginx in the foreground with a config made for its ports; a taken port (another
    process got it between the probe and nginx's bind) means another try."""

    def __init__(self, workdir, name, nports, http_block_for_ports):
        self.dir = Path(workdir) / f"{name}-{time.monotonic_ns()}"
        self.dir.mkdir(parents=True)
        for attempt in range(5):
            self.ports = [free_port() for _ in range(nports)]
            conf = self.dir / "nginx.conf"
            conf.write_text(nginx_main_conf(self.dir, http_block_for_ports(self.ports)))
            self.log = open(self.dir / f"stdout-{attempt}.log", "wb")
            self.proc = subprocess.Popen(["/usr/sbin/nginx", "-p", str(self.dir), "-e",
                                          str(self.dir / "error.log"), "-c", str(conf)],
                                         stdin=subprocess.DEVNULL, stdout=self.log,
                                         stderr=subprocess.STDOUT)
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline and not all(accepts(p) for p in self.ports):
                try:
                    self.proc.wait(0.02)  # returns at once if it exited (a port was taken)
                    break
                except subprocess.TimeoutExpired:
                    pass
            if self.proc.poll() is None and all(accepts(p) for p in self.ports):
                return
            self.stop()
        raise RuntimeError(f"nginx {name} did not start; see {self.dir}")

    @property
    def port(self):
        return self.ports[0]

    def urls(self, path=""):
        return [f"http://127.0.0.1:{p}{path}" for p in self.ports]

    def error_log(self):
        try:
            return (self.dir / "error.log").read_text(errors="replace")
        except OSError:
            return ""

    def stop(self):
        super().stop()
        return self.proc.returncode


class NginxBackend(Nginx):
    """nginx as a backend: keepalive_timeout 1s (no Keep-Alive header: no second
    parameter), keepalive_requests 3; answers "nginx METHOD URI LENGTH\\n" itself."""

    def __init__(self, workdir, ports=1, keepalive_timeout="1s", keepalive_requests=3):
        self.idle = float(keepalive_timeout.rstrip("s"))

        def block(plist):
            listens = "".join(f"    listen 127.0.0.1:{p};\n" for p in plist)
            return (f"  keepalive_timeout {keepalive_timeout};\n"
                    f"  keepalive_requests {keepalive_requests};\n"
                    f"  client_max_body_size 0;\n"
                    f"  server {{\n{listens}"
                    f"    location / {{ return 200 \"nginx $request_method $request_uri "
                    f"$content_length\\n\"; }}\n  }}\n")
        super().__init__(workdir, "nginx-backend", ports, block)


class Links(Proc):
    """backends/links.py: a delay relay in front of each of the given backend URLs;
    urls() are the relayed addresses, in the same order."""

    def __init__(self, workdir, urls, rtt_ms):
        argv = [PYTHON, "-u", str(HERE / "backends" / "links.py"), "--rtt-ms", str(rtt_ms)]
        argv += [u.split("//", 1)[1].split("/", 1)[0] for u in urls]
        super().__init__(argv, len(urls), Path(workdir) / f"links-{time.monotonic_ns()}.log")


class ScriptedBackend:
    """A raw backend in the test's own process, on port 0: it reads each request head
    (and a Content-Length body) and answers with respond(n, method, target), which
    returns (bytes to send, what then: "keep", "close" or "reset"); n counts requests
    on this connection from 1. A list of byte strings is sent piece by piece, with a
    pause of PIECE_PAUSE seconds between two, so that the proxy has forwarded one piece
    before the next arrives. Every connection is recorded with its requests, so a
    test can tell whether a connection was used again."""

    PIECE_PAUSE = 0.3

    def __init__(self, respond):
        self.respond = respond
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(128)
        self.port = self.lsock.getsockname()[1]
        self.conns = []  # per connection: list of request targets
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path=""):
        return f"http://127.0.0.1:{self.port}{path}"

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                rec = []
                self.conns.append(rec)
            threading.Thread(target=self._serve, args=(c, rec), daemon=True).start()

    def _serve(self, c, rec):
        buf = b""
        c.settimeout(30)
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = c.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                method, target = lines[0].split(b" ")[:2]
                length = 0
                for line in lines[1:]:
                    n, _, v = line.partition(b":")
                    if n.strip().lower() == b"content-length":
                        length = int(v.strip())
                while len(buf) < length:
                    data = c.recv(65536)
                    if not data:
                        return
                    buf += data
                buf = buf[length:]
                rec.append(target.decode("latin-1"))
                out, then = self.respond(len(rec), method.decode(), target.decode("latin-1"))
                for i, piece in enumerate([out] if isinstance(out, bytes) else out):
                    if i:
                        time.sleep(self.PIECE_PAUSE)  # the backend stalls mid-response
                    c.sendall(piece)
                if then == "reset":
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
                    return
                if then == "close":
                    return
        except OSError:
            return
        finally:
            c.close()

    def stop(self):
        self.lsock.close()


# ---- proxies -------------------------------------------------------------------------------

def nginx_proxy_block(port, routes, usual=True, connect_timeout=None, read_timeout=None,
                      keepalive=32):
    """The http block of nginx as a reverse proxy. routes: [(prefix, [backend URLs])].
    usual=True is the configuration everyone deploys for upstream keep-alive
    (keepalive 32; proxy_http_version 1.1; proxy_set_header Connection "";), nginx's
    defaults otherwise (keepalive_timeout 60s for the pool, buffering on). usual=False
    adds what makes nginx forward like kahttpd's interface (headers, streaming,
    WebSocket), so that the forwarding tests can be run against it (KAPROXY=nginx)."""
    ups, locs = [], []
    for i, (prefix, urls) in enumerate(routes):
        servers = "".join(f"    server {u.split('//', 1)[1].split('/', 1)[0]};\n" for u in urls)
        base = urls[0].split("//", 1)[1].partition("/")[2]
        base = "/" + base.rstrip("/") if base else ""
        ups.append(f"  upstream u{i} {{\n{servers}    keepalive {keepalive};\n  }}\n")
        conf = ["proxy_http_version 1.1;"]
        if usual:
            conf += ['proxy_set_header Connection "";', f"proxy_pass http://u{i};"]
        else:
            conf += ["proxy_set_header Host $http_host;",
                     "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
                     "proxy_set_header X-Forwarded-Proto $scheme;",
                     "proxy_set_header X-Forwarded-Host $http_host;",
                     'proxy_set_header Via "1.1 kahttpd";',
                     "proxy_set_header Upgrade $ka_upgrade;",
                     "proxy_set_header Connection $ka_connection_upgrade;",
                     "proxy_buffering off;", "proxy_request_buffering off;",
                     f"proxy_pass http://u{i}{base}$request_uri;"]
        if connect_timeout is not None:
            conf.append(f"proxy_connect_timeout {connect_timeout}s;")
        if read_timeout is not None:
            conf += [f"proxy_read_timeout {read_timeout}s;", f"proxy_send_timeout {read_timeout}s;"]
        body = "".join(f"      {c}\n" for c in conf)
        locs.append(f"    location {prefix} {{\n{body}    }}\n")
    upgrade_map = ("" if usual else
                   "  map $http_upgrade $ka_connection_upgrade { default ''; ~*^websocket$ upgrade; }\n"
                   "  map $http_upgrade $ka_upgrade { default ''; ~*^websocket$ websocket; }\n")
    return (f"  client_max_body_size 0;\n  keepalive_requests 100000;\n{upgrade_map}"
            + "".join(ups) + f"  server {{\n    listen 127.0.0.1:{port};\n" + "".join(locs)
            + "  }\n")


class NginxProxy(Nginx):
    def __init__(self, workdir, routes, usual=True, **kw):
        super().__init__(workdir, "nginx-proxy", 1,
                         lambda plist: nginx_proxy_block(plist[0], routes, usual, **kw))
        self.addr = ("127.0.0.1", self.port)


class KahttpdProxy(Proc):
    """kahttpd --proxy PREFIX=URL,... with --admin and --access-log, for scripts outside
    pytest (the tests use conftest's server fixture through proxyfix.py)."""

    def __init__(self, workdir, routes, *opts, workers=1):
        argv = [kahttpd_binary(), "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
                "--workers", str(workers), "--root", str(workdir)]
        for prefix, urls in routes:
            argv += ["--proxy", f"{prefix}={','.join(urls)}"]
        argv += [str(o) for o in opts]
        super().__init__(argv, 2, Path(workdir) / f"kahttpd-{time.monotonic_ns()}.log",
                         ready_re=re.compile(r"^kahttpd: (?:listening|admin) on http://"
                                             r"127\.0\.0\.1:(\d+)"))
        admin = [i for i, line in enumerate(self.ready_lines) if " admin on " in line]
        self.admin = ("127.0.0.1", self.ports[admin[0]])
        self.addr = ("127.0.0.1", self.ports[1 - admin[0]])
