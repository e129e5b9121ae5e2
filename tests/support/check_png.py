#!/usr/bin/env python3
"""check_png.py PNG WIDTH HEIGHT: the screenshot has the expected size and
shows a page, not a blank one: at least 3% of its pixels are not the
background (the top-left pixel's colour) and it holds more than 16 colours.
Exit 1 with one line naming the problem otherwise. A minimal PNG reader
(8-bit RGB or RGBA, non-interlaced, as Chromium writes them), so the tests
need nothing beyond Python's standard library."""
import struct
import sys
import zlib


def read_png(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit(f"{path}: not a PNG file")
    at, chunks, header = 8, [], None
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        body = data[at + 8:at + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        at += 12 + length
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in (2, 6) or interlace:
        sys.exit(f"{path}: depth {depth}, colour type {colour}, interlace {interlace}: unsupported")
    return width, height, 3 if colour == 2 else 4, zlib.decompress(b"".join(chunks))


def rows(width, height, channels, raw):
    stride, previous, at = width * channels, bytearray(width * channels), 0
    for _ in range(height):
        kind, line = raw[at], bytearray(raw[at + 1:at + 1 + stride])
        at += 1 + stride
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        previous = line
        yield line


def main():
    path, want_width, want_height = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    width, height, channels, raw = read_png(path)
    if (width, height) != (want_width, want_height):
        sys.exit(f"{path}: {width}x{height}, expected {want_width}x{want_height}")
    colours, inked, background = set(), 0, None
    for line in rows(width, height, channels, raw):
        for x in range(0, width * channels, channels * 2):  # every other pixel is enough
            pixel = bytes(line[x:x + 3])
            background = background or pixel
            colours.add(pixel)
            inked += pixel != background
    share = inked / ((width + 1) // 2 * height)
    if share < 0.03 or len(colours) <= 16:
        sys.exit(f"{path}: looks blank ({share:.1%} of pixels drawn, {len(colours)} colours)")
    print(f"{path}: {width}x{height}, {share:.1%} of pixels drawn, {len(colours)} colours")


main()
