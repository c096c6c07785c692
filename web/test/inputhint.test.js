import assert from "node:assert/strict";
import { test } from "node:test";
import { fromBinary } from "@bufbuild/protobuf";
import { EntitySchema, InputSchema } from "../src/gen/arena_pb.js";
import { CloseReason, InputFrameSchema } from "../src/gen/tickrelay_pb.js";
import {
  ControlReader, RETRYABLE, TickrelayClient, clampSendEvery, frameControl,
} from "../src/client.js";

// A client with a fake datagram writer that records the frames it sends.
function fakeClient(opts = {}) {
  const c = new TickrelayClient({
    url: "https://127.0.0.1:1/play", token: "t", entitySchema: EntitySchema, inputSchema: InputSchema,
    sample: () => ({ moveX: 1, moveY: -1, buttons: 0 }), ...opts,
  });
  const frames = [];
  c.datagramWriter = {
    write: (b) => {
      const f = fromBinary(InputFrameSchema, b);
      const nf = InputSchema.fields.length; // the arena input: move_x, move_y, buttons, aim
      f.inputs = Array.from({ length: f.inputValues.length / nf }, (_, i) => f.inputValues.slice(nf * i, nf * i + nf));
      frames.push(f);
      return Promise.resolve();
    },
  };
  c.connected = true;
  return { c, frames };
}

// hint passes an InputHint through the wire format, as the control reader would deliver it.
function hint(c, sendEvery) {
  const [m] = new ControlReader().push(frameControl({ msg: { case: "inputHint", value: { sendEvery } } }));
  c.handleControl(m);
}

// copies counts, per input sequence, the frames that carried it.
function copies(frames) {
  const n = new Map();
  for (const f of frames) {
    f.inputs.forEach((_, i) => {
      const seq = f.seq - i;
      n.set(seq, (n.get(seq) ?? 0) + 1);
    });
  }
  return n;
}

test("without a hint every input is sent in its own frame", () => {
  const { c, frames } = fakeClient();
  for (let i = 0; i < 12; i++) c.sendInput();
  assert.equal(frames.length, 12);
  assert.deepEqual(frames.map((f) => f.seq), [...Array(12).keys()].map((i) => i + 1));
  assert.equal(frames[11].inputs.length, 4);
});

test("a hint makes frames fewer and fuller, and every input still travels as often", () => {
  const { c, frames } = fakeClient();
  hint(c, 3);
  assert.equal(c.sendEvery, 3);
  for (let i = 0; i < 30; i++) c.sendInput();
  assert.equal(frames.length, 10);
  assert.deepEqual(frames.map((f) => f.seq), [...Array(10).keys()].map((i) => 3 * (i + 1)));
  assert.equal(frames[9].inputs.length, 12); // redundancy 4 × 3
  const n = copies(frames);
  for (let seq = 1; seq <= 21; seq++) { // the last 9 have not yet had all their frames
    assert.ok(n.get(seq) >= 4, `input ${seq} sent ${n.get(seq)} times, want at least 4`);
  }
});

test("a paced client acknowledges every other snapshot at its next input", () => {
  const { c, frames } = fakeClient();
  hint(c, 3);
  c.sendInput(); // input 1: not yet due
  c.stats.snapshots += 1;
  c.sendInput(); // input 2: one snapshot since the last frame is not enough
  assert.equal(frames.length, 0);
  c.stats.snapshots += 1;
  c.tick = 42;
  c.sendInput(); // input 3: due anyway
  c.stats.snapshots += 2;
  c.tick = 44;
  c.sendInput(); // input 4: early, for the two snapshots
  assert.deepEqual(frames.map((f) => [f.seq, f.ackTick]), [[3, 42], [4, 44]]);
  assert.equal(frames[1].inputs.length, 4); // all there are: up to 4 × 3
});

test("a hint back to 1 sends at once and every input again", () => {
  const { c, frames } = fakeClient();
  hint(c, 3);
  c.sendInput();
  assert.equal(frames.length, 0);
  hint(c, 1);
  c.sendInput();
  c.sendInput();
  assert.deepEqual(frames.map((f) => f.seq), [2, 3]);
});

test("hints are clamped, and ignored when the client is told to", () => {
  assert.equal(clampSendEvery(0), 1);
  assert.equal(clampSendEvery(99), 5);
  assert.equal(clampSendEvery(2), 2);
  const { c, frames } = fakeClient({ redundancy: 4 });
  hint(c, 1000);
  assert.equal(c.sendEvery, 5);
  for (let i = 0; i < 20; i++) c.sendInput();
  assert.equal(frames.length, 4);
  assert.equal(frames[3].inputs.length, 16); // 4 × 5 would be 20: at most what a frame holds
  const ignoring = fakeClient({ ignoreInputHints: true });
  hint(ignoring.c, 3);
  assert.equal(ignoring.c.sendEvery, 1);
});

test("a handshake timeout is worth a reconnect, a protocol violation is not", () => {
  assert.ok(RETRYABLE.has(CloseReason.HANDSHAKE_TIMEOUT));
  assert.ok(!RETRYABLE.has(CloseReason.PROTOCOL_VIOLATION));
});
