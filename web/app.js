/* vmedia web UI: plain DOM, no framework, no bundler: ES modules the
 * browser loads as they are. This one starts the page and renders it;
 *   state.js      what the page knows, schedule() to show a change
 *   events.js     /events, the live feed that keeps the state current
 *   luns.js       the drives: insert, eject, force eject, reconnect
 *   images.js     the image library;  uploads.js  uploads from this browser
 *   downloads.js  "Download from a URL";  files.js  new drives, files in an image
 *   dom.js, format.js, api.js   helpers for the page, the numbers, the API */
import { $, h, nn, toast } from './dom.js';
import { fmtBytes, sanitizeName, validName } from './format.js';
import { api } from './api.js';
import { S, schedule, setRenderer } from './state.js';
import { renderLuns, applyLun } from './luns.js';
import { renderImages } from './images.js';
import { renderUploads, setupDrop } from './uploads.js';
import { renderDownloads, setupDownloadForm } from './downloads.js';
import { setupNewDrive, setupFiles } from './files.js';
import { connect } from './events.js';

function renderAll() {
  renderStatus();
  renderLuns();
  renderImages();
  renderUploads();
  renderDownloads();
}
setRenderer(renderAll);

/* ---------- status ---------- */
function renderStatus() {
  const st = S.status;
  const foot = $('status');
  $('sim-banner').hidden = !(st && st.backend && st.backend.simulated);
  if (!st) { foot.replaceChildren(...nn()); return; }
  const b = st.backend || {};
  const parts = [
    'vmediad ' + st.version,
    'backend ' + b.name + (b.simulated ? ' (simulated)' : '') + (b.udc ? ', UDC ' + b.udc : ''),
    'forced eject: ' + ((b.features && b.features.eject_strategy) || '?'),
    'storage ' + fmtBytes(st.storage.free_bytes) + ' free of ' + fmtBytes(st.storage.total_bytes) + ' in ',
  ];
  foot.replaceChildren(...nn(h('span', null, parts.join(' · ')), h('code', { class: 'dir', text: st.storage.dir })));
}

/* ---------- start ---------- */
function start() {
  setupDrop();
  setupDownloadForm();
  setupNewDrive();
  setupFiles();
  connect();
  // In case /events is held back by a proxy: show something from the plain API.
  setTimeout(async () => {
    if (S.status) return;
    const [st, luns, imgs] = await Promise.all([api('GET', '/status'), api('GET', '/luns'), api('GET', '/images')]);
    if (S.status) return;
    if (st.ok) S.status = st.data;
    if (luns.ok) for (const l of luns.data.luns) applyLun(l);
    if (imgs.ok) for (const i of imgs.data.images) S.images.set(i.name, i);
    if (!st.ok) toast(st.message);
    schedule();
  }, 3000);
}
window.vmedia = { state: S, sanitizeName, validName, toast }; // for debugging in the console
start();
