/* vmedia web UI: "Download from a URL": the form and the list of jobs. */
import { $, h, nn, toast } from './dom.js';
import { fmtBytes, fmtRate, fmtDuration, validName, sanitizeName } from './format.js';
import { api } from './api.js';
import { S, schedule, imageStored } from './state.js';
import { applyLun } from './luns.js';

/* ---------- downloads ---------- */
const dlEls = new Map();

// The LUNs a URL can be streamed into now (the empty ones).
let lunsKey = null;
function renderLunChoice() {
  const sel = $('dl-lun');
  const ids = [...S.luns.values()].filter((l) => l.state === 'empty').map((l) => l.id).sort((a, b) => a - b);
  const key = ids.join(',');
  $('dl-stream').disabled = !ids.length;
  if (key === lunsKey) return;
  lunsKey = key;
  const prev = sel.value;
  sel.replaceChildren(...nn(...(ids.length ? ids.map((id) => h('option', { value: String(id) }, 'LUN ' + id))
    : [h('option', { value: '' }, 'none empty')])));
  if (ids.map(String).includes(prev)) sel.value = prev;
}

export function renderDownloads() {
  renderLunChoice();
  const ul = $('downloads');
  const jobs = [...S.downloads.values()].sort((a, b) => String(b.id).localeCompare(String(a.id), undefined, { numeric: true }));
  for (const [id, e] of dlEls) if (!S.downloads.has(id)) { e.li.remove(); dlEls.delete(id); }
  const lis = jobs.map((j) => {
    let e = dlEls.get(j.id);
    if (!e) {
      e = {};
      e.name = h('strong', { class: 'dl-name' });
      e.state = h('span', { class: 'badge' });
      e.url = h('p', { class: 'dl-url small muted' });
      e.bar = h('progress', { 'aria-label': 'Download progress' });
      e.stats = h('span', { class: 'small muted dl-stats' });
      e.err = h('p', { class: 'error small', role: 'alert' });
      e.cancel = h('button', { type: 'button', onclick: () => cancelDownload(j.id, true) }, 'Cancel');
      e.forget = h('button', { type: 'button', class: 'small-btn', onclick: () => cancelDownload(j.id, false) }, 'Remove from list');
      e.li = h('li', { class: 'download', 'data-download': String(j.id) },
        h('div', { class: 'up-head' }, e.name, e.state, e.cancel, e.forget), e.url, e.bar, e.stats, e.err);
      dlEls.set(j.id, e);
    }
    e.name.textContent = j.name || '(name not known yet)';
    e.state.textContent = j.state;
    e.state.className = 'badge dl-' + j.state;
    e.url.textContent = j.url || '';
    const active = j.state === 'queued' || j.state === 'running';
    if (j.total) { e.bar.max = j.total; e.bar.value = j.bytes_done || 0; }
    else if (j.state === 'done') { e.bar.max = 1; e.bar.value = 1; }
    else e.bar.removeAttribute('value'); // indeterminate
    e.bar.hidden = !active && j.state !== 'done';
    let s = fmtBytes(j.bytes_done || 0) + (j.total ? ' of ' + fmtBytes(j.total) + ' (' + Math.floor((j.bytes_done || 0) * 100 / j.total) + '%)' : '');
    if (active && j.speed) {
      s += ' · ' + fmtRate(j.speed);
      if (j.total) s += ' · ' + fmtDuration((j.total - (j.bytes_done || 0)) / j.speed) + ' left';
    }
    if (j.attempts > 1 && active) s += ' · attempt ' + j.attempts;
    e.stats.textContent = s;
    // while it runs, an error is the last network error before a resume
    e.err.textContent = j.error ? (active ? 'Retrying after: ' + j.error : j.error) : '';
    e.err.hidden = !j.error;
    e.err.className = 'small ' + (active ? 'note' : 'error');
    e.err.setAttribute('role', active ? 'status' : 'alert');
    e.cancel.hidden = !active;
    e.forget.hidden = active;
    e.forget.setAttribute('aria-label', 'Remove download ' + j.id + ' from the list');
    e.cancel.setAttribute('aria-label', 'Cancel download ' + j.id);
    return e.li;
  });
  const current = [...ul.children];
  if (current.length !== lis.length || current.some((n, i) => n !== lis[i])) ul.replaceChildren(...nn(...lis));
}

async function cancelDownload(id, active) {
  const r = await api('DELETE', '/downloads/' + encodeURIComponent(id));
  if (!r.ok) toast('Download ' + id + ': ' + r.message);
  else if (!active) { S.downloads.delete(id); schedule(); }
  else if (r.data && r.data.id !== undefined) { S.downloads.set(r.data.id, r.data); schedule(); }
}

export function setupDownloadForm() {
  const form = $('dl-form'), url = $('dl-url'), name = $('dl-name'), sha = $('dl-sha'), err = $('dl-error');
  const showErr = (m, field) => { err.textContent = m; err.hidden = !m; if (field) field.focus(); };
  // Shown once it works (every vmediad has /downloads), before the state
  // arrives: the page's own HTML keeps it hidden until this script runs.
  $('downloads-section').hidden = false;
  const guessName = () => {
    try { return sanitizeName(decodeURIComponent(new URL(url.value).pathname.split('/').pop() || '')); } catch (e) { return ''; }
  };
  url.addEventListener('input', () => { name.placeholder = guessName(); });
  // The name typed, if any (undefined), or null after saying what is wrong with it.
  const typedName = (button) => {
    const n = name.value.trim();
    if (!n) return undefined;
    if (validName(n)) return n;
    const s = sanitizeName(n);
    if (s) name.value = s;
    showErr('“' + n + '” is not a valid image name' + (s ? '; it was changed to ' + s + ' — press ' + button + ' again.' : '.'), name);
    return null;
  };
  const busy = (on) => { for (const id of ['dl-submit', 'dl-stream', 'dl-link']) $(id).disabled = on; if (!on) schedule(); };
  const done = () => { form.reset(); name.placeholder = ''; };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    showErr('');
    const body = { url: url.value.trim() };
    if (!body.url) return showErr('Enter the URL of the image.', url);
    const n = typedName('Download');
    if (n === null) return;
    if (n) body.name = n;
    const h64 = sha.value.trim();
    if (h64) {
      if (!/^[0-9a-fA-F]{64}$/.test(h64)) return showErr('A SHA-256 has 64 hexadecimal digits.', sha);
      body.sha256 = h64.toLowerCase();
    }
    if ($('dl-insecure').checked) body.insecure = true;
    busy(true);
    const r = await api('POST', '/downloads', body);
    busy(false);
    if (r.ok && r.data) {
      if (r.data.id !== undefined) S.downloads.set(r.data.id, r.data);
      done();
      schedule();
    } else {
      showErr(r.message);
    }
  });
  // Streamed: the LUN reads the image where it lies (POST /luns/{id}/insert {"url"}).
  $('dl-stream').addEventListener('click', async () => {
    showErr('');
    const u = url.value.trim(), lun = $('dl-lun').value;
    if (!u) return showErr('Enter the URL of the image.', url);
    if (lun === '') return showErr('Every LUN holds a medium: eject one first.');
    busy(true);
    const r = await api('POST', '/luns/' + lun + '/insert', { url: u });
    busy(false);
    if (r.ok && r.data) { applyLun(r.data); done(); } else showErr(r.message);
  });
  // A named link: kept in the library by its URL, streamed when inserted.
  $('dl-link').addEventListener('click', async () => {
    showErr('');
    const u = url.value.trim();
    if (!u) return showErr('Enter the URL of the image.', url);
    const n = typedName('Keep as link');
    if (n === null) return;
    const nm = n || guessName();
    if (!nm) return showErr('Give the link a name.', name);
    busy(true);
    const r = await api('POST', '/images', { name: nm, url: u, link: true });
    busy(false);
    if (r.ok && r.data) { imageStored(r.data); done(); } else showErr(r.message);
  });
}
