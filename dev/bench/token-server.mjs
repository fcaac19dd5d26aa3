// The reference Switchboard is measured against: the same job done the way
// the ACS samples' trusted service does it (the "auth hero" shape) in
// Node.js. POST /api/token verifies the caller's bearer JWT with jose
// against the same OIDC issuer (discovery + JWKS), reads the user's ACS id
// from Table Storage with @azure/data-tables, and issues a token with
// @azure/communication-identity; a user with no mapping gets a new ACS
// identity with a token, and the mapping is written. GET /health answers 200.
//
// Settings: AUTH_ISSUER, AUTH_AUDIENCE, STORAGE_CONNECTION_STRING,
// ACS_CONNECTION_STRING, FUNCTIONS_CUSTOMHANDLER_PORT, NODE_USERS_TABLE.
import http from "node:http";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { TableClient } from "@azure/data-tables";
import { CommunicationIdentityClient } from "@azure/communication-identity";

const issuer = process.env.AUTH_ISSUER;
const audience = process.env.AUTH_AUDIENCE;
const port = Number(process.env.FUNCTIONS_CUSTOMHANDLER_PORT);
const identity = new CommunicationIdentityClient(process.env.ACS_CONNECTION_STRING, { allowInsecureConnection: true });
const users = TableClient.fromConnectionString(process.env.STORAGE_CONNECTION_STRING, process.env.NODE_USERS_TABLE || "nodeusers", {
  allowInsecureConnection: true,
});

const discovery = await (await fetch(new URL(".well-known/openid-configuration", issuer.endsWith("/") ? issuer : issuer + "/"))).json();
const jwks = createRemoteJWKSet(new URL(discovery.jwks_uri));
await users.createTable().catch((e) => {
  if (e.statusCode !== 409) throw e;
});

const scopes = ["voip"];
const options = { tokenExpiresInMinutes: 60 };

async function token(req) {
  const auth = req.headers.authorization || "";
  if (!auth.startsWith("Bearer ")) return [401, { code: "unauthenticated" }];
  let sub;
  try {
    ({ payload: { sub } } = await jwtVerify(auth.slice(7), jwks, { issuer: discovery.issuer, audience }));
  } catch {
    return [401, { code: "unauthenticated" }];
  }
  let acsUserId;
  try {
    acsUserId = (await users.getEntity(sub, "profile")).acsUserId;
  } catch (e) {
    if (e.statusCode !== 404) throw e;
  }
  if (acsUserId) {
    const t = await identity.getToken({ communicationUserId: acsUserId }, scopes, options);
    return [200, { acsUserId, token: t.token, expiresOn: t.expiresOn }];
  }
  const r = await identity.createUserAndToken(scopes, options);
  acsUserId = r.user.communicationUserId;
  await users.upsertEntity({ partitionKey: sub, rowKey: "profile", acsUserId }, "Replace");
  return [200, { acsUserId, token: r.token, expiresOn: r.expiresOn }];
}

http
  .createServer(async (req, res) => {
    const url = new URL(req.url, "http://localhost");
    try {
      if (req.method === "GET" && url.pathname === "/health") {
        res.writeHead(200).end("ok");
        return;
      }
      if (req.method === "POST" && url.pathname === "/api/token") {
        for await (const _ of req); // drain the body
        const [status, body] = await token(req);
        res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
        return;
      }
      res.writeHead(404).end();
    } catch (e) {
      const status = e.statusCode === 429 ? 503 : 502;
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify({ code: status === 503 ? "acs-throttled" : "upstream-failed", detail: String(e.message) }));
    }
  })
  .listen(port, "127.0.0.1");
