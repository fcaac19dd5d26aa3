// Calls: every call with its kind, state and live roster; play the ACS
// events Event Grid would deliver about it.
import { h, api, badge, stateBadge, json, empty, table, field, action, toast, time, short, options, answer, problemText } from './ui.js';
import { syncSelect } from './devices.js';

export function callsTab(ctx) {
  const fa = ctx.overview.functionApp;
  const as = h('select', { name: 'as', testid: 'call-as' });
  const kind = h('select', { name: 'kind', testid: 'call-kind' }, options([['group', 'group'], ['room', 'room']], 'group'));
  const invitees = h('input', { name: 'invitees', placeholder: 'bob, carol', title: 'app user ids: mutual contacts, or members of the call\'s space', size: 22, testid: 'call-invitees' });
  const subject = h('input', { name: 'subject', placeholder: 'Stand-up', size: 12 });
  const out = h('div', { class: 'answer' });
  const form = h('form', { onsubmit: action(async () => {
    if (!as.value) throw new Error('No users yet: mint a token and get an ACS token first (Users tab)');
    const r = await api('calls', { as: as.value, kind: kind.value, subject: subject.value.trim(),
      invitees: invitees.value.split(/[\s,]+/).filter(Boolean) });
    toast(r.status < 300 ? `POST /api/calls answered ${r.status}` : 'POST /api/calls answered ' + problemText(r.status, r.body), r.status >= 300);
    out.replaceChildren(answer('create-answer', r));
    ctx.refresh();
  }) }, field('as user', as), field('kind', kind), field('invitees', invitees), field('subject', subject),
  h('button', { class: 'btn primary', type: 'submit', testid: 'create-call' }, 'Create call'));

  const list = h('div', { testid: 'calls' });
  const el = h('section', {},
    h('div', { class: 'panel' }, h('h2', {}, 'New call ', h('span', { class: 'muted' }, 'POST /api/calls as that user, with a token the console mints')), form, out),
    h('div', { class: 'panel' }, h('h2', {}, 'Calls ', h('span', { class: 'muted' }, 'newest first; the roster is what the handler made of the events')), list));

  function play(call, type, who) {
    return action(async () => {
      const r = await api(`calls/${encodeURIComponent(call.id)}/events`, { type, participant: who?.rawId || '', displayName: who?.displayName || who?.userId || '' });
      if (!r.delivered) throw new Error('the host answered: ' + r.error);
      toast(`${type}${who ? ' ' + (who.userId || who.rawId) : ''} delivered`);
      ctx.refresh();
    });
  }

  function card(c) {
    const custom = h('input', { placeholder: '8:acs:… or 4:+1425…', size: 20 });
    const roster = c.participants.length === 0
      ? h('div', { class: 'muted' }, 'Nobody has joined yet.')
      : table(['participant', 'state', 'since', 'event'], c.participants.map((p) => h('tr', { testid: 'roster-row' },
          h('td', {}, h('strong', {}, p.userId || p.displayName || ''), ' ', h('code', { class: 'muted', title: p.rawId }, short(p.rawId, 24))),
          h('td', {}, stateBadge(p.state)), h('td', { class: 'nowrap' }, time(p.at)), h('td', { class: 'muted' }, p.event || ''))));
    return h('div', { class: 'card', testid: 'call-' + c.id },
      h('div', { class: 'head' }, h('span', { class: 'title' }, c.subject || '(no subject)'), badge(c.kind, 'info'), h('span', { testid: 'call-state' }, stateBadge(c.state)),
        h('code', { class: 'muted' }, c.id), h('span', { class: 'muted' }, 'by ' + c.creator + ' at ' + time(c.createdAt))),
      h('div', { class: 'muted' }, 'invited: ', c.invitees.length ? c.invitees.map((i) => i.userId).join(', ') : c.guests.length ? null : 'nobody',
        c.guests.length ? h('span', { testid: 'guests' }, c.invitees.length ? ' · ' : '', 'by SMS: ', c.guests.map((g, i) => [i ? ', ' : '',
          h('strong', {}, g.displayName || g.phone), ' ', h('code', {}, g.phone), ' ', stateBadge(g.sms || 'queued'),
          g.acsUserId ? badge('code redeemed', 'ok') : null, g.smsReason ? ' ' + g.smsReason : ''])) : null,
        c.groupCallId ? [' · group ', h('code', {}, c.groupCallId)] : null, c.roomId ? [' · room ', h('code', {}, c.roomId)] : null),
      h('div', { testid: 'roster' }, roster),
      c.playable ? h('div', { class: 'stack', style: 'margin-top:8px' },
        h('div', { class: 'row' }, h('span', { class: 'muted' }, 'ACS reports:'),
          h('button', { class: 'btn small', testid: 'ev-started', onclick: play(c, 'CallStarted') }, 'CallStarted'),
          h('button', { class: 'btn small danger', testid: 'ev-ended', onclick: play(c, 'CallEnded') }, 'CallEnded')),
        c.people.map((p) => h('div', { class: 'row' },
          h('span', { style: 'min-width:140px' }, h('strong', {}, p.userId || p.displayName || p.rawId)),
          h('button', { class: 'btn small', testid: 'join-' + (p.userId || p.rawId), onclick: play(c, 'CallParticipantAdded', p) }, 'joins'),
          h('button', { class: 'btn small', testid: 'leave-' + (p.userId || p.rawId), onclick: play(c, 'CallParticipantRemoved', p) }, 'leaves'))),
        h('div', { class: 'row' }, h('span', { class: 'muted', style: 'min-width:140px' }, 'anyone else (raw id)'), custom,
          h('button', { class: 'btn small', onclick: (e) => play(c, 'CallParticipantAdded', { rawId: custom.value.trim() })(e) }, 'joins'),
          h('button', { class: 'btn small', onclick: (e) => play(c, 'CallParticipantRemoved', { rawId: custom.value.trim() })(e) }, 'leaves')))
        : c.kind === 'teams' && c.row.teamsJoinUrl
          ? h('div', { class: 'muted', testid: 'teams-meeting' }, 'A Teams meeting (Graph emulator): ',
              h('a', { href: c.row.teamsJoinUrl, target: '_blank', rel: 'noreferrer' }, 'join link'),
              c.row.teamsJoinMeetingId ? [' · meeting id ', h('code', {}, c.row.teamsJoinMeetingId)] : null,
              c.row.teamsPasscode ? [' · passcode ', h('code', {}, c.row.teamsPasscode)] : null,
              c.row.startsAt ? ` · ${time(c.row.startsAt).slice(0, 5)}–${time(c.row.endsAt).slice(0, 5)}` : null,
              '. It has no ACS group or room id: no ACS call events to play.')
          : h('div', { class: 'muted' }, `A ${c.kind} call has no ACS group or room id: no call events to play.`),
      json('call:' + c.id, 'row', c.row));
  }

  return {
    id: 'calls', title: 'Calls', el,
    load: () => api('calls'),
    render(d) {
      syncSelect(as, d.users.filter((u) => u.acsUserId).map((u) => [u.userId, u.userId]));
      list.replaceChildren(d.calls.length === 0
        ? empty('No calls yet: create one above, or', h('pre', {}, `curl -s -X POST ${fa}/api/calls -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"kind":"group","invitees":["bob"]}'`))
        : h('div', {}, d.calls.map(card)));
    },
  };
}
