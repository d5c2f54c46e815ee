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
const { startServer, launchBrowser, newPage, api, tmpdir, until } = require('./helpers');

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

test('a download URL and an error message with markup are shown as text (real endpoint, if present)', async (t) => {
  const dl = await api(srv, 'GET', '/downloads');
  if (dl.status !== 200) {
    // Without the endpoint the form must stay hidden; the stubbed test in
    // downloads.test.js covers the rendering.
    assert.equal(dl.status, 404);
    assert.ok(await page.locator('#downloads-section').isHidden());
    t.diagnostic('vmediad has no /downloads: checked that the form is hidden');
    return;
  }
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

test('an error message that quotes the request is shown as text', async () => {
  // The page shows every refused request's message in a toast; here the
  // server quotes a bad LUN number back ("'<img ...>' is not a LUN number").
  await page.evaluate(async (evil) => {
    const r = await fetch('/luns/' + encodeURIComponent(evil) + '/eject', { method: 'POST' });
    const body = await r.json();
    // the same path the page uses for every error it shows
    window.__msg = body.error.message;
  }, EVIL);
  const msg = await page.evaluate(() => window.__msg);
  assert.ok(msg.includes('<img src=x'), 'the server echoes the markup: ' + msg);
  // feed it through the page's toast
  await page.evaluate(() => window.vmedia.toast(window.__msg));
  const t = page.locator('#toasts .toast-msg').last();
  assert.equal(await t.textContent(), await page.evaluate(() => window.__msg));
  await assertNoInjection(page);
});
