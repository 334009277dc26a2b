"""The figures each benchmark prints, read back from its saved output, with the
target the issues set for them. bench/plot.py draws them.

One reader per benchmark, keyed by the name bench/run.sh saves its output
under (<name>.txt). A reader returns a list of Figure; a figure a run did not
print (a case filtered out, a bench stopped early) is simply absent. The
readers follow the benchmarks' own printed tables, so a change to a table's
columns shows up here as a missing figure, which plot.py reports.
"""
import re
from dataclasses import dataclass


@dataclass
class Figure:
    label: str    # what was measured, short
    value: float
    unit: str
    target: float
    higher_is_better: bool
    reference: str = ""  # set when `target` is a peer's figure measured in the same run, not an issue's target

    def score(self):
        """Measured against target: 1.0 is exactly on target, above 1 is better than it."""
        if self.value == 0:
            return 0.0 if self.higher_is_better else float("inf")
        return self.value / self.target if self.higher_is_better else self.target / self.value


_SI = {"": 1.0, "k": 1e3, "M": 1e6, "G": 1e9}


def _number(text):
    """A Google Benchmark counter ("611.625k/s", "72.15k", "3.70175k") as a float."""
    m = re.match(r"^([0-9.]+)([kMG]?)(/s)?$", text.strip())
    if not m:
        raise ValueError(f"not a number: {text!r}")
    return float(m.group(1)) * _SI[m.group(2)]


def gbench_rows(text):
    """Google Benchmark console rows (--benchmark_counters_tabular=true): {name: {column: cell}}.

    Time and CPU keep their unit in a separate cell, so each is returned in
    milliseconds under "time_ms" / "cpu_ms"."""
    rows, header = {}, None
    to_ms = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}
    for line in text.splitlines():
        cells = line.split()
        if not cells or set(line.strip()) == {"-"}:
            continue
        if cells[0] == "Benchmark":
            header = cells
            continue
        if header is None or not cells[0].startswith("BM_") or len(cells) < 5:
            continue
        if cells[2] not in to_ms or cells[4] not in to_ms:
            continue  # a repetition's _cv row: percentages, not times
        row = {"time_ms": float(cells[1]) * to_ms[cells[2]], "cpu_ms": float(cells[3]) * to_ms[cells[4]]}
        # header: Benchmark Time CPU Iterations <counters...>; cells: name t unit c unit iters <counters...>
        for column, cell in zip(header[4:], cells[6:]):
            try:
                row[column] = _number(cell)
            except ValueError:
                pass
        rows[cells[0]] = row
    return rows


def markdown_rows(text):
    """Rows of the markdown tables a benchmark prints, each as a list of stripped cells."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        out.append([c.strip() for c in line.strip("|").split("|")])
    return out


def _float(cell):
    return float(cell.replace(",", "").split()[0])


def _first(rows, names):
    """The first of `names` the run printed (the median of repetitions before a single run)."""
    for name in names:
        if name in rows:
            return rows[name]
    return None


def read_metrics(text):
    rows, figs = gbench_rows(text), []
    kubelet = _first(rows, ("BM_KubeletSummaryScrape_median", "BM_KubeletSummaryScrape"))
    if kubelet:
        figs.append(Figure("kubelet summary, 200 pods x 3 containers: CPU per scrape",
                           kubelet["cpu_ms"], "ms", 5, False))
    # /1: the encoder's per-resource cache on, as the batcher encodes.
    cluster = _first(rows, ("BM_K8sClusterEmit/1_median", "BM_K8sClusterEmit/1", "BM_K8sClusterEmit_median",
                            "BM_K8sClusterEmit"))
    if cluster:
        figs.append(Figure("k8s_cluster, 10,000 pods, emit + encode: CPU per scrape",
                           cluster["cpu_ms"], "ms", 50, False))
    return figs


def read_otlp(text):
    """Tabular or plain Google Benchmark output; the wire reader's cases (what kobs runs) before the generated
    parser's when both were printed."""
    rows, figs = gbench_rows(text), []
    plain = {m.group(1): _number(m.group(2)) for m in
             re.finditer(r"^(BM_\w+)\s.*items_per_second=([0-9.]+[kMG]?)/s", text, re.M)}
    for signal, label, target in (("Logs", "logs decode + map + encode, one core", 1e6),
                                  ("Spans", "spans decode + map + encode, one core", 5e5)):
        for name in (f"BM_WireDecodeMapEncode{signal}", f"BM_DecodeMapEncode{signal}"):
            rate = rows.get(name, {}).get("items_per_second") or plain.get(name)
            if rate:
                figs.append(Figure(label, rate, "records/s", target, True))
                break
    return figs


def read_pipeline(text):
    rows, figs = gbench_rows(text), []
    for name, row in rows.items():
        rate = row.get("items_per_second") or row.get("rows_per_s")
        if rate is None:
            continue
        if name.startswith("BM_SenderDrain/writers:"):
            writers = int(name.split("writers:")[1].split("/")[0])
            figs.append(Figure(f"disk buffer -> sender -> chDB, {writers} writer(s) ({name[3:]})", rate, "rows/s",
                               3e5 if writers >= 2 else 1.5e5, True))
        elif name.startswith("BM_EmbeddedInsertTwoWriters"):
            figs.append(Figure(f"otel_logs into chDB, two writers ({name[3:]})", rate, "rows/s", 3e5, True))
        elif name.startswith("BM_EmbeddedInsert"):
            figs.append(Figure(f"otel_logs into chDB, one writer ({name[3:]})", rate, "rows/s", 1.5e5, True))
    return figs


def read_pod_logs(text):
    figs = []
    m = re.search(r"^\d+ CRI lines\s+([0-9.]+)\s", text, re.M)
    if m:
        figs.append(Figure("CRI parse, one core", float(m.group(1)), "lines/s", 2e6, True))
    m = re.search(r"^\d+ lines -> chDB\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)", text, re.M)
    if m:
        figs.append(Figure("end to end into chDB, one core", float(m.group(2)), "lines/CPU-s", 3e5, True))
    m = re.search(r"^65 s, nothing written\s+\d+\s+([0-9.]+)", text, re.M)
    if m:
        figs.append(Figure("5,000 idle files: CPU", float(m.group(1)), "% of a core", 1.0, False))
    # The multi-line case: parsing with a rule must still meet the parse target.
    m = re.search(r"^is_first_entry rule \(RE2\)\s+([0-9.]+)\s", text, re.M)
    if m:
        figs.append(Figure("CRI parse + multiline rule, one core", float(m.group(1)), "lines/s", 2e6, True))
    m = re.search(r"^\d+ Java lines, rule\s+([0-9.]+)\s+([0-9.]+)", text, re.M)
    if m:
        figs.append(Figure("end to end with a multiline rule, one core", float(m.group(2)), "lines/CPU-s", 3e5, True))
    return figs


def read_k8s_events(text):
    figs = []
    rows = list(re.finditer(r"^\d+\s+([0-9.]+)\s+[0-9.]+\s+\d+(?:\s+([0-9.]+))?\s*$", text, re.M))
    if rows:
        figs.append(Figure("Kubernetes events end to end (last interval)", float(rows[-1].group(1)), "events/s", 5e4, True))
        if rows[-1].group(2):
            figs.append(Figure("Kubernetes events end to end, per CPU-second (last interval)", float(rows[-1].group(2)),
                               "events/CPU-s", 5e4, True))
    m = re.search(r"RSS growth 100k -> \d+: ([0-9.-]+) MiB", text)
    if m:
        figs.append(Figure("RSS growth, 100k -> 1M events", max(float(m.group(1)), 0.1), "MiB", 20, False))
    return figs


def read_serve(text):
    figs = []
    for cells in markdown_rows(text):
        if len(cells) < 5:
            continue
        try:
            p99 = _float(cells[3])
        except ValueError:
            continue
        if cells[0].startswith("GET :8080 /events/{id} (active"):
            figs.append(Figure("GET /events/{id}, active composition (memory), p99", p99, "ms", 5, False))
        elif cells[0].startswith("GET :8080 /events/{id}"):
            figs.append(Figure("GET /events/{id}, cold composition (store), p99", p99, "ms", 20, False))
        elif cells[0].startswith("GET :8123 /events?composition_id= (active"):
            figs.append(Figure(":8123 /events?composition_id=, active composition (memory), p99", p99, "ms", 5, False))
        elif cells[0].startswith("GET :8123 /events?composition_id= (cold"):
            figs.append(Figure(":8123 /events?composition_id=, cold composition (store), p99", p99, "ms", 20, False))
        elif cells[0].startswith("GET :8123 /events?composition_id="):
            figs.append(Figure(":8123 /events?composition_id=, p99", p99, "ms", 5, False))
    return figs


def read_collect_idle(text):
    """bench/collect_idle/collect_idle_rss.sh: the agent's RSS and PSS, idle (target <= 10 MB)."""
    figs = []
    for key, label in (("Rss", "kobs collect idle RSS"), ("Pss", "kobs collect idle PSS")):
        m = re.search(rf"^{key}:\s+([0-9.]+) MB", text, re.M)
        if m:
            figs.append(Figure(label, float(m.group(1)), "MB", 10, False))
    return figs


def read_alert(text):
    # 7 columns since the recovery scan's share is printed (scan wall s, scan CPU s); CPU s is the cycle's total.
    cpu = [_float(c[3]) for c in markdown_rows(text) if len(c) in (5, 7) and c[0].isdigit()]
    return [Figure("1,000 rules x 100 groups on 10M rows: CPU per minute (worst cycle)", max(cpu), "s", 10, False)] \
        if cpu else []


def read_chcompat_write(text):
    """Rows/s through the :8123 write path against the direct insert of the same run (no issue sets a target)."""
    rows = {}
    for cells in markdown_rows(text):
        if len(cells) == 4 and cells[1].isdigit():
            try:
                rows[(cells[0], int(cells[1]))] = _float(cells[2])
            except ValueError:
                pass
    direct = rows.get(("embedded store, direct insert", 1))
    if not direct:
        return []
    return [Figure(f"{way.split(' (')[0]}, {agents} agent{'s' if agents > 1 else ''}: rows/s", value, "rows/s",
                   direct, True, "direct insert")
            for (way, agents), value in rows.items() if way.startswith("through :8123")]


def read_mcp(text):
    figs = []
    for cells in markdown_rows(text):
        if len(cells) == 6 and cells[1].startswith("kobs"):
            try:
                figs.append(Figure(f"run_query p99: {cells[0]}", _float(cells[3]), "ms", 200, False))
            except ValueError:
                pass
    return figs


def read_presenter(text):
    """bench_presenter: events-presenter /events p99, first and deep page, head and store (target <= 20 ms)."""
    figs = []
    for cells in markdown_rows(text):
        if len(cells) != 7 or cells[0] not in ("first", "after 100 pages"):
            continue
        try:
            rows, p99 = int(cells[1].split()[0]), _float(cells[4])
        except ValueError:
            continue
        figs.append(Figure(f"/events {cells[0]} page at {rows / 1e6:g}M rows, {cells[2]}: p99", p99, "ms", 20, False))
    return figs


def read_sse_capacity(text):
    """bench_sse_capacity's latency windows (events=R latency=S), one per run saved in the file: the
    event -> browser p99 in `kobs all`, target 50 ms up to 1,000 clients and 100 ms up to 10,000."""
    figs = []
    for m in re.finditer(r"^latency, API server notification -> first frame at the client, (\d+) clients,.*\n"
                         r"(?:.*\n)*?\s*p50 [0-9.]+ ms\s+p90 [0-9.]+ ms\s+p99 ([0-9.]+) ms", text, re.M):
        clients, p99 = int(m.group(1)), float(m.group(2))
        figs.append(Figure(f"event -> browser p99, {clients:,} clients (kobs all)", p99, "ms",
                           50 if clients <= 1000 else 100, False))
    return figs


# bench/run.sh's file name (without .txt) -> (chart title, reader)
READERS = {
    "bench_metrics": ("Node, kubelet and cluster metrics (issue 15)", read_metrics),
    "bench_otlp": ("OTLP decode, map and encode (issue 12)", read_otlp),
    "bench_pipeline": ("Write throughput into the embedded store (issue 14)", read_pipeline),
    "bench_pod_logs": ("Pod logs (issue 13)", read_pod_logs),
    "bench_k8s_events": ("Kubernetes events end to end (issue 14)", read_k8s_events),
    "bench_serve": ("Read latency at 10M rows (issue 14)", read_serve),
    "bench_alert": ("Alert evaluation (issue 17)", read_alert),
    "collect_idle_rss": ("Collect role idle memory (issue 14)", read_collect_idle),
    "bench_mcp": ("MCP tools at 10M rows (issue 16)", read_mcp),
    "bench_chcompat_write": ("Node agents' inserts through the :8123 write path", read_chcompat_write),
    "bench_presenter": ("events-presenter /events (issue 5)", read_presenter),
    "bench_sse_capacity": ("Event -> browser latency (issue 14)", read_sse_capacity),
}
