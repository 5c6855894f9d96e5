"""
kaprobe over https:// against Debian's nginx: one nginx serves the same files over TLS
and over plain HTTP, with a certificate made here by the openssl command (ECDSA P-256,
subjectAltName DNS:localhost and IP:127.0.0.1) under the test's tmp_path. The checks
must find over TLS what they find over plain HTTP; the TLS keys must say TLSv1.3, ALPN
http/1.1 and resumption by ticket; verification must fail without --cacert (exit 1,
the reason named), pass with it, and pass with --insecure; SNI must reach nginx (its
access log records $ssl_server_name); and the bench must measure its three runs.

nginx listens on free ports the kernel just gave out (nginx cannot listen on port 0),
retried when it cannot bind them (External in test_kaprobe.py); every kaprobe run is
bounded by a subprocess timeout and, where it matters, by its elapsed time.
"""
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading

import pytest

from conftest import make_cert
from test_kaprobe import TLS_KEYS, External, _free_port, probe_json, run_kaprobe

IDLE_S = 2            # keepalive_timeout
REQUESTS = 7          # keepalive_requests
VERDICTS = ["persistent_http11", "http10_keepalive", "http10_default_close",
            "connection_close_honored", "keep_alive_header", "advertised_timeout_s",
            "advertised_max", "max_requests", "max_requests_signalled", "pipelining",
            "closer", "close_kind", "server"]


@pytest.fixture
def cert(tmp_path):
    """(cert.pem, key.pem): self-signed, ECDSA P-256, for localhost and 127.0.0.1."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (tests/deps.sh installs it)")
    return make_cert(tmp_path)


@pytest.fixture
def nginx_tls(tmp_path, cert):
    """nginx with one server on two ports: `port` (TLS, also on 127.0.0.2, whose
    address the certificate does not name) and `plain_port` (HTTP)."""
    if not os.access("/usr/sbin/nginx", os.X_OK):
        pytest.skip("nginx is not installed (tests/deps.sh installs nginx-light)")
    t = tmp_path
    root = t / "www"
    root.mkdir()
    (root / "index.html").write_bytes(b"<p>kaprobe over TLS</p>\n")
    crt, key = cert
    plain = {}

    def config(port):
        plain["port"] = _free_port()
        temps = "".join(f"  {k}_temp_path {t}/{k};\n"
                        for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        return (f"daemon off;\nmaster_process off;\nworker_processes 1;\npid {t}/nginx.pid;\n"
                f"error_log {t}/nginx-error.log notice;\nevents {{ worker_connections 512; }}\n"
                f"http {{\n{temps}"
                f"  log_format sni '$server_port sni=$ssl_server_name';\n"
                f"  access_log {t}/access.log sni;\n"
                f"  keepalive_timeout {IDLE_S}s {IDLE_S};\n  keepalive_requests {REQUESTS};\n"
                f"  ssl_certificate {crt};\n  ssl_certificate_key {key};\n"
                f"  ssl_protocols TLSv1.2 TLSv1.3;\n  ssl_session_tickets on;\n"
                f"  server {{\n    listen 127.0.0.1:{port} ssl;\n    listen 127.0.0.2:{port} ssl;\n"
                f"    listen 127.0.0.1:{plain['port']};\n    root {root};\n  }}\n}}\n")

    srv = External(t, "nginx", lambda conf: ["/usr/sbin/nginx", "-p", str(t), "-e",
                                             str(t / "nginx-error.log"), "-c", str(conf)], config)
    srv.plain_port = plain["port"]
    srv.cacert = crt
    srv.access_log = t / "access.log"
    yield srv
    srv.stop()


def https(srv, host="localhost", path="/index.html"):
    return f"https://{host}:{srv.port}{path}"


# ---- the probe -------------------------------------------------------------------------------

def test_kaprobe_tls_checks_find_what_they_find_over_plain_http(nginx_tls):
    tls = probe_json(https(nginx_tls), "--cacert", nginx_tls.cacert, timeout=30)
    plain = probe_json(f"http://127.0.0.1:{nginx_tls.plain_port}/index.html", timeout=30)
    assert {k: tls[k] for k in VERDICTS} == {k: plain[k] for k in VERDICTS}, (tls, plain)
    assert abs(tls["idle_timeout_s"] - plain["idle_timeout_s"]) <= 0.25, (tls, plain)
    # And what nginx was configured to do.
    assert abs(tls["idle_timeout_s"] - IDLE_S) <= 0.25, tls
    assert (tls["max_requests"], tls["max_requests_signalled"]) == (REQUESTS, True), tls
    assert tls["keep_alive_header"] == f"timeout={IDLE_S}", tls
    assert (tls["closer"], tls["close_kind"]) == ("server", "fin"), tls
    assert tls["persistent_http11"] and tls["http10_keepalive"] and tls["pipelining"], tls
    assert tls["http10_default_close"] and tls["connection_close_honored"], tls
    # The TLS keys, for TLS only.
    assert (tls["tls_version"], tls["alpn"]) == ("TLSv1.3", "http/1.1"), tls
    assert tls["tls_cipher"].startswith("TLS_"), tls
    assert 0 < tls["tls_handshake_ms"] < 1000, tls
    # nginx: TLS 1.3 tickets, lifetime = ssl_session_timeout (default 5 min).
    assert (tls["tls_resumption"], tls["ticket_lifetime_s"]) == ("ticket", 300), tls
    assert {k: plain[k] for k in TLS_KEYS} == dict.fromkeys(TLS_KEYS), plain
    assert tls["elapsed"] < 2 * IDLE_S + 1.5, tls  # close_race waits the idle timeout twice


def test_kaprobe_tls_table_shows_the_tls_line_and_the_resumption_row(nginx_tls):
    p = run_kaprobe("--only", "keep_alive_header,tls_resumption", "--cacert", nginx_tls.cacert,
                    https(nginx_tls), timeout=30)
    out = p.stdout.decode()
    assert p.returncode == 0, p.stderr
    assert "tls: TLSv1.3, TLS_" in out and "ALPN http/1.1" in out, out
    row = next(ln for ln in out.splitlines() if ln.startswith("tls_resumption "))
    assert "ticket (300 s)" in row and "resumed" in row, out


def test_kaprobe_tls_verification_fails_without_cacert(nginx_tls):
    for mode in ([], ["bench", "--requests", "50"]):
        p = run_kaprobe(*mode, https(nginx_tls), timeout=30)
        err = p.stderr.decode()
        assert p.returncode == 1, (mode, p.returncode, p.stdout, err)
        assert "certificate verify failed" in err and "self-signed certificate" in err, err
        assert p.stdout == b"", p.stdout
        assert p.elapsed < 5, (mode, p.elapsed)


def test_kaprobe_tls_verification_passes_with_cacert_and_checks_the_ip(nginx_tls):
    # 127.0.0.1 is in the certificate's subjectAltName; 127.0.0.2 is not.
    r = probe_json(https(nginx_tls, "127.0.0.1"), "--cacert", nginx_tls.cacert, "--only",
                   "keep_alive_header", timeout=30)
    assert r["keep_alive_header"] == f"timeout={IDLE_S}" and r["tls_version"] == "TLSv1.3", r
    p = run_kaprobe("--cacert", nginx_tls.cacert, "--only", "keep_alive_header",
                    https(nginx_tls, "127.0.0.2"), timeout=30)
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert b"certificate verify failed: IP address mismatch" in p.stderr, p.stderr


def test_kaprobe_tls_insecure_skips_verification(nginx_tls):
    for host in ("localhost", "127.0.0.2"):
        r = probe_json(https(nginx_tls, host), "--insecure", "--only",
                       "keep_alive_header,tls_resumption", timeout=30)
        assert r["keep_alive_header"] == f"timeout={IDLE_S}", r
        assert (r["tls_version"], r["tls_resumption"]) == ("TLSv1.3", "ticket"), r


def test_kaprobe_tls_sends_sni_for_names_and_not_for_ip_literals(nginx_tls):
    for host in ("localhost", "127.0.0.1"):
        r = probe_json(https(nginx_tls, host), "--cacert", nginx_tls.cacert, "--only",
                       "keep_alive_header", timeout=30)
        assert r["keep_alive_header"] is not None, r
    lines = nginx_tls.access_log.read_text().splitlines()
    assert lines[0] == f"{nginx_tls.port} sni=localhost", lines
    # RFC 6066 3: a literal IP address is not a HostName; nginx logs the empty name as -.
    assert lines[1] == f"{nginx_tls.port} sni=-", lines
    assert len(lines) == 2, lines


def test_kaprobe_tls_against_a_plain_http_port_fails_the_handshake(nginx_tls):
    p = run_kaprobe("--only", "keep_alive_header", "--insecure",
                    f"https://127.0.0.1:{nginx_tls.plain_port}/", timeout=30)
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert b"TLS with 127.0.0.1:" in p.stderr, p.stderr
    assert p.elapsed < 5, p.elapsed


@pytest.fixture
def tls_server_without_close_notify(cert):
    """A TLS server (Python's ssl) that answers each request with a 2-byte body and,
    after 0.5 s without a request, closes the socket without close_notify."""
    crt, key = cert
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(16)

    def serve(raw):
        try:
            raw.settimeout(5)
            conn = ctx.wrap_socket(raw, server_side=True)
            conn.settimeout(0.5)
            buf = b""
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(4096)  # socket.timeout (an OSError) when idle
                    if not data:
                        return
                    buf += data
                _, _, buf = buf.partition(b"\r\n\r\n")
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        except (OSError, ssl.SSLError):
            pass
        finally:
            raw.close()  # the TCP socket itself: a FIN, no close_notify

    def accept():
        while True:
            try:
                raw, _ = lsock.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(raw,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield f"https://127.0.0.1:{lsock.getsockname()[1]}/"
    lsock.close()


def test_kaprobe_tls_fin_without_close_notify_is_the_servers_close(tls_server_without_close_notify,
                                                                   cert):
    url = tls_server_without_close_notify
    r = probe_json(url, "--cacert", cert[0], "--only", "idle_timeout", timeout=30)
    assert (r["closer"], r["close_kind"]) == ("server", "fin"), r
    assert 0.5 - 0.05 <= r["idle_timeout_s"] <= 0.5 + 0.25, r
    p = run_kaprobe("--cacert", cert[0], "--only", "idle_timeout", url, timeout=30)
    assert p.returncode == 0 and b"server FIN without close_notify" in p.stdout, p.stdout


# ---- the benchmark -------------------------------------------------------------------------------

def test_kaprobe_tls_bench_measures_three_runs(nginx_tls):
    n, c = 300, 4
    p = run_kaprobe("bench", "--json", "--requests", n, "--concurrency", c, "--time-limit", 30,
                    "--cacert", nginx_tls.cacert, https(nginx_tls), timeout=120)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert list(out) == ["keepalive", "new_connection", "new_connection_resumed", "speedup",
                         "speedup_vs_resumed"], out
    ka, nc, res = out["keepalive"], out["new_connection"], out["new_connection_resumed"]
    for run in (ka, nc, res):
        assert set(run) == {"requests", "requests_per_s", "latency_ms", "connections_opened",
                            "time_wait", "tls_resumed", "errors"}, run
        assert (run["requests"], run["errors"]) == (n, 0), run
    # keepalive_requests 7: nginx ends each persistent connection after 7 requests.
    assert c <= ka["connections_opened"] <= n // REQUESTS + c, ka
    assert nc["connections_opened"] == res["connections_opened"] == n, out
    assert nc["tls_resumed"] == 0 and res["tls_resumed"] == n, out
    assert ka["requests_per_s"] > nc["requests_per_s"] and out["speedup"] > 1, out
    assert out["speedup_vs_resumed"] > 0, out


# ---- against kahttpd's own HTTPS listener ------------------------------------------------------

def test_kaprobe_tls_against_kahttpd_finds_its_settings(server, cert):
    srv = server("--tls-listen", "127.0.0.1:0", "--tls-cert", cert[0], "--tls-key", cert[1],
                 "--keepalive-timeout", "2", "--keepalive-grace", "1", "--keepalive-requests", "5",
                 "--tls-session-timeout", "120")
    port = srv.addrs[srv.schemes.index("https")][1]
    tls = probe_json(f"https://localhost:{port}/", "--cacert", cert[0], timeout=60)
    plain = probe_json(f"http://127.0.0.1:{srv.port}/", timeout=60)
    assert {k: tls[k] for k in VERDICTS} == {k: plain[k] for k in VERDICTS}, (tls, plain)
    assert abs(tls["idle_timeout_s"] - 2) <= 0.25, tls
    assert (tls["max_requests"], tls["max_requests_signalled"]) == (5, True), tls
    assert (tls["tls_version"], tls["alpn"]) == ("TLSv1.3", "http/1.1"), tls
    # kahttpd: one TLS 1.3 ticket per full handshake, its lifetime --tls-session-timeout.
    assert (tls["tls_resumption"], tls["ticket_lifetime_s"]) == ("ticket", 120), tls
