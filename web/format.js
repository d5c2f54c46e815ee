/* vmedia web UI: numbers, dates and image names as the page shows them. */

const NAME_RE = /^[A-Za-z0-9_+][A-Za-z0-9._+-]{0,254}$/;

export function fmtBytes(n) {
  if (n === null || n === undefined) return '?';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0, v = n;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return (i === 0 ? String(v) : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)) + ' ' + u[i];
}
export function fmtRate(bps) { return bps > 0 ? fmtBytes(Math.round(bps)) + '/s' : '–'; }
export function fmtDuration(s) {
  if (!isFinite(s) || s < 0) return '–';
  s = Math.round(s);
  if (s < 60) return s + ' s';
  if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
  return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
}
export function fmtMs(ms) {
  if (typeof ms !== 'number') return '?';
  if (ms >= 1000) return (ms / 1000).toFixed(2) + ' s';
  if (ms >= 10) return Math.round(ms) + ' ms';
  return Number(ms.toPrecision(2)) + ' ms';
}
const pad = (n) => String(n).padStart(2, '0');
export function fmtDate(iso) {
  const d = new Date(iso);
  if (isNaN(d)) return String(iso || '');
  return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' + pad(d.getHours()) + ':' + pad(d.getMinutes());
}
export function fmtTime(iso) {
  const d = new Date(iso);
  if (isNaN(d)) return String(iso || '');
  return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
}
export function isIso(name) { return /\.iso$/i.test(name || ''); }
/* NAME.img.xz (.gz .zst .bz2) is stored decompressed as NAME.img. */
const COMPRESSED_RE = /^(.+)\.(xz|gz|zst|bz2)$/;
export function storedName(n) { const m = COMPRESSED_RE.exec(n || ''); return m ? m[1] : n; }

/* The server's rule (server/core/names.c): letters, digits, . _ - +;
 * not starting with . or -; 1..255 bytes. */
export function validName(n) { return NAME_RE.test(n); }
export function sanitizeName(n) {
  const s = String(n).replace(/[^A-Za-z0-9._+-]+/g, '_') // each run of odd characters: one '_'
    .replace(/_*\._*/g, '.')                            // "a (1).iso" -> "a_1.iso"
    .replace(/_+$/, '')
    .replace(/^[_-]+/, '')
    .replace(/^\./, 'image.')                            // not starting with '.' or '-'
    .slice(0, 255);
  return validName(s) ? s : '';
}
