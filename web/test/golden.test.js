// The golden vectors that Go's netcode tests write (netcode/testdata/golden, regenerated with
// `go test -run TestGolden ./netcode -update`), run through the browser's plan.js and netcode.js:
// the same plans must compile to the same canonical forms and IDs, the same bytes must give the
// same views and the same errors, so the Go and JS codecs cannot drift.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { EntitySchema as ArenaEntity, InputSchema as ArenaInput } from "../src/gen/arena_pb.js";
import { BodySchema, FlatSchema, PadSchema } from "../src/gen/test_pb.js";
import { InputFrameSchema } from "../src/gen/tickrelay_pb.js";
import {
  BadInputFrameError, InputHistory, MalformedSnapshotError, ViewRing, applyDelta, decodeInputFrame, decodeSnapshot, seqAfter, viewBacks,
  tickGap,
} from "../src/netcode.js";
import { compileEntity, compileInput, dequantize, makePlan } from "../src/plan.js";

const goldenURL = (name) => new URL(`../../netcode/testdata/golden/${name}`, import.meta.url);
const golden = (name) => JSON.parse(readFileSync(goldenURL(name), "utf8"));
const fromHex = (h) => Uint8Array.from(h.match(/../g) ?? [], (b) => parseInt(b, 16));
const toHex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

// intField is a hand-built Int field, as Go's test plans declare them.
const intField = (name, number, min, max) => ({
  name, localName: name, number, kind: "i", min, max, step: 0, bits: 0, qmax: max, ownerOnly: false, rare: false, axis: 0,
  float32: false, bool: false,
});

/** The plans the golden files name, compiled here from the same messages as Go's (wide by hand). */
const plans = {
  arena: compileEntity(ArenaEntity),
  arena_input: compileInput(ArenaInput),
  body: compileEntity(BodySchema),
  flat: compileEntity(FlatSchema),
  pad: compileInput(PadSchema),
  wide: makePlan("tickrelay.test.Wide", [
    intField("x", 1, -(2 ** 31), 2 ** 31 - 1), intField("y", 2, -(2 ** 31), 2 ** 31 - 1),
    intField("heading", 3, 0, 2 ** 32 - 1), intField("state", 4, 0, 2 ** 32 - 1),
  ]),
};

// Go pins the arena's fingerprint in netcode/plan_test.go; so does this test.
test("the arena's plan has Go's canonical form and ID", () => {
  assert.equal(plans.arena.canonical, "tickrelay.arena.v1.Entity" +
    ";1:x:f:0000000000000000,40efffe000000000,3fd0000000000000:x" +
    ";2:y:f:0000000000000000,40efffe000000000,3fd0000000000000:y" +
    ";3:heading:a:8:;4:state:i:0,4294967295:r;plane=xy");
  assert.equal(plans.arena.id, 0x01a03d71);
});

test("golden plans: every plan Go compiled, compiled here alike", { skip: !existsSync(goldenURL("plans.json")) && "no plans.json yet" }, () => {
  const want = golden("plans.json");
  assert.ok(Object.keys(want).length >= 6);
  for (const [name, w] of Object.entries(want)) {
    const p = plans[name];
    assert.ok(p, `a JS plan for ${name}`);
    assert.equal(p.canonical, w.canonical, `${name}: canonical`);
    assert.equal(p.id, w.id, `${name}: id`);
    assert.equal(p.message, w.message, `${name}: message`);
    assert.equal(p.plane === 1 ? "xz" : "xy", w.plane, `${name}: plane`);
    assert.deepEqual([p.frequent, p.rareFields, p.x, p.y, p.z], [w.frequent, w.rare, w.x, w.y, w.z], `${name}: groups and axes`);
    assert.equal(p.fields.length, w.fields.length, `${name}: fields`);
    w.fields.forEach((wf, k) => {
      const f = p.fields[k];
      const at = `${name}.${wf.name}`;
      assert.deepEqual([f.name, f.number, f.kind, f.ownerOnly, f.rare, ["", "x", "y", "z"][f.axis]],
        [wf.name, wf.number, wf.kind, wf.owner_only, wf.rare, wf.axis], at);
      if (f.kind === "f") assert.deepEqual([f.min, f.max, f.step, f.qmax], [wf.min, wf.max, wf.step, wf.qmax], at);
      if (f.kind === "i") assert.deepEqual([f.min, f.max], [wf.min, wf.max], at);
      if (f.kind === "a" || f.kind === "q") assert.equal(f.bits, wf.bits, at);
      for (const [q, v] of wf.samples ?? []) {
        const got = dequantize(f, q);
        assert.equal(typeof got === "boolean" ? Number(got) : got, v, `${at}: dequantize(${q})`);
      }
    });
  }
});

/** Runs a payload through decodeSnapshot and applyDelta, giving the verdict in the golden files' terms. */
function verdict(plan, baseline, payload) {
  let s;
  try {
    s = decodeSnapshot(payload);
  } catch (err) {
    assert.ok(err instanceof MalformedSnapshotError, `decode threw ${err}`);
    return { error: "decode" };
  }
  const header = { tick: s.tick, baseline_tick: s.baselineTick, last_input_seq: s.lastInputSeq, server_time_us: s.serverTimeUs };
  try {
    return { error: "", header, view: applyDelta(plan, baseline, s).map(plain) };
  } catch (err) {
    assert.ok(err instanceof MalformedSnapshotError, `apply threw ${err}`);
    return { error: "apply", header };
  }
}

// The golden files' entities have plain arrays; views hold Int32Arrays.
const plain = (e) => ({ id: e.id, kind: e.kind, fields: Array.from(e.fields) });
const fromGolden = (view) => view.map((e) => ({ id: e.id, kind: e.kind, fields: Int32Array.from(e.fields) }));

test("golden snapshots decode and apply as in Go", () => {
  const cases = golden("snapshots.json");
  assert.ok(cases.length >= 40, "the golden file holds its cases");
  const seen = new Set();
  for (const c of cases) {
    const plan = plans[c.plan];
    assert.ok(plan, `${c.name}: plan ${c.plan}`);
    seen.add(c.plan);
    const baseline = fromGolden(c.baseline);
    const got = verdict(plan, baseline, fromHex(c.snapshot));
    assert.equal(got.error, c.error, `${c.name}: error`);
    if (c.header) assert.deepEqual(got.header, c.header, `${c.name}: header`);
    if (c.error === "") assert.deepEqual(got.view, c.view, `${c.name}: view`);
    assert.deepEqual(baseline.map(plain), c.baseline, `${c.name}: the baseline is not modified`);
  }
  assert.deepEqual([...seen].sort(), ["arena", "body", "wide"]);
});

test("golden mutations: corrupted payloads get Go's verdicts", () => {
  const { bases, cases } = golden("mutations.json");
  assert.ok(cases.length >= 100);
  cases.forEach((c, i) => {
    const got = verdict(plans[c.plan], c.with_base ? fromGolden(bases[c.plan]) : [], fromHex(c.snapshot));
    assert.equal(got.error, c.error, `mutation ${i} (${c.plan} ${c.snapshot}): error`);
    if (c.header) assert.deepEqual(got.header, c.header, `mutation ${i}: header`);
    if (c.error === "") assert.deepEqual(got.view, c.view, `mutation ${i}: view`);
  });
});

test("golden limits refuse what Go refuses", () => {
  for (const c of golden("limits.json")) {
    const plan = plans[c.plan], n = c.entered, nf = plan.fields.length;
    const s = {
      tick: 9, baselineTick: 0, removed: [], changed: [], changedRare: [], changedValues: [],
      enteredIds: new Array(n).fill(1), enteredKinds: new Array(n).fill(0), enteredValues: new Array(nf * n).fill(0),
    };
    let error = "", len = 0;
    try {
      const view = applyDelta(plan, [], s);
      len = view.length;
      assert.equal(view[n - 1].id, n);
    } catch (err) {
      assert.ok(err instanceof MalformedSnapshotError, String(err));
      error = "apply";
    }
    assert.deepEqual({ error, len }, { error: c.error, len: c.len }, c.name);
  }
});

test("golden input frames: InputHistory fills the frames Go fills, byte for byte, and refuses what Go refuses", () => {
  const cases = golden("inputs.json");
  let rejected = 0;
  for (const c of cases) {
    const plan = plans[c.plan];
    const h = new InputHistory(16);
    h.seq = c.start_seq;
    c.pushes.forEach((values, k) => {
      const v = c.views?.[k];
      h.push({}, Int32Array.from(values), v ? { tick: v.Tick, frac: v.Frac } : null);
    });
    const records = h.newest(c.n);
    const inputValues = records.flatMap((r) => Array.from(r.values));
    const viewBack = viewBacks(records, c.ack_tick);
    const frame = create(InputFrameSchema, { seq: h.seq, ackTick: c.ack_tick, inputValues, viewBack });
    assert.equal(toHex(toBinary(InputFrameSchema, frame)), c.frame, c.name);
    const back = decodeInputFrame(plan, fromHex(c.frame));
    assert.equal(back.seq, c.seq, c.name);
    assert.deepEqual(back.viewBack, c.view_back ?? [], c.name);
    assert.deepEqual(back.inputs.map((q) => Array.from(q)), c.inputs, c.name);
    for (const r of c.rejected ?? []) {
      assert.throws(() => decodeInputFrame(plan, fromHex(r.frame)), BadInputFrameError, `${c.name}: ${r.name}`);
      rejected++;
    }
  }
  assert.ok(rejected >= 5, "the golden file holds rejected frames");
});

test("golden tick arithmetic and baseline ring", () => {
  const { ticks, rings } = golden("ticks.json");
  for (const t of ticks) {
    assert.equal(seqAfter(t.a, t.b), t.seq_after, `seqAfter(${t.a}, ${t.b})`);
    assert.equal(tickGap(t.a, t.b), t.tick_gap, `tickGap(${t.a}, ${t.b})`);
  }
  for (const r of rings) {
    const ring = new ViewRing(r.size);
    for (const tick of r.stored) ring.store(tick, [{ id: tick }]);
    for (const q of r.queries) {
      const v = ring.baseline(q.tick, q.now);
      assert.equal(v !== null, q.held, `ring of ${r.size}: baseline(${q.tick}, ${q.now})`);
      if (v) assert.equal(v[0].id, q.tick);
    }
  }
});

// The fingerprints Go computes for its test plans, pinned as netcode/plan_test.go pins the
// arena's: a change to a test message shows here even before plans.json is regenerated.
test("the test messages' plans have the IDs Go computes", () => {
  assert.deepEqual(Object.fromEntries(Object.entries(plans).map(([n, p]) => [n, p.id])), {
    arena: 27278705, arena_input: 1412333412, body: 2892191310, flat: 4066619297, pad: 1013134465, wide: 782585581,
  });
});

// The messages netcode/plan_test.go compiles to errors, refused here with Go's words.
test("the test messages Go refuses are refused alike", async () => {
  const t = await import("../src/gen/test_pb.js");
  const cases = [
    [compileEntity, t.NoOptionSchema, "NoOption.bare: no (tickrelay.v1.replicate) option"],
    [compileInput, t.StringFieldSchema, "StringField.name: int needs"],
    [compileInput, t.RepeatedFieldSchema, "repeated fields"],
    [compileInput, t.MapFieldSchema, "repeated fields and maps"],
    [compileInput, t.Int64FieldSchema, "Int64Field.big: int needs"],
    [compileInput, t.OptionalFieldSchema, "optional"],
    [compileInput, t.OneofFieldSchema, "oneof"],
    [compileInput, t.WrongKindSchema, "WrongKind.f: int needs"],
    [compileInput, t.TooManySchema, "15 fields, at most 14"],
    [compileEntity, t.MissingAxisSchema, "needs an x and a y axis"],
    [compileEntity, t.AxisOffPlaneSchema, "needs an x and a z axis"],
    [compileInput, t.InputWithAxisSchema, "axis, owner_only and rare are for entities"],
    [compileInput, t.BadStepSchema, "step > 0"],
    [compileInput, t.BadBitsSchema, "bits 17 out of range"],
  ];
  for (const [compile, schema, want] of cases) {
    assert.throws(() => compile(schema), (err) => err.name === "PlanError" && err.message.includes(want), `${schema.typeName}: ${want}`);
  }
});
