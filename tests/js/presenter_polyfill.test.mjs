// The current Krateo frontend's SSE client against the events-presenter API
// (presenter.listen), across kobs restarts: Debian's chromium, headless
// through playwright-core, loads a page (served from another loopback origin,
// so CORS and the preflight that the Authorization header triggers are
// exercised) that opens, as src/hooks/useGetEvents.ts does,
//   new EventSourcePolyfill(url, {headers: {Authorization: 'Bearer ' + token}})
// from the event-source-polyfill npm package (the very file its `main` names,
// what the frontend's bundler takes) and listens to `krateo` and to unnamed
// messages. Auth is authn's: an HS256 JWT signed with JWT_SIGN_KEY.
//
//   phase 1  kobs all --demo          node: no token / a token signed with
//                                     another key / an expired one -> 401
//                                     Status JSON; browser: a polyfill without
//                                     a token is refused and gives up; the one
//                                     with the token opens (no lastEventId, as
//                                     the frontend: live only) and receives
//                                     events
//   restart  SIGTERM, then kobs all --demo again on the same presenter port
//            and data dir: the demo plays its scenario again. kobs is back
//            in about a second, before its demo writes, so the page's
//            network is cut (playwright route: connection refused) until
//            kobs#2 has stored two events: those are written while the
//            browser is away and must come as the ?lastEventId= replay
//   phase 3  SIGTERM, then kobs serve (no writer) on the same port: the store
//            stops changing, so the final comparison is exact
//
// The polyfill reconnects by itself (the stream ends, or the connection is
// refused while kobs is down; it retries after the `retry:` hint, doubling),
// and appends ?lastEventId=<last id it saw> to the URL (it never sends the
// Last-Event-ID header). The page must end up with every stored event from
// its first one on, exactly once, in stream order. presenter.sse_keepalive
// (1 s) is well under the page's heartbeatTimeout (3 s), so a stream that
// stays open never looks dead to the polyfill, even when no event comes for
// twice that long (phase 3): it opens exactly three times.
import http from 'node:http';
import fs from 'node:fs';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';
import { Kobs, tempDir, allStoredEvents, sleep, Checks, parseEventId, cmpEventId, ingestMs, waitFor } from './lib/kobs.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SECRET = `kobs-js-${crypto.randomBytes(12).toString('hex')}`;  // authn's JWT_SIGN_KEY
// The page's heartbeatTimeout: the frontend keeps the 45 s default against
// kobs's 25 s keepalive; scaled down here to 3 s against 1 s.
const HEARTBEAT_MS = 3000;
// The polyfill's answer to a non-200 /notifications is to give up for good, so
// it must never meet one from a kobs that is up: the presenter listener only
// starts once the store is attached (no 503 window); while kobs is down the
// connection is refused, and the polyfill retries after `retry:` (1 s here),
// doubling up to 16x.
const KOBS_SETS = ['serve.sse_retry=1s', 'presenter.sse_keepalive=1s', 'batch.max_age=200ms'];
const POLYFILL = createRequire(import.meta.url).resolve('event-source-polyfill');

const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>kobs presenter sse</title>
<script src="/event-source-polyfill.js"></script></head><body><script>
const rec = window.rec = { frames: [], opens: [], errors: [], closed: false, denied: null };
// The frontend's stream: the Bearer header, krateo and unnamed messages.
window.startStream = (url, token, heartbeatTimeout) => {
  const es = new EventSourcePolyfill(url, { headers: { Authorization: 'Bearer ' + token }, heartbeatTimeout });
  es.addEventListener('open', () => rec.opens.push(Date.now()));
  es.addEventListener('error', (e) => {
    rec.errors.push({ t: Date.now(), readyState: es.readyState, error: String(e && e.error || '') });
    if (es.readyState === EventSourcePolyfill.CLOSED) rec.closed = true;
  });
  const record = (e) => rec.frames.push({ type: e.type, data: e.data, id: e.lastEventId, t: Date.now(), conn: rec.opens.length });
  es.addEventListener('krateo', record);
  es.addEventListener('message', record);
};
// A stream without a token: refused with 401, which the polyfill can only
// read (and so give up on, instead of retrying) if the 401 carries CORS headers.
window.startDenied = (url) => {
  const d = rec.denied = { opens: 0, frames: 0, errors: 0, closed: false };
  const es = new EventSourcePolyfill(url, { headers: {} });
  es.addEventListener('open', () => d.opens++);
  es.addEventListener('krateo', () => d.frames++);
  es.addEventListener('message', () => d.frames++);
  es.addEventListener('error', () => { d.errors++; if (es.readyState === EventSourcePolyfill.CLOSED) d.closed = true; });
};
</script></body></html>`;

// authn's token (internal/helpers/encode/success.go): HS256 over base64url segments.
function mintJwt(secret, { expIn = 3600 } = {}) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const head = b64({ alg: 'HS256', typ: 'JWT' });
  const body = b64({ username: 'cyberjoker', groups: ['devs'], iss: 'krateo.io', sub: 'cyberjoker',
                     iat: now, nbf: now, exp: now + expIn });
  const sig = crypto.createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

// Reads an SSE stream in node until no event has come for idleMs (comments
// and keepalives do not count) or maxMs passed: [{event, data, id}].
async function readSse(url, headers, { idleMs = 2500, maxMs = 15000 } = {}) {
  const ac = new AbortController();
  const r = await fetch(url, { headers: { Accept: 'text/event-stream', ...headers }, signal: ac.signal });
  if (r.status !== 200) throw new Error(`GET ${url}: ${r.status} ${await r.text()}`);
  const frames = [];
  const dec = new TextDecoder();
  let buf = '', lastFrame = Date.now();
  const start = Date.now();
  const reader = r.body.getReader();
  const watchdog = setInterval(() => {
    if (Date.now() - lastFrame > idleMs || Date.now() - start > maxMs) ac.abort();
  }, 100);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let cut;
      while ((cut = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const f = { event: 'message', data: null, id: null };
        for (const line of block.split('\n')) {
          const m = /^([^:]*)(?::(?: ?)(.*))?$/.exec(line);
          if (!m || m[1] === '') continue;  // a comment
          if (m[1] === 'event') f.event = m[2];
          else if (m[1] === 'data') f.data = f.data === null ? m[2] : `${f.data}\n${m[2]}`;
          else if (m[1] === 'id') f.id = m[2];
        }
        if (f.data !== null) { frames.push(f); lastFrame = Date.now(); }
      }
    }
  } catch (e) {
    if (e.name !== 'AbortError') throw e;
  } finally {
    clearInterval(watchdog);
  }
  return frames;
}

// What both APIs say about one event: the presenter item's fields against the
// old API's SSEK8sEvent (whose metadata.uid is the involved object's, and
// whose times are seconds, so neither event_id nor created_at is compared).
const fromPresenter = (it) => [it.namespace, it.resource_kind, it.resource_name, it.involved_object_uid || '',
                               it.event_type, it.reason, it.message];
const fromOldApi = (ev) => [ev.involvedObject.namespace, ev.involvedObject.kind, ev.involvedObject.name,
                            ev.involvedObject.uid, ev.type, ev.reason, ev.message];

async function main() {
  const t = new Checks('presenter_polyfill');
  const dataDir = tempDir('presenter');
  const env = { JWT_SIGN_KEY: SECRET };
  const token = mintJwt(SECRET);
  const auth = { Authorization: `Bearer ${token}` };
  const polyfillJs = fs.readFileSync(POLYFILL);
  const pageServer = http.createServer((req, res) => {
    if (req.url === '/event-source-polyfill.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8' });
      res.end(polyfillJs);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(PAGE);
  });
  await new Promise((r) => pageServer.listen(0, '127.0.0.1', r));
  const pageOrigin = `http://127.0.0.1:${pageServer.address().port}`;

  let browser, kobs, failed = false;
  try {
    kobs = await new Kobs({ dataDir, presenterListen: '127.0.0.1:0', env, sets: KOBS_SETS, name: 'kobs#1' }).start();
    const presenterPort = kobs.presenterPort;
    const src = `${kobs.presenterUrl}/notifications`;
    console.log(`kobs#1: presenter on ${kobs.presenterUrl}, old API on ${kobs.url}; page from ${pageOrigin}; polyfill ${POLYFILL}`);

    // Refusals, as events-presenter answers them: 401 with a Kubernetes Status.
    for (const [what, headers] of [['no token', {}],
                                   ['a token signed with another key', { Authorization: `Bearer ${mintJwt('not-the-key')}` }],
                                   ['an expired token', { Authorization: `Bearer ${mintJwt(SECRET, { expIn: -60 })}` }]]) {
      const r = await fetch(src, { headers: { Accept: 'text/event-stream', ...headers } });
      const text = await r.text();
      let body = null;
      try { body = JSON.parse(text); } catch { /* checked below */ }
      t.equal(r.status, 401, `${what}: GET /notifications is refused 401 (body ${text.trim()})`);
      t.ok((r.headers.get('content-type') || '').startsWith('application/json'), `${what}: the refusal is JSON`);
      t.ok(body && body.kind === 'Status' && body.apiVersion === 'v1' && body.status === 'Failure' &&
           body.reason === 'Unauthorized' && body.code === 401 && typeof body.message === 'string',
           `${what}: the body is a Kubernetes Status (Failure, Unauthorized, 401)`);
    }

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
             '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = await browser.newPage();
    page.on('console', (m) => { if (!/EventSource|Reconnecting|ERR_CONNECTION_REFUSED/.test(m.text())) console.log(`page: ${m.text()}`); });
    // Every /notifications answer the page got, in order: which URL (so which
    // ?lastEventId=) and which Authorization opened each connection.
    const answers = [];
    page.on('response', (resp) => {
      const req = resp.request();
      if (req.method() === 'GET' && new URL(req.url()).pathname === '/notifications')
        answers.push({ url: req.url(), status: resp.status(), authorization: req.headers().authorization || null });
    });
    await page.goto(pageOrigin);
    t.ok(await page.evaluate(() => typeof EventSourcePolyfill === 'function'), 'the page loaded the polyfill (window.EventSourcePolyfill)');
    const rec = () => page.evaluate(() => window.rec);

    await page.evaluate((u) => window.startDenied(u), src);
    await page.evaluate(([u, tok, hb]) => window.startStream(u, tok, hb), [src, token, HEARTBEAT_MS]);

    // Phase 1: the polyfill opens (after the preflight) and events arrive live.
    const opened1 = await waitFor('the first open', 15000, async () => {
      const r = await rec();
      if (r.closed) throw new Error(`the polyfill gave up on the first connection: ${JSON.stringify(r.errors)}`);
      return r.opens[0];
    });
    await waitFor('3 events on the first connection', 20000, async () =>
      (await rec()).frames.filter((e) => e.conn === 1).length >= 3);
    const denied = await waitFor('the polyfill without a token to give up', 10000, async () => {
      const d = (await rec()).denied;
      return d.closed ? d : null;
    });
    t.ok(denied.opens === 0 && denied.frames === 0, 'without a token the polyfill never opens and gets no frame');
    t.ok(denied.closed, 'without a token the polyfill read the 401 (CORS headers on it) and gave up for good');

    // Restart on the same presenter port and data dir; the page is held away
    // (its /notifications requests refused) until kobs#2 has written.
    const away = (u) => u.pathname === '/notifications';
    await page.route(away, (route) => route.abort('connectionrefused'));
    const stopped1 = Date.now();
    t.equal((await kobs.stop()).code, 0, 'kobs#1 exits 0 on SIGTERM');
    const started2 = Date.now();
    kobs = await new Kobs({ dataDir, presenterListen: `127.0.0.1:${presenterPort}`, env, sets: KOBS_SETS, name: 'kobs#2' }).start();
    console.log(`kobs#2 ready ${Date.now() - stopped1} ms after kobs#1's SIGTERM`);
    t.equal(kobs.presenterPort, presenterPort, 'kobs#2 serves the presenter on the same port');
    const storedAt2 = (await allStoredEvents(kobs.url, undefined, auth)).length;
    await waitFor('kobs#2 to store 2 events while the page is away', 20000, async () =>
      (await allStoredEvents(kobs.url, undefined, auth)).length >= storedAt2 + 2);
    await page.unroute(away);
    const back = Date.now();
    console.log(`the page's network is back ${back - stopped1} ms after kobs#1's SIGTERM`);

    await waitFor('the polyfill to reconnect to kobs#2', 30000, async () => {
      const r = await rec();
      if (r.closed) throw new Error(`the polyfill gave up (a non-200 answer while reconnecting): ${JSON.stringify(r.errors)}`);
      return r.opens.length >= 2;
    });
    await waitFor('3 events written by kobs#2', 25000, async () =>
      (await rec()).frames.filter((e) => e.conn === 2 && ingestMs(e.id) >= started2).length >= 3);

    // Phase 3: a reader only, so the store is final.
    const stopped2 = Date.now();
    t.equal((await kobs.stop()).code, 0, 'kobs#2 exits 0 on SIGTERM');
    kobs = await new Kobs({ role: 'serve', demo: false, dataDir, presenterListen: `127.0.0.1:${presenterPort}`, env,
                            sets: KOBS_SETS, name: 'kobs#3' }).start();
    console.log(`kobs#3 (serve) ready ${Date.now() - stopped2} ms after kobs#2's SIGTERM`);
    await waitFor('the polyfill to reconnect to kobs#3', 30000, async () => {
      const r = await rec();
      if (r.closed) throw new Error(`the polyfill gave up (a non-200 answer while reconnecting): ${JSON.stringify(r.errors)}`);
      return r.opens.length >= 3;
    });
    // No writer now: the stream stays silent but for keepalives, longer than
    // the page's heartbeatTimeout twice over; the polyfill must not reconnect.
    await sleep(2 * HEARTBEAT_MS + 500);

    // The truth. The page's first frame is its start (it opened live, like
    // the frontend, so what the store held before is not expected).
    //  1. A fresh presenter stream in node from ?lastEventId=<that first id>:
    //     with no writer left, it is a replay read from the store by cursor
    //     (not the live dispatch that fed most of the page, and no polyfill),
    //     so [first frame] + replay is every stored event from there on, with
    //     data and ids exactly as the stream serves them.
    //  2. The old API's GET /events (another reader, other SQL, no stream):
    //     every stored event, newest first; the page's events must be its
    //     newest N, field for field, in order. A gap or a duplicate shifts
    //     the suffix and fails this too.
    const first = (await rec()).frames[0];
    const replay = await readSse(`${kobs.presenterUrl}/notifications?lastEventId=${encodeURIComponent(first.id)}`, auth);
    const want = [{ event: 'krateo', data: first.data, id: first.id }, ...replay];
    const stored = (await allStoredEvents(kobs.url, undefined, auth)).reverse();  // oldest first
    await waitFor(`the page to hold the ${want.length} events of the store from its first one`, 10000, async () =>
      (await rec()).frames.length >= want.length).catch((e) => console.log(e.message));
    await sleep(1500);  // anything extra (a duplicate) would arrive now
    const r = await rec();
    const got = r.frames;
    console.log(`store: ${stored.length} events, ${want.length} from the page's first on; page: ${got.length} frames; ` +
                `opens ${r.opens.length}, errors ${r.errors.length}; /notifications answers: ` +
                answers.map((a) => `${a.status} ${new URL(a.url).search || '(no query)'}`).join(', '));

    t.ok(!r.closed, 'the polyfill never gave up');
    t.equal(r.opens.length, 3, 'the polyfill opened three times: two reconnects on its own, none for a missed heartbeat');
    t.ok(got.every((e) => e.type === 'krateo'), 'every frame is a `krateo` event (no unnamed message)');
    const ok200 = answers.filter((a) => a.status === 200);
    t.equal(ok200.length, 3, 'three 200 answers to the authorized stream');
    t.ok(ok200.every((a) => a.authorization === `Bearer ${token}`), 'every 200 answered a request with the Bearer header');
    t.ok(answers.filter((a) => a.authorization !== `Bearer ${token}`).every((a) => a.status === 401),
         'every request without it (the tokenless polyfill) was answered 401');
    t.ok(ok200.length >= 1 && !new URL(ok200[0].url).searchParams.has('lastEventId'),
         'the first connection has no ?lastEventId= (live, as the frontend opens it)');
    for (let k = 2; k <= Math.min(3, ok200.length); ++k) {
      const before = got.filter((e) => e.conn < k);
      const sent = new URL(ok200[k - 1].url).searchParams.get('lastEventId');
      t.equal(sent, before.length ? before[before.length - 1].id : null,
              `reconnect ${k - 1} resumed with ?lastEventId= the last id the page had received`);
    }

    const runs = [got.filter((e) => ingestMs(e.id) < stopped1).length, got.filter((e) => ingestMs(e.id) >= started2).length];
    t.ok(runs[0] >= 3 && runs[1] >= 3, `events of both demo runs (${runs[0]} of kobs#1, ${runs[1]} of kobs#2)`);
    t.ok(got.some((e) => e.conn === 1 && e.t > opened1 + 500), 'events arrived live on the first connection');
    const replayed = got.filter((e) => e.conn === 2 && ingestMs(e.id) >= started2 && ingestMs(e.id) < back).length;
    t.ok(replayed >= 2, `events kobs#2 wrote while the page was away came after the reconnect (the resume replay: ${replayed})`);

    const ids = got.map((e) => e.id);
    t.ok(ids.every((id) => parseEventId(id)?.frame === null), 'every frame has an id "<ingest>-<ts>-<key>"');
    t.equal(new Set(ids).size, ids.length, 'no id received twice');
    t.ok(ids.every((id, i) => i === 0 || cmpEventId(ids[i - 1], id) < 0), 'ids strictly increasing (stream order)');
    t.ok(replay.every((f) => f.event === 'krateo'), 'the fresh stream names every frame `krateo` too');
    t.equal(got.length, want.length, 'the page holds as many events as the store from its first one on');
    t.equal(got.map((e) => e.id), want.map((f) => f.id), 'the page\'s ids are the stored events\' ids, in order (no gap, no duplicate)');
    t.ok(JSON.stringify(got.map((e) => e.data)) === JSON.stringify(want.map((f) => f.data)),
         'the page\'s data equals the fresh stream\'s, byte for byte');
    const items = got.map((e) => JSON.parse(e.data));
    t.ok(items.every((it) => !('raw' in it) && typeof it.reason === 'string' && typeof it.message === 'string' &&
                             typeof it.global_uid === 'string' && typeof it.created_at === 'string'),
         'every item is the SSE shape (no raw; reason, message, global_uid, created_at strings)');
    const tail = stored.slice(Math.max(0, stored.length - items.length));
    t.ok(stored.length >= items.length, `the old API lists at least the page's events (${stored.length} >= ${items.length})`);
    t.equal(items.map(fromPresenter), tail.map(fromOldApi),
            'the page\'s events are the old API\'s newest ones, field for field, in order');
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    if (browser) await browser.close().catch(() => {});
    if (kobs) {
      await kobs.stop().catch(() => kobs.kill());
      if (failed || t.failures.length) console.log(`--- last kobs stderr ---\n${kobs.stderr.slice(-4000)}`);
    }
    pageServer.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  t.done();
}

main().catch((e) => {
  console.error(`presenter_polyfill: ${e.stack || e}`);
  process.exitCode = 1;
});
