// Drives the ACS emulator's participants:moveHere with the official
// @azure/communication-call-automation SDK: a call is answered (the bot's),
// the application connects to a group call and moves the caller into it
// with moveParticipants(ids, fromCall); every callback is parsed with
// parseCallAutomationEvent. Prints one JSON object for callmove_test.go.
// Env: ACS_CONNECTION_STRING and ACS_ENDPOINT (the emulator's), API_VERSION (optional).
import http from "node:http";
import { CommunicationIdentityClient } from "@azure/communication-identity";
import { CallAutomationClient, parseCallAutomationEvent } from "@azure/communication-call-automation";

const options = { allowInsecureConnection: true, retryOptions: { maxRetries: 0 } };
if (process.env.API_VERSION) options.apiVersion = process.env.API_VERSION;
const identity = new CommunicationIdentityClient(process.env.ACS_CONNECTION_STRING, options);
const client = new CallAutomationClient(process.env.ACS_CONNECTION_STRING, options);
const emulator = process.env.ACS_ENDPOINT.replace(/\/$/, "");
const failure = (e) => ({ status: e.statusCode ?? null, code: e.code ?? null, message: String(e.message) });
const rawId = (id) => id?.rawId ?? id?.communicationUserId ?? null;

const events = [];
const unparsed = [];
const server = http.createServer((req, res) => {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    try {
      const ev = parseCallAutomationEvent(body);
      events.push({ call: new URL(req.url, "http://x").searchParams.get("call"), kind: ev.kind, operationContext: ev.operationContext ?? null,
        participant: rawId(ev.participant), fromCall: ev.fromCall ?? null });
      res.writeHead(200).end();
    } catch (e) {
      unparsed.push(String(e.message) + ": " + body);
      res.writeHead(400).end();
    }
  });
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const callback = `http://127.0.0.1:${server.address().port}/api/botcallbacks?sig=s3cret`;
const until = async (cond) => {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
};
const ring = async (from, to) => {
  const resp = await fetch(emulator + "/emulator/incoming", { method: "POST", body: JSON.stringify({ from, to }) });
  if (resp.status !== 200) throw new Error("ring: " + resp.status + " " + (await resp.text()));
  return (await resp.json()).IncomingCallContext;
};

const [caller, bot] = [await identity.createUser(), await identity.createUser()];
const out = { users: [caller, bot].map((u) => u.communicationUserId) };
const answered = await client.answerCall(await ring(caller.communicationUserId, bot.communicationUserId), callback + "&call=bot", { operationContext: "answer" });
const botCall = answered.callConnectionProperties.callConnectionId;
await until(() => events.some((e) => e.kind === "CallConnected" && e.call === "bot"));
const group = await client.connectCall({ kind: "groupCallLocator", id: "3c1f9a7e-2b4d-4e8f-9a6c-1d2e3f4a5b6c" }, callback + "&call=group", { operationContext: "connect" });
const groupCall = group.callConnectionProperties.callConnectionId;
out.calls = { bot: botCall, group: groupCall };
await until(() => events.some((e) => e.kind === "CallConnected" && e.call === "group"));
try {
  const moved = await group.callConnection.moveParticipants([caller], botCall, { operationContext: "move" });
  out.move = { participants: (moved.participants ?? []).map((p) => rawId(p.identifier)), fromCall: moved.fromCall, operationContext: moved.operationContext ?? null };
  await until(() => events.some((e) => e.kind === "MoveParticipantSucceeded"));
  // The caller has left the bot's call: moving them again fails, as an event.
  await group.callConnection.moveParticipants([caller], botCall, { operationContext: "again" });
  await until(() => events.some((e) => e.kind === "MoveParticipantFailed"));
} catch (e) {
  out.moveError = failure(e);
}
out.groupParticipants = (await group.callConnection.listParticipants()).values?.map((p) => rawId(p.identifier)) ?? null;
await group.callConnection.hangUp(false);
await answered.callConnection.hangUp(false);
await until(() => events.filter((e) => e.kind === "CallDisconnected").length === 2);
out.events = events;
out.unparsed = unparsed;
server.close();
console.log(JSON.stringify(out));
