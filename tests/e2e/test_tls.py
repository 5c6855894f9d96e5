"""HTTPS: kahttpd's --tls-listen, with real TLS clients (Python's ssl, curl, openssl
s_client). Keep-alive works over TLS as it does in clear; the handshake has its own
timeout and its failures are counted; plain HTTP on the port is told to use HTTPS;
sessions resume from tickets; an idle connection the server closes gets close_notify
before the FIN. The test certificates are made here with the openssl command."""
import http.client
import os
import re
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import time

import pytest

from conftest import GET, make_cert, run_kahttpd
from obs.admin import Admin, admin_addr

TLS_READ_TIMEOUT = 5.0


@pytest.fixture
def cert(tmp_path):
    return make_cert(tmp_path)


def start_tls(server, cert, *args, admin=True):
    """kahttpd with a plain and an HTTPS listener (and --admin): (server, https addr,
    Admin or None)."""
    extra = ["--admin", "127.0.0.1:0"] if admin else []
    srv = server("--tls-listen", "127.0.0.1:0", "--tls-cert", cert[0], "--tls-key", cert[1],
                 *extra, *args)
    https = srv.addrs[srv.schemes.index("https")]
    return srv, https, Admin(admin_addr(srv)) if admin else None


def client_ctx(cert, alpn=None):
    ctx = ssl.create_default_context(cafile=str(cert[0]))
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def tls_connect(addr, ctx, hostname="localhost", session=None, ragged=True):
    raw = socket.create_connection(addr, timeout=TLS_READ_TIMEOUT)
    return ctx.wrap_socket(raw, server_hostname=hostname, session=session,
                           suppress_ragged_eofs=ragged)


def read_response(s):
    """One response with a Content-Length from a socket: (status line, headers dict,
    body). Enough for the static files served here; for one response at a time (what
    comes after it in the same read is dropped)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        assert chunk, f"closed before a response head: {buf!r}"
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    n = int(headers.get("content-length", "0"))
    while len(rest) < n:
        chunk = s.recv(65536)
        assert chunk, "closed in the middle of a body"
        rest += chunk
    return lines[0], headers, rest[:n]


def tls_status(admin):
    return admin.status()["tls"]


def test_tls_keepalive_one_connection_many_requests(server, cert, www):
    srv, https, admin = start_tls(server, cert)
    conn = http.client.HTTPSConnection(*https, context=client_ctx(cert), timeout=5)
    conn.host = "localhost"
    for path in ["/a.txt", "/b.txt", "/a.txt", "/b.txt", "/a.txt"]:
        conn.request("GET", path, headers={"Host": "localhost"})
        r = conn.getresponse()
        body = r.read()
        assert r.status == 200 and body, (r.status, body)
        assert r.getheader("Connection") == "keep-alive"
        assert re.fullmatch(r"timeout=\d+, max=\d+", r.getheader("Keep-Alive") or ""), \
            r.getheader("Keep-Alive")
    conn.close()
    st = admin.wait_status(lambda s: s["requests"] == 5, "five requests counted")
    assert st["accepted"] == 1, st
    assert st["tls"]["handshakes"] == {"full": 1, "resumed": 0}, st["tls"]
    assert st["tls"]["versions"]["1.3"] == 1, st["tls"]


def test_tls_alpn_selects_http11_and_refuses_h2_only(server, cert):
    srv, https, admin = start_tls(server, cert)
    s = tls_connect(https, client_ctx(cert, ["h2", "http/1.1"]))
    assert s.selected_alpn_protocol() == "http/1.1"
    s.sendall(GET("/a.txt"))
    assert read_response(s)[0] == "HTTP/1.1 200 OK"
    s.close()
    with pytest.raises(ssl.SSLError, match="(?i)no.application.protocol"):
        tls_connect(https, client_ctx(cert, ["h2"])).close()
    # No ALPN at all is fine.
    s = tls_connect(https, client_ctx(cert))
    assert s.selected_alpn_protocol() is None
    s.close()
    admin.wait_status(lambda st: st["tls"]["failed"]["alpn"] == 1, "the ALPN failure counted")


def test_plain_http_on_the_tls_port_gets_400_saying_https(server, cert):
    srv, https, admin = start_tls(server, cert)
    s = socket.create_connection(https, timeout=5)
    s.sendall(b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, body = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 400 "), data
    assert b"\r\nConnection: close" in head
    assert b"HTTPS" in body, body
    # Counted once the lingering close ends (after our close).
    admin.wait_status(lambda st: st["tls"]["failed"]["http"] == 1 and
                      st["closed"]["tls_handshake"] == 1, "the plain request counted")


def closed_within(s, seconds):
    """Whether the server closed s (FIN or reset) within seconds."""
    s.settimeout(seconds)
    try:
        while s.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test_random_bytes_and_cut_client_hello_are_closed_and_counted(server, cert):
    srv, https, admin = start_tls(server, cert)
    junk = socket.create_connection(https, timeout=5)
    junk.sendall(bytes(range(256)) * 4)
    assert closed_within(junk, 5), "random bytes did not close the connection"
    junk.close()
    # A ClientHello cut in the middle, then the client goes away.
    hello = client_hello_bytes(https, cert)
    cut = socket.create_connection(https, timeout=5)
    cut.sendall(hello[:len(hello) // 2])
    cut.close()
    st = admin.wait_status(lambda st: sum(st["tls"]["failed"].values()) >= 2, "both counted")
    assert st["tls"]["failed"]["protocol"] + st["tls"]["failed"]["version"] >= 1, st["tls"]
    assert st["tls"]["failed"]["eof"] + st["tls"]["failed"]["error"] >= 1, st["tls"]
    # The server is none the worse.
    s = tls_connect(https, client_ctx(cert))
    s.sendall(GET("/a.txt"))
    assert read_response(s)[0] == "HTTP/1.1 200 OK"
    s.close()


def client_hello_bytes(addr, cert):
    """The bytes of a real ClientHello, captured from Python's ssl without a server."""
    ctx = client_ctx(cert)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read()


def test_stalled_handshake_is_cut_at_the_handshake_timeout(server, cert):
    srv, https, admin = start_tls(server, cert, "--tls-handshake-timeout", "0.5",
                                  "--header-timeout", "30")
    t0 = time.monotonic()
    silent = socket.create_connection(https, timeout=5)
    half = socket.create_connection(https, timeout=5)
    half.sendall(client_hello_bytes(https, cert)[:20])
    assert closed_within(silent, 5) and closed_within(half, 5)
    took = time.monotonic() - t0
    assert 0.4 <= took < 4, f"cut after {took:.2f}s, not at --tls-handshake-timeout 0.5"
    st = admin.wait_status(lambda st: st["tls"]["failed"]["timeout"] == 2, "both timeouts")
    assert st["closed"]["tls_handshake"] == 2, st["closed"]


def test_idle_close_sends_close_notify_before_fin(server, cert):
    srv, https, admin = start_tls(server, cert, "--keepalive-timeout", "1",
                                  "--keepalive-grace", "0")
    # suppress_ragged_eofs=False: a FIN without close_notify would raise SSLEOFError.
    s = tls_connect(https, client_ctx(cert), ragged=False)
    s.sendall(GET("/a.txt"))
    status, headers, _ = read_response(s)
    assert headers["connection"] == "keep-alive"
    s.settimeout(5)
    assert s.recv(100) == b"", "expected a clean close (close_notify) after the idle timeout"
    s.close()
    st = admin.wait_status(lambda st: st["closed"]["keepalive_timeout"] == 1, "idle close")


def test_session_resumes_from_a_ticket(server, cert):
    srv, https, admin = start_tls(server, cert)
    ctx = client_ctx(cert)
    s = tls_connect(https, ctx)
    s.sendall(GET("/a.txt"))
    read_response(s)  # TLS 1.3 tickets come after the handshake: read them too
    session = s.session
    assert session is not None and session.has_ticket, "no session ticket issued"
    lifetime = session.ticket_lifetime_hint
    s.close()
    s2 = tls_connect(https, ctx, session=session)
    assert s2.session_reused, "the ticket did not resume the session"
    s2.sendall(GET("/a.txt"))
    read_response(s2)
    s2.close()
    assert 0 < lifetime <= 300, lifetime
    st = admin.wait_status(lambda st: st["tls"]["handshakes"]["resumed"] == 1, "resumed")
    assert st["tls"]["handshakes"]["full"] == 1, st["tls"]


def test_sni_picks_the_certificate_by_name(server, tmp_path, cert):
    other = make_cert(tmp_path, "other.test", ["DNS:other.test"])
    srv, https, admin = start_tls(server, cert, "--tls-cert", other[0], "--tls-key", other[1])
    s = tls_connect(https, client_ctx(other), hostname="other.test")
    assert dict(x[0] for x in s.getpeercert()["subject"])["commonName"] == "other.test"
    s.close()
    s = tls_connect(https, client_ctx(cert), hostname="localhost")
    assert dict(x[0] for x in s.getpeercert()["subject"])["commonName"] == "localhost"
    s.close()


def test_access_log_says_tls_version_and_resumption(server, cert, tmp_path):
    log = tmp_path / "access.log"
    srv, https, admin = start_tls(server, cert, "--access-log", log)
    s = tls_connect(https, client_ctx(cert))
    s.sendall(GET("/a.txt"))
    read_response(s)
    s.close()
    srv.stop()
    line = log.read_text().strip().splitlines()[-1]
    assert line.endswith(" tls=1.3 resumed=0"), line


@pytest.mark.parametrize("args, needle", [
    (["--tls-listen", "127.0.0.1:0"], "--tls-listen"),
    (["--tls-listen", "127.0.0.1:0", "--tls-cert", "/nonexistent.crt", "--tls-key",
      "/nonexistent.key"], "/nonexistent.crt"),
    (["--tls-cert", "CERT"], "--tls-key"),
    (["--tls-protocols", "1.1"], "--tls-protocols"),
])
def test_bad_tls_options_exit_2_naming_them(args, needle, cert):
    args = [str(cert[0]) if a == "CERT" else a for a in args]
    r = run_kahttpd("--listen", "127.0.0.1:0", *args)
    assert r.returncode == 2, r
    assert needle in r.stderr.decode(), r.stderr


def test_mismatched_key_or_not_a_certificate_exit_2(tmp_path, cert):
    other = make_cert(tmp_path, "other", ["DNS:other"])
    r = run_kahttpd("--listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0", "--tls-cert",
                    cert[0], "--tls-key", other[1])
    assert r.returncode == 2 and "does not match" in r.stderr.decode(), r.stderr
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    r = run_kahttpd("--listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0", "--tls-cert",
                    junk, "--tls-key", cert[1])
    assert r.returncode == 2 and str(junk) in r.stderr.decode(), r.stderr


@pytest.mark.skipif(not shutil.which("curl"), reason="curl is installed by make test")
def test_curl_reuses_one_tls_connection(server, cert):
    srv, https, admin = start_tls(server, cert)
    base = f"https://localhost:{https[1]}"
    r = subprocess.run(["curl", "-sv", "--cacert", str(cert[0]), f"{base}/a.txt", f"{base}/b.txt",
                        "-o", "/dev/null", "-o", "/dev/null"],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert b"Re-using existing connection" in r.stderr, r.stderr[-2000:]
    st = admin.wait_status(lambda s: s["requests"] == 2, "two requests")
    assert st["accepted"] == 1, st


def test_openssl_s_client_resumes_and_is_refused_h2_only(server, cert, tmp_path):
    srv, https, admin = start_tls(server, cert)
    sess = tmp_path / "sess.pem"
    connect = ["openssl", "s_client", "-connect", f"127.0.0.1:{https[1]}", "-servername",
               "localhost", "-CAfile", str(cert[0]), "-ign_eof"]
    req = b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    r = subprocess.run(connect + ["-sess_out", str(sess)], input=req, capture_output=True,
                       timeout=30)
    assert b"HTTP/1.1 200 OK" in r.stdout, r.stdout[-2000:]
    r = subprocess.run(connect + ["-sess_in", str(sess)], input=req, capture_output=True,
                       timeout=30)
    assert b"Reused, TLSv1.3" in r.stdout, r.stdout[-3000:]
    r = subprocess.run(connect + ["-alpn", "h2"], input=b"", capture_output=True, timeout=30)
    assert b"no application protocol" in (r.stdout + r.stderr).lower(), r.stderr[-2000:]


def test_stalled_handshakes_do_not_keep_others_out(server, cert):
    """2,000 clients that connect and never finish a handshake; normal TLS clients are
    still served, promptly."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 2500:
        pytest.skip(f"needs 2,500 descriptors, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2500), hard))
    srv, https, admin = start_tls(server, cert, "--tls-handshake-timeout", "30")
    stalled = []
    try:
        for _ in range(2000):
            stalled.append(socket.create_connection(https, timeout=5))
        admin.wait_status(lambda s: s["connections"]["active"] >= 2000, "the 2,000 in",
                          timeout=20)
        ctx = client_ctx(cert)
        for _ in range(20):
            t0 = time.monotonic()
            s = tls_connect(https, ctx)
            s.sendall(GET("/a.txt"))
            assert read_response(s)[0] == "HTTP/1.1 200 OK"
            s.close()
            assert time.monotonic() - t0 < 2, "a normal client waited behind stalled ones"
    finally:
        for s in stalled:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_ticket_is_refused_once_older_than_the_session_timeout(server, cert):
    srv, https, admin = start_tls(server, cert, "--tls-session-timeout", "1")
    ctx = client_ctx(cert)
    s = tls_connect(https, ctx)
    s.sendall(GET("/a.txt"))
    read_response(s)
    session = s.session
    s.close()
    assert 0 < session.ticket_lifetime_hint <= 1, session.ticket_lifetime_hint
    s = tls_connect(https, ctx, session=session)
    assert s.session_reused, "a fresh ticket did not resume"
    s.close()
    time.sleep(2.5)  # the behaviour under test is the ticket's age, not a synchronisation
    s = tls_connect(https, ctx, session=session)
    assert not s.session_reused, "a ticket older than --tls-session-timeout resumed"
    s.close()


def test_pipelined_requests_over_tls_are_answered_in_order(server, cert):
    srv, https, admin = start_tls(server, cert)
    s = tls_connect(https, client_ctx(cert))
    s.sendall(GET("/a.txt") + GET("/b.txt") + GET("/a.txt", headers=[("Connection", "close")]))
    data = b""
    while True:  # the server closes after the third: read to the end
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    bodies = []
    while data:
        head, data = data.split(b"\r\n\r\n", 1)
        n = int(re.search(rb"\r\nContent-Length: (\d+)", head).group(1))
        bodies.append(data[:n])
        data = data[n:]
    assert len(bodies) == 3 and bodies[0] == bodies[2] and bodies[0] != bodies[1], bodies


def test_drain_closes_idle_tls_connections_with_close_notify(server, cert):
    srv, https, admin = start_tls(server, cert, admin=False)
    s = tls_connect(https, client_ctx(cert), ragged=False)
    s.sendall(GET("/a.txt"))
    read_response(s)
    srv.proc.send_signal(signal.SIGTERM)
    s.settimeout(5)
    assert s.recv(100) == b"", "expected close_notify, then the end, at the drain"
    s.close()
    assert srv.proc.wait(10) == 0


def test_ticket_keys_are_shared_by_every_worker(server, cert):
    """A ticket made by one worker resumes on any other: with --workers 4 and
    SO_REUSEPORT spreading the connections, every resumption succeeds."""
    srv, https, admin = start_tls(server, cert, "--workers", "4")
    ctx = client_ctx(cert)
    s = tls_connect(https, ctx)
    s.sendall(GET("/a.txt"))
    read_response(s)
    session = s.session
    s.close()
    for _ in range(16):
        s = tls_connect(https, ctx, session=session)
        assert s.session_reused, "a ticket did not resume on another worker"
        s.close()
    st = admin.wait_status(lambda st: st["tls"]["handshakes"]["resumed"] == 16, "16 resumed")
    assert st["workers"] == 4, st
