"""clickhouse-connect (Python) and mcp-clickhouse, the official ClickHouse MCP
server built on it, against kobs's ClickHouse-compatible endpoint with a users
file, over the embedded store filled by the demo feed:
  - clickhouse-connect with username/password: its connect-time queries
    (version, system.settings), SELECTs with parameters, command();
  - writes, SYSTEM, INTO OUTFILE, file(), allow_ddl and readonly=0 refused with
    164 READONLY, nothing written, no file created; a wrong password gets 516;
  - mcp-clickhouse's tools: list_databases, list_tables (its system.tables and
    system.columns queries), run_query, and a refused DROP.
Runs with the venv scripts/test-setup.sh makes (tests/.venv); KOBS_BIN names the
kobs binary (ctest sets it). Prints "N passed, N failed"; exits 1 on a failure.
"""
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import clickhouse_connect
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

PASSWORD = "s3cret-py"
passed, failed = 0, 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {what}")
    else:
        failed += 1
        print(f"FAIL {what}")


def refused(what, fn, code="164"):
    try:
        fn()
        check(False, f"{what}: refused")
    except Exception as e:  # clickhouse-connect raises DatabaseError; mcp ToolError
        text = str(e)
        check(f"Code: {code}." in text, f"{what}: refused with code {code} ({text.strip()[:160]})")


class Kobs:
    def __init__(self, data_dir, users_file):
        args = [os.environ["KOBS_BIN"], "all", "--demo", "--data-dir", data_dir,
                "--set", "http.listen=127.0.0.1:0", "--set", "serve.clickhouse_listen=127.0.0.1:0",
                "--set", "mcp.listen=127.0.0.1:0",
                "--set", "batch.max_age=200ms", "--set", f"serve.clickhouse_users_file={users_file}"]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stderr = []
        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True).start()
        self.port = None
        for line in self.proc.stdout:  # the endpoint prints its address once it listens
            m = re.search(r"ClickHouse-compatible endpoint on http://[^:]+:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                break
        if self.port is None:
            raise RuntimeError("kobs exited before its ClickHouse endpoint listened:\n" + "".join(self.stderr[-40:]))
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def main():
    work = tempfile.mkdtemp(prefix="kobs-chpy-")
    users_file = os.path.join(work, "users")
    with open(users_file, "w") as f:
        f.write("# users of :8123\nreader:sha256:%s\n" % hashlib.sha256(PASSWORD.encode()).hexdigest())
    outfile = os.path.join(work, "outfile-from-python")
    kobs = Kobs(os.path.join(work, "data"), users_file)
    try:
        client = clickhouse_connect.get_client(host="127.0.0.1", port=kobs.port, username="reader",
                                               password=PASSWORD)
        check(client.server_version != "", f"connected (server version {client.server_version})")
        count = 0
        for _ in range(150):  # the demo writes its first events right after start
            count = client.query("SELECT count() FROM otel_logs").result_rows[0][0]
            if count >= 3:
                break
            time.sleep(0.2)
        check(count >= 3, f"SELECT count() FROM otel_logs sees the demo's rows ({count})")
        rows = client.query(
            "SELECT Body, LogAttributes['k8s.event.reason'] AS reason FROM otel_logs "
            "WHERE LogAttributes['k8s.event.reason'] != {r:String} ORDER BY Timestamp LIMIT 3",
            parameters={"r": ""}).result_rows
        bodies = [json.loads(r[0]) for r in rows]
        check(len(rows) == 3 and all(b["object"]["kind"] == "Event" for b in bodies),
              "rows with a server-side parameter, each Body a k8s Event")
        check(client.command("SELECT 1") == 1, "command('SELECT 1')")
        refused("INSERT (command)", lambda: client.command("INSERT INTO otel_logs (Body) VALUES ('intruder')"))
        refused("insert()", lambda: client.insert("otel_logs", [["intruder"]], column_names=["Body"]))
        refused("DROP TABLE", lambda: client.command("DROP TABLE otel_logs"))
        refused("SYSTEM STOP MERGES", lambda: client.command("SYSTEM STOP MERGES"))
        refused("INTO OUTFILE", lambda: client.query(f"SELECT 1 INTO OUTFILE '{outfile}'"))
        refused("file()", lambda: client.query("SELECT * FROM file('/etc/hostname', 'LineAsString')"))
        refused("settings={'allow_ddl': 1}", lambda: client.query("SELECT 1", settings={"allow_ddl": 1}))
        refused("SETTINGS readonly = 0", lambda: client.query("SELECT 1 SETTINGS readonly = 0"))
        check(not os.path.exists(outfile), "no INTO OUTFILE file")
        intruders = client.query("SELECT count() FROM otel_logs WHERE Body = 'intruder'").result_rows[0][0]
        check(intruders == 0, "nothing was written")
        check("otel_logs" in [r[0] for r in client.query("SHOW TABLES").result_rows], "otel_logs still there")
        refused("a wrong password",
                lambda: clickhouse_connect.get_client(host="127.0.0.1", port=kobs.port, username="reader",
                                                      password="wrong"), code="516")

        # mcp-clickhouse, configured as its deployment is (environment only).
        os.environ.update(CLICKHOUSE_HOST="127.0.0.1", CLICKHOUSE_PORT=str(kobs.port), CLICKHOUSE_USER="reader",
                          CLICKHOUSE_PASSWORD=PASSWORD, CLICKHOUSE_SECURE="false")
        from mcp_clickhouse import mcp_server

        def tool(name, *args):
            fn = getattr(mcp_server, name)
            return getattr(fn, "fn", fn)(*args)

        databases = json.loads(tool("list_databases"))
        check("default" in databases and "system" in databases, f"mcp list_databases ({databases})")
        tables = tool("list_tables", "default")
        names = [t["name"] for t in (tables["tables"] if isinstance(tables, dict) else json.loads(tables)["tables"])]
        check("otel_logs" in names and "krateo_events" in names, f"mcp list_tables ({len(names)} tables)")
        result = tool("run_query", "SELECT count() AS n FROM otel_logs")
        result = result if isinstance(result, dict) else json.loads(result)
        check(result["columns"] == ["n"] and result["rows"][0][0] >= 3, f"mcp run_query ({result})")
        refused("mcp run_query DROP TABLE", lambda: tool("run_query", "DROP TABLE otel_logs"))
        check("otel_logs" in [r[0] for r in client.query("SHOW TABLES").result_rows], "otel_logs still there (mcp)")
    finally:
        kobs.stop()
        if failed:
            print("--- kobs stderr ---\n" + "".join(kobs.stderr[-40:]))
        shutil.rmtree(work, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
