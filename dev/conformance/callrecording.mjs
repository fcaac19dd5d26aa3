// Drives the ACS emulator's connect (group and room call locators) and
// recording (start by call connection id, get state, stop; a room locator
// refused) with the official @azure/communication-call-automation SDK;
// serves the callbacks and parses each with parseCallAutomationEvent.
// Env: ACS_CONNECTION_STRING, API_VERSION (optional).
import http from "node:http";
import { randomUUID } from "node:crypto";
import { CommunicationIdentityClient } from "@azure/communication-identity";
import { RoomsClient } from "@azure/communication-rooms";
import { CallAutomationClient, parseCallAutomationEvent } from "@azure/communication-call-automation";

const options = { allowInsecureConnection: true, retryOptions: { maxRetries: 0 } };
if (process.env.API_VERSION) options.apiVersion = process.env.API_VERSION;
const identity = new CommunicationIdentityClient(process.env.ACS_CONNECTION_STRING, { allowInsecureConnection: true });
const rooms = new RoomsClient(process.env.ACS_CONNECTION_STRING, { allowInsecureConnection: true });
const client = new CallAutomationClient(process.env.ACS_CONNECTION_STRING, options);
const failure = (e) => ({ status: e.statusCode ?? null, code: e.code ?? null, message: String(e.message) });

const events = [];
const unparsed = [];
const server = http.createServer((req, res) => {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    try {
      const ev = parseCallAutomationEvent(body);
      events.push({ call: new URL(req.url, "http://x").searchParams.get("call"), kind: ev.kind, state: ev.state ?? null, recordingId: ev.recordingId ?? null });
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

const out = {};
const user = await identity.createUser();
const room = await rooms.createRoom({ participants: [{ id: user, role: "Attendee" }] });
const inRoom = await client.connectCall({ kind: "roomCallLocator", id: room.id }, callback + "&call=room", { operationContext: "join-room" });
out.connectRoom = { callConnectionId: inRoom.callConnectionProperties.callConnectionId, state: inRoom.callConnectionProperties.callConnectionState };
const groupCallId = randomUUID();
const inGroup = await client.connectCall({ kind: "groupCallLocator", id: groupCallId }, callback + "&call=group");
out.groupCallId = groupCallId;
out.connectGroup = inGroup.callConnectionProperties.callConnectionId;
try {
  await client.connectCall({ kind: "roomCallLocator", id: "no-such-room" }, callback + "&call=x");
  out.unknownRoom = { status: 200 };
} catch (e) {
  out.unknownRoom = failure(e);
}

const recorder = client.getCallRecording();
const started = await recorder.start({ callConnectionId: out.connectRoom.callConnectionId, recordingContent: "audio", recordingChannel: "mixed", recordingFormat: "wav" });
out.start = { recordingId: started.recordingId, state: started.recordingState };
out.getState = (await recorder.getState(started.recordingId)).recordingState;
try {
  await recorder.start({ callLocator: { kind: "roomCallLocator", id: room.id } });
  out.roomLocator = { status: 200 };
} catch (e) {
  out.roomLocator = failure(e);
}
await recorder.stop(started.recordingId);
await until(() => events.filter((e) => e.kind === "RecordingStateChanged").length === 2);
await inRoom.callConnection.hangUp(false);
await inGroup.callConnection.hangUp(false);
await until(() => events.filter((e) => e.kind === "CallDisconnected").length === 2);
out.events = events;
out.unparsed = unparsed;
server.close();
console.log(JSON.stringify(out));
