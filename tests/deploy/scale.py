#!/usr/bin/python3
"""
The rolling-restart proof (issue 16): HAProxy (examples/haproxy/haproxy.cfg) in front
of two server instances, under two loads for the whole run:

  - wrk: keep-alive clients (each connection reused for many requests);
  - h2load: a new connection per request (Connection: close), in back-to-back runs
    of a bounded count;

while examples/haproxy/rolling.py restarts each instance in turn (drain, start again)
for --restarts rounds, then upgrades each in place (SIGUSR2) for --upgrades rounds.
Every request must succeed: no socket error, no non-2xx answer, no timeout, no refused
connection, at the clients. HAProxy's own counters (retries, redispatches, errors by
server) are reported beside, to show what the balancer absorbed; --no-retries runs
the same with HAProxy's retries off, so that nothing is absorbed.

    scale.py [--server kahttpd|nginx] [--restarts N] [--upgrades N] [--settle N]
             [--no-retries] [--json]
    scale.py report RESULT.json...   (a Markdown table of --json results side by side)

kahttpd is $KAHTTPD (else build/kahttpd), started with --drain-delay when it has the
option, and its health checked on the admin listener's /healthz when it has one (else
on /status, which answers 200 while it serves). nginx instances stop with QUIT (what
`nginx -s quit` sends) and upgrade with USR2 then QUIT to the old master; their health
is checked on /. Exits 0 when no request failed.

Ports: each kahttpd instance is started on port 0 and found from its listening lines;
a restart binds the same port again (so the instance is started once on port 0 to
learn a free port, and then for good on it). nginx instances take ports learnt the
same way. HAProxy is handed a socket this script already listens on (bind fd@N).
Everything started here is stopped here, by process id.
"""
import argparse
import json
import os
import re
import shutil
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "examples" / "haproxy"))
import rolling  # noqa: E402

KAHTTPD = os.path.abspath(os.environ.get("KAHTTPD") or REPO / "build" / "kahttpd")
READY_RE = re.compile(r"^kahttpd: (?:listening on|admin on) http://127\.0\.0\.1:(\d+)$")
BODY = b"hello from the rolling restart\n"
START_TIMEOUT = 20.0
STEP_TIMEOUT = 60.0


def kahttpd_help():
    return subprocess.run([KAHTTPD, "--help"], capture_output=True, text=True,
                          timeout=30).stdout


def start_kahttpd(argv, log_path, cwd):
    """Starts kahttpd; returns (process, [ports in the order of its ready lines])."""
    out = open(log_path, "ab")
    proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=out, start_new_session=True)
    want = argv.count("--listen") + argv.count("--admin")
    ports, deadline = [], time.monotonic() + START_TIMEOUT
    while len(ports) < want:
        line = proc.stdout.readline().decode()
        if not line or time.monotonic() > deadline:
            rolling.log(f"kahttpd did not start: {' '.join(argv)}")
            stop(proc.pid)
            raise RuntimeError("kahttpd did not start; see " + str(log_path))
        out.write(line.encode())
        out.flush()
        m = READY_RE.match(line.strip())
        if m:
            ports.append(int(m.group(1)))
    # Keep reading its stdout into the log, so that it never blocks on a full pipe.
    threading.Thread(target=lambda: shutil.copyfileobj(proc.stdout, out), daemon=True).start()
    return proc, ports


def stop(pid, sig=signal.SIGTERM, timeout=30.0):
    if pid is None or not rolling.is_running(pid):
        return
    try:
        os.kill(pid, sig)
        rolling.wait_for(lambda: not rolling.is_running(pid), timeout, f"pid {pid} to exit")
    except (ProcessLookupError, TimeoutError):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def free_ports(tmp, n):
    """n free ports, each from a kahttpd started on port 0 (its listening line)."""
    argv = [KAHTTPD, "--workers", "1", "--root", str(tmp)]
    for _ in range(n):
        argv += ["--listen", "127.0.0.1:0"]
    proc, ports = start_kahttpd(argv, tmp / "free-ports.log", tmp)
    stop(proc.pid)
    proc.wait()
    return ports


class Instances:
    """Two backend servers, each with a pid file, a listening port and a health port."""

    def __init__(self, kind, tmp, www):
        self.kind, self.tmp, self.www = kind, tmp, www
        self.names = ["ka1", "ka2"]
        self.pidfiles = {n: str(tmp / f"{n}.pid") for n in self.names}
        self.ports, self.check_ports = {}, {}
        self.procs = []
        help_text = kahttpd_help()
        self.has_drain_delay = "--drain-delay" in help_text
        self.has_upgrade = "--pid-file" in help_text  # SIGUSR2 came with --pid-file
        self.check_uri = "/healthz" if self.has_drain_delay else "/status"
        if kind == "nginx":
            self.check_uri = "/a.txt"

    def start(self):
        for name in self.names:
            (self.start_kahttpd if self.kind == "kahttpd" else self.start_nginx)(name)

    def start_kahttpd(self, name):
        base = [KAHTTPD, "--workers", "1", "--root", str(self.www)]
        proc, (port, check) = start_kahttpd(base + ["--listen", "127.0.0.1:0", "--admin",
                                                    "127.0.0.1:0"], self.tmp / f"{name}.log",
                                            self.tmp)
        stop(proc.pid)
        proc.wait()
        argv = base + ["--listen", f"127.0.0.1:{port}", "--admin", f"127.0.0.1:{check}"]
        if self.has_drain_delay:
            argv += ["--drain-delay", "2"]
        if self.has_upgrade:
            argv += ["--pid-file", self.pidfiles[name]]
        proc, _ = start_kahttpd(argv, self.tmp / f"{name}.log", self.tmp)
        self.procs.append(proc)
        Path(self.pidfiles[name]).write_text(f"{proc.pid}\n")
        self.ports[name], self.check_ports[name] = port, check

    def start_nginx(self, name):
        port = free_ports(self.tmp, 1)[0]
        d = self.tmp / name
        d.mkdir()
        conf = d / "nginx.conf"
        conf.write_text(f"""
daemon on;
master_process on;
worker_processes 1;
user root;
pid {self.pidfiles[name]};
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_timeout 75s;
    keepalive_requests 1000;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {self.www};
    }}
}}
""")
        out = open(self.tmp / f"{name}.log", "ab")
        proc = subprocess.Popen(shlex.split(self.nginx_command(name)),
                                stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                start_new_session=True)
        # nginx takes a binary upgrade (USR2) only as a daemon, whose parent has exited.
        if proc.wait(START_TIMEOUT) != 0:
            raise RuntimeError(f"nginx {name} did not start; see {name}/error.log")
        rolling.wait_for(lambda: rolling.read_pid(self.pidfiles[name]) is not None,
                         START_TIMEOUT, f"nginx {name} pid file")
        self.ports[name] = self.check_ports[name] = port

    def nginx_command(self, name):
        d = self.tmp / name
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"  # absolute: USR2 re-executes it
        return f"{nginx} -p {d} -e {d}/error.log -c {d}/nginx.conf"

    def stop_all(self):
        for name in self.names:
            stop(rolling.read_pid(self.pidfiles[name]),
                 signal.SIGQUIT if self.kind == "nginx" else signal.SIGTERM)
        for proc in self.procs:
            stop(proc.pid, signal.SIGKILL)
            proc.wait()


class HAProxy:
    def __init__(self, tmp, inst, retries=True):
        self.sock = str(tmp / "haproxy.sock")
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4096)
        self.port = self.listener.getsockname()[1]
        fd = self.listener.fileno()
        env = dict(os.environ, HA_BIND=f"fd@{fd}", HA_STATS=self.sock,
                   KA_CHECK_URI=inst.check_uri)
        for i, name in enumerate(inst.names, 1):
            env[f"KA{i}"] = f"127.0.0.1:{inst.ports[name]}"
            env[f"KA{i}_CHECK_PORT"] = str(inst.check_ports[name])
        cfg = REPO / "examples" / "haproxy" / "haproxy.cfg"
        if not retries:
            # The same configuration with no retry of any kind: what the servers do
            # alone, with nothing absorbed by the balancer.
            text = cfg.read_text()
            text = re.sub(r"(?m)^(\s*)retry-on .*$", r"\1retry-on none", text)
            text = re.sub(r"(?m)^(\s*)retries .*$", r"\1retries 0", text)
            cfg = tmp / "haproxy-no-retries.cfg"
            cfg.write_text(text)
        self.log = open(tmp / "haproxy.log", "ab")
        self.proc = subprocess.Popen(
            ["haproxy", "-db", "-f", str(cfg)],
            env=env, pass_fds=(fd,), stdin=subprocess.DEVNULL, stdout=self.log,
            stderr=self.log, start_new_session=True)
        def up(name):
            if self.proc.poll() is not None:
                raise RuntimeError(f"haproxy exited ({self.proc.returncode}); see haproxy.log")
            return os.path.exists(self.sock) and self.status(name) == "UP"
        for name in inst.names:
            rolling.wait_for(lambda: up(name), START_TIMEOUT, f"HAProxy to see {name} UP")

    def status(self, name):
        try:
            return rolling.haproxy_status(self.sock, "kahttpd", name)
        except (OSError, LookupError):
            return None

    def counters(self):
        """Per server and for the backend: retries, redispatches, connection and
        response errors, as HAProxy counted them."""
        s = socket.socket(socket.AF_UNIX)
        s.connect(self.sock)
        s.sendall(b"show stat\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        s.close()
        import csv
        import io
        out = {}
        for row in csv.DictReader(io.StringIO(data.decode().lstrip("# "))):
            if row["pxname"] == "kahttpd":
                out[row["svname"]] = {k: int(row[k] or 0) for k in
                                      ("stot", "wretr", "wredis", "econ", "eresp", "hrsp_5xx")}
            if row["pxname"] == "web" and row["svname"] == "FRONTEND":
                out["FRONTEND"] = {k: int(row[k] or 0) for k in ("stot", "hrsp_2xx", "hrsp_5xx",
                                                                  "ereq")}
        return out

    def stop(self):
        stop(self.proc.pid, signal.SIGUSR1)  # soft stop
        stop(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.listener.close()


class Wrk:
    """wrk's keep-alive load, until stop(): SIGINT makes it print its figures."""

    def __init__(self, url, conns, tmp):
        self.out = open(tmp / "wrk.out", "w+")
        self.proc = subprocess.Popen(["wrk", "-t1", f"-c{conns}", "-d3600s", "--timeout", "2s",
                                      url], stdout=self.out, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return {"error": "wrk did not stop"}
        self.out.seek(0)
        text = self.out.read()
        m = re.search(r"(\d+) requests in", text)
        r = {"requests": int(m.group(1)) if m else 0, "connect": 0, "read": 0, "write": 0,
             "timeout": 0, "non2xx": 0, "output": text}
        m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
        if m:
            r.update(connect=int(m.group(1)), read=int(m.group(2)), write=int(m.group(3)),
                     timeout=int(m.group(4)))
        m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
        if m:
            r["non2xx"] = int(m.group(1))
        r["failed"] = r["connect"] + r["read"] + r["write"] + r["timeout"] + r["non2xx"]
        if not re.search(r"requests in", text):
            r["failed"] += 1
            r["error"] = "no summary from wrk"
        return r


class H2load(threading.Thread):
    """Back-to-back h2load runs of RUN requests over new connections until stop()."""
    RUN = 2000

    def __init__(self, url, conns):
        super().__init__(daemon=True)
        self.url, self.conns = url, conns
        self.stopping = threading.Event()
        self.totals = {"requests": 0, "succeeded": 0, "failed": 0, "errored": 0,
                       "timeout": 0, "non2xx": 0, "runs": 0, "lost": 0, "bad_runs": []}
        self.start()

    def run(self):
        while not self.stopping.is_set():
            try:
                p = subprocess.run(["h2load", "--h1", "-n", str(self.RUN), "-c", str(self.conns),
                                    "-H", "Connection: close", self.url],
                                   capture_output=True, text=True, timeout=60)
                text, rc = p.stdout + p.stderr, p.returncode
            except subprocess.TimeoutExpired as e:
                text, rc = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else "", -1
            self.account(text, rc)

    def account(self, text, rc):
        t = self.totals
        t["runs"] += 1
        m = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, "
                      r"(\d+) failed, (\d+) errored, (\d+) timeout", text)
        s = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
        if rc != 0 or not m or not s:
            t["bad_runs"].append(text[-1500:])
            t["lost"] += self.RUN  # a run that did not finish: all of it counts as failed
            return
        total, done, ok, failed, errored, timeout = map(int, m.groups())
        t["requests"] += total
        t["succeeded"] += ok
        t["failed"] += failed + (total - done)
        t["errored"] += errored
        t["timeout"] += timeout
        t["non2xx"] += int(s.group(2)) + int(s.group(3)) + int(s.group(4))
        if failed or errored or timeout or total != ok:
            t["bad_runs"].append(text[-1500:])

    def stop(self):
        self.stopping.set()
        self.join(90)
        return self.totals


def run(kind, restarts, upgrades, tmp, wrk_conns, h2_conns, settle=100, retries=True):
    www = tmp / "www"
    www.mkdir()
    (www / "a.txt").write_bytes(BODY)
    inst = Instances(kind, tmp, www)
    ha = wrk = h2 = None
    result = {"server": kind, "retries": retries, "restarts": 0, "upgrades": 0, "errors": []}
    t0 = time.monotonic()
    try:
        inst.start()
        ha = HAProxy(tmp, inst, retries)
        url = f"http://127.0.0.1:{ha.port}/a.txt"
        wrk = Wrk(url, wrk_conns, tmp)
        h2 = H2load(url, h2_conns)
        # Load is flowing through both servers before the first restart.
        rolling.wait_for(lambda: all(ha.counters()[n]["stot"] > 100 for n in inst.names),
                         STEP_TIMEOUT, "requests on both servers")
        # examples/haproxy/rolling.py as an operator runs it, one server per call.
        cli = [sys.executable, str(REPO / "examples" / "haproxy" / "rolling.py"),
               "--haproxy-socket", ha.sock, "--backend", "kahttpd", "--log-dir", str(tmp),
               "--timeout", str(STEP_TIMEOUT), "--wait-old"]
        if kind == "nginx":
            cli += ["--stop-signal", "QUIT", "--quit-old", "--start",
                    inst.nginx_command("{name}")]

        def roll(action, name):
            # Its progress lines go to stderr: stdout may be carrying --json.
            p = subprocess.run(cli + [action, f"{name}={inst.pidfiles[name]}"],
                               stdin=subprocess.DEVNULL, stdout=sys.stderr,
                               timeout=4 * STEP_TIMEOUT)
            if p.returncode != 0:
                raise RuntimeError(f"rolling.py {action} {name} exited {p.returncode}")

        def serving(name):
            # Back in rotation means answering again: HAProxy sends it `settle` more
            # requests before the next step.
            before = ha.counters()[name]["stot"]
            rolling.wait_for(lambda: ha.counters()[name]["stot"] >= before + settle,
                             STEP_TIMEOUT, f"{name} to serve again")

        for _ in range(restarts):
            for name in inst.names:
                roll("restart", name)
                serving(name)
                result["restarts"] += 1
        if upgrades and kind == "kahttpd" and not inst.has_upgrade:
            result["errors"].append("this kahttpd has no SIGUSR2 upgrade yet: upgrades skipped")
            upgrades = 0
        for _ in range(upgrades):
            for name in inst.names:
                roll("upgrade", name)
                serving(name)
                result["upgrades"] += 1
    except (OSError, RuntimeError, TimeoutError, LookupError,
            subprocess.TimeoutExpired) as e:
        result["errors"].append(f"{type(e).__name__}: {e}")
    finally:
        result["wrk"] = wrk.stop() if wrk else None
        result["h2load"] = h2.stop() if h2 else None
        result["haproxy"] = ha.counters() if ha else None
        if ha:
            ha.stop()
        inst.stop_all()
    for name in inst.names:
        log_path = tmp / f"{name}.log"
        log_text = log_path.read_text(errors="replace") if log_path.exists() else ""
        for marker in ("AddressSanitizer", "runtime error:", "LeakSanitizer"):
            if marker in log_text:
                result["errors"].append(f"{name}.log contains {marker!r}")
    result["seconds"] = round(time.monotonic() - t0, 1)
    result["check_uri"] = inst.check_uri
    result["drain_delay"] = inst.has_drain_delay
    result["failed_requests"] = failures(result)
    return result


def failures(r):
    """Requests that failed at the clients: wrk's socket errors and non-2xx answers,
    and h2load's requests that did not succeed (h2load counts an error or a non-2xx
    answer as failed, and a run that did not finish as failed in full)."""
    n = r["wrk"]["failed"] if r["wrk"] else 0
    if r["h2load"]:
        h = r["h2load"]
        n += max(h["requests"] - h["succeeded"], h["non2xx"]) + h.get("lost", 0)
    return n


def summary(r):
    w, h = r["wrk"] or {}, r["h2load"] or {}
    ha = r["haproxy"] or {}
    retries = sum(v.get("wretr", 0) for k, v in ha.items() if k != "FRONTEND")
    redis = sum(v.get("wredis", 0) for k, v in ha.items() if k != "FRONTEND")
    return (f"{r['server']}: {r['restarts']} restarts, {r['upgrades']} upgrades in "
            f"{r['seconds']} s; wrk {w.get('requests', 0)} requests, {w.get('failed', '?')} "
            f"failed (connect {w.get('connect')}, read {w.get('read')}, write {w.get('write')}, "
            f"timeout {w.get('timeout')}, non-2xx {w.get('non2xx')}); h2load "
            f"{h.get('requests', 0)} requests on new connections, "
            f"{h.get('failed', '?')} failed, {h.get('errored', '?')} errored, "
            f"{h.get('timeout', '?')} timeout, {h.get('non2xx', '?')} non-2xx; "
            f"HAProxy retried {retries}, redispatched {redis}")


def report(paths):
    """A Markdown table of scale.py --json results, one column per run."""
    runs = []
    for p in paths:
        text = Path(p).read_text()
        runs.append(json.loads(text[text.index("{"):]))

    def ha(r, key):
        return sum(v.get(key, 0) for k, v in (r["haproxy"] or {}).items() if k != "FRONTEND")
    rows = [
        ("restarts (stop, start again)", lambda r: r["restarts"]),
        ("binary upgrades (SIGUSR2)", lambda r: r["upgrades"]),
        ("seconds", lambda r: r["seconds"]),
        ("wrk keep-alive requests", lambda r: r["wrk"]["requests"]),
        ("wrk socket errors (connect/read/write/timeout)",
         lambda r: "/".join(str(r["wrk"][k]) for k in ("connect", "read", "write", "timeout"))),
        ("wrk non-2xx", lambda r: r["wrk"]["non2xx"]),
        ("h2load requests, each on a new connection", lambda r: r["h2load"]["requests"]),
        ("h2load failed/errored/timeout",
         lambda r: "/".join(str(r["h2load"][k]) for k in ("failed", "errored", "timeout"))),
        ("h2load non-2xx", lambda r: r["h2load"]["non2xx"]),
        ("**failed requests at the clients**", lambda r: f"**{failures(r)}**"),
        ("HAProxy retries (absorbed)", lambda r: ha(r, "wretr")),
        ("HAProxy connection errors to servers", lambda r: ha(r, "econ")),
        ("HAProxy response errors from servers", lambda r: ha(r, "eresp")),
    ]
    out = ["| | " + " | ".join(r["server"] + ("" if r.get("retries", True) else ", no retries")
                               for r in runs) + " |",
           "|---|" + "---:|" * len(runs)]
    for label, f in rows:
        out.append(f"| {label} | " + " | ".join(str(f(r)) for r in runs) + " |")
    return "\n".join(out)


def main():
    if sys.argv[1:2] == ["report"]:
        print(report(sys.argv[2:]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", choices=("kahttpd", "nginx"), default="kahttpd")
    ap.add_argument("--restarts", type=int, default=1, help="rounds of restarts [1]")
    ap.add_argument("--upgrades", type=int, default=1, help="rounds of SIGUSR2 upgrades [1]")
    ap.add_argument("--wrk-connections", type=int, default=8)
    ap.add_argument("--h2load-clients", type=int, default=2)
    ap.add_argument("--settle", type=int, default=100,
                    help="requests each server must answer after each step before the next [100]")
    ap.add_argument("--no-retries", action="store_true",
                    help="HAProxy without retry-on and retries: nothing absorbed")
    ap.add_argument("--dir", help="where to keep logs (default: a new temporary directory)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    for tool in ("haproxy", "wrk", "h2load") + (("nginx",) if args.server == "nginx" else ()):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            sys.exit(f"scale.py: {tool} is missing (tests/deps.sh installs it)")
    import tempfile
    tmp = Path(args.dir or tempfile.mkdtemp(prefix="scale-")).resolve()
    tmp.mkdir(parents=True, exist_ok=True)
    r = run(args.server, args.restarts, args.upgrades, tmp, args.wrk_connections,
            args.h2load_clients, args.settle, not args.no_retries)
    if args.json:
        print(json.dumps(r, indent=1))
    else:
        if r["wrk"] and r["wrk"].get("failed"):
            print(r["wrk"]["output"])
        for text in (r["h2load"] or {}).get("bad_runs", [])[:3]:
            print(text)
        print(summary(r))
        for e in r["errors"]:
            print("scale.py:", e)
        print(f"scale.py: logs in {tmp}")
    hard_errors = [e for e in r["errors"] if "upgrades skipped" not in e]
    return 0 if r["failed_requests"] == 0 and not hard_errors else 1


if __name__ == "__main__":
    sys.exit(main())
