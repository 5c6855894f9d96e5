"""
kaprobe against real servers: nginx, lighttpd, Python's http.server and kahttpd, each
started here with its own small configuration, and kaprobe's findings compared with
what that configuration (or, where a server does its own thing, an independent count
made here over a raw socket) says. Then the benchmark, bad usage, an unreachable
server and a server that does not speak HTTP.

Binary: $KAPROBE, or build/kaprobe at the repository root. nginx and lighttpd come
from tests/deps.sh; a test whose server is not installed is skipped. Every server is
started on a free port (kahttpd on port 0; for the others a port the kernel just gave
out, retried if the server fails to bind it) and waited for by connecting until it
accepts; every process started here is stopped at teardown.
"""
import json
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

import servers
from conftest import GET, REPO, SANITIZER_MARKERS, STANDARD_FILES
from optdoc import diff, help_sections, markdown_table, run_help
from servers import free_port


def _binary():
    path = os.environ.get("KAPROBE") or str(REPO / "build" / "kaprobe")
    if os.sep not in path:
        path = shutil.which(path) or path
    return os.path.abspath(path)


KAPROBE = _binary()
PROBE_KEYS = ["persistent_http11", "http10_keepalive", "http10_default_close",
              "connection_close_honored", "keep_alive_header", "advertised_timeout_s",
              "advertised_max", "idle_timeout_s", "max_requests", "max_requests_signalled",
              "pipelining", "closer", "close_kind", "server", "tls_version", "tls_cipher",
              "alpn", "tls_handshake_ms", "tls_resumption", "ticket_lifetime_s",
              "tcp_keepalive", "close_race", "advertised_vs_enforced", "lingering", "findings"]
TLS_KEYS = PROBE_KEYS[PROBE_KEYS.index("tls_version"):PROBE_KEYS.index("tcp_keepalive")]
CHECKS = ["persistent_http11", "http10_keepalive", "http10_default_close", "connection_close",
          "keep_alive_header", "idle_timeout", "max_requests", "pipelining", "tcp_keepalive",
          "close_race", "advertised_vs_enforced", "lingering"]


def run_kaprobe(*args, timeout=60):
    if not os.access(KAPROBE, os.X_OK):
        pytest.fail(f"no kaprobe binary at {KAPROBE} (run make, or set KAPROBE=/path)")
    start = time.monotonic()
    p = subprocess.run([KAPROBE, *map(str, args)], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout)
    p.elapsed = time.monotonic() - start
    err = p.stderr.decode(errors="replace")
    for marker in SANITIZER_MARKERS:
        assert marker not in err, f"kaprobe {' '.join(map(str, args))}: {err}"
    return p


def probe_json(url, *args, timeout=60):
    p = run_kaprobe("--json", *args, url, timeout=timeout)
    assert p.returncode == 0, (p.returncode, p.stderr)
    out = json.loads(p.stdout)
    assert list(out) == PROBE_KEYS, out
    out["elapsed"] = p.elapsed
    return out


# ---- servers that are not kahttpd (started by servers.py, shared with the report script) ---

def _free_port():
    return free_port()


class External(servers.External):
    """servers.External, failing the test (not erroring) when the server does not start."""

    def __init__(self, *args):
        try:
            super().__init__(*args)
        except servers.ServerError as e:
            pytest.fail(str(e))


@pytest.fixture
def docroot(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    for name, data in STANDARD_FILES.items():
        (root / name).write_bytes(data)
    (root / "index.html").write_bytes(b"<p>kaprobe</p>\n")
    return root


@pytest.fixture
def nginx(tmp_path, docroot):
    if not os.access("/usr/sbin/nginx", os.X_OK):
        pytest.skip("nginx is not installed (tests/deps.sh installs nginx-light)")
    t = tmp_path

    def config(port):
        temps = "".join(f"  {k}_temp_path {t}/{k};\n"
                        for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        return (f"daemon off;\nmaster_process off;\nworker_processes 1;\npid {t}/nginx.pid;\n"
                f"error_log {t}/nginx-error.log notice;\nevents {{ worker_connections 512; }}\n"
                f"http {{\n  access_log off;\n{temps}"
                f"  keepalive_timeout 3s 3;\n  keepalive_requests 7;\n"
                f"  server {{ listen 127.0.0.1:{port}; root {docroot}; }}\n}}\n")

    srv = External(t, "nginx", lambda conf: ["/usr/sbin/nginx", "-p", str(t), "-e",
                                             str(t / "nginx-error.log"), "-c", str(conf)], config)
    yield srv
    srv.stop()


@pytest.fixture
def lighttpd(tmp_path, docroot):
    if not os.access("/usr/sbin/lighttpd", os.X_OK):
        pytest.skip("lighttpd is not installed (tests/deps.sh installs it)")
    t = tmp_path

    def config(port):
        return (f'server.document-root = "{docroot}"\nserver.bind = "127.0.0.1"\n'
                f'server.port = {port}\nserver.pid-file = "{t}/lighttpd.pid"\n'
                f'server.errorlog = "{t}/lighttpd-error.log"\n'
                f'index-file.names = ( "index.html" )\n'
                f"server.max-keep-alive-idle = 2\nserver.max-keep-alive-requests = 5\n")

    srv = External(t, "lighttpd", lambda conf: ["/usr/sbin/lighttpd", "-D", "-f", str(conf)],
                   config)
    yield srv
    srv.stop()


@pytest.fixture
def python_http_server(docroot, tmp_path):
    """python3 -m http.server on port 0; the port comes from its ready line."""
    proc = subprocess.Popen(["/usr/bin/python3", "-u", "-m", "http.server", "0", "--bind",
                             "127.0.0.1", "--directory", str(docroot)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=open(tmp_path / "http.server.err", "wb"))
    line = proc.stdout.readline().decode()  # "Serving HTTP on 127.0.0.1 port N (...) ..."
    words = line.split()
    assert "port" in words, f"unexpected ready line {line!r}"
    yield f"http://127.0.0.1:{int(words[words.index('port') + 1])}/"
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def hello_server():
    """Accepts connections and answers each with "hello\\n": not HTTP."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(64)

    def serve():
        while True:
            try:
                c, _ = lsock.accept()
            except OSError:
                return
            c.sendall(b"hello\n")
            c.close()

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{lsock.getsockname()[1]}/"
    lsock.close()


def count_requests_until_close(port, limit=50):
    """An independent count over a raw socket: sequential GETs until the server closes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    answered = 0
    buf = b""
    try:
        while answered < limit:
            s.sendall(GET("/index.html", host="x"))
            while b"\r\n\r\n" not in buf:
                data = s.recv(65536)
                if not data:
                    return answered
                buf += data
            head, _, buf = buf.partition(b"\r\n\r\n")
            length = int([line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")][0])
            while len(buf) < length:
                buf += s.recv(65536)
            buf = buf[length:]
            answered += 1
            if b"\r\nconnection: close" in head.lower():
                return answered
    except ConnectionResetError:
        pass
    finally:
        s.close()
    return answered


# ---- the probe against other servers ---------------------------------------------------------

def test_kaprobe_nginx_findings_match_its_keepalive_settings(nginx):
    r = probe_json(nginx.url("/index.html"))
    assert abs(r["idle_timeout_s"] - 3) <= 0.25, r
    assert (r["max_requests"], r["max_requests_signalled"]) == (7, True), r
    assert r["keep_alive_header"] == "timeout=3", r
    assert (r["advertised_timeout_s"], r["advertised_max"]) == (3, None), r
    assert (r["closer"], r["close_kind"]) == ("server", "fin"), r
    assert r["persistent_http11"] and r["http10_keepalive"] and r["pipelining"], r
    assert r["http10_default_close"] and r["connection_close_honored"], r
    assert r["server"].startswith("nginx/"), r
    # Checks run concurrently: the probe lasts about as long as its longest wait, the
    # idle timeout, and then close_race waits it once more.
    assert r["elapsed"] < 2 * 3 + 1.5, r


def test_kaprobe_lighttpd_findings_match_what_lighttpd_does(lighttpd):
    r = probe_json(lighttpd.url("/index.html"))
    # lighttpd checks idle connections once a second against whole-second timestamps:
    # its close comes more than 2 s and at most about 3 s after the last response.
    assert 2 - 0.05 <= r["idle_timeout_s"] <= 3.25, r
    # max-keep-alive-requests = 5: lighttpd 1.4.69 answers one request more than that
    # (6), the last with Connection: close; kaprobe must agree with a raw-socket count.
    assert r["max_requests"] == count_requests_until_close(lighttpd.port), r
    assert r["max_requests"] in (5, 6) and r["max_requests_signalled"] is True, r
    assert r["keep_alive_header"] is None and r["advertised_timeout_s"] is None, r
    assert (r["closer"], r["close_kind"]) == ("server", "fin"), r
    assert r["persistent_http11"] and r["http10_keepalive"] and r["pipelining"], r
    assert r["http10_default_close"] and r["connection_close_honored"], r
    assert r["server"].startswith("lighttpd/"), r


def test_kaprobe_python_http_server_is_not_persistent(python_http_server):
    r = probe_json(python_http_server)
    assert r["persistent_http11"] is False and r["http10_keepalive"] is False, r
    assert r["http10_default_close"] is True and r["connection_close_honored"] is True, r
    assert r["pipelining"] is False, r
    assert (r["max_requests"], r["max_requests_signalled"]) == (1, False), r
    assert r["keep_alive_header"] is None, r
    # It closes right after every response, which the idle check sees as 0 s.
    assert r["idle_timeout_s"] < 0.05 and (r["closer"], r["close_kind"]) == ("server", "fin"), r
    assert r["server"].startswith("SimpleHTTP/"), r


# ---- the probe against kahttpd ---------------------------------------------------------------

@pytest.mark.parametrize("timeout,grace,requests", [
    (2, None, 5),        # grace defaults to 1 s
    (2.5, 0.7, 0),       # unlimited requests: no max=, more than --max-requests
    (1.5, 0, 3),
])
def test_kaprobe_kahttpd_findings_match_its_options(server, timeout, grace, requests):
    args = ["--keepalive-timeout", timeout, "--keepalive-requests", requests]
    if grace is not None:
        args += ["--keepalive-grace", grace]
    srv = server(*args)
    r = probe_json(srv.url("/a.txt"), "--max-requests", 50)
    advertised = max(0, int(timeout - (1 if grace is None else grace)))
    assert r["advertised_timeout_s"] == advertised, r
    if requests:
        # kahttpd counts max= down: the requests this connection takes after this one.
        assert r["keep_alive_header"] == f"timeout={advertised}, max={requests - 1}", r
        assert r["advertised_max"] == requests - 1, r
        assert (r["max_requests"], r["max_requests_signalled"]) == (requests, True), r
    else:
        assert r["keep_alive_header"] == f"timeout={advertised}", r
        assert r["advertised_max"] is None, r
        assert (r["max_requests"], r["max_requests_signalled"]) == (None, False), r
    assert timeout - 0.05 <= r["idle_timeout_s"] <= timeout + 0.25, r
    assert (r["closer"], r["close_kind"], r["server"]) == ("server", "fin", "kahttpd"), r
    assert r["persistent_http11"] and r["http10_keepalive"] and r["pipelining"], r
    assert r["http10_default_close"] and r["connection_close_honored"], r
    assert r["elapsed"] < 2 * timeout + 1.5, r


def test_kaprobe_kahttpd_without_persistence(server):
    srv = server("--keepalive-timeout", 0)
    r = probe_json(srv.url("/a.txt"))
    assert r["persistent_http11"] is False and r["http10_keepalive"] is False, r
    assert r["pipelining"] is False, r
    assert r["http10_default_close"] is True and r["connection_close_honored"] is True, r
    assert (r["keep_alive_header"], r["advertised_timeout_s"], r["advertised_max"]) == (None,) * 3, r
    assert (r["max_requests"], r["max_requests_signalled"]) == (1, True), r
    assert r["idle_timeout_s"] < 0.05, r
    assert (r["closer"], r["close_kind"], r["server"]) == ("server", "fin", "kahttpd"), r


def test_kaprobe_reads_chunked_and_close_delimited_streams(server):
    # A stream of unknown length: chunked for HTTP/1.1, so the connection persists;
    # ended by the close for HTTP/1.0, even when the request asks for keep-alive.
    srv = server("--demo", "--keepalive-timeout", 1, "--keepalive-requests", 3)
    url = srv.url("/_demo/stream?chunks=3&interval_ms=1&size=10")
    r = probe_json(url)
    assert r["persistent_http11"] and r["pipelining"] and r["connection_close_honored"], r
    assert (r["max_requests"], r["max_requests_signalled"]) == (3, True), r
    assert r["http10_keepalive"] is False and r["http10_default_close"] is True, r
    assert 1 - 0.05 <= r["idle_timeout_s"] <= 1.25, r
    p = run_kaprobe("--only", "persistent_http11,http10_keepalive", url)
    out = p.stdout.decode()
    assert p.returncode == 0 and "30 body bytes chunked" in out, out
    assert "30 body bytes ended by the close" in out, out


def test_kaprobe_http_urls_give_the_tls_keys_as_null(server):
    srv = server("--keepalive-timeout", 1)
    r = probe_json(srv.url("/a.txt"), "--only", "keep_alive_header")
    assert r["keep_alive_header"].startswith("timeout=0"), r
    assert {key: r[key] for key in TLS_KEYS} == dict.fromkeys(TLS_KEYS), r
    p = run_kaprobe(srv.url("/a.txt"))  # the table has no TLS line and no TLS row
    out = p.stdout.decode()
    assert p.returncode == 0 and "tls" not in out.lower(), out


def test_kaprobe_only_also_takes_the_json_keys_of_a_check(server):
    srv = server("--keepalive-timeout", 1)
    r = probe_json(srv.url("/a.txt"), "--only", "connection_close_honored,idle_timeout_s")
    assert r["connection_close_honored"] is True and 1 - 0.05 <= r["idle_timeout_s"] <= 1.25, r
    assert r["persistent_http11"] is None and r["max_requests"] is None, r


def test_kaprobe_max_requests_null_just_above_the_limit_it_may_count(server):
    # A server that answers 5 and says so on the 5th: with --max-requests 4 that is
    # "more than 4" (null), even though the probe saw the exact figure; with 5 it is 5.
    srv = server("--keepalive-requests", 5)
    for n, expected in ((4, (None, False)), (5, (5, True)), (6, (5, True))):
        r = probe_json(srv.url("/a.txt"), "--only", "max_requests", "--max-requests", n)
        assert (r["max_requests"], r["max_requests_signalled"]) == expected, (n, r)


def test_kaprobe_idle_connection_still_open_at_max_wait_is_closed_by_the_client(server):
    srv = server("--keepalive-timeout", 30)
    r = probe_json(srv.url("/a.txt"), "--only", "idle_timeout", "--max-wait", "0.5")
    assert (r["idle_timeout_s"], r["closer"], r["close_kind"]) == (None, "client", None), r
    assert r["elapsed"] < 3, r


def test_kaprobe_only_runs_the_named_checks_and_nulls_the_rest(server):
    srv = server("--keepalive-timeout", 1, "--keepalive-requests", 4)
    r = probe_json(srv.url("/a.txt"), "--only", "keep_alive_header,max_requests")
    assert (r["keep_alive_header"], r["max_requests"], r["max_requests_signalled"]) == \
        ("timeout=0, max=3", 4, True), r
    for key in ("persistent_http11", "http10_keepalive", "http10_default_close",
                "connection_close_honored", "idle_timeout_s", "pipelining", "closer",
                "close_kind"):
        assert r[key] is None, (key, r)
    assert r["server"] == "kahttpd", r


def test_kaprobe_table_names_every_check_with_evidence(server):
    srv = server("--keepalive-timeout", 1)
    p = run_kaprobe(srv.url("/a.txt"))
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode()
    assert "evidence" in out and "server: kahttpd" in out, out
    for check in CHECKS:
        line = next((ln for ln in out.splitlines() if ln.startswith(check + " ")), None)
        assert line is not None, (check, out)
    assert "Keep-Alive: \"timeout=0, max=999\"" in out, out


# ---- the benchmark -------------------------------------------------------------------------------

def _time_wait_overflows():
    """TcpExt TCPTimeWaitOverflow: TIME_WAIT sockets the kernel did not create because
    its table (net.ipv4.tcp_max_tw_buckets, shared by the whole host) was full."""
    with open("/proc/net/netstat") as f:
        lines = f.read().splitlines()
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:"):
            return int(dict(zip(names.split(), values.split()))["TCPTimeWaitOverflow"])
    return 0


def test_kaprobe_bench_keepalive_uses_c_connections_and_beats_new_connections(server):
    n, c = 3000, 4
    srv = server("--keepalive-requests", 0)  # one connection per slot for the whole run
    overflows = _time_wait_overflows()
    p = run_kaprobe("bench", "--json", "--requests", n, "--concurrency", c, srv.url("/a.txt"))
    lost = _time_wait_overflows() - overflows
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert set(out) == {"keepalive", "new_connection", "speedup"}, out
    ka, nc = out["keepalive"], out["new_connection"]
    for run in (ka, nc):
        assert set(run) == {"requests", "requests_per_s", "latency_ms", "connections_opened",
                            "time_wait", "errors"}, run
        assert set(run["latency_ms"]) == {"p50", "p90", "p99"}, run
        assert (run["requests"], run["errors"]) == (n, 0), run
        assert 0 < run["latency_ms"]["p50"] <= run["latency_ms"]["p90"] <= run["latency_ms"]["p99"], run
    assert ka["connections_opened"] == c, ka
    assert nc["connections_opened"] == n, nc
    # The kernel's count: kaprobe closes its c idle connections first (c on its side);
    # with a new connection per request the server closes first, n times, on this
    # host. Fewer when the kernel's TIME_WAIT table is full (other tests on this host:
    # `lost`), and when its randomised port choice gives one local port to two of the
    # n connections: the second SYN replaces the first one's TIME_WAIT (a few % at most
    # for 3000 connects in the default 28232-port range).
    assert c - lost <= ka["time_wait"] <= c, (ka, lost)
    assert 0.9 * n - lost <= nc["time_wait"] <= n, (nc, lost)
    assert ka["requests_per_s"] > nc["requests_per_s"], out
    assert out["speedup"] > 1, out


# ---- usage and failures -------------------------------------------------------------------------

@pytest.mark.parametrize("args,named", [
    ([], "URL"),
    (["--bogus", "http://127.0.0.1:1/"], "--bogus"),
    (["--max-wait", "soon", "http://127.0.0.1:1/"], "--max-wait"),
    (["--max-wait", "0", "http://127.0.0.1:1/"], "--max-wait"),
    (["--max-requests", "-3", "http://127.0.0.1:1/"], "--max-requests"),
    (["--timeout", "http://127.0.0.1:1/"], "--timeout"),
    (["--only", "idle_timeout,nope", "http://127.0.0.1:1/"], "nope"),
    (["--only", "", "http://127.0.0.1:1/"], "--only"),
    (["--max-wait"], "--max-wait"),
    (["ftp://127.0.0.1:1/"], "https://"),
    (["--cacert", "/nonexistent/ca.pem", "https://127.0.0.1:1/"], "--cacert"),
    (["bench", "--cacert", "/dev/null", "https://127.0.0.1:1/"], "--cacert"),
    (["--only", "tls_resumption", "http://127.0.0.1:1/"], "https://"),
    (["http://127.0.0.1:99999/"], "port"),
    (["http://127.0.0.1:1/", "http://127.0.0.1:2/"], "URL"),
    (["bench", "--requests", "0", "http://127.0.0.1:1/"], "--requests"),
    (["bench", "--concurrency", "x", "http://127.0.0.1:1/"], "--concurrency"),
    (["bench", "--only", "pipelining", "http://127.0.0.1:1/"], "--only"),
    (["bench", "--time-limit", "0", "http://127.0.0.1:1/"], "--time-limit"),
    (["bench", "--requests"], "--requests"),
    (["--json=yes", "http://127.0.0.1:1/"], "--json"),
    (["-x", "http://127.0.0.1:1/"], "-x"),
    (["bench"], "URL"),
])
def test_kaprobe_bad_usage_exits_2_naming_the_problem(args, named):
    p = run_kaprobe(*args)
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert named in p.stderr.decode(), p.stderr
    assert p.stdout == b"", p.stdout


@pytest.mark.parametrize("mode", [[], ["bench", "--requests", "20"]])
def test_kaprobe_unreachable_server_exits_1(mode):
    with socket.socket() as s:  # bound, never listening: connects are refused
        s.bind(("127.0.0.1", 0))
        p = run_kaprobe(*mode, f"http://127.0.0.1:{s.getsockname()[1]}/", timeout=20)
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert b"refused" in p.stderr, p.stderr
    assert p.elapsed < 5, p.elapsed


@pytest.mark.parametrize("mode", [[], ["bench", "--requests", "20"]])
def test_kaprobe_server_that_is_not_http_exits_1(hello_server, mode):
    p = run_kaprobe(*mode, hello_server, timeout=20)
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert b"not answer with HTTP" in p.stderr, p.stderr
    assert p.elapsed < 5, p.elapsed


# ---- the options, in --help and in docs/kaprobe.md ---------------------------------------------

@pytest.mark.parametrize("section,heading", [
    ("probe options", "### `kaprobe [options] URL`"),
    ("bench options", "### `kaprobe bench [options] URL`"),
    ("chain options", "### `kaprobe chain [options] FRONT_URL BACKEND_URL`"),
    ("compare options", "### `kaprobe compare [options] URL URL...`"),
])
def test_kaprobe_options_doc_tables_match_help(section, heading):
    """--help is generated from main.c's option table; docs/kaprobe.md must say the same:
    the same options, placeholders and defaults for each command."""
    if not os.access(KAPROBE, os.X_OK):
        pytest.fail(f"no kaprobe binary at {KAPROBE} (run make, or set KAPROBE=/path)")
    sections = help_sections(run_help(KAPROBE))
    found = [opts for title, opts in sections.items() if title.startswith(section)]
    assert len(found) == 1, f"no single {section!r} section in --help: {list(sections)}"
    doc = markdown_table(REPO / "docs" / "kaprobe.md", heading, "| option | default | meaning |")
    problems = diff("docs/kaprobe.md", doc, "kaprobe --help", found[0])
    assert not problems, (f"docs/kaprobe.md ({heading}) and kaprobe --help ({section}) "
                          "differ:\n  " + "\n  ".join(problems))
