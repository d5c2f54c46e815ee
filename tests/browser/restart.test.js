// The page follows /events across a server restart: it says the connection
// is lost, reconnects by itself when vmediad is back on the same port, and
// re-renders from the new `state` (the sim backend forgets its LUNs, the
// storage keeps the images).
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startServer, launchBrowser, newPage, api, shot, until } = require('./helpers');

let srv, browser, page;

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

test('reconnects after vmediad restarts and shows the new state', async (t) => {
  const body = Buffer.from('persisted across the restart\n');
  assert.equal((await api(srv, 'PUT', '/images/kept.img', body)).status, 201);
  assert.equal((await api(srv, 'POST', '/luns/0/insert', { image: 'kept.img' })).status, 200);
  const card = page.locator('article.lun[data-lun="0"]');
  await until(async () => (await card.getAttribute('data-state')) === 'inserted', 3000, 'LUN 0 inserted');
  assert.ok(await page.locator('#offline-banner').isHidden());

  const { port, storage } = srv;
  await srv.stop();
  await until(async () => page.locator('#offline-banner').isVisible(), 5000, 'the connection-lost banner');
  assert.equal(await page.locator('#conn').getAttribute('data-state'), 'lost');
  assert.match(await page.locator('#conn').textContent(), /Reconnecting/);
  await shot(page, '09-connection-lost');

  // the same port and storage, a fresh process
  srv = await startServer({ port, storage });
  const t0 = Date.now();
  await until(async () => (await page.locator('#conn').getAttribute('data-state')) === 'live', 10000, 'Live again');
  const took = Date.now() - t0;
  assert.ok(await page.locator('#offline-banner').isHidden());
  // the new process's state: the image is still there, LUN 0 is empty again
  await until(async () => (await card.getAttribute('data-state')) === 'empty', 2000, 'LUN 0 empty after the restart');
  assert.equal((await api(srv, 'GET', '/luns/0')).data.state, 'empty');
  assert.equal(await page.locator('tr[data-image="kept.img"]').count(), 1);
  assert.equal(await page.locator('tr[data-image="kept.img"] .att').textContent(), '–');

  // and it follows live changes again
  await api(srv, 'PUT', '/images/after-restart.img', Buffer.from('new'));
  await until(async () => (await page.locator('tr[data-image="after-restart.img"]').count()) === 1, 2000, 'a new image live');
  assert.deepEqual(page.pageErrors, []);
  t.diagnostic('reconnected ' + took + ' ms after the restart');
});
