// Drives the ACS emulator's SMS API with the official @azure/communication-sms
// SDK (1.1.0, api-version 2021-03-07) and prints what happened as one JSON
// object; sms_test.go asserts on it.
// Env: ACS_CONNECTION_STRING (the emulator's), SMS_FROM.
import { SmsClient } from "@azure/communication-sms";

const options = { allowInsecureConnection: true, retryOptions: { maxRetries: 0 } };
const sms = new SmsClient(process.env.ACS_CONNECTION_STRING, options);
const from = process.env.SMS_FROM;
const failure = (e) => ({ status: e.statusCode ?? null, code: e.code ?? null, message: String(e.message) });
const out = {};

out.send = await sms.send(
  { from, to: ["+14255550123", "+14255550124", "4255550125"], message: "Alice invited you to a call" },
  { enableDeliveryReport: true, tag: "conformance" },
);

try {
  await new SmsClient(process.env.ACS_CONNECTION_STRING.replace(/accesskey=.*/i, "accesskey=d3Jvbmcta2V5"), options).send({ from, to: ["+14255550123"], message: "x" });
  out.wrongKey = { status: 0 };
} catch (e) {
  out.wrongKey = failure(e);
}

try {
  await sms.send({ from: "not a sender!", to: ["+14255550123"], message: "x" });
  out.badFrom = { status: 0 };
} catch (e) {
  out.badFrom = failure(e);
}

console.log(JSON.stringify(out));
