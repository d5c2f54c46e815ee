/* vmedia web UI: the "New drive" dialog (POST /images) and the files of an
 * image (list, download, add, delete: /images/NAME/files). Server strings go into
 * the page as text only. */
import { $, h, nn, toast, confirmDialog } from './dom.js';
import { fmtBytes, fmtDate } from './format.js';
import { api } from './api.js';
import { imageStored, refreshStatusSoon } from './state.js';


/* ---------- new drive ---------- */
export function setupNewDrive() {
  const dlg = $('newdrive'), form = $('newdrive-form'), err = $('nd-error');
  $('newdrive-open').addEventListener('click', () => {
    err.hidden = true;
    dlg.showModal();
    $('nd-name').focus();
  });
  $('nd-fs').addEventListener('change', () => { $('nd-label').disabled = $('nd-fs').value === 'none'; });
  form.addEventListener('submit', async (e) => {
    if (e.submitter && e.submitter.value === 'cancel') return;
    e.preventDefault();
    const size = $('nd-size').value.trim();
    const body = { name: $('nd-name').value.trim(), size: /^\d+$/.test(size) ? Number(size) : size,
      filesystem: $('nd-fs').value };
    if (body.filesystem !== 'none' && $('nd-label').value.trim()) body.label = $('nd-label').value.trim();
    $('nd-create').disabled = true;
    $('nd-create').textContent = 'Creating…';
    const r = await api('POST', '/images', body);
    $('nd-create').disabled = false;
    $('nd-create').textContent = 'Create';
    if (!r.ok) {
      err.textContent = r.message;
      err.hidden = false;
      return;
    }
    imageStored(r.data);
    refreshStatusSoon();
    toast('Drive ' + r.data.name + ' created (' + fmtBytes(r.data.size) + ').', 'ok');
    dlg.close('ok');
  });
}

/* ---------- files of an image ---------- */
let cur = { image: null, dir: '/' };
const enc = (p) => p.split('/').filter(Boolean).map(encodeURIComponent).join('/');
const join = (dir, name) => (dir === '/' ? '' : dir) + '/' + name;

function showError(message) {
  $('files-error').textContent = message || '';
  $('files-error').hidden = !message;
}

async function load(dir) {
  const r = await api('GET', '/images/' + encodeURIComponent(cur.image) + '/files?dir=' + encodeURIComponent(dir));
  if (!r.ok) {
    showError(r.message);
    $('files-list').replaceChildren();
    $('files-add-label').hidden = true;
    return;
  }
  showError(null);
  cur.dir = r.data.dir;
  $('files-title').textContent = 'Files in ' + cur.image + ' (' + ({ fat: 'FAT', exfat: 'exFAT, read-only' }[r.data.filesystem] || 'ISO 9660, read-only') + ')';
  const fat = r.data.filesystem === 'fat';
  $('files-add-label').hidden = !fat;
  const crumbs = [h('button', { type: 'button', class: 'link', onclick: () => load('/') }, cur.image)];
  let acc = '';
  for (const part of cur.dir.split('/').filter(Boolean)) {
    acc += '/' + part;
    const to = acc;
    crumbs.push(' / ', h('button', { type: 'button', class: 'link', onclick: () => load(to) }, part));
  }
  $('files-path').replaceChildren(...nn(crumbs));
  const items = r.data.files.map((f) => {
    const path = join(cur.dir, f.name);
    const main = f.type === 'dir'
      ? h('button', { type: 'button', class: 'link dir', onclick: () => load(path) }, f.name + '/')
      : h('a', { href: '/images/' + encodeURIComponent(cur.image) + '/files/' + enc(path), download: f.name,
        'data-path': path }, f.name);
    return h('li', { 'data-file': f.name, 'data-type': f.type }, main,
      f.type === 'dir' ? null : h('span', { class: 'muted small', text: ' ' + fmtBytes(f.size) }),
      h('span', { class: 'muted small', text: ' ' + fmtDate(f.mtime) }),
      fat ? h('button', { type: 'button', class: 'danger small-btn del', 'aria-label': 'Delete ' + f.name,
        onclick: () => deleteEntry(path, f) }, 'Delete') : null);
  });
  $('files-list').replaceChildren(...nn(items.length ? items : [h('li', { class: 'muted', text: 'This folder is empty.' })]));
}

async function addFile(file) {
  const path = join(cur.dir, file.name);
  showError(null);
  let resp;
  try {
    resp = await fetch('/images/' + encodeURIComponent(cur.image) + '/files/' + enc(path),
      { method: 'PUT', body: file, headers: { 'Content-Type': 'application/octet-stream' } });
  } catch (e) {
    showError('Cannot reach vmediad.');
    return;
  }
  let data = null;
  try { data = await resp.json(); } catch (e) { data = null; }
  if (!resp.ok) {
    showError(data && data.error ? data.error.message : 'The server answered HTTP ' + resp.status + '.');
    return;
  }
  toast(file.name + ' added to ' + cur.image + '.', 'ok');
  await load(cur.dir);
}

/* A file, or a directory (the server refuses one that is not empty). */
async function deleteEntry(path, f) {
  const what = f.type === 'dir' ? 'The folder (it must be empty)' : 'The file';
  const ok = await confirmDialog('Delete ' + f.name + '?',
    [what + ' is removed from ' + cur.image + '. This cannot be undone.'], 'Delete');
  if (!ok) return;
  const r = await api('DELETE', '/images/' + encodeURIComponent(cur.image) + '/files/' + enc(path));
  if (!r.ok) {
    showError(r.message);
    return;
  }
  showError(null);
  toast(f.name + ' deleted from ' + cur.image + '.', 'ok');
  await load(cur.dir);
}

export function openFiles(image) {
  cur = { image, dir: '/' };
  $('files-title').textContent = 'Files in ' + image;
  $('files-path').replaceChildren();
  $('files-list').replaceChildren(h('li', { class: 'muted', text: 'Loading…' }));
  showError(null);
  $('files').showModal();
  load('/');
}

export function setupFiles() {
  $('files-close').addEventListener('click', () => $('files').close());
  $('files-add').addEventListener('change', () => {
    const f = $('files-add').files[0];
    $('files-add').value = '';
    if (f) addFile(f);
  });
}
