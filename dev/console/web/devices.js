// Devices and pushes: every registration, every push it received (newest
// first), and IncomingCall delivered as ACS would raise it.
import { h, api, badge, json, pretty, empty, table, field, action, toast, time, short, fold, options, answer, problemText } from './ui.js';

// syncSelect replaces a select's options, keeping the choice when it is still there.
export function syncSelect(sel, list) {
  const keep = sel.value;
  sel.replaceChildren(...list.map(([v, label]) => h('option', { value: v }, label)));
  if (list.some(([v]) => v === keep)) sel.value = keep;
}

export function devicesTab(ctx) {
  let deviceCount = new Map();
  const fa = ctx.overview.functionApp;
  const to = h('select', { name: 'to', testid: 'ring-to' });
  const from = h('select', { name: 'from', testid: 'ring-from' });
  const callerName = h('input', { name: 'callerName', placeholder: 'Console caller', size: 14 });
  const ringAnswer = h('div', { class: 'answer' });
  const form = h('form', { onsubmit: action(async () => {
    if (!to.value) throw new Error('Nobody to ring: a user needs an ACS identity (their first POST /api/token)');
    const r = await api('ring', { to: to.value, from: from.value, callerName: callerName.value.trim() });
    const n = deviceCount.get(to.value) || 0;
    toast(`IncomingCall delivered to ${to.value}` + (n ? `: watch ${n === 1 ? 'their device' : 'their ' + n + ' devices'} ring under Pushes` : ': they have no devices, so nothing is pushed (register one above)'), false);
    ringAnswer.replaceChildren(json('ring-answer', `IncomingCall delivered to ${to.value}: the event Event Grid sent`, r));
  }) },
  field('callee', to), field('caller', from), field('caller display name', callerName),
  h('button', { class: 'btn primary', type: 'submit', testid: 'ring' }, 'Deliver IncomingCall'));

  const regAs = h('select', { name: 'as', testid: 'register-as' });
  const regID = h('input', { name: 'deviceId', value: 'test-phone', size: 12, testid: 'register-id' });
  const regProvider = h('select', { name: 'provider', testid: 'register-provider' },
    options([['fcm', 'fcm (Android)'], ['apns', 'apns (iPhone, VoIP)'], ['webpush', 'webpush (browser)'], ['webhook', 'webhook']], 'fcm'));
  const regAnswer = h('div', { class: 'answer' });
  const register = h('form', { onsubmit: action(async () => {
    if (!regAs.value) throw new Error('No users with an ACS identity yet: mint a token on the Users tab, then POST /api/token with it');
    const r = await api('devices', { as: regAs.value, deviceId: regID.value.trim(), provider: regProvider.value });
    toast(r.status < 300 ? `PUT /api/devices answered ${r.status}` : 'PUT /api/devices answered ' + problemText(r.status, r.body), r.status >= 300);
    regAnswer.replaceChildren(answer('register-answer', r));
    ctx.refresh();
  }) }, field('as user', regAs), field('device id', regID), field('provider', regProvider),
  h('button', { class: 'btn', type: 'submit', testid: 'register' }, 'Register device'));

  const devices = h('div');
  const pushes = h('div', { testid: 'pushes' });
  const seen = new Set();
  let first = true;
  const el = h('section', { class: 'grid' },
    h('div', {},
      h('div', { class: 'panel' }, h('h2', {}, 'Ring a user ', h('span', { class: 'muted' }, 'ACS raises IncomingCall through Event Grid; the handler pushes to their devices')), form, ringAnswer),
      h('div', { class: 'panel' }, h('h2', {}, 'Register a test device ', h('span', { class: 'muted' }, 'PUT /api/devices as that user, its target on the push emulators')), register, regAnswer),
      h('div', { class: 'panel' }, h('h2', {}, 'Devices'), devices)),
    h('div', { class: 'panel' }, h('h2', {}, 'Pushes ', h('span', { class: 'muted' }, 'what each device received, newest first')), pushes));

  return {
    id: 'devices', title: 'Devices & pushes', el,
    load: () => api('devices'),
    render(d) {
      deviceCount = new Map();
      for (const x of d.devices) deviceCount.set(x.userId, (deviceCount.get(x.userId) || 0) + 1);
      const people = d.users.map((u) => [u.userId, `${u.userId}${u.displayName ? ' (' + u.displayName + ')' : ''}`]);
      syncSelect(to, people);
      syncSelect(from, [['', 'the console (8:acs:switchboard-console)'], ...people]);
      syncSelect(regAs, d.users.map((u) => [u.userId, u.userId]));
      devices.replaceChildren(d.devices.length === 0
        ? empty('No devices yet: register one through the API, e.g.',
            h('pre', {}, `curl -s -X PUT ${fa}/api/devices/my-phone -H "Authorization: Bearer $TOKEN" \\\n  -H 'Content-Type: application/json' -d '{"provider":"fcm","handle":"my-fcm-registration-token"}'`),
            'Mint $TOKEN on the Users tab. Providers: apns (add "voip":true), fcm, webpush, webhook. Or register a test device below.')
        : table(['user', 'device', 'pushes'], d.devices.map((x) => h('tr', { testid: 'device-' + x.deviceId },
            h('td', {}, h('strong', {}, x.userId), h('div', { class: 'muted' }, x.displayName || '')),
            h('td', {}, h('code', {}, x.deviceId), ' ', badge(x.provider, 'info'), x.voip ? badge('voip') : null,
              h('div', { class: 'muted mono', title: x.target }, short(x.target, 34)),
              h('div', { class: 'muted' }, x.expiresAt ? 'expires ' + new Date(x.expiresAt).toLocaleDateString() : ''),
              json('device:' + x.acsUserId + x.deviceId, 'row', x.row)),
            h('td', {}, String(x.pushes))))));
      pushes.replaceChildren(d.pushes.length === 0
        ? empty('No pushes yet. Register a device, then ring its user (left), invite them to a call, or text them in a chat.')
        : h('div', {}, d.pushes.map((p, i) => {
            const key = p.at + p.device;
            const fresh = !first && !seen.has(key);
            seen.add(key);
            return h('div', { class: 'push' + (fresh ? ' fresh' : ''), testid: 'push' },
              h('div', { class: 'row' }, h('strong', {}, p.kind || 'push'), badge(p.provider, 'info'),
                h('span', {}, 'to ', h('strong', {}, p.userId || '?'), ' ', h('code', {}, p.deviceId || short(p.device, 20))),
                h('span', { class: 'muted' }, time(p.at))),
              h('pre', { testid: 'push-body' }, pretty(p.body)),
              p.headers ? fold('push-h:' + key, 'headers', h('pre', {}, pretty(p.headers))) : null);
          })));
      first = false;
    },
  };
}
