"""Flame graph from `perf script` output, for `scripts/bench flame`: folds each sample's call
stack (root first), then draws an SVG in the usual layout (x: share of samples, sorted by name;
y: stack depth, root at the bottom; hover a frame for its name and share). Debian 12 packages no
flame graph tool, so this is ours: Python's standard library only.

    perf script -i perf.data | flame.py [--title TEXT] [--folded FILE] > flame.svg
"""
import argparse
import re
import sys
import zlib
from html import escape

# a frame line of perf script: "\t<addr> <symbol>+0x<off> (<dso>)"
FRAME = re.compile(r"^\s+[0-9a-f]+\s+(.+?)\s+\((.*)\)\s*$")


def fold(lines):
    """{'root;...;leaf': samples} from perf script's blocks (a header line, frames leaf first)."""
    stacks, frames, comm = {}, [], None

    def flush():
        if comm is not None:
            key = ";".join([comm] + frames[::-1])
            stacks[key] = stacks.get(key, 0) + 1

    for line in lines:
        if not line.strip():
            flush()
            frames, comm = [], None
            continue
        if comm is None and not line[0].isspace():
            comm = line.split()[0]
            continue
        m = FRAME.match(line)
        if m:
            sym, dso = m.group(1), m.group(2)
            sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
            if sym == "[unknown]":
                sym = f"[{dso.rsplit('/', 1)[-1]}]"
            frames.append(sym)
    flush()
    return stacks


def tree(stacks):
    """Nested dict node: {'n': samples, 'c': {name: node}}."""
    root = {"n": 0, "c": {}}
    for key, n in stacks.items():
        node = root
        node["n"] += n
        for name in key.split(";"):
            node = node["c"].setdefault(name, {"n": 0, "c": {}})
            node["n"] += n
    return root


def colour(name):
    h = zlib.crc32(name.encode())
    return f"rgb({205 + h % 50},{(h >> 8) % 180 + 40},{(h >> 16) % 50})"


def svg(root, title, width=1200, row=16):
    total = root["n"] or 1
    rects, depth_max = [], 0

    def walk(node, name, x, depth):
        nonlocal depth_max
        w = node["n"] / total * (width - 20)
        if w < 0.3:
            return
        depth_max = max(depth_max, depth)
        rects.append((x, depth, w, name, node["n"]))
        cx = x
        for child in sorted(node["c"]):
            walk(node["c"][child], child, cx, depth + 1)
            cx += node["c"][child]["n"] / total * (width - 20)

    walk(root, "all", 10.0, 0)
    height = (depth_max + 1) * row + 60
    out = [f'<?xml version="1.0" standalone="no"?>',
           f'<svg version="1.1" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           f'xmlns="http://www.w3.org/2000/svg" font-family="Verdana, sans-serif" font-size="11">',
           f'<rect x="0" y="0" width="{width}" height="{height}" fill="#f8f8f0"/>',
           f'<text x="{width / 2}" y="24" text-anchor="middle" font-size="15">{escape(title)}</text>',
           f'<text x="10" y="{height - 8}" font-size="10">{total} samples; width: share of '
           f'samples, hover a frame for its figures</text>']
    for x, depth, w, name, n in rects:
        y = height - 30 - (depth + 1) * row
        label = escape(name)
        tip = f"{label} ({n} samples, {100 * n / total:.2f} %)"
        chars = int((w - 6) / 7)
        text = label if len(name) <= chars else (escape(name[:chars - 2]) + ".." if chars > 3 else "")
        out.append(f'<g><title>{tip}</title><rect x="{x:.2f}" y="{y}" width="{w:.2f}" '
                   f'height="{row - 1}" fill="{colour(name)}" rx="2"/>'
                   + (f'<text x="{x + 3:.2f}" y="{y + row - 4}">{text}</text>' if text else "")
                   + "</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--title", default="flame graph")
    ap.add_argument("--folded", help="also write the folded stacks here")
    args = ap.parse_args()
    stacks = fold(sys.stdin)
    if not stacks:
        print("flame.py: no samples in the input", file=sys.stderr)
        return 1
    if args.folded:
        with open(args.folded, "w") as f:
            for key, n in sorted(stacks.items()):
                f.write(f"{key} {n}\n")
    sys.stdout.write(svg(tree(stacks), args.title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
