"""
Black-box harness for the kahttpd end-to-end suite: starts the real binary on port 0,
learns its port(s) from the ready lines, talks to it over raw sockets, and parses
responses byte by byte (a small strict parser here, h11 as an independent second
opinion). Nothing in this directory knows how the server is written.

Binary: $KAHTTPD, or build/kahttpd at the repository root. Run the whole suite against
the sanitizer build with KAHTTPD=build-asan/kahttpd; every server a test starts is
stopped with SIGTERM and must exit 0 with no sanitizer report on stderr.

Rules of the harness: never a fixed port, never a sleep to wait for the server (the
ready line, blocking reads with timeouts, and EOF are the only synchronisation), and
only processes this harness started are ever signalled.
"""
import os
import queue
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import h11
import pytest

from waiting import stop_process

REPO = Path(__file__).resolve().parents[2]


def _binary():
    # Absolute, because servers are started in a per-test working directory.
    path = os.environ.get("KAHTTPD") or str(REPO / "build" / "kahttpd")
    if os.sep not in path:
        path = shutil.which(path) or path
    return os.path.abspath(path)


KAHTTPD = _binary()

START_TIMEOUT = 15.0  # ready line(s); generous for the sanitizer build
STOP_TIMEOUT = 10.0   # SIGTERM to exit
READ_TIMEOUT = 5.0    # default wait for one response
SANITIZER_MARKERS = ("AddressSanitizer", "runtime error:", "LeakSanitizer")
READY_RE = re.compile(rb"^kahttpd: listening on (https?)://(\[[^\]]+\]|[^:\s]+):(\d+)\r?\n?$")

# The files every test's document root starts with; distinct sizes so that a response
# that belongs to another request is noticed.
STANDARD_FILES = {
    "a.txt": b"alpha\n",
    "b.txt": b"bravo bravo\n",
    "c.txt": b"charlie charlie charlie\n",
}


# ---- requests ---------------------------------------------------------------------------

def _b(x):
    return x if isinstance(x, bytes) else str(x).encode("latin-1")


def http_request(target="/", method="GET", version="HTTP/1.1", headers=(), body=b"",
                 host="test", content_length=True):
    """Bytes of one request. Adds Host (unless host is None or the headers have one)
    and Content-Length for a non-empty body (unless framing headers are given or
    content_length is False)."""
    hdrs = list(headers)
    names = [_b(n).lower() for n, _ in hdrs]
    if host is not None and b"host" not in names:
        hdrs.insert(0, ("Host", host))
    if (body and content_length and b"content-length" not in names
            and b"transfer-encoding" not in names):
        hdrs.append(("Content-Length", str(len(body))))
    lines = [_b(method) + b" " + _b(target) + b" " + _b(version)]
    lines += [_b(n) + b": " + _b(v) for n, v in hdrs]
    return b"\r\n".join(lines) + b"\r\n\r\n" + _b(body)


def GET(target="/", **kw):
    return http_request(target, "GET", **kw)


def HEAD(target="/", **kw):
    return http_request(target, "HEAD", **kw)


def chunked(*pieces, trailers=b""):
    """Chunked encoding of pieces (bytes), ending with the last chunk and trailers."""
    out = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces if p)
    return out + b"0\r\n" + trailers + b"\r\n"


# ---- responses --------------------------------------------------------------------------

class Response:
    """One parsed response. headers: list of (name, value) str pairs, case and order as
    sent. raw: every byte of the response as it came off the wire."""

    def __init__(self):
        self.version = self.reason = None
        self.status = None
        self.headers = []
        self.head = b""
        self.body = b""
        self.raw = b""
        self.framing = None   # 'length' | 'chunked' | 'close' | 'none'
        self.close_how = None  # for framing == 'close': 'fin' | 'rst'
        self.chunk_sizes = []  # chunked: data size of each chunk, in order
        self.chunk_times = []  # chunked: time.monotonic() when each chunk was complete
        self.trailers = []
        self.t_first = None    # time.monotonic() when the first byte was available
        self.t_done = None     # ... when the last byte was read

    def get(self, name):
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None

    def get_all(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def tokens(self, name):
        out = []
        for v in self.get_all(name):
            out += [t.strip().lower() for t in v.split(",") if t.strip()]
        return out

    def has_token(self, name, token):
        return token.lower() in self.tokens(name)

    @property
    def keeps_alive(self):
        return self.has_token("Connection", "keep-alive") and not self.has_token("Connection", "close")

    def __repr__(self):
        return f"<Response {self.status} {self.headers!r} body={self.body[:200]!r}>"


class Conn:
    """A raw client connection with a read buffer, so that pipelined responses that
    arrive in one segment are split correctly."""

    def __init__(self, addr, timeout=READ_TIMEOUT, rcvbuf=None):
        self.t_connect = time.monotonic()  # taken before connect(): the accept is later
        if rcvbuf is None:
            self.sock = socket.create_connection(addr, timeout=timeout)
        else:
            # A fixed, small receive buffer (set before connect, so that the window
            # is small too) keeps the kernel from buffering much of a response.
            self.sock = socket.socket(socket.AF_INET6 if ":" in addr[0] else socket.AF_INET)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.settimeout(timeout)
            self.sock.connect(addr)
        self.t_connected = time.monotonic()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buf = bytearray()
        self._raw = bytearray()
        self.t_sent = None
        self.sender = None

    # -- sending
    def send(self, data):
        self.sock.sendall(data)
        self.t_sent = time.monotonic()

    def send_background(self, data, chunk=65536, forever=False, limit_seconds=None):
        """Sends data from a thread, so that the main thread can read responses while
        a large upload is still going; with forever=True it repeats data until a send
        fails or limit_seconds pass. See BackgroundSender."""
        self.sender = BackgroundSender(self.sock, data, chunk, forever, limit_seconds)
        return self.sender

    def shutdown_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- receiving
    def _recv(self, deadline, what):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"timed out waiting for {what}; buffered {bytes(self.buf)[:600]!r}")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise AssertionError(f"timed out waiting for {what}; buffered {bytes(self.buf)[:600]!r}") from None
        except ConnectionResetError:
            raise AssertionError(f"connection reset (RST) while waiting for {what}; "
                                 f"buffered {bytes(self.buf)[:600]!r}") from None
        if not data:
            raise AssertionError(f"connection closed (FIN) while waiting for {what}; "
                                 f"buffered {bytes(self.buf)[:600]!r}")
        self.buf += data
        return data

    def _take(self, n):
        out = bytes(self.buf[:n])
        del self.buf[:n]
        self._raw += out
        return out

    def _read_line(self, deadline, what):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = self._take(i + 2)
                return line[:-2]
            self._recv(deadline, what)

    def _read_exact(self, n, deadline, what):
        while len(self.buf) < n:
            self._recv(deadline, what)
        return self._take(n)

    def read_response(self, method="GET", timeout=None):
        """Reads one response (an interim 1xx is returned as a response of its own).
        The body is framed like a client must frame it: none for HEAD/1xx/204/304, then
        chunked, then Content-Length, else until the server closes."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        r = Response()
        self._raw = bytearray()
        while not self.buf:
            self._recv(deadline, "a response")
        r.t_first = time.monotonic()
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                break
            self._recv(deadline, "the end of a response head")
        head = self._take(i + 4)[:-4]
        r.head = head
        lines = head.split(b"\r\n")
        m = re.fullmatch(rb"(HTTP/\d\.\d) (\d{3}) ([^\r\n]*)", lines[0])
        assert m, f"malformed status line {lines[0]!r}"
        r.version, r.status, r.reason = m.group(1).decode(), int(m.group(2)), m.group(3).decode("latin-1")
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            assert colon and name and re.fullmatch(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+", name), \
                f"malformed header line {line!r} in {head!r}"
            assert b"\r" not in value and b"\n" not in value, f"bad header value {line!r}"
            r.headers.append((name.decode(), value.strip(b" \t").decode("latin-1")))

        if method == "HEAD" or 100 <= r.status < 200 or r.status in (204, 304):
            r.framing = "none"
        elif r.get("Transfer-Encoding") is not None:
            assert r.tokens("Transfer-Encoding") == ["chunked"], f"unexpected TE {r.headers}"
            assert r.get("Content-Length") is None, f"TE and CL together: {r.headers}"
            r.framing = "chunked"
            body = bytearray()
            while True:
                size_line = self._read_line(deadline, "a chunk size line")
                size_hex = size_line.split(b";", 1)[0].strip()
                assert re.fullmatch(rb"[0-9a-fA-F]+", size_hex), f"bad chunk size line {size_line!r}"
                size = int(size_hex, 16)
                if size == 0:
                    break
                body += self._read_exact(size, deadline, "chunk data")
                assert self._read_exact(2, deadline, "chunk CRLF") == b"\r\n", "chunk data not followed by CRLF"
                r.chunk_sizes.append(size)
                r.chunk_times.append(time.monotonic())
            while True:
                line = self._read_line(deadline, "trailers")
                if not line:
                    break
                r.trailers.append(line)
            r.body = bytes(body)
        elif r.get("Content-Length") is not None:
            cls = r.get_all("Content-Length")
            assert len(cls) == 1 and cls[0].isdigit(), f"bad Content-Length {cls!r}"
            r.framing = "length"
            r.body = self._read_exact(int(cls[0]), deadline, f"{cls[0]} body bytes")
        else:
            r.framing = "close"
            data, how = self.read_until_close(max(0.1, deadline - time.monotonic()))
            assert how != "open", f"close-delimited body not ended within the timeout: {data[:300]!r}"
            self._raw += data
            r.body, r.close_how = data, how
        r.t_done = time.monotonic()
        r.raw = bytes(self._raw)
        return r

    def read_until_close(self, timeout):
        """(data, how): every byte until the server closes; how is 'fin' (recv
        returned b''), 'rst' (ConnectionResetError) or 'open' (timeout)."""
        data = bytes(self.buf)
        self.buf.clear()
        more, how = read_until_close(self.sock, timeout)
        return data + more, how

    def expect_quiet(self, seconds):
        """Lets `seconds` of client time pass while asserting that the server neither
        sends a byte nor closes. This is how a test waits: a blocking read that must
        time out, never a bare sleep."""
        assert not self.buf, f"unexpected buffered bytes {bytes(self.buf)!r}"
        start = time.monotonic()
        deadline = start + seconds
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return
            except ConnectionResetError:
                raise AssertionError(f"connection reset {time.monotonic() - start:.3f}s into a "
                                     f"{seconds}s quiet period") from None
            if not data:
                raise AssertionError(f"server closed the connection {time.monotonic() - start:.3f}s "
                                     f"into a {seconds}s quiet period")
            raise AssertionError(f"unexpected bytes during a quiet period: {data[:300]!r}")

    def recv_some(self, timeout=None):
        """One read for h11: buffered bytes first; b'' at EOF."""
        if self.buf:
            data = bytes(self.buf)
            self.buf.clear()
            return data
        self.sock.settimeout(timeout if timeout is not None else self.timeout)
        try:
            return self.sock.recv(65536)
        except socket.timeout:
            raise AssertionError("timed out waiting for response bytes") from None
        except ConnectionResetError:
            raise AssertionError("connection reset (RST) while reading a response") from None


def read_until_close(sock, timeout):
    """Reads until the peer closes. Returns (data, how) with how 'fin' when recv
    returned b'', 'rst' on ConnectionResetError, 'open' when timeout seconds passed
    first. Accepts a Conn (its buffered bytes come first) or a plain socket."""
    if isinstance(sock, Conn):
        return sock.read_until_close(timeout)
    deadline = time.monotonic() + timeout
    data = bytearray()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return bytes(data), "open"
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return bytes(data), "open"
        except ConnectionResetError:
            return bytes(data), "rst"
        if not chunk:
            return bytes(data), "fin"
        data += chunk


class BackgroundSender(threading.Thread):
    """sendall() from a thread. error is the exception that stopped it (None when all
    bytes went out); t_end is when it finished or failed."""

    def __init__(self, sock, data, chunk=65536, forever=False, limit_seconds=None):
        super().__init__(daemon=True)
        self.sock, self.data, self.chunk = sock, data, chunk
        self.forever, self.limit_seconds = forever, limit_seconds
        self.error = None
        self.sent = 0
        self.t_end = None
        self.start()

    def run(self):
        deadline = time.monotonic() + (self.limit_seconds or 3600)
        try:
            while True:
                view = memoryview(self.data)
                for i in range(0, len(view), self.chunk):
                    self.sock.sendall(view[i:i + self.chunk])
                    self.sent += len(view[i:i + self.chunk])
                if not self.forever or time.monotonic() >= deadline:
                    break
        except (OSError, ValueError) as e:
            self.error = e
        self.t_end = time.monotonic()


class H11Client:
    """An independent client for the same connection: h11 frames requests and parses
    responses with its own (strict) rules."""

    def __init__(self, conn):
        self.conn = conn
        self.h = h11.Connection(h11.CLIENT)
        self.informational = []

    def request(self, method, target, headers=(), body=b""):
        if self.h.our_state is h11.DONE and self.h.their_state is h11.DONE:
            self.h.start_next_cycle()
        hdrs = [("Host", "test"), *headers]
        if body and not any(n.lower() in ("content-length", "transfer-encoding") for n, _ in headers):
            hdrs.append(("Content-Length", str(len(body))))
        out = self.h.send(h11.Request(method=method, target=target, headers=hdrs))
        if body:
            out += self.h.send(h11.Data(data=body))
        out += self.h.send(h11.EndOfMessage())
        self.conn.send(out)
        response, chunks = None, []
        while True:
            ev = self.h.next_event()
            if ev is h11.NEED_DATA:
                self.h.receive_data(self.conn.recv_some())
                continue
            if isinstance(ev, h11.InformationalResponse):
                self.informational.append(ev)
            elif isinstance(ev, h11.Response):
                response = ev
            elif isinstance(ev, h11.Data):
                chunks.append(bytes(ev.data))
            elif isinstance(ev, h11.EndOfMessage):
                return response, b"".join(chunks)
            elif isinstance(ev, h11.ConnectionClosed):
                raise AssertionError("h11: connection closed before the response ended")
            else:
                raise AssertionError(f"h11: unexpected event {ev!r}")

    @property
    def reusable(self):
        return self.h.our_state is h11.DONE and self.h.their_state is h11.DONE


def h11_header(resp, name):
    """First value of a header in an h11 response, as str, or None."""
    for n, v in resp.headers:
        if n.decode().lower() == name.lower():
            return v.decode("latin-1")
    return None


def h11_parse(raw, method="GET", target="/"):
    """Has h11 parse raw response bytes (as read by Conn.read_response) for a request
    with this method. Returns (response, body, their_state). Fails on anything h11
    considers malformed."""
    h = h11.Connection(h11.CLIENT)
    h.send(h11.Request(method=method, target=target, headers=[("Host", "test")]))
    h.send(h11.EndOfMessage())
    h.receive_data(raw)
    response, chunks, eof_sent = None, [], False
    while True:
        ev = h.next_event()
        if ev is h11.NEED_DATA:
            assert not eof_sent, "h11 needs more data than the response had"
            h.receive_data(b"")  # the bytes we hold are all there is
            eof_sent = True
            continue
        if isinstance(ev, h11.InformationalResponse):
            continue
        if isinstance(ev, h11.Response):
            response = ev
        elif isinstance(ev, h11.Data):
            chunks.append(bytes(ev.data))
        elif isinstance(ev, h11.EndOfMessage):
            return response, b"".join(chunks), h.their_state
        elif isinstance(ev, h11.ConnectionClosed):
            raise AssertionError("h11: response ended early")
        elif ev is h11.PAUSED:
            return response, b"".join(chunks), h.their_state


def client_stalls(seconds):
    """A client that deliberately does nothing for a while (it neither reads nor
    writes), to make the server's side stall. This simulates a slow peer; it is never
    used to wait for the server to reach some state."""
    time.sleep(seconds)


# ---- the server -------------------------------------------------------------------------

class Server:
    """One kahttpd process started by this harness."""

    def __init__(self, args, cwd, stderr_path, binary=None):
        self.args = args
        self.stderr_path = stderr_path
        self._stderr = open(stderr_path, "wb")
        self.proc = subprocess.Popen([binary or KAHTTPD, *args], cwd=cwd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self._stderr)
        self.stdout_lines = []
        self._lines = queue.Queue()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        self.addrs = []
        self.schemes = []  # "http" or "https", one per entry of addrs
        self.conns = []
        self.expected_exit = 0
        self.stopped_rc = None

    def _drain(self):
        # Keeps reading after the ready lines so a chatty server never blocks on a
        # full pipe.
        for line in iter(self.proc.stdout.readline, b""):
            self.stdout_lines.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def wait_ready(self, listeners):
        deadline = time.monotonic() + START_TIMEOUT
        while len(self.addrs) < listeners:
            try:
                line = self._lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"kahttpd {' '.join(self.args)}: {len(self.addrs)} of {listeners} ready "
                            f"lines within {START_TIMEOUT}s; stdout {self.stdout_lines!r}")
            if line is None:
                rc = self.proc.wait(STOP_TIMEOUT)
                pytest.fail(f"kahttpd {' '.join(self.args)} exited ({rc}) before it was ready; "
                            f"stdout {self.stdout_lines!r}; stderr {self.stderr_text()[-2000:]!r}")
            m = READY_RE.match(line)
            if m:
                host = m.group(2).decode().strip("[]")
                self.addrs.append((host, int(m.group(3))))
                self.schemes.append(m.group(1).decode())
        return self

    @property
    def addr(self):
        return self.addrs[0]

    @property
    def port(self):
        return self.addrs[0][1]

    def url(self, path="/", index=0):
        host, port = self.addrs[index]
        return f"{self.schemes[index]}://{host}:{port}{path}"

    def connect(self, index=0, timeout=READ_TIMEOUT, rcvbuf=None):
        c = Conn(self.addrs[index], timeout, rcvbuf)
        self.conns.append(c)
        return c

    def h11(self, index=0):
        return H11Client(self.connect(index))

    def exchange(self, data, method="GET", index=0):
        """One request on a fresh connection, one response."""
        c = self.connect(index)
        c.send(data)
        return c.read_response(method)

    def stderr_text(self):
        try:
            return Path(self.stderr_path).read_text(errors="replace")
        except OSError:
            return ""

    def stop(self):
        """SIGTERM, wait, and return a list of problems (empty when all is well)."""
        problems = []
        for c in self.conns:
            c.close()
        rc = stop_process(self.proc, STOP_TIMEOUT)
        if rc is None:
            problems.append(f"did not exit within {STOP_TIMEOUT}s of SIGTERM (killed)")
        self.stopped_rc = rc
        self._reader.join(5)
        self._stderr.close()
        if rc is not None and rc != self.expected_exit:
            problems.append(f"exit status {rc}, expected {self.expected_exit}")
        err = self.stderr_text()
        for marker in SANITIZER_MARKERS:
            if marker in err:
                problems.append(f"stderr contains {marker!r}")
        return problems


class DocRoot:
    """The --root directory of one test, with helpers to populate it."""

    def __init__(self, path):
        self.path = path
        path.mkdir()
        for name, data in STANDARD_FILES.items():
            self.add(name, data)

    def add(self, name, data, mtime=None):
        p = self.path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(_b(data))
        if mtime is not None:
            os.utime(p, (mtime, mtime))
        return p

    def mkdir(self, name):
        p = self.path / name
        p.mkdir(parents=True, exist_ok=True)
        return p

    def symlink(self, name, target):
        p = self.path / name
        p.symlink_to(target)
        return p


@pytest.fixture
def www(tmp_path):
    return DocRoot(tmp_path / "www")


@pytest.fixture
def secret(tmp_path):
    """A file beside (outside) the document root that must never be served."""
    token = f"TOP-SECRET-{os.getpid()}-{time.monotonic_ns()}"
    p = tmp_path / "secret.txt"
    p.write_text(token + "\n")
    return token


def _require_binary():
    if not os.access(KAHTTPD, os.X_OK):
        pytest.fail(f"no server binary at {KAHTTPD} (run make, or set KAHTTPD=/path)")


@pytest.fixture
def server(www, tmp_path):
    """Factory: server(*args) starts kahttpd with --listen 127.0.0.1:0 (unless args
    have a --listen), --workers 1 (unless given), --root <the test's DocRoot> (unless
    given or root=False) and returns a ready Server; binary= runs another executable
    than $KAHTTPD (a copy the test may replace). Keyword listeners= overrides how
    many ready lines to wait for (default: one per --listen, at least one, and one per
    --tls-listen)."""
    _require_binary()
    started = []

    def start(*args, listeners=None, cwd=None, root=True, listen=True, binary=None):
        args = [str(a) for a in args]
        if listen and "--listen" not in args:
            args = ["--listen", "127.0.0.1:0"] + args
        if "--workers" not in args:
            args += ["--workers", "1"]
        if root and "--root" not in args:
            args += ["--root", str(www.path)]
        if listeners is None:
            listeners = max(1, args.count("--listen")) + args.count("--tls-listen")
        n = len(started)
        srv = Server(args, cwd or tmp_path, tmp_path / f"kahttpd-{n}.stderr", binary)
        started.append(srv)
        return srv.wait_ready(listeners)

    yield start

    failures = []
    for srv in started:
        problems = srv.stop()
        if problems:
            failures.append(f"kahttpd {' '.join(srv.args)}: " + "; ".join(problems)
                            + f"\n--- stderr (tail) ---\n{srv.stderr_text()[-4000:]}")
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)


def run_kahttpd(*args, timeout=10, cwd=None):
    """Runs kahttpd to completion (for options that must make it exit). A process that
    is still running after timeout seconds is killed and the test fails."""
    _require_binary()
    try:
        return subprocess.run([KAHTTPD, *map(str, args)], cwd=cwd, stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"kahttpd {' '.join(map(str, args))} still running after {timeout}s "
                    f"(expected it to exit); stdout {e.stdout!r}")


def make_cert(dirpath, name="localhost", sans=("DNS:localhost", "IP:127.0.0.1")):
    """A self-signed ECDSA P-256 certificate and its key, made with the openssl command
    in dirpath: (certificate path, key path)."""
    cert, key = Path(dirpath) / f"{name}.crt", Path(dirpath) / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", f"/CN={name}", "-addext",
                    "subjectAltName=" + ",".join(sans)],
                   check=True, capture_output=True, timeout=30)
    return cert, key


# ---- shared assertions --------------------------------------------------------------------

def assert_persistent(resp):
    """A persistent response: Connection: keep-alive and a Keep-Alive header."""
    assert resp.has_token("Connection", "keep-alive"), f"expected Connection: keep-alive in {resp.headers}"
    assert not resp.has_token("Connection", "close"), resp.headers
    assert resp.get("Keep-Alive") is not None, f"expected a Keep-Alive header in {resp.headers}"


def assert_last(resp):
    """The last response on a connection: Connection: close and no Keep-Alive."""
    assert resp.has_token("Connection", "close"), f"expected Connection: close in {resp.headers}"
    assert not resp.has_token("Connection", "keep-alive"), resp.headers
    assert resp.get("Keep-Alive") is None, f"unexpected Keep-Alive on a last response: {resp.headers}"


def assert_closes_with_fin(conn, timeout=5.0):
    data, how = conn.read_until_close(timeout)
    assert (data, how) == (b"", "fin"), f"expected the server to close with FIN and nothing more, got {how} after {data[:300]!r}"


def assert_error_response(conn, status, method="GET"):
    """A strict-parsing error: the status, a short text/plain body naming the problem,
    Connection: close, and a FIN (lingering close) with nothing after the response."""
    resp = conn.read_response(method)
    assert resp.status == status, f"expected {status}, got {resp.status} {resp.reason}: {resp.raw[:500]!r}"
    ctype = resp.get("Content-Type") or ""
    assert ctype.lower().startswith("text/plain"), f"error body should be text/plain: {resp.headers}"
    assert 0 < len(resp.body) <= 1024, f"error body should be short and non-empty: {resp.body!r}"
    assert_last(resp)
    assert_closes_with_fin(conn)
    return resp
