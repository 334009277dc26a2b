// The official ClickHouse JS client (@clickhouse/client, default settings)
// against kobs's ClickHouse-compatible endpoint (serve.clickhouse_listen) over
// the embedded store, filled by the demo feed:
//   ping; SELECT count() FROM otel_logs; real rows through JSONEachRow and
//   query parameters; the krateo_events table; INSERT (insert() and
//   command()), DDL, SYSTEM, INTO OUTFILE, file() and a settings override
//   refused as read-only (code 164, as a readonly=1 ClickHouse user), with
//   nothing written; harmless settings (HyperDX's defaults, response
//   compression) accepted. Then a second kobs with a users file
//   (serve.clickhouse_users_file): the client authenticates with username and
//   password (basic auth), and a wrong password gets 516 AUTHENTICATION_FAILED.
// Every request the client makes is logged through a recording proxy, so a
// failure shows exactly what the client sent.
import http from 'node:http';
import fs from 'node:fs';
import crypto from 'node:crypto';
import { createClient, ClickHouseLogLevel } from '@clickhouse/client';
import { Kobs, tempDir, sleep, Checks } from './lib/kobs.mjs';

const COMPOSITION = '5f0c3c1e-8a4b-4d52-9a3e-2b7f6c1d9e01';  // collect/demo/demo_feed.h kDemoCompositionId

// A pass-through proxy that records method, URL and the endpoint's answer.
function recordingProxy(targetPort, log) {
  return http.createServer((req, res) => {
    const body = [];
    req.on('data', (c) => body.push(c));
    req.on('end', () => {
      const up = http.request({ host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers },
        (r) => {
          log.push({ method: req.method, url: req.url, status: r.statusCode, code: r.headers['x-clickhouse-exception-code'] });
          res.writeHead(r.statusCode, r.headers);
          r.pipe(res);
        });
      up.on('error', (e) => { res.writeHead(502); res.end(String(e)); });
      up.end(Buffer.concat(body));
    });
  });
}

async function refused(t, what, fn, code = '164') {
  try {
    await fn();
    t.ok(false, `${what}: refused`);
  } catch (e) {
    t.equal(String(e.code), code, `${what}: refused with code ${code} (${e.type || ''}: ${String(e.message).trim()})`);
  }
}

// A kobs with a users file: username/password (basic auth) work, a wrong
// password and no credentials are refused with 516, /ping needs none.
async function authenticated(t, parentDir) {
  const dataDir = tempDir('chjs-auth');
  const usersFile = `${parentDir}/clickhouse-users`;
  const digest = crypto.createHash('sha256').update('s3cret').digest('hex');
  fs.writeFileSync(usersFile, `# users of :8123\nreader:sha256:${digest}\n`);
  let kobs;
  const clients = [];
  const client = (options) => {
    const c = createClient({ log: { level: ClickHouseLogLevel.OFF }, ...options });
    clients.push(c);
    return c;
  };
  try {
    kobs = await new Kobs({ dataDir, demo: false, sets: [`serve.clickhouse_users_file=${usersFile}`] }).start();
    const good = client({ url: kobs.chUrl, username: 'reader', password: 's3cret' });
    t.ok((await good.ping()).success, 'ping with credentials');
    const rows = await (await good.query({ query: 'SELECT count() AS n FROM otel_logs', format: 'JSONEachRow' })).json();
    t.ok(rows.length === 1 && rows[0].n !== undefined, `an authenticated query answers (${JSON.stringify(rows)})`);
    await refused(t, 'an authenticated INSERT', () =>
      good.command({ query: "INSERT INTO otel_logs (Body) VALUES ('x')" }));
    await refused(t, 'a wrong password', () =>
      client({ url: kobs.chUrl, username: 'reader', password: 'wrong' }).query({ query: 'SELECT 1' }), '516');
    await refused(t, 'no credentials (user default, not listed)', () =>
      client({ url: kobs.chUrl }).query({ query: 'SELECT 1' }), '516');
    const ping = await fetch(`${kobs.chUrl}/ping`);
    t.equal(ping.status, 200, '/ping needs no credentials');
  } finally {
    for (const c of clients) await c.close().catch(() => {});
    if (kobs) {
      await kobs.stop().catch(() => kobs.kill());
      if (process.exitCode) console.log(`--- kobs (auth) stderr ---\n${kobs.stderr.slice(-4000)}`);
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main() {
  const t = new Checks('clickhouse_client');
  const dataDir = tempDir('chjs');
  const log = [];
  let kobs, proxy, client;
  try {
    kobs = await new Kobs({ dataDir, sets: ['batch.max_age=200ms'] }).start();
    proxy = recordingProxy(kobs.chPort, log);
    await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
    client = createClient({ url: `http://127.0.0.1:${proxy.address().port}`, log: { level: ClickHouseLogLevel.OFF } });

    t.ok((await client.ping()).success, 'ping');

    // The demo writes its first events right after start; wait for a few.
    let count = 0;
    for (let i = 0; i < 100 && count < 3; ++i) {
      const rs = await client.query({ query: 'SELECT count() AS n FROM otel_logs', format: 'JSONEachRow' });
      count = Number((await rs.json())[0].n);
      if (count < 3) await sleep(200);
    }
    t.ok(count >= 3, `SELECT count() FROM otel_logs sees the demo's rows (${count})`);
    const plain = await (await client.query({ query: 'SELECT count() FROM otel_logs' })).json();
    t.ok(plain.meta?.[0]?.name === 'count()' && Number(plain.data[0]['count()']) >= count,
         `default format (JSON) with meta and data (${JSON.stringify(plain.data)})`);

    // Real rows: the stored k8s events, read back as objects.
    const rows = await (await client.query({
      query: `SELECT Timestamp, ServiceName, SeverityText, Body, LogAttributes['k8s.event.reason'] AS reason
              FROM otel_logs ORDER BY Timestamp LIMIT 5`,
      format: 'JSONEachRow',
    })).json();
    t.ok(rows.length >= 3, `JSONEachRow rows (${rows.length})`);
    const bodies = rows.map((r) => JSON.parse(r.Body));
    t.ok(bodies.every((b) => b.object?.kind === 'Event' && b.object.involvedObject?.namespace === 'demo-system'),
         'each Body is a watch notification of a demo-system Event');
    t.ok(rows.every((r) => typeof r.Timestamp === 'string' && r.Timestamp.length >= 19), 'Timestamp as a string');
    t.ok(rows.some((r) => r.reason === bodies[rows.indexOf(r)].object.reason && r.reason !== ''),
         `LogAttributes carry the reason (${rows.map((r) => r.reason).join(', ')})`);

    // Query parameters ({name:Type}) on the composition-keyed table.
    const comp = await (await client.query({
      query: 'SELECT count() AS n, any(obj_namespace) AS ns FROM krateo_events WHERE composition_id = {c:String}',
      query_params: { c: COMPOSITION },
      format: 'JSONEachRow',
    })).json();
    t.ok(Number(comp[0].n) >= 3 && comp[0].ns === 'demo-system',
         `query_params on krateo_events (${JSON.stringify(comp[0])})`);

    // Streaming a result set row by row.
    const streamed = [];
    const rs = await client.query({ query: 'SELECT number FROM system.numbers LIMIT 1000', format: 'JSONCompactEachRow' });
    for await (const batch of rs.stream()) for (const row of batch) streamed.push(row.json()[0]);
    t.ok(streamed.length === 1000 && Number(streamed[999]) === 999, 'a streamed result set of 1000 rows');

    // Writes are refused as a readonly=1 ClickHouse refuses them.
    await refused(t, 'insert() JSONEachRow into otel_logs', () => client.insert({
      table: 'otel_logs',
      values: [{ Timestamp: '2026-01-01 00:00:00', ServiceName: 'intruder', Body: 'x' }],
      format: 'JSONEachRow',
    }));
    await refused(t, "command('INSERT ... VALUES')", () =>
      client.command({ query: "INSERT INTO otel_logs (ServiceName, Body) VALUES ('intruder', 'x')" }));
    await refused(t, "command('DROP TABLE')", () => client.command({ query: 'DROP TABLE otel_logs' }));
    await refused(t, "command('CREATE TABLE')", () => client.command({ query: 'CREATE TABLE t (a UInt8) ENGINE = Memory' }));
    await refused(t, "command('SYSTEM STOP MERGES')", () => client.command({ query: 'SYSTEM STOP MERGES' }));
    const outfile = `${dataDir}/outfile-from-js`;
    await refused(t, 'SELECT ... INTO OUTFILE', () => client.query({ query: `SELECT 1 INTO OUTFILE '${outfile}'` }));
    t.ok(!fs.existsSync(outfile), 'no INTO OUTFILE file');
    await refused(t, "file('/etc/hostname')", () => client.query({ query: "SELECT file('/etc/hostname')" }));
    await refused(t, 'a settings override (clickhouse_settings allow_ddl)', () =>
      client.query({ query: 'SELECT 1', clickhouse_settings: { allow_ddl: 1 } }));
    await refused(t, 'readonly=0 (clickhouse_settings)', () =>
      client.query({ query: 'SELECT 1', clickhouse_settings: { readonly: '0' } }));
    // HyperDX's per-query defaults are harmless and applied.
    const hdx = await (await client.query({
      query: "SELECT toDateTime('2026-03-15 10:00:00', 'UTC') AS t, number FROM system.numbers LIMIT 5",
      format: 'JSONEachRow',
      clickhouse_settings: { allow_experimental_analyzer: 1, date_time_output_format: 'iso', wait_end_of_query: 0,
                             cancel_http_readonly_queries_on_client_close: 1, max_execution_time: 60,
                             max_result_rows: '2', result_overflow_mode: 'break' },
    })).json();
    t.ok(hdx[0]?.t === '2026-03-15T10:00:00Z', `HyperDX's settings applied (date_time_output_format=iso: ${JSON.stringify(hdx[0])})`);
    const intruders = Number((await (await client.query({
      query: "SELECT count() AS n FROM otel_logs WHERE ServiceName = 'intruder' OR Body = 'x'", format: 'JSONEachRow',
    })).json())[0].n);
    t.equal(intruders, 0, 'nothing was written');
    const tables = (await (await client.query({ query: "SELECT name FROM system.tables WHERE database = currentDatabase() AND name IN ('otel_logs', 't')", format: 'JSONEachRow' })).json()).map((r) => r.name);
    t.equal(tables, ['otel_logs'], 'otel_logs still there, no table t');

    // Response compression makes the client send enable_http_compression=1:
    // accepted (kobs answers uncompressed, which the client reads as is).
    const compressing = createClient({ url: `http://127.0.0.1:${proxy.address().port}`, compression: { response: true },
                                       log: { level: ClickHouseLogLevel.OFF } });
    try {
      const one = await (await compressing.query({ query: 'SELECT 1 AS one', format: 'JSONEachRow' })).json();
      t.equal(one, [{ one: 1 }], 'compression.response (enable_http_compression=1) works');
    } finally {
      await compressing.close();
    }

    // What the client sent: by default only protocol parameters (query_id,
    // query for inserts, param_*), which the endpoint accepts.
    const names = new Set();
    for (const e of log) for (const k of new URL(e.url, 'http://x').searchParams.keys()) names.add(k);
    console.log(`the client sent URL parameters: ${[...names].sort().join(', ')}`);
    const failed = log.filter((e) => e.status !== 200).map((e) => `${e.status} ${e.code}`);
    t.equal(failed, Array(9).fill('403 164'),
            'the nine refusals above are the only failed requests (the default client is otherwise accepted)');

    await authenticated(t, dataDir);
  } finally {
    if (client) await client.close().catch(() => {});
    if (proxy) proxy.close();
    if (kobs) {
      await kobs.stop().catch(() => kobs.kill());
      if (process.exitCode) console.log(`--- kobs stderr ---\n${kobs.stderr.slice(-4000)}`);
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  t.done();
}

main().catch((e) => {
  console.error(`clickhouse_client: ${e.stack || e}`);
  process.exitCode = 1;
});
