// Starts and stops a real kobs process for the end-to-end tests: its binary
// comes from KOBS_BIN (ctest sets it to the built target), its ports from the
// lines it prints on stdout:
//   kobs listening on http://127.0.0.1:<port>  (...)
//   kobs ClickHouse-compatible endpoint on http://127.0.0.1:<port>  (read-only)
// The second line comes once the store is open and the frontend API attached,
// so a started Kobs is ready to answer /events, /notifications and :8123
// (the same moment's log line on stderr is accepted too). With a presenter
// listener (presenterListen), start() also waits for
//   kobs events-presenter API on http://127.0.0.1:<port>  (...)
// and, unless sets holds 'mcp.listen=', for
//   kobs MCP server on http://127.0.0.1:<port>  (...)
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function kobsBinary() {
  const bin = process.env.KOBS_BIN;
  if (!bin) throw new Error('KOBS_BIN is not set (the kobs binary to test)');
  if (!fs.existsSync(bin)) throw new Error(`KOBS_BIN ${bin} does not exist`);
  return bin;
}

export function tempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `kobs-js-${prefix}-`));
}

export class Kobs {
  // role: 'all' | 'serve'; dataDir: the embedded store; sets: --set key=value list;
  // presenterListen: presenter.listen (null: off); env: added to the process's.
  constructor({ role = 'all', demo = true, dataDir, httpListen = '127.0.0.1:0', sets = [], name = 'kobs',
                presenterListen = null, env = {} }) {
    this.args = [role];
    if (demo) this.args.push('--demo');
    this.args.push('--data-dir', dataDir, '--set', `http.listen=${httpListen}`,
                   '--set', 'serve.clickhouse_listen=127.0.0.1:0', '--set', 'log.level=info',
                   // MCP on a free port (tests/js/mcp_sdk.test.mjs reads it back as mcpPort).
                   '--set', 'mcp.listen=127.0.0.1:0',
                   // OTLP on free ports: tests run in parallel (tests/js/otlp*.test.mjs read them back).
                   '--set', 'otlp.http_listen=127.0.0.1:0', '--set', 'otlp.grpc_listen=127.0.0.1:0');
    if (presenterListen) this.args.push('--set', `presenter.listen=${presenterListen}`);
    for (const s of sets) this.args.push('--set', s);
    this.name = name;
    this.withPresenter = Boolean(presenterListen);
    // The MCP listener starts right after the ClickHouse endpoint (unless a set turns it off).
    this.withMcp = !sets.includes('mcp.listen=');
    this.env = { ...process.env, ...env };
    this.stderr = '';
    this.stdout = '';
    this.exited = null;
  }

  // Resolves once both listeners are up and the store is attached.
  async start(timeoutMs = 30000) {
    this.proc = spawn(kobsBinary(), this.args, { stdio: ['ignore', 'pipe', 'pipe'], env: this.env });
    let check = () => {};
    this.proc.stderr.on('data', (d) => { this.stderr += d; check(); });
    this.exitPromise = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => { this.exited = { code, signal }; resolve(this.exited); });
    });
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name} not ready in ${timeoutMs} ms\n${this.stderr}`)), timeoutMs);
      check = () => {
        const http = this.stdout.match(/kobs listening on http:\/\/[^:]+:(\d+)/);
        const ch = this.stdout.match(/ClickHouse-compatible endpoint on http:\/\/[^:]+:(\d+)/) ||
                   this.stderr.match(/ClickHouse-compatible read-only endpoint on port (\d+)/);  // the log line
        const presenter = this.stdout.match(/kobs events-presenter API on http:\/\/[^:]+:(\d+)/);
        const mcp = this.stdout.match(/kobs MCP server on http:\/\/[^:]+:(\d+)/);
        if (http && ch && (presenter || !this.withPresenter) && (mcp || !this.withMcp)) {
          this.port = Number(http[1]);
          this.chPort = Number(ch[1]);
          if (presenter) this.presenterPort = Number(presenter[1]);
          if (mcp) this.mcpPort = Number(mcp[1]);
          clearTimeout(timer);
          resolve();
        }
      };
      this.proc.stdout.on('data', (d) => { this.stdout += d; check(); });
      this.exitPromise.then((e) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited early (${JSON.stringify(e)})\n${this.stderr}`));
      });
    });
    return this;
  }

  get url() { return `http://127.0.0.1:${this.port}`; }
  get chUrl() { return `http://127.0.0.1:${this.chPort}`; }
  get presenterUrl() { return `http://127.0.0.1:${this.presenterPort}`; }

  // SIGTERM and wait for a clean exit (SIGKILL after timeoutMs).
  async stop(timeoutMs = 20000) {
    if (!this.proc || this.exited) return this.exited;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => { if (!this.exited) this.proc.kill('SIGKILL'); }, timeoutMs);
    const e = await this.exitPromise;
    clearTimeout(timer);
    return e;
  }

  // For a finally block: never throws.
  kill() {
    if (this.proc && !this.exited) this.proc.kill('SIGKILL');
  }
}

// Every event GET /events lists (newest first), following the X-Kobs-Next-Before cursor.
// `headers`: sent with each request (e.g. Authorization when auth is on).
export async function allStoredEvents(baseUrl, compositionId, headers = {}) {
  const out = [];
  let before = null;
  for (let page = 0; page < 100; ++page) {
    const q = new URLSearchParams({ limit: '1000' });
    if (compositionId) q.set('composition_id', compositionId);
    if (before) q.set('before', before);
    const r = await fetch(`${baseUrl}/events?${q}`, { headers });
    if (r.status !== 200) throw new Error(`GET /events: ${r.status} ${await r.text()}`);
    const list = await r.json();
    out.push(...list);
    before = r.headers.get('x-kobs-next-before');
    if (!before || list.length === 0) return out;
  }
  throw new Error('GET /events: too many pages');
}

export function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

// An SSE id "<ingest ns>-<ts ns>-<key>" with, on the old API, ":<frame>"
// (0 krateo, 1 composition) -> { cursor: [BigInt x3], frame: 0 | 1 | null }.
export function parseEventId(id) {
  const m = /^(\d+)-(\d+)-(\d+)(?::([01]))?$/.exec(id || '');
  return m ? { cursor: [BigInt(m[1]), BigInt(m[2]), BigInt(m[3])], frame: m[4] === undefined ? null : Number(m[4]) } : null;
}
// Orders two ids by their cursors (the frame is not compared).
export function cmpEventId(a, b) {
  const x = parseEventId(a).cursor, y = parseEventId(b).cursor;
  for (let i = 0; i < 3; ++i) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
  return 0;
}
// The id's ingest time in milliseconds.
export const ingestMs = (id) => Number(parseEventId(id).cursor[0] / 1000000n);

// Polls fn() every 200 ms until it returns something truthy (returned), or
// throws after timeoutMs naming what it waited for.
export async function waitFor(what, timeoutMs, fn) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

// A minimal assertion helper: collects failures and reports them all at the end.
export class Checks {
  constructor(name) { this.name = name; this.failures = []; this.passed = 0; }
  ok(cond, what) {
    if (cond) { this.passed++; console.log(`ok   - ${what}`); }
    else { this.failures.push(what); console.log(`FAIL - ${what}`); }
    return cond;
  }
  equal(actual, expected, what) {
    const a = JSON.stringify(actual), e = JSON.stringify(expected);
    return this.ok(a === e, a === e ? what : `${what}\n       expected ${e}\n       actual   ${a}`);
  }
  done() {
    if (this.failures.length) {
      console.log(`${this.name}: ${this.failures.length} failed, ${this.passed} passed`);
      process.exitCode = 1;
    } else {
      console.log(`${this.name}: all ${this.passed} checks passed`);
    }
  }
}
