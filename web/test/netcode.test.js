import assert from "node:assert/strict";
import { test } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { SnapshotSchema } from "../src/gen/tickrelay_pb.js";
import {
  InputHistory, MAX_ENTITIES_PER_SNAPSHOT, MalformedSnapshotError, ViewRing, applyDelta, decodeSnapshot, seqAfter, tickGap,
} from "../src/netcode.js";

const ent = (id, x, y = 0, heading = 0, state = 0, kind = 2) => ({ id, kind, x, y, heading, state });

test("tick arithmetic wraps and skips tick 0", () => {
  assert.ok(seqAfter(5, 3));
  assert.ok(!seqAfter(3, 5));
  assert.ok(seqAfter(1, 0xffffffff));
  assert.equal(tickGap(3, 4), 0);
  assert.equal(tickGap(3, 7), 3);
  assert.equal(tickGap(0xffffffff, 1), 0); // tick 0 is never used
  assert.equal(tickGap(7, 3), 0);
});

// Baseline [1, 4, 9, 12] at positions 0..3; target: 4 removed, 9 moved in x and y, 12 unchanged,
// 20 entered. Positions are gap-coded (the first entry's gap is its position) and a changed entry
// carries its field mask in the low four bits.
test("applyDelta applies removed, changed and entered columns", () => {
  const base = [ent(1, 10), ent(4, 20), ent(9, 30, 5), ent(12, 40)];
  const s = create(SnapshotSchema, {
    tick: 8, baselineTick: 7,
    removed: [1], // position 1: id 4
    changed: [(2 << 4) | 0b0011], // position 2: id 9, x and y
    changedValues: [3, -2],
    enteredIds: [20], enteredKinds: [1], enteredValues: [100, 200, 64, 7],
  });
  const view = applyDelta(base, fromBinary(SnapshotSchema, toBinary(SnapshotSchema, s)));
  assert.deepEqual(view, [ent(1, 10), ent(9, 33, 3), ent(12, 40), ent(20, 100, 200, 64, 7, 1)]);
  assert.deepEqual(base[2], ent(9, 30, 5), "the baseline is not modified");
});

test("applyDelta keeps id order when entering between kept entities", () => {
  const base = [ent(2, 0), ent(10, 0)];
  const s = create(SnapshotSchema, { enteredIds: [1, 4, 6], enteredKinds: [2, 2, 2], enteredValues: new Array(12).fill(0) });
  assert.deepEqual(applyDelta(base, s).map((e) => e.id), [1, 2, 5, 10, 11]);
});

test("applyDelta rejects inconsistent snapshots", () => {
  const base = [ent(1, 0), ent(2, 0)];
  const cases = {
    "position past the baseline": { removed: [2] },
    "removed and changed": { removed: [0], changed: [0b0001], changedValues: [1] },
    "empty mask": { changed: [0 << 4], changedValues: [] },
    "values count": { changed: [0b0011], changedValues: [1] },
    "entered id in view": { enteredIds: [2], enteredKinds: [2], enteredValues: [0, 0, 0, 0] },
    "entered not ascending": { enteredIds: [5, 0], enteredKinds: [2, 2], enteredValues: new Array(8).fill(0) },
    "entered columns": { enteredIds: [5], enteredKinds: [], enteredValues: [] },
  };
  for (const [name, cols] of Object.entries(cases)) {
    assert.throws(() => applyDelta(base, create(SnapshotSchema, cols)), MalformedSnapshotError, name);
  }
  // A kind change is removed plus entered with the same id: valid.
  const kind = create(SnapshotSchema, { removed: [1], enteredIds: [2], enteredKinds: [1], enteredValues: [0, 0, 0, 0] });
  assert.deepEqual(applyDelta(base, kind).map((e) => e.kind), [2, 1]);
});

test("ViewRing refuses baselines out of the window or sharing the new tick's slot", () => {
  const r = new ViewRing(4);
  r.store(10, ["v10"]);
  assert.deepEqual(r.baseline(10, 12), ["v10"]);
  assert.equal(r.baseline(10, 14), null, "as old as the ring");
  assert.equal(r.baseline(10, 10), null, "not before the new tick");
  assert.equal(r.baseline(11, 12), null, "never stored");
});

test("InputHistory repeats the newest inputs and lists those after an acked one", () => {
  const h = new InputHistory(8);
  for (let i = 1; i <= 10; i++) h.push({ moveX: i, moveY: 0, buttons: 0 });
  assert.deepEqual(h.newest(3).map((i) => i.seq), [10, 9, 8]);
  assert.deepEqual(h.after(7).map((i) => i.seq), [8, 9, 10]);
  assert.deepEqual(h.after(10), []);
  assert.equal(h.after(0).length, 8, "only what the history still holds");
});

// As Go's ApplyDelta: a snapshot names at most MAX_ENTITIES_PER_SNAPSHOT entities in all its
// columns together, and kinds are bytes.
test("applyDelta refuses more entities than the limit and kinds above 255", () => {
  const entering = (n) => create(SnapshotSchema, {
    tick: 9, enteredIds: new Array(n).fill(1), enteredKinds: new Array(n).fill(255), enteredValues: new Array(4 * n).fill(0),
  });
  assert.equal(applyDelta([], entering(MAX_ENTITIES_PER_SNAPSHOT)).length, MAX_ENTITIES_PER_SNAPSHOT);
  assert.throws(() => applyDelta([], entering(MAX_ENTITIES_PER_SNAPSHOT + 1)), MalformedSnapshotError);
  // Counted over all columns: removed and changed entries too.
  const base = Array.from({ length: MAX_ENTITIES_PER_SNAPSHOT }, (_, i) => ent(i + 1, 0));
  const mixed = create(SnapshotSchema, {
    tick: 9, baselineTick: 8, removed: [0], changed: [(1 << 4) | 0b0001, ...new Array(MAX_ENTITIES_PER_SNAPSHOT - 2).fill(0b0001)], // positions 1, 2, ...
    changedValues: new Array(MAX_ENTITIES_PER_SNAPSHOT - 1).fill(1), enteredIds: [1 << 20], enteredKinds: [1], enteredValues: [0, 0, 0, 0],
  });
  assert.throws(() => applyDelta(base, mixed), MalformedSnapshotError);
  mixed.enteredIds = [];
  mixed.enteredKinds = [];
  mixed.enteredValues = [];
  assert.equal(applyDelta(base, mixed).length, MAX_ENTITIES_PER_SNAPSHOT - 1);

  const kind = (k) => create(SnapshotSchema, { tick: 9, enteredIds: [4], enteredKinds: [k], enteredValues: [0, 0, 0, 0] });
  assert.equal(applyDelta([], kind(255))[0].kind, 255);
  assert.throws(() => applyDelta([], kind(256)), MalformedSnapshotError);
  assert.throws(() => applyDelta([], kind(0xffffffff)), MalformedSnapshotError);
});

test("decodeSnapshot reads what toBinary writes and refuses bad headers", () => {
  const s = create(SnapshotSchema, {
    tick: 0xffffffff, baselineTick: 0xfffffffe, lastInputSeq: 7, serverTimeUs: 0x80000001,
    removed: [1, 300], changed: [0x1f], changedValues: [-1, 2, -3, 1 << 30],
    enteredIds: [5], enteredKinds: [255], enteredValues: [-(2 ** 31), 2 ** 31 - 1, -1, 0],
  });
  const d = decodeSnapshot(toBinary(SnapshotSchema, s));
  for (const k of Object.keys(d)) assert.deepEqual(d[k], s[k], k);
  for (const bad of [{}, { tick: 5, baselineTick: 5 }, { tick: 1, baselineTick: 2 }]) {
    assert.throws(() => decodeSnapshot(toBinary(SnapshotSchema, create(SnapshotSchema, bad))), MalformedSnapshotError);
  }
  assert.throws(() => decodeSnapshot(new Uint8Array([0x08, 0x80])), MalformedSnapshotError, "truncated varint");
});
