/* vmedia web UI: building the page. Every string that comes from the
 * server or the user goes into the page through textContent or an attribute
 * set with setAttribute, never through innerHTML: h() is the only way in. */

export const $ = (id) => document.getElementById(id);

export function h(tag, attrs, ...children) {
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
export function nn(...kids) { return kids.flat().filter((k) => k !== null && k !== undefined && k !== false); }

/* ---------- toasts ---------- */
export function toast(message, kind) {
  const box = $('toasts');
  const t = h('div', { class: 'toast ' + (kind || 'error'), role: kind === 'ok' ? 'status' : 'alert' },
    h('span', { class: 'toast-msg', text: message }),
    h('button', { type: 'button', class: 'icon', 'aria-label': 'Dismiss', onclick: () => t.remove() }, '×'));
  box.append(t);
  setTimeout(() => t.remove(), kind === 'ok' ? 4000 : 12000);
  while (box.children.length > 4) box.firstChild.remove();
}

/* ---------- confirmation dialog ---------- */
export function confirmDialog(title, paragraphs, okLabel) {
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
