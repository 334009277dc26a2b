// The status page (GET / on the main listener) in a real browser: Debian's
// chromium, headless through playwright-core, loads it from a running
// `kobs all --demo`. It must render without console errors or failed
// requests (no scripts, no external assets), show the demo's rows in the
// Pipeline and Store tables, and refresh itself (meta refresh) so the
// numbers move without a click.
import fs from 'node:fs';
import { chromium } from 'playwright-core';
import { Kobs, tempDir, Checks, waitFor } from './lib/kobs.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

async function main() {
  const t = new Checks('status_page');
  const dataDir = tempDir('status');
  let browser, kobs;
  try {
    kobs = await new Kobs({ dataDir, sets: ['batch.max_age=200ms'] }).start();
    // The demo's first events are in the store before the page is judged.
    await waitFor('demo rows in the store', 30000, async () => {
      const m = await (await fetch(`${kobs.url}/metrics`)).text();
      return /^kobs_records_out_total\{[^}]*\} [1-9]/m.test(m);
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
             '--disable-component-update', '--disable-sync'],
    });
    const page = await browser.newPage();
    const problems = [];
    const requests = [];
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`); });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
    page.on('request', (r) => requests.push(r.url()));
    let loads = 0;
    page.on('load', () => { loads++; });

    const response = await page.goto(`${kobs.url}/`);
    t.equal(response.status(), 200, 'GET / answers 200');
    t.equal(await page.title(), 'kobs status', 'the page is the status page');
    const tables = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll('h2')].map((h) => {
      const table = h.nextElementSibling && h.nextElementSibling.tagName === 'TABLE' ? h.nextElementSibling : null;
      const rows = table ? [...table.querySelectorAll('tr')].map((tr) => [...tr.children].map((c) => c.textContent)) : [];
      return [h.textContent, rows];
    })));
    console.log(JSON.stringify(tables));
    const logsRow = (tables.Pipeline || []).find((r) => r[0] === 'otel_logs');
    t.ok(logsRow && Number(logsRow[2]) > 0, `the Pipeline table counts the demo's records (${JSON.stringify(logsRow)})`);
    const stored = (tables.Store || []).find((r) => r[0] === 'rows stored');
    t.ok(stored && Number(stored[1]) > 0, `the Store table counts rows stored (${JSON.stringify(stored)})`);
    const listed = await page.locator('li code').allTextContents();
    t.ok(listed.includes(kobs.url), `the listen addresses are listed (${JSON.stringify(listed)})`);
    for (const href of ['/metrics', '/readyz', '/healthz']) {
      t.ok(await page.locator(`a[href="${href}"]`).count() === 1, `links to ${href}`);
    }
    t.equal(await page.locator('script').count(), 0, 'no script on the page');
    await waitFor('the page to refresh itself twice', 15000, async () => loads >= 3);
    t.ok(loads >= 3, `reloaded by itself (${loads} loads)`);
    t.ok(requests.every((u) => u.startsWith(kobs.url)), `every request went to kobs itself (${requests.length} requests)`);
    t.equal(problems, [], 'no console errors, page errors or failed requests');
  } finally {
    if (browser) await browser.close().catch(() => {});
    if (kobs) {
      await kobs.stop().catch(() => kobs.kill());
      if (process.exitCode) console.log(`--- last kobs stderr ---\n${kobs.stderr.slice(-4000)}`);
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  t.done();
}

main().catch((e) => {
  console.error(`status_page: ${e.stack || e}`);
  process.exitCode = 1;
});
