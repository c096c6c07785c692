import assert from "node:assert/strict";
import { test } from "node:test";
import { ControlReader, frameControl, reasonName } from "../src/client.js";

test("control frames split across and within chunks", () => {
  const a = frameControl({ msg: { case: "left", value: { playerId: 7, reason: 8 } } });
  const b = frameControl({ msg: { case: "joined", value: { player: { playerId: 9, name: "x".repeat(300) } } } });
  const all = new Uint8Array([...a, ...b]);
  const r = new ControlReader();
  const got = [];
  for (let i = 0; i < all.length; i += 5) got.push(...r.push(all.subarray(i, i + 5)));
  assert.equal(got.length, 2);
  assert.equal(got[0].msg.value.playerId, 7);
  assert.equal(reasonName(got[0].msg.value.reason), "IDLE_TIMEOUT");
  assert.equal(got[1].msg.value.player.name.length, 300);
});

test("oversize control frames are refused", () => {
  const r = new ControlReader();
  assert.throws(() => r.push(new Uint8Array([0x80, 0x80, 0x80, 0x01])), /control frame/);
});
