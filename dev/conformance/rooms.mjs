// Drives the ACS emulator with the official @azure/communication-rooms SDK
// (users made with @azure/communication-identity) and prints what happened
// as one JSON object; rooms_test.go asserts on it.
// Env: ACS_CONNECTION_STRING (the emulator's).
import { CommunicationIdentityClient } from "@azure/communication-identity";
import { RoomsClient } from "@azure/communication-rooms";

const options = { allowInsecureConnection: true, retryOptions: { maxRetries: 0 } };
const identity = new CommunicationIdentityClient(process.env.ACS_CONNECTION_STRING, options);
const rooms = new RoomsClient(process.env.ACS_CONNECTION_STRING, options);
const iso = (d) => d.toISOString();
const failure = (e) => ({ status: e.statusCode ?? null, code: e.code ?? null, message: String(e.message) });
const room = (r) => ({ id: r.id, createdOn: iso(r.createdOn), validFrom: iso(r.validFrom), validUntil: iso(r.validUntil), pstnDialOutEnabled: r.pstnDialOutEnabled });
const list = async (id) => {
  const out = [];
  for await (const p of rooms.listParticipants(id)) out.push({ id: p.id.communicationUserId, role: p.role });
  return out;
};

const users = [];
for (let i = 0; i < 4; i++) users.push(await identity.createUser());
const out = { users: users.map((u) => u.communicationUserId) };

const from = new Date(Date.now() + 60_000);
const until = new Date(from.getTime() + 24 * 3600_000);
const created = await rooms.createRoom({
  validFrom: from,
  validUntil: until,
  pstnDialOutEnabled: true,
  participants: [
    { id: users[0], role: "Presenter" },
    { id: users[1], role: "Attendee" },
  ],
});
out.createRoom = room(created);
out.getRoom = room(await rooms.getRoom(created.id));

await rooms.addOrUpdateParticipants(created.id, [
  { id: users[1], role: "Consumer" },
  { id: users[2], role: "Collaborator" },
  { id: users[3], role: "Attendee" },
]);
out.afterAdd = await list(created.id);

await rooms.removeParticipants(created.id, [users[3]]);
out.afterRemove = await list(created.id);

out.updateRoom = room(await rooms.updateRoom(created.id, { validFrom: from, validUntil: new Date(from.getTime() + 48 * 3600_000) }));

try {
  await rooms.createRoom({ validFrom: from, validUntil: new Date(from.getTime() + 200 * 24 * 3600_000) });
  out.tooLong = { status: 201 };
} catch (e) {
  out.tooLong = failure(e);
}

await rooms.deleteRoom(created.id);
try {
  await rooms.getRoom(created.id);
  out.getDeleted = { status: 200 };
} catch (e) {
  out.getDeleted = failure(e);
}

console.log(JSON.stringify(out));
