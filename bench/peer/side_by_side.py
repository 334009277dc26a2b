#!/usr/bin/env python3
"""Side-by-side benchmarks of kobs and the OpenTelemetry Collector (issues 12 and 13).

Both ship to the same loopback ClickHouse-HTTP sink (kobs_peer_sink), which
decodes and counts every row. Each process gets the same load, one after the
other on the same machine; its CPU time comes from /proc/<pid>/stat (user +
system, all threads) between the moment the load starts and the moment the
sink has counted every row, so start-up is not billed and the idle tail is.

  side_by_side.py otlp     [--records N] [--build DIR]   same OTLP/HTTP protobuf load (otlp_loadgen)
  side_by_side.py pod_logs [--lines N]   [--build DIR]   same CRI files under a /var/log/pods layout

Prints a Markdown table of records (lines) per CPU-second, RSS and the ratios
against the targets. Standard library only.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TICK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def thread_cpu(pid):
    """CPU seconds per thread name (threads of one name summed)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                head, rest = f.read().rsplit(")", 1)
            name = head.split("(", 1)[1]
            fields = rest.split()
            out[name] = out.get(name, 0) + (int(fields[11]) + int(fields[12])) / TICK
        except OSError:
            pass
    return out


def thread_delta(before, after):
    return {k: round(v - before.get(k, 0), 2) for k, v in sorted(after.items(), key=lambda kv: -kv[1])
            if v - before.get(k, 0) >= 0.01}


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


class RssSampler:
    """Samples VmRSS every 50 ms while a measured stretch runs."""

    def __init__(self, pid):
        self.pid, self.samples, self._stop = pid, [], threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.samples.append(status_kb(self.pid, "VmRSS"))
            except OSError:
                return
            self._stop.wait(0.05)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()

    def max_mib(self):
        return max(self.samples or [0]) / 1024

    def mean_mib(self):
        return sum(self.samples) / max(1, len(self.samples)) / 1024


class Sink:
    def __init__(self, build, workdir):
        port_file = os.path.join(workdir, "sink.port")
        self.log = open(os.path.join(workdir, "sink.log"), "w")
        self.proc = subprocess.Popen([os.path.join(build, "bench/peer/kobs_peer_sink"), "--port-file", port_file],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while not os.path.exists(port_file):
            if time.time() > deadline or self.proc.poll() is not None:
                raise SystemExit("sink did not start; see " + self.log.name)
            time.sleep(0.05)
        self.port = int(open(port_file).read())
        self.url = f"http://127.0.0.1:{self.port}"

    def stats(self):
        with urllib.request.urlopen(self.url + "/sink/stats", timeout=10) as r:
            return json.load(r)

    def rows(self, key):
        return self.stats()["tables"].get(key, {}).get("rows", 0)

    def wait_rows(self, key, target, proc, timeout=600):
        deadline = time.time() + timeout
        while True:
            n = self.rows(key)
            if n >= target:
                return n
            if proc.poll() is not None:
                raise SystemExit(f"{key}: the process under test exited (rc {proc.returncode}) at {n}/{target} rows")
            if time.time() > deadline:
                raise SystemExit(f"{key}: only {n}/{target} rows reached the sink in {timeout} s")
            time.sleep(0.02)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        self.log.close()


def wait_port(port, proc, what, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited at start (rc {proc.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{what} did not listen on {port} in {timeout} s")


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def build_collector():
    script = os.path.join(ROOT, "bench/peer/build_otelcol.sh")
    subprocess.run([script], check=True)
    return subprocess.run([script, "--print-path"], check=True, capture_output=True, text=True).stdout.strip()


def kobs_cmd(build, sink, database, data_dir, extra):
    return [os.path.join(build, "src/app/kobs"), "collect",
            "--set", "store.kind=clickhouse", "--set", f"store.clickhouse.url={sink.url}",
            "--set", f"store.database={database}", "--set", "store.clickhouse.compression=none",
            "--set", "http.listen=127.0.0.1:0", "--set", "otlp.grpc_listen=", "--set", "k8s.events.enabled=false",
            "--set", f"data_dir={data_dir}"] + extra


def kobs_env(args):
    env = dict(os.environ)
    for kv in args.kobs_env:
        k, _, v = kv.partition("=")
        env[k] = v
    return env


def fmt_row(cells):
    return "| " + " | ".join(str(c) for c in cells) + " |"


# ---------------------------------------------------------------- OTLP

COLLECTOR_OTLP = """\
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{otlp_port}
processors:
  batch:
    send_batch_size: {batch}
    timeout: 1s
exporters:
  clickhouse:
    endpoint: {sink_url}
    database: {database}
    create_schema: true
    compress: none
    # The default 5 s ran out on this shared 2-core machine and every retry
    # re-encoded the batch; a longer one bills the Collector only for useful work.
    timeout: 60s
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    logs: {{receivers: [otlp], processors: [batch], exporters: [clickhouse]}}
    traces: {{receivers: [otlp], processors: [batch], exporters: [clickhouse]}}
"""


def run_otlp_side(name, proc, port, sink, database, args, build, perf_file=None):
    wait_port(port, proc, name)
    gen = [os.path.join(build, "bench/peer/otlp_loadgen"), "--url", f"http://127.0.0.1:{port}",
           "--batch", str(args.batch), "--connections", str(args.connections)]
    signals = (("logs", "otel_logs"), ("traces", "otel_traces"))
    results = {sig: {} for sig, _ in signals}
    with RssSampler(proc.pid) as whole:
        # Warm-up: connections, schema, first allocations; not measured.
        for sig, table in signals:
            warm = args.batch * 10
            subprocess.run(gen + ["--signal", sig, "--records", str(warm)], check=True, capture_output=True)
            sink.wait_rows(f"{database}.{table}", warm, proc)
        # Paced first: records at a rate both sides sustain, for the RSS of
        # steady work (unpaced, the Collector's exporter queue holds the
        # backlog in memory, its RSS grows with the run, and Go keeps the
        # heap afterwards).
        for sig, table in signals if args.rss_rate > 0 else ():
            key = f"{database}.{table}"
            n = int(args.rss_rate * args.rss_seconds) // args.batch * args.batch
            base = sink.rows(key)
            c0 = cpu_seconds(proc.pid)
            with RssSampler(proc.pid) as rss:
                subprocess.run(gen + ["--signal", sig, "--records", str(n), "--rate", str(args.rss_rate)],
                               check=True, capture_output=True)
                sink.wait_rows(key, base + n, proc)
            half = rss.samples[len(rss.samples) // 2:]
            results[sig].update(paced_rows=n, paced_cpu=cpu_seconds(proc.pid) - c0, paced_rss_max=rss.max_mib(),
                                paced_rss_steady=sum(half) / max(1, len(half)) / 1024)
        perf = None
        if perf_file:
            perf = subprocess.Popen(["perf", "record"] + args.perf_args.split() + ["-o", perf_file, "-p", str(proc.pid)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Unpaced: as fast as it accepts, for records per CPU-second.
        threads0 = thread_cpu(proc.pid)
        for sig, table in signals:
            key = f"{database}.{table}"
            base = sink.rows(key)
            s0 = cpu_seconds(sink.proc.pid)
            c0, t0 = cpu_seconds(proc.pid), time.time()
            with RssSampler(proc.pid) as rss:
                out = subprocess.run(gen + ["--signal", sig, "--records", str(args.records)], check=True,
                                     capture_output=True, text=True).stdout
                sink.wait_rows(key, base + args.records, proc)
            c1, t1 = cpu_seconds(proc.pid), time.time()
            got = sink.rows(key) - base
            if got != args.records:
                raise SystemExit(f"{name} {sig}: the sink counted {got} rows for {args.records} sent")
            results[sig].update(cpu=c1 - c0, wall=t1 - t0, rows=got, rss_max=rss.max_mib(), rss_mean=rss.mean_mib(),
                                gen=json.loads(out), sink_cpu=cpu_seconds(sink.proc.pid) - s0)
        results["threads"] = thread_delta(threads0, thread_cpu(proc.pid))
        if perf:
            perf.send_signal(signal.SIGINT)
            perf.wait()
    results["rss_max"] = whole.max_mib()
    results["hwm"] = status_kb(proc.pid, "VmHWM") / 1024
    return results


def otlp(args):
    build = os.path.abspath(args.build)
    otelcol = build_collector()
    work = tempfile.mkdtemp(prefix="kobs-peer-otlp-")
    sink = Sink(build, work)
    out = {}
    try:
        sink_cpu0 = sink.stats()["cpu_seconds"]
        # The Collector.
        port = free_port()
        cfg = os.path.join(work, "otelcol.yaml")
        if args.only_kobs:
            cfg = None
        if cfg:
            with open(cfg, "w") as f:
                f.write(COLLECTOR_OTLP.format(otlp_port=port, batch=args.batch_rows, sink_url=sink.url,
                                              database="peer"))
            with open(os.path.join(work, "otelcol.log"), "w") as log:
                proc = subprocess.Popen([otelcol, "--config", cfg], stdout=log, stderr=subprocess.STDOUT)
                try:
                    out["collector"] = run_otlp_side("otelcol", proc, port, sink, "peer", args, build)
                finally:
                    stop(proc)
        # kobs.
        port = free_port()
        cmd = kobs_cmd(build, sink, "kobs", os.path.join(work, "kobs-data"),
                       ["--set", f"otlp.http_listen=127.0.0.1:{port}", "--set", f"batch.max_rows={args.batch_rows}"] +
                       sum((["--set", s] for s in args.kobs_set), []))
        with open(os.path.join(work, "kobs.log"), "w") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=kobs_env(args))
            try:
                out["kobs"] = run_otlp_side("kobs", proc, port, sink, "kobs", args, build,
                                            os.path.join(work, "kobs.perf.data") if args.perf else None)
            finally:
                stop(proc)
        sink_cpu = sink.stats()["cpu_seconds"] - sink_cpu0
        errors = sink.stats()["errors"]
    finally:
        sink.stop()
    if args.only_kobs:
        for sig in ("logs", "traces"):
            r = out["kobs"][sig]
            print(f"kobs {sig}: {r['rows'] / r['cpu']:,.0f} records/CPU-s, RSS max {r['rss_max']:.0f} MiB, "
                  f"paced RSS steady {r.get('paced_rss_steady', 0):.0f} MiB")
        print("kobs CPU s by thread (both signals): " + json.dumps(out["kobs"]["threads"]))
        print(json.dumps(out))
        return
    c, k = out["collector"], out["kobs"]
    print(f"\nOTLP/HTTP protobuf side by side, {args.records} records per signal, batches of {args.batch} records per "
          f"request, {args.connections} connections; work dir {work}\n")
    print(fmt_row(["Signal", "Collector rec/CPU-s", "kobs rec/CPU-s", "Ratio (target >= 5x)",
                   "Collector RSS max MiB", "kobs RSS max MiB", "RSS ratio kobs/collector (target <= 0.33)",
                   "Collector wall rec/s", "kobs wall rec/s"]))
    print(fmt_row(["---"] * 9))
    for sig in ("logs", "traces"):
        cr, kr = c[sig]["rows"] / c[sig]["cpu"], k[sig]["rows"] / k[sig]["cpu"]
        print(fmt_row([sig, f"{cr:,.0f}", f"{kr:,.0f}", f"{kr / cr:.2f}x", f"{c[sig]['rss_max']:.0f}",
                       f"{k[sig]['rss_max']:.0f}", f"{k[sig]['rss_max'] / c[sig]['rss_max']:.2f}",
                       f"{c[sig]['rows'] / c[sig]['wall']:,.0f}", f"{k[sig]['rows'] / k[sig]['wall']:,.0f}"]))
    if args.rss_rate > 0:
        print(f"\nPaced at {args.rss_rate:,.0f} records/s for {args.rss_seconds:.0f} s per signal, before the unpaced runs (RSS in "
              f"the second half of the stretch):\n")
        print(fmt_row(["Signal", "Collector RSS steady MiB", "kobs RSS steady MiB", "Ratio (target <= 0.33)",
                       "Collector CPU % of a core", "kobs CPU % of a core"]))
        print(fmt_row(["---"] * 6))
        for sig in ("logs", "traces"):
            cs, ks = c[sig], k[sig]
            print(fmt_row([sig, f"{cs['paced_rss_steady']:.0f}", f"{ks['paced_rss_steady']:.0f}",
                           f"{ks['paced_rss_steady'] / cs['paced_rss_steady']:.2f}",
                           f"{cs['paced_cpu'] / args.rss_seconds * 100:.0f}",
                           f"{ks['paced_cpu'] / args.rss_seconds * 100:.0f}"]))
    print("\nThe sink's own CPU in the same stretches (it must not be the limit): " + ", ".join(
        f"{who} {sig} {r[sig]['rows'] / max(r[sig]['sink_cpu'], 0.01):,.0f} rows per sink CPU-s"
        for who, r in (("collector", c), ("kobs", k)) for sig in ("logs", "traces")))
    print(f"\nPeak RSS over the whole phase (VmHWM): collector {c['hwm']:.0f} MiB, kobs {k['hwm']:.0f} MiB "
          f"(ratio {k['hwm'] / c['hwm']:.2f}). Sink CPU for everything: {sink_cpu:.2f} s, errors {errors}.")
    print(json.dumps(out))


# ---------------------------------------------------------------- pod logs

# The opentelemetry-collector Helm chart's logsCollection preset (what the
# seed's DaemonSet used): filelog on /var/log/pods with the container
# operator, file paths, checkpoints in file_storage; batch; ClickHouse.
COLLECTOR_FILELOG = """\
extensions:
  file_storage:
    directory: {storage}
receivers:
  filelog:
    include: [{root}/var/log/pods/*/*/*.log]
    exclude: [{root}/var/log/pods/*_otelcol*_*/*/*.log]
    start_at: end
    include_file_path: true
    include_file_name: false
    storage: file_storage
    retry_on_failure:
      enabled: true
    operators:
      - type: container
        id: container-parser
        max_log_size: 102400
processors:
  batch:
    send_batch_size: {batch}
    timeout: 1s
exporters:
  clickhouse:
    endpoint: {sink_url}
    database: {database}
    create_schema: true
    compress: none
    timeout: 60s
service:
  extensions: [file_storage]
  telemetry:
    metrics:
      level: none
  pipelines:
    logs: {{receivers: [filelog], processors: [batch], exporters: [clickhouse]}}
"""

PODS = 8


def pod_files(root):
    files = []
    for p in range(PODS):
        d = os.path.join(root, "var/log/pods", f"bench-ns_app-{p}-7d9f8b6c5d-x{p:03d}_0a1b2c3d-0000-4000-8000-00000000{p:04d}",
                         "app")
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "0.log")
        open(path, "w").close()
        files.append(path)
    return files


def cri_chunk(lines, salt):
    """`lines` CRI lines of about 150 bytes (containerd format, all F)."""
    out = []
    for i in range(lines):
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{(salt * 7919 + i) % 1000000000:09d}Z"
        msg = f"level=info msg=\"handled request\" route=/api/v1/items/{i % 9973} status=200 bytes={i % 4096} dur_ms={i % 97}"
        msg = (msg + " " + "x" * 150)[:150 - len(ts) - 10]
        out.append(f"{ts} stdout F {msg}\n")
    return "".join(out).encode()


def write_lines(files, total, rate=None, chunk=1000):
    """Appends `total` lines round-robin over the files; paced when `rate` (lines/s)."""
    chunks = [cri_chunk(chunk, s) for s in range(8)]
    handles = [open(f, "ab", buffering=0) for f in files]
    start, written, i = time.time(), 0, 0
    try:
        while written < total:
            n = min(chunk, total - written)
            data = chunks[i % len(chunks)] if n == chunk else cri_chunk(n, i)
            handles[i % len(handles)].write(data)
            written += n
            i += 1
            if rate:
                ahead = written / rate - (time.time() - start)
                if ahead > 0:
                    time.sleep(ahead)
    finally:
        for h in handles:
            h.close()
    return time.time() - start


def run_pod_side(name, proc, ready, sink, key, files, lines):
    ready()
    time.sleep(2)  # both discover the (empty) files; start_at: end is offset 0 on them
    base = sink.rows(key)
    s0 = cpu_seconds(sink.proc.pid)
    threads0 = thread_cpu(proc.pid)
    c0, t0 = cpu_seconds(proc.pid), time.time()
    with RssSampler(proc.pid) as rss:
        write_s = write_lines(files, lines)
        sink.wait_rows(key, base + lines, proc)
    c1, t1 = cpu_seconds(proc.pid), time.time()
    sink_cpu = cpu_seconds(sink.proc.pid) - s0
    got = sink.rows(key) - base
    if got != lines:
        raise SystemExit(f"{name}: the sink counted {got} rows for {lines} lines written")
    return dict(cpu=c1 - c0, wall=t1 - t0, rows=got, write_s=write_s, rss_max=rss.max_mib(), rss_mean=rss.mean_mib(),
                hwm=status_kb(proc.pid, "VmHWM") / 1024, sink_cpu=sink_cpu, threads=thread_delta(threads0, thread_cpu(proc.pid)))


def kobs_pod_cmd(build, sink, root, data_dir, batch_rows, extra):
    return kobs_cmd(build, sink, "kobs", data_dir,
                    ["--set", "otlp.http_listen=", "--set", "pod_logs.enabled=true",
                     "--set", f"pod_logs.include={root}/var/log/pods/*/*/*.log", "--set", "pod_logs.metadata=false",
                     "--set", "pod_logs.node_name=bench-node", "--set", f"batch.max_rows={batch_rows}"] + extra)


def started(sink, proc):
    """A readiness check: the process has talked to the sink since now (schema queries at start)."""
    base = sink.stats()["requests"]

    def ready():
        deadline = time.time() + 60
        while time.time() < deadline:
            if proc["p"].poll() is not None:
                raise SystemExit(f"the process under test exited at start (rc {proc['p'].returncode})")
            st = sink.stats()
            if st["requests"] > base:
                return
            time.sleep(0.1)
        raise SystemExit("the process under test did not reach the sink in 60 s")
    return ready


def pod_logs(args):
    build = os.path.abspath(args.build)
    otelcol = build_collector()
    work = tempfile.mkdtemp(prefix="kobs-peer-podlogs-")
    sink = Sink(build, work)
    out = {}
    extra = sum((["--set", s] for s in args.kobs_set), [])
    try:
        if not args.only_rate and not args.only_kobs:
            # The Collector.
            root = os.path.join(work, "c")
            files = pod_files(root)
            storage = os.path.join(work, "otelcol-storage")
            os.makedirs(storage)
            cfg = os.path.join(work, "otelcol.yaml")
            with open(cfg, "w") as f:
                f.write(COLLECTOR_FILELOG.format(storage=storage, root=root, batch=args.batch_rows, sink_url=sink.url,
                                                 database="peer"))
            with open(os.path.join(work, "otelcol.log"), "w") as log:
                holder = {}
                ready = started(sink, holder)
                proc = holder["p"] = subprocess.Popen([otelcol, "--config", cfg], stdout=log, stderr=subprocess.STDOUT)
                try:
                    out["collector"] = run_pod_side("otelcol", proc, ready, sink, "peer.otel_logs", files,
                                                    args.lines)
                finally:
                    stop(proc)
        out.setdefault("collector", None)
        if not args.only_rate:
            # kobs.
            root = os.path.join(work, "k")
            files = pod_files(root)
            cmd = kobs_pod_cmd(build, sink, root, os.path.join(work, "kobs-data"), args.batch_rows, extra)
            with open(os.path.join(work, "kobs.log"), "w") as log:
                holder = {}
                ready = started(sink, holder)
                proc = holder["p"] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=kobs_env(args))
                try:
                    perf = None
                    if args.perf:
                        perf = subprocess.Popen(["perf", "record"] + args.perf_args.split() + ["-o", os.path.join(work, "kobs.perf.data"),
                                                 "-p", str(proc.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    out["kobs"] = run_pod_side("kobs", proc, ready, sink, "kobs.otel_logs", files,
                                               args.lines)
                    if perf:
                        perf.send_signal(signal.SIGINT)
                        perf.wait()
                finally:
                    stop(proc)
        # kobs alone at a steady rate: collect-role RSS with store.kind=clickhouse.
        if args.rate_seconds > 0:
            root = os.path.join(work, "r")
            files = pod_files(root)
            cmd = kobs_pod_cmd(build, sink, root, os.path.join(work, "kobs-rate-data"), args.batch_rows, extra)
            with open(os.path.join(work, "kobs-rate.log"), "w") as log:
                holder = {}
                ready = started(sink, holder)
                proc = holder["p"] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=kobs_env(args))
                try:
                    ready()
                    time.sleep(2)
                    base = sink.rows("kobs.otel_logs")
                    total = int(args.rate * args.rate_seconds)
                    c0 = cpu_seconds(proc.pid)
                    with RssSampler(proc.pid) as rss:
                        write_s = write_lines(files, total, rate=args.rate)
                        sink.wait_rows("kobs.otel_logs", base + total, proc)
                    c1 = cpu_seconds(proc.pid)
                    half = rss.samples[len(rss.samples) // 2:]
                    out["kobs_rate"] = dict(lines=total, write_s=write_s, achieved=total / write_s, cpu=c1 - c0,
                                            rss_max=rss.max_mib(), rss_steady=sum(half) / max(1, len(half)) / 1024,
                                            hwm=status_kb(proc.pid, "VmHWM") / 1024)
                finally:
                    stop(proc)
        errors = sink.stats()["errors"]
    finally:
        sink.stop()
    if args.only_rate:
        out["collector"] = out["kobs"] = None
    c, k = out["collector"], out["kobs"]
    if c and k:
        print_pod_table(args, work, c, k)
    elif k:
        print(f"kobs collect (pod_logs) alone: {k['rows'] / k['cpu']:,.0f} lines/CPU-s, RSS max {k['rss_max']:.0f} MiB, "
              f"mean {k['rss_mean']:.0f} MiB, VmHWM {k['hwm']:.0f} MiB")
    if "kobs_rate" in out:
        r = out["kobs_rate"]
        print(f"kobs collect at a paced {r['achieved']:,.0f} lines/s for {r['write_s']:.1f} s (store.kind=clickhouse): "
              f"RSS steady {r['rss_steady']:.1f} MiB, max {r['rss_max']:.1f} MiB, VmHWM {r['hwm']:.1f} MiB "
              f"(target <= 50 MB = 47.7 MiB), CPU {r['cpu'] / r['write_s'] * 100:.0f}% of a core")
    print(f"Sink errors: {errors}")
    print(json.dumps(out))


def print_pod_table(args, work, c, k):
    cr, kr = c["rows"] / c["cpu"], k["rows"] / k["cpu"]
    print(f"\nPod logs side by side: {args.lines} CRI lines (~150 bytes) appended to {PODS} files under a "
          f"/var/log/pods layout; work dir {work}\n")
    print(fmt_row(["", "lines/CPU-s", "RSS max MiB", "RSS mean MiB", "VmHWM MiB", "wall lines/s", "CPU s"]))
    print(fmt_row(["---"] * 7))
    for name, r in (("Collector (filelog + container)", c), ("kobs collect (pod_logs)", k)):
        print(fmt_row([name, f"{r['rows'] / r['cpu']:,.0f}", f"{r['rss_max']:.0f}", f"{r['rss_mean']:.0f}",
                       f"{r['hwm']:.0f}", f"{r['rows'] / r['wall']:,.0f}", f"{r['cpu']:.2f}"]))
    print(f"\nRatio lines/CPU-s kobs/collector: {kr / cr:.2f}x (target >= 3x); RSS max kobs/collector: "
          f"{k['rss_max'] / c['rss_max']:.2f} (target <= 0.33)")
    print("The sink's own CPU in the same stretches: " + ", ".join(
        f"{who} {r['rows'] / max(r['sink_cpu'], 0.01):,.0f} rows per sink CPU-s" for who, r in (("collector", c), ("kobs", k))))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build/release"))
    ap.add_argument("--batch-rows", type=int, default=10000, help="batch size of both sides (rows)")
    ap.add_argument("--kobs-set", action="append", default=[], help="extra kobs --set key=value")
    ap.add_argument("--kobs-env", action="append", default=[], help="extra environment KEY=VALUE for kobs")
    ap.add_argument("--perf", action="store_true", help="perf record kobs during its measured stretch")
    ap.add_argument("--perf-args", default="-F 499", help="perf record options (e.g. '-F 250 --call-graph dwarf')")
    sub = ap.add_subparsers(dest="cmd", required=True)
    o = sub.add_parser("otlp")
    o.add_argument("--records", type=int, default=300000)
    o.add_argument("--batch", type=int, default=1000, help="records per OTLP request")
    o.add_argument("--connections", type=int, default=4)
    o.add_argument("--rss-rate", type=float, default=10000, help="records/s of the paced stretch (0: skip)")
    o.add_argument("--rss-seconds", type=float, default=10)
    o.add_argument("--only-kobs", action="store_true", help="skip the Collector (for profiling or tuning kobs)")
    p = sub.add_parser("pod_logs")
    p.add_argument("--lines", type=int, default=1000000)
    p.add_argument("--rate", type=float, default=100000, help="lines/s of the paced kobs-only run")
    p.add_argument("--rate-seconds", type=float, default=20, help="length of the paced run (0: skip)")
    p.add_argument("--only-rate", action="store_true", help="only the paced kobs run (for tuning its RSS)")
    p.add_argument("--only-kobs", action="store_true", help="skip the Collector (for tuning kobs)")
    args = ap.parse_args()
    otlp(args) if args.cmd == "otlp" else pod_logs(args)


if __name__ == "__main__":
    main()
