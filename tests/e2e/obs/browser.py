"""
Headless Chromium for the dashboard tests, and a PNG reader to tell a drawn page from a
blank one.

--virtual-time-budget lets the page's timers and its fetches to the admin listener run
(timers on a virtual clock, network for real) before --dump-dom or --screenshot is
taken, so the DOM reflects several refreshes without the test waiting in real time for
them. Every Chromium is started in its own session with its own profile directory and
HOME, and on a timeout only that process group is killed.
"""
import os
import shutil
import signal
import struct
import subprocess
import zlib
from html.parser import HTMLParser

CHROMIUM = shutil.which("chromium")
CHROMIUM_TIMEOUT = 90.0

BASE_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--no-first-run", "--disable-component-update", "--disable-sync",
              "--disable-breakpad", "--hide-scrollbars")


def run_chromium(url, workdir, *flags):
    """Runs Chromium on url with flags; returns (stdout bytes, stderr text)."""
    profile = workdir / "chromium-profile"
    profile.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, HOME=str(workdir))
    cmd = [CHROMIUM, *BASE_FLAGS, f"--user-data-dir={profile}", *flags, url]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=CHROMIUM_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError(f"chromium did not finish within {CHROMIUM_TIMEOUT}s: {cmd}") from None
    assert proc.returncode == 0, f"chromium exited {proc.returncode}: {err.decode(errors='replace')[-2000:]}"
    return out, err.decode(errors="replace")


def dump_dom(url, workdir, budget_ms=4000):
    out, _ = run_chromium(url, workdir, f"--virtual-time-budget={budget_ms}", "--dump-dom")
    return out.decode("utf-8", errors="replace")


def screenshot(url, workdir, path, size=(1280, 900), budget_ms=4000):
    run_chromium(url, workdir, f"--virtual-time-budget={budget_ms}", f"--screenshot={path}",
                 f"--window-size={size[0]},{size[1]}")
    return path


class DomSummary(HTMLParser):
    """What the tests look for in a dumped DOM: the element ids, the connection rows of
    table #connections (id -> cell texts, id -> attributes), and for each <svg id=...> its paths and
    polylines as (data-series, drawing data) and how many shapes it holds."""

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.ids = set()
        self.rows = {}
        self.row_attrs = {}
        self.paths = {}
        self.shapes = {}
        self._table = self._svg = None
        self._row = self._cell = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "table" and a.get("id") == "connections":
            self._table = True
        elif tag == "svg" and a.get("id"):
            self._svg = a["id"]
            self.paths.setdefault(self._svg, [])
            self.shapes.setdefault(self._svg, 0)
        elif tag in ("path", "polyline") and self._svg:
            self.paths[self._svg].append((a.get("data-series"), a.get("d") or a.get("points") or ""))
        if tag in ("path", "polyline", "rect", "line", "circle") and self._svg:
            self.shapes[self._svg] += 1
        elif tag == "tr" and self._table and "data-conn-id" in a:
            self._row = a["data-conn-id"]
            self.rows[self._row] = []
            self.row_attrs[self._row] = a
        elif tag == "td" and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None
        elif tag == "svg":
            self._svg = None
        elif tag == "tr":
            self._row = None
        elif tag == "td" and self._cell is not None and self._row is not None:
            self.rows[self._row].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def png_read(path):
    """(width, height, bytes per pixel, rows) of an 8-bit, non-interlaced RGB or RGBA
    PNG, which is what Chromium writes."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG: {data[:16]!r}"
    pos, idat, ihdr = 8, b"", None
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    width, height, depth, colour, _, _, interlace = ihdr
    assert depth == 8 and colour in (2, 6) and interlace == 0, f"unexpected PNG format {ihdr}"
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(height):
        kind, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            left = line[x - bpp] if x >= bpp else 0
            up = prev[x]
            up_left = prev[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + left) & 255
            elif kind == 2:
                line[x] = (line[x] + up) & 255
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                line[x] = (line[x] + (left if pa <= pb and pa <= pc else up if pb <= pc else up_left)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def png_colours(path, step=3):
    """(size, {rgb: count}) over every step-th pixel of every step-th row."""
    width, height, bpp, rows = png_read(path)
    counts = {}
    for row in rows[::step]:
        for x in range(0, width * bpp, bpp * step):
            rgb = row[x:x + 3]
            counts[rgb] = counts.get(rgb, 0) + 1
    return (width, height), counts


class FlakyFront:
    """A stand-in for the admin listener, on a free port of its own, for the dashboard's
    error handling: it serves the dashboard page it was given, answers the first
    `failures` requests for data with 503, and passes later ones to the real admin
    listener. `data_requests` counts the requests for data it received."""

    def __init__(self, page, admin_addr, failures):
        import http.client
        import http.server
        import threading

        front = self
        self.data_requests = 0
        self.failures = failures

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status, ctype, body):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path == "/":
                    return self._send(200, "text/html; charset=utf-8", page)
                front.data_requests += 1
                if front.data_requests <= front.failures:
                    return self._send(503, "text/plain", b"503 Service Unavailable: test\n")
                conn = http.client.HTTPConnection(*admin_addr, timeout=5)
                try:
                    conn.request("GET", self.path)
                    r = conn.getresponse()
                    self._send(r.status, r.getheader("Content-Type", "text/plain"), r.read())
                finally:
                    conn.close()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
