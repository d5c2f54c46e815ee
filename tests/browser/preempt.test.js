// A plain eject stuck behind a host that stopped reading (without locking
// the medium): the page still offers Force eject, and the forced eject
// pre-empts the stuck one. Real headless Chromium, real vmediad (sim).
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { startServer, launchBrowser, newPage, api, shot, until } = require('./helpers');

let srv, browser, page;
const card = (n) => page.locator(`article.lun[data-lun="${n}"]`);
const stateOf = async (n) => (await card(n).getAttribute('data-state')) || '';

before(async () => {
  srv = await startServer({ args: ['--api-wait-ms', '300', '--eject-wait-ms', '300'] });
  browser = await launchBrowser();
  page = await newPage(browser);
  await page.goto(srv.base + '/');
  await until(async () => (await page.locator('#conn').getAttribute('data-state')) === 'live', 5000, 'Live');
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

test('force eject is offered for a plain eject stuck in the kernel and wins', async () => {
  assert.equal((await api(srv, 'PUT', '/images/stuck.img', Buffer.alloc(4096, 7))).status, 201);
  assert.equal((await api(srv, 'POST', '/luns/0/insert', { image: 'stuck.img' })).status, 200);
  assert.equal((await api(srv, 'POST', '/sim/luns/0/host?lock=0&hang=1')).status, 200);
  const c = card(0);
  await until(async () => (await stateOf(0)) === 'inserted', 3000, 'LUN 0 inserted');
  // not locked: no lock note
  assert.equal(await c.locator('.badge.locked').isVisible(), false);

  await c.getByRole('button', { name: 'Eject', exact: true }).click();
  await until(async () => (await stateOf(0)) === 'ejecting', 3000, 'ejecting (202)');
  await until(async () => /Still ejecting in the background/.test(await c.textContent()), 2000, 'the 202 note');
  const force = c.getByRole('button', { name: 'Force eject…' });
  await until(async () => force.isVisible(), 2000, 'Force eject offered while the plain eject is stuck');
  assert.equal(await force.isDisabled(), false);
  await shot(page, 'preempt-01-stuck', { fullPage: false });

  await force.click();
  const dlg = page.locator('dialog#confirm');
  await until(async () => dlg.isVisible(), 2000, 'the confirmation dialog');
  assert.match(await dlg.textContent(), /still waiting for the kernel/);
  await dlg.getByRole('button', { name: 'Force eject' }).click();
  await until(async () => (await stateOf(0)) === 'empty', 3000, 'LUN 0 empty after the force');
  assert.equal(await c.locator('.last code.method').textContent(), 'break_io+file');
  assert.match(await c.locator('.last').textContent(), /forced, ok/);
  assert.match(await c.locator('.last').textContent(), /Other LUNs affected: no/);
  const lun = (await api(srv, 'GET', '/luns/0')).data;
  assert.equal(lun.state, 'empty');
  assert.equal(lun.last_eject.method, 'break_io+file');
  await shot(page, 'preempt-02-forced', { fullPage: false });
  assert.deepEqual(page.pageErrors, []);
});
