// The token format of docs/TOKENS.md, signed with node:crypto alone from the vectors that Go's
// netcode tests pin (netcode/testdata/token/vectors.json): a login service written in JavaScript
// gets the same strings as netcode.SignToken.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { test } from "node:test";

const vectors = JSON.parse(readFileSync(new URL("../../netcode/testdata/token/vectors.json", import.meta.url), "utf8"));

/** Signs claims as docs/TOKENS.md describes: base64url(JSON) "." base64url(HMAC-SHA256 of the first part). */
function signToken(secret, { player, room, expires }) {
  const claims = room ? { p: player, r: room, e: expires } : { p: player, e: expires };
  const payload = Buffer.from(JSON.stringify(claims), "utf8").toString("base64url");
  const mac = createHmac("sha256", secret).update(payload, "ascii").digest("base64url");
  return `${payload}.${mac}`;
}

test("tokens signed with node:crypto match the Go test vectors", () => {
  assert.ok(vectors.length > 0);
  for (const v of vectors) {
    assert.equal(JSON.stringify(v.room ? { p: v.player, r: v.room, e: v.expires } : { p: v.player, e: v.expires }), v.claims_json, v.name);
    assert.equal(signToken(Buffer.from(v.secret, "utf8"), v), v.token, v.name);
    const [payload, mac] = v.token.split(".");
    assert.equal(mac.length, 43, "a MAC is 43 characters");
    assert.doesNotMatch(v.token, /[=+/\s]/, "no padding, no standard alphabet, no white space");
    assert.equal(Buffer.from(payload, "base64url").toString("utf8"), v.claims_json);
  }
});
