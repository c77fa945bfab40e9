import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, startApiHarness } from '../support/http-app.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(import.meta.dirname, '..', 'artifacts');
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium)
  console.warn(`live page browser test skipped: ${CHROMIUM} is missing (apt-get install chromium)`);

let h: ApiHarness;
let browser: Browser;
let page: Page;
let origin: string;

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked by the assertions
const json = async (res: Response): Promise<any> => res.json();
const call = (method: string, path: string, body?: unknown) =>
  fetch(`${origin}/api/v1/whatsapp${path}`, {
    method,
    headers: { ...h.auth(1), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
const row = (id: number, status?: string) =>
  `tr.row[data-id="${id}"]${status ? `[data-status="${status}"]` : ''}`;

/** Evaluates `expression` in the page until it is truthy (10 s at most). */
async function pollPage<T>(expression: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = (await page.evaluate(expression)) as T;
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${expression}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!hasChromium)('the live state page in Chromium', { timeout: 120_000 }, () => {
  beforeAll(async () => {
    // One-second backoffs, so the page has time to show the wait.
    h = await startApiHarness(import.meta.url, { delays: '1,1,1,1' });
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    origin = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1360, height: 820 } });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await h?.close();
  }, 120_000);

  it('follows a session through pairing, a kick and a reconnect, live', async () => {
    // A few quiet sessions, so the list has something to filter.
    for (const name of ['Front desk', 'Sales 2', 'Warehouse'])
      await call('POST', '/sessions/', { device_name: name });

    // 1–2. load the page and paste a token
    await page.goto(`${origin}/`);
    await expect.poll(() => page.url()).toBe(`${origin}/ui/`);
    await page.fill('#token', h.auth(1).authorization.slice('Bearer '.length));
    await page.click('#login button[type=submit]');
    await page.waitForSelector('#live.on');
    await page.waitForSelector('tr.row >> nth=2');
    expect(await page.evaluate("sessionStorage.getItem('wa-token')")).toMatch(/^ey/);

    // A new session shows up from the stream alone; its QR is drawn as an image.
    const { id } = await json(await call('POST', '/sessions/', { device_name: 'Support line', start: true }));
    await page.click(`${row(id, 'qr')} .name`);
    await page.waitForSelector('#detail g.on[data-state="qr"]');
    // (Functions run in the page are written as strings: this project's types have no DOM.)
    // Polled with evaluate: waitForFunction's in-page polling compiles code, which the page's CSP forbids.
    const qrWidth = await pollPage<number>(
      "(() => { const img = document.querySelector('#qr-img'); return img?.complete && img.naturalWidth > 0 ? img.naturalWidth : 0; })()",
    );
    expect(qrWidth).toBeGreaterThan(100);

    // 3. pair, then the simulator kicks it: connected → backoff → connected on the page
    const { qr } = await json(await call('GET', `/sessions/${id}/qr/`));
    await h.sim.pair(qr, { phone: '5511977770042' });
    await page.waitForSelector(row(id, 'connected'));
    await page.waitForSelector('#detail g.on[data-state="connected"]');
    const noiseKey = Buffer.from(
      (await h.daemon.authStore.open(String(id))).state.creds.noiseKey.public,
    ).toString('hex');
    h.sim.kick({ noiseKey }, 'close');
    await page.waitForSelector(row(id, 'backoff'));
    await page.waitForSelector('#detail g.on[data-state="backoff"]');
    expect(await page.textContent(`${row(id)} td:nth-child(3)`)).toBe('1/4');
    expect(await page.textContent(`${row(id)} .err`)).toContain('connection_closed (428)');
    await page.waitForSelector(row(id, 'connected'));
    const history = await page.textContent('#history');
    expect(history).toContain('connected → backoff');
    expect(history).toContain('backoff → connecting');

    // Filter by status: only the live one is connected.
    await page.click('#counts [data-filter="connected"]');
    // The list re-renders after the click: poll rather than read it once.
    await expect.poll(() => page.locator('tr.row').count(), { timeout: 5_000 }).toBe(1);
    await page.click('#counts [data-filter="all"]');
    await page.waitForSelector('tr.row >> nth=3');

    // 4. reconnect from the page: the task's transitions appear, tagged
    await page.click(`#detail button[data-act="reconnect"]`);
    await page.waitForSelector('#history tr.task');
    const task = await page.getAttribute('#history tr.task', 'data-task');
    expect(task).toMatch(/^[0-9a-f-]{36}$/);
    await pollPage<boolean>(
      `[...document.querySelectorAll('#history tr[data-task="${task}"]')].some((r) => r.textContent.includes('→ connected'))`,
    );
    await page.waitForSelector(row(id, 'connected'));

    // 5. screenshot
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'live-page.png') });
  });
});
