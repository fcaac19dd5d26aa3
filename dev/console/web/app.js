// The console's shell: tab bar, links, and a poll of the active tab every second.
import { h, api } from './ui.js';
import { usersTab } from './users.js';
import { devicesTab } from './devices.js';
import { callsTab } from './calls.js';
import { phoneTab } from './phone.js';
import { eventsTab } from './events.js';

const POLL_MS = 1000;

async function main() {
  const overview = await api('overview');
  const ctx = { overview };
  const tabs = [usersTab(ctx), devicesTab(ctx), callsTab(ctx)];
  if (overview.capabilities.bots || overview.capabilities.sms) tabs.push(phoneTab(ctx));
  tabs.push(eventsTab(ctx));

  document.getElementById('links').append(
    h('a', { href: overview.functionApp + '/api/health', target: '_blank' }, 'function app'),
    h('a', { href: overview.openapi, target: '_blank' }, 'OpenAPI'),
    h('a', { href: overview.issuer + '/.well-known/openid-configuration', target: '_blank' }, 'OIDC issuer'),
  );
  const nav = document.getElementById('tabs');
  const main = document.getElementById('main');
  main.replaceChildren(...tabs.map((t) => { t.el.hidden = true; return t.el; }));
  const buttons = new Map();
  for (const t of tabs) {
    const count = h('span', { class: 'count', hidden: true });
    const b = h('button', { role: 'tab', 'aria-selected': 'false', testid: 'tab-' + t.id, onclick: () => { location.hash = t.id; } }, t.title, count);
    b.count = count;
    buttons.set(t.id, b);
    nav.append(b);
  }

  let active = null;
  let timer = null;
  let last = '';
  const live = document.getElementById('live');
  // One poll at a time: a refresh asked for during one runs right after it.
  let busy = false;
  let again = false;
  async function poll() {
    if (busy) { again = true; return; }
    busy = true;
    clearTimeout(timer);
    const t = active;
    try {
      const data = await t.load();
      const text = JSON.stringify(data);
      if (t === active && text !== last) {
        last = text;
        t.render(data);
      }
      const counts = await api('counts');
      for (const [id, b] of buttons) {
        const n = counts[id];
        b.count.hidden = !n;
        b.count.textContent = n || '';
      }
      live.className = 'live';
      live.textContent = '● live';
    } catch (e) {
      live.className = 'live off';
      live.textContent = '● ' + e.message;
    }
    busy = false;
    if (again || t !== active) {
      again = false;
      poll();
      return;
    }
    // A tab in the background polls less often.
    timer = setTimeout(poll, document.hidden ? 5 * POLL_MS : POLL_MS);
  }
  function show() {
    const id = location.hash.slice(1);
    const t = tabs.find((x) => x.id === id) || tabs[0];
    if (t === active) return;
    active = t;
    last = '';
    for (const x of tabs) {
      x.el.hidden = x !== t;
      buttons.get(x.id).setAttribute('aria-selected', String(x === t));
    }
    document.title = t.title + ' · Switchboard console';
    poll();
  }
  ctx.refresh = () => { last = ''; poll(); };
  window.addEventListener('hashchange', show);
  document.addEventListener('visibilitychange', () => { if (!document.hidden) poll(); });
  show();
}

main().catch((e) => {
  document.getElementById('main').replaceChildren(h('div', { class: 'empty' }, 'The console could not reach its API: ' + e.message));
});
