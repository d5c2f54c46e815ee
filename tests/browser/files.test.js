// Compressed uploads, the "New drive" dialog and the files of an image, in
// Chromium against the real vmediad (sim backend).
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { startServer, launchBrowser, newPage, api, sha256, shot, tmpdir, until, textOf } = require('./helpers');

let srv, browser, page, dir;

before(async () => {
  srv = await startServer();
  browser = await launchBrowser();
  page = await newPage(browser);
  dir = tmpdir('vmedia-ui-files-');
  await page.goto(srv.base + '/');
  await until(async () => (await page.locator('#conn').getAttribute('data-state')) === 'live', 5000, 'Live');
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

const row = (name) => page.locator('tr[data-image="' + name + '"]');

test('a .img.xz dropped in is stored decompressed under its own name', async () => {
  const raw = Buffer.concat([require('node:crypto').randomBytes(1 << 20), Buffer.alloc(3 << 20, 0x41)]);
  const xz = execFileSync('xz', ['-c', '-T1'], { input: raw, maxBuffer: 64 << 20 });
  const file = path.join(dir, 'pi.img.xz');
  fs.writeFileSync(file, xz);
  await page.setInputFiles('#file-input', file);
  await until(async () => (await row('pi.img').count()) === 1 &&
    (await row('pi.img').locator('[data-bytes]').getAttribute('data-bytes')) === String(raw.length),
  15000, 'pi.img listed with its decompressed size');
  assert.equal(await row('pi.img.xz').count(), 0);
  assert.equal(await textOf(row('pi.img').locator('.sha-full')), sha256(raw));
  const up = page.locator('li.upload').last();
  assert.match(await textOf(up.locator('.up-stats')), /Stored as pi\.img .*decompressed from .* of xz/);
  await shot(page, 'compressed-upload-done');
});

test('"New drive" makes a FAT32 drive that is listed at once', async () => {
  await page.click('#newdrive-open');
  await page.fill('#nd-name', 'xchg.img');
  await page.fill('#nd-size', '64M');
  await page.fill('#nd-label', 'XCHG');
  await shot(page, 'new-drive-dialog');
  await page.click('#nd-create');
  await until(async () => (await row('xchg.img').count()) === 1, 15000, 'xchg.img listed');
  assert.equal(await page.locator('#newdrive').evaluate((d) => d.open), false);
  const img = (await api(srv, 'GET', '/images')).data.images.find((i) => i.name === 'xchg.img');
  assert.equal(img.size, 64 << 20);
  assert.equal(img.source, 'new fat32 drive');
});

test('"New drive" shows the server\'s refusal in the dialog', async () => {
  await page.click('#newdrive-open');
  await page.fill('#nd-name', 'tiny.img');
  await page.fill('#nd-size', '1M');
  await page.click('#nd-create');
  await until(async () => /64 MiB/.test(await textOf(page.locator('#nd-error'))), 5000, 'the refusal');
  assert.equal(await page.locator('#newdrive').evaluate((d) => d.open), true);
  await page.click('#nd-cancel');
  assert.equal(await row('tiny.img').count(), 0);
});

test('the files of a drive: add one, open a folder, download one', async () => {
  assert.equal((await api(srv, 'PUT', '/images/xchg.img/files/EFI/BOOT/grub.cfg', Buffer.from('set timeout=1\n'))).status, 201);
  await row('xchg.img').locator('button.files-btn').click();
  await until(async () => (await page.locator('#files-list li[data-file="EFI"]').count()) === 1, 10000, 'EFI listed');
  const notes = path.join(dir, 'notes.txt');
  fs.writeFileSync(notes, 'from the operator\n');
  await page.setInputFiles('#files-add', notes);
  await until(async () => (await page.locator('#files-list li[data-file="notes.txt"]').count()) === 1, 10000,
    'notes.txt listed after adding it');
  const got = await api(srv, 'GET', '/images/xchg.img/files/notes.txt');
  assert.equal(got.data, 'from the operator\n');
  await page.click('#files-list li[data-file="EFI"] button');
  await until(async () => (await page.locator('#files-list li[data-file="BOOT"]').count()) === 1, 5000, 'into EFI');
  await page.click('#files-list li[data-file="BOOT"] button');
  const link = page.locator('#files-list li[data-file="grub.cfg"] a');
  await until(async () => (await link.count()) === 1, 5000, 'grub.cfg listed');
  const href = await link.getAttribute('href');
  assert.equal(href, '/images/xchg.img/files/EFI/BOOT/grub.cfg');
  const body = await page.evaluate(async (u) => (await fetch(u)).text(), href);
  assert.equal(body, 'set timeout=1\n');
  await shot(page, 'files-dialog');
  await page.click('#files-close');
});

test('the files of a drive: delete one after confirming, a full folder is refused', async () => {
  assert.equal((await api(srv, 'PUT', '/images/xchg.img/files/old.log', Buffer.from('x'))).status, 201);
  await row('xchg.img').locator('button.files-btn').click();
  const entry = (name) => page.locator('#files-list li[data-file="' + name + '"]');
  await until(async () => (await entry('old.log').count()) === 1, 10000, 'old.log listed');
  await entry('old.log').locator('button.del').click();
  await until(async () => page.locator('#confirm').evaluate((d) => d.open), 5000, 'the confirmation');
  await page.click('#confirm-ok');
  await until(async () => (await entry('old.log').count()) === 0, 10000, 'old.log gone from the list');
  assert.equal((await api(srv, 'GET', '/images/xchg.img/files/old.log')).status, 404);
  await entry('EFI').locator('button.del').click();
  await page.click('#confirm-ok');
  await until(async () => /delete them first/.test(await textOf(page.locator('#files-error'))), 5000,
    'the server\'s refusal of a full folder');
  assert.equal(await entry('EFI').count(), 1);
  await page.click('#files-close');
});

test('the files of a drive inserted read-write: the dialog says why not', async () => {
  const r = await api(srv, 'POST', '/luns/0/insert', { image: 'xchg.img', cdrom: false, ro: false });
  assert.equal(r.status, 200);
  await row('xchg.img').locator('button.files-btn').click();
  await until(async () => /read-write/.test(await textOf(page.locator('#files-error'))), 5000, 'the refusal');
  assert.equal(await page.locator('#files-add-label').isHidden(), true);
  await page.click('#files-close');
  assert.equal((await api(srv, 'POST', '/luns/0/eject')).status, 200);
});
