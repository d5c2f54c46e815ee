/* vmedia web UI: the image library table (with uploads in progress and
 * replacements shown beside the image they replace), copy SHA-256, delete. */
import { $, h, nn, toast, confirmDialog } from './dom.js';
import { fmtBytes, fmtDate } from './format.js';
import { api } from './api.js';
import { S, schedule, removeImage } from './state.js';
import { openFiles } from './files.js';

/* ---------- images ---------- */
const rows = new Map(); // name -> {tr, ...}
let rowSeq = 0;

function buildRow(name) {
  const r = {};
  r.name = h('td', { class: 'name', 'data-label': 'Name' });
  r.size = h('td', { class: 'size', 'data-label': 'Size' });
  r.sha = h('td', { class: 'sha', 'data-label': 'SHA-256' });
  r.date = h('td', { class: 'date', 'data-label': 'Date' });
  r.att = h('td', { class: 'att', 'data-label': 'Attached to' });
  r.act = h('td', { class: 'act' });
  r.del = h('button', { type: 'button', class: 'danger small-btn', onclick: () => doDelete(name) }, 'Delete');
  r.delWhy = h('span', { class: 'muted small why' });
  r.files = h('button', { type: 'button', class: 'small-btn files-btn', 'aria-label': 'Files in ' + name,
    onclick: () => openFiles(name) }, 'Files');
  r.act.append(r.files, r.del, r.delWhy);
  r.tr = h('tr', { 'data-image': name }, r.name, r.size, r.sha, r.date, r.att, r.act);
  r.key = null;
  r.delWhy.id = 'why-' + (++rowSeq);
  rows.set(name, r);
  return r;
}

// "uploading 1.0 MiB of 4.0 MiB (25%)" and its bar, for an upload in progress.
function arriving(up, prefix, label) {
  const exp = up.expected_size;
  const pct = exp ? Math.min(100, Math.floor(up.size * 100 / exp)) : null;
  return [h('span', { class: prefix ? 'over' : null, text: prefix + (up.source && up.source !== 'upload' ? 'downloading ' : 'uploading ') +
      fmtBytes(up.size) + (exp ? ' of ' + fmtBytes(exp) + ' (' + pct + '%)' : '') }),
    exp ? h('progress', { max: String(exp), value: String(up.size), 'aria-label': label + up.name }) : null];
}

// over: an upload that will replace this complete image, or undefined
function updateRow(r, img, over) {
  const key = JSON.stringify([img, over || null]);
  if (key === r.key) return;
  r.key = key;
  r.tr.classList.toggle('incomplete', !img.complete);
  r.tr.classList.toggle('replacing', !!over);
  const link = img.kind === 'link';
  r.tr.classList.toggle('link', link);
  r.name.replaceChildren(...nn(h('span', { class: 'name-text', text: img.name }),
    link ? h('span', { class: 'badge kind-link', text: 'link' }) : null,
    img.source && img.source !== 'upload' ? h('span', { class: 'muted small src',
      text: (link ? 'streamed from ' : 'from ') + img.source }) : null));
  if (img.complete) {
    r.size.replaceChildren(...nn(h('span', { title: img.size + ' bytes', 'data-bytes': String(img.size), text: fmtBytes(img.size) }),
      ...(over ? arriving(over, 'being replaced: ', 'Replacement upload of ') : [])));
  } else {
    r.size.replaceChildren(...nn(...arriving(img, '', 'Upload of ')));
  }
  if (img.sha256) {
    const full = h('code', { class: 'sha-full', text: img.sha256 });
    r.sha.replaceChildren(...nn(h('details', null,
      h('summary', { title: img.sha256, 'aria-label': 'SHA-256 ' + img.sha256.slice(0, 12) + '…, show all' },
        h('code', { text: img.sha256.slice(0, 12) + '…' })),
      full),
      h('button', { type: 'button', class: 'small-btn copy', 'aria-label': 'Copy the SHA-256 of ' + img.name,
        onclick: (e) => copyText(img.sha256, e.currentTarget) }, 'Copy')));
  } else {
    r.sha.replaceChildren(...nn(h('span', { class: 'muted', text: '–' })));
  }
  r.date.replaceChildren(...nn(h('time', { datetime: img.mtime, title: img.mtime, text: fmtDate(img.mtime) })));
  r.att.textContent = img.attached_to.length ? img.attached_to.map((n) => 'LUN ' + n).join(', ') : '–';
  const attached = img.attached_to.length > 0;
  r.del.disabled = attached || !img.complete;
  r.files.hidden = !img.complete || link;	// a link's data is on its server
  r.delWhy.textContent = attached ? 'Inserted in LUN ' + img.attached_to.join(', ') + ': eject it first'
    : (!img.complete ? 'Still arriving' : '');
  r.del.setAttribute('aria-label', 'Delete ' + img.name);
  if (r.delWhy.textContent) r.del.setAttribute('aria-describedby', r.delWhy.id);
  else r.del.removeAttribute('aria-describedby');
}

export function renderImages() {
  const body = $('images-body');
  const list = [...S.images.values()].sort((a, b) => a.name.localeCompare(b.name));
  for (const [name, r] of rows) if (!S.images.has(name)) { r.tr.remove(); rows.delete(name); }
  const trs = list.map((img) => {
    const r = rows.get(img.name) || buildRow(img.name);
    updateRow(r, img, img.complete ? S.overwrites.get(img.name) : undefined);
    return r.tr;
  });
  const current = [...body.children];
  if (current.length !== trs.length || current.some((n, i) => n !== trs[i])) body.replaceChildren(...nn(...trs));
  $('images').hidden = !list.length;
  $('images-empty').hidden = !!list.length;
}

async function copyText(text, btn) {
  let ok = false;
  try {
    if (navigator.clipboard && window.isSecureContext) { await navigator.clipboard.writeText(text); ok = true; }
  } catch (e) { ok = false; }
  if (!ok) {
    const ta = h('textarea', { class: 'visually-hidden', readonly: true });
    ta.value = text;
    document.body.append(ta);
    ta.select();
    try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
    ta.remove();
  }
  const old = 'Copy';
  btn.textContent = ok ? 'Copied' : 'Copy failed';
  setTimeout(() => { btn.textContent = old; }, 1500);
  if (!ok) toast('Could not copy; open the hash and select it: ' + text, 'info');
}

async function doDelete(name) {
  const link = S.images.get(name) && S.images.get(name).kind === 'link';
  const ok = await confirmDialog('Delete ' + name + '?', [link ? 'The link is removed from this box; the image stays on its server.'
    : 'The image is removed from this box. This cannot be undone.'], 'Delete');
  if (!ok) return;
  const r = await api('DELETE', '/images/' + encodeURIComponent(name));
  if (!r.ok) toast(name + ': ' + r.message);
  else { removeImage(name); schedule(); }
}
