// "Download from a URL": against vmediad's real /downloads (fetching from a
// small HTTP server of the test's own on 127.0.0.1), the form's own logic
// against a stubbed /downloads (page.route), and the form shown before the
// /events state arrives, its jobs taken from that state (stubbed).
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const crypto = require('node:crypto');
const { startServer, launchBrowser, newPage, api, sha256, shot, until } = require('./helpers');

let srv, browser, origin, originBase;
const payload = crypto.randomBytes(2 * 1024 * 1024 + 17);
const openResponses = new Set();

before(async () => {
  srv = await startServer();
  browser = await launchBrowser();
  // The test's own origin server: /fast.img at once, /slow.img a trickle.
  origin = http.createServer((req, res) => {
    if (req.url === '/fast.img') {
      res.writeHead(200, { 'Content-Length': payload.length, 'Content-Type': 'application/octet-stream' });
      res.end(payload);
    } else if (req.url === '/slow.img') {
      res.writeHead(200, { 'Content-Length': 64 * 1024 * 1024, 'Content-Type': 'application/octet-stream' });
      openResponses.add(res);
      const chunk = Buffer.alloc(32 * 1024, 1);
      let sent = 0;
      const timer = setInterval(() => {
        if (sent > 4 * 1024 * 1024 || res.destroyed) { clearInterval(timer); return; }
        res.write(chunk);
        sent += chunk.length;
      }, 100);
      res.on('close', () => { clearInterval(timer); openResponses.delete(res); });
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((r) => origin.listen(0, '127.0.0.1', r));
  originBase = 'http://127.0.0.1:' + origin.address().port;
});

after(async () => {
  for (const res of openResponses) res.destroy();
  if (origin) origin.close();
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

async function openPage(opts) {
  const page = await newPage(browser, opts);
  return page;
}

test('real /downloads: download through the form, then cancel a slow one', async () => {
  const page = await openPage();
  await page.goto(srv.base + '/');
  await until(async () => (await page.locator('#conn').getAttribute('data-state')) === 'live', 5000, 'Live');
  assert.equal((await api(srv, 'GET', '/downloads')).status, 200, 'vmediad has /downloads');
  await until(async () => page.locator('#downloads-section').isVisible(), 3000, 'the download form');
  await page.fill('#dl-url', originBase + '/fast.img');
  await page.fill('#dl-name', 'fetched.img');
  await page.click('#dl-submit');
  const row = page.locator('tr[data-image="fetched.img"]');
  await until(async () => (await row.locator('.sha-full').count()) === 1, 15000, 'the downloaded image in the library');
  assert.equal(await row.locator('.sha-full').textContent(), sha256(payload));
  assert.equal(await row.locator('[data-bytes]').getAttribute('data-bytes'), String(payload.length));
  const job = page.locator('li.download').filter({ hasText: 'fetched.img' });
  await until(async () => (await job.locator('.badge').textContent()) === 'done', 5000, 'job done');

  // a slow one: progress shows, Cancel stops it and nothing is stored
  await page.fill('#dl-url', originBase + '/slow.img');
  await page.fill('#dl-name', 'slow.img');
  await page.click('#dl-submit');
  const slow = page.locator('li.download').filter({ hasText: 'slow.img' });
  await until(async () => (await slow.locator('.badge').textContent()) === 'running', 5000, 'slow job running');
  await until(async () => /KiB|MiB/.test(await slow.locator('.dl-stats').textContent()), 5000, 'progress in bytes');
  await shot(page, '10-download-running');
  await slow.getByRole('button', { name: /^Cancel download/ }).click();
  await until(async () => (await slow.locator('.badge').textContent()) === 'cancelled', 5000, 'slow job cancelled');
  assert.equal((await api(srv, 'GET', '/images/slow.img')).status, 404);
  assert.deepEqual(page.pageErrors, []);
  await page.context().close();
});

test('download form against a stubbed /downloads: validation, request body, progress, cancel', async () => {
  const page = await openPage();
  const seen = [];
  let job = null;
  await page.route(/\/downloads(\/\d+)?$/, async (route) => {
    const req = route.request();
    const m = req.method();
    seen.push(m + ' ' + new URL(req.url()).pathname + (req.postData() ? ' ' + req.postData() : ''));
    if (m === 'GET') return route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ downloads: job ? [job] : [] }) });
    if (m === 'POST') {
      const b = JSON.parse(req.postData());
      job = { id: 7, url: b.url, name: b.name || null, state: 'running', bytes_done: 1048576, total: 4194304,
        speed: 2097152, error: null, sha256: b.sha256 || null, insecure: !!b.insecure, attempts: 1 };
      return route.fulfill({ status: 202, contentType: 'application/json', body: JSON.stringify(job) });
    }
    if (m === 'DELETE') {
      job = { ...job, state: 'cancelled', speed: 0 };
      return route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(job) });
    }
    return route.fulfill({ status: 405, contentType: 'application/json', body: '{"error":{"code":"method_not_allowed","message":"no"}}' });
  });
  await page.goto(srv.base + '/');
  await until(async () => page.locator('#downloads-section').isVisible(), 5000, 'the download form (stubbed)');

  // a bad SHA-256 and a bad name are caught before any request
  await page.fill('#dl-url', 'https://example.invalid/images/Debian 12.iso');
  await page.fill('#dl-sha', 'abc');
  await page.click('#dl-submit');
  assert.match(await page.locator('#dl-error').textContent(), /64 hexadecimal digits/);
  const good = 'AB'.repeat(32);
  await page.fill('#dl-sha', good);
  await page.fill('#dl-name', 'my image.iso');
  await page.click('#dl-submit');
  assert.match(await page.locator('#dl-error').textContent(), /not a valid image name; it was changed to my_image\.iso/);
  assert.equal(await page.inputValue('#dl-name'), 'my_image.iso');
  assert.equal(seen.filter((s) => s.startsWith('POST')).length, 0, 'nothing sent yet');

  await page.check('#dl-insecure');
  await page.click('#dl-submit');
  await until(async () => (await page.locator('li.download[data-download="7"]').count()) === 1, 3000, 'the job');
  const post = seen.find((s) => s.startsWith('POST'));
  assert.deepEqual(JSON.parse(post.slice(post.indexOf('{'))),
    { url: 'https://example.invalid/images/Debian 12.iso', name: 'my_image.iso', sha256: good.toLowerCase(), insecure: true });
  const li = page.locator('li.download[data-download="7"]');
  assert.equal(await li.locator('.dl-name').textContent(), 'my_image.iso');
  assert.equal(await li.locator('.badge').textContent(), 'running');
  assert.equal(await li.locator('.dl-stats').textContent(), '1.00 MiB of 4.00 MiB (25%) · 2.00 MiB/s · 2 s left');
  assert.equal(await li.locator('progress').getAttribute('value'), '1048576');
  assert.equal(await page.inputValue('#dl-url'), '', 'the form is cleared for the next one');

  await li.getByRole('button', { name: 'Cancel download 7' }).click();
  await until(async () => (await li.locator('.badge').textContent()) === 'cancelled', 3000, 'cancelled');
  assert.ok(seen.includes('DELETE /downloads/7'));
  assert.ok(await li.getByRole('button', { name: 'Remove download 7 from the list' }).isVisible());
  assert.ok(await li.getByRole('button', { name: 'Cancel download 7' }).isHidden());
  assert.deepEqual(page.pageErrors, []);
  await page.context().close();
});

// Every vmediad has /downloads (and its /events state lists the jobs), so the
// page has no fallback for a server without it: the form is there before the
// state arrives, and the jobs come from the state, not from a GET /downloads.
test('the download form is shown before the state arrives; its jobs come from the state alone', async () => {
  const page = await openPage();
  const [st, luns, images] = await Promise.all(['/status', '/luns', '/images'].map((p) => api(srv, 'GET', p)));
  const job = { id: 41, url: 'http://example.invalid/a.img', name: 'a.img', state: 'done',
    bytes_done: 5, total: 5, attempts: 1 };
  const state = { status: st.data, luns: luns.data.luns, images: images.data.images, downloads: [job] };
  let sendState;
  const stateAsked = new Promise((r) => { sendState = r; });
  const asked = [];
  await page.route(/\/events$/, async (route) => {
    await stateAsked;
    return route.fulfill({ status: 200, contentType: 'text/event-stream',
      body: 'event: state\ndata: ' + JSON.stringify(state) + '\n\n' });
  });
  await page.route(/\/downloads$/, (route) => { asked.push(route.request().method()); return route.continue(); });
  await page.goto(srv.base + '/');
  await until(async () => page.locator('#downloads-section').isVisible(), 3000, 'the form shown before any state');
  assert.equal(await page.locator('li.download').count(), 0);
  sendState();
  await until(async () => (await page.locator('li.download[data-download="41"]').count()) === 1, 5000, 'the state\'s job listed');
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(asked, [], 'no GET /downloads: the state names the jobs');
  assert.deepEqual(page.pageErrors, []);
  await page.context().close();
});
