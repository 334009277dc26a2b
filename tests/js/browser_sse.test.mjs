// A real browser on /notifications across kobs restarts: Debian's chromium,
// headless through playwright-core, loads a page (served from another
// loopback origin, so CORS is exercised) whose EventSource listens to the
// `krateo` topic and to the demo composition's id topic.
//
//   phase 1  kobs all --demo          the page connects (?lastEventId=0-0-0:
//                                     everything from the start, so no event
//                                     the demo wrote before the page opened is
//                                     missed) and receives events live
//   restart  SIGTERM, then kobs all --demo again on the same port and data
//            dir: the demo plays its scenario again, so events are written
//            while the browser is away and after it is back
//   phase 3  SIGTERM, then kobs serve (no writer) on the same port: the store
//            stops changing, so the final comparison is exact
//
// The EventSource reconnects by itself, sending Last-Event-ID (the browser's,
// not the page's: the URL keeps lastEventId=0-0-0, and a header that did not
// win would replay everything again and show up as duplicates). At the end
// the page's list of each topic must equal the store's (GET /events): every
// event exactly once, none missing, in cursor order.
import http from 'node:http';
import fs from 'node:fs';
import { chromium } from 'playwright-core';
import { Kobs, tempDir, allStoredEvents, sleep, Checks, parseEventId, cmpEventId, ingestMs, waitFor } from './lib/kobs.mjs';

const COMPOSITION = '5f0c3c1e-8a4b-4d52-9a3e-2b7f6c1d9e01';  // collect/demo/demo_feed.h kDemoCompositionId
// The retry: hint kobs sends. The browser waits this long after a drop before
// reconnecting; the next kobs must be attached by then, because a /notifications
// answered 503 (listener up, store not yet attached) would close the
// EventSource for good (HTML spec: any status but 200 fails the connection).
const RETRY = '5s';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>kobs sse</title></head><body><script>
const q = new URLSearchParams(location.search);
const rec = window.rec = { krateo: [], composition: [], opens: [], errors: [], closed: false };
const es = new EventSource(q.get('src'));
es.addEventListener('open', () => rec.opens.push(Date.now()));
es.addEventListener('error', () => {
  rec.errors.push({ t: Date.now(), readyState: es.readyState });
  if (es.readyState === EventSource.CLOSED) rec.closed = true;
});
const record = (list) => (e) => list.push({ data: e.data, id: e.lastEventId, t: Date.now(), conn: rec.opens.length });
es.addEventListener('krateo', record(rec.krateo));
es.addEventListener(q.get('composition'), record(rec.composition));
</script></body></html>`;

async function main() {
  const t = new Checks('browser_sse');
  const dataDir = tempDir('sse');
  const kobsSets = [`serve.sse_retry=${RETRY}`, 'batch.max_age=200ms'];
  const page_server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(PAGE);
  });
  await new Promise((r) => page_server.listen(0, '127.0.0.1', r));
  const pageOrigin = `http://127.0.0.1:${page_server.address().port}`;

  let browser, kobs;
  try {
    kobs = await new Kobs({ dataDir, sets: kobsSets, name: 'kobs#1' }).start();
    const port = kobs.port;
    console.log(`kobs#1 on ${kobs.url}; page from ${pageOrigin}`);

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
             '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = await browser.newPage();
    page.on('console', (m) => console.log(`page: ${m.text()}`));
    const src = `${kobs.url}/notifications?lastEventId=0-0-0`;
    await page.goto(`${pageOrigin}/?src=${encodeURIComponent(src)}&composition=${COMPOSITION}`);
    const rec = () => page.evaluate(() => window.rec);

    // Phase 1: connected, and events arriving live (not only the replay).
    const opened1 = (await waitFor('the first open', 15000, async () => (await rec()).opens[0]));
    await waitFor('3 events received live on the first connection', 20000, async () =>
      (await rec()).krateo.filter((e) => e.conn === 1 && e.t > opened1 + 500).length >= 3);

    // Restart on the same port and data dir while the demo keeps writing.
    const stopped1 = Date.now();
    t.equal((await kobs.stop()).code, 0, 'kobs#1 exits 0 on SIGTERM');
    console.log(`kobs#1 stopped in ${Date.now() - stopped1} ms`);
    const started2 = Date.now();
    kobs = await new Kobs({ dataDir, httpListen: `127.0.0.1:${port}`, sets: kobsSets, name: 'kobs#2' }).start();
    console.log(`kobs#2 attached ${Date.now() - started2} ms after its start, ${Date.now() - stopped1} ms after SIGTERM`);
    t.equal(kobs.port, port, 'kobs#2 listens on the same port');

    await waitFor('the EventSource to reconnect', 20000, async () => {
      const r = await rec();
      if (r.closed) throw new Error(`EventSource closed for good (a non-200 answer while reconnecting): ${JSON.stringify(r.errors)}`);
      return r.opens.length >= 2;
    });
    // Events written by kobs#2's demo (ingested after it started), received live.
    await waitFor('3 events written by kobs#2', 25000, async () =>
      (await rec()).krateo.filter((e) => e.conn === 2 && ingestMs(e.id) >= started2).length >= 3);

    // Phase 3: a reader only, so the store is final.
    const stopped2 = Date.now();
    t.equal((await kobs.stop()).code, 0, 'kobs#2 exits 0 on SIGTERM');
    kobs = await new Kobs({ role: 'serve', demo: false, dataDir, httpListen: `127.0.0.1:${port}`, sets: kobsSets,
                            name: 'kobs#3' }).start();
    console.log(`kobs#3 (serve) attached ${Date.now() - stopped2} ms after kobs#2's SIGTERM`);
    await waitFor('the second reconnect', 20000, async () => {
      const r = await rec();
      if (r.closed) throw new Error(`EventSource closed for good (a non-200 answer while reconnecting): ${JSON.stringify(r.errors)}`);
      return r.opens.length >= 3;
    });

    const stored = (await allStoredEvents(kobs.url)).reverse();                 // oldest first
    const storedComp = (await allStoredEvents(kobs.url, COMPOSITION)).reverse();
    await waitFor(`the page to hold the store's ${stored.length} events`, 10000, async () => {
      const r = await rec();
      return r.krateo.length >= stored.length && r.composition.length >= storedComp.length;
    }).catch((e) => console.log(e.message));
    await sleep(1000);  // anything extra (a duplicate) would arrive now
    const r = await rec();
    console.log(`store: ${stored.length} events (${storedComp.length} of the composition); page: ${r.krateo.length} krateo, ` +
                `${r.composition.length} composition frames; opens ${r.opens.length}, errors ${r.errors.length}`);

    t.ok(!r.closed, 'the EventSource never closed for good');
    t.equal(r.opens.length, 3, 'the EventSource opened three times (two reconnects on its own)');
    const byRun = [r.krateo.filter((e) => ingestMs(e.id) < stopped1).length,
                   r.krateo.filter((e) => ingestMs(e.id) >= started2).length];
    t.ok(byRun[0] >= 3 && byRun[1] >= 3, `events of both demo runs (${byRun[0]} before the restart, ${byRun[1]} after)`);
    t.equal(storedComp.length, stored.length, 'every demo event belongs to the composition');
    t.ok(r.krateo.some((e) => e.conn === 1 && ingestMs(e.id) < stopped1 && e.t > opened1 + 500),
         'events written before the first restart arrived live');
    t.ok(r.krateo.some((e) => e.conn === 2 && ingestMs(e.id) >= started2), 'events written after the restart arrived');
    // kobs#2's demo writes from its start, and the browser comes back only
    // after the retry delay: those events are the Last-Event-ID replay.
    t.ok(r.krateo.some((e) => e.conn === 2 && ingestMs(e.id) >= started2 && ingestMs(e.id) < r.opens[1]),
         'events written while the browser was away arrived after it reconnected (the replay)');

    for (const [topic, got, want, frame] of [['krateo', r.krateo, stored, 0], [COMPOSITION, r.composition, storedComp, 1]]) {
      const ids = got.map((e) => e.id);
      t.ok(ids.every((id) => parseEventId(id)?.frame === frame), `${topic}: every frame has an id "<cursor>:${frame}"`);
      t.equal(new Set(ids).size, ids.length, `${topic}: no id received twice`);
      t.ok(ids.every((id, i) => i === 0 || cmpEventId(ids[i - 1], id) < 0), `${topic}: ids strictly increasing`);
      const gotData = got.map((e) => JSON.stringify(JSON.parse(e.data)));
      const wantData = want.map((e) => JSON.stringify(e));
      t.equal(gotData.length, wantData.length, `${topic}: as many events as the store holds`);
      t.equal([...gotData].sort(), [...wantData].sort(), `${topic}: every stored event exactly once`);
      t.ok(JSON.stringify(gotData) === JSON.stringify(wantData), `${topic}: in the store's order`);
    }
  } finally {
    if (browser) await browser.close().catch(() => {});
    if (kobs) {
      await kobs.stop().catch(() => kobs.kill());
      if (process.exitCode) console.log(`--- last kobs stderr ---\n${kobs.stderr.slice(-4000)}`);
    }
    page_server.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  t.done();
}

main().catch((e) => {
  console.error(`browser_sse: ${e.stack || e}`);
  process.exitCode = 1;
});
