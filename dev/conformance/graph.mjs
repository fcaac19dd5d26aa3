// Drives the Entra and Graph emulators with the official SDKs: @azure/identity's
// ClientSecretCredential (authorityHost + disableInstanceDiscovery) gets an
// app-only token, and @microsoft/microsoft-graph-client creates, reads,
// patches and deletes online meetings with it. Prints one JSON object;
// graph_test.go asserts on it.
// Env: ENTRA_AUTHORITY_HOST, ENTRA_TENANT_ID, GRAPH_CLIENT_ID, GRAPH_CLIENT_SECRET,
// GRAPH_BASE_URL (the emulator's origin), ORGANIZER, UNGRANTED_USER, NODE_EXTRA_CA_CERTS.
import { ClientSecretCredential } from "@azure/identity";
import { Client } from "@microsoft/microsoft-graph-client";
import { TokenCredentialAuthenticationProvider } from "@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials/index.js";

const env = process.env;
const scope = "https://graph.microsoft.com/.default";
const credOptions = { authorityHost: env.ENTRA_AUTHORITY_HOST, disableInstanceDiscovery: true };
const failure = (e) => ({ status: e.statusCode ?? null, code: e.code ?? null, message: String(e.message) });
const claims = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());
const out = {};

const cred = new ClientSecretCredential(env.ENTRA_TENANT_ID, env.GRAPH_CLIENT_ID, env.GRAPH_CLIENT_SECRET, credOptions);
const token = await cred.getToken(scope);
const c = claims(token.token);
out.token = { aud: c.aud, iss: c.iss, roles: c.roles, appid: c.appid, tid: c.tid, lifetime: Math.round((token.expiresOnTimestamp - Date.now()) / 1000) };

try {
  await new ClientSecretCredential(env.ENTRA_TENANT_ID, env.GRAPH_CLIENT_ID, "not-the-secret", credOptions).getToken(scope);
  out.wrongSecret = { status: 200 };
} catch (e) {
  out.wrongSecret = { name: e.name, message: String(e.message).slice(0, 300) };
}

const client = Client.initWithMiddleware({
  authProvider: new TokenCredentialAuthenticationProvider(cred, { scopes: [scope] }),
  baseUrl: env.GRAPH_BASE_URL + "/",
  defaultVersion: "v1.0",
  // The client attaches the token only to Graph's own hosts and these.
  customHosts: new Set([new URL(env.GRAPH_BASE_URL).hostname]),
});
const meetings = `/users/${env.ORGANIZER}/onlineMeetings`;
const start = new Date(Date.now() + 3600e3);
start.setMilliseconds(0);
const end = new Date(start.getTime() + 1800e3);
const summary = (m) => ({
  id: m.id, subject: m.subject, externalId: m.externalId, joinWebUrl: m.joinWebUrl,
  joinMeetingId: m.joinMeetingIdSettings?.joinMeetingId, passcode: m.joinMeetingIdSettings?.passcode,
  lobby: m.lobbyBypassSettings?.scope, start: m.startDateTime, end: m.endDateTime,
  organizer: m.participants?.organizer?.identity?.user?.id,
});

out.create = summary(await client.api(meetings).post({ subject: "Plain create", startDateTime: start.toISOString(), endDateTime: end.toISOString() }));
const body = { externalId: "conformance-1", subject: "Idempotent", startDateTime: start.toISOString(), endDateTime: end.toISOString() };
out.createOrGet = summary(await client.api(`${meetings}/createOrGet`).post(body));
out.createOrGetAgain = summary(await client.api(`${meetings}/createOrGet`).post(body));
out.get = summary(await client.api(`${meetings}/${out.createOrGet.id}`).get());
out.patch = summary(await client.api(`${meetings}/${out.createOrGet.id}`).patch({ lobbyBypassSettings: { scope: "everyone" } }));
try {
  await client.api(`${meetings}/${out.createOrGet.id}`).patch({ lobbyBypassSettings: { scope: "anyone" } });
  out.badPatch = { status: 200 };
} catch (e) {
  out.badPatch = failure(e);
}
await client.api(`${meetings}/${out.createOrGet.id}`).delete();
await client.api(`${meetings}/${out.create.id}`).delete();
try {
  await client.api(`${meetings}/${out.createOrGet.id}`).get();
  out.getDeleted = { status: 200 };
} catch (e) {
  out.getDeleted = failure(e);
}
try {
  await client.api(`/users/${env.UNGRANTED_USER}/onlineMeetings/createOrGet`).post({ externalId: "x" });
  out.noPolicy = { status: 200 };
} catch (e) {
  out.noPolicy = failure(e);
}
console.log(JSON.stringify(out));
