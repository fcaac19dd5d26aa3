// Phone: a phone dials a bot's number and presses keys; texts the app sent
// to guests, and a box to text back. Each part shows when its capability is on.
import { h, api, badge, stateBadge, json, empty, table, field, action, toast, time, short } from './ui.js';
import { syncSelect } from './devices.js';

export function phoneTab(ctx) {
  const caps = ctx.overview.capabilities;
  const fa = ctx.overview.functionApp;
  const from = h('input', { name: 'from', value: '+14255550142', size: 14, testid: 'pstn-from' });
  const to = h('select', { name: 'to', testid: 'pstn-to' });
  const dial = h('form', { onsubmit: action(async () => {
    if (!to.value) throw new Error('No bot has a phone number yet');
    await api('phone/call', { from: from.value.trim(), to: to.value });
    toast(`${from.value} dials ${to.value}: IncomingCall delivered`);
    ctx.refresh();
  }) }, field('caller (a phone)', from), field("the app's number", to),
  h('button', { class: 'btn primary', type: 'submit', testid: 'pstn-call' }, 'Place call'));

  const bots = h('div');
  const conns = h('div', { testid: 'connections' });
  const texts = h('div', { testid: 'conversations' });
  const left = h('div');
  if (caps.bots) {
    left.append(h('div', { class: 'panel' }, h('h2', {}, 'Call a bot ', h('span', { class: 'muted' }, 'a PSTN call to a number of the ACS resource')), dial),
      h('div', { class: 'panel' }, h('h2', {}, 'Bots'), bots),
      h('div', { class: 'panel' }, h('h2', {}, 'Calls in the ACS emulator ', h('span', { class: 'muted' }, 'Call Automation connections, newest first')), conns));
  }
  const right = h('div');
  if (caps.sms) {
    right.append(h('div', { class: 'panel' }, h('h2', {}, 'Texts ', h('span', { class: 'muted' }, `SMS between ${ctx.overview.smsFrom} and guests`)), texts));
  }
  const el = h('section', { class: 'grid' }, left, right);

  function keypad(c) {
    const press = (k) => action(async () => {
      await api(`phone/connections/${encodeURIComponent(c.ID)}/keys`, { keys: k });
      toast(`pressed ${k}`);
      ctx.refresh();
    });
    return h('div', { class: 'row' },
      h('div', { class: 'keypad' }, '123456789*0#'.split('').map((k) => h('button', { class: 'btn', testid: 'key-' + k, onclick: press(k) }, k))),
      h('div', { class: 'stack' },
        h('button', { class: 'btn small', onclick: action(async () => { await api(`phone/connections/${encodeURIComponent(c.ID)}/silence`, {}); ctx.refresh(); }) }, 'Stay silent'),
        h('button', { class: 'btn small danger', onclick: action(async () => { await api(`phone/connections/${encodeURIComponent(c.ID)}/hangup`, {}); ctx.refresh(); }) }, 'Hang up')));
  }

  function connection(c) {
    const prompts = (c.Media || []).flatMap((m) => m.Sources || []);
    const who = (id) => c.Names?.[id] || id.replace(/^4:/, '');
    const live = c.State !== 'disconnected';
    // A bot's own call (connect to a group call or room): the callback URI names the bot.
    const bot = (c.CallbackURI || '').match(/\/api\/botcallbacks\/([^/?]+)/)?.[1];
    const title = c.Locator
      ? [bot ? 'bot ' + decodeURIComponent(bot) : who(c.Source), ' joins ', c.Locator.replace(/^groupCall:/, 'group call ').replace(/^roomCall:/, 'room call ').replace(/^serverCall:/, 'call ')]
      : [who(c.Source), ' → ', (c.Targets || []).map(who).join(', ') || 'the app'];
    const others = (c.Participants || []).filter((p) => p !== c.Source && !(c.Targets || []).includes(p));
    return h('div', { class: 'card', testid: 'connection' },
      h('div', { class: 'head' }, h('span', { class: 'title', title: c.Source }, title),
        h('span', { testid: 'connection-state' }, stateBadge(c.State)), c.Recognizing ? badge('waiting for keys', 'warn') : null,
        h('code', { class: 'muted' }, short(c.ID, 20))),
      others.length ? h('div', {}, h('span', { class: 'muted' }, 'also on the call: '), others.map((p, i) => [i ? ', ' : '', h('strong', { title: p }, who(p))])) : null,
      prompts.length ? h('div', {}, h('span', { class: 'muted' }, 'played: '), prompts.map((p) => h('div', { class: 'mono' }, p.replace(/^text:/, 'says: ').replace(/^file:/, 'plays: ')))) : null,
      (c.Keys || []).length ? h('div', { testid: 'keys' }, h('span', { class: 'muted' }, 'pressed: '), c.Keys.map((k) => h('kbd', {}, k))) : null,
      (c.Transfers || []).length ? h('div', { testid: 'transfers' }, h('span', { class: 'muted' }, 'transferred to: '), c.Transfers.map((t) => h('strong', { title: t }, who(t), ' '))) : null,
      live && c.Recognizing ? keypad(c) : null,
      live && !c.Recognizing ? h('button', { class: 'btn small danger', onclick: action(async () => { await api(`phone/connections/${encodeURIComponent(c.ID)}/hangup`, {}); ctx.refresh(); }) }, 'Hang up') : null,
      json('cb:' + c.ID, `callbacks (${(c.Callbacks || []).length})`, (c.Callbacks || []).map((d) => ({ type: d.EventType, status: d.Status, at: d.At, err: d.Err || undefined }))),
      json('conn:' + c.ID, 'state', { ...c, Callbacks: undefined }));
  }

  function conversation(cv) {
    const box = h('input', { placeholder: 'Running late, 5 minutes', size: 30, testid: 'reply-' + cv.phone });
    return h('div', { class: 'card', testid: 'conversation-' + cv.phone },
      h('div', { class: 'head' }, h('span', { class: 'title' }, cv.phone), h('span', { class: 'muted' }, 'with ' + cv.appPhone)),
      h('div', { class: 'bubbles' }, cv.texts.map((t) => h('div', { class: 'bubble ' + t.direction, testid: 'text-' + t.direction },
        t.message, h('span', { class: 'meta' }, (t.direction === 'in' ? 'guest → app' : 'app → guest') + ' · ' + time(t.at) + (t.error ? ' · ' + t.error : ''))))),
      h('form', { onsubmit: action(async () => {
        if (!box.value.trim()) return;
        await api('phone/sms', { from: cv.phone, to: cv.appPhone, message: box.value });
        box.value = '';
        toast('SMSReceived delivered');
        ctx.refresh();
      }) }, box, h('button', { class: 'btn primary', type: 'submit', testid: 'send-' + cv.phone }, 'Text back')));
  }

  return {
    id: 'phone', title: 'Phone', el,
    load: () => api('phone'),
    render(d) {
      const numbers = d.bots.flatMap((b) => b.phoneNumbers.map((n) => [n, `${n} (${b.displayName || b.id})`]));
      syncSelect(to, numbers);
      bots.replaceChildren(d.bots.length === 0
        ? empty('No bots yet: a service sets one up, e.g.', h('pre', {}, `curl -s -X PUT ${fa}/api/bots/reception -H "Authorization: Bearer $SERVICE_TOKEN" \\\n  -H 'Content-Type: application/json' -d '{"displayName":"Reception","greeting":{"text":"Press 1 for Alice"},"menu":{"1":{"transfer":{"userId":"alice"}}},"phoneNumbers":["+14255550199"]}'`),
            'Mint $SERVICE_TOKEN on the Users tab with the role Switchboard.Service.')
        : table(['bot', 'numbers', 'state'], d.bots.map((b) => h('tr', {},
            h('td', {}, h('strong', {}, b.displayName || b.id), h('div', { class: 'muted' }, h('code', {}, b.id)), json('bot:' + b.id, 'config', b.config)),
            h('td', {}, b.phoneNumbers.map((n) => h('div', { class: 'mono' }, n))), h('td', {}, stateBadge(b.state))))));
      conns.replaceChildren(d.connections.length === 0 ? empty('No calls yet: place one above.') : h('div', {}, d.connections.map(connection)));
      texts.replaceChildren(d.conversations.length === 0
        ? empty('No texts yet. The app texts a guest when a call invites a phone number:', h('pre', {}, `curl -s -X POST ${fa}/api/calls/$CALL_ID/guests -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"phoneNumber":"+14255550123","displayName":"Dana"}'`))
        : h('div', {}, d.conversations.map(conversation)));
    },
  };
}
