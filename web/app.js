/* vmedia web UI: plain DOM, no framework. Every string that comes from the
 * server or the user goes into the page through textContent or an attribute
 * set with setAttribute, never through innerHTML. */
'use strict';

(function () {
  const NAME_RE = /^[A-Za-z0-9_+][A-Za-z0-9._+-]{0,254}$/;
  const $ = (id) => document.getElementById(id);

  /* ---------- state ---------- */
  const S = {
    status: null,
    luns: new Map(),        // id -> Lun
    images: new Map(),      // name -> Image
    overwrites: new Map(),  // name -> Image: an upload replacing the complete image of that name
    downloads: new Map(),   // id -> job
    downloadsAvailable: false,
    simHung: new Map(),     // id -> bool (the Lun does not carry it)
    lunUi: new Map(),       // id -> {busy, error, refusedLocked, note}
    uploads: [],            // uploads started from this browser
  };

  function lunUi(id) {
    if (!S.lunUi.has(id)) S.lunUi.set(id, { busy: false, error: null, refusedLocked: false, lockMessage: null });
    return S.lunUi.get(id);
  }

  /* ---------- small helpers ---------- */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === null || v === undefined || v === false) continue;
        if (k === 'class') el.className = v;
        else if (k === 'text') el.textContent = v;
        else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
        else if (k === 'hidden' || k === 'disabled' || k === 'checked' || k === 'selected') el[k] = !!v;
        else el.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  // replaceChildren() turns null into the text "null": drop the empties first.
  function nn(...kids) { return kids.flat().filter((k) => k !== null && k !== undefined && k !== false); }

  function fmtBytes(n) {
    if (n === null || n === undefined) return '?';
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0, v = n;
    while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    return (i === 0 ? String(v) : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)) + ' ' + u[i];
  }
  function fmtRate(bps) { return bps > 0 ? fmtBytes(Math.round(bps)) + '/s' : '–'; }
  function fmtDuration(s) {
    if (!isFinite(s) || s < 0) return '–';
    s = Math.round(s);
    if (s < 60) return s + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
    return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
  }
  function fmtMs(ms) {
    if (typeof ms !== 'number') return '?';
    if (ms >= 1000) return (ms / 1000).toFixed(2) + ' s';
    if (ms >= 10) return Math.round(ms) + ' ms';
    return Number(ms.toPrecision(2)) + ' ms';
  }
  const pad = (n) => String(n).padStart(2, '0');
  function fmtDate(iso) {
    const d = new Date(iso);
    if (isNaN(d)) return String(iso || '');
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' + pad(d.getHours()) + ':' + pad(d.getMinutes());
  }
  function fmtTime(iso) {
    const d = new Date(iso);
    if (isNaN(d)) return String(iso || '');
    return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }
  function isIso(name) { return /\.iso$/i.test(name || ''); }
  /* NAME.img.xz (.gz .zst .bz2) is stored decompressed as NAME.img. */
  const COMPRESSED_RE = /^(.+)\.(xz|gz|zst|bz2)$/;
  function storedName(n) { const m = COMPRESSED_RE.exec(n || ''); return m ? m[1] : n; }

  /* The server's rule (server/core/names.c): letters, digits, . _ - +;
   * not starting with . or -; 1..255 bytes. */
  function validName(n) { return NAME_RE.test(n); }
  function sanitizeName(n) {
    const s = String(n).replace(/[^A-Za-z0-9._+-]+/g, '_') // each run of odd characters: one '_'
      .replace(/_*\._*/g, '.')                            // "a (1).iso" -> "a_1.iso"
      .replace(/_+$/, '')
      .replace(/^[_-]+/, '')
      .replace(/^\./, 'image.')                            // not starting with '.' or '-'
      .slice(0, 255);
    return validName(s) ? s : '';
  }

  /* ---------- API ---------- */
  async function api(method, path, body) {
    const opt = { method, headers: {}, cache: 'no-store' };
    if (body !== undefined) {
      opt.headers['Content-Type'] = 'application/json';
      opt.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, opt);
    } catch (e) {
      return { ok: false, status: 0, code: 'network', message: 'Cannot reach vmediad (' + (e && e.message || 'network error') + ').' };
    }
    let data = null;
    const text = await resp.text().catch(() => '');
    if (text) { try { data = JSON.parse(text); } catch (e) { data = null; } }
    if (resp.ok) return { ok: true, status: resp.status, data };
    return { ok: false, status: resp.status, data, ...errorOf(resp.status, resp.statusText, data) };
  }
  function errorOf(status, statusText, data) {
    if (data && data.error && typeof data.error.message === 'string')
      return { code: String(data.error.code || ''), message: data.error.message };
    return { code: 'http_' + status, message: 'The server answered HTTP ' + status + (statusText ? ' ' + statusText : '') + '.' };
  }

  /* ---------- toasts ---------- */
  function toast(message, kind) {
    const box = $('toasts');
    const t = h('div', { class: 'toast ' + (kind || 'error'), role: kind === 'ok' ? 'status' : 'alert' },
      h('span', { class: 'toast-msg', text: message }),
      h('button', { type: 'button', class: 'icon', 'aria-label': 'Dismiss', onclick: () => t.remove() }, '×'));
    box.append(t);
    setTimeout(() => t.remove(), kind === 'ok' ? 4000 : 12000);
    while (box.children.length > 4) box.firstChild.remove();
  }

  /* ---------- confirmation dialog ---------- */
  function confirmDialog(title, paragraphs, okLabel) {
    const dlg = $('confirm');
    $('confirm-title').textContent = title;
    const body = $('confirm-body');
    body.replaceChildren(...nn(...paragraphs.map((p) => p instanceof Node ? p : h('p', { text: p }))));
    $('confirm-ok').textContent = okLabel;
    return new Promise((resolve) => {
      const done = () => { dlg.removeEventListener('close', done); resolve(dlg.returnValue === 'ok'); };
      dlg.returnValue = '';
      dlg.addEventListener('close', done);
      if (typeof dlg.showModal === 'function') dlg.showModal();
      else resolve(window.confirm(title + '\n\n' + paragraphs.filter((p) => typeof p === 'string').join('\n')));
      $('confirm-cancel').focus();
    });
  }

  /* ---------- render scheduling ---------- */
  let renderQueued = false;
  function schedule() {
    if (renderQueued) return;
    renderQueued = true;
    // A frame, or a timer where frames do not come (a hidden tab, a
    // headless screenshot): whichever is first.
    const run = () => { if (!renderQueued) return; renderQueued = false; renderAll(); };
    requestAnimationFrame(run);
    setTimeout(run, 100);
  }
  function renderAll() {
    renderStatus();
    renderLuns();
    renderImages();
    renderUploads();
    renderDownloads();
  }

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

  let statusTimer = null;
  function refreshStatusSoon() {
    if (statusTimer) return;
    statusTimer = setTimeout(async () => {
      statusTimer = null;
      const r = await api('GET', '/status');
      if (r.ok && r.data) { S.status = r.data; schedule(); }
    }, 800);
  }

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
      c.image, c.kind, c.message, c.warning, c.lockNote, c.error, c.actions, c.last, c.insBox, c.sim);
    c.title.id = 'lun-title-' + id;
    c.lastImagesKey = null;
    cards.set(id, c);
    return c;
  }

  function renderLuns() {
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
      (lun.removable ? '' : ' · not removable');

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
    const key = JSON.stringify(imgs.map((i) => [i.name, i.size, i.attached_to]));
    c.insForm.hidden = !imgs.length;
    c.insEmpty.hidden = !!imgs.length;
    if (key !== c.lastImagesKey) {
      const prev = c.insImage.value;
      c.insImage.replaceChildren(...nn(h('option', { value: '' }, '— choose an image —'),
        ...imgs.map((i) => h('option', { value: i.name },
          i.name + ' (' + fmtBytes(i.size) + ')' + (i.attached_to.length ? ' — in LUN ' + i.attached_to.join(', ') : '')))));
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

  function onInsImageChange(id) {
    const c = cards.get(id);
    const iso = isIso(c.insImage.value);
    c.insType.value = iso ? 'cdrom' : 'flash';
    onInsTypeChange(id);
    c.insRo.checked = iso;
  }
  function onInsTypeChange(id) {
    const c = cards.get(id);
    const cd = c.insType.value === 'cdrom';
    if (cd) c.insRo.checked = true;
    c.insRo.disabled = cd;
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
  function applyLun(lun) {
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
      toast('USB device reconnected in ' + fmtMs(r.data && r.data.elapsed_ms) + '.', 'ok');
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
      onclick: () => window.vmediaFiles && window.vmediaFiles.open(name) }, 'Files');
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
    r.name.replaceChildren(...nn(h('span', { class: 'name-text', text: img.name }),
      img.source && img.source !== 'upload' ? h('span', { class: 'muted small src', text: 'from ' + img.source }) : null));
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
    r.files.hidden = !img.complete;
    r.delWhy.textContent = attached ? 'Inserted in LUN ' + img.attached_to.join(', ') + ': eject it first'
      : (!img.complete ? 'Still arriving' : '');
    r.del.setAttribute('aria-label', 'Delete ' + img.name);
    if (r.delWhy.textContent) r.del.setAttribute('aria-describedby', r.delWhy.id);
    else r.del.removeAttribute('aria-describedby');
  }

  function renderImages() {
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
    const ok = await confirmDialog('Delete ' + name + '?', ['The image is removed from this box. This cannot be undone.'], 'Delete');
    if (!ok) return;
    const r = await api('DELETE', '/images/' + encodeURIComponent(name));
    if (!r.ok) toast(name + ': ' + r.message);
    else { removeImage(name); schedule(); }
  }

  /* An upload's progress or end. One over a complete image (the server
   * says "overwrite"; a complete image shown is taken as one too) is kept
   * beside it: the image stays listed, and usable, until the upload has
   * replaced it, and stays if the upload is aborted. */
  function isOverwrite(up) {
    const cur = S.images.get(up.name);
    return !!up.overwrite || !!(cur && cur.complete);
  }
  function uploadProgress(up) {
    if (isOverwrite(up)) S.overwrites.set(up.name, up);
    else S.images.set(up.name, up);
  }
  function uploadAborted(up) {
    if (isOverwrite(up)) S.overwrites.delete(up.name);
    else S.images.delete(up.name);
  }
  function imageStored(img) {
    S.images.set(img.name, img);
    S.overwrites.delete(img.name);
  }
  // An overwrite still running then goes on as a new upload.
  function removeImage(name) {
    S.images.delete(name);
    const over = S.overwrites.get(name);
    S.overwrites.delete(name);
    if (over) S.images.set(name, Object.assign({}, over, { overwrite: false }));
  }

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

  function renderUploads() {
    const ul = $('uploads');
    for (const u of S.uploads) {
      if (!u.el) { buildUploadEl(u); ul.append(u.el); }
      updateUploadEl(u);
    }
  }

  function setupDrop() {
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

  /* ---------- downloads ---------- */
  const dlEls = new Map();

  async function checkDownloads() {
    const r = await api('GET', '/downloads');
    if (r.ok && r.data && Array.isArray(r.data.downloads)) {
      S.downloadsAvailable = true;
      S.downloads.clear();
      for (const j of r.data.downloads) S.downloads.set(j.id, j);
    } else if (r.status === 404 || r.status === 405) {
      S.downloadsAvailable = false;
    }
    schedule();
  }

  function renderDownloads() {
    $('downloads-section').hidden = !S.downloadsAvailable;
    if (!S.downloadsAvailable) return;
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

  function setupDownloadForm() {
    const form = $('dl-form'), url = $('dl-url'), name = $('dl-name'), sha = $('dl-sha'), err = $('dl-error');
    const showErr = (m, field) => { err.textContent = m; err.hidden = !m; if (field) field.focus(); };
    url.addEventListener('input', () => {
      let guess = '';
      try { guess = sanitizeName(decodeURIComponent(new URL(url.value).pathname.split('/').pop() || '')); } catch (e) { guess = ''; }
      name.placeholder = guess;
    });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      showErr('');
      const body = { url: url.value.trim() };
      if (!body.url) return showErr('Enter the URL of the image.', url);
      const n = name.value.trim();
      if (n) {
        if (!validName(n)) {
          const s = sanitizeName(n);
          if (s) name.value = s;
          return showErr('“' + n + '” is not a valid image name' + (s ? '; it was changed to ' + s + ' — press Download again.' : '.'), name);
        }
        body.name = n;
      }
      const h64 = sha.value.trim();
      if (h64) {
        if (!/^[0-9a-fA-F]{64}$/.test(h64)) return showErr('A SHA-256 has 64 hexadecimal digits.', sha);
        body.sha256 = h64.toLowerCase();
      }
      if ($('dl-insecure').checked) body.insecure = true;
      $('dl-submit').disabled = true;
      const r = await api('POST', '/downloads', body);
      $('dl-submit').disabled = false;
      if (r.ok && r.data) {
        if (r.data.id !== undefined) S.downloads.set(r.data.id, r.data);
        form.reset();
        name.placeholder = '';
        schedule();
      } else if (r.status === 404 && r.code === 'not_found') {
        S.downloadsAvailable = false; schedule();
        toast('This vmediad cannot download from URLs.');
      } else {
        showErr(r.message);
      }
    });
  }

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

  function connect() {
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
      if (Array.isArray(st.downloads)) {
        S.downloadsAvailable = true;
        S.downloads.clear();
        for (const j of st.downloads) S.downloads.set(j.id, j);
      } else {
        checkDownloads();
      }
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
        S.downloadsAvailable = true;
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

  /* ---------- start ---------- */
  function start() {
    setupDrop();
    setupDownloadForm();
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
  window.vmedia = { state: S, sanitizeName, validName, toast, // for debugging in the console
    h, nn, api, fmtBytes, fmtDate, imageStored, refreshStatusSoon, confirmDialog }; // and for files.js
  start();
})();
