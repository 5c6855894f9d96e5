"""
The command line and config file: option names, the ready lines, exit codes for bad
input, --help, signals.
"""
import signal

import pytest

from conftest import (GET, STANDARD_FILES, STOP_TIMEOUT, assert_persistent, run_kahttpd)

A = STANDARD_FILES["a.txt"]
OPTIONS = ["--listen", "--root", "--workers", "--keepalive-timeout", "--keepalive-grace",
           "--keepalive-requests", "--keepalive-time", "--header-timeout", "--io-timeout",
           "--max-header-size", "--max-body-size", "--demo", "--config", "--help"]


def _keepalive(srv):
    c = srv.connect()
    c.send(GET("/a.txt"))
    r = c.read_response()
    assert (r.status, r.body) == (200, A)
    assert_persistent(r)
    return r.get("Keep-Alive")


def test_cli_help_exits_0_and_mentions_every_option():
    p = run_kahttpd("--help")
    assert p.returncode == 0, p
    out = p.stdout.decode(errors="replace")
    missing = [o for o in OPTIONS if o != "--help" and o not in out]
    assert not missing, f"--help does not mention {missing}:\n{out}"


def test_cli_unknown_option_exits_2_naming_it(www):
    p = run_kahttpd("--listen", "127.0.0.1:0", "--root", www.path, "--no-such-option")
    assert p.returncode == 2, p
    assert b"no-such-option" in p.stderr, p.stderr


def test_cli_stray_argument_exits_2(www):
    p = run_kahttpd("--listen", "127.0.0.1:0", "--root", www.path, "stray")
    assert p.returncode == 2, p


@pytest.mark.parametrize("option,value", [
    ("--workers", "abc"),
    ("--workers", "-1"),
    ("--keepalive-timeout", "abc"),
    ("--keepalive-timeout", "-1"),
    ("--keepalive-timeout", "5s"),
    ("--keepalive-grace", "x"),
    ("--keepalive-requests", "many"),
    ("--keepalive-requests", "-5"),
    ("--keepalive-requests", "2.5"),
    ("--keepalive-time", "-3"),
    ("--header-timeout", ""),
    ("--io-timeout", "1.2.3"),
    ("--max-header-size", "abc"),
    ("--max-body-size", "-1"),
    ("--max-body-size", "99999999999999999999999999"),
    ("--listen", "127.0.0.1"),
    ("--listen", "127.0.0.1:99999"),
    ("--listen", "127.0.0.1:port"),
])
def test_cli_bad_value_exits_2_naming_option(www, option, value):
    args = ["--root", www.path, option, value]
    if option != "--listen":
        args = ["--listen", "127.0.0.1:0"] + args
    p = run_kahttpd(*args)
    assert p.returncode == 2, p
    assert option.lstrip("-").encode() in p.stderr, p.stderr


@pytest.mark.parametrize("option", ["--root", "--keepalive-timeout", "--listen"])
def test_cli_missing_value_exits_2(www, option):
    p = run_kahttpd("--listen", "127.0.0.1:0", "--root", www.path, option)
    assert p.returncode == 2, p
    assert option.lstrip("-").encode() in p.stderr, p.stderr


def test_cli_ready_line_per_listener(server):
    srv = server("--listen", "127.0.0.1:0", "--listen", "127.0.0.1:0")
    assert len(srv.addrs) == 2
    assert srv.addrs[0][1] != srv.addrs[1][1]
    assert all(port > 0 for _, port in srv.addrs)
    for i in range(2):
        c = srv.connect(i)
        c.send(GET("/a.txt"))
        assert c.read_response().body == A


def test_cli_several_workers_serve_connections(server):
    srv = server("--workers", "3")
    conns = [srv.connect() for _ in range(6)]
    for c in conns:
        c.send(GET("/a.txt"))
    for c in conns:
        assert c.read_response().body == A
    for c in conns:
        c.send(GET("/a.txt"))
        assert c.read_response().body == A


def test_cli_decimal_durations_accepted(server):
    srv = server("--keepalive-timeout", "2.5", "--keepalive-grace", "0.5", "--keepalive-time", "100.5",
                 "--header-timeout", "3.25", "--io-timeout", "4.75", "--keepalive-requests", "4")
    assert _keepalive(srv) == "timeout=2, max=3"


def test_cli_default_root_is_www_in_working_directory(server, tmp_path):
    cwd = tmp_path / "cwd"
    (cwd / "www").mkdir(parents=True)
    (cwd / "www" / "here.txt").write_bytes(b"default root\n")
    srv = server(root=False, cwd=cwd)
    c = srv.connect()
    c.send(GET("/here.txt"))
    assert c.read_response().body == b"default root\n"


def test_cli_config_file_sets_options(server, tmp_path):
    conf = tmp_path / "kahttpd.conf"
    conf.write_text("# kahttpd test configuration\n"
                    "\n"
                    "keepalive-requests = 3\n"
                    "   # an indented comment\n"
                    "keepalive-timeout = 5\n"
                    "keepalive-grace=2\n")
    srv = server("--config", conf)
    assert _keepalive(srv) == "timeout=3, max=2"


def test_cli_command_line_wins_over_config(server, tmp_path):
    conf = tmp_path / "kahttpd.conf"
    conf.write_text("keepalive-requests = 3\nkeepalive-timeout = 5\n")
    # Before and after --config: the command line wins either way.
    srv = server("--keepalive-requests", "7", "--config", conf, "--keepalive-timeout", "9")
    assert _keepalive(srv) == "timeout=8, max=6"


def test_cli_config_missing_file_exits_2(www, tmp_path):
    p = run_kahttpd("--listen", "127.0.0.1:0", "--root", www.path, "--config", tmp_path / "nope.conf")
    assert p.returncode == 2, p
    assert p.stderr, "no message on stderr"


def test_cli_config_unreadable_file_exits_2(www, tmp_path):
    # A directory cannot be read as a file (this also works for root, unlike chmod 0).
    p = run_kahttpd("--listen", "127.0.0.1:0", "--root", www.path, "--config", tmp_path)
    assert p.returncode == 2, p


def test_cli_config_unknown_name_exits_2(www, tmp_path):
    conf = tmp_path / "kahttpd.conf"
    conf.write_text("keepalive-requests = 3\nno-such-setting = 1\n")
    p = run_kahttpd("--listen", "127.0.0.1:0", "--root", www.path, "--config", conf)
    assert p.returncode == 2, p
    assert b"no-such-setting" in p.stderr, p.stderr


def test_cli_config_bad_value_exits_2(www, tmp_path):
    conf = tmp_path / "kahttpd.conf"
    conf.write_text("keepalive-timeout = soon\n")
    p = run_kahttpd("--listen", "127.0.0.1:0", "--root", www.path, "--config", conf)
    assert p.returncode == 2, p
    assert b"keepalive-timeout" in p.stderr, p.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_cli_signal_exits_0(server, sig):
    srv = server()
    _keepalive(srv)
    srv.proc.send_signal(sig)
    assert srv.proc.wait(STOP_TIMEOUT) == 0


@pytest.mark.parametrize("busy", ["idle-kept-alive", "partial-head", "request-in-progress"])
def test_cli_sigterm_with_open_connection_exits_0(server, busy):
    """SIGTERM drains: an idle connection is closed at once; a request in progress
    (a slow handler, or a head still arriving) is answered with Connection: close;
    then the server exits 0."""
    srv = server("--demo")
    # A kept-alive witness: its close shows that the server has begun to drain.
    witness = srv.connect()
    witness.send(GET("/a.txt"))
    witness.read_response()
    c = srv.connect()
    if busy == "idle-kept-alive":
        c.send(GET("/a.txt"))
        c.read_response()
    elif busy == "partial-head":
        c.send(b"GET /a.txt HTTP/1.1\r\n")
    else:
        c.send(GET("/_demo/sleep?ms=1000"))
    # Not synchronisation: the test is valid whenever the signal lands; this only
    # makes it likely that the server has read the bytes first.
    c.expect_quiet(0.1)
    srv.proc.send_signal(signal.SIGTERM)
    assert witness.read_until_close(5) == (b"", "fin")
    if busy == "idle-kept-alive":
        data, how = c.read_until_close(5)
        assert (data, how) == (b"", "fin")
    else:
        if busy == "partial-head":
            c.send(b"Host: test\r\n\r\n")
        resp = c.read_response()
        assert resp.status == 200
        assert resp.get("Connection") == "close"
        c.close()
    assert srv.proc.wait(STOP_TIMEOUT) == 0
