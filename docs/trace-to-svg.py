#!/usr/bin/env python3
"""Draws a corio trace as an SVG timeline, offline.

The input is Chrome trace-event JSON as corio writes it
(`EventLoop::trace_json`, or `CORIO_TRACE=/path/{pid}-{loop}.json`): pid is
the loop; tid 0 its `run_once` track (iterations, their phases, each item
run); tid N task N's track (steps; wake, spawn and finish instants). The
picture has a time axis, one lane per loop (its iterations; the phases
select, remote, timers and run under them; the steps and callbacks of "run"
under those) and one lane per task (its steps; each wake a dot, with an
arrow from what woke it). The same input gives the same SVG, byte for byte.

    python3 docs/trace-to-svg.py TRACE.json [--from MS] [--to MS] [--width PX]
                                 [--title TEXT] [-o OUT.svg]
    python3 docs/trace-to-svg.py TRACE.json --from MS --to MS --slice OUT.json

Times are milliseconds since the trace began. --slice writes the window's
events (and the names and spawn sites their lanes need) as a smaller trace
instead of drawing it: that is how docs/img/crawler-*.json were cut from a
whole run. Only the standard library is used.
"""

import argparse
import json
import math
import sys
from xml.sax.saxutils import escape

PHASES = {"select": "#6b9be8", "remote": "#b08fd8", "timers": "#f0a030", "run": "#8cc88c"}
ITEMS = {"step": "#2e7d32", "callback": "#9e9e9e", "io callback": "#4db6ac"}
ITERATION, WAKE, TIMER, FD, SPAWN = "#e3e8ec", "#d84315", "#e08000", "#1a4fa0", "#1565c0"
LEFT, RIGHT, TOP = 190, 16, 58  # the plot's margins, px
LOOP_LANE, LANE = 54, 18  # lane heights, px
CHAR = 5.6  # a character's width at font-size 10, roughly


def fmt(x):
    """A coordinate, with one decimal: the SVG stays small and stable."""
    return f"{x:.1f}"


def duration(us):
    return f"{us / 1000:.1f} ms" if us >= 1000 else f"{us:.1f} µs"


def hover(e):
    """A tooltip: the event, when, how long, its arguments."""
    args = ", ".join(f"{k} {v}" for k, v in sorted(e.get("args", {}).items()))
    text = f'{e["name"]} at {e["ts"] / 1000:.3f} ms'
    text += f', {duration(e["dur"])}' if "dur" in e else ""
    return escape(text + (f" ({args})" if args else ""))


def site(at):
    """A spawn site, `examples/crawler.rs:198:29`, as `crawler.rs:198`."""
    return ":".join(at.rsplit("/", 1)[-1].split(":")[:2])


class Svg:
    """The picture being written, and the window's time-to-x mapping."""

    def __init__(self, t0, t1, width):
        self.t0, self.t1, self.width = t0, t1, width
        self.plot = width - LEFT - RIGHT
        self.out = []

    def x(self, t):
        t = min(max(t, self.t0), self.t1)
        return LEFT + (t - self.t0) / (self.t1 - self.t0) * self.plot

    def add(self, s):
        self.out.append(s)

    def text(self, x, y, s, size=10, anchor="start", fill="#222", bold=False):
        weight = ' font-weight="bold"' if bold else ""
        self.add(f'<text x="{fmt(x)}" y="{fmt(y)}" font-size="{size}" text-anchor="{anchor}" '
                 f'fill="{fill}"{weight}>{escape(s)}</text>')

    def bar(self, e, y, h, fill, labels=(), stroke=None, dark=False):
        """A span, clipped to the window, with the first label that fits."""
        x1, x2 = self.x(e["ts"]), self.x(e["ts"] + e["dur"])
        w = max(x2 - x1, 1.0)
        line = f' stroke="{stroke}" stroke-width="0.6"' if stroke else ""
        self.add(f'<rect x="{fmt(x1)}" y="{fmt(y)}" width="{fmt(w)}" height="{h}" '
                 f'fill="{fill}"{line}><title>{hover(e)}</title></rect>')
        fits = [label for label in labels if len(label) * CHAR + 4 <= w]
        if fits:
            self.text(x1 + w / 2, y + h - 3.5, fits[0], 9.5, "middle", "#fff" if dark else "#222")


def window(events, t_from, t_to):
    """The window in µs, and the events that overlap it."""
    timed = [e for e in events if "ts" in e]
    t0 = min(e["ts"] for e in timed) if t_from is None else t_from * 1000
    t1 = max(e["ts"] + e.get("dur", 0) for e in timed) if t_to is None else t_to * 1000
    inside = [e for e in timed if e["ts"] <= t1 and e["ts"] + e.get("dur", 0) >= t0]
    return t0, t1, inside


def slice_trace(events, inside):
    """The window's events, with the metadata and spawns of their tracks."""
    tracks = {(e["pid"], e["tid"]) for e in inside}
    keep = [e for e in events if e in inside or (
        (e["ph"] == "M" or e["name"] == "spawn") and (e["pid"], e["tid"]) in tracks)]
    lines = ",\n".join(json.dumps(e, separators=(",", ":"), ensure_ascii=False) for e in keep)
    return '{"displayTimeUnit":"ns","traceEvents":[' + lines + "\n]}\n"


def axis(svg, bottom):
    """Ticks at 1, 2 or 5 times a power of ten, about eight in the window."""
    raw = (svg.t1 - svg.t0) / 8
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    decimals = max(0, math.ceil(-math.log10(step / 1000) - 1e-9))
    svg.text(8, TOP - 9, "time since the trace began, ms", 9.5, fill="#555")
    tick = math.ceil(svg.t0 / step) * step
    while tick <= svg.t1 + 1e-9:
        x = svg.x(tick)
        svg.add(f'<line x1="{fmt(x)}" y1="{TOP - 6}" x2="{fmt(x)}" y2="{fmt(bottom)}" '
                f'stroke="#ddd" stroke-width="0.6"/>')
        svg.text(x, TOP - 9, f"{tick / 1000:.{decimals}f}", 9.5, "middle", "#555")
        tick += step


def loop_lane(svg, y, name, loop):
    """Iterations, their phases under them, the items run under "run"."""
    svg.add(f'<rect x="0" y="{y}" width="{svg.width}" height="{LOOP_LANE}" fill="#f6f8fa"/>')
    svg.text(8, y + 14, name, 10.5, bold=True)
    for row, label in ((12, "iterations"), (28, "phases"), (45, "items run")):
        svg.text(LEFT - 8, y + row, label, 9, "end", "#666")
    for e in loop:
        name, args = e["name"], e.get("args", {})
        if name == "iteration":
            svg.bar(e, y + 3, 11, ITERATION, stroke="#90a4ae")
        elif name == "select":
            timeout = args["timeout_ms"]
            wait = "no timeout" if timeout is None else f"timeout {duration(timeout * 1000)}"
            took = f"select {duration(e['dur'])}"
            svg.bar(e, y + 17, 13, PHASES[name], [f"{took} ({wait}): {args['fds']} fds", took, "select"])
        elif name in PHASES:
            count = args.get("items", args.get("fired", ""))
            svg.bar(e, y + 17, 13, PHASES[name], [f"{name}: {count}", name, name[0]])
        elif e.get("cat") == "step":
            svg.bar(e, y + 34, 13, ITEMS["step"], [name, str(args["task"])], dark=True)
        elif name in ITEMS:
            svg.bar(e, y + 34, 13, ITEMS[name])
    fds = {}  # fds reported ready, grouped by the select that reported them
    for e in loop:
        x = svg.x(e["ts"])
        if e["ph"] != "i" or not svg.t0 <= e["ts"] <= svg.t1:
            continue
        if e["name"].startswith("fd "):
            fds.setdefault(e["ts"], []).append(str(e["args"]["fd"]))
        elif e["name"] == "timer":
            svg.add(f'<path d="M{fmt(x)},{y + 14} l5,8 l-5,8 l-5,-8 z" fill="{TIMER}" stroke="#333" '
                    f'stroke-width="0.5"><title>{hover(e)}</title></path>')
            svg.text(x + 7, y + 13, f"timer, {duration(e['args']['late_us'])} late", 9, fill="#8a4a00")
        else:  # the ready queue gave memory back
            svg.add(f'<circle cx="{fmt(x)}" cy="{y + 23}" r="2.5" fill="#555">'
                    f'<title>{hover(e)}</title></circle>')
    times = sorted(fds) + [2 * svg.t1]
    for ts, after in zip(times, times[1:]):
        x, label = svg.x(ts), "fd " + ",".join(fds[ts])
        svg.add(f'<path d="M{fmt(x - 4)},{y + 10} l8,0 l-4,7 z" fill="{FD}">'
                f'<title>{label} ready at {ts / 1000:.3f} ms</title></path>')
        if svg.x(after) - x > len(label) * 5 + 8 and x + len(label) * 5 < svg.width:
            svg.text(x + 5, y + 10, label, 8.5, fill=FD)


def task_marks(svg, e, y, source_y):
    """A spawn, a finish, or a wake with its arrow from `source_y`."""
    x = svg.x(e["ts"])
    if e["name"] == "spawn":
        svg.add(f'<path d="M{fmt(x)},{fmt(y - 6)} l5,6 l-5,6 z" fill="{SPAWN}">'
                f'<title>{hover(e)}</title></path>')
    elif e["name"] == "finish":
        svg.add(f'<rect x="{fmt(x - 1)}" y="{fmt(y - 7)}" width="2.5" height="14" fill="#000">'
                f'<title>{hover(e)}</title></rect>')
    elif e["name"] == "wake":
        if source_y is not None and source_y != y:
            down = source_y < y
            svg.add(f'<line x1="{fmt(x)}" y1="{fmt(source_y + (6 if down else -6))}" x2="{fmt(x)}" '
                    f'y2="{fmt(y + (-4 if down else 4))}" stroke="{WAKE}" stroke-width="0.9" '
                    f'stroke-opacity="0.7" marker-end="url(#wake)"/>')
        svg.add(f'<circle cx="{fmt(x)}" cy="{fmt(y)}" r="3" fill="#fff" stroke="{WAKE}" '
                f'stroke-width="1.4"><title>{hover(e)}</title></circle>')


def legend(svg, y):
    x = 12
    swatches = [("iteration", ITERATION)] + list(PHASES.items()) + [
        ("task step", ITEMS["step"]), ("callback", ITEMS["callback"]), ("I/O callback", ITEMS["io callback"])]
    for label, colour in swatches:
        svg.add(f'<rect x="{fmt(x)}" y="{y - 9}" width="12" height="10" fill="{colour}" '
                f'stroke="#90a4ae" stroke-width="0.5"/>')
        svg.text(x + 16, y, label)
        x += 24 + len(label) * CHAR
    marks = [
        (f'<path d="M{{x}},{y - 9} l8,0 l-4,7 z" fill="{FD}"/>', "fd ready"),
        (f'<path d="M{{x}},{y - 10} l4,6 l-4,6 l-4,-6 z" fill="{TIMER}"/>', "timer fired"),
        (f'<circle cx="{{x}}" cy="{y - 4}" r="3" fill="#fff" stroke="{WAKE}" stroke-width="1.4"/>',
         "wake (arrow: from the waker)"),
        (f'<path d="M{{x}},{y - 10} l5,6 l-5,6 z" fill="{SPAWN}"/>', "spawn"),
        (f'<rect x="{{x}}" y="{y - 10}" width="2.5" height="12" fill="#000"/>', "finish"),
    ]
    for shape, label in marks:
        svg.add(shape.format(x=fmt(x + 2)))
        svg.text(x + 12, y, label)
        x += 22 + len(label) * CHAR


def render(events, t0, t1, inside, width, title):
    loops = {e["pid"]: e["args"]["name"] for e in events if e["name"] == "process_name"}
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in events if e["name"] == "thread_name"}
    sites = {(e["pid"], e["tid"]): site(e["args"]["at"]) for e in events if e["name"] == "spawn"}
    inside = sorted(inside, key=lambda e: (e["ts"], e["pid"], e["tid"], e["name"]))
    pids = sorted({e["pid"] for e in inside})
    tasks = {p: sorted({e["tid"] for e in inside if e["pid"] == p and e["tid"] != 0}) for p in pids}
    # The middle of each track's lane (a loop's: its items row).
    mid, y = {}, TOP
    for p in pids:
        mid[(p, 0)], y = y + 40, y + LOOP_LANE
        for t in tasks[p]:
            mid[(p, t)], y = y + LANE / 2, y + LANE
    bottom, height = y, y + 64

    def count(name):
        return sum(1 for e in inside if e["name"] == name and e["tid"] != 0)

    desc = (f"A timeline from {t0 / 1000:.3f} to {t1 / 1000:.3f} ms since the trace began: "
            f"{sum(e['name'] == 'iteration' for e in inside)} iterations of the loop with their phases "
            f"and the items each ran, {count('step')} steps on {sum(map(len, tasks.values()))} task "
            f"lanes, and {count('wake')} wakes, each an arrow from what woke the task.")
    svg = Svg(t0, t1, width)
    svg.add(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" '
            'font-size="11" fill="#222">')
    svg.add(f"<title>{escape(title)}</title>")
    svg.add(f"<desc>{escape(desc)}</desc>")
    svg.add('<defs><marker id="wake" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="5" '
            f'markerHeight="5" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{WAKE}"/></marker></defs>')
    svg.add(f'<rect width="{width}" height="{height}" fill="#fff"/>')
    svg.text(12, 22, title, 14, bold=True)
    axis(svg, bottom)
    for p in pids:
        loop = [e for e in inside if (e["pid"], e["tid"]) == (p, 0)]
        loop_lane(svg, mid[(p, 0)] - 40, loops.get(p, f"loop {p}"), loop)
        for t in tasks[p]:
            y = mid[(p, t)] - LANE / 2
            if t % 2 == 0:
                svg.add(f'<rect x="0" y="{fmt(y)}" width="{width}" height="{LANE}" fill="#fafafa"/>')
            svg.text(8, y + 12.5, names.get((p, t), f"Task-{t}"))
            if (p, t) in sites:
                svg.text(LEFT - 8, y + 12.5, sites[(p, t)], 8.5, "end", "#888")
            for e in inside:
                if (e["pid"], e["tid"], e["name"]) == (p, t, "step"):
                    svg.bar(e, y + 3, LANE - 6, ITEMS["step"])
    # Marks over the bars; a wake's arrow starts at the task that woke it,
    # else (a callback, the timer heap, another thread) at the loop.
    task_of = {(key[0], name): key for key, name in names.items() if key[1] != 0}
    for e in inside:
        if e["tid"] != 0 and e["ph"] == "i" and t0 <= e["ts"] <= t1:
            by = e.get("args", {}).get("by")
            source = task_of.get((e["pid"], by), (e["pid"], 0))
            task_marks(svg, e, mid[(e["pid"], e["tid"])], mid.get(source))
    legend(svg, height - 24)
    svg.add("</svg>")
    return "\n".join(svg.out) + "\n"


def main(argv=None):
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("trace", help="a trace JSON file, as corio writes it")
    cli.add_argument("--from", dest="t_from", type=float, help="the window's start, ms")
    cli.add_argument("--to", dest="t_to", type=float, help="the window's end, ms")
    cli.add_argument("--width", type=int, default=1000, help="the picture's width, px (1000)")
    cli.add_argument("--title", help="the picture's title")
    cli.add_argument("--slice", metavar="OUT.json", help="write the window as a trace, not a picture")
    cli.add_argument("-o", "--output", metavar="OUT.svg", help="where the SVG goes (standard output)")
    opts = cli.parse_args(argv)
    with open(opts.trace, encoding="utf-8") as f:
        events = json.load(f)["traceEvents"]
    t0, t1, inside = window(events, opts.t_from, opts.t_to)
    if t1 <= t0 or not inside:
        cli.error("nothing in that window")
    if opts.slice:
        out, text = opts.slice, slice_trace(events, inside)
    else:
        title = opts.title or f"A corio trace, {t0 / 1000:.3f} to {t1 / 1000:.3f} ms"
        out, text = opts.output, render(events, t0, t1, inside, opts.width, title)
    # UTF-8 and "\n" whatever the locale: the same bytes everywhere.
    if out:
        with open(out, "wb") as f:
            f.write(text.encode("utf-8"))
    else:
        sys.stdout.buffer.write(text.encode("utf-8"))


if __name__ == "__main__":
    main()
