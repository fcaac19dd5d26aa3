// Users: app users with their ACS ids, contacts and spaces; a token for anyone.
import { h, api, badge, stateBadge, json, empty, table, field, action, copy, options, short, time, toast, answer, problemText } from './ui.js';

export function usersTab(ctx) {
  const fa = ctx.overview.functionApp;
  const userId = h('input', { name: 'userId', placeholder: 'dave', required: true, testid: 'mint-user', size: 14 });
  const name = h('input', { name: 'name', placeholder: 'Dave Example', size: 16 });
  const role = h('select', { name: 'role' }, options([['', 'no role'], ['Switchboard.Dial', 'Switchboard.Dial (dial phones)'], ['Switchboard.Service', 'Switchboard.Service (a back end)']], ''));
  const result = h('div', { class: 'stack', testid: 'token-result' });

  // known: the users the last render listed, by id (the ones with a row).
  let known = new Map();
  async function mint(id, displayName, r = '') {
    const t = await api('token', { userId: id, name: displayName || '', role: r });
    const curl = t.curl;
    const acsOut = h('div', { class: 'answer' });
    const listed = known.get(id)?.acsUserId;
    // h() drops a null child; replaceChildren would show it as text.
    result.replaceChildren(h('div', { class: 'stack' },
      h('div', {}, h('strong', {}, 'Bearer token for ', h('code', {}, id)), ' ', h('span', { class: 'muted' }, 'valid until ' + time(t.expiresAt).slice(0, 8))),
      h('div', { class: 'token', testid: 'token-value' }, t.token),
      h('div', { class: 'row' },
        h('button', { class: 'btn small', onclick: () => copy(t.token, 'Token copied') }, 'Copy token'),
        h('button', { class: 'btn small', testid: 'copy-curl', onclick: () => copy(curl, 'curl command copied') }, 'Copy as curl'),
        h('button', { class: 'btn small', testid: 'copy-token-curl', onclick: () => copy(t.tokenCurl, 'curl command copied') }, 'Copy curl for POST /api/token'),
        h('button', { class: 'btn small', onclick: () => copy(t.export, 'export line copied') }, 'Copy export TOKEN=…')),
      h('pre', { class: 'token', testid: 'token-curl' }, curl),
      listed ? null : h('div', { class: 'note', testid: 'no-identity' },
        h('strong', {}, id), ' has no ACS identity yet, so is not under App users: their app\'s first ',
        h('code', {}, 'POST /api/token'), ' creates it (the curl above answers ', h('code', {}, '"acsUserId":""'), ' until then). ',
        h('button', { class: 'btn small', testid: 'get-acs-token', onclick: action(async () => {
          const a = await api('acstoken', { userId: id, name: displayName || '', role: r });
          toast(a.status < 300 ? `POST /api/token as ${id} answered ${a.status}` : 'POST /api/token answered ' + problemText(a.status, a.body), a.status >= 300);
          acsOut.replaceChildren(answer('acs-answer:' + id, a));
          ctx.refresh();
        }) }, 'POST /api/token as ' + id + ' now'), acsOut),
    ));
    return t;
  }

  const form = h('form', { onsubmit: action(() => mint(userId.value.trim(), name.value.trim(), role.value)) },
    field('user id (sub)', userId), field('display name', name), field('role', role),
    h('button', { class: 'btn primary', type: 'submit', testid: 'mint' }, 'Mint token'));

  const users = h('div');
  const spaces = h('div');
  const chats = h('div', { testid: 'chats' });
  // Users first under the token form when the window is narrow: spaces after them.
  const el = h('section', { class: 'grid' },
    h('div', {},
      h('div', { class: 'panel' }, h('h2', {}, 'Mint a bearer token ', h('span', { class: 'muted' }, 'as the OIDC issuer would, for any user id')), form, h('div', { class: 'answer' }, result))),
    h('div', {},
      h('div', { class: 'panel' }, h('h2', {}, 'App users ', h('span', { class: 'muted' }, 'from Azurite: users, contacts, blocks, spaces, devices')), users),
      h('div', { class: 'panel' }, h('h2', {}, 'Spaces'), spaces),
      h('div', { class: 'panel' }, h('h2', {}, 'Chat threads ', h('span', { class: 'muted' }, 'in the ACS emulator, with the messages ACS told their recipients of')), chats)));

  return {
    id: 'users', title: 'Users', el,
    load: () => api('users'),
    render(d) {
      known = new Map(d.users.map((u) => [u.userId, u]));
      users.replaceChildren(d.users.length === 0
        ? empty('No users yet. A user appears with their first ACS token: mint a bearer token on the left, then',
            h('pre', {}, `curl -s -X POST ${fa}/api/token -H "Authorization: Bearer $TOKEN"`))
        : table(['user', 'ACS id', 'contacts', 'spaces', 'devices', ''], d.users.map((u) => h('tr', { testid: 'user-' + u.userId },
            h('td', {}, h('strong', {}, u.userId), h('div', { class: 'muted' }, u.displayName || ''), u.state !== 'active' ? stateBadge(u.state) : null),
            h('td', {}, h('code', { title: u.acsUserId }, short(u.acsUserId, 26)), json('profile:' + u.userId, 'row', u.profile)),
            h('td', {}, u.contacts.length ? u.contacts.map((c) => h('div', {}, c.userId, ' ', stateBadge(c.state))) : h('span', { class: 'muted' }, 'none'),
              u.blocks.map((b) => h('div', {}, b, ' ', badge('blocked', 'bad')))),
            h('td', {}, u.spaces.length ? u.spaces.map((s) => h('div', {}, s.name || s.spaceId, ' ', badge(s.role), stateBadge(s.state))) : h('span', { class: 'muted' }, 'none')),
            h('td', {}, String(u.devices)),
            h('td', {}, h('button', { class: 'btn small', testid: 'mint-for-' + u.userId, onclick: action(async () => {
              const t = await mint(u.userId, u.displayName);
              await copy(t.curl, 'curl command for ' + u.userId + ' copied');
            }) }, 'Mint token'))))));
      const who = (p) => p.userId || p.displayName || short(p.rawId, 24);
      chats.replaceChildren(d.chats.length === 0
        ? empty('No chat threads yet: every space gets one (its chatThreadId). Members send with their ACS chat token:',
            h('pre', {}, `curl -s -X POST ${fa}/api/token -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"scopes":["voip","chat"]}'`),
            'Each message shows here, and the members it reached get a chatMessage push.')
        : h('div', {}, d.chats.map((t) => h('div', { class: 'card', testid: 'chat-' + t.id },
            h('div', { class: 'head' }, h('span', { class: 'title' }, t.topic || '(no topic)'), h('code', { class: 'muted', title: t.id }, short(t.id, 28)),
              h('span', { class: 'muted' }, t.participants.map(who).join(', '))),
            t.messages.length === 0
              ? h('div', { class: 'muted' }, t.count ? `${t.count} message(s), none delivered to anyone else` : 'No messages yet.')
              : h('div', { class: 'bubbles' }, t.messages.map((m) => h('div', { class: 'bubble out', testid: 'chat-message' },
                  m.body, h('span', { class: 'meta' }, who(m.sender) + ' · ' + time(m.at)))))))));
      spaces.replaceChildren(d.spaces.length === 0
        ? empty('No spaces yet: ', h('pre', {}, `curl -s -X POST ${fa}/api/spaces -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"name":"Design team"}'`))
        : h('div', {}, d.spaces.map((s) => h('div', { class: 'card' },
            h('div', { class: 'head' }, h('span', { class: 'title' }, s.name), h('code', { class: 'muted' }, s.id), s.groupCallId ? badge('call set', 'info') : null),
            h('div', {}, s.members.map((m) => h('div', {}, m.userId, ' ', badge(m.role), stateBadge(m.state)))),
            json('space:' + s.id, 'row', s.row)))));
    },
  };
}
