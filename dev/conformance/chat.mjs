// Drives the ACS emulator's Chat API with the official @azure/communication-chat
// SDK, authenticated by tokens Switchboard issued (POST /api/token) wrapped in
// AzureCommunicationTokenCredential, and prints what happened as one JSON
// object; chat_test.go asserts on it. The SDK's bearer policy refuses http, so
// the emulator serves https with its own certificate (NODE_EXTRA_CA_CERTS).
// Env: ACS_ENDPOINT, ALICE_TOKEN, BOB_TOKEN, BOB_ID, CAROL_ID, VOIP_TOKEN.
import { ChatClient } from "@azure/communication-chat";
import { AzureCommunicationTokenCredential } from "@azure/communication-common";

const endpoint = process.env.ACS_ENDPOINT;
const options = { retryOptions: { maxRetries: 0 } };
const client = (token) => new ChatClient(endpoint, new AzureCommunicationTokenCredential(token), options);
const failure = (e) => ({ status: e.statusCode ?? null, code: e.code ?? null, message: String(e.message) });
const user = (id) => ({ communicationUserId: id });

const alice = client(process.env.ALICE_TOKEN);
const bob = client(process.env.BOB_TOKEN);
const out = {};

const created = await alice.createChatThread(
  { topic: "Conformance" },
  { participants: [{ id: user(process.env.BOB_ID), displayName: "Bob" }, { id: user("8:acs:not-a-user") }] },
);
const threadId = created.chatThread.id;
out.create = {
  id: threadId,
  topic: created.chatThread.topic,
  createdBy: created.chatThread.createdBy?.communicationUserId ?? null,
  invalid: (created.invalidParticipants ?? []).map((p) => ({ target: p.target, code: p.code })),
};

const aliceThread = alice.getChatThreadClient(threadId);
const added = await aliceThread.addParticipants({
  participants: [{ id: user(process.env.CAROL_ID), displayName: "Carol", shareHistoryTime: new Date() }],
});
out.add = { invalid: added.invalidParticipants ?? [] };

const listed = [];
for await (const p of aliceThread.listParticipants()) listed.push({ id: p.id.communicationUserId, displayName: p.displayName ?? null });
out.participants = listed;

await aliceThread.removeParticipant(user(process.env.CAROL_ID));
const after = [];
for await (const p of aliceThread.listParticipants()) after.push(p.id.communicationUserId);
out.afterRemove = after;

const sent = await aliceThread.sendMessage({ content: "hello from the SDK" }, { senderDisplayName: "Alice" });
out.send = { id: sent.id };

const messages = [];
for await (const m of bob.getChatThreadClient(threadId).listMessages()) {
  messages.push({ id: m.id, type: m.type, content: m.content?.message ?? null, sender: m.sender?.communicationUserId ?? null, senderDisplayName: m.senderDisplayName ?? null });
}
out.bobMessages = messages;

const props = await bob.getChatThreadClient(threadId).getProperties();
out.properties = { id: props.id, topic: props.topic };

try {
  await client(process.env.VOIP_TOKEN).createChatThread({ topic: "no chat scope" });
  out.voipOnly = { status: 201 };
} catch (e) {
  out.voipOnly = failure(e);
}

await alice.deleteChatThread(threadId);
out.deleted = threadId;

console.log(JSON.stringify(out));
