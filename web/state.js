/* vmedia web UI: what the page knows of the server, and the one way to
 * show a change: schedule(), which renders everything on the next frame. */
import { api } from './api.js';

export const S = {
  status: null,
  luns: new Map(),        // id -> Lun
  images: new Map(),      // name -> Image
  overwrites: new Map(),  // name -> Image: an upload replacing the complete image of that name
  downloads: new Map(),   // id -> job
  simHung: new Map(),     // id -> bool (the Lun does not carry it)
  lunUi: new Map(),       // id -> {busy, error, refusedLocked, note}
  uploads: [],            // uploads started from this browser
};

export function lunUi(id) {
  if (!S.lunUi.has(id)) S.lunUi.set(id, { busy: false, error: null, refusedLocked: false, lockMessage: null });
  return S.lunUi.get(id);
}

/* ---------- render scheduling ---------- */
let render = () => {};
// app.js gives the function that renders every part of the page.
export function setRenderer(fn) { render = fn; }
let renderQueued = false;
export function schedule() {
  if (renderQueued) return;
  renderQueued = true;
  // A frame, or a timer where frames do not come (a hidden tab, a
  // headless screenshot): whichever is first.
  const run = () => { if (!renderQueued) return; renderQueued = false; render(); };
  requestAnimationFrame(run);
  setTimeout(run, 100);
}

/* ---------- status ---------- */
let statusTimer = null;
export function refreshStatusSoon() {
  if (statusTimer) return;
  statusTimer = setTimeout(async () => {
    statusTimer = null;
    const r = await api('GET', '/status');
    if (r.ok && r.data) { S.status = r.data; schedule(); }
  }, 800);
}

/* ---------- images ---------- */

/* An upload's progress or end. One over a complete image (the server
 * says "overwrite"; a complete image shown is taken as one too) is kept
 * beside it: the image stays listed, and usable, until the upload has
 * replaced it, and stays if the upload is aborted. */
function isOverwrite(up) {
  const cur = S.images.get(up.name);
  return !!up.overwrite || !!(cur && cur.complete);
}
export function uploadProgress(up) {
  if (isOverwrite(up)) S.overwrites.set(up.name, up);
  else S.images.set(up.name, up);
}
export function uploadAborted(up) {
  if (isOverwrite(up)) S.overwrites.delete(up.name);
  else S.images.delete(up.name);
}
export function imageStored(img) {
  S.images.set(img.name, img);
  S.overwrites.delete(img.name);
}
// An overwrite still running then goes on as a new upload.
export function removeImage(name) {
  S.images.delete(name);
  const over = S.overwrites.get(name);
  S.overwrites.delete(name);
  if (over) S.images.set(name, Object.assign({}, over, { overwrite: false }));
}
