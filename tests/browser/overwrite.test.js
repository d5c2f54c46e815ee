// An upload that replaces a stored image (?overwrite=1), seen by a page
// that did not start it: the complete image stays listed and insertable,
// with the upload shown beside it as a replacement in progress; an aborted
// overwrite leaves the image as it was, a completed one replaces it.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { once } = require('node:events');
const { startServer, launchBrowser, newPage, api, sha256, shot, until, textOf } = require('./helpers');

let srv, browser, page;
const one = Buffer.from('the image that is stored\n');
const SIZE = 4 * 1024 * 1024;

const row = () => page.locator('tr[data-image="a.img"]');

before(async () => {
  srv = await startServer();
  browser = await launchBrowser();
  page = await newPage(browser);
  await page.goto(srv.base + '/');
  await until(async () => (await page.locator('#conn').getAttribute('data-state')) === 'live', 5000, 'Live');
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

// Starts a PUT over a raw socket and sends the first MiB: an upload that
// the test ends when it wants (destroy() aborts it).
async function startOverwrite() {
  const sock = net.connect(srv.port, '127.0.0.1');
  await once(sock, 'connect');
  sock.write('PUT /images/a.img?overwrite=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ' + SIZE + '\r\n\r\n');
  sock.write(Buffer.alloc(1024 * 1024, 7));
  return sock;
}

async function assertStoredImageShown(sha) {
  assert.equal(await row().count(), 1);
  assert.equal(await row().evaluate((tr) => tr.classList.contains('incomplete')), false);
  assert.equal(await textOf(row().locator('.sha-full')), sha);
  const offered = await page.locator('article.lun[data-lun="0"] select option[value="a.img"]').count();
  assert.equal(offered, 1, 'still offered for insertion');
}

test('an overwrite in progress keeps the stored image listed; aborted, the image stays', async () => {
  assert.equal((await api(srv, 'PUT', '/images/a.img', one)).status, 201);
  await until(async () => (await textOf(row().locator('.sha-full'))) === sha256(one), 5000, 'the stored image');
  const sock = await startOverwrite();
  await until(async () => /being replaced: uploading .* of 4\.00 MiB/.test(await textOf(row().locator('.size'))),
    5000, 'the overwrite shown in progress');
  await assertStoredImageShown(sha256(one));
  assert.ok(await row().locator('progress[aria-label="Replacement upload of a.img"]').count());
  await shot(page, 'overwrite-in-progress');

  sock.destroy();
  await until(async () => !/being replaced/.test(await textOf(row().locator('.size'))), 5000, 'the overwrite gone');
  await new Promise((r) => setTimeout(r, 300));	// any later event would have arrived
  await assertStoredImageShown(sha256(one));
  assert.equal((await api(srv, 'GET', '/images/a.img')).data, one.toString());
});

test('a completed overwrite replaces the image in the list', async () => {
  const sock = await startOverwrite();
  await until(async () => /being replaced/.test(await textOf(row().locator('.size'))), 5000, 'the overwrite shown in progress');
  sock.write(Buffer.alloc(SIZE - 1024 * 1024, 7));
  await until(async () => (await textOf(row().locator('.sha-full'))) === sha256(Buffer.alloc(SIZE, 7)), 10000, 'the new image');
  assert.doesNotMatch(await textOf(row().locator('.size')), /being replaced/);
  assert.equal(await page.locator('tr[data-image="a.img"]').count(), 1);
  sock.destroy();
  assert.deepEqual(page.pageErrors, []);
});
