/* vmedia web UI: uploads from this browser (file picker, drop zone): the
 * name check and suggestion, progress, cancel, replace an existing image. */
import { $, h } from './dom.js';
import { fmtBytes, fmtRate, fmtDuration, storedName, validName, sanitizeName } from './format.js';
import { errorOf } from './api.js';
import { S, schedule, imageStored, refreshStatusSoon } from './state.js';

/* ---------- uploads ---------- */
let uploadSeq = 0;
function addFiles(files) {
  for (const f of files) {
    const u = { id: ++uploadSeq, file: f, name: '', state: 'pending', loaded: 0, total: f.size,
      speed: 0, error: null, note: null, xhr: null, el: null, result: null, overwrite: false };
    const clean = validName(f.name) ? f.name : sanitizeName(f.name);
    u.name = clean;
    if (!validName(f.name)) {
      u.note = clean ? '“' + f.name + '” is not a valid image name; suggested: ' + clean
        : '“' + f.name + '” is not a valid image name; choose one.';
    } else if (S.images.has(storedName(f.name))) {
      u.note = 'An image named ' + storedName(f.name) + ' exists already: rename, or replace it.';
    }
    S.uploads.push(u);
    if (!u.note) startUpload(u);
  }
  schedule();
}

function startUpload(u) {
  if (!validName(u.name)) {
    u.note = 'Use letters, digits, . _ - + (not starting with . or -).';
    schedule();
    return;
  }
  u.state = 'running'; u.error = null; u.note = null; u.loaded = 0; u.speed = 0;
  const xhr = new XMLHttpRequest();
  u.xhr = xhr;
  let lastT = performance.now(), lastB = 0;
  u.started = lastT;
  xhr.open('PUT', '/images/' + encodeURIComponent(u.name) + (u.overwrite ? '?overwrite=1' : ''));
  xhr.setRequestHeader('Content-Type', 'application/octet-stream');
  xhr.upload.onprogress = (e) => {
    const now = performance.now();
    u.loaded = e.loaded;
    if (e.lengthComputable) u.total = e.total;
    const dt = (now - lastT) / 1000;
    if (dt >= 0.25) {
      const inst = (e.loaded - lastB) / dt;
      u.speed = u.speed ? u.speed * 0.7 + inst * 0.3 : inst;
      lastT = now; lastB = e.loaded;
    }
    schedule();
  };
  xhr.onload = () => {
    let data = null;
    try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
    if (xhr.status === 201 || xhr.status === 200) {
      u.state = 'done'; u.result = data; u.loaded = u.total; u.note = null;
      if (data && data.name) { imageStored(data); refreshStatusSoon(); }
      setTimeout(() => { removeUpload(u); }, 8000);
    } else {
      const err = errorOf(xhr.status, xhr.statusText, data);
      u.state = 'failed'; u.error = err.message;
      if (err.code === 'image_exists') u.note = 'Rename it, or replace the stored image.';
    }
    schedule();
  };
  xhr.onerror = () => { u.state = 'failed'; u.error = 'The upload was interrupted (network error or server restart).'; schedule(); };
  xhr.onabort = () => { u.state = 'cancelled'; schedule(); setTimeout(() => removeUpload(u), 3000); };
  xhr.send(u.file);
  schedule();
}

function removeUpload(u) {
  const i = S.uploads.indexOf(u);
  if (i >= 0) S.uploads.splice(i, 1);
  if (u.el) u.el.remove();
  schedule();
}

function buildUploadEl(u) {
  const e = {};
  const nid = 'up-name-' + u.id;
  e.title = h('span', { class: 'up-title' });
  e.bar = h('progress', { max: '1', value: '0', 'aria-label': 'Upload progress' });
  e.stats = h('span', { class: 'up-stats muted small' });
  e.msg = h('p', { class: 'small' });
  e.nameInput = h('input', { id: nid, type: 'text', spellcheck: 'false', autocomplete: 'off' });
  e.nameInput.value = u.name;
  e.nameInput.addEventListener('input', () => { u.name = e.nameInput.value; updateUploadEl(u); });
  e.go = h('button', { type: 'button', class: 'primary', onclick: () => { u.overwrite = false; startUpload(u); } }, 'Upload');
  e.replace = h('button', { type: 'button', class: 'danger', onclick: () => { u.overwrite = true; startUpload(u); } }, 'Replace existing');
  e.nameRow = h('div', { class: 'up-name' }, h('label', { for: nid }, 'Save as'), e.nameInput, e.go, e.replace);
  e.cancel = h('button', { type: 'button', onclick: () => { if (u.xhr && u.state === 'running') u.xhr.abort(); } }, 'Cancel');
  e.dismiss = h('button', { type: 'button', class: 'icon', 'aria-label': 'Dismiss', onclick: () => removeUpload(u) }, '×');
  u.el = h('li', { class: 'upload', 'data-upload': String(u.id) },
    h('div', { class: 'up-head' }, e.title, e.cancel, e.dismiss), e.bar, e.stats, e.msg, e.nameRow);
  u.parts = e;
}

function updateUploadEl(u) {
  const e = u.parts;
  u.el.dataset.state = u.state;
  e.title.textContent = (u.state === 'pending' || u.state === 'failed' ? u.file.name : u.name) + ' (' + fmtBytes(u.total) + ')';
  e.bar.max = u.total || 1;
  e.bar.value = u.state === 'done' ? (u.total || 1) : u.loaded;
  e.bar.hidden = u.state !== 'running';
  let stats = '';
  if (u.state === 'running') {
    const pct = u.total ? Math.floor(u.loaded * 100 / u.total) : 0;
    const remain = u.speed > 0 ? (u.total - u.loaded) / u.speed : NaN;
    stats = pct + '% · ' + fmtBytes(u.loaded) + ' of ' + fmtBytes(u.total) + ' · ' + fmtRate(u.speed) + ' · ' +
      (u.loaded >= u.total ? 'checking and saving…' : fmtDuration(remain) + ' left');
  } else if (u.state === 'done') {
    const r = u.result || {};
    stats = 'Stored as ' + (r.name || u.name) + ' · ' + fmtBytes(r.size) +
      (r.compression ? ' (decompressed from ' + fmtBytes(r.received_size) + ' of ' + r.compression + ')' : '') +
      ' · SHA-256 ' + (r.sha256 || '?');
  } else if (u.state === 'cancelled') {
    stats = 'Cancelled; nothing was stored.';
  }
  e.stats.textContent = stats;
  e.stats.hidden = !stats;
  if (u.state === 'pending') {
    // follows what is typed
    if (!validName(u.name)) u.note = 'Use letters, digits, . _ - + (not starting with . or -).';
    else if (S.images.has(storedName(u.name))) u.note = 'An image named ' + storedName(u.name) + ' exists already: rename, or replace it.';
    else if (!validName(u.file.name)) u.note = '“' + u.file.name + '” is not a valid image name; suggested: ' + u.name;
    else u.note = 'Ready to upload.';
  } else if (u.state === 'running' && storedName(u.name) !== u.name) {
    u.note = 'Decompressed while it arrives, stored as ' + storedName(u.name) + '; the bar counts the compressed bytes sent.';
  }
  const msg = u.error || u.note || '';
  e.msg.textContent = msg;
  e.msg.hidden = !msg;
  e.msg.className = 'small ' + (u.error ? 'error' : 'note');
  e.msg.setAttribute('role', u.error ? 'alert' : 'status');
  const editable = u.state === 'pending' || u.state === 'failed';
  e.nameRow.hidden = !editable;
  if (editable && document.activeElement !== e.nameInput && e.nameInput.value !== u.name) e.nameInput.value = u.name;
  const valid = validName(u.name);
  e.go.disabled = !valid;
  e.replace.hidden = !(valid && S.images.has(storedName(u.name)));
  e.cancel.hidden = u.state !== 'running';
  e.dismiss.hidden = u.state === 'running';
}

export function renderUploads() {
  const ul = $('uploads');
  for (const u of S.uploads) {
    if (!u.el) { buildUploadEl(u); ul.append(u.el); }
    updateUploadEl(u);
  }
}

export function setupDrop() {
  const drop = $('drop'), input = $('file-input');
  input.addEventListener('change', () => { addFiles([...input.files]); input.value = ''; });
  let depth = 0;
  drop.addEventListener('dragenter', (e) => { e.preventDefault(); depth++; drop.classList.add('over'); });
  drop.addEventListener('dragover', (e) => { e.preventDefault(); if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy'; });
  drop.addEventListener('dragleave', () => { if (--depth <= 0) { depth = 0; drop.classList.remove('over'); } });
  drop.addEventListener('drop', (e) => {
    e.preventDefault(); depth = 0; drop.classList.remove('over');
    if (e.dataTransfer && e.dataTransfer.files.length) addFiles([...e.dataTransfer.files]);
  });
  // a file dropped next to the zone must not navigate away from the page
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => e.preventDefault());
  window.addEventListener('beforeunload', (e) => {
    if (S.uploads.some((u) => u.state === 'running')) { e.preventDefault(); e.returnValue = ''; }
  });
}
