#!/usr/bin/python3
"""
Writes the 30 images of the test page www/page/ (issue 9): 6 icons and 24 landscape
"photos", small PNGs drawn from their index alone, so running this again writes the
same bytes. The images are committed; this script is how they were made.

    tests/browser/make_page_images.py [www/page/img]
"""
import math
import struct
import sys
import zlib
from pathlib import Path


def png(width, height, pixel):
    """An 8-bit RGB PNG; pixel(x, y) -> (r, g, b)."""
    raw = bytearray()
    for y in range(height):
        raw.append(0)  # filter: none
        for x in range(width):
            raw += bytes(pixel(x, y))

    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(raw), 9))
            + chunk(b"IEND", b""))


def hsv(h, s, v):
    """h in turns, s and v in 0..1 -> (r, g, b) bytes."""
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    r, g, b = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return (round(r * 255), round(g * 255), round(b * 255))


def photo(n):
    """A landscape: sky gradient, a sun, two ranges of hills; hue and shapes from n."""
    w, h = 160, 100
    hue = (n * 0.137) % 1.0
    sun_x, sun_y, sun_r = 30 + (n * 37) % 100, 18 + (n * 11) % 20, 9 + n % 5
    f1, f2 = 0.03 + (n % 7) * 0.008, 0.05 + (n % 5) * 0.01

    def pixel(x, y):
        far = 55 + 12 * math.sin(x * f1 + n)
        near = 72 + 9 * math.sin(x * f2 + 2 * n) + 4 * math.sin(x * 0.21 + n)
        if y > near:
            return hsv((hue + 0.33) % 1, 0.55, 0.45 - 0.1 * (y - near) / h)
        if y > far:
            return hsv((hue + 0.45) % 1, 0.35, 0.62)
        if (x - sun_x) ** 2 + (y - sun_y) ** 2 <= sun_r ** 2:
            return hsv((hue + 0.12) % 1, 0.35, 1.0)
        return hsv(hue, 0.25 + 0.45 * y / h, 0.98 - 0.2 * y / h)

    return png(w, h, pixel)


def icon(n):
    """A 48x48 badge: a coloured disc with a white ring, a bar or a dot inside."""
    size = 48
    hue = n / 6.0
    c = (size - 1) / 2

    def pixel(x, y):
        d = math.hypot(x - c, y - c)
        if d > 23:
            return (255, 255, 255)
        inner = [d < 7, abs(x - c) < 4 and abs(y - c) < 12, abs(y - c) < 4 and abs(x - c) < 12,
                 abs(x - y) < 4 and d < 14, 10 < d < 14, abs(x - c) + abs(y - c) < 11][n % 6]
        if inner or 19 < d < 21:
            return (255, 255, 255)
        return hsv(hue, 0.6, 0.75)

    return png(size, size, pixel)


def main(argv):
    out = Path(argv[1] if len(argv) > 1 else Path(__file__).resolve().parents[2] / "www/page/img")
    out.mkdir(parents=True, exist_ok=True)
    for n in range(6):
        (out / f"icon-{n + 1}.png").write_bytes(icon(n))
    for n in range(24):
        (out / f"photo-{n + 1:02d}.png").write_bytes(photo(n))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
