// Strings from the server reach the page as text, never as markup. Image
// names cannot carry markup (the server refuses < and >), so this uses
// server data that legally can: the storage directory's path (shown in the
// footer), and, when vmediad has downloads, the URL a job echoes back and the
// message of a refused download.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { startServer, launchBrowser, newPage, api, tmpdir, until, textOf } = require('./helpers');

const EVIL = '<img src=x onerror="window.__xss=1">&amp;<b>bold'; // no '/': it names a directory
// the same without spaces or quotes, so that it is a URL the server takes
const EVIL_PATH = '<img/src=x/onerror=window.__xss=1>&amp;<b>bold</b>';
let srv, browser, page, storage;

// No element and no script came out of the data.
async function assertNoInjection(p) {
  const r = await p.evaluate(() => ({
    imgs: document.querySelectorAll('img').length,
    bolds: document.querySelectorAll('b').length,
    xss: window.__xss,
  }));
  assert.deepEqual(r, { imgs: 0, bolds: 0, xss: undefined });
}

before(async () => {
  storage = path.join(tmpdir('vmedia-ui-esc-'), EVIL);
  fs.mkdirSync(storage);
  srv = await startServer({ storage });
  browser = await launchBrowser();
  page = await newPage(browser);
  await page.goto(srv.base + '/');
  await until(async () => (await page.locator('#conn').getAttribute('data-state')) === 'live', 5000, 'Live');
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

test('the storage path with markup is shown as text', async () => {
  const st = await api(srv, 'GET', '/status');
  assert.equal(st.data.storage.dir, storage, 'the server reports the path as is');
  await until(async () => (await page.locator('#status code.dir').textContent()) === storage, 3000, 'the path in the footer');
  await assertNoInjection(page);
});

test('a download URL and an error message with markup are shown as text', async () => {
  assert.equal((await api(srv, 'GET', '/downloads')).status, 200, 'vmediad has /downloads');
  await until(async () => page.locator('#downloads-section').isVisible(), 3000, 'download form');
  // a URL the server takes (nothing listens on port 9) and echoes in the job
  const url = 'http://127.0.0.1:9/' + EVIL_PATH;
  await page.fill('#dl-url', url);
  await page.fill('#dl-name', 'evil.iso');
  await page.click('#dl-submit');
  const li = page.locator('li.download').first();
  await until(async () => (await li.count()) === 1, 3000, 'the job in the list');
  const shown = await li.locator('.dl-url').textContent();
  assert.equal(shown, url, 'the URL is shown with its markup as text');
  await assertNoInjection(page);
  // a URL it refuses: its message quotes the URL back
  await page.fill('#dl-url', 'http://127.0.0.1:9/' + EVIL);
  await page.fill('#dl-name', '');
  await page.click('#dl-submit');
  await until(async () => page.locator('#dl-error').isVisible(), 3000, 'the refusal');
  const msg = await page.locator('#dl-error').textContent();
  assert.ok(msg.length > 0 && !/^\s*\{/.test(msg), 'a message, not JSON: ' + msg);
  await assertNoInjection(page);
  // clean up the job
  const jobs = (await api(srv, 'GET', '/downloads')).data.downloads;
  for (const j of jobs) await api(srv, 'DELETE', '/downloads/' + j.id);
});

test('error messages with markup are shown as text where the page shows them', async () => {
  // The server does quote request data back ("'<img ...>' is not a LUN
  // number"): such a message, given as the answer to the page's own requests
  // (page.route), must come out as text in a toast (a refused delete), in a
  // LUN's error line (a failed eject) and in its lock note (a refused eject).
  const echoed = await api(srv, 'POST', '/luns/' + encodeURIComponent(EVIL) + '/eject');
  const msg = echoed.data.error.message;
  assert.ok(msg.includes('<img src=x'), 'the server echoes the markup: ' + msg);
  const refuse = (status, code) => (route) => route.fulfill({ status, contentType: 'application/json',
    body: JSON.stringify({ error: { code, message: msg } }) });

  assert.equal((await api(srv, 'PUT', '/images/esc.img', Buffer.from('esc'))).status, 201);
  const row = page.locator('tr[data-image="esc.img"]');
  await until(async () => (await row.count()) === 1, 3000, 'esc.img listed');
  await page.route(/\/images\/esc\.img$/, (route) =>
    route.request().method() === 'DELETE' ? refuse(409, 'image_in_use')(route) : route.continue());
  await row.getByRole('button', { name: 'Delete esc.img' }).click();
  await page.locator('dialog#confirm').getByRole('button', { name: 'Delete' }).click();
  await until(async () => (await textOf(page.locator('#toasts .toast-msg').last())) === 'esc.img: ' + msg, 3000, 'the refusal in a toast');
  await assertNoInjection(page);
  await page.unroute(/\/images\/esc\.img$/);

  assert.equal((await api(srv, 'POST', '/luns/0/insert', { image: 'esc.img' })).status, 200);
  const card = page.locator('article.lun[data-lun="0"]');
  await until(async () => (await card.getAttribute('data-state')) === 'inserted', 3000, 'LUN 0 inserted');
  await page.route(/\/luns\/0\/eject$/, refuse(500, 'internal'));
  await card.getByRole('button', { name: 'Eject', exact: true }).click();
  await until(async () => (await textOf(card.locator('p.error'))) === msg, 3000, 'the failure in the LUN\'s error line');
  await assertNoInjection(page);
  await page.unroute(/\/luns\/0\/eject$/);
  await page.route(/\/luns\/0\/eject$/, refuse(409, 'medium_locked'));
  await card.getByRole('button', { name: 'Eject', exact: true }).click();
  await until(async () => (await textOf(card.locator('.locknote .server-msg'))) === msg, 3000, 'the refusal in the lock note');
  await assertNoInjection(page);
  await page.unroute(/\/luns\/0\/eject$/);
  assert.equal((await api(srv, 'POST', '/luns/0/eject?force=1')).status, 200);
});
