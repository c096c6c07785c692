import assert from "node:assert/strict";
import { test } from "node:test";
import { History, drawGraph } from "../src/graph.js";

test("History turns running totals into per-sample rates", () => {
  const h = new History({ size: 4 });
  assert.equal(h.add(0, { rttMs: 30, bytes: 1000, skippedTicks: 2 }), null, "the first call only starts");
  const s = h.add(250, { rttMs: 31, bytes: 3500, skippedTicks: 5 });
  assert.deepEqual(s, { rttMs: 31, bytesPerSec: 10000, skipped: 3 });
  assert.equal(h.total, 1);
  const idle = h.add(500, { rttMs: 31, bytes: 3500, skippedTicks: 5 });
  assert.equal(idle.bytesPerSec, 0, "no bytes in the interval: zero, not the last rate");
  assert.equal(idle.skipped, 0);
});

test("History keeps the newest samples and counts all of them", () => {
  const h = new History({ size: 3 });
  for (let i = 0; i <= 5; i++) h.add(i * 100, { rttMs: i, bytes: i * 10, skippedTicks: 0 });
  assert.equal(h.total, 5);
  assert.deepEqual(h.samples.map((s) => s.rttMs), [3, 4, 5]);
  assert.equal(h.max("rttMs", 0), 5);
  assert.equal(h.max("rttMs", 10), 10, "the floor keeps a quiet graph from magnifying noise");
});

test("History counts totals that go backwards, as after a new session, as zero", () => {
  const h = new History();
  h.add(0, { rttMs: 0, bytes: 5000, skippedTicks: 9 });
  const s = h.add(100, { rttMs: 0, bytes: 10, skippedTicks: 0 });
  assert.equal(s.bytesPerSec, 0);
  assert.equal(s.skipped, 0);
  assert.equal(h.add(100, { rttMs: 0, bytes: 20, skippedTicks: 0 }), null, "no time passed: no sample");
});

test("drawGraph draws within the canvas", () => {
  const h = new History({ size: 5 });
  for (let i = 0; i <= 7; i++) h.add(i * 250, { rttMs: 20 + i, bytes: i * 2000, skippedTicks: i });
  const xs = [], ys = [];
  const rec = (x, y) => {
    xs.push(x);
    ys.push(y);
  };
  const ctx = {
    clearRect() {}, beginPath() {}, stroke() {},
    fillRect(x, y, w, hh) {
      rec(x, y);
      rec(x + w, y + hh);
    },
    moveTo: rec, lineTo: rec,
  };
  drawGraph(ctx, h, 200, 60);
  assert.ok(xs.length > 10);
  for (const x of xs) assert.ok(x >= 0 && x <= 200, `x ${x}`);
  for (const y of ys) assert.ok(y >= 0 && y <= 60, `y ${y}`);
});
