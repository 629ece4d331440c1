#!/usr/bin/env python3
"""Draws the plots of docs/performance.md from `consuela-bench sweep --json`.

    cargo run --release -p consuela-bench -- sweep --dev-process --json > docs/plots/sweep.jsonl
    python3 scripts/perf_plots.py docs/plots/sweep.jsonl docs/plots

Writes throughput.svg (register pairs/s vs. requests in flight, registry and
bare-client baseline), latency.svg (p50/p90/p99/max per scenario, log scale)
and memory.svg (resident memory added vs. names held). Standard library only.
"""

import json
import math
import os
import sys

W, H = 720, 420
LEFT, RIGHT, TOP, BOTTOM = 80, 170, 40, 60
COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]


def esc(text):
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Svg:
    def __init__(self, title):
        self.parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
            f'viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">',
            f'<rect width="{W}" height="{H}" fill="white"/>',
            f'<text x="{W / 2}" y="22" text-anchor="middle" font-size="15">{esc(title)}</text>',
        ]

    def add(self, s):
        self.parts.append(s)

    def text(self, x, y, s, anchor="middle", size=12, rotate=None, color="#222"):
        rot = f' transform="rotate({rotate} {x:.1f} {y:.1f})"' if rotate is not None else ""
        self.add(
            f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
            f'fill="{color}"{rot}>{esc(s)}</text>'
        )

    def line(self, x1, y1, x2, y2, color="#ccc", width=1, dash=None):
        d = f' stroke-dasharray="{dash}"' if dash else ""
        self.add(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            f'stroke="{color}" stroke-width="{width}"{d}/>'
        )

    def save(self, path):
        self.parts.append("</svg>")
        with open(path, "w") as f:
            f.write("\n".join(self.parts) + "\n")


def nice_max(v):
    if v <= 0:
        return 1
    exp = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * exp:
            return m * exp
    return 10 * exp


def fmt_num(v):
    if v >= 1e6:
        return f"{v / 1e6:g}M"
    if v >= 1e3:
        return f"{v / 1e3:g}k"
    return f"{v:g}"


def frame(svg, xlabel, ylabel):
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    svg.line(LEFT, TOP + ph, LEFT + pw, TOP + ph, "#444")
    svg.line(LEFT, TOP, LEFT, TOP + ph, "#444")
    svg.text(LEFT + pw / 2, H - 18, xlabel)
    svg.text(20, TOP + ph / 2, ylabel, rotate=-90)
    return pw, ph


def legend(svg, entries):
    x, y = W - RIGHT + 15, TOP + 10
    for i, (label, color) in enumerate(entries):
        svg.add(f'<rect x="{x}" y="{y + i * 20}" width="12" height="12" fill="{color}"/>')
        svg.text(x + 18, y + i * 20 + 10, label, anchor="start")


def throughput(rows, path):
    series = {}
    for r in rows:
        if r["scenario"] == "register" and r["concurrency"] > 0:
            series.setdefault(r["impl"], []).append((r["concurrency"], r["ops_per_sec"]))
    if not series:
        return False
    xs = sorted({c for pts in series.values() for c, _ in pts})
    ymax = nice_max(max(v for pts in series.values() for _, v in pts) * 1.05)
    svg = Svg("register + unregister pairs per second vs. pairs in flight")
    pw, ph = frame(svg, "pairs in flight (log scale)", "pairs / s")
    lx = [math.log2(c) for c in xs]
    x0, x1 = min(lx), max(lx) if max(lx) > min(lx) else min(lx) + 1

    def px(c):
        return LEFT + (math.log2(c) - x0) / (x1 - x0) * pw

    def py(v):
        return TOP + ph - v / ymax * ph

    for c in xs:
        svg.line(px(c), TOP, px(c), TOP + ph, "#eee")
        svg.text(px(c), TOP + ph + 16, c)
    for i in range(6):
        v = ymax * i / 5
        svg.line(LEFT, py(v), LEFT + pw, py(v), "#eee")
        svg.text(LEFT - 6, py(v) + 4, fmt_num(v), anchor="end")
    entries = []
    for i, name in enumerate(sorted(series)):
        color = COLORS[i % len(COLORS)]
        pts = sorted(series[name])
        d = " ".join(f"{px(c):.1f},{py(v):.1f}" for c, v in pts)
        svg.add(f'<polyline points="{d}" fill="none" stroke="{color}" stroke-width="2"/>')
        for c, v in pts:
            svg.add(f'<circle cx="{px(c):.1f}" cy="{py(v):.1f}" r="3" fill="{color}"/>')
        entries.append((name, color))
    legend(svg, entries)
    svg.save(path)
    return True


def latency(rows, path):
    groups = []
    for r in rows:
        lat = r.get("latency_us")
        if not lat:
            continue
        s, c = r["scenario"], r["concurrency"]
        if (s == "register" and c == 64) or s == "whereis-remote" or s == "whereis-local":
            label = f"{s} {r['impl']} c={c}"
            groups.append((label, lat))
    if not groups:
        return False
    keys = ["p50", "p90", "p99", "max"]
    vals = [lat[k] for _, lat in groups for k in keys if lat[k] > 0]
    lo = 10 ** math.floor(math.log10(min(vals)))
    hi = 10 ** math.ceil(math.log10(max(vals)))
    svg = Svg("latency percentiles (microseconds, log scale)")
    pw, ph = frame(svg, "", "µs")

    def py(v):
        v = max(v, lo)
        return TOP + ph - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * ph

    e = math.log10(lo)
    while e <= math.log10(hi) + 1e-9:
        v = 10**e
        svg.line(LEFT, py(v), LEFT + pw, py(v), "#eee")
        svg.text(LEFT - 6, py(v) + 4, fmt_num(v), anchor="end")
        e += 1
    gw = pw / len(groups)
    bw = gw * 0.8 / len(keys)
    for gi, (label, lat) in enumerate(groups):
        gx = LEFT + gi * gw + gw * 0.1
        for ki, k in enumerate(keys):
            v = lat[k]
            x = gx + ki * bw
            y = py(v)
            svg.add(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw - 1:.1f}" '
                f'height="{TOP + ph - y:.1f}" fill="{COLORS[ki]}"><title>{esc(label)} {k} '
                f'{v:.2f} µs</title></rect>'
            )
        words = label.split(" ")
        for li, w in enumerate(words):
            svg.text(LEFT + gi * gw + gw / 2, TOP + ph + 14 + li * 12, w, size=10)
    legend(svg, [(k, COLORS[i]) for i, k in enumerate(keys)])
    svg.save(path)
    return True


def memory(rows, path):
    pts = sorted(
        (r["names"], r["extra"]["rss_delta_kib"], r["extra"]["bytes_per_name"])
        for r in rows
        if r["scenario"] == "memory"
    )
    if not pts:
        return False
    svg = Svg("resident memory added vs. names held (registry process)")
    pw, ph = frame(svg, "names held", "MiB")
    xmax = nice_max(max(n for n, _, _ in pts))
    # The 1 KiB per name target, as a reference line.
    ymax = nice_max(max(max(k for _, k, _ in pts) / 1024, xmax / 1024) * 1.05)

    def px(n):
        return LEFT + n / xmax * pw

    def py(mib):
        return TOP + ph - mib / ymax * ph

    for i in range(6):
        v = ymax * i / 5
        svg.line(LEFT, py(v), LEFT + pw, py(v), "#eee")
        svg.text(LEFT - 6, py(v) + 4, f"{v:g}", anchor="end")
        n = xmax * i / 5
        svg.text(px(n), TOP + ph + 16, fmt_num(n))
    svg.line(px(0), py(0), px(xmax), py(xmax / 1024), "#d62728", 1.5, "6,4")
    d = " ".join(f"{px(n):.1f},{py(k / 1024):.1f}" for n, k, _ in pts)
    svg.add(f'<polyline points="{d}" fill="none" stroke="{COLORS[0]}" stroke-width="2"/>')
    for n, k, b in pts:
        svg.add(f'<circle cx="{px(n):.1f}" cy="{py(k / 1024):.1f}" r="3" fill="{COLORS[0]}"/>')
        svg.text(px(n) + 4, py(k / 1024) - 8, f"{b:.0f} B/name", anchor="start", size=10)
    legend(svg, [("measured", COLORS[0]), ("1 KiB / name", "#d62728")])
    svg.save(path)
    return True


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, out = sys.argv[1], sys.argv[2]
    with open(src) as f:
        rows = [json.loads(line) for line in f if line.strip().startswith("{")]
    os.makedirs(out, exist_ok=True)
    for name, draw in (("throughput", throughput), ("latency", latency), ("memory", memory)):
        path = os.path.join(out, f"{name}.svg")
        print(("wrote " if draw(rows, path) else "no data for ") + path)


if __name__ == "__main__":
    main()
