// The same page in Firefox (Debian's firefox-esr, driven over WebDriver BiDi
// by ./bidi.js): live state, upload by drop, insert, host lock, refused
// eject, confirmed force eject, a change made elsewhere shown live. Clicks are
// element.click() in the page, not OS-level input. Skipped when no Firefox is
// installed (tools/deps.sh installs only chromium so far).
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { startServer, api, sha256, until, SHOTS } = require('./helpers');
const { launchFirefox } = require('./bidi');

const FIREFOX = [process.env.FIREFOX, '/usr/bin/firefox-esr', '/usr/bin/firefox'].find((p) => p && fs.existsSync(p));
let srv, ff;

before(async () => {
  if (!FIREFOX) return;
  srv = await startServer();
  ff = await launchFirefox(FIREFOX);
});

after(async () => {
  if (ff) await ff.close();
  if (srv) await srv.stop();
});

const q = (sel) => `document.querySelector(${JSON.stringify(sel)})`;

test('Firefox: upload, insert, lock, refused eject, force eject, live updates', { skip: !FIREFOX && 'no Firefox installed' }, async () => {
  await ff.goto(srv.base + '/');
  await until(async () => (await ff.eval(`return ${q('#conn')}.dataset.state`)) === 'live', 10000, 'Live in Firefox');
  await ff.eval(`window.__errors = []; window.addEventListener('error', (e) => window.__errors.push(String(e.message)));`);
  assert.equal(await ff.eval(`return document.querySelectorAll('article.lun').length`), 2);
  assert.equal(await ff.eval(`return ${q('#sim-banner')}.hidden`), false);

  // upload by dropping a file
  const text = 'firefox was here\n';
  await ff.eval(`
    const d = new DataTransfer();
    d.items.add(new File([args[0]], 'ff.img', { type: 'application/octet-stream' }));
    ${q('#drop')}.dispatchEvent(new DragEvent('drop', { dataTransfer: d, bubbles: true, cancelable: true }));`, text);
  await until(async () => (await ff.eval(`const e = ${q('tr[data-image="ff.img"] .sha-full')}; return e && e.textContent`)) === sha256(Buffer.from(text)),
    5000, 'the dropped file stored');

  // insert
  await ff.eval(`const s = ${q('#ins-img-0')}; s.value = 'ff.img'; s.dispatchEvent(new Event('change')); ${q('article.lun[data-lun="0"] form.insert button[type=submit]')}.click();`);
  await until(async () => (await ff.eval(`return ${q('article.lun[data-lun="0"]')}.dataset.state`)) === 'inserted', 3000, 'inserted');

  // the host locks it; a plain eject is refused
  await ff.eval(`[...document.querySelectorAll('article.lun[data-lun="0"] fieldset.sim button')].find((b) => b.textContent === 'Host locks medium').click()`);
  await until(async () => ff.eval(`return !${q('article.lun[data-lun="0"] .badge.locked')}.hidden`), 3000, 'locked badge');
  await ff.eval(`${q('article.lun[data-lun="0"] button.eject')}.click()`);
  await until(async () => ff.eval(`const e = ${q('article.lun[data-lun="0"] .locknote .server-msg')}; return e && /host has locked the medium/.test(e.textContent)`), 3000, 'refusal shown');
  assert.equal((await api(srv, 'GET', '/luns/0')).data.state, 'inserted');

  // force eject, confirmed in the dialog
  await ff.eval(`${q('article.lun[data-lun="0"] button.force')}.click()`);
  await until(async () => ff.eval(`return ${q('dialog#confirm')}.open`), 3000, 'dialog open');
  assert.match(await ff.eval(`return ${q('dialog#confirm')}.textContent`), /the host may see an I\/O error/);
  fs.mkdirSync(SHOTS, { recursive: true });
  await ff.screenshot(path.join(SHOTS, '11-firefox-force-confirm.png'));
  await ff.eval(`${q('#confirm-ok')}.click()`);
  await until(async () => (await ff.eval(`return ${q('article.lun[data-lun="0"]')}.dataset.state`)) === 'empty', 3000, 'ejected');
  assert.equal(await ff.eval(`return ${q('article.lun[data-lun="0"] .last code.method')}.textContent`), 'break_io+forced_eject');

  // a change made elsewhere shows up live
  assert.equal((await api(srv, 'POST', '/luns/1/insert', { image: 'ff.img' })).status, 200);
  await until(async () => (await ff.eval(`return ${q('article.lun[data-lun="1"]')}.dataset.state`)) === 'inserted', 2000, 'live insert on LUN 1');
  assert.deepEqual(await ff.eval('return window.__errors'), []);
  await ff.screenshot(path.join(SHOTS, '12-firefox.png'));
});
