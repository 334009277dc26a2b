"""bench/bench_figures.py reads the figures back from the benchmarks' printed
output, and bench/plot.py draws them: checked on output in the shapes the
benchmarks print (the Google Benchmark lines below were printed by
bench_metrics and bench_otlp on this machine), and on every saved result in
docs/bench-results, so a benchmark whose table changes shape fails here rather
than silently dropping out of docs/performance.md's plots."""
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import bench_figures  # noqa: E402

METRICS = """\
---------------------------------------------------------------------------------------------------------------------------
Benchmark                        Time             CPU   Iterations    json_kb     points rowbinary_kb     rss_mb   state_mb
---------------------------------------------------------------------------------------------------------------------------
BM_KubeletSummaryScrape       43.9 ms         3.78 ms          100    650.491    11.615k     3.70175k    228.305    9.94531
---------------------------------------------------------------------------------------------------
Benchmark                        Time             CPU   Iterations     points     rss_mb   state_mb
---------------------------------------------------------------------------------------------------
BM_K8sClusterEmit              833 ms         55.6 ms           12     72.15k    306.758    32.6836
"""

# With --benchmark_repetitions=5 --benchmark_report_aggregates_only=true (the _cv row prints percentages).
METRICS_MEDIANS = """\
----------------------------------------------------------------------------------------------------
Benchmark                         Time             CPU   Iterations     points     rss_mb   state_mb
----------------------------------------------------------------------------------------------------
BM_K8sClusterEmit/1_mean        130 ms         34.0 ms            5     75.02k    309.344    32.9258
BM_K8sClusterEmit/1_median      120 ms         33.1 ms            5     75.02k    309.344    32.9258
BM_K8sClusterEmit/1_stddev     20.1 ms         1.90 ms            5          0          0          0
BM_K8sClusterEmit/1_cv        15.46 %          5.59 %             5       0.00%      0.00%      0.00%
"""

OTLP = """\
-------------------------------------------------------------------------------------------------------
Benchmark                           Time             CPU   Iterations bytes_per_second items_per_second
-------------------------------------------------------------------------------------------------------
BM_ParseLogs                     9850 us         1071 us          635       598.738M/s       933.993k/s
BM_DecodeMapEncodeLogs          13858 us         1635 us          423       392.083M/s       611.625k/s
BM_DecodeMapEncodeSpans         33732 us         3035 us          100       188.263M/s       329.457k/s
"""

ALERT = """\
rows=10000000 rules=1000 groups/rule=100 load=80.0s (rows over the last hour: 1 per 1m window)
| cycle | rule-windows | wall s | CPU s (all threads) | target CPU s/min |
|---|---|---|---|---|
| 1 | 1000 | 9.10 | 8.70 | 10 |
| 2 | 1000 | 9.90 | 9.50 | 10 |
"""

SERVE = """\
| benchmark | setting | p50 ms | p99 ms | max ms | samples |
|---|---|---|---|---|---|
| GET :8080 /events/{id} (cold: store) | 10000000 rows, 1000 compositions (load 90 s) | 13.90 | 18.90 | 25.00 | 300 |
| GET :8080 /events/{id} (active: memory) | 10000000 rows, 50 active, 320 of 320 from memory | 0.40 | 0.90 | 2.00 | 300 |
| GET :8123 /events?composition_id= (cold: store) | 10000000 rows | 12.00 | 16.00 | 20.00 | 300 |
| GET :8123 /events?composition_id= (active: memory) | 10000000 rows, 320 of 320 from memory | 0.30 | 0.80 | 1.00 | 300 |
"""

# Since the recovery scan after each cycle is timed on its own (bench_alert's seven columns).
ALERT_WITH_SCAN = """\
alert_history before the first cycle: 12012036 rows (2 h of evaluations), written in 9.8s
| cycle | rule-windows | wall s | CPU s (all threads) | target CPU s/min | scan wall s | scan CPU s |
|---|---|---|---|---|---|---|
| 1 | 1000 | 8.10 | 7.25 | 10 | 0.210 | 0.190 |
| 2 | 1000 | 7.90 | 7.05 | 10 | 0.180 | 0.170 |
week-long scan on taking the lease (once): wall 0.400 s, CPU 0.390 s
"""

# bench_chcompat_write as printed on this machine.
CHCOMPAT_WRITE = """\
40 batches of 10000 otel_logs rows (2.49 MiB RowBinary each)

| way                                    | agents |     rows/s |    MiB/s |
|----------------------------------------|--------|------------|----------|
| embedded store, direct insert          |      1 |      34443 |      8.6 |
| through :8123 write path (gzip, token) |      1 |      28543 |      7.1 |
| through :8123 write path (gzip, token) |      4 |      17272 |      4.3 |
"""


class Readers(unittest.TestCase):
    def test_serve_active_and_cold_pages_have_their_own_targets(self):
        figs = {f.label: f for f in bench_figures.read_serve(SERVE)}
        self.assertEqual(figs["GET /events/{id}, active composition (memory), p99"].target, 5)
        self.assertEqual(figs["GET /events/{id}, cold composition (store), p99"].target, 20)
        self.assertGreater(figs["GET /events/{id}, cold composition (store), p99"].score(), 1)  # 18.9 <= 20
        self.assertEqual(figs[":8123 /events?composition_id=, active composition (memory), p99"].target, 5)
        self.assertEqual(figs[":8123 /events?composition_id=, cold composition (store), p99"].target, 20)

    def test_k8s_events_reads_wall_and_cpu_rates_old_and_new_shape(self):
        old = "100000  7129  605.4  100000\n1000000  7878  646.2  1000000\nRSS growth 100k -> 1000000: 41.1 MiB (target < 20)\n"
        figs = {f.label: f.value for f in bench_figures.read_k8s_events(old)}
        self.assertEqual(figs["Kubernetes events end to end (last interval)"], 7878)
        self.assertNotIn("Kubernetes events end to end, per CPU-second (last interval)", figs)
        new = "100000  7129  605.4  100000  9000\n1000000  7878  646.2  1000000  11000\n"
        figs = {f.label: f.value for f in bench_figures.read_k8s_events(new)}
        self.assertEqual(figs["Kubernetes events end to end, per CPU-second (last interval)"], 11000)

    def test_presenter_pages_of_head_and_store(self):
        text = ("| /events page | rows | served by | p50 ms | p99 ms | max ms | n |\n|---|---|---|---|---|---|---|\n"
                "| first | 10000000 (load 41 s, head 2.3 s, 10000 events) | head (memory) | 0.41 | 0.93 | 1.20 | 100 |\n"
                "| after 100 pages | 10000000 | store only | 11.00 | 24.50 | 30.00 | 100 |\n")
        first, deep = bench_figures.read_presenter(text)
        self.assertEqual(first.label, "/events first page at 10M rows, head (memory): p99")
        self.assertAlmostEqual(first.value, 0.93)
        self.assertGreater(first.score(), 1)
        self.assertEqual(deep.target, 20)
        self.assertLess(deep.score(), 1)  # 24.5 ms against <= 20 ms

    def test_collect_idle_reads_rss_and_pss(self):
        text = "Rss:               28.5 MB\nPss:               10.4 MB\nPss_Anon:           4.0 MB\n"
        figs = {f.label: f.value for f in bench_figures.read_collect_idle(text)}
        self.assertEqual(figs, {"kobs collect idle RSS": 28.5, "kobs collect idle PSS": 10.4})

    def test_google_benchmark_rows_keep_cpu_time_and_counters(self):
        rows = bench_figures.gbench_rows(METRICS)
        self.assertAlmostEqual(rows["BM_KubeletSummaryScrape"]["cpu_ms"], 3.78)
        self.assertAlmostEqual(rows["BM_KubeletSummaryScrape"]["points"], 11615)
        self.assertAlmostEqual(rows["BM_K8sClusterEmit"]["cpu_ms"], 55.6)

    def test_metrics_figures_against_their_targets(self):
        figs = {f.label.split(",")[0]: f for f in bench_figures.read_metrics(METRICS)}
        self.assertGreater(figs["kubelet summary"].score(), 1)   # 3.78 ms against <= 5 ms
        self.assertLess(figs["k8s_cluster"].score(), 1)          # 55.6 ms against <= 50 ms

    def test_metrics_take_the_median_of_repetitions(self):
        (fig,) = bench_figures.read_metrics(METRICS_MEDIANS)
        self.assertAlmostEqual(fig.value, 33.1)
        self.assertEqual(fig.target, 50)

    def test_otlp_rates_convert_the_si_suffix(self):
        figs = bench_figures.read_otlp(OTLP)
        self.assertEqual([round(f.value) for f in figs], [611625, 329457])
        self.assertEqual([f.target for f in figs], [1e6, 5e5])

    def test_otlp_plain_output_prefers_the_wire_reader(self):
        # bench_otlp without --benchmark_counters_tabular, as saved in docs/bench-results
        text = ("BM_DecodeMapEncodeLogs       1000 us    900 us   100 items_per_second=611.625k/s\n"
                "BM_WireDecodeMapEncodeLogs    737 us    553 us  1239 bytes_per_second=1.13224G/s items_per_second=1.80861M/s\n"
                "BM_WireDecodeMapEncodeSpans  1322 us    844 us   823 bytes_per_second=676.864M/s items_per_second=1.1845M/s\n")
        logs, spans = bench_figures.read_otlp(text)
        self.assertAlmostEqual(logs.value, 1.80861e6)
        self.assertAlmostEqual(spans.value, 1.1845e6)
        self.assertGreater(spans.score(), 1)

    def test_pipeline_sender_drain_targets_by_writers(self):
        text = ("Benchmark                                          Time      CPU   Iterations items_per_second rows_per_batch rows_per_cpu_s rows_per_insert\n"
                "BM_SenderDrain/writers:1/variant:0/manual_time  2961 ms   172 ms  1  101.383k/s  3.095k  102.935k  9.09742k clickstack writers=1\n"
                "BM_SenderDrain/writers:2/variant:0/manual_time  2050 ms   177 ms  1  146.455k/s  3.095k  113.783k  9.09742k clickstack writers=2\n")
        one, two = bench_figures.read_pipeline(text)
        self.assertAlmostEqual(one.value, 101383)
        self.assertEqual(one.target, 1.5e5)
        self.assertEqual(two.target, 3e5)
        self.assertLess(two.score(), 1)

    def test_alert_takes_the_worst_cycle(self):
        (fig,) = bench_figures.read_alert(ALERT)
        self.assertAlmostEqual(fig.value, 9.5)

    def test_chcompat_write_against_the_direct_insert_of_the_same_run(self):
        figs = {f.label: f for f in bench_figures.read_chcompat_write(CHCOMPAT_WRITE)}
        self.assertEqual(sorted(figs), ["through :8123 write path, 1 agent: rows/s",
                                        "through :8123 write path, 4 agents: rows/s"])
        one = figs["through :8123 write path, 1 agent: rows/s"]
        self.assertEqual((one.value, one.target, one.reference), (28543, 34443, "direct insert"))
        self.assertAlmostEqual(one.score(), 28543 / 34443)

    def test_alert_reads_the_table_with_the_scan_columns(self):
        (fig,) = bench_figures.read_alert(ALERT_WITH_SCAN)
        self.assertAlmostEqual(fig.value, 7.25)  # the cycle's CPU, the scan included
        self.assertEqual(fig.target, 10)

    def test_pod_logs_multiline_rule_rate_against_the_parse_target(self):
        # bench_pod_logs --multiline's table, as printed on this machine
        text = ("multiline (1 core, parse+join)          lines/s         MB/s    records\n"
                "no rule                                29855791       4508.2     200000\n"
                "is_first_entry rule (RE2)               6862617       1036.3      20000\n")
        text += ("end to end (1 core)               lines/s  lines/CPU-s      CPU s    RSS MiB     target\n"
                 "100000 Java lines, no rule          28219       171757       0.58      335.9           \n"
                 "100000 Java lines, rule             66679       820984       0.12      314.3           \n")
        parse, e2e = bench_figures.read_pod_logs(text)
        self.assertEqual(parse.value, 6862617)
        self.assertGreater(parse.score(), 1)
        self.assertEqual(e2e.value, 820984)

    def test_sse_capacity_latency_per_run_against_its_client_count_target(self):
        run = ("latency, API server notification -> first frame at the client, {} clients, 20 events/s, 10 s window:\n"
               "  events created 200, (event, client) pairs expected ~200000, got 399990\n"
               "  p50 12.3 ms  p90 20.1 ms  p99 {} ms  max 90.2 ms (100 us bins; upper edge)\n")
        figs = bench_figures.read_sse_capacity("header\n" + run.format(1000, "41.5") + "other\n" + run.format(10000, "180.2"))
        self.assertEqual([(f.value, f.target) for f in figs], [(41.5, 50), (180.2, 100)])
        self.assertGreater(figs[0].score(), 1)
        self.assertLess(figs[1].score(), 1)

    def test_output_without_the_tables_gives_no_figures(self):
        for _, read in bench_figures.READERS.values():
            self.assertEqual(read("benchmark stopped: no store\n"), [])


class SavedResults(unittest.TestCase):
    def test_every_saved_result_is_read_and_plotted(self):
        results = os.path.join(ROOT, "docs", "bench-results")
        saved = [n for n in bench_figures.READERS if os.path.exists(os.path.join(results, n + ".txt"))]
        for name in saved:
            with open(os.path.join(results, name + ".txt")) as f:
                self.assertTrue(bench_figures.READERS[name][1](f.read()), f"{name}.txt: no figure read")
        with tempfile.TemporaryDirectory() as out:
            subprocess.run([sys.executable, os.path.join(ROOT, "bench", "plot.py"), results, out], check=True,
                           stdout=subprocess.DEVNULL)
            for name in saved:
                with open(os.path.join(out, name + "_targets.svg")) as f:
                    self.assertIn("<svg", f.read(2000))


if __name__ == "__main__":
    unittest.main()
