#!/usr/bin/env python3
"""Renders a sweep's report.html in headless Chromium and checks the result.

  check_report_render.py REPORT_DIR [--chromium=/usr/bin/chromium]
                         [--screenshot=OUT.png] [--min-engines=N]

Checks that (1) a 1200x2400 screenshot is not blank: many distinct colours
and a real share of non-white pixels (the PNG is decoded with zlib only, no
PIL), and (2) the DOM Chromium builds holds the four chart <svg> elements
with their ids, polylines and legends. Exits 0 when both hold, 1 otherwise;
prints what it measured either way.
"""
import argparse
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

CHART_IDS = ["recall-vs-facts", "state-vs-context", "cost-vs-context",
             "triangle"]
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
    "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--hide-scrollbars",
]


def decode_png(data):
    """Returns (width, height, channels, rows of bytes) of an 8-bit PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or interlace != 0 or colour not in (0, 2, 4, 6):
        raise ValueError("unsupported PNG: depth %d colour %d interlace %d" %
                         (depth, colour, interlace))
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        base = y * (stride + 1)
        kind, line = raw[base], bytearray(raw[base + 1:base + 1 + stride])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = previous[i]
            c = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 255
        rows.append(bytes(line))
        previous = line
    return width, height, channels, rows


def run(argv, timeout=180):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout, check=False)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("report_dir")
    parser.add_argument("--chromium", default=shutil.which("chromium") or
                        "/usr/bin/chromium")
    parser.add_argument("--screenshot", default="")
    parser.add_argument("--min-engines", type=int, default=1)
    args = parser.parse_args()

    html = os.path.abspath(os.path.join(args.report_dir, "report.html"))
    if not os.path.exists(args.chromium):
        print("FAIL: %s not found; deploy/install-deps.sh installs Debian's "
              "chromium" % args.chromium)
        return 1
    profile = tempfile.mkdtemp(prefix="trilemma-chromium-")
    shot = args.screenshot or os.path.join(profile, "report.png")
    common = CHROMIUM_FLAGS + ["--user-data-dir=" + profile]
    ok = True

    result = run([args.chromium] + common + [
        "--screenshot=" + shot, "--window-size=1200,2400", "file://" + html])
    if not os.path.exists(shot):
        print("FAIL: no screenshot; chromium said:\n" +
              result.stderr.decode(errors="replace")[-2000:])
        return 1
    width, height, channels, rows = decode_png(open(shot, "rb").read())
    colours, non_white = set(), 0
    for row in rows:
        for x in range(0, width * channels, channels):
            pixel = row[x:x + min(channels, 3)]
            colours.add(pixel)
            if min(pixel) < 235:
                non_white += 1
    share = non_white / float(width * height)
    print("screenshot %s: %dx%d, %d distinct colours, %.1f%% non-white" %
          (shot, width, height, len(colours), 100 * share))
    if len(colours) < 64 or share < 0.03:
        print("FAIL: the screenshot looks blank")
        ok = False

    result = run([args.chromium] + common + ["--dump-dom", "file://" + html])
    dom = result.stdout.decode(errors="replace")
    svgs = re.findall(r"<svg\b[^>]*\bid=\"([^\"]+)\"", dom)
    polylines = len(re.findall(r"<polyline\b", dom))
    legends = len(re.findall(r"class=\"legend\"", dom))
    points = len(re.findall(r"class=\"engine-point\"", dom))
    print("dom: %d bytes, svg ids %s, %d polylines, %d legends, %d engine "
          "points" % (len(dom), svgs, polylines, legends, points))
    for chart in CHART_IDS:
        if chart not in svgs:
            print("FAIL: no <svg id=\"%s\"> in the DOM" % chart)
            ok = False
    if polylines < 3 * args.min_engines or legends < 4 or \
            points < args.min_engines:
        print("FAIL: too few chart elements in the DOM")
        ok = False
    if re.search(r"<script\b|<link\b|@import|url\(", dom):
        print("FAIL: the report loads something external")
        ok = False
    shutil.rmtree(profile, ignore_errors=True)
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
