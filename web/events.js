/* vmedia web UI: live changes from /events (Server-Sent Events), with our
 * own reconnect and the state shown as stale while the stream is down. */
import { $ } from './dom.js';
import { S, schedule, refreshStatusSoon, uploadProgress, uploadAborted, imageStored, removeImage } from './state.js';
import { applyLun } from './luns.js';

/* ---------- live events ---------- */
let es = null, retryMs = 500, retryTimer = null, everConnected = false;

function setConn(state, text) {
  const c = $('conn');
  c.dataset.state = state;
  c.textContent = text;
  $('offline-banner').hidden = state !== 'lost';
  document.body.classList.toggle('stale', state === 'lost'); // what is shown may be out of date
}

// The server sends a `ping` event every 15 s: a stream silent for much
// longer is dead (a half-open connection the browser cannot see), so
// reconnect as after an error.
let lastEventAt = Date.now();
setInterval(() => {
  if (es && Date.now() - lastEventAt > 40000 && es.onerror) es.onerror();
}, 5000);

export function connect() {
  if (es) es.close();
  lastEventAt = Date.now();
  es = new EventSource('/events');
  for (const t of ['state', 'ping', 'lun', 'image_added', 'image_changed', 'image_removed',
                   'upload_progress', 'upload_aborted', 'download'])
    es.addEventListener(t, () => { lastEventAt = Date.now(); });
  es.addEventListener('state', (ev) => {
    const st = parse(ev);
    if (!st) return;
    retryMs = 500;
    everConnected = true;
    setConn('live', 'Live');
    S.status = st.status || S.status;
    S.luns.clear();
    for (const l of st.luns || []) applyLun(l);
    S.images.clear();
    S.overwrites.clear();
    for (const i of st.images || []) S.images.set(i.name, i);
    S.downloads.clear();
    for (const j of st.downloads || []) S.downloads.set(j.id, j);
    schedule();
  });
  es.addEventListener('lun', (ev) => { const l = parse(ev); if (l) applyLun(l); });
  const onImage = (t, fn, status) => es.addEventListener(t, (ev) => {
    const i = parse(ev);
    if (i && i.name) { fn(i); schedule(); if (status) refreshStatusSoon(); }
  });
  onImage('image_added', imageStored, true);
  onImage('image_changed', (i) => S.images.set(i.name, i), true);
  onImage('upload_progress', uploadProgress, false);
  onImage('image_removed', (i) => removeImage(i.name), true);
  onImage('upload_aborted', uploadAborted, true);
  es.addEventListener('download', (ev) => {
    const j = parse(ev);
    if (j && j.id !== undefined) {
      if (j.state === 'removed') { S.downloads.delete(j.id); schedule(); return; }
      S.downloads.set(j.id, j);
      if (j.state === 'done') refreshStatusSoon();
      schedule();
    }
  });
  es.onerror = () => {
    // Reconnect ourselves with a short backoff: the browsers' own retry
    // is slower and gives up for good on some failures.
    es.close();
    es = null;
    setConn(everConnected ? 'lost' : 'connecting', everConnected ? 'Reconnecting…' : 'Connecting…');
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 3000);
  };
}
function parse(ev) {
  try { return JSON.parse(ev.data); } catch (e) { return null; }
}
