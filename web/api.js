/* vmedia web UI: the JSON API. A reply is {ok, status, data} and, when it
 * failed, the server's error {code, message} (or one made from the status). */

export async function api(method, path, body) {
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
export function errorOf(status, statusText, data) {
  if (data && data.error && typeof data.error.message === 'string')
    return { code: String(data.error.code || ''), message: data.error.message };
  return { code: 'http_' + status, message: 'The server answered HTTP ' + status + (statusText ? ' ' + statusText : '') + '.' };
}
