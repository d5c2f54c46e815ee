// What only a browser can show: the page works behind HTTP Basic (the
// browser sends the credentials with every fetch, XHR and EventSource, the
// page adds no auth header of its own), and a page of another origin cannot
// eject a medium by a form POST or a fetch (vmediad's Origin/Sec-Fetch-Site
// check).
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const http = require('node:http');
const path = require('node:path');
const { startServer, launchBrowser, newPage, api, tmpdir, until } = require('./helpers');

const VMEDIAD = process.env.VMEDIAD || path.resolve(__dirname, '../../build/vmediad');
let srv, browser, evil, authFile;
const USER = 'operator', PASS = 'correct horse 42';

const BASIC = 'Basic ' + Buffer.from(USER + ':' + PASS).toString('base64');
async function aapi(method, p, body) {
  const opt = { method, headers: { Authorization: BASIC } };
  if (body !== undefined) { opt.body = JSON.stringify(body); opt.headers['Content-Type'] = 'application/json'; }
  const r = await fetch(srv.base + p, opt);
  const text = await r.text();
  let data; try { data = JSON.parse(text); } catch (e) { data = text; }
  return { status: r.status, data };
}

before(async () => {
  authFile = path.join(tmpdir('vmedia-ui-auth-'), 'auth');
  const r = spawnSync(VMEDIAD, ['--auth-file', authFile, '--add-user', USER], { input: PASS + '\n' });
  assert.equal(r.status, 0, 'vmediad --add-user: ' + r.stderr);
  srv = await startServer({ args: ['--auth-file', authFile] });
  browser = await launchBrowser();
  // "another site": a page on another port of this machine
  evil = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end(`<!doctype html><title>elsewhere</title>
<form id="f" method="POST" action="${srv.base}/luns/0/eject?force=1"></form>
<script>
  window.fetchDone = fetch(${JSON.stringify(srv.base + '/luns/0/eject?force=1')}, { method: 'POST', mode: 'no-cors', credentials: 'include' })
    .then(() => 'sent', (e) => 'failed: ' + e);
</script>`);
  });
  await new Promise((r2) => evil.listen(0, '127.0.0.1', r2));
});

after(async () => {
  if (evil) evil.close();
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

test('without credentials the page gets nothing; with HTTP Basic it works, live', async () => {
  assert.equal((await api(srv, 'GET', '/luns')).status, 401);
  // a browser without them: the 401 (or the cancelled login prompt), no page
  const anon = await newPage(browser);
  const resp = await anon.goto(srv.base + '/').catch((e) => e);
  if (resp instanceof Error) assert.match(resp.message, /ERR_INVALID_AUTH_CREDENTIALS/);
  else assert.equal(resp.status(), 401);
  assert.equal(await anon.locator('article.lun').count(), 0);
  await anon.context().close();

  const page = await newPage(browser, { context: { httpCredentials: { username: USER, password: PASS } } });
  await page.goto(srv.base + '/');
  await until(async () => (await page.locator('#conn').getAttribute('data-state')) === 'live', 5000, 'Live with credentials');
  const put = await fetch(srv.base + '/images/auth.img', { method: 'PUT', body: Buffer.from('x'), headers: { Authorization: BASIC } });
  assert.equal(put.status, 201);
  await until(async () => (await page.locator('tr[data-image="auth.img"]').count()) === 1, 3000, 'live image over an authenticated /events');
  await page.locator('#ins-img-0').selectOption('auth.img');
  await page.locator('article.lun[data-lun="0"]').getByRole('button', { name: 'Insert' }).click();
  await until(async () => (await page.locator('article.lun[data-lun="0"]').getAttribute('data-state')) === 'inserted', 3000, 'inserted with credentials');
  assert.deepEqual(page.pageErrors, []);
  await page.context().close();
});

test('a page of another origin cannot eject (fetch and form POST), even with the credentials in the browser', async () => {
  if ((await aapi('GET', '/luns/0')).data.state !== 'inserted') {
    await fetch(srv.base + '/images/csrf.img', { method: 'PUT', body: Buffer.from('y'), headers: { Authorization: BASIC } });
    assert.equal((await aapi('POST', '/luns/0/insert', { image: 'csrf.img' })).status, 200);
  }
  const ctx = await browser.newContext({ httpCredentials: { username: USER, password: PASS } });
  const page = await ctx.newPage();
  const answers = [];
  page.on('response', (r) => { if (r.url().startsWith(srv.base)) answers.push(r.status()); });
  await page.goto('http://127.0.0.1:' + evil.address().port + '/');
  assert.equal(await page.evaluate(() => window.fetchDone), 'sent');
  await page.evaluate(() => document.getElementById('f').submit());
  await page.waitForLoadState('load');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await aapi('GET', '/luns/0')).data.state, 'inserted', 'still inserted');
  // both reached vmediad with the credentials and were refused as cross-site
  assert.deepEqual(answers, [403, 403]);
  await ctx.close();
});
