// Shared by the browser tests: start vmediad, start Debian's Chromium through
// playwright-core, and a few small HTTP helpers. Not a test file itself
// (node --test picks up only *.test.js here).
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const crypto = require('node:crypto');

const ROOT = path.resolve(__dirname, '../..');
const VMEDIAD = process.env.VMEDIAD || path.join(ROOT, 'build/vmediad');
const WEB = path.join(ROOT, 'web');
const SHOTS = path.join(ROOT, 'build/screenshots');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

function playwright() {
  return require(path.join(ROOT, 'tests/js/node_modules/playwright-core'));
}

function tmpdir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix || 'vmedia-ui-'));
}

// Starts vmediad; resolves once it logs "listening on ... (port N)".
function startServer(opts = {}) {
  const storage = opts.storage || tmpdir('vmedia-ui-store-');
  const listen = '127.0.0.1:' + (opts.port || 0);
  // The tests' download origins listen on 127.0.0.1, which vmediad refuses
  // to download from unless told.
  // Without opts.web, the UI built into the binary (as shipped).
  const args = ['--listen', listen, '--storage', storage, ...(opts.web ? ['--web', opts.web] : []),
    '--backend', 'sim', '--allow-local-downloads', ...(opts.args || [])];
  const proc = spawn(VMEDIAD, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  // never outlive the test file, even when it dies half-way
  const reap = () => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL'); };
  process.once('exit', reap);
  proc.once('exit', () => process.removeListener('exit', reap));
  let log = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error('vmediad did not start:\n' + log)); }, 10000);
    proc.on('error', (e) => { clearTimeout(timer); reject(e); });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error('vmediad exited ' + code + ':\n' + log)); });
    proc.stderr.on('data', (d) => {
      log += d;
      const m = /listening on .*\(port (\d+)\)/.exec(log);
      if (m && !proc._vmResolved) {
        proc._vmResolved = true;
        clearTimeout(timer);
        proc.removeAllListeners('exit');
        const port = Number(m[1]);
        const srv = {
          proc, port, storage, base: 'http://127.0.0.1:' + port,
          log: () => log,
          // Stops it with SIGTERM; fails (so does the hook or test that
          // calls it) unless it exited 0 by itself within the wait.
          stop: async () => {
            const r = await stopProc(proc);
            if (r.exited) throw new Error('vmediad had exited (' + (r.signal || r.code) + ') before it was stopped:\n' + log);
            if (r.forced) throw new Error('vmediad did not exit within 3 s of SIGTERM and had to be SIGKILLed:\n' + log);
            if (r.code !== 0) throw new Error('vmediad exited with ' + (r.signal || r.code) + ' after SIGTERM:\n' + log);
          },
        };
        SERVERS.push(srv);
        resolve(srv);
      }
    });
  });
}

// Sends signal (SIGTERM), SIGKILL after 3 s; resolves with how it ended:
// { code, signal, forced, exited } (forced: it had to be SIGKILLed;
// exited: it had ended before, by itself).
function stopProc(proc, signal) {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null)
      return resolve({ code: proc.exitCode, signal: proc.signalCode, forced: false, exited: true });
    let forced = false;
    const t = setTimeout(() => { forced = true; proc.kill('SIGKILL'); }, 3000);
    proc.once('exit', (code, sig) => { clearTimeout(t); resolve({ code, signal: sig, forced }); });
    proc.kill(signal || 'SIGTERM');
  });
}

async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM))
    throw new Error(CHROMIUM + ' is missing: install Debian\'s chromium (tools/deps.sh browser)');
  if (!fs.existsSync(path.join(ROOT, 'tests/js/node_modules/playwright-core')))
    throw new Error('playwright-core is missing: cd tests/js && npm ci');
  const { chromium } = playwright();
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

// A page that fails the test on any uncaught error in the page.
async function newPage(browser, opts = {}) {
  const ctx = await browser.newContext({ viewport: opts.viewport || { width: 1200, height: 900 },
    deviceScaleFactor: 1, colorScheme: opts.colorScheme || 'light', ...(opts.context || {}) });
  const page = await ctx.newPage();
  page.pageErrors = [];
  page.on('pageerror', (e) => page.pageErrors.push(String(e)));
  return page;
}

async function api(srv, method, p, body) {
  const opt = { method, headers: {} };
  if (body !== undefined) {
    if (Buffer.isBuffer(body)) opt.body = body;
    else { opt.body = JSON.stringify(body); opt.headers['Content-Type'] = 'application/json'; }
  }
  const r = await fetch(srv.base + p, opt);
  const text = await r.text();
  let data = null;
  try { data = JSON.parse(text); } catch (e) { data = text; }
  return { status: r.status, data };
}

function sha256(buf) {
  return crypto.createHash('sha256').update(buf).digest('hex');
}

async function shot(page, name, opts = {}) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name + '.png'), fullPage: opts.fullPage !== false });
}

module.exports = { ROOT, WEB, SHOTS, startServer, stopProc, launchBrowser, newPage, api, sha256, shot, tmpdir };

// The servers this file started: a wait that times out shows the end of
// their logs (a refused connection, a worker's complaint), which the page
// alone does not tell.
const SERVERS = [];
function serverLogTail() {
  return SERVERS.filter((s) => s.proc.exitCode === null).map((s) =>
    '\n--- vmediad on port ' + s.port + ', its last log lines:\n' + s.log().trimEnd().split('\n').slice(-15).join('\n')).join('');
}

// How much longer than its nominal ms a wait may take before it fails. The
// waits detect a UI that never gets there; they do not measure speed (the
// benchmarks do), and a loaded 2-core machine (a kernel build beside the
// suite, Firefox and Chromium at once) has been seen to need more than 3 s
// for a change that takes 50 ms when idle. VMEDIA_WAIT_SCALE=1 for the
// nominal deadlines.
const WAIT_SCALE = Number(process.env.VMEDIA_WAIT_SCALE) || 4;

// Polls fn (async) until it returns a truthy value; fails after ms (times
// WAIT_SCALE) with what it saw last.
async function until(fn, ms = 5000, what = 'condition') {
  ms *= WAIT_SCALE;
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try { last = await fn(); } catch (e) { last = e; }
    if (last && !(last instanceof Error)) return last;
    if (Date.now() > end) {
      throw new Error('timed out after ' + ms + ' ms waiting for ' + what +
        (last instanceof Error ? ': ' + last.message : '') + serverLogTail());
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

// The text of a locator, or '' if it is not there.
async function textOf(loc) {
  return (await loc.count()) ? (await loc.first().textContent()) || '' : '';
}

module.exports.until = until;
module.exports.textOf = textOf;
