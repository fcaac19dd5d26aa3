// The reference Switchboard is measured against: token issuance as the Azure
// samples do it in a JavaScript function, with the official
// @azure/communication-identity SDK. No caller authentication, no storage:
// POST /token creates a user with a token; POST /token?user=<acs id> issues
// a token for a known user. GET /health answers 200.
import http from "node:http";
import { CommunicationIdentityClient } from "@azure/communication-identity";

const client = new CommunicationIdentityClient(process.env.ACS_CONNECTION_STRING, { allowInsecureConnection: true });
const port = Number(process.env.FUNCTIONS_CUSTOMHANDLER_PORT);

http
  .createServer(async (req, res) => {
    const url = new URL(req.url, "http://localhost");
    try {
      if (req.method === "GET" && url.pathname === "/health") {
        res.writeHead(200).end("ok");
        return;
      }
      if (req.method === "POST" && url.pathname === "/token") {
        const user = url.searchParams.get("user");
        let body;
        if (user) {
          const t = await client.getToken({ communicationUserId: user }, ["voip"], { tokenExpiresInMinutes: 60 });
          body = { acsUserId: user, token: t.token, expiresOn: t.expiresOn };
        } else {
          const r = await client.createUserAndToken(["voip"], { tokenExpiresInMinutes: 60 });
          body = { acsUserId: r.user.communicationUserId, token: r.token, expiresOn: r.expiresOn };
        }
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
        return;
      }
      res.writeHead(404).end();
    } catch (e) {
      res.writeHead(502).end(String(e.message));
    }
  })
  .listen(port, "127.0.0.1");
