/* vmedia web UI: the drives (LUN cards): state, host lock, last eject,
 * the insert form, eject / force eject / reconnect, the simulated host. */
import { $, h, nn, toast, confirmDialog } from './dom.js';
import { fmtBytes, fmtMs, fmtTime, isIso } from './format.js';
import { api } from './api.js';
import { S, lunUi, schedule } from './state.js';

/* ---------- LUN cards ---------- */
const cards = new Map(); // id -> {root, parts...}

const STATE_LABEL = { empty: 'Empty', inserting: 'Inserting…', inserted: 'Inserted', ejecting: 'Ejecting…' };
const METHOD_NOTE = {
  'file': 'plain eject',
  'break_io+forced_eject': 'only this LUN’s I/O was broken',
  'break_io+forced_eject+sigusr1': 'a stalled command of another LUN forced SIGUSR1',
  'break_io+forced_eject+break_others': 'a stalled command of another LUN held it up; that command was ended (break_io)',
  'break_io+forced_eject+break_others+sigusr1': 'another LUN’s stalled command could not be ended by break_io; SIGUSR1 followed',
  'break_io+break_others+file': 'a stuck plain eject finished once another LUN’s stalled command was ended',
  'break_io+break_others+sigusr1+file': 'a stuck plain eject finished after break_io of every LUN and SIGUSR1',
  'forced_eject': 'forced eject',
  'forced_eject+sigusr1': 'forced_eject did not finish; SIGUSR1 followed',
  'sigusr1+file': 'SIGUSR1, then the medium was cleared',
  'break_io+file': 'a stuck plain eject finished once this LUN’s I/O was broken',
  'break_io+sigusr1+file': 'a stuck plain eject finished after break_io and SIGUSR1',
};

function buildCard(id) {
  const c = {};
  c.title = h('h3', { text: 'LUN ' + id });
  c.stateBadge = h('span', { class: 'badge' });
  c.lockBadge = h('span', { class: 'badge locked', text: 'Locked by host', hidden: true });
  c.image = h('p', { class: 'lun-image' });
  c.kind = h('p', { class: 'lun-kind muted' });
  c.stream = h('dl', { class: 'stream', hidden: true, 'aria-label': 'Stream of LUN ' + id });
  c.message = h('p', { class: 'note busy', hidden: true, role: 'status' });
  c.warning = h('div', { class: 'warn', hidden: true, role: 'status' });
  c.lockNote = h('div', { class: 'locknote', hidden: true, role: 'alert' });
  c.error = h('p', { class: 'error', hidden: true, role: 'alert' });
  c.eject = h('button', { type: 'button', class: 'primary eject', onclick: () => doEject(id, false) }, 'Eject');
  c.force = h('button', { type: 'button', class: 'danger force', hidden: true, onclick: () => doEject(id, true) }, 'Force eject…');
  c.actions = h('div', { class: 'actions' }, c.eject, c.force);
  c.last = h('div', { class: 'last', hidden: true });

  // insert form
  const sid = 'ins-img-' + id, tid = 'ins-type-' + id, rid = 'ins-ro-' + id, cid = 'ins-rc-' + id;
  c.insImage = h('select', { id: sid, required: true, onchange: () => onInsImageChange(id) });
  c.insType = h('select', { id: tid, onchange: () => onInsTypeChange(id) },
    h('option', { value: 'flash' }, 'Flash drive'), h('option', { value: 'cdrom' }, 'CD-ROM'));
  c.insRo = h('input', { type: 'checkbox', id: rid });
  c.insReconnect = h('input', { type: 'checkbox', id: cid });
  c.insReconnectRow = h('div', { class: 'field check', hidden: true },
    c.insReconnect, h('label', { for: cid, class: 'rc-label' }));
  c.insButton = h('button', { type: 'submit', class: 'primary' }, 'Insert');
  c.insForm = h('form', { class: 'insert', onsubmit: (e) => { e.preventDefault(); doInsert(id); } },
    h('div', { class: 'field wide' }, h('label', { for: sid }, 'Image'), c.insImage),
    h('div', { class: 'field' }, h('label', { for: tid }, 'Type'), c.insType),
    h('div', { class: 'field check' }, c.insRo, h('label', { for: rid }, 'Read-only')),
    c.insReconnectRow,
    h('div', { class: 'field' }, c.insButton));
  c.insEmpty = h('p', { class: 'muted small', text: 'Upload an image to insert it here.', hidden: true });
  c.insBox = h('div', { class: 'insert-box' }, c.insForm, c.insEmpty);

  // sim host controls
  c.simLock = h('button', { type: 'button', class: 'toggle', 'aria-pressed': 'false', onclick: () => doSim(id, 'lock') }, 'Host locks medium');
  c.simHang = h('button', { type: 'button', class: 'toggle', 'aria-pressed': 'false', onclick: () => doSim(id, 'hang') }, 'Host I/O hangs');
  c.sim = h('fieldset', { class: 'sim', hidden: true },
    h('legend', null, 'Simulated host'), h('div', { class: 'actions' }, c.simLock, c.simHang),
    c.simNote = h('p', { class: 'muted small', text: 'Insert a medium to use these.', hidden: true }));

  c.root = h('article', { class: 'lun', 'data-lun': String(id), 'aria-labelledby': 'lun-title-' + id },
    h('header', null, c.title, h('span', { class: 'badges' }, c.stateBadge, c.lockBadge)),
    c.image, c.kind, c.stream, c.message, c.warning, c.lockNote, c.error, c.actions, c.last, c.insBox, c.sim);
  c.title.id = 'lun-title-' + id;
  c.lastImagesKey = null;
  cards.set(id, c);
  return c;
}

export function renderLuns() {
  const box = $('luns');
  const ids = [...S.luns.keys()].sort((a, b) => a - b);
  if (!ids.length) {
    if (!box.querySelector('.muted')) box.replaceChildren(...nn(h('p', { class: 'muted', text: 'No LUNs yet.' })));
    return;
  }
  for (const [id, c] of cards) if (!S.luns.has(id)) { c.root.remove(); cards.delete(id); }
  const frag = [];
  for (const id of ids) {
    const c = cards.get(id) || buildCard(id);
    updateCard(c, S.luns.get(id));
    frag.push(c.root);
  }
  // keep order without re-inserting nodes that are in place (keeps focus)
  const current = [...box.children];
  if (current.length !== frag.length || current.some((n, i) => n !== frag[i])) box.replaceChildren(...nn(...frag));
  watchStreams(ids.some((id) => streamOf(S.luns.get(id))));
}

/* A streamed LUN's counters (bytes read, cache hits) change without an
 * event: while one is shown, its LUN is fetched again every 2 s. */
const STREAM_POLL_MS = 2000;
let streamTimer = null;
function streamOf(lun) {
  return lun && lun.state !== 'empty' && lun.stream ? lun.stream : null;
}
function watchStreams(on) {
  if (!on === !streamTimer) return;
  if (!on) { clearInterval(streamTimer); streamTimer = null; return; }
  streamTimer = setInterval(async () => {
    for (const [id, lun] of S.luns) {
      if (!streamOf(lun)) continue;
      const r = await api('GET', '/luns/' + id);
      if (r.ok && r.data) applyLun(r.data);
    }
  }, STREAM_POLL_MS);
}

function renderStream(c, st) {
  c.stream.hidden = !st;
  if (!st || !once(c, 'stream', JSON.stringify(st))) return;
  const bytes = (cls, n) => h('dd', { class: cls, 'data-bytes': String(n), title: n + ' bytes', text: fmtBytes(n) });
  c.stream.replaceChildren(...nn(
    h('dt', null, 'Streamed from'), h('dd', { class: 'stream-url' }, h('code', { text: st.url })),
    h('dt', null, 'Size'), bytes('stream-size', st.size),
    h('dt', null, 'Read by the host'), bytes('stream-read', st.bytes_read),
    h('dt', null, 'Fetched from the server'), bytes('stream-server', st.server_bytes),
    h('dt', null, 'Cache hit rate'), h('dd', { class: 'stream-hits',
      text: st.cache_hit_rate === null || st.cache_hit_rate === undefined ? '–' : Math.round(st.cache_hit_rate * 100) + ' %' }),
    st.running ? null : h('dd', { class: 'warn-text', text: 'nbdkit has stopped: the host’s reads fail until the medium is ejected.' })));
}

function updateCard(c, lun) {
  const ui = lunUi(lun.id);
  const simulated = !!(S.status && S.status.backend && S.status.backend.simulated);
  c.root.dataset.state = lun.state;
  c.stateBadge.textContent = STATE_LABEL[lun.state] || lun.state;
  c.stateBadge.className = 'badge state-' + lun.state;
  const locked = lun.locked === true;
  c.lockBadge.hidden = !locked;
  c.root.classList.toggle('is-locked', locked);

  if (lun.image) {
    c.image.replaceChildren(...nn(h('span', { class: 'muted', text: 'Image ' }), h('strong', { class: 'name', text: lun.image })));
  } else {
    c.image.replaceChildren(...nn(h('span', { class: 'muted', text: 'No medium' })));
  }
  c.kind.textContent = (lun.cdrom ? 'CD-ROM' : 'Flash drive') + ' · ' + (lun.ro ? 'read-only' : 'read-write') +
    (lun.removable ? '' : ' · not removable') + (streamOf(lun) ? ' · streamed, not copied' : '');
  renderStream(c, streamOf(lun));

  // 202: still going on
  const inProgress = lun.state === 'ejecting' || lun.state === 'inserting';
  c.message.hidden = !inProgress;
  if (inProgress) {
    c.message.textContent = (lun.state === 'ejecting' ? 'Still ejecting in the background' : 'Still inserting in the background') +
      ': the kernel has not finished yet. This card updates by itself when it is done.';
  }

  // warning (e.g. device type change pending a reconnect)
  c.warning.hidden = !lun.warning;
  if (lun.warning && once(c, 'warn', lun.warning)) {
    c.warning.replaceChildren(...nn(
      h('p', { text: lun.warning }),
      c.reconnect = h('button', { type: 'button', class: 'reconnect', onclick: () => doReconnect(lun.id) }, 'Reconnect USB device…')));
  }
  if (c.reconnect) c.reconnect.disabled = ui.busy;

  // host lock: say so and offer the force eject
  const showLock = lun.image && lun.state !== 'empty' && (locked || ui.refusedLocked);
  c.lockNote.hidden = !showLock;
  if (showLock && once(c, 'lock', ui.lockMessage || '')) {
    c.lockNote.replaceChildren(...nn(
      h('strong', { text: 'The host has locked this medium.' }),
      h('span', { text: 'It is probably in use (mounted or being read). A plain eject is refused; a force eject takes it away anyway.' }),
      ui.lockMessage ? h('span', { class: 'server-msg', text: ui.lockMessage }) : null));
  }
  // A force eject pre-empts whatever the LUN is doing (a plain eject stuck
  // behind a host that stopped reading, a stuck insert): offered whenever
  // the LUN holds or is losing a medium, not only when the host locked it.
  c.force.hidden = !lun.image || lun.state === 'empty';

  c.error.hidden = !ui.error;
  c.error.textContent = ui.error || '';

  c.eject.disabled = ui.busy || lun.state === 'empty' || lun.state === 'ejecting';
  c.force.disabled = ui.busy === 'force' || lun.state === 'empty';
  c.actions.hidden = lun.state === 'empty' && !ui.error;
  c.eject.hidden = lun.state === 'empty';

  // last eject
  const le = lun.last_eject;
  c.last.hidden = !le;
  if (le && once(c, 'last', JSON.stringify(le) + showLock + ui.lockMessage)) {
    const items = [
      h('dt', null, 'Last eject'),
      h('dd', null, h('code', { class: 'method', text: le.method }),
        METHOD_NOTE[le.method] ? h('span', { class: 'muted', text: ' — ' + METHOD_NOTE[le.method] } ) : null),
      h('dd', { class: 'muted' },
        (le.forced ? 'forced' : 'plain') + ', ' + (le.ok ? 'ok' : 'failed') + ', took ' + fmtMs(le.elapsed_ms) + ', at ' + fmtTime(le.at)),
      h('dd', { class: le.other_luns_affected ? 'warn-text' : 'muted' },
        !le.other_luns_affected ? 'Other LUNs affected: no'
          : /sigusr1/.test(le.method) ? 'Other LUNs affected: yes — SIGUSR1 interrupted I/O on every LUN of the device.'
            : 'Other LUNs affected: yes — the stalled command of another LUN was ended (break_io); its medium and lock stay.'),
    ];
    if (le.error && !(showLock && le.error === ui.lockMessage)) items.push(h('dd', { class: 'error', text: le.error }));
    c.last.replaceChildren(...nn(h('dl', null, items)));
  }

  // insert form, when empty
  const canInsert = lun.state === 'empty';
  c.insBox.hidden = !canInsert;
  if (canInsert) fillInsertForm(c, lun, ui);

  // sim controls
  c.sim.hidden = !simulated;
  if (simulated) {
    const hung = !!S.simHung.get(lun.id);
    const hasMedium = !!lun.image && lun.state !== 'empty';
    c.simLock.setAttribute('aria-pressed', String(locked));
    c.simLock.textContent = locked ? 'Host unlocks medium' : 'Host locks medium';
    c.simHang.setAttribute('aria-pressed', String(hung));
    c.simHang.textContent = hung ? 'Host I/O resumes' : 'Host I/O hangs';
    c.simLock.disabled = ui.busy || (!hasMedium && !locked);
    c.simHang.disabled = ui.busy || (!hasMedium && !hung);
    c.simNote.hidden = hasMedium;
  }
}

/* True when key differs from the last one seen for slot: rebuild only then,
 * so a focused button is not replaced under the keyboard. */
function once(c, slot, key) {
  c.keys = c.keys || {};
  if (c.keys[slot] === key) return false;
  c.keys[slot] = key;
  return true;
}

function completeImages() {
  return [...S.images.values()].filter((i) => i.complete).sort((a, b) => a.name.localeCompare(b.name));
}

function fillInsertForm(c, lun, ui) {
  const imgs = completeImages();
  const key = JSON.stringify(imgs.map((i) => [i.name, i.size, i.attached_to, i.kind]));
  c.insForm.hidden = !imgs.length;
  c.insEmpty.hidden = !!imgs.length;
  if (key !== c.lastImagesKey) {
    const prev = c.insImage.value;
    c.insImage.replaceChildren(...nn(h('option', { value: '' }, '— choose an image —'),
      ...imgs.map((i) => h('option', { value: i.name },
        i.name + ' (' + fmtBytes(i.size) + (i.kind === 'link' ? ', link: streamed' : '') + ')' +
        (i.attached_to.length ? ' — in LUN ' + i.attached_to.join(', ') : '')))));
    if (prev && imgs.some((i) => i.name === prev)) c.insImage.value = prev;
    c.lastImagesKey = key;
  }
  c.insButton.disabled = ui.busy;
  if (!c.insImage.value) {
    // nothing chosen yet: offer what the host sees now, so no change is implied
    c.insType.value = lun.cdrom ? 'cdrom' : 'flash';
    c.insRo.checked = !!(lun.ro || lun.cdrom);
    c.insRo.disabled = !!lun.cdrom;
  }
  updateReconnectHint(c, lun);
}

// A named link is streamed: always read-only.
const isLink = (name) => { const i = S.images.get(name); return !!i && i.kind === 'link'; };
function onInsImageChange(id) {
  const c = cards.get(id);
  const iso = isIso(c.insImage.value);
  c.insType.value = iso ? 'cdrom' : 'flash';
  onInsTypeChange(id);
  c.insRo.checked = iso || isLink(c.insImage.value);
}
function onInsTypeChange(id) {
  const c = cards.get(id);
  const fixed = c.insType.value === 'cdrom' || isLink(c.insImage.value);
  if (fixed) c.insRo.checked = true;
  c.insRo.disabled = fixed;
  updateReconnectHint(c, S.luns.get(id));
}
function updateReconnectHint(c, lun) {
  const wantCd = c.insType.value === 'cdrom';
  const change = !!lun && wantCd !== !!lun.cdrom;
  c.insReconnectRow.hidden = !change;
  if (!change) c.insReconnect.checked = false;
  c.insReconnectRow.querySelector('label').textContent =
    'Reconnect the USB device so the host sees a ' + (wantCd ? 'CD-ROM' : 'flash drive') +
    ' (it sees a ' + (lun && lun.cdrom ? 'CD-ROM' : 'flash drive') + ' now; this also resets the keyboard and mouse of the KVM)';
}

/* ---------- LUN actions ---------- */
export function applyLun(lun) {
  if (!lun || typeof lun.id !== 'number') return;
  const prev = S.luns.get(lun.id);
  const le = lun.last_eject;
  // SIGUSR1 ends every stalled command of the function, and so does
  // break_io of every other LUN (break_others): the simulated host's hangs
  // are gone on every LUN (the Lun does not carry them).
  if (le && /sigusr1|break_others/.test(le.method) && !(prev && prev.last_eject && prev.last_eject.at === le.at)) S.simHung.clear();
  S.luns.set(lun.id, lun);
  if (!lun.image || lun.state === 'empty') S.simHung.delete(lun.id);
  const ui = lunUi(lun.id);
  // the refusal stands until the medium is out or the backend says the lock is gone
  if (lun.state === 'empty' || !lun.image || lun.locked === false) { ui.refusedLocked = false; ui.lockMessage = null; }
  schedule();
}

async function doEject(id, force) {
  const lun = S.luns.get(id);
  const ui = lunUi(id);
  if (force) {
    const strategy = S.status && S.status.backend && S.status.backend.features && S.status.backend.features.eject_strategy;
    const what = h('strong', { text: (lun && lun.image) || 'the medium' });
    const ok = await confirmDialog('Force eject LUN ' + id + '?', [
      lun && lun.locked ? h('p', null, 'The host has locked ', what, ' and may be using it.')
        : lun && lun.state === 'ejecting' ? h('p', null, 'A plain eject of ', what, ' is still waiting for the kernel (the host may have stopped reading); a force eject breaks that wait.')
          : h('p', null, 'The host may be using ', what, '.'),
      'A force eject takes the medium away anyway: the host may see an I/O error, and data it has not finished writing may be lost.',
      strategy ? h('p', { class: 'muted' }, 'Method on this box: ', h('code', { text: strategy }),
        strategy === 'break_io+forced_eject'
          ? ' — normally only this LUN is affected (if another LUN’s I/O is stuck, that LUN’s stalled command is ended too).'
          : ' — may interrupt I/O on the other LUNs too (SIGUSR1).') : null,
    ].filter(Boolean), 'Force eject');
    if (!ok) return;
  }
  ui.busy = force ? 'force' : 'eject'; ui.error = null; schedule();
  const r = await api('POST', '/luns/' + id + '/eject' + (force ? '?force=1' : ''));
  ui.busy = false;
  if (r.ok) {
    ui.refusedLocked = false; ui.lockMessage = null;
    await applyReply(id, r);
  } else if (r.status === 409 && r.code === 'medium_locked') {
    ui.refusedLocked = true;
    ui.lockMessage = r.message;
    const l = S.luns.get(id);
    if (l) { l.locked = true; }
  } else {
    ui.error = r.message;
  }
  schedule();
}

// A 202 is the LUN as it was when the bound passed; the operation may
// have ended, and /events said so, before this reply arrived. Read the
// LUN again rather than put the stale state back over the newer one.
async function applyReply(id, r) {
  applyLun(r.data);
  if (r.status !== 202) return;
  const g = await api('GET', '/luns/' + id);
  if (g.ok) applyLun(g.data);
}

async function doInsert(id) {
  const c = cards.get(id);
  const ui = lunUi(id);
  const image = c.insImage.value;
  if (!image) { ui.error = 'Choose an image to insert.'; schedule(); c.insImage.focus(); return; }
  const body = { image, cdrom: c.insType.value === 'cdrom', ro: c.insType.value === 'cdrom' || c.insRo.checked };
  if (!c.insReconnectRow.hidden && c.insReconnect.checked) body.reconnect = true;
  ui.busy = true; ui.error = null; schedule();
  const r = await api('POST', '/luns/' + id + '/insert', body);
  ui.busy = false;
  if (r.ok) {
    await applyReply(id, r);
    c.insImage.value = '';
  } else {
    ui.error = r.message;
  }
  schedule();
}

async function doReconnect(id) {
  const ok = await confirmDialog('Reconnect the USB device?', [
    'The gadget is unplugged and plugged in again, so the host enumerates it and sees the new device type.',
    'This resets every function of the USB device, including the keyboard and mouse of the KVM session, and interrupts I/O on every LUN.',
  ], 'Reconnect');
  if (!ok) return;
  const ui = lunUi(id);
  ui.busy = true; ui.error = null; schedule();
  const r = await api('POST', '/gadget/reconnect');
  ui.busy = false;
  if (r.ok) {
    S.simHung.clear(); // the host resets: no stalled command survives
    toast(r.status === 202 ? 'The USB device is still reconnecting; the drives update when it is done.'
      : 'USB device reconnected in ' + fmtMs(r.data && r.data.elapsed_ms) + '.', 'ok');
    const l = await api('GET', '/luns');
    if (l.ok && l.data) for (const x of l.data.luns) applyLun(x);
  } else {
    ui.error = r.message;
  }
  schedule();
}

async function doSim(id, what) {
  const lun = S.luns.get(id);
  const ui = lunUi(id);
  const cur = what === 'lock' ? !!(lun && lun.locked) : !!S.simHung.get(id);
  ui.busy = true; ui.error = null; schedule();
  const r = await api('POST', '/sim/luns/' + id + '/host?' + what + '=' + (cur ? '0' : '1'));
  ui.busy = false;
  if (r.ok && r.data) {
    S.simHung.set(id, !!r.data.hung);
    const l = S.luns.get(id);
    if (l) l.locked = !!r.data.locked;
    if (!r.data.locked) { ui.refusedLocked = false; ui.lockMessage = null; }
  } else if (!r.ok) {
    ui.error = r.message;
  }
  schedule();
}
