import assert from "node:assert/strict";
import { test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { EntitySchema as ArenaEntity, InputSchema as ArenaInput } from "../src/gen/arena_pb.js";
import { InputFrameSchema, SnapshotSchema } from "../src/gen/tickrelay_pb.js";
import {
  BadInputFrameError, InputHistory, MAX_ENTITIES_PER_SNAPSHOT, MalformedSnapshotError, ViewRing, applyDelta,
  decodeInputFrame, decodeSnapshot, entityView, inputValues, quantizeInput, seqAfter, tickGap, viewBacks, viewTime,
} from "../src/netcode.js";
import { compileEntity, compileInput, inRange } from "../src/plan.js";
import { T, angle, fixed, int, messageDesc, quat } from "./lib/descriptors.js";
import { encodeDelta, marshal } from "./lib/encoder.js";

const arena = compileEntity(ArenaEntity);
// Arena fields: x, y (Fixed, q in [0, 262140]), heading (8-bit angle), state (rare uint32).
const ent = (id, x, y = 0, heading = 0, state = 0, kind = 2) => ({ id, kind, fields: Int32Array.of(x, y, heading, state) });
const snap = (cols) => create(SnapshotSchema, { tick: 9, baselineTick: 8, ...cols });
// An arena changed entry: gap << 4 | hasRare << 3 | frequent mask (x 1, y 2, heading 4).
const chg = (gap, mask, rare = false) => BigInt((gap << 4) | (rare ? 8 : 0) | mask);

test("tick arithmetic wraps and skips tick 0", () => {
  assert.ok(seqAfter(5, 3));
  assert.ok(!seqAfter(3, 5));
  assert.ok(seqAfter(1, 0xffffffff));
  assert.equal(tickGap(3, 4), 0);
  assert.equal(tickGap(3, 7), 3);
  assert.equal(tickGap(0xffffffff, 1), 0); // tick 0 is never used
  assert.equal(tickGap(7, 3), 0);
});

// Baseline [1, 4, 9, 12] at positions 0..3; target: 4 removed, 9 moved in x and y and its state
// changed (a rare field: its own mask), 12 unchanged, 20 entered.
test("applyDelta applies removed, changed (frequent and rare) and entered columns", () => {
  const base = [ent(1, 10), ent(4, 20), ent(9, 30, 5, 0, 7), ent(12, 40)];
  const s = snap({
    removed: [1], // position 1: id 4
    changed: [chg(2, 0b011, true)], changedRare: [1], // position 2: id 9, x, y and state
    changedValues: [3, -2, -8], // x, y, then state: 7 - 8 wraps to 2^32 - 1
    enteredIds: [20], enteredKinds: [1], enteredValues: [100, 200, 64, 7],
  });
  const view = applyDelta(arena, base, decodeSnapshot(toBinary(SnapshotSchema, s)));
  assert.deepEqual(view, [ent(1, 10), ent(9, 33, 3, 0, -1), ent(12, 40), ent(20, 100, 200, 64, 7, 1)]);
  assert.deepEqual(base[2], ent(9, 30, 5, 0, 7), "the baseline is not modified");
  assert.deepEqual(entityView(arena, view[1]), { id: 9, kind: 2, x: 8.25, y: 0.75, heading: 0, state: 2 ** 32 - 1 });
  assert.deepEqual(entityView(arena, view[3]), { id: 20, kind: 1, x: 25, y: 50, heading: Math.PI / 2, state: 7 });
});

test("angles wrap within their bits", () => {
  const base = [ent(1, 0, 0, 250)];
  const view = applyDelta(arena, base, snap({ changed: [chg(0, 0b100)], changedValues: [10] }));
  assert.equal(view[0].fields[2], 4, "250 + 10 wraps to 4 in 8 bits");
  const back = applyDelta(arena, view, snap({ changed: [chg(0, 0b100)], changedValues: [-10] }));
  assert.equal(back[0].fields[2], 250);
});

test("applyDelta keeps id order when entering between kept entities", () => {
  const base = [ent(2, 0), ent(10, 0)];
  const s = snap({ baselineTick: 0, enteredIds: [1, 4, 6], enteredKinds: [2, 2, 2], enteredValues: new Array(12).fill(0) });
  assert.deepEqual(applyDelta(arena, base, s).map((e) => e.id), [1, 2, 5, 10, 11]);
});

// Every check of Go's ApplyDelta, each with a snapshot that passes all the others.
test("applyDelta rejects inconsistent snapshots", () => {
  const base = [ent(1, 0), ent(2, 0)];
  const cases = {
    "position past the baseline": { removed: [2] },
    "removed and changed": { removed: [0], changed: [chg(0, 1)], changedValues: [1] },
    "empty mask": { changed: [chg(0, 0)], changedValues: [] },
    "values count": { changed: [chg(0, 0b011)], changedValues: [1] },
    "rare flag without a rare mask": { changed: [chg(0, 1, true)], changedValues: [1, 1] },
    "rare mask without a flag": { changed: [chg(0, 1)], changedRare: [1], changedValues: [1] },
    "rare mask zero": { changed: [chg(0, 0, true)], changedRare: [0], changedValues: [] },
    "rare mask past the rare group": { changed: [chg(0, 0, true)], changedRare: [2], changedValues: [1] },
    "changed x below its range": { changed: [chg(0, 1)], changedValues: [-1] },
    "changed x above its range": { changed: [chg(0, 1)], changedValues: [262141] },
    "entered x out of range": { enteredIds: [5], enteredKinds: [2], enteredValues: [-1, 0, 0, 0] },
    "entered heading out of range": { enteredIds: [5], enteredKinds: [2], enteredValues: [0, 0, 256, 0] },
    "entered id in view": { enteredIds: [2], enteredKinds: [2], enteredValues: [0, 0, 0, 0] },
    "entered not ascending": { enteredIds: [5, 0], enteredKinds: [2, 2], enteredValues: new Array(8).fill(0) },
    "entered ids overflow": { enteredIds: [0xffffffff, 1], enteredKinds: [2, 2], enteredValues: new Array(8).fill(0) },
    "entered columns": { enteredIds: [5], enteredKinds: [], enteredValues: [] },
    "entered values per field": { enteredIds: [5], enteredKinds: [2], enteredValues: [0, 0, 0] },
    "gap of 2^40": { changed: [BigInt(2 ** 40) << 4n | 1n], changedValues: [1] },
  };
  for (const [name, cols] of Object.entries(cases)) {
    assert.throws(() => applyDelta(arena, base, snap(cols)), MalformedSnapshotError, name);
    assert.throws(() => applyDelta(arena, base, decodeSnapshot(toBinary(SnapshotSchema, snap(cols)))),
      MalformedSnapshotError, `${name}, through the wire`);
  }
  // A kind change is removed plus entered with the same id: valid.
  const kind = snap({ removed: [1], enteredIds: [2], enteredKinds: [1], enteredValues: [0, 0, 0, 0] });
  assert.deepEqual(applyDelta(arena, base, kind).map((e) => e.kind), [2, 1]);
  // The upper end of every range is valid.
  const top = snap({ enteredIds: [5], enteredKinds: [2], enteredValues: [262140, 262140, 255, -1] });
  assert.equal(applyDelta(arena, base, top).length, 3);
});

test("a plan without rare fields keeps the rare bit, always 0", () => {
  const desc = messageDesc([
    { name: "x", number: 1, type: T.FLOAT, rep: fixed(0, 10, 1, { axis: 1 }) },
    { name: "y", number: 2, type: T.FLOAT, rep: fixed(0, 10, 1, { axis: 2 }) },
  ]);
  const p = compileEntity(desc);
  const base = [{ id: 1, kind: 0, fields: Int32Array.of(1, 1) }];
  const ok = applyDelta(p, base, snap({ changed: [0b010n], changedValues: [1] }) /* gap 0, no rare, y */);
  assert.deepEqual([...ok[0].fields], [1, 2]);
  assert.throws(() => applyDelta(p, base, snap({ changed: [0b101n], changedRare: [1], changedValues: [1, 1] })), MalformedSnapshotError);
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
  for (let i = 1; i <= 10; i++) h.push({ moveX: i }, Int32Array.of(i));
  assert.deepEqual(h.newest(3).map((r) => r.seq), [10, 9, 8]);
  assert.deepEqual(h.newest(2).map((r) => [...r.values]), [[10], [9]]);
  assert.deepEqual(h.after(7).map((r) => r.input.moveX), [8, 9, 10]);
  assert.deepEqual(h.after(10), []);
  assert.equal(h.after(0).length, 8, "only what the history still holds");
});

test("input frames carry the input plan's values, newest first, and are checked", () => {
  const p = compileInput(ArenaInput);
  const a = quantizeInput(p, { moveX: 1, moveY: -1, buttons: 3, aim: Math.PI });
  const b = quantizeInput(p, create(ArenaInput, { moveX: 0.5, moveY: Number.NaN, buttons: 999 }));
  assert.deepEqual([...a], [254, 0, 3, 512]);
  assert.deepEqual([...b], [190, 0, 255, 0], "NaN is the range's 0; values are clamped");
  const values = inputValues([b, a]);
  assert.deepEqual(values, [190, 0, 255, 0, 254, 0, 3, 512]);
  const frame = (seq, inputValues, viewBack = []) =>
    toBinary(InputFrameSchema, create(InputFrameSchema, { seq, ackTick: 4, inputValues, viewBack }));
  assert.deepEqual(decodeInputFrame(p, frame(9, values)), { seq: 9, ackTick: 4, inputs: [b, a], viewBack: [] });
  assert.deepEqual(decodeInputFrame(p, frame(9, values, [3, -2])).viewBack, [3, -2]);
  assert.throws(() => decodeInputFrame(p, frame(9, values, [3])), BadInputFrameError, "a view time short");
  assert.throws(() => decodeInputFrame(p, frame(9, [1, 2])), BadInputFrameError, "not a whole input");
  assert.throws(() => decodeInputFrame(p, frame(9, [255, 0, 0, 0])), BadInputFrameError, "move_x past 254");
  assert.throws(() => decodeInputFrame(p, frame(9, new Array(4 * 17).fill(0))), BadInputFrameError, "17 inputs");
  assert.throws(() => decodeInputFrame(p, frame(0, values)), BadInputFrameError, "sequence 0");
  assert.throws(() => inputValues(new Array(17).fill(a)), RangeError);
});

test("view times: a render tick becomes a tick and 1/256, sent as a back from the ack", () => {
  assert.deepEqual(viewTime(41.5), { tick: 41, frac: 128 });
  assert.equal(viewTime(null), null);
  assert.equal(viewTime(0.5), null, "before the first tick");
  const recs = [{ view: { tick: 40, frac: 64 } }, { view: { tick: 39, frac: 0 } }];
  assert.deepEqual(viewBacks(recs, 42), [2 * 256 - 64, 3 * 256]);
  assert.deepEqual(viewBacks([...recs, { view: null }], 42), [], "an input without a view: none");
  assert.deepEqual(viewBacks(recs, 0), [], "no ack: none");
});

// As Go's ApplyDelta: a snapshot names at most MAX_ENTITIES_PER_SNAPSHOT entities in all its
// columns together, and kinds are bytes.
test("applyDelta refuses more entities than the limit and kinds above 255", () => {
  const entering = (n) => ({
    tick: 9, baselineTick: 0, removed: [], changed: [], changedRare: [], changedValues: [],
    enteredIds: new Array(n).fill(1), enteredKinds: new Array(n).fill(255), enteredValues: new Array(4 * n).fill(0),
  });
  assert.equal(applyDelta(arena, [], entering(MAX_ENTITIES_PER_SNAPSHOT)).length, MAX_ENTITIES_PER_SNAPSHOT);
  assert.throws(() => applyDelta(arena, [], entering(MAX_ENTITIES_PER_SNAPSHOT + 1)), MalformedSnapshotError);
  const kind = (k) => snap({ enteredIds: [4], enteredKinds: [k], enteredValues: [0, 0, 0, 0] });
  assert.equal(applyDelta(arena, [], kind(255))[0].kind, 255);
  assert.throws(() => applyDelta(arena, [], kind(256)), MalformedSnapshotError);
  assert.throws(() => applyDelta(arena, [], kind(0xffffffff)), MalformedSnapshotError);
});

test("decodeSnapshot reads what toBinary writes, 64-bit changed entries included, and refuses bad headers", () => {
  const s = create(SnapshotSchema, {
    tick: 0xffffffff, baselineTick: 0xfffffffe, lastInputSeq: 7, serverTimeUs: 0x80000001,
    removed: [1, 300], changed: [0x1fn, 2n ** 40n + 5n, 2n ** 53n - 1n], changedRare: [3, 1], changedValues: [-1, 2, -3, 1 << 30],
    enteredIds: [5], enteredKinds: [255], enteredValues: [-(2 ** 31), 2 ** 31 - 1, -1, 0], alwaysRelevant: [4, 1],
  });
  const d = decodeSnapshot(toBinary(SnapshotSchema, s));
  for (const k of Object.keys(d)) {
    const want = k === "changed" ? s.changed.map(Number) : s[k];
    assert.deepEqual(d[k], want, k);
  }
  for (const bad of [{}, { tick: 5, baselineTick: 5 }, { tick: 1, baselineTick: 2 }]) {
    assert.throws(() => decodeSnapshot(toBinary(SnapshotSchema, create(SnapshotSchema, bad))), MalformedSnapshotError);
  }
  assert.throws(() => decodeSnapshot(new Uint8Array([0x08, 0x80])), MalformedSnapshotError, "truncated varint");
});

// A deterministic generator, so that a failure names a seed that reproduces it.
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

// randomPlan draws an entity message: the two plane axes, maybe a vertical one, and up to 12 more
// fields of every kind, frequent or rare, some owner-only.
function randomPlan(r) {
  const xz = r() < 0.5;
  const fields = [];
  const num = () => fields.length + 1;
  const axes = xz ? [1, 3] : [1, 2];
  if (r() < 0.3) axes.push(xz ? 2 : 3);
  for (const axis of axes) {
    fields.push({ name: `p${axis}`, number: num(), type: T.FLOAT, rep: fixed(-100 * r(), 1 + 1000 * r(), 0.01 + r(), { axis }) });
  }
  const extra = Math.floor(r() * (15 - fields.length));
  for (let i = 0; i < extra; i++) {
    const more = { rare: r() < 0.3, ownerOnly: r() < 0.2 };
    const n = num();
    const pick = r();
    if (pick < 0.25) fields.push({ name: `f${n}`, number: n, type: T.DOUBLE, rep: fixed(-5, 5, 0.001, more) });
    else if (pick < 0.5) fields.push({ name: `f${n}`, number: n, type: T.FLOAT, rep: angle(1 + Math.floor(r() * 16), more) });
    else if (pick < 0.65) fields.push({ name: `f${n}`, number: n, type: T.UINT32, rep: int(0, 4294967295, more) });
    else if (pick < 0.8) fields.push({ name: `f${n}`, number: n, type: T.SINT32, rep: int(-1000, 1000, more) });
    else if (pick < 0.9) fields.push({ name: `f${n}`, number: n, type: T.BOOL, rep: int(0, 0, more) });
    else fields.push({ name: `f${n}`, number: n, type: T.MESSAGE, typeName: ".tickrelay.v1.Quat", rep: quat(2 + Math.floor(r() * 9), more) });
  }
  if (r() < 0.3) fields.push({ name: "server_only", number: num(), type: T.STRING, rep: { skip: true } });
  return compileEntity(messageDesc(fields, { plane: xz ? 1 : 0 }));
}

// randomValue draws a quantized value within field f's range, often at its ends.
function randomValue(r, f) {
  const u = r();
  switch (f.kind) {
    case "f": return u < 0.1 ? 0 : u < 0.2 ? f.qmax : Math.floor(r() * (f.qmax + 1));
    case "a": return u < 0.2 ? f.qmax : Math.floor(r() * (f.qmax + 1));
    case "i": return (u < 0.1 ? f.min : u < 0.2 ? f.max : f.min + Math.floor(r() * (f.max - f.min + 1))) | 0;
    default: return (r() * 2 ** 32) | 0;
  }
}

function randomView(r, plan, ids) {
  return ids.map((id) => ({
    id, kind: Math.floor(r() * 3), fields: Int32Array.from(plan.fields, (f) => randomValue(r, f)),
  }));
}

// An owner-only field reads as 0 for every entity but the owner's.
function asSeenBy(plan, view, owner) {
  return view.map((e) => (e.id === owner ? e : {
    ...e, fields: Int32Array.from(e.fields, (v, k) => (plan.fields[k].ownerOnly ? 0 : v)),
  }));
}

test("property: encode and apply round trip over random plans and views", () => {
  for (let seed = 1; seed <= 300; seed++) {
    const r = rng(seed);
    const plan = randomPlan(r);
    const pool = Array.from({ length: 40 }, (_, i) => i * 3 + 1 + Math.floor(r() * 3));
    const pickIds = () => pool.filter(() => r() < 0.6);
    const base = randomView(r, plan, pickIds());
    // The target keeps some of base (some unchanged, some changed in a few fields), drops others, enters new ones.
    const target = [];
    for (const id of pickIds()) {
      const b = base.find((e) => e.id === id);
      if (b && r() < 0.7) {
        const fields = Int32Array.from(b.fields);
        for (let k = 0; k < fields.length; k++) if (r() < 0.3) fields[k] = randomValue(r, plan.fields[k]);
        target.push({ id, kind: r() < 0.1 ? (b.kind + 1) % 3 : b.kind, fields });
      } else {
        target.push(...randomView(r, plan, [id]));
      }
    }
    const owner = target.length && r() < 0.5 ? target[Math.floor(r() * target.length)].id : 0;
    for (const e of target) for (let k = 0; k < e.fields.length; k++) assert.ok(inRange(plan.fields[k], e.fields[k]));
    const seenBase = asSeenBy(plan, base, owner);
    const s = encodeDelta(plan, { tick: 20, baselineTick: 19 }, seenBase, target, owner);
    const got = applyDelta(plan, seenBase, decodeSnapshot(marshal(s)));
    assert.deepEqual(got, asSeenBy(plan, target, owner), `seed ${seed}: ${plan.canonical}`);
    const full = encodeDelta(plan, { tick: 20 }, [], target, owner);
    assert.deepEqual(applyDelta(plan, [], decodeSnapshot(marshal(full))), asSeenBy(plan, target, owner), `seed ${seed}: full`);
    // Views in real units: every replicated field by its localName.
    for (const e of got) {
      const v = entityView(plan, e);
      assert.deepEqual(Object.keys(v), ["id", "kind", ...plan.fields.map((f) => f.localName)]);
    }
  }
});

test("property: a corrupted value is refused or in range, never out of range", () => {
  for (let seed = 1; seed <= 200; seed++) {
    const r = rng(seed + 1000);
    const plan = randomPlan(r);
    const base = randomView(r, plan, [1, 2, 3, 4, 5]);
    const target = base.map((e) => ({ ...e, fields: Int32Array.from(plan.fields, (f) => randomValue(r, f)) }));
    const s = encodeDelta(plan, { tick: 20, baselineTick: 19 }, base, target);
    if (s.changedValues.length === 0) continue;
    s.changedValues[Math.floor(r() * s.changedValues.length)] += r() < 0.5 ? 2 ** 20 : -(2 ** 20);
    try {
      for (const e of applyDelta(plan, base, decodeSnapshot(marshal(s)))) {
        e.fields.forEach((v, k) => assert.ok(inRange(plan.fields[k], v), `seed ${seed}: ${plan.fields[k].name} = ${v}`));
      }
    } catch (err) {
      assert.ok(err instanceof MalformedSnapshotError, String(err));
    }
  }
});
