#!/usr/bin/python3
"""Writes the seed corpus of fuzz_conn (tests/fuzz/corpus/conn/): one file per client
scenario, in the target's input layout (byte 0: configuration, byte 1: flags, then
the stream with 0xFF commands; see fuzz_conn.c). Run from the repository root; the
files are committed, this script only documents how they were made."""
import os

CUT, TIMER, DRAIN, EVICT, READ, HALF = b"\xff|", b"\xfft", b"\xffd", b"\xffe", b"\xffr", b"\xffh"
RESET = b"\xffx"


def repeat(n):
    """Sends the piece before it n more times (n <= 256)."""
    return b"\xff*" + bytes([n - 1])


PAD = b"X-Pad: " + b"p" * 80 + b"\r\n"


def get(path, extra=b"", version=b"HTTP/1.1"):
    return b"GET " + path + b" " + version + b"\r\nHost: h\r\n" + extra + b"\r\n"


SEEDS = {
    "get_index": (0, 0, get(b"/")),
    "get_split_everywhere": (0, 0, CUT.join(bytes([c]) for c in get(b"/a.txt"))),
    "pipelined_three": (0, 0, get(b"/a.txt") + get(b"/style.css") + get(b"/dir/")),
    "pipelined_then_close": (0, 1, get(b"/a.txt") + get(b"/", b"Connection: close\r\n") + get(b"/a.txt")),
    "head_and_304": (0, 0, b"HEAD /a.txt HTTP/1.1\r\nHost: h\r\n\r\n" +
                     get(b"/a.txt", b"If-None-Match: \"x\"\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n")),
    "range": (0, 0, get(b"/mid.bin", b"Range: bytes=10-99\r\n") + get(b"/mid.bin", b"Range: bytes=999999-\r\n")),
    "big_slow_reader": (0, 2, get(b"/big.bin") + get(b"/big.bin") + TIMER + READ),
    "dirs_and_escapes": (0, 0, get(b"/dir") + get(b"/noindex/") + get(b"/passwd") + get(b"/../etc/passwd") +
                         get(b"/%2e%2e/x") + get(b"/nope")),
    "http10": (0, 0, get(b"/a.txt", b"", b"HTTP/1.0") + get(b"/a.txt", b"Connection: keep-alive\r\n", b"HTTP/1.0")),
    "post_cl_discarded": (0, 0, b"POST /a.txt HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhel" + CUT + b"lo" + get(b"/a.txt")),
    "post_chunked_discarded": (0, 0, b"POST /a.txt HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhe" +
                               CUT + b"llo\r\n0\r\n\r\n" + get(b"/a.txt")),
    "echo_cl": (0, 0, b"POST /_demo/echo HTTP/1.1\r\nHost: h\r\nContent-Type: text/x\r\nContent-Length: 11\r\n\r\nhello" +
                CUT + b" world" + get(b"/a.txt")),
    "echo_chunked_continue": (0, 0, b"PUT /_demo/echo HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
                              b"Transfer-Encoding: chunked\r\n\r\n" + CUT + b"3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n"),
    "echo_too_big": (1, 0, b"POST /_demo/echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n80\r\n" + b"x" * 128 + b"\r\n0\r\n\r\n"),
    "sleep_then_pipelined": (0, 0, get(b"/_demo/sleep?ms=50") + get(b"/a.txt") + TIMER),
    "sleep_client_gone": (0, 0, get(b"/_demo/sleep?ms=100000") + HALF + TIMER),
    "stream": (0, 0, get(b"/_demo/stream?chunks=3&interval_ms=10&size=5") + TIMER + TIMER + TIMER + TIMER),
    "stream_http10": (0, 0, get(b"/_demo/stream?chunks=2&interval_ms=1&size=3", b"", b"HTTP/1.0") + TIMER + TIMER + TIMER),
    "events_drain": (0, 0, get(b"/_demo/events?interval_ms=5&count=0") + TIMER + TIMER + DRAIN + TIMER),
    "events_heartbeat": (3, 0, get(b"/_demo/events?interval_ms=5000&count=2") + TIMER + TIMER + TIMER),
    "header_timeout_partial": (0, 0, b"GET /a.txt HTTP/1.1\r\nHo" + TIMER + b"st: h\r\n\r\n"),
    "idle_timeout_race": (0, 0, get(b"/a.txt") + TIMER + get(b"/a.txt") + TIMER + TIMER),
    "idle_then_evicted": (3, 0, get(b"/a.txt") + CUT + get(b"/a.txt") + EVICT + get(b"/a.txt")),
    "drain_idle": (0, 0, get(b"/a.txt") + DRAIN),
    "drain_mid_head": (0, 0, b"GET /a.txt HTTP/1.1\r\n" + DRAIN + b"Host: h\r\n\r\n" + get(b"/a.txt")),
    "parse_error_linger": (0, 0, b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 1\r\n\r\n" + CUT + b"garbage" + TIMER),
    "te_and_cl": (0, 1, b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n"),
    "head_too_large": (1, 0, get(b"/a.txt", b"X: " + b"y" * 600 + b"\r\n")),
    "max_requests": (1, 0, get(b"/a.txt") * 4),
    "keepalive_off": (2, 0, get(b"/a.txt") + get(b"/a.txt")),
    "lifetime": (3, 0, get(b"/a.txt") + TIMER + TIMER),
    "garbage": (0, 0, b"\x00\x01\x02 \r\n\r\n\xff\xff\xfe"),
    "leading_crlf": (0, 0, b"\r\n\r\n" + get(b"/a.txt")),
    "admin_pages": (4, 0, get(b"/status") + get(b"/metrics") + get(b"/connections") + get(b"/") +
                    b"POST /status HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nxy" +
                    get(b"/nope", b"Connection: close\r\n")),
    "pipeline_fills_buffer": (0, 0, get(b"/a.txt", PAD) + repeat(250) + TIMER),
    "sleep_with_full_pipeline": (0, 0, get(b"/_demo/sleep?ms=1000") + CUT + get(b"/a.txt", PAD) + repeat(250) + TIMER + TIMER),
    "head_over_limit_by_repeat": (0, 0, b"GET / HTTP/1.1\r\nHost: h\r\n" + CUT + PAD + repeat(200) + b"\r\n"),
    "reset_mid_response": (0, 2, get(b"/big.bin") + get(b"/mid.bin") + CUT + RESET),
    "reset_mid_body": (0, 0, b"POST /_demo/echo HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\nabc" + CUT + RESET + TIMER),
    "reset_while_streaming": (0, 0, get(b"/_demo/stream?chunks=5&interval_ms=10&size=100000") + TIMER + RESET + TIMER),
    "stream_http10_keepalive": (0, 0, get(b"/_demo/stream?chunks=2&interval_ms=1&size=3", b"Connection: keep-alive\r\n", b"HTTP/1.0") + TIMER + TIMER),
    "options_star": (0, 0, b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n" + b"DELETE /a.txt HTTP/1.1\r\nHost: h\r\n\r\n"),
}

out = "tests/fuzz/corpus/conn"
os.makedirs(out, exist_ok=True)
for name, (variant, flags, stream) in SEEDS.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(bytes([variant, flags]) + stream)
print(f"{len(SEEDS)} seeds in {out}")
