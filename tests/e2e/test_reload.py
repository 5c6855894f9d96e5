"""
Issue 16: SIGHUP reloads --config (the command line still wins). New values apply to
connections accepted afterwards and to the next request of existing ones (keep-alive,
limits, timeouts, the access log, TLS certificates); listeners added are opened,
removed ones closed and drained; a configuration that fails to load changes nothing,
and its error, with the file name and line number, goes to stderr and to /status as
config_reload {"ok": false, "error": ...} (ok true again after a good one).

A reload is known to be done from the server's stderr ("reload: configuration loaded"
or "nothing changed"), never from a sleep.
"""
import signal
import socket
import ssl

from conftest import GET, STANDARD_FILES, assert_last, assert_persistent, make_cert
from pressure import admin_addr, connect_refused, status
from waiting import wait_for

A = STANDARD_FILES["a.txt"]
LOADED = "kahttpd: reload: configuration loaded"
FAILED = "kahttpd: reload: the configuration did not load; nothing changed"


def reload(srv, conf=None, text=None, expect=LOADED):
    """Writes text to conf (if given), sends SIGHUP, waits for the outcome line."""
    before = srv.stderr_text().count(expect)
    if conf is not None:
        conf.write_text(text)
    srv.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: srv.stderr_text().count(expect), lambda n: n > before, 10,
             f"{expect!r} on stderr")


def advertised(resp):
    return resp.get("Keep-Alive")


def test_reload_applies_to_the_next_request_and_new_connections(server, tmp_path):
    conf = tmp_path / "k.conf"
    conf.write_text("keepalive-timeout = 5\nkeepalive-requests = 100\n")
    srv = server("--config", conf)
    c = srv.connect()
    c.send(GET("/a.txt"))
    r = c.read_response()
    assert advertised(r) == "timeout=4, max=99"
    reload(srv, conf, "keepalive-timeout = 20\nkeepalive-requests = 3\n")
    c.send(GET("/a.txt"))
    r = c.read_response()
    assert advertised(r) == "timeout=19, max=1"
    c.send(GET("/a.txt"))
    assert_last(c.read_response())
    fresh = srv.exchange(GET("/a.txt"))
    assert advertised(fresh) == "timeout=19, max=2"


def test_reload_command_line_still_wins(server, tmp_path):
    conf = tmp_path / "k.conf"
    conf.write_text("keepalive-timeout = 5\n")
    srv = server("--config", conf, "--keepalive-timeout", "8")
    reload(srv, conf, "keepalive-timeout = 30\nmax-header-size = 1024\n")
    r = srv.exchange(GET("/a.txt"))
    assert advertised(r).startswith("timeout=7,")
    big = srv.exchange(GET("/a.txt", headers=[("X-Big", "x" * 2000)]))
    assert big.status == 431


def test_reload_failure_changes_nothing_and_reports_file_and_line(server, tmp_path):
    """A bad value on line 3: stderr and /status name the file and line; the old values
    still apply; a good configuration afterwards sets ok back to true."""
    conf = tmp_path / "k.conf"
    conf.write_text("keepalive-timeout = 5\n")
    srv = server("--config", conf, "--admin", "127.0.0.1:0")
    addr = admin_addr(srv)
    assert status(addr)["config_reload"]["ok"] is True
    reload(srv, conf, "keepalive-timeout = 20\n# a comment\nio-timeout = soon\n", expect=FAILED)
    assert f"{conf}:3: io-timeout" in srv.stderr_text()
    st = status(addr)["config_reload"]
    assert st["ok"] is False
    assert st["error"].startswith(f"{conf}:3: io-timeout"), st
    assert advertised(srv.exchange(GET("/a.txt"))).startswith("timeout=4,")
    reload(srv, conf, "keepalive-timeout = 10\n")
    st = status(addr)["config_reload"]
    assert st["ok"] is True and st["error"] is None, st
    assert advertised(srv.exchange(GET("/a.txt"))).startswith("timeout=9,")


def test_reload_unreadable_file_or_unknown_option_changes_nothing(server, tmp_path):
    conf = tmp_path / "k.conf"
    conf.write_text("keepalive-timeout = 5\n")
    srv = server("--config", conf)
    reload(srv, conf, "keepalive-timeout = 9\nno-such-option = 1\n", expect=FAILED)
    assert f"{conf}:2: unknown option 'no-such-option'" in srv.stderr_text()
    conf.unlink()
    reload(srv, expect=FAILED)
    assert advertised(srv.exchange(GET("/a.txt"))).startswith("timeout=4,")


def test_reload_adds_and_removes_listeners(server, tmp_path):
    """A listener added is opened (its listening line is printed), one removed is closed:
    new clients are refused there, and its open keep-alive connection has its next
    request answered with Connection: close."""
    conf = tmp_path / "k.conf"
    conf.write_text("listen = 127.0.0.1:0\n")
    srv = server("--config", conf, listen=False, listeners=1)
    first = srv.addr
    kept = srv.connect()
    kept.send(GET("/a.txt"))
    assert_persistent(kept.read_response())
    reload(srv, conf, "listen = 127.0.0.1:0\nlisten = 127.0.0.2:0\n")
    srv.wait_ready(2)
    second = srv.addrs[1]
    assert second[0] == "127.0.0.2"
    assert srv.exchange(GET("/a.txt"), index=1).body == A
    reload(srv, conf, "listen = 127.0.0.2:0\n")
    kept.send(GET("/a.txt"))
    r = kept.read_response()
    assert r.body == A
    assert_last(r)
    assert connect_refused(first)
    assert srv.exchange(GET("/a.txt"), index=1).body == A


def test_reload_reopens_the_access_log(server, tmp_path):
    """Log rotation: the file renamed, SIGHUP, and new lines go to a new file at the
    configured path; an access log turned on by a reload starts logging."""
    log = tmp_path / "access.log"
    conf = tmp_path / "k.conf"
    conf.write_text("")
    srv = server("--config", conf)
    srv.exchange(GET("/b.txt"))
    reload(srv, conf, f"access-log = {log}\n")
    srv.exchange(GET("/a.txt"))
    wait_for(lambda: log.read_text() if log.exists() else "", lambda t: "GET /a.txt" in t, 5,
             "the line of /a.txt")
    log.rename(tmp_path / "access.log.1")
    reload(srv)
    srv.exchange(GET("/c.txt"))
    wait_for(lambda: log.read_text() if log.exists() else "", lambda t: "GET /c.txt" in t, 5,
             "the line of /c.txt in the new file")
    assert "GET /b.txt" not in (tmp_path / "access.log.1").read_text()


def test_reload_new_certificate_for_new_handshakes(server, tmp_path):
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    cert1, key1 = make_cert(tmp_path / "one", "localhost")
    cert2, key2 = make_cert(tmp_path / "two", "localhost")
    conf = tmp_path / "k.conf"
    conf.write_text(f"tls-cert = {cert1}\ntls-key = {key1}\n")
    srv = server("--config", conf, "--tls-listen", "127.0.0.1:0")
    tls_addr = srv.addrs[1]
    ctx1 = ssl.create_default_context(cafile=str(cert1))
    with socket.create_connection(tls_addr, timeout=5) as raw:
        with ctx1.wrap_socket(raw, server_hostname="localhost"):
            pass
    reload(srv, conf, f"tls-cert = {cert2}\ntls-key = {key2}\n")
    ctx2 = ssl.create_default_context(cafile=str(cert2))
    with socket.create_connection(tls_addr, timeout=5) as raw:
        with ctx2.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(GET("/a.txt", headers=[("Connection", "close")]))
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    assert data.startswith(b"HTTP/1.1 200 ") and data.endswith(A)
    reload(srv, conf, f"tls-cert = {tmp_path / 'missing.crt'}\ntls-key = {key2}\n",
           expect=FAILED)
    with socket.create_connection(tls_addr, timeout=5) as raw:
        with ctx2.wrap_socket(raw, server_hostname="localhost"):
            pass


def test_reload_shorter_idle_timeout_spares_waiting_connections(server, tmp_path):
    """keepalive-timeout 30 -> 1: a connection idle since before the reload keeps the
    deadline its Keep-Alive header announced (it is not closed after 1 s); a connection
    that goes idle afterwards is closed after about 1 s."""
    conf = tmp_path / "k.conf"
    conf.write_text("keepalive-timeout = 30\n")
    srv = server("--config", conf)
    old = srv.connect()
    old.send(GET("/a.txt"))
    assert advertised(old.read_response()).startswith("timeout=29,")
    reload(srv, conf, "keepalive-timeout = 1\nkeepalive-grace = 0\n")
    new = srv.connect()
    new.send(GET("/a.txt"))
    assert advertised(new.read_response()).startswith("timeout=1,")
    assert new.read_until_close(5) == (b"", "fin")
    old.expect_quiet(0.5)
    old.send(GET("/a.txt"))
    r = old.read_response()
    assert r.body == A and advertised(r).startswith("timeout=1,")


def test_reload_changes_proxy_backends_for_the_next_request(server, tmp_path):
    """--proxy reloads: the next request, on a connection already open, goes to the new
    backend; a backend named again keeps its pool (and its figures); a prefix removed
    is gone (404 from the document root)."""
    roots = {}
    backends = {}
    for name in ("one", "two"):
        roots[name] = tmp_path / name
        (roots[name] / "api").mkdir(parents=True)
        (roots[name] / "api" / "who.txt").write_text(name + "\n")
        backends[name] = server("--root", roots[name], root=False)
    url = {n: f"http://127.0.0.1:{b.addr[1]}" for n, b in backends.items()}
    conf = tmp_path / "k.conf"
    conf.write_text(f"proxy = /api/ = {url['one']}\n")
    srv = server("--config", conf, "--admin", "127.0.0.1:0")
    c = srv.connect()

    def who(path="/api/who.txt"):
        c.send(GET(path))
        r = c.read_response()
        assert_persistent(r)
        return r.status, r.body

    assert who() == (200, b"one\n")
    reload(srv, conf, f"proxy = /api/ = {url['two']}\n")
    assert who() == (200, b"two\n")
    reload(srv, conf, f"proxy = /api/ = {url['one']}, {url['two']}\n")
    assert sorted([who()[1], who()[1]]) == [b"one\n", b"two\n"]
    ups = {u["backend"]: u for u in status(admin_addr(srv))["upstreams"]}
    one, two = (url[n][len("http://"):] for n in ("one", "two"))
    assert set(ups) == {one, two}, ups
    assert ups[one]["connects"] + ups[one]["reuses"] == 2, ups
    assert ups[two]["connects"] + ups[two]["reuses"] == 2, ups
    reload(srv, conf, "proxy = /other/ = " + url["one"] + "\n")
    assert who()[0] == 404
    assert who("/other/api/who.txt")[0] == 404  # /other/api/who.txt: not on backend one
