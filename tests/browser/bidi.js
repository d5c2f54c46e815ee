// A very small WebDriver BiDi client for Debian's Firefox (playwright-core's
// Firefox needs a patched build; this needs none): a WebSocket client on
// node:net (Node 20 has no WebSocket without a flag), and the few commands
// the Firefox smoke test uses.
'use strict';

const net = require('node:net');
const crypto = require('node:crypto');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

function wsConnect(url) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(u.port), u.hostname);
    const key = crypto.randomBytes(16).toString('base64');
    let buf = Buffer.alloc(0), open = false;
    const ws = { onmessage: null, onclose: null };
    ws.send = (text) => {
      const data = Buffer.from(text);
      const mask = crypto.randomBytes(4);
      let head;
      if (data.length < 126) head = Buffer.from([0x81, 0x80 | data.length]);
      else if (data.length < 65536) { head = Buffer.alloc(4); head[0] = 0x81; head[1] = 0x80 | 126; head.writeUInt16BE(data.length, 2); }
      else { head = Buffer.alloc(10); head[0] = 0x81; head[1] = 0x80 | 127; head.writeBigUInt64BE(BigInt(data.length), 2); }
      const masked = Buffer.alloc(data.length);
      for (let i = 0; i < data.length; i++) masked[i] = data[i] ^ mask[i & 3];
      sock.write(Buffer.concat([head, mask, masked]));
    };
    ws.close = () => sock.destroy();
    let frag = [];
    sock.on('connect', () => {
      sock.write(`GET ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (!open) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.slice(0, end).toString();
        if (!/^HTTP\/1\.1 101/.test(head)) { reject(new Error('no WebSocket upgrade: ' + head.split('\r\n')[0])); sock.destroy(); return; }
        open = true;
        buf = buf.slice(end + 4);
        resolve(ws);
      }
      for (;;) {
        if (buf.length < 2) return;
        const fin = buf[0] & 0x80, op = buf[0] & 0x0f;
        let len = buf[1] & 0x7f, off = 2;
        if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
        else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); off = 10; }
        if (buf.length < off + len) return;
        const payload = buf.slice(off, off + len);
        buf = buf.slice(off + len);
        if (op === 0x8) { sock.destroy(); return; }
        if (op === 0x9) continue; // ping: Firefox does not need the pong here
        if (op === 0x1 || op === 0x0) {
          frag.push(payload);
          if (fin) { const text = Buffer.concat(frag).toString(); frag = []; if (ws.onmessage) ws.onmessage(text); }
        }
      }
    });
    sock.on('error', (e) => { if (!open) reject(e); });
    sock.on('close', () => { if (ws.onclose) ws.onclose(); });
  });
}

// Starts Firefox headless with BiDi on a free port; resolves to a session.
async function launchFirefox(executable) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'vmedia-ff-'));
  // quiet, offline-friendly profile
  fs.writeFileSync(path.join(profile, 'user.js'), [
    'user_pref("browser.shell.checkDefaultBrowser", false);',
    'user_pref("datareporting.policy.dataSubmissionEnabled", false);',
    'user_pref("toolkit.telemetry.reportingpolicy.firstRun", false);',
    'user_pref("app.update.disabledForTesting", true);',
    'user_pref("network.captive-portal-service.enabled", false);',
    'user_pref("browser.safebrowsing.update.enabled", false);',
  ].join('\n'));
  const proc = spawn(executable, ['--headless', '--no-remote', '--profile', profile, '--remote-debugging-port', '0',
    '--width', '1200', '--height', '900', 'about:blank'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const wsUrl = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('Firefox did not start BiDi:\n' + log)), 30000);
    proc.stderr.on('data', (d) => {
      log += d;
      const m = /WebDriver BiDi listening on (ws:\/\/\S+)/.exec(log);
      if (m) { clearTimeout(t); resolve(m[1]); }
    });
    proc.on('exit', (c) => { clearTimeout(t); reject(new Error('Firefox exited ' + c + ':\n' + log)); });
  });
  proc.removeAllListeners('exit');
  const ws = await wsConnect(wsUrl.replace(/\/?$/, '') + '/session');
  let seq = 0;
  const pending = new Map();
  ws.onmessage = (text) => {
    const msg = JSON.parse(text);
    if (msg.id !== undefined && pending.has(msg.id)) {
      const { resolve, reject } = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.type === 'error') reject(new Error(msg.error + ': ' + msg.message));
      else resolve(msg.result);
    }
  };
  const send = (method, params) => new Promise((resolve, reject) => {
    const id = ++seq;
    pending.set(id, { resolve, reject });
    ws.send(JSON.stringify({ id, method, params: params || {} }));
  });
  await send('session.new', { capabilities: {} });
  const tree = await send('browsingContext.getTree', {});
  const context = tree.contexts[0].context;
  const ff = {
    send,
    context,
    async goto(url) { await send('browsingContext.navigate', { context, url, wait: 'complete' }); },
    // Evaluates an async function body in the page; returns its JSON value.
    async eval(body, ...args) {
      // the body sees its arguments as `args`
      const fn = `async (...raw) => { const args = raw.map((a) => JSON.parse(a)); ` +
        `const v = await (async () => { ${body} })(); return v === undefined ? undefined : JSON.stringify(v); }`;
      const r = await send('script.callFunction', {
        functionDeclaration: fn, target: { context }, awaitPromise: true,
        arguments: args.map((a) => ({ type: 'string', value: JSON.stringify(a) })),
      });
      if (r.type === 'exception') throw new Error('in Firefox: ' + (r.exceptionDetails && r.exceptionDetails.text));
      const v = r.result && r.result.value;
      return v === undefined ? undefined : JSON.parse(v);
    },
    async screenshot(file) {
      const r = await send('browsingContext.captureScreenshot', { context, origin: 'document' });
      fs.writeFileSync(file, Buffer.from(r.data, 'base64'));
    },
    async close() {
      try { await Promise.race([send('browser.close', {}), new Promise((r) => setTimeout(r, 3000))]); } catch (e) { /* closing */ }
      ws.close();
      if (proc.exitCode === null) {
        await new Promise((r) => { const t = setTimeout(() => { proc.kill('SIGKILL'); r(); }, 3000); proc.once('exit', () => { clearTimeout(t); r(); }); });
      }
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
  return ff;
}

module.exports = { launchFirefox };
