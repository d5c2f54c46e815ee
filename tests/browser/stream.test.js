// Streamed media in Chromium against the real vmediad (sim backend; the real
// nbdkit reads a local image server with Range support): "Insert from URL
// (no copy)" beside "Download", the read statistics of a streamed LUN shown
// and refreshed, and a named link ("Keep as link") inserted by name.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const crypto = require('node:crypto');
const { startServer, launchBrowser, newPage, api, shot, until, textOf } = require('./helpers');

let srv, browser, page, origin, base;
const files = { 'boot.iso': crypto.randomBytes(3 << 20), 'disk.img': crypto.randomBytes(1 << 20) };
const gets = [];	// the page's GETs of /luns/{id}

// An image server that answers Range requests (206), as nbdkit's curl plugin needs.
function rangeServer() {
  const s = http.createServer((req, res) => {
    const data = files[decodeURIComponent(req.url.split('?')[0].slice(1))];
    if (!data) { res.writeHead(404, { 'Content-Length': 0 }); return res.end(); }
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range || '');
    const start = m ? Number(m[1]) : 0;
    const end = m && m[2] ? Math.min(Number(m[2]), data.length - 1) : data.length - 1;
    const head = { 'Content-Length': end - start + 1, 'Accept-Ranges': 'bytes' };
    if (m) head['Content-Range'] = 'bytes ' + start + '-' + end + '/' + data.length;
    res.writeHead(m ? 206 : 200, head);
    res.end(req.method === 'HEAD' ? undefined : data.subarray(start, end + 1));
  });
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve(s)));
}

before(async () => {
  origin = await rangeServer();
  base = 'http://127.0.0.1:' + origin.address().port;
  srv = await startServer({ args: ['--luns', '2'] });
  browser = await launchBrowser();
  page = await newPage(browser);
  page.on('request', (r) => { if (r.method() === 'GET' && /\/luns\/\d+$/.test(r.url())) gets.push(r.url()); });
  await page.goto(srv.base + '/');
  await until(async () => (await page.locator('#conn').getAttribute('data-state')) === 'live', 5000, 'Live');
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
  if (origin) origin.close();
});

const card = (id) => page.locator('article.lun[data-lun="' + id + '"]');
const bytesOf = async (loc) => Number(await loc.getAttribute('data-bytes'));

test('"Insert from URL (no copy)" streams into the chosen LUN; the card shows the stream, refreshed', async () => {
  const url = base.replace('http://', 'http://op:s3cret@') + '/boot.iso';
  await page.fill('#dl-url', url);
  await page.selectOption('#dl-lun', '1');
  await page.getByRole('button', { name: 'Insert from URL (no copy)' }).click();
  const c = card(1);
  await until(async () => (await c.getAttribute('data-state')) === 'inserted', 10000, 'LUN 1 inserted');
  // The redacted URL, never the password; the size from the server.
  assert.equal(await textOf(c.locator('.stream-url')), base.replace('http://', 'http://***@') + '/boot.iso');
  assert.equal(await bytesOf(c.locator('.stream-size')), files['boot.iso'].length);
  assert.match(await textOf(c.locator('.lun-kind')), /CD-ROM · read-only · streamed, not copied/);
  assert.equal(await page.locator('#dl-url').inputValue(), '', 'the form is cleared');
  assert.ok(!(await page.content()).includes('s3cret'));
  // Refreshed without an event: the page fetches the LUN again and shows
  // what nbdkit has fetched since (the counters the monitor updates).
  const before = gets.length;
  await until(async () => {
    const st = (await api(srv, 'GET', '/luns/1')).data.stream;
    return st.server_bytes > 0 && (await bytesOf(c.locator('.stream-server'))) === st.server_bytes &&
      (await bytesOf(c.locator('.stream-read'))) === st.bytes_read;
  }, 10000, 'the counters shown as the server has them');
  await until(async () => gets.length >= before + 2, 6000, 'the page to poll the streamed LUN');
  const st = (await api(srv, 'GET', '/luns/1')).data.stream;
  assert.equal(await textOf(c.locator('.stream-hits')),
    st.cache_hit_rate === null ? '–' : Math.round(st.cache_hit_rate * 100) + ' %');
  // Only LUN 0 is left to stream into.
  assert.deepEqual(await page.locator('#dl-lun option').evaluateAll((o) => o.map((x) => x.value)), ['0']);
  await shot(page, 'stream-inserted');
  await c.getByRole('button', { name: 'Eject', exact: true }).click();
  await until(async () => (await c.getAttribute('data-state')) === 'empty', 10000, 'LUN 1 empty');
  assert.ok(await c.locator('dl.stream').isHidden());
  // No stream left: the polling stops.
  await new Promise((r) => setTimeout(r, 2500));
  const n = gets.length;
  await new Promise((r) => setTimeout(r, 4500));
  assert.equal(gets.length, n, 'no GET /luns/{id} once nothing streams');
});

test('a server\'s refusal is shown in the form', async () => {
  await page.fill('#dl-url', base + '/missing.img');
  await page.getByRole('button', { name: 'Insert from URL (no copy)' }).click();
  await until(async () => /answered 404/.test(await textOf(page.locator('#dl-error'))), 10000, 'the refusal');
  assert.equal((await api(srv, 'GET', '/luns/0')).data.state, 'empty');
  await page.fill('#dl-url', '');
});

test('"Keep as link" lists a named link that the LUN\'s insert form streams by name', async () => {
  await page.fill('#dl-url', base + '/disk.img');
  await page.fill('#dl-name', 'nas-disk.img');
  await page.getByRole('button', { name: 'Keep as link' }).click();
  const row = page.locator('tr[data-image="nas-disk.img"]');
  await until(async () => (await row.count()) === 1, 10000, 'the link listed');
  assert.equal(await textOf(row.locator('.kind-link')), 'link');
  assert.match(await textOf(row.locator('.src')), new RegExp('streamed from ' + base.replace(/[.]/g, '\\.') + '/disk\\.img'));
  assert.equal(await bytesOf(row.locator('[data-bytes]')), files['disk.img'].length);
  assert.ok(await row.locator('button.files-btn').isHidden(), 'a link has no files to show');
  const c = card(0);
  await c.locator('select#ins-img-0').selectOption('nas-disk.img');
  assert.ok(await c.locator('#ins-ro-0').isChecked() && await c.locator('#ins-ro-0').isDisabled(),
    'a link is read-only');
  await c.getByRole('button', { name: 'Insert' }).click();
  await until(async () => (await c.getAttribute('data-state')) === 'inserted', 10000, 'LUN 0 inserted');
  assert.equal(await textOf(c.locator('.stream-url')), base + '/disk.img');
  assert.equal(await textOf(c.locator('.lun-image .name')), 'nas-disk.img');
  await until(async () => /LUN 0/.test(await textOf(row.locator('.att'))), 5000, 'the link attached to LUN 0');
  await shot(page, 'link-inserted');
  await c.getByRole('button', { name: 'Eject', exact: true }).click();
  await until(async () => (await c.getAttribute('data-state')) === 'empty', 10000, 'LUN 0 empty');
  await until(async () => !(await row.getByRole('button', { name: 'Delete nas-disk.img' }).isDisabled()), 5000, 'delete enabled');
  await row.getByRole('button', { name: 'Delete nas-disk.img' }).click();
  const dlg = page.locator('dialog#confirm');
  await until(async () => dlg.isVisible(), 2000, 'the confirmation dialog');
  assert.match(await dlg.textContent(), /stays on its server/);
  await dlg.getByRole('button', { name: 'Delete' }).click();
  await until(async () => (await row.count()) === 0, 5000, 'the link gone');
  assert.deepEqual((await api(srv, 'GET', '/images')).data.images, []);
});
