// Drives the ACS emulator with the official @azure/communication-identity SDK
// and prints what happened as one JSON object; identity_test.go asserts on it.
// Env: ACS_CONNECTION_STRING (the emulator's), ACS_WRONG_CONNECTION_STRING (same endpoint, wrong key).
import { CommunicationIdentityClient } from "@azure/communication-identity";

const options = { allowInsecureConnection: true, retryOptions: { maxRetries: 0 } };
const client = new CommunicationIdentityClient(process.env.ACS_CONNECTION_STRING, options);
const iso = (d) => d.toISOString();
const failure = (e) => ({ status: e.statusCode ?? null, code: e.code ?? null, message: String(e.message) });

const out = {};

const user = await client.createUser();
out.createUser = { id: user.communicationUserId };

const both = await client.createUserAndToken(["chat", "voip"]);
out.createUserAndToken = { id: both.user.communicationUserId, token: both.token, expiresOn: iso(both.expiresOn) };

const t1 = await client.getToken(user, ["voip"], { tokenExpiresInMinutes: 60 });
out.getToken = { token: t1.token, expiresOn: iso(t1.expiresOn) };

await client.revokeTokens(user);
out.revokeTokens = { revoked: t1.token };

const t2 = await client.getToken(user, ["chat", "voip.join"]);
out.getTokenAfterRevoke = { token: t2.token, expiresOn: iso(t2.expiresOn) };

await client.deleteUser(both.user);
out.deleteUser = { id: both.user.communicationUserId };
try {
  await client.getToken(both.user, ["chat"]);
  out.getTokenForDeleted = { status: 200 };
} catch (e) {
  out.getTokenForDeleted = failure(e);
}

try {
  await client.getToken(user, ["chat"], { tokenExpiresInMinutes: 30 });
  out.getTokenTooShort = { status: 200 };
} catch (e) {
  out.getTokenTooShort = failure(e);
}

const wrong = new CommunicationIdentityClient(process.env.ACS_WRONG_CONNECTION_STRING, options);
try {
  await wrong.createUser();
  out.wrongKey = { status: 201 };
} catch (e) {
  out.wrongKey = failure(e);
}

console.log(JSON.stringify(out));
