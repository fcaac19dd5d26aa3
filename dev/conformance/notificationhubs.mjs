// Drives the Notification Hubs emulator with the official @azure/notification-hubs
// SDK (direct sends) and prints what happened as one JSON object.
// Env: NH_CONNECTION_STRING, NH_WRONG_CONNECTION_STRING, NH_HUB, APNS_TOKEN, FCM_TOKEN, GONE_TOKEN
// (a handle the emulator answers 410 for);
// NODE_EXTRA_CA_CERTS trusts the emulator's certificate.
import { NotificationHubsClient, createAppleNotification, createFcmV1Notification } from "@azure/notification-hubs";

const out = {};
const failure = (e) => ({ status: e.statusCode ?? null, message: String(e.message) });
const client = new NotificationHubsClient(process.env.NH_CONNECTION_STRING, process.env.NH_HUB);

const apple = createAppleNotification({
  body: { aps: {}, type: "incomingCall", incomingCallContext: "sdk-ctx" },
  headers: { "apns-push-type": "voip", "apns-priority": "10", "apns-topic": "com.example.app.voip" },
});
const r1 = await client.sendNotification(apple, { deviceHandle: process.env.APNS_TOKEN });
out.apple = { trackingId: r1.trackingId ?? null, correlationId: r1.correlationId ?? null, location: r1.location ?? null };

const fcm = createFcmV1Notification({ body: { message: { android: { priority: "high" }, data: { type: "incomingCall" } } } });
const r2 = await client.sendNotification(fcm, { deviceHandle: process.env.FCM_TOKEN });
out.fcm = { trackingId: r2.trackingId ?? null };

try {
  await client.sendNotification(fcm, { deviceHandle: process.env.GONE_TOKEN });
  out.gone = { status: 201 };
} catch (e) {
  out.gone = failure(e);
}

const wrong = new NotificationHubsClient(process.env.NH_WRONG_CONNECTION_STRING, process.env.NH_HUB);
try {
  await wrong.sendNotification(apple, { deviceHandle: process.env.APNS_TOKEN });
  out.wrongKey = { status: 201 };
} catch (e) {
  out.wrongKey = failure(e);
}
console.log(JSON.stringify(out));
