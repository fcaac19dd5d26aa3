// Web Push both ways between the npm packages and our Go code.
// MODE=send: the `web-push` package sends to SUBSCRIPTION (our receiver), which decrypts it.
// MODE=decrypt: `http_ece` decrypts BODY_B64 (what our Go sender posted) with
// PRIVATE_KEY_B64URL and AUTH_B64URL (the subscription's keys).
import webpush from "web-push";
import ece from "http_ece";
import crypto from "node:crypto";

const out = {};
if (process.env.MODE === "send") {
  const vapid = webpush.generateVAPIDKeys();
  const res = await webpush.sendNotification(JSON.parse(process.env.SUBSCRIPTION), process.env.PAYLOAD, {
    vapidDetails: { subject: "mailto:conformance@example.com", publicKey: vapid.publicKey, privateKey: vapid.privateKey },
    TTL: 30,
    contentEncoding: "aes128gcm",
  });
  out.status = res.statusCode;
} else {
  const ecdh = crypto.createECDH("prime256v1");
  ecdh.setPrivateKey(Buffer.from(process.env.PRIVATE_KEY_B64URL, "base64url"));
  const plain = ece.decrypt(Buffer.from(process.env.BODY_B64, "base64"), {
    version: "aes128gcm",
    privateKey: ecdh,
    authSecret: Buffer.from(process.env.AUTH_B64URL, "base64url"),
  });
  out.plaintext = plain.toString("utf8");
}
console.log(JSON.stringify(out));
