// The MCP TypeScript SDK (@modelcontextprotocol/sdk, pinned) against kobs's
// MCP server (mcp.listen) over the embedded store filled by the demo feed:
//   - streamable HTTP: connect (initialize, session, version negotiation),
//     list the tools (read-only annotations), call every tool, and compare
//     the results with the same SQL run on kobs's ClickHouse-compatible
//     endpoint (:8123); the seed README's three agent queries; a write
//     refused as a tool error with nothing changed; the resource and prompt;
//     ping; the session ended with DELETE;
//   - the old HTTP+SSE transport (/sse + /messages): list and call;
//   - the seed README's curl `tools/list` line, unchanged (no session, no
//     Accept header; mcp.auth_disabled here, auth is covered by
//     tests/serve/mcp);
//   - stdio: `kobs mcp --stdio` over the same data directory once the
//     server stopped, through the SDK's StdioClientTransport; a long call
//     cancelled by the SDK (notifications/cancelled) while it runs, its
//     query gone from the store, other calls answered meanwhile.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import { Kobs, kobsBinary, tempDir, waitFor, Checks } from './lib/kobs.mjs';

const COMPOSITION = '5f0c3c1e-8a4b-4d52-9a3e-2b7f6c1d9e01';  // collect/demo/demo_feed.h kDemoCompositionId
const TOOLS = ['composition_timeline', 'list_databases', 'list_tables', 'pod_errors', 'run_query', 'run_select_query'];

// The seed README's three agent queries (pod and service names as there).
const SEED_QUERIES = [
  `SELECT ResourceAttributes['k8s.pod.name'] AS pod,
ResourceAttributes['k8s.namespace.name'] AS ns,
count() AS errors
FROM otel_logs
WHERE SeverityText IN ('ERROR','FATAL')
AND Timestamp > now() - INTERVAL 1 HOUR
GROUP BY pod, ns ORDER BY errors DESC LIMIT 10;`,
  `SELECT Timestamp, Body, ResourceAttributes['k8s.event.reason'] AS reason
FROM otel_logs
WHERE ResourceAttributes['k8s.pod.name'] = 'my-failing-pod'
ORDER BY Timestamp DESC LIMIT 50;`,
  `SELECT TraceId, SpanName, Duration/1e6 AS duration_ms
FROM otel_traces
WHERE ServiceName = 'my-service' AND Duration > 1000000000
ORDER BY Timestamp DESC LIMIT 20;`,
];

// The same statement on :8123, in the shape run_query answers.
async function viaClickHouse(kobs, sql) {
  const q = new URLSearchParams({ default_format: 'JSONCompact', output_format_json_quote_64bit_integers: '0',
                                  output_format_json_quote_decimals: '1', query: sql.replace(/;\s*$/, '') });
  const r = await fetch(`${kobs.chUrl}/?${q}`);
  if (r.status !== 200) throw new Error(`:8123 ${r.status}: ${await r.text()}`);
  const j = await r.json();
  return { columns: j.meta.map((m) => m.name), rows: j.data };
}

// The demo keeps writing while the test runs: an MCP answer is compared with
// :8123's only when :8123 answered the same just before and just after it.
async function agreed(mcpFn, chFn) {
  for (let i = 0; ; ++i) {
    const before = await chFn();
    const got = await mcpFn();
    const after = await chFn();
    if (JSON.stringify(before) === JSON.stringify(after) || i >= 30) return [got, before];
    await new Promise((r) => setTimeout(r, 300));
  }
}

function parsed(result) {
  return JSON.parse(result.content[0].text);
}

async function streamableHttp(t, kobs) {
  const url = new URL(`http://127.0.0.1:${kobs.mcpPort}/mcp`);
  const transport = new StreamableHTTPClientTransport(url);
  const client = new Client({ name: 'kobs-js-test', version: '1.0.0' });
  await client.connect(transport);
  t.equal(client.getServerVersion().name, 'kobs', 'initialize: serverInfo.name');
  t.ok(typeof transport.sessionId === 'string' && transport.sessionId.length >= 32, `a session id (${transport.sessionId})`);
  t.equal(transport.protocolVersion, LATEST_PROTOCOL_VERSION, 'the SDK\'s latest protocol version is negotiated');
  t.ok(client.getServerCapabilities().tools !== undefined, 'tools capability');
  await client.ping();
  t.ok(true, 'ping');

  const { tools } = await client.listTools();
  t.equal(tools.map((x) => x.name).sort(), TOOLS, 'tools/list names');
  t.ok(tools.every((x) => x.annotations?.readOnlyHint === true && x.annotations?.destructiveHint === false),
       'every tool is annotated read-only');
  const listTables = tools.find((x) => x.name === 'list_tables');
  t.equal(Object.keys(listTables.inputSchema.properties),
          ['database', 'like', 'not_like', 'page_token', 'page_size', 'include_detailed_columns'],
          'list_tables takes the official server\'s arguments');

  // list_databases
  const dbs = JSON.parse((await client.callTool({ name: 'list_databases', arguments: {} })).content[0].text);
  const chDbs = (await viaClickHouse(kobs, 'SHOW DATABASES')).rows.map((r) => r[0]);
  t.equal(dbs, chDbs, `list_databases equals SHOW DATABASES on :8123 (${dbs.join(', ')})`);

  // list_tables: one page, then page by page with tokens
  const all = parsed(await client.callTool({ name: 'list_tables', arguments: { database: 'default' } }));
  const chTables = (await viaClickHouse(kobs, "SELECT name FROM system.tables WHERE database = 'default'")).rows.map((r) => r[0]);
  t.equal(all.tables.map((x) => x.name).sort(), [...chTables].sort(), `list_tables names equal system.tables (${chTables.length})`);
  t.equal(all.total_tables, chTables.length, 'total_tables');
  t.equal(all.next_page_token, null, 'no next page');
  const logs = all.tables.find((x) => x.name === 'otel_logs');
  t.equal(Object.keys(logs), ['database', 'name', 'engine', 'create_table_query', 'dependencies_database',
                              'dependencies_table', 'engine_full', 'sorting_key', 'primary_key', 'total_rows',
                              'total_bytes', 'total_bytes_uncompressed', 'parts', 'active_parts', 'total_marks',
                              'comment', 'columns'], 'table fields as the official server\'s');
  t.equal(Object.keys(logs.columns[0]), ['database', 'table', 'name', 'column_type', 'default_kind',
                                         'default_expression', 'comment'], 'column fields as the official server\'s');
  const chColumns = (await viaClickHouse(kobs, "SELECT name, type FROM system.columns WHERE database = 'default' AND table = 'otel_logs' ORDER BY position")).rows;
  t.equal(logs.columns.map((c) => [c.name, c.column_type]), chColumns, 'otel_logs columns equal system.columns');
  const paged = [];
  let token = null;
  for (let i = 0; i < 50; ++i) {
    const page = parsed(await client.callTool({ name: 'list_tables',
      arguments: { database: 'default', page_size: 2, include_detailed_columns: false, ...(token ? { page_token: token } : {}) } }));
    paged.push(...page.tables.map((x) => x.name));
    t.ok(page.tables.every((x) => x.columns.length === 0), `page ${i}: no detailed columns`);
    token = page.next_page_token;
    if (!token) break;
  }
  t.equal(paged.sort(), [...chTables].sort(), 'pages of 2 cover every table once');
  const like = parsed(await client.callTool({ name: 'list_tables', arguments: { database: 'default', like: 'otel_metrics%', not_like: '%summary' } }));
  t.ok(like.tables.length > 0 && like.tables.every((x) => x.name.startsWith('otel_metrics') && !x.name.endsWith('summary')),
       `like / not_like (${like.tables.map((x) => x.name).join(', ')})`);

  // run_query and run_select_query: equal to :8123
  for (const name of ['run_query', 'run_select_query']) {
    const sql = "SELECT count() AS n, countIf(ResourceAttributes['telemetry.source'] = 'k8s-events') AS events FROM otel_logs";
    const [r, ch] = await agreed(async () => parsed(await client.callTool({ name, arguments: { query: sql } })),
                                 () => viaClickHouse(kobs, sql));
    t.equal({ columns: r.columns, rows: r.rows }, ch, `${name} equals :8123 (${JSON.stringify(r.rows)})`);
    t.equal(r.truncated, false, `${name}: not truncated`);
  }
  const rows = "SELECT Timestamp, SeverityText, Body, ResourceAttributes FROM otel_logs ORDER BY Timestamp, Body LIMIT 5";
  const [first, chFirst] = await agreed(async () => parsed(await client.callTool({ name: 'run_query', arguments: { query: rows } })),
                                        () => viaClickHouse(kobs, rows));
  t.equal({ columns: first.columns, rows: first.rows }, chFirst, 'rows with times, strings and maps equal :8123');
  const bound = parsed(await client.callTool({ name: 'run_query', arguments: {
    query: 'SELECT {a:UInt32} + 1 AS b, {s:String} AS s', params: { a: 41, s: "it's" } } }));
  t.equal(bound.rows, [[42, "it's"]], 'params bind {name:Type} placeholders');
  for (const [i, sql] of SEED_QUERIES.entries()) {
    const [r, ch] = await agreed(() => client.callTool({ name: 'run_query', arguments: { query: sql } }),
                                 () => viaClickHouse(kobs, sql));
    t.equal(r.isError, false, `seed agent query ${i + 1} runs`);
    const { columns, rows: rs } = parsed(r);
    t.equal({ columns, rows: rs }, ch, `seed agent query ${i + 1} equals :8123`);
  }

  // Refused: a tool error, nothing changed.
  const before = await viaClickHouse(kobs, "SELECT count() FROM system.tables WHERE database = 'default'");
  for (const sql of ['DROP TABLE otel_logs', "INSERT INTO otel_logs (Body) VALUES ('x')", 'SELECT 1; DROP TABLE otel_logs',
                     "SELECT * FROM file('/etc/passwd', 'LineAsString')", 'SELECT 1 SETTINGS readonly = 0']) {
    const r = await client.callTool({ name: 'run_query', arguments: { query: sql } });
    t.ok(r.isError === true && /Code: (164|62)\./.test(r.content[0].text), `refused: ${sql} (${r.content[0].text.slice(0, 90)})`);
  }
  t.equal(await viaClickHouse(kobs, "SELECT count() FROM system.tables WHERE database = 'default'"), before, 'tables unchanged');

  // Krateo tools
  const [timeline, chEvents] = await agreed(
    async () => parsed(await client.callTool({ name: 'composition_timeline', arguments: { composition_id: COMPOSITION, since: '24h' } })),
    async () => (await viaClickHouse(kobs, `SELECT count() FROM otel_logs WHERE ResourceAttributes['telemetry.source'] = 'k8s-events' AND LogAttributes['krateo.io/composition-id'] = '${COMPOSITION}' AND Timestamp >= now() - INTERVAL 24 HOUR`)).rows[0][0]);
  t.equal(timeline.columns, ['time', 'kind', 'severity', 'source', 'reason', 'message'], 'composition_timeline columns');
  const events = timeline.rows.filter((r) => r[1] === 'event');
  t.ok(events.length > 0 && events.length === chEvents, `composition_timeline has the composition's ${chEvents} events`);
  t.ok(timeline.rows.every((r, i) => i === 0 || timeline.rows[i - 1][0] <= r[0]), 'merged by time');
  const errors = parsed(await client.callTool({ name: 'pod_errors', arguments: { since: '1h' } }));
  t.equal(errors.columns, ['namespace', 'pod', 'error_logs', 'warning_events', 'total', 'last_seen', 'last_message'], 'pod_errors columns');
  const bad = await client.callTool({ name: 'composition_timeline', arguments: { composition_id: COMPOSITION } }).catch((e) => e);
  t.ok(bad instanceof Error && /-32602|since/.test(String(bad.message)), `missing argument: invalid params (${String(bad.message).slice(0, 80)})`);

  // Resource and prompt
  const { resources } = await client.listResources();
  t.equal(resources.map((r) => r.uri), ['kobs://schema/otel'], 'resources/list');
  const guide = await client.readResource({ uri: 'kobs://schema/otel' });
  t.ok(/krateo\.composition\.id/.test(guide.contents[0].text), 'the schema resource names the Krateo columns');
  const prompt = await client.getPrompt({ name: 'kobs_sql_guide' });
  t.ok(/otel_traces/.test(prompt.messages[0].content.text), 'the prompt describes the tables');

  await transport.terminateSession();
  t.equal(transport.sessionId, undefined, 'DELETE ended the session');
  await client.close();
}

async function legacySse(t, kobs) {
  const transport = new SSEClientTransport(new URL(`http://127.0.0.1:${kobs.mcpPort}/sse`));
  const client = new Client({ name: 'kobs-js-sse', version: '1.0.0' });
  await client.connect(transport);
  const { tools } = await client.listTools();
  t.equal(tools.map((x) => x.name).sort(), TOOLS, 'HTTP+SSE: tools/list');
  const sql = 'SELECT count() AS n FROM otel_logs';
  const r = parsed(await client.callTool({ name: 'run_query', arguments: { query: sql } }));
  t.ok(r.rows[0][0] > 0, `HTTP+SSE: run_query (${r.rows[0][0]} rows)`);
  await client.close();
}

function seedCurl(t, kobs) {
  // As the seed README has it, with the port-forward's port replaced by kobs's.
  const out = execFileSync('sh', ['-c', `curl -s http://localhost:${kobs.mcpPort}/mcp \\
-H "Content-Type: application/json" \\
-d '{"jsonrpc":"2.0","method":"tools/list","id":1}' | jq .`]).toString();
  const j = JSON.parse(out);
  t.equal(j.result.tools.map((x) => x.name).sort(), TOOLS, 'the seed README\'s curl tools/list line works unchanged');
}

async function stdio(t, dataDir, expectedCount) {
  const transport = new StdioClientTransport({
    command: kobsBinary(),
    // A long query timeout: only the cancel can stop the long call below.
    args: ['mcp', '--stdio', '--data-dir', dataDir, '--set', 'log.level=warn', '--set', 'mcp.query_timeout=600s'],
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (d) => { stderr += d; });
  const client = new Client({ name: 'kobs-js-stdio', version: '1.0.0' });
  try {
    await client.connect(transport);
    const { tools } = await client.listTools();
    t.equal(tools.map((x) => x.name).sort(), TOOLS, 'stdio: tools/list');
    const r = parsed(await client.callTool({ name: 'run_query', arguments: { query: 'SELECT count() AS n FROM otel_logs' } }));
    t.equal(r.rows[0][0], expectedCount, `stdio: run_query sees the stored rows (${r.rows[0][0]})`);
    // Cancellation while the call runs: the SDK sends notifications/cancelled
    // when the signal aborts; kobs reads it while the query runs and kills it.
    const LONG = 'SELECT sum(number) FROM numbers(1000000000000)';
    const running = `SELECT count() AS n FROM system.processes WHERE query LIKE '%numbers(1000000000000)%' AND query NOT LIKE '%system.processes%'`;
    const abort = new AbortController();
    const long = client.callTool({ name: 'run_query', arguments: { query: LONG } }, undefined,
                                 { signal: abort.signal, timeout: 900000 }).then(() => 'answered', (e) => `rejected: ${e.message}`);
    // Other calls are answered while it runs (the reader does not wait for it).
    await waitFor('the long query to run in the store', 120000, async () =>
      parsed(await client.callTool({ name: 'run_query', arguments: { query: running } })).rows[0][0] === 1);
    abort.abort('test cancels');
    t.ok((await long).startsWith('rejected'), 'stdio: the SDK gave up the cancelled call');
    await waitFor('the cancelled query to leave the store', 120000, async () =>
      parsed(await client.callTool({ name: 'run_query', arguments: { query: running } })).rows[0][0] === 0);
    t.ok(true, 'stdio: notifications/cancelled killed the running query');
  } catch (e) {
    t.ok(false, `stdio: ${e.message}\n${stderr}`);
  } finally {
    await client.close();
  }
}

async function main() {
  const t = new Checks('mcp_sdk');
  const dataDir = tempDir('mcp');
  let kobs;
  try {
    kobs = await new Kobs({ dataDir, sets: ['mcp.auth_disabled=true'], name: 'kobs-mcp' }).start(60000);
    await waitFor('the demo\'s events', 60000, async () =>
      (await viaClickHouse(kobs, "SELECT count() FROM otel_logs WHERE ResourceAttributes['telemetry.source'] = 'k8s-events'")).rows[0][0] >= 3);
    await streamableHttp(t, kobs);
    await legacySse(t, kobs);
    seedCurl(t, kobs);
    // The demo keeps writing: stop it, then read the same store through stdio.
    const stopped = await kobs.stop();
    t.equal(stopped.code, 0, 'kobs stopped cleanly');
    const count = await (async () => {
      const k2 = await new Kobs({ dataDir, demo: false, role: 'serve', sets: ['mcp.listen='], name: 'kobs-count' }).start(60000);
      try { return (await viaClickHouse(k2, 'SELECT count() FROM otel_logs')).rows[0][0]; } finally { await k2.stop(); }
    })();
    await stdio(t, dataDir, count);
  } finally {
    if (kobs) {
      await kobs.stop().catch(() => kobs.kill());
      if (process.exitCode || t.failures.length) console.log(`--- kobs stderr ---\n${kobs.stderr.slice(-4000)}`);
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  t.done();
}

main().catch((e) => {
  console.error(`mcp_sdk: ${e.stack || e}`);
  process.exitCode = 1;
});
