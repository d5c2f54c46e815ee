// A refusal the page cannot predict reaches it at once: the storage is a
// small tmpfs (4 MiB), the page offers a 4 GiB file, and vmediad answers
// 507 from the Content-Length alone, closing the connection without
// reading the body. Chromium must show that answer, not a network error,
// and long before it could have sent the file. Needs root (mount).
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { startServer, launchBrowser, newPage, api, tmpdir, until, textOf } = require('./helpers');

const root = process.getuid && process.getuid() === 0;
let srv, browser, page, mnt, big;

before(async () => {
  if (!root) return;
  mnt = tmpdir('vmedia-ui-small-');
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt]);
  assert.equal(m.status, 0, 'mount: ' + m.stderr);
  big = path.join(tmpdir('vmedia-ui-big-'), 'huge.iso');
  fs.closeSync(fs.openSync(big, 'w'));
  fs.truncateSync(big, 4 * 1024 * 1024 * 1024);	// sparse: costs no disk
  srv = await startServer({ storage: path.join(mnt, 'img'), args: ['--reserve', '0'] });
  browser = await launchBrowser();
  page = await newPage(browser);
  await page.goto(srv.base + '/');
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
  if (big) fs.rmSync(path.dirname(big), { recursive: true, force: true });
  if (mnt) spawnSync('umount', ['-l', mnt]);
});

test('a full disk is shown at once, without the file being sent', { skip: !root && 'needs root to mount a tmpfs' }, async () => {
  const t0 = Date.now();
  await page.setInputFiles('#file-input', big);
  const failed = page.locator('.upload[data-state="failed"]');
  await until(async () => (await failed.count()) > 0, 10000, 'the upload to fail');
  const took = Date.now() - t0;
  const msg = await textOf(failed.locator('p'));
  // the server's own words, not "network error"
  assert.doesNotMatch(msg, /interrupted/, msg);
  assert.match(msg, /space|storage|free/i, msg);
  assert.ok(took < 5000, 'the refusal took ' + took + ' ms');	// before: over 10 s
  assert.match(srv.log(), /PUT \/images\/huge\.iso 507/);
  assert.equal((await api(srv, 'GET', '/images')).data.images.length, 0);
  assert.deepEqual(page.pageErrors, []);
});
