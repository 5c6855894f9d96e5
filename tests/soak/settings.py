"""
The settings of a soak run (soak.py), shared by the driver, which starts kahttpd with
them, and by the clients (clients.py), which check every response against them: the
server's options and timeouts, the client's own limits, and the document root.
"""
import os
import time

# Server settings: short timeouts so that idle and header timeouts happen many times
# within a run.
KEEPALIVE_TIMEOUT = 2      # s, enforced
KEEPALIVE_GRACE = 1        # s, so Keep-Alive: timeout=1 is advertised
ADVERTISED = KEEPALIVE_TIMEOUT - KEEPALIVE_GRACE
HEADER_TIMEOUT = 2         # s
IO_TIMEOUT = 3             # s
REQUEST_CAP = 20           # --keepalive-requests: some connections reach it
WORKERS = 2
LINGER = 2                 # s, the server's lingering close limit (worker.c)
READ_TIMEOUT = 10.0        # one response; generous for a sanitizer build under load
SLACK = 3.0                # s a timeout may fire late on a loaded two-core machine
MAX_BODY = 300_000         # the largest request body a mix sends
# Warm-up rounds in which every client holds a body of this size in the server at
# once: the server's body buffer doubles from 4 KiB as it fills, so these reach each
# buffer size (512, 128, 64, 32, 16 and 8 KiB), each with as many held as there are
# clients. An allocator keeps each size apart, so every size needs its own round.
PEAK_SIZES = [MAX_BODY, 100_000, 50_000, 25_000, 12_000, 6_000]

# The document root: distinct sizes on both sides of the 16 KiB small-file limit
# (copied behind the head vs sendfile), and one large file to abandon mid-response.
FILE_SIZES = {"f1.txt": 1, "f100.txt": 100, "f1k.txt": 1000, "f5k.txt": 5000,
              "f16k.txt": 16384, "f16k1.txt": 16385, "f100k.bin": 100_000,
              "big.bin": 4_000_000}
SMALL_FILES = [n for n, s in FILE_SIZES.items() if s <= 100_000]
# The reverse proxy under test sends /px/ to a second kahttpd (the backend) whose idle
# timeout is short and advertised one second shorter still: pooled backend connections
# are reused, retired and raced all through the run. The backend serves the same files
# under /px/.
PROXY_PREFIX = "/px/"
BACKEND_KEEPALIVE = 1.5    # s, the backend's --keepalive-timeout (advertises 1 s)
INDEX_HTML = b"<!doctype html><title>soak</title>index\n"


def file_bytes(name, size):
    """Content that differs in every file and every position, so that a response
    belonging to another request, or a misplaced slice, is noticed."""
    seed = name.encode()
    unit = b"".join(b"%s:%08d\n" % (seed, i) for i in range(1 + size // (len(seed) + 10)))
    return unit[:size]


def make_root(path):
    path.mkdir()
    files = {}
    for name, size in FILE_SIZES.items():
        data = file_bytes(name, size)
        (path / name).write_bytes(data)
        files[name] = data
    (path / "d").mkdir()
    (path / "d" / "index.html").write_bytes(INDEX_HTML)
    (path / "px").mkdir()
    for name in SMALL_FILES:
        (path / "px" / name).write_bytes(files[name])
    # An mtime in the past, so the small-file cache keeps them from the first request
    # (it does not keep files changed in the last two seconds).
    old = time.time() - 3600
    for p in [*path.iterdir(), path / "d" / "index.html", *(path / "px").iterdir()]:
        os.utime(p, (old, old))
    return files
