// The main operator flow in real headless Chromium against a real vmediad
// (sim backend): upload through the page, insert, eject, host lock, refused
// plain eject, confirmed force eject, a second page following live, the 202
// "still ejecting" state, and the phone layout. Screenshots go to
// build/screenshots/.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { startServer, launchBrowser, newPage, api, sha256, shot, until, textOf } = require('./helpers');

let srv, browser, page, page2;
const IMG = 'test-disk.img';
const data = crypto.randomBytes(1536 * 1024 + 123);
const digest = sha256(data);

const card = (p, n) => p.locator(`article.lun[data-lun="${n}"]`);
const stateOf = async (p, n) => (await card(p, n).getAttribute('data-state')) || '';

before(async () => {
  // A short API bound so the 202 "still ejecting" reply comes quickly.
  srv = await startServer({ args: ['--api-wait-ms', '300'] });
  browser = await launchBrowser();
  page = await newPage(browser);
  page2 = await newPage(browser);
  for (const p of [page, page2]) {
    await p.goto(srv.base + '/');
    await until(async () => (await p.locator('#conn').getAttribute('data-state')) === 'live', 5000, 'Live');
    await card(p, 1).waitFor();
  }
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

test('empty state: two LUN cards, simulated banner and sim controls', async () => {
  assert.equal(await page.locator('article.lun').count(), 2);
  assert.ok(await page.locator('#sim-banner').isVisible(), 'sim banner shown');
  assert.match(await page.locator('#sim-banner').textContent(), /No USB device is offered to any host/);
  assert.ok(await card(page, 0).locator('fieldset.sim').isVisible(), 'sim controls shown');
  assert.equal(await stateOf(page, 0), 'empty');
  assert.ok(await page.locator('#images-empty').isVisible());
  // vmediad has /downloads, and the form shows
  assert.equal((await api(srv, 'GET', '/downloads')).status, 200);
  await until(async () => page.locator('#downloads-section').isVisible(), 2000, 'download section shown');
  await shot(page, '01-empty');
});

test('upload through the file picker: right size and SHA-256, seen live by a second page', async () => {
  await page.setInputFiles('#file-input', { name: IMG, mimeType: 'application/octet-stream', buffer: data });
  const row = page.locator(`tr[data-image="${IMG}"]`);
  await until(async () => (await row.locator('.sha-full').count()) > 0, 10000, 'the uploaded image row');
  assert.equal(await row.locator('.size [data-bytes]').getAttribute('data-bytes'), String(data.length));
  assert.equal(await row.locator('.sha-full').textContent(), digest);
  assert.equal(await row.locator('.sha summary').getAttribute('title'), digest);
  assert.match(await textOf(page.locator('.upload[data-state="done"] .up-stats')), new RegExp('SHA-256 ' + digest));
  // the server agrees
  const r = await api(srv, 'GET', '/images');
  const img = r.data.images.find((i) => i.name === IMG);
  assert.equal(img.size, data.length);
  assert.equal(img.sha256, digest);
  // second page, live
  await until(async () => (await page2.locator(`tr[data-image="${IMG}"] .sha-full`).textContent()) === digest, 2000, 'page 2 to see the upload');
  await shot(page, '02-uploaded');
});

test('the SHA-256 is copied whole by its Copy button', async () => {
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: srv.base });
  const row = page.locator(`tr[data-image="${IMG}"]`);
  assert.equal(await row.locator('.sha summary').textContent(), digest.slice(0, 12) + '…', 'shortened on screen');
  await row.getByRole('button', { name: `Copy the SHA-256 of ${IMG}` }).click();
  await until(async () => (await row.locator('button.copy').textContent()) === 'Copied', 2000, 'Copied');
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), digest);
});

test('a slow upload shows progress, speed and time left, and Cancel stores nothing', async () => {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 512 * 1024 });
  try {
    await page.setInputFiles('#file-input', { name: 'slow.img', mimeType: 'application/octet-stream', buffer: Buffer.alloc(4 * 1024 * 1024, 1) });
    const up = page.locator('.upload[data-state="running"]');
    await up.waitFor();
    await until(async () => /^\d+% · [\d.]+ [KM]iB of 4\.00 MiB · [\d.]+ [KM]iB\/s · \d+ s left$/.test(await up.locator('.up-stats').textContent()),
      8000, 'progress with speed and time left');
    // the other page sees it arrive (upload_progress events)
    await until(async () => /uploading/.test(await textOf(page2.locator('tr[data-image="slow.img"] .size'))), 3000, 'page 2 sees the upload in progress');
    await shot(page, '02b-uploading');
    await up.getByRole('button', { name: 'Cancel' }).click();
    await until(async () => /Cancelled; nothing was stored/.test(await textOf(page.locator('.upload[data-state="cancelled"] .up-stats'))), 3000, 'cancelled');
  } finally {
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await cdp.detach();
  }
  await until(async () => (await api(srv, 'GET', '/images')).data.images.every((i) => i.name !== 'slow.img'), 3000, 'server dropped the partial upload');
  await until(async () => (await page2.locator('tr[data-image="slow.img"]').count()) === 0, 3000, 'page 2 drops the row');
  assert.equal(await page.locator('tr[data-image="slow.img"]').count(), 0);
});

test('drag and drop a file onto the drop zone uploads it', async () => {
  const bytes = 'dropped bytes\n';
  const dt = await page.evaluateHandle((text) => {
    const d = new DataTransfer();
    d.items.add(new File([text], 'dropped.img', { type: 'application/octet-stream' }));
    return d;
  }, bytes);
  await page.dispatchEvent('#drop', 'dragenter', { dataTransfer: dt });
  assert.ok(await page.locator('#drop.over').count(), 'drop zone highlighted while dragging');
  await page.dispatchEvent('#drop', 'drop', { dataTransfer: dt });
  await until(async () => (await textOf(page.locator('tr[data-image="dropped.img"] .sha-full'))) === sha256(Buffer.from(bytes)), 5000, 'dropped file stored');
  assert.equal(await page.locator('#drop.over').count(), 0);
  assert.equal((await api(srv, 'DELETE', '/images/dropped.img')).status, 204);
});

test('an invalid file name gets a sanitised one offered', async () => {
  await page.setInputFiles('#file-input', { name: 'My Disk (copy).img', mimeType: 'application/octet-stream', buffer: Buffer.from('hello') });
  const up = page.locator('.upload[data-state="pending"]');
  await up.waitFor();
  assert.match(await up.locator('p.note').textContent(), /not a valid image name; suggested: My_Disk_copy\.img/);
  assert.equal(await up.locator('input').inputValue(), 'My_Disk_copy.img');
  await up.locator('input').fill('bad/name');
  assert.ok(await up.getByRole('button', { name: 'Upload' }).isDisabled(), 'upload disabled for an invalid name');
  await up.locator('input').fill('My_Disk_copy.img');
  await up.getByRole('button', { name: 'Upload' }).click();
  await page.locator('tr[data-image="My_Disk_copy.img"] .sha-full').waitFor({ state: 'attached' });
  assert.equal(await page.locator('tr[data-image="My_Disk_copy.img"] .sha-full').textContent(), sha256(Buffer.from('hello')));
});

test('a file whose name exists already waits; Replace overwrites it', async () => {
  const again = Buffer.from('hello again');
  await page.setInputFiles('#file-input', { name: 'My_Disk_copy.img', mimeType: 'application/octet-stream', buffer: again });
  const up = page.locator('.upload[data-state="pending"]');
  await up.waitFor();
  assert.match(await up.locator('p.note').textContent(), /exists already/);
  await up.getByRole('button', { name: 'Replace existing' }).click();
  await until(async () => (await textOf(page.locator('tr[data-image="My_Disk_copy.img"] .sha-full'))) === sha256(again), 5000, 'replaced');
  assert.equal((await api(srv, 'GET', '/images/My_Disk_copy.img')).data, 'hello again');
});

test('insert into LUN 0; delete is disabled with a reason while attached', async () => {
  const c = card(page, 0);
  await c.locator('select#ins-img-0').selectOption(IMG);
  assert.equal(await c.locator('select#ins-type-0').inputValue(), 'flash', '.img defaults to a flash drive');
  assert.equal(await c.locator('#ins-ro-0').isChecked(), false);
  await c.getByRole('button', { name: 'Insert' }).click();
  await until(async () => (await stateOf(page, 0)) === 'inserted', 3000, 'LUN 0 inserted');
  assert.equal(await c.locator('.lun-image .name').textContent(), IMG);
  assert.match(await c.locator('.lun-kind').textContent(), /Flash drive · read-write/);
  const row = page.locator(`tr[data-image="${IMG}"]`);
  await until(async () => (await row.locator('.att').textContent()) === 'LUN 0', 2000, 'attached-to LUN 0');
  assert.ok(await row.getByRole('button', { name: `Delete ${IMG}` }).isDisabled());
  assert.match(await row.locator('.why').textContent(), /Inserted in LUN 0: eject it first/);
  await until(async () => (await stateOf(page2, 0)) === 'inserted', 2000, 'page 2 to see the insert');
  await shot(page, '03-inserted');
});

test('plain eject works and shows method "file"', async () => {
  const c = card(page, 0);
  await c.getByRole('button', { name: 'Eject', exact: true }).click();
  await until(async () => (await stateOf(page, 0)) === 'empty', 3000, 'LUN 0 empty');
  assert.equal(await c.locator('.last code.method').textContent(), 'file');
  assert.match(await c.locator('.last').textContent(), /plain, ok, took .* ms/);
});

test('host lock: plain eject refused, force eject after confirmation, method shown, second page follows', async () => {
  const c = card(page, 0);
  await c.locator('select#ins-img-0').selectOption(IMG);
  await c.getByRole('button', { name: 'Insert' }).click();
  await until(async () => (await stateOf(page, 0)) === 'inserted', 3000, 'LUN 0 inserted');

  await c.getByRole('button', { name: 'Host locks medium' }).click();
  await until(async () => c.locator('.badge.locked').isVisible(), 2000, 'locked badge');
  assert.equal((await api(srv, 'GET', '/luns/0')).data.locked, true);
  await until(async () => card(page2, 0).locator('.badge.locked').isVisible(), 2000, 'page 2 locked badge');

  // plain eject: refused, the page says why, the medium stays in
  await c.getByRole('button', { name: 'Eject', exact: true }).click();
  await until(async () => c.locator('.locknote .server-msg').isVisible(), 2000, 'the refusal in the lock note');
  // the server's message, as text for a person, never the raw JSON
  assert.match(await c.locator('.locknote .server-msg').textContent(), /^LUN 0: the host has locked the medium/);
  assert.doesNotMatch(await c.textContent(), /[{}]|"code"|medium_locked/, 'no raw JSON');
  assert.match(await c.locator('.locknote').textContent(), /The host has locked this medium/);
  assert.equal(await stateOf(page, 0), 'inserted');
  assert.equal((await api(srv, 'GET', '/luns/0')).data.state, 'inserted');
  const force = c.getByRole('button', { name: 'Force eject…' });
  assert.ok(await force.isVisible());
  await shot(page, '04-locked');

  // the confirmation explains the I/O error; Cancel keeps the medium in
  await force.click();
  const dlg = page.locator('dialog#confirm');
  await until(async () => dlg.isVisible(), 2000, 'the confirmation dialog');
  assert.match(await dlg.textContent(), /the host may see an I\/O error/);
  assert.match(await dlg.textContent(), new RegExp(IMG.replace('.', '\\.')));
  await shot(page, '05-force-confirm', { fullPage: false });
  await dlg.getByRole('button', { name: 'Cancel' }).click();
  await until(async () => !(await dlg.isVisible()), 2000, 'dialog closed');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal((await api(srv, 'GET', '/luns/0')).data.state, 'inserted', 'Cancel did not eject');

  // confirm: ejected by force, method and time shown
  await force.click();
  await until(async () => dlg.isVisible(), 2000, 'the confirmation dialog again');
  await dlg.getByRole('button', { name: 'Force eject' }).click();
  await until(async () => (await stateOf(page, 0)) === 'empty', 3000, 'LUN 0 empty after force');
  assert.equal(await c.locator('.last code.method').textContent(), 'break_io+forced_eject');
  assert.match(await c.locator('.last').textContent(), /forced, ok, took [\d.]+ m?s, at \d\d:\d\d:\d\d/);
  assert.match(await c.locator('.last').textContent(), /Other LUNs affected: no/);
  assert.ok(await c.locator('.locknote').isHidden(), 'lock note gone');
  assert.ok(await c.locator('p.error').isHidden(), 'no error');
  const le = (await api(srv, 'GET', '/luns/0')).data.last_eject;
  assert.equal(le.method, 'break_io+forced_eject');
  assert.equal(le.forced, true);
  // the other browser sees it within a second or two
  await until(async () => (await textOf(card(page2, 0).locator('.last code.method'))) === 'break_io+forced_eject', 2000, 'page 2 last eject');
  assert.equal(await stateOf(page2, 0), 'empty');
  await shot(page, '06-force-ejected');
});

test('202: a plain eject stuck behind another LUN\'s hung I/O shows "still ejecting", then completes from /events', async () => {
  // LUN 1 holds the medium and its host hangs; LUN 0's plain eject then
  // waits for the hang (sim: down_write on the shared semaphore).
  for (const n of [0, 1]) {
    const r = await api(srv, 'POST', `/luns/${n}/insert`, { image: IMG });
    assert.equal(r.status, 200, JSON.stringify(r.data));
  }
  await until(async () => (await stateOf(page, 1)) === 'inserted', 2000, 'LUN 1 inserted');
  await card(page, 1).getByRole('button', { name: 'Host I/O hangs' }).click();
  await until(async () => (await card(page, 1).getByRole('button', { name: 'Host I/O resumes' }).count()) === 1, 2000, 'hang pressed');
  await card(page, 0).getByRole('button', { name: 'Eject', exact: true }).click();
  await until(async () => (await stateOf(page, 0)) === 'ejecting', 3000, 'LUN 0 ejecting');
  assert.match(await card(page, 0).locator('.note.busy').textContent(), /Still ejecting in the background/);
  // (a second page does not see 'ejecting': vmediad announces only the end
  // of the operation on /events, not its start)
  await shot(page, '07-ejecting-202');
  // the host resumes: the eject finishes, announced on /events
  await card(page, 1).getByRole('button', { name: 'Host I/O resumes' }).click();
  await until(async () => (await stateOf(page, 0)) === 'empty', 3000, 'LUN 0 empty after the hang ends');
  await until(async () => (await stateOf(page2, 0)) === 'empty', 2000, 'page 2 sees empty');
  assert.ok(await card(page, 0).locator('.note.busy').isHidden());
  await api(srv, 'POST', '/luns/1/eject?force=1');
  await until(async () => (await stateOf(page, 1)) === 'empty', 2000, 'LUN 1 empty');
});

test('force eject while another LUN hangs: only that LUN\'s stalled command is ended, shown from /events', async () => {
  for (const n of [0, 1]) assert.equal((await api(srv, 'POST', `/luns/${n}/insert`, { image: IMG })).status, 200);
  await until(async () => (await stateOf(page, 1)) === 'inserted' && (await stateOf(page, 0)) === 'inserted', 2000, 'both inserted');
  await card(page, 1).getByRole('button', { name: 'Host I/O hangs' }).click();
  const hangShown = card(page, 1).locator('fieldset.sim button[aria-pressed="true"]');
  await until(async () => (await hangShown.count()) === 1, 2000, 'LUN 1 shown hanging');
  await card(page, 0).getByRole('button', { name: 'Host locks medium' }).click();
  await until(async () => card(page, 0).getByRole('button', { name: 'Force eject…' }).isVisible(), 2000, 'force offered');
  await card(page, 0).getByRole('button', { name: 'Force eject…' }).click();
  await page.locator('dialog#confirm').getByRole('button', { name: 'Force eject' }).click();
  await until(async () => (await stateOf(page, 0)) === 'empty', 4000, 'empty once LUN 1\'s stalled command is ended');
  const last = card(page, 0).locator('.last');
  assert.equal(await last.locator('code.method').textContent(), 'break_io+forced_eject+break_others');
  assert.match(await last.textContent(), /Other LUNs affected: yes — the stalled command of another LUN was ended \(break_io\); its medium and lock stay/);
  assert.doesNotMatch(await last.textContent(), /SIGUSR1/);
  await until(async () => /Other LUNs affected: yes/.test(await textOf(card(page2, 0).locator('.last'))), 2000, 'page 2 sees it');
  await shot(page, '07b-break-others');
  // LUN 1 keeps its medium; its hang is over, and the page says so
  await until(async () => (await hangShown.count()) === 0, 2000, 'no hang shown on LUN 1');
  assert.equal(await stateOf(page, 1), 'inserted');
  assert.equal((await api(srv, 'POST', '/luns/1/eject')).status, 200, 'a plain eject of LUN 1 goes through: nothing hangs');
  await until(async () => (await stateOf(page, 1)) === 'empty', 2000, 'LUN 1 empty');
});

test('delete an image after it is ejected; the second page drops it too', async () => {
  const row = page.locator('tr[data-image="My_Disk_copy.img"]');
  await row.getByRole('button', { name: 'Delete My_Disk_copy.img' }).click();
  const dlg = page.locator('dialog#confirm');
  await until(async () => dlg.isVisible(), 2000, 'delete confirmation');
  await dlg.getByRole('button', { name: 'Delete' }).click();
  await until(async () => (await row.count()) === 0, 2000, 'row gone');
  await until(async () => (await page2.locator('tr[data-image="My_Disk_copy.img"]').count()) === 0, 2000, 'row gone on page 2');
  assert.equal((await api(srv, 'GET', '/images/My_Disk_copy.img')).status, 404);
});

test('an ISO goes in as a read-only CD-ROM; the pending type change offers Reconnect', async () => {
  const iso = Buffer.from('pretend ISO 9660\n');
  assert.equal((await api(srv, 'PUT', '/images/boot.iso', iso)).status, 201);
  const c = card(page, 1);
  await until(async () => (await c.locator('#ins-img-1 option[value="boot.iso"]').count()) === 1, 2000, 'boot.iso offered');
  await c.locator('#ins-img-1').selectOption('boot.iso');
  assert.equal(await c.locator('#ins-type-1').inputValue(), 'cdrom', '.iso defaults to CD-ROM');
  assert.ok(await c.locator('#ins-ro-1').isChecked(), 'and read-only');
  assert.ok(await c.locator('#ins-ro-1').isDisabled(), 'a CD-ROM is always read-only');
  assert.match(await c.locator('.rc-label').textContent(), /host sees a CD-ROM \(it sees a flash drive now/);
  await c.getByRole('button', { name: 'Insert' }).click();
  await until(async () => (await stateOf(page, 1)) === 'inserted', 3000, 'LUN 1 inserted');
  assert.match(await c.locator('.lun-kind').textContent(), /CD-ROM · read-only/);
  await until(async () => c.locator('.warn').isVisible(), 2000, 'the warning');
  assert.match(await c.locator('.warn p').textContent(), /learns the new device type only after a reconnect/);
  await until(async () => card(page2, 1).locator('.warn').isVisible(), 2000, 'page 2 shows the warning too');
  await shot(page, '08a-type-change-warning');
  await c.getByRole('button', { name: 'Reconnect USB device…' }).click();
  const dlg = page.locator('dialog#confirm');
  await until(async () => dlg.isVisible(), 2000, 'reconnect confirmation');
  assert.match(await dlg.textContent(), /keyboard and mouse/);
  await dlg.getByRole('button', { name: 'Reconnect' }).click();
  await until(async () => c.locator('.warn').isHidden(), 3000, 'the warning gone after the reconnect');
  assert.equal((await api(srv, 'GET', '/luns/1')).data.warning, undefined);
  assert.equal((await api(srv, 'POST', '/luns/1/eject')).status, 200);
  await until(async () => (await stateOf(page, 1)) === 'empty', 2000, 'LUN 1 empty');
});

test('phone width: no sideways scrolling, everything still there', async () => {
  await api(srv, 'POST', '/luns/0/insert', { image: IMG });
  await api(srv, 'POST', '/sim/luns/0/host?lock=1');
  const phone = await newPage(browser, { viewport: { width: 390, height: 844 }, context: { isMobile: true, hasTouch: true } });
  await phone.goto(srv.base + '/');
  await until(async () => (await stateOf(phone, 0)) === 'inserted', 5000, 'phone page state');
  await card(phone, 0).getByRole('button', { name: 'Eject', exact: true }).click();
  await until(async () => card(phone, 0).locator('.locknote .server-msg').isVisible(), 2000, 'phone eject refused');
  const widths = await phone.evaluate(() => ({ doc: document.documentElement.scrollWidth, view: window.innerWidth }));
  assert.ok(widths.doc <= widths.view, `page is ${widths.doc}px wide in a ${widths.view}px viewport`);
  assert.ok(await phone.locator(`tr[data-image="${IMG}"]`).isVisible());
  await shot(phone, '08-phone');
  assert.deepEqual(phone.pageErrors, []);
  await phone.context().close();
});

test('keyboard only: reach Force eject with Tab, Escape cancels, Enter confirms; focus is visible', async () => {
  // LUN 0 holds the image, locked by the host (from the phone test)
  const c = card(page, 0);
  await until(async () => c.getByRole('button', { name: 'Force eject…' }).isVisible(), 3000, 'force button');
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  const focused = () => page.evaluate(() => {
    const a = document.activeElement;
    return { text: a ? a.textContent.trim() : '', outline: a ? getComputedStyle(a).outlineStyle : '' };
  });
  let f;
  for (let i = 0; i < 80; i++) {
    await page.keyboard.press('Tab');
    f = await focused();
    if (f.text === 'Force eject…') break;
  }
  assert.equal(f.text, 'Force eject…', 'Tab reaches the Force eject button');
  assert.notEqual(f.outline, 'none', 'focus is visible');
  await page.keyboard.press('Enter');
  const dlg = page.locator('dialog#confirm');
  await until(async () => dlg.isVisible(), 2000, 'dialog');
  assert.equal((await focused()).text, 'Cancel', 'the safe choice has the focus');
  await page.keyboard.press('Escape');
  await until(async () => !(await dlg.isVisible()), 2000, 'dialog closed by Escape');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal((await api(srv, 'GET', '/luns/0')).data.state, 'inserted', 'Escape did not eject');
  assert.equal((await focused()).text, 'Force eject…', 'focus returns to the button');
  await page.keyboard.press('Enter');
  await until(async () => dlg.isVisible(), 2000, 'dialog again');
  await page.keyboard.press('Tab');
  assert.equal((await focused()).text, 'Force eject');
  await page.keyboard.press('Enter');
  await until(async () => (await stateOf(page, 0)) === 'empty', 3000, 'ejected by keyboard');
});

test('no script errors in the pages', async () => {
  assert.deepEqual(page.pageErrors, []);
  assert.deepEqual(page2.pageErrors, []);
});
