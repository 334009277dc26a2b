#!/usr/bin/env python3
"""Plots for docs/performance.md from benchmark output, drawn by gnuplot
(Debian's gnuplot-nox, installed by scripts/setup.sh) as SVG.

Input: a directory of saved benchmark output, as `KOBS_BENCH_RESULTS=<dir>
bench/run.sh` writes it (one <name>.txt per benchmark). Today it plots the
side-by-side runs against the OpenTelemetry Collector, whose output ends with
one JSON line (bench/peer/side_by_side.py):

  otlp_side_by_side.svg      records per CPU-second and steady RSS, per signal
  pod_logs_side_by_side.svg  lines per CPU-second and peak RSS
  mcp_side_by_side.svg       run_query p50 and p99 per seed query against the
                             official mcp-clickhouse (bench_mcp's table, saved
                             as mcp_side_by_side.txt)

Each bar is labelled with its value and each pair with kobs's ratio to the
Collector, so the comparison reads at a glance.

Every other benchmark whose output is there gets one chart of its figures
against the issues' targets (bench/bench_figures.py reads them): one bar per
figure, its length the measured value over the target (the other way round for
latency, CPU and memory, so longer is always better), a line at 1 where the
target is, and each bar labelled with the figure and the target in their units
(or, where no issue sets a target, the peer measured in the same run, e.g. the
direct insert for the :8123 write path, with the ratio to it).

  <bench>_targets.svg

Usage: bench/plot.py <results dir> [output dir, default docs/plots]
"""
import json
import os
import subprocess
import sys
import tempfile

from bench_figures import READERS


def last_json(path):
    """The last line of a file that parses as a JSON object, or None."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


def bars(svg, title, groups, ylabel_left, ylabel_right, work, peer="OpenTelemetry Collector"):
    """Two panels side by side: left a throughput pair per group, right a memory pair per group.

    groups: [(name, (collector_rate, kobs_rate), (collector_mem, kobs_mem))]; `peer` names the other side.
    """
    data = os.path.join(work, os.path.basename(svg) + ".dat")
    with open(data, "w") as f:
        for name, (cr, kr), (cm, km) in groups:
            f.write(f'"{name}" {cr:.1f} {kr:.1f} {cm:.1f} {km:.1f} {kr / cr:.2f} {km / cm:.2f}\n')
    script = f"""
set terminal svg size 960,420 dynamic font 'sans,12' background rgb 'white'
set output '{svg}'
set multiplot layout 1,2 title "{title}"
set style data histograms
set style histogram clustered gap 1.5
set style fill solid 0.85 border -1
set boxwidth 0.9
set key top left
set grid ytics lc rgb '#dddddd'
set yrange [0:*]
set offsets 0,0,graph 0.12,0
set ylabel "{ylabel_left}"
plot '{data}' using 2:xtic(1) title '{peer}' lc rgb '#8c8c8c', \\
     '' using 3 title 'kobs' lc rgb '#2b6cb0', \\
     '' using 0:3:(sprintf('%.2fx', $6)) with labels offset 1.6,0.8 notitle
set ylabel "{ylabel_right}"
plot '{data}' using 4:xtic(1) title '{peer}' lc rgb '#8c8c8c', \\
     '' using 5 title 'kobs' lc rgb '#2b6cb0', \\
     '' using 0:5:(sprintf('%.2fx', $7)) with labels offset 1.6,0.8 notitle
unset multiplot
"""
    path = os.path.join(work, os.path.basename(svg) + ".gp")
    with open(path, "w") as f:
        f.write(script)
    subprocess.run(["gnuplot", path], check=True)


def plot_otlp(result, out_dir, work):
    c, k = result.get("collector"), result.get("kobs")
    if not c or not k:
        return None
    groups = []
    for sig in ("logs", "traces"):
        if sig in c and sig in k:
            mem = "paced_rss_steady" if c[sig].get("paced_rss_steady") and k[sig].get("paced_rss_steady") else "rss_max"
            groups.append((sig, (c[sig]["rows"] / c[sig]["cpu"], k[sig]["rows"] / k[sig]["cpu"]),
                           (c[sig][mem], k[sig][mem])))
    svg = os.path.join(out_dir, "otlp_side_by_side.svg")
    bars(svg, "OTLP/HTTP protobuf into a ClickHouse sink: kobs vs the OpenTelemetry Collector (labels: kobs/Collector)",
         groups, "records per CPU-second (higher is better)", "RSS MiB at a steady 10k records/s (lower is better)", work)
    return svg


def plot_pod_logs(result, out_dir, work):
    c, k = result.get("collector"), result.get("kobs")
    if not c or not k:
        return None
    groups = [("CRI lines", (c["rows"] / c["cpu"], k["rows"] / k["cpu"]), (c["rss_max"], k["rss_max"]))]
    svg = os.path.join(out_dir, "pod_logs_side_by_side.svg")
    bars(svg, "Pod logs from /var/log/pods into a ClickHouse sink: kobs vs the Collector's filelog receiver",
         groups, "lines per CPU-second (higher is better)", "peak RSS MiB (lower is better)", work)
    return svg


def plot_mcp(text, out_dir, work):
    """bench_mcp's latency table (markdown): p50 and p99 per seed query, kobs vs mcp-clickhouse."""
    by = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 6 or not cells[2].replace(".", "", 1).isdigit():
            continue
        side = "kobs" if cells[1].startswith("kobs") else "peer" if cells[1].startswith("mcp-clickhouse") else None
        if side:
            by.setdefault(cells[0], {})[side] = (float(cells[2]), float(cells[3]))
    groups = [(q, (v["peer"][0], v["kobs"][0]), (v["peer"][1], v["kobs"][1]))
              for q, v in by.items() if "kobs" in v and "peer" in v]
    if not groups:
        return None
    svg = os.path.join(out_dir, "mcp_side_by_side.svg")
    bars(svg, "MCP run_query at 10M otel_logs rows: kobs vs mcp-clickhouse 0.7.0 on kobs's :8123 (labels: kobs/peer)",
         groups, "p50 ms (lower is better)", "p99 ms (lower is better)", work, peer="mcp-clickhouse -> :8123")
    return svg


def _human(v):
    for div, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.3g}{suffix}"
    return f"{v:.3g}"


def plot_targets(name, title, figures, out_dir, work):
    """One horizontal bar per figure: measured/target, longer is better, the target at 1."""
    data = os.path.join(work, name + "_targets.dat")
    with open(data, "w") as f:
        for i, fig in enumerate(figures):
            score = min(fig.score(), 99.0)
            op = ">=" if fig.higher_is_better else "<="
            met = "met" if fig.score() >= 1 else "missed"
            label = f"{_human(fig.value)} {fig.unit} (target {op} {_human(fig.target)}, {met})"
            if fig.reference:  # a peer measured in the same run, not a target
                label = f"{_human(fig.value)} {fig.unit} ({fig.reference} {_human(fig.target)}, {fig.score():.2f}x)"
            color = "0x2b6cb0" if fig.score() >= 1 else "0xc05621"
            f.write(f'{i} {score:.4f} "{fig.label}" "{label}" {color}\n')
    height = 140 + 48 * len(figures)
    top = max(2.0, max(min(fig.score(), 99.0) for fig in figures) * 1.15)
    script = f"""
set terminal svg size 1100,{height} dynamic font 'sans,12' background rgb 'white'
set termoption noenhanced
set output '{os.path.join(out_dir, name + "_targets.svg")}'
set title "{title}\\n(bar: measured / target, inverted for latency, CPU and memory; longer is better)"
set style fill solid 0.85 border -1
set xrange [0:{top:.2f}]
set yrange [-0.7:{len(figures) - 0.3}]
set xlabel "times the target (1 = on target)"
set grid xtics lc rgb '#dddddd'
set lmargin 58
unset key
set arrow from 1, graph 0 to 1, graph 1 nohead lw 2 dt 2 lc rgb '#333333'
plot '{data}' using (0):1:(0):2:($1-0.35):($1+0.35):5:ytic(3) with boxxyerror lc rgb variable, \\
     '' using 2:1:4 with labels left offset 0.6,0 font 'sans,11'
"""
    path = os.path.join(work, name + "_targets.gp")
    with open(path, "w") as f:
        f.write(script)
    subprocess.run(["gnuplot", path], check=True)
    return os.path.join(out_dir, name + "_targets.svg")


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    results = sys.argv[1]
    out_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "docs", "plots")
    os.makedirs(out_dir, exist_ok=True)
    made = []
    with tempfile.TemporaryDirectory(prefix="kobs-plot-") as work:
        for name, fn in (("otlp_side_by_side", plot_otlp), ("pod_logs_side_by_side", plot_pod_logs)):
            result = last_json(os.path.join(results, name + ".txt"))
            if result is None:
                print(f"plot: no {name}.txt with a JSON result line in {results}; skipped")
                continue
            svg = fn(result, out_dir, work)
            if svg:
                made.append(svg)
        mcp_path = os.path.join(results, "mcp_side_by_side.txt")
        if os.path.exists(mcp_path):
            with open(mcp_path) as f:
                svg = plot_mcp(f.read(), out_dir, work)
            if svg:
                made.append(svg)
        for name, (title, read) in READERS.items():
            path = os.path.join(results, name + ".txt")
            if not os.path.exists(path):
                continue
            with open(path) as f:
                figures = read(f.read())
            if not figures:
                print(f"plot: {name}.txt has none of the figures bench/bench_figures.py reads; skipped")
                continue
            made.append(plot_targets(name, title, figures, out_dir, work))
    for svg in made:
        print(f"plot: wrote {os.path.relpath(svg)}")
    return 0 if made else 1


if __name__ == "__main__":
    sys.exit(main())
