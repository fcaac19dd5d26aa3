// Drives the ACS emulator's answer, play (text and file), startRecognizing
// (DTMF), cancelAllOperations and transfer with the official
// @azure/communication-call-automation SDK, serves the call's callbacks
// itself and parses every one with parseCallAutomationEvent; prints what
// happened as one JSON object for callmedia_test.go.
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

// The application's callback endpoint: every event must parse.
const events = [];
const unparsed = [];
const server = http.createServer((req, res) => {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    try {
      const ev = parseCallAutomationEvent(body);
      events.push({ call: new URL(req.url, "http://x").searchParams.get("call"), kind: ev.kind, operationContext: ev.operationContext ?? null,
        tones: ev.dtmfResult?.tones ?? null, transferTarget: ev.transferTarget?.rawId ?? ev.transferTarget?.communicationUser?.id ?? null });
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

const [caller, bot, target] = [await identity.createUser(), await identity.createUser(), await identity.createUser()];
const out = { users: [caller, bot, target].map((u) => u.communicationUserId) };

const answered = await client.answerCall(await ring(caller.communicationUserId, bot.communicationUserId), callback + "&call=a", {
  operationContext: "answer",
  callIntelligenceOptions: { cognitiveServicesEndpoint: "https://switchboard.cognitiveservices.azure.com/" },
});
const id = answered.callConnectionProperties.callConnectionId;
out.answer = { callConnectionId: id, state: answered.callConnectionProperties.callConnectionState };
await until(() => events.some((e) => e.kind === "CallConnected"));
const media = answered.callConnection.getCallMedia();
await media.playToAll([{ kind: "textSource", text: "Welcome", voiceName: "en-US-JennyNeural" }, { kind: "fileSource", url: "https://cdn.contoso.com/prompts/menu.wav" }], { operationContext: "greeting" });
await media.play([{ kind: "fileSource", url: "https://cdn.contoso.com/prompts/menu.wav" }], [caller], { operationContext: "to-caller" });
await media.startRecognizing(caller, {
  kind: "callMediaRecognizeDtmfOptions", maxTonesToCollect: 1, interruptPrompt: true, stopDtmfTones: ["pound"],
  playPrompt: { kind: "textSource", text: "Press 1 for Alice" }, operationContext: "menu",
});
const press = await fetch(`${emulator}/emulator/calls/${id}/dtmf`, { method: "POST", body: JSON.stringify({ tones: "1" }) });
out.press = press.status;
await until(() => events.some((e) => e.kind === "RecognizeCompleted"));
await media.cancelAllOperations();
out.transfer = (await answered.callConnection.transferCallToParticipant(target, { operationContext: "transfer" })).operationContext ?? null;
await until(() => events.some((e) => e.kind === "CallDisconnected" && e.call === "a"));

// Without a Cognitive Services endpoint at answer, text prompts are refused.
const plain = await client.answerCall(await ring(caller.communicationUserId, bot.communicationUserId), callback + "&call=b");
try {
  await plain.callConnection.getCallMedia().playToAll([{ kind: "textSource", text: "Hi" }]);
  out.textWithoutCognitive = { status: 202 };
} catch (e) {
  out.textWithoutCognitive = failure(e);
}
await plain.callConnection.hangUp(false);
await until(() => events.some((e) => e.kind === "CallDisconnected" && e.call === "b"));

out.events = events;
out.unparsed = unparsed;
server.close();
console.log(JSON.stringify(out));
