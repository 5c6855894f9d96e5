"""
Fixtures of the reverse-proxy tests (test_proxy_*.py): the proxy under test and the
backends behind it, every one started by the test and stopped at its end.

The proxy under test is kahttpd (`--proxy PREFIX=URL,...`, with `--admin` and
`--access-log`), started through conftest's server fixture, so that its exit status and
sanitizer reports are checked as everywhere else. KAPROXY=nginx runs the same tests
against nginx configured to forward like kahttpd's interface (NginxProxy with
usual=False): it shows which rules a widespread proxy breaks, and that each test can
fail; tests of kahttpd's own figures (/status, access log) fail there by design.
"""
import os
import socket
import time

import pytest

from backends import (GunicornBackend, HttpBackend, NginxBackend, NginxProxy, NodeBackend,
                      ScriptedBackend)
from conftest import Conn, READ_TIMEOUT
from waiting import admin_addr, admin_get, wait_for

UNDER_TEST = os.environ.get("KAPROXY", "kahttpd")


class ProxyUnderTest:
    """addr, connect(), exchange(); for kahttpd also srv (conftest's Server), pid,
    status(), upstream(url) and log_lines()."""

    def __init__(self, addr, srv=None, log_path=None, nginx=None):
        self.addr = addr
        self.srv = srv
        self.log_path = log_path
        self.nginx = nginx
        self.conns = []
        self._admin = admin_addr(srv) if srv is not None else None

    @property
    def pid(self):
        return self.srv.proc.pid if self.srv is not None else self.nginx.proc.pid

    def connect(self, timeout=READ_TIMEOUT, rcvbuf=None):
        c = Conn(self.addr, timeout, rcvbuf)
        self.conns.append(c)
        return c

    def exchange(self, data, method="GET"):
        c = self.connect()
        c.send(data)
        return c.read_response(method)

    def status(self):
        assert self._admin is not None, f"no /status for {UNDER_TEST}"
        return admin_get(self._admin)

    def upstream(self, url):
        """The /status "upstreams" entry of the backend at url (http://HOST:PORT...)."""
        backend = url.split("//", 1)[1].split("/", 1)[0]
        ups = self.status().get("upstreams")
        assert isinstance(ups, list), f"/status has no upstreams list: {ups!r}"
        found = [u for u in ups if u.get("backend") == backend]
        assert len(found) == 1, f"{backend} in /status upstreams: {ups!r}"
        return found[0]

    def wait_upstream(self, url, cond, what, timeout=5.0):
        return wait_for(lambda: self.upstream(url), cond, timeout, what)

    def log_lines(self):
        try:
            return self.log_path.read_text(encoding="latin-1").splitlines()
        except FileNotFoundError:
            return []

    def close(self):
        for c in self.conns:
            c.close()


def _nginx_opts(opts):
    kw = {}
    names = {"--upstream-timeout": "read_timeout", "--upstream-connect-timeout": "connect_timeout",
             "--upstream-keepalive": "keepalive"}
    for name, value in zip(opts[::2], opts[1::2]):
        if name in names:
            kw[names[name]] = value
    return kw


@pytest.fixture
def proxy(server, tmp_path):
    """Factory: proxy(routes, *options) with routes {prefix: url or [urls]} starts the
    proxy under test (one worker) and returns a ProxyUnderTest."""
    started = []

    def start(routes, *opts, workers=1):
        routes = [(p, [u] if isinstance(u, str) else list(u)) for p, u in routes.items()]
        opts = [str(o) for o in opts]
        if UNDER_TEST == "nginx":
            n = NginxProxy(tmp_path, routes, usual=False, **_nginx_opts(opts))
            put = ProxyUnderTest(n.addr, nginx=n)
        else:
            log = tmp_path / f"access-{len(started)}.log"
            args = []
            for prefix, urls in routes:
                args += ["--proxy", f"{prefix}={','.join(urls)}"]
            srv = server(*args, "--admin", "127.0.0.1:0", "--access-log", log,
                         "--workers", workers, *opts)
            put = ProxyUnderTest(srv.addr, srv=srv, log_path=log)
        started.append(put)
        return put

    yield start
    for put in started:
        put.close()
        if put.nginx is not None:
            put.nginx.stop()


@pytest.fixture
def backends(tmp_path):
    """Factory for backends stopped at the end of the test: backends.http(...),
    .node(...), .gunicorn(...), .nginx(...), .scripted(respond)."""
    started = []

    class Factory:
        @staticmethod
        def http(**kw):
            started.append(HttpBackend(tmp_path, **kw))
            return started[-1]

        @staticmethod
        def node(**kw):
            started.append(NodeBackend(tmp_path, **kw))
            return started[-1]

        @staticmethod
        def gunicorn(**kw):
            started.append(GunicornBackend(tmp_path, **kw))
            return started[-1]

        @staticmethod
        def nginx(**kw):
            started.append(NginxBackend(tmp_path, **kw))
            return started[-1]

        @staticmethod
        def scripted(respond):
            started.append(ScriptedBackend(respond))
            return started[-1]

    yield Factory
    for b in started:
        b.stop()


def refused_url():
    """A loopback address where nothing listens: a connection to it is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class Blackhole:
    """A listening socket whose accept queue is full and never drained: a SYN to it is
    dropped, so a connect() hangs (the client's SYN retransmits) as toward an address
    that does not answer. verify() proves it with a connect of our own."""

    def __init__(self):
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(0)
        self.port = self.lsock.getsockname()[1]
        self.fillers = []
        # listen(0) leaves room for one queued connection; two more make sure it is full
        # (a completed handshake waits in the queue, the next SYNs find no room).
        for _ in range(3):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", self.port))
            self.fillers.append(s)

    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def hangs(self, seconds=0.5):
        s = socket.socket()
        s.settimeout(seconds)
        try:
            s.connect(("127.0.0.1", self.port))
            return False
        except socket.timeout:
            return True
        except OSError:
            return False
        finally:
            s.close()

    def close(self):
        for s in self.fillers:
            s.close()
        self.lsock.close()


def rss_kib(pid):
    """Resident set size of a process, KiB (VmRSS in /proc/PID/status)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def elapsed(t0):
    return time.monotonic() - t0
