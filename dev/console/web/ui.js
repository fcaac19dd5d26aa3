// Small DOM helpers shared by the tabs: no framework, no build step.

// h builds an element: h('button', {class: 'btn', onclick}, 'Text', child...).
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'testid') el.dataset.testid = v;
    else if (k === 'value') el.value = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// api calls the console's JSON API; a failure throws with the server's message.
export async function api(path, body) {
  const opts = body === undefined ? {} : { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) };
  const resp = await fetch('/console/api/' + path, opts);
  const data = await resp.json().catch(() => ({ error: resp.statusText }));
  if (!resp.ok) throw new Error(data.error || resp.statusText);
  return data;
}

// Which <details> are open survives re-rendering: keyed by data-key.
const openKeys = new Set();
export function fold(key, summary, content, open = false) {
  const d = h('details', { 'data-key': key }, h('summary', {}, summary), content);
  d.open = openKeys.has(key) || (open && !openKeys.has('closed:' + key));
  d.addEventListener('toggle', () => {
    if (d.open) { openKeys.add(key); openKeys.delete('closed:' + key); }
    else { openKeys.delete(key); openKeys.add('closed:' + key); }
  });
  return d;
}

// pretty shows JSON (or a string holding JSON) indented.
export function pretty(v) {
  if (typeof v === 'string') {
    try { v = JSON.parse(v); } catch { return v; }
  }
  return JSON.stringify(v, null, 2);
}

export function json(key, label, v, open = false) {
  return fold(key, label, h('pre', {}, pretty(v)), open);
}

// problemText is one line for a handler's RFC 9457 problem answer:
// "400 invitees-not-reachable: you can invite only …" (or the bare status).
export function problemText(status, body) {
  let b = body;
  if (typeof b === 'string') {
    try { b = JSON.parse(b); } catch { return `${status} ${b}`.trim(); }
  }
  if (!b || typeof b !== 'object') return String(status);
  const what = b.code || b.title || '';
  const fields = Array.isArray(b.errors) ? b.errors.map((e) => [e.field, e.detail].filter(Boolean).join(': ')).filter(Boolean) : [];
  return `${status} ${what}${b.detail ? ': ' + b.detail : ''}${fields.length && !b.detail ? ' (' + fields.join('; ') + ')' : ''}`.trim();
}

// answer shows what the function app answered a request the console made:
// a problem as a readable line above the body, the body folded below.
export function answer(key, r) {
  const label = `${r.request.split(' ').slice(0, 2).join(' ')} → ${r.status}`;
  if (r.status < 300) return json(key, label, r.body);
  return h('div', { class: 'problem', testid: 'problem' },
    h('strong', {}, problemText(r.status, r.body)),
    json(key, label + ' (problem body)', r.body));
}

export function badge(text, kind = '') {
  return h('span', { class: 'badge ' + kind }, text);
}

const stateKinds = {
  active: 'ok', mutual: 'ok', accepted: 'ok', joined: 'ok', connected: 'ok', started: 'ok', delivered: 'ok',
  requested: 'warn', 'asks-you': 'info', invited: 'warn', reserved: 'warn', connecting: 'warn', created: 'info',
  left: '', ended: '', disconnected: '', blocked: 'bad', failed: 'bad', sent: 'info', queued: 'warn',
};
export function stateBadge(s) {
  return badge(s || '?', stateKinds[s] ?? '');
}

export function time(t) {
  if (!t) return '';
  const d = new Date(t);
  if (isNaN(d)) return t;
  return d.toLocaleTimeString([], { hour12: false }) + '.' + String(d.getMilliseconds()).padStart(3, '0');
}

export function short(s, n = 18) {
  if (!s) return '';
  return s.length > n ? s.slice(0, n) + '…' : s;
}

export function toast(msg, bad = false) {
  const el = h('div', { class: bad ? 'bad' : '' }, msg);
  document.getElementById('toast').append(el);
  setTimeout(() => el.remove(), bad ? 6000 : 3000);
}

export async function copy(text, what = 'Copied') {
  try {
    await navigator.clipboard.writeText(text);
    toast(what + ' to the clipboard');
  } catch {
    toast('Copy it from the box: the browser refused the clipboard');
  }
}

export function empty(...children) {
  return h('div', { class: 'empty' }, ...children);
}

export function table(headers, rows) {
  return h('table', {}, h('thead', {}, h('tr', {}, headers.map((x) => h('th', {}, x)))), h('tbody', {}, rows));
}

export function field(label, input) {
  return h('label', {}, label, input);
}

// action runs an async click handler, reporting failures as a toast.
export function action(fn) {
  return async (ev) => {
    ev?.preventDefault?.();
    const btn = ev?.currentTarget;
    if (btn) btn.disabled = true;
    try { await fn(ev); } catch (e) { toast(e.message, true); } finally { if (btn) btn.disabled = false; }
  };
}

export function options(list, selected) {
  return list.map(([value, label]) => h('option', { value, selected: value === selected }, label));
}
