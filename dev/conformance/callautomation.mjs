// Drives the ACS emulator with the official @azure/communication-call-automation
// SDK (users made with @azure/communication-identity) and prints what
// happened as one JSON object; callautomation_test.go asserts on it.
// Env: ACS_CONNECTION_STRING (the emulator's), CALLBACK_URL (served by the Go test).
import { CommunicationIdentityClient } from "@azure/communication-identity";
import { CallAutomationClient } from "@azure/communication-call-automation";

const options = { allowInsecureConnection: true, retryOptions: { maxRetries: 0 } };
const identity = new CommunicationIdentityClient(process.env.ACS_CONNECTION_STRING, options);
const client = new CallAutomationClient(process.env.ACS_CONNECTION_STRING, options);
const callback = process.env.CALLBACK_URL;
const failure = (e) => ({ status: e.statusCode ?? null, code: e.code ?? null, message: String(e.message) });
const rawIds = (ps) => (ps ?? []).map((p) => p.identifier.rawId ?? p.identifier.communicationUserId).sort();

const users = [];
for (let i = 0; i < 3; i++) users.push(await identity.createUser());
const out = { users: users.map((u) => u.communicationUserId) };

const first = await client.createCall({ targetParticipant: users[0] }, callback + "&call=1", { operationContext: "conformance" });
const props = first.callConnectionProperties;
out.createCall = {
  callConnectionId: props.callConnectionId,
  serverCallId: props.serverCallId,
  state: props.callConnectionState,
  // The SDK types this callbackUrl but passes the wire field callbackUri through.
  callbackUrl: props.callbackUrl ?? props.callbackUri,
  targets: props.targetParticipants.map((t) => t.communicationUserId),
};
const conn = first.callConnection;
// Wait for the callee to join before listing, as an application would on CallConnected.
await new Promise((r) => setTimeout(r, 300));
out.listParticipants = rawIds((await conn.listParticipants()).values);
const added = await conn.addParticipant({ targetParticipant: users[1] }, { operationContext: "add" });
out.addParticipant = { rawId: added.participant?.identifier?.communicationUserId ?? null, invitationId: added.invitationId };
out.afterAdd = rawIds((await conn.listParticipants()).values);
out.getCallConnectionProperties = (await conn.getCallConnectionProperties()).callConnectionState;
await conn.hangUp(false);
try {
  await conn.listParticipants();
  out.listAfterHangUp = { status: 200 };
} catch (e) {
  out.listAfterHangUp = failure(e);
}

const second = await client.createCall({ targetParticipant: users[2] }, callback + "&call=2");
out.second = second.callConnectionProperties.callConnectionId;
await new Promise((r) => setTimeout(r, 300));
await second.callConnection.hangUp(true);

try {
  await client.createCall({ targetParticipant: { communicationUserId: out.users[0] + "x" } }, callback);
  out.unknownTarget = { status: 201 };
} catch (e) {
  out.unknownTarget = failure(e);
}

console.log(JSON.stringify(out));
