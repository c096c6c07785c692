// The golden vectors that Go's netcode tests write (netcode/testdata/golden, regenerated with
// `go test -run TestGolden ./netcode -update`), run through the browser's netcode.js: the same
// bytes must give the same views and the same errors, so the Go and JS decoders cannot drift.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { InputFrameSchema, InputSchema } from "../src/gen/tickrelay_pb.js";
import { InputHistory, MalformedSnapshotError, ViewRing, applyDelta, decodeSnapshot, seqAfter, tickGap } from "../src/netcode.js";

const golden = (name) => JSON.parse(readFileSync(new URL(`../../netcode/testdata/golden/${name}`, import.meta.url), "utf8"));
const fromHex = (h) => Uint8Array.from(h.match(/../g) ?? [], (b) => parseInt(b, 16));
const toHex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/** Runs a payload through decodeSnapshot and applyDelta, giving the verdict in the golden files' terms. */
function verdict(baseline, payload) {
  let s;
  try {
    s = decodeSnapshot(payload);
  } catch (err) {
    assert.ok(err instanceof MalformedSnapshotError, `decode threw ${err}`);
    return { error: "decode" };
  }
  const header = { tick: s.tick, baseline_tick: s.baselineTick, last_input_seq: s.lastInputSeq, server_time_us: s.serverTimeUs };
  try {
    return { error: "", header, view: applyDelta(baseline, s) };
  } catch (err) {
    assert.ok(err instanceof MalformedSnapshotError, `apply threw ${err}`);
    return { error: "apply", header };
  }
}

test("golden snapshots decode and apply as in Go", () => {
  const cases = golden("snapshots.json");
  assert.ok(cases.length >= 20, "the golden file holds its cases");
  for (const c of cases) {
    const baseline = c.baseline.map((e) => ({ ...e }));
    const got = verdict(baseline, fromHex(c.snapshot));
    assert.equal(got.error, c.error, `${c.name}: error`);
    if (c.header) assert.deepEqual(got.header, c.header, `${c.name}: header`);
    if (c.error === "") assert.deepEqual(got.view, c.view, `${c.name}: view`);
    assert.deepEqual(baseline, c.baseline, `${c.name}: the baseline is not modified`);
  }
});

test("golden mutations: corrupted payloads get Go's verdicts", () => {
  const { base, cases } = golden("mutations.json");
  assert.ok(cases.length >= 100);
  cases.forEach((c, i) => {
    const got = verdict(c.with_base ? base.map((e) => ({ ...e })) : [], fromHex(c.snapshot));
    assert.equal(got.error, c.error, `mutation ${i} (${c.snapshot}): error`);
    if (c.header) assert.deepEqual(got.header, c.header, `mutation ${i}: header`);
    if (c.error === "") assert.deepEqual(got.view, c.view, `mutation ${i}: view`);
  });
});

test("golden limits refuse what Go refuses", () => {
  for (const c of golden("limits.json")) {
    const n = c.entered;
    const s = {
      tick: 9, baselineTick: 0, removed: [], changed: [], changedValues: [],
      enteredIds: new Array(n).fill(1), enteredKinds: new Array(n).fill(0), enteredValues: new Array(4 * n).fill(0),
    };
    let error = "", len = 0;
    try {
      const view = applyDelta([], s);
      len = view.length;
      assert.equal(view[n - 1].id, n);
    } catch (err) {
      assert.ok(err instanceof MalformedSnapshotError, String(err));
      error = "apply";
    }
    assert.deepEqual({ error, len }, { error: c.error, len: c.len }, c.name);
  }
});

test("golden input frames: InputHistory fills the frames Go fills, byte for byte", () => {
  for (const c of golden("inputs.json")) {
    const h = new InputHistory(16);
    h.seq = c.start_seq;
    for (const p of c.pushes) h.push(p);
    const inputs = h.newest(c.n).map(({ moveX, moveY, buttons }) => create(InputSchema, { moveX, moveY, buttons }));
    const frame = create(InputFrameSchema, { seq: h.seq, ackTick: c.ack_tick, inputs });
    assert.equal(toHex(toBinary(InputFrameSchema, frame)), c.frame, c.name);
    const back = fromBinary(InputFrameSchema, fromHex(c.frame));
    assert.equal(back.seq, c.seq, c.name);
    assert.deepEqual(back.inputs.map(({ moveX, moveY, buttons }) => ({ moveX, moveY, buttons })), c.inputs, c.name);
  }
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
