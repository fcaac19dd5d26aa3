// The console in a real browser: Debian's chromium driven by playwright-core,
// one test per tab's main action. console_test.go starts the stack and the
// console and runs this with CONSOLE_URL and FUNCTION_APP_URL set (and
// SCREENSHOTS_DIR to save a screenshot of each tab).
import { chromium } from 'playwright-core';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CONSOLE = process.env.CONSOLE_URL;
const FA = process.env.FUNCTION_APP_URL;
const SHOTS = process.env.SCREENSHOTS_DIR || '';
const WAIT = 20_000; // the longest any condition may take to hold

if (!CONSOLE || !FA) {
  console.error('CONSOLE_URL and FUNCTION_APP_URL must be set (run go test ./dev/console/)');
  process.exit(2);
}

async function consoleApi(path, body) {
  const resp = await fetch(CONSOLE + 'console/api/' + path, body === undefined ? {} :
    { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const data = await resp.json();
  if (!resp.ok) throw new Error(`console ${path}: ${resp.status} ${JSON.stringify(data)}`);
  return data;
}

// app calls the function app as a client would.
async function app(method, path, token, body, want) {
  const resp = await fetch(FA + path, {
    method, headers: { Authorization: 'Bearer ' + token, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await resp.text();
  if (want && resp.status !== want) throw new Error(`${method} ${path}: ${resp.status}, want ${want}: ${text}`);
  return text ? JSON.parse(text) : null;
}

const token = async (userId, name = '', role = '') => (await consoleApi('token', { userId, name, role })).token;

// curlRequest reads the URL and headers of a copied curl line (as a shell would split it).
function curlRequest(line) {
  const url = line.match(/curl -s (?:-X \S+ )?(\S+)/)[1];
  const headers = {};
  for (const [, k, v] of line.matchAll(/-H '([^:]+): ([^']*)'/g)) headers[k] = v;
  return { url, headers };
}

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

// Names are plain on a fresh stack (the screenshots show them), with a
// suffix when an earlier run on the same stack took them (go test -count=N).
const taken = (await consoleApi('users')).users.some((u) => u.userId === 'ada');
const sfx = taken ? '-' + Date.now().toString(36) : '';
const digits = taken ? String(Date.now() % 10000).padStart(4, '0') : '';
const ADA = 'ada' + sfx, BEN = 'ben' + sfx, BOT = 'front-desk' + sfx, SUBJECT = 'Console test' + sfx;
const PHONE = 'ada-phone' + sfx, HOOK = 'ada-hook' + sfx;
const BOT_NUMBER = taken ? '+1425556' + digits : '+14255550177';
const GUEST = taken ? '+1425555' + digits : '+14255550166';

const userDataDir = mkdtempSync(join(tmpdir(), 'switchboard-console-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-quic'],
  viewport: { width: 1400, height: 900 },
});
context.setDefaultTimeout(WAIT);
const page = context.pages()[0] || await context.newPage();
const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push(e.message));
page.on('console', (m) => { if (m.type() === 'error') pageErrors.push('console: ' + m.text()); });

async function open(tab) {
  await page.goto(CONSOLE + '#' + tab);
  await page.getByTestId('tab-' + tab).and(page.locator('[aria-selected="true"]')).waitFor();
}

async function shot(name) {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await page.evaluate(() => { window.scrollTo(0, 0); document.getElementById('toast').replaceChildren(); });
  await page.screenshot({ path: join(SHOTS, name + '.png') });
}

let ada = '';
const tests = [
  ['Users: mint a bearer token for any user id with one click, copy it as curl', async () => {
    await open('users');
    await page.getByTestId('mint-user').fill(ADA);
    await page.locator('input[name="name"]').fill('Ada Lovelace');
    await page.getByTestId('mint').click();
    const value = page.getByTestId('token-value');
    await value.waitFor();
    ada = (await value.textContent()).trim();
    check(ada.split('.').length === 3, 'the token is not a JWT: ' + ada);
    const curl = await page.getByTestId('token-curl').textContent();
    check(curl.includes(`${FA}/api/me`) && curl.includes('Bearer ' + ada), 'the curl command does not carry the token: ' + curl);
    // The curl runs as copied (a shell would do the same request): the handler accepts the token.
    const me = curlRequest(curl);
    const meAnswer = await fetch(me.url, { headers: me.headers });
    check(meAnswer.status === 200, `the copied curl answered ${meAnswer.status}: ${await meAnswer.text()}`);
    // Ada has no ACS identity yet: the page says why she is not listed, and
    // one click does her app's first POST /api/token, which creates it.
    await page.getByTestId('no-identity').waitFor();
    await page.getByTestId('get-acs-token').click();
    await page.getByTestId('token-result').locator('details').filter({ hasText: 'POST /api/token → 200' }).waitFor();
    const row = page.getByTestId('user-' + ADA);
    await row.filter({ hasText: '8:acs:' }).waitFor();
    // Her token is one the handler accepts as hers.
    const again = await app('POST', '/api/token', ada, null, 200);
    check(again.acsUserId.startsWith('8:acs:'), 'no ACS id: ' + JSON.stringify(again));
    // One click on a user's row mints a token for them.
    await page.getByTestId('mint-for-' + ADA).click();
    await page.getByTestId('token-value').filter({ hasNotText: ada }).waitFor();
  }],

  ['Devices and pushes: a device registered through the API gets the push of an IncomingCall delivered from the console', async () => {
    await app('PUT', '/api/devices/' + PHONE, ada, { provider: 'fcm', handle: 'ada-fcm-registration' + sfx }, 201);
    await open('devices');
    await page.getByTestId('device-' + PHONE).waitFor();
    // A second device registered from the console: a webhook on the push emulators.
    await page.getByTestId('register-as').selectOption(ADA);
    await page.getByTestId('register-id').fill(HOOK);
    await page.getByTestId('register-provider').selectOption('webhook');
    await page.getByTestId('register').click();
    await page.getByTestId('device-' + HOOK).waitFor();
    await page.getByTestId('ring-to').selectOption(ADA);
    await page.getByTestId('ring').click();
    for (const device of [PHONE, HOOK]) {
      const push = page.getByTestId('push').filter({ hasText: device }).filter({ hasText: 'incomingCall' });
      await push.first().waitFor();
      const body = await push.first().getByTestId('push-body').textContent();
      check(body.includes('switchboard-console'), `the push to ${device} does not name the console as the caller: ` + body);
    }
    await shot('devices');
  }],

  ['Calls: create a call, play ACS events, watch the roster change', async () => {
    const ben = await token(BEN, 'Ben Example');
    await app('POST', '/api/token', ben, null, 200);
    await app('PUT', '/api/contacts/' + BEN, ada, null, 200);
    await app('PUT', '/api/contacts/' + ADA, ben, null, 200);
    await open('calls');
    await page.getByTestId('call-as').selectOption(ADA);
    await page.getByTestId('call-invitees').fill(BEN);
    await page.locator('input[name="subject"]').fill(SUBJECT);
    await page.getByTestId('create-call').click();
    const card = page.locator('.card').filter({ hasText: SUBJECT });
    await card.waitFor();
    const rows = card.getByTestId('roster-row');
    await card.getByTestId('ev-started').click();
    await card.getByTestId('call-state').filter({ hasText: 'active' }).waitFor();
    await card.getByTestId('join-' + ADA).click();
    await rows.filter({ hasText: ADA }).filter({ hasText: 'joined' }).waitFor();
    await card.getByTestId('join-' + BEN).click();
    await rows.filter({ hasText: BEN }).filter({ hasText: 'joined' }).waitFor();
    check(await rows.count() === 2, 'two joined, the roster has ' + await rows.count());
    await shot('calls');
    await card.getByTestId('leave-' + ADA).click();
    await rows.filter({ hasText: ADA }).filter({ hasText: 'left' }).waitFor();
    await card.getByTestId('ev-ended').click();
    await card.getByTestId('call-state').filter({ hasText: 'ended' }).waitFor();
    // A call the handler refuses: its problem reads as a line, the body folded under it.
    await page.getByTestId('call-as').selectOption(BEN);
    await page.getByTestId('call-invitees').fill('nobody-known' + sfx);
    await page.getByTestId('create-call').click();
    await page.getByTestId('problem').filter({ hasText: '400 invitees-not-reachable' }).waitFor();
    // A Teams meeting has no ACS events to play: its card gives the meeting's join link instead.
    const teams = await app('POST', '/api/calls', ada, { kind: 'teams', invitees: [BEN], subject: 'Teams' + sfx }, 201);
    await page.getByTestId('call-' + teams.id).getByTestId('teams-meeting').locator('a').waitFor();
  }],

  ['Phone: a PSTN call to the bot number, a key pressed, the call transferred', async () => {
    const svc = await token('console-test-backend', '', 'Switchboard.Service');
    await app('PUT', '/api/bots/' + BOT, svc, {
      displayName: 'Front desk', greeting: { text: 'Press 1 for Ada.' }, menu: { 1: { transfer: { userId: ADA } } },
      phoneNumbers: [BOT_NUMBER],
    }, 201);
    await open('phone');
    await page.getByTestId('pstn-to').selectOption(BOT_NUMBER);
    await page.getByTestId('pstn-from').fill('+14255550142');
    await page.getByTestId('pstn-call').click();
    const conn = page.getByTestId('connection').filter({ hasText: BOT_NUMBER }).first();
    await conn.filter({ hasText: 'waiting for keys' }).waitFor();
    await conn.getByTestId('key-1').click();
    await conn.getByTestId('transfers').waitFor();
    await conn.getByTestId('keys').filter({ hasText: '1' }).waitFor();
    // Ada's phone rings: the transfer is an IncomingCall to her.
    await open('devices');
    await page.getByTestId('push').filter({ hasText: PHONE }).nth(1).waitFor();
  }],

  ['Phone: the text sent to an SMS guest, and a reply texted back', async () => {
    const call = await app('POST', '/api/calls', ada, { kind: 'room', subject: 'Guest test' }, 201);
    await app('POST', `/api/calls/${call.id}/guests`, ada, { phoneNumber: GUEST, displayName: 'Gus' }, 201);
    await open('phone');
    const conv = page.getByTestId('conversation-' + GUEST);
    await conv.getByTestId('text-out').filter({ hasText: 'join' }).waitFor();
    await conv.getByTestId('reply-' + GUEST).fill('On my way');
    await conv.getByTestId('send-' + GUEST).click();
    await conv.getByTestId('text-in').filter({ hasText: 'On my way' }).waitFor();
    await shot('phone');
    // The call's card names its SMS guest and the text's state.
    await open('calls');
    await page.getByTestId('call-' + call.id).getByTestId('guests').filter({ hasText: 'Gus' }).filter({ hasText: GUEST }).waitFor();
  }],

  ['Events: every Event Grid delivery and callback, with its answer and timing', async () => {
    await open('events');
    await page.getByTestId('filter-eventgrid').click();
    const eg = page.getByTestId('journal-eventgrid');
    for (const type of ['IncomingCall', 'CallParticipantAdded', 'CallEnded', 'SMSReceived']) {
      await eg.filter({ has: page.getByTestId('event-types').filter({ hasText: type }) }).first().waitFor();
    }
    check(await page.getByTestId('journal-api').count() === 0, 'the Event Grid filter shows API calls');
    const status = await eg.first().getByTestId('journal-status').textContent();
    check(status === '202', 'an Event Grid delivery answered ' + status);
    await page.getByTestId('filter-callbacks').click();
    await page.getByTestId('journal-callbacks').filter({ hasText: 'botcallbacks' }).first().waitFor();
    await page.getByTestId('filter-all').click();
    await shot('events');
    // The Users tab once everyone is there: ada, ben (mutual contacts), the bot's back end.
    await open('users');
    await page.getByTestId('user-' + BEN).filter({ hasText: 'mutual' }).waitFor();
    await page.getByTestId('mint-for-' + BEN).click();
    await page.getByTestId('token-result').filter({ hasText: BEN }).waitFor();
    check(!/\bnull\b|undefined/.test(await page.getByTestId('token-result').innerText()), 'the token panel shows null or undefined');
    // A space's chat thread shows with its members named as app users.
    const ben = await token(BEN, 'Ben Example');
    const space = await app('POST', '/api/spaces', ada, { name: 'Console space' + sfx }, 201);
    await app('PUT', `/api/spaces/${space.id}/members/${BEN}`, ada, null, 200);
    await app('PUT', `/api/spaces/${space.id}/members/${BEN}`, ben, null, 200);
    const view = await app('GET', `/api/spaces/${space.id}`, ada, null, 200);
    check(view.chatThreadId, 'the space has no chat thread: ' + JSON.stringify(view));
    await page.getByTestId('chat-' + view.chatThreadId).filter({ hasText: ADA }).filter({ hasText: BEN }).waitFor();
    await shot('users');
  }],
];

let failed = 0;
for (const [name, fn] of tests) {
  const t0 = Date.now();
  try {
    await fn();
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.message}`);
    console.log('--- page text ---\n' + (await page.locator('main').innerText().catch(() => '')).slice(0, 3000));
  }
}
if (pageErrors.length) {
  failed++;
  console.log('FAIL the page threw: ' + pageErrors.join('; '));
}
await context.close();
rmSync(userDataDir, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
