// Events: every Event Grid delivery and HTTP invocation (ACS callbacks, API
// calls) the host stand-in passed to the handler, with the answer and timing.
import { h, api, badge, json, empty, table, time } from './ui.js';

const MAX = 500;
const filters = [
  ['all', 'All'],
  ['eventgrid', 'Event Grid'],
  ['callbacks', 'ACS callbacks'],
  ['api', 'API calls'],
];
const callbackFunctions = new Set(['callbacks', 'botcallbacks']);

function group(e) {
  if (e.kind === 'eventgrid') return 'eventgrid';
  if (callbackFunctions.has(e.function)) return 'callbacks';
  return 'api';
}

export function eventsTab(ctx) {
  let entries = [];
  let since = 0;
  let filter = 'all';
  const buttons = filters.map(([id, label]) => h('button', { class: 'btn small', 'aria-pressed': String(id === filter), testid: 'filter-' + id,
    onclick: () => { filter = id; buttons.forEach((b, i) => b.setAttribute('aria-pressed', String(filters[i][0] === id))); draw(); } }, label));
  const list = h('div', { testid: 'journal' });
  const el = h('section', {}, h('div', { class: 'panel' },
    h('h2', {}, 'Deliveries and invocations ', h('span', { class: 'muted' }, 'what reached the handler through the Functions host stand-in, newest first')),
    h('div', { class: 'filters' }, buttons,
      h('button', { class: 'btn small', style: 'margin-left:auto', onclick: () => { entries = []; draw(); } }, 'Clear view')),
    list));

  function draw() {
    const shown = entries.filter((e) => filter === 'all' || group(e) === filter);
    if (!ctx.overview.journal) {
      list.replaceChildren(empty('The host keeps no journal in this stack (stack.Options.Journal is off).'));
      return;
    }
    list.replaceChildren(shown.length === 0
      ? empty('Nothing yet. Ring a user (Devices & pushes), play a call event (Calls) or call the API, and every request shows here.')
      : table(['time', 'what', 'request', 'status', 'ms', ''], shown.map((e) => h('tr', { testid: 'journal-' + group(e) },
          h('td', { class: 'nowrap' }, time(e.at)),
          h('td', {}, badge(group(e) === 'eventgrid' ? 'Event Grid' : group(e) === 'callbacks' ? 'callback' : 'HTTP', group(e) === 'api' ? '' : 'info'), e.function ? h('code', {}, e.function) : null),
          h('td', {}, h('code', { class: 'path', title: e.path }, e.method + ' ' + e.path.replace(/([?&]sig=)[^&]+/, '$1…')), e.eventTypes ? h('div', { testid: 'event-types' }, e.eventTypes.map((t) => badge(t.replace('Microsoft.Communication.', ''), 'info'))) : null),
          h('td', { class: 'status-' + String(e.status)[0], testid: 'journal-status' }, String(e.status)),
          h('td', {}, e.durationMs.toFixed(1)),
          h('td', {}, e.request ? json('jreq:' + e.seq, 'request', e.request) : null, e.answer ? json('jans:' + e.seq, 'answer', e.answer) : null,
            e.truncated ? h('div', { class: 'muted' }, 'bodies cut at 8 KiB') : null)))));
  }

  return {
    id: 'events', title: 'Events', el,
    async load() {
      let view = await api('events?since=' + since);
      if (view.latest < since) { // the stack restarted: its journal starts again
        entries = [];
        since = 0;
        view = await api('events?since=0');
      }
      if (view.entries.length) {
        since = view.entries[0].seq;
        entries = view.entries.concat(entries).slice(0, MAX);
      }
      return { n: entries.length, since, filter };
    },
    render: draw,
  };
}
