import assert from "node:assert/strict";
import { test } from "node:test";
import { arenaMove } from "../src/arena.js";
import { Interpolator, Predictor, angleDelta } from "../src/smooth.js";

const frame = (x, heading = 0) => new Map([[1, { id: 1, kind: 2, x, y: 0, heading }]]);

test("angleDelta takes the short way round", () => {
  assert.ok(Math.abs(angleDelta(0.1, 2 * Math.PI - 0.1) - -0.2) < 1e-9);
  assert.ok(Math.abs(angleDelta(3, -3) - (2 * Math.PI - 6)) < 1e-9);
});

test("Interpolator blends between the two ticks around the render tick", () => {
  const it = new Interpolator({ tickRate: 30 });
  it.push(10, frame(0, 0.1));
  it.push(12, frame(20, 2 * Math.PI - 0.1)); // tick 11 lost: still smooth
  const mid = it.sample(11).get(1);
  assert.equal(mid.x, 10);
  assert.ok(Math.abs(mid.heading) < 1e-9, "heading crosses 0, not the long way round");
  assert.equal(it.sample(5).get(1).x, 0, "before the oldest: hold the oldest");
  assert.equal(it.sample(99).get(1).x, 20, "after the newest: hold the newest");
  it.push(11, frame(1000)); // older than the newest: ignored
  assert.equal(it.sample(11).get(1).x, 10);
});

test("Interpolator's clock runs at the tick rate, a delay behind the newest tick", () => {
  const it = new Interpolator({ tickRate: 30, delayMs: 100 });
  it.push(100, frame(0));
  assert.equal(it.advance(0), 97);
  for (let t = 1; t <= 10; t++) it.push(100 + t, frame(t)); // ten ticks arrive over 1/3 s
  const t = it.advance(1000 / 3);
  assert.ok(Math.abs(t - 107) < 0.5, `render tick ${t}, want about 107`);
  it.push(1000, frame(0)); // after a long stall the clock jumps rather than crawls
  assert.equal(it.advance(1000 / 3 + 16), 997);
});

// A toy game's movement: moveX units per second along x.
const slide = (s, i, dt) => ({ ...s, x: s.x + i.moveX * dt });

test("Predictor on a clean link: reconciling changes nothing that is shown", () => {
  const pr = new Predictor({ move: slide, dt: 1 });
  pr.reconcile({ x: 0, y: 0 }, []);
  const inputs = [1, 2, 3, 4].map((v) => ({ moveX: v }));
  for (const i of inputs) pr.input(i);
  assert.deepEqual(pr.shown(), { x: 10, y: 0 });
  // The server has applied inputs 1 and 2 (x = 3); 3 and 4 are still pending.
  pr.reconcile({ x: 3, y: 0 }, inputs.slice(2));
  assert.deepEqual(pr.shown(), { x: 10, y: 0 });
  assert.equal(pr.lastCorrection, 0, "no rubber-banding");
});

test("Predictor spreads a correction instead of snapping", () => {
  const pr = new Predictor({ move: slide, dt: 1, correctionMs: 100 });
  pr.reconcile({ x: 0, y: 0 }, []);
  pr.input({ moveX: 10 });
  pr.reconcile({ x: 4, y: 0 }, []); // the server moved it less: 6 units to correct
  assert.equal(pr.lastCorrection, 6);
  assert.deepEqual(pr.shown(), { x: 10, y: 0 }, "at first still where it was shown");
  pr.decay(100);
  const x = pr.shown().x;
  assert.ok(x > 4 && x < 10, `after one time constant x = ${x}`);
  pr.decay(1000);
  assert.ok(Math.abs(pr.shown().x - 4) < 0.01);
});

test("Predictor runs the game's movement with the input interval, the arena's included", () => {
  const calls = [];
  const pr = new Predictor({ move: (s, i, dt) => { calls.push(dt); return slide(s, i, dt); }, dt: 1 / 30 });
  pr.reconcile({ x: 0, y: 0, heading: 0, state: 5 }, [{ moveX: 30 }]);
  assert.deepEqual(calls, [1 / 30]);
  assert.deepEqual(pr.shown(), { x: 1, y: 0, heading: 0, state: 5 }, "keys it does not smooth pass through");
  assert.throws(() => new Predictor({ dt: 1 }), TypeError);

  const move = arenaMove({ speed: 120, width: 100, height: 100 });
  const a = new Predictor({ move, dt: 0.5 });
  a.reconcile({ x: 50, y: 50, heading: 0 }, [{ moveX: 1, moveY: 1, buttons: 0 }]); // diagonal: length 1 after normalizing
  const s = a.shown();
  assert.ok(Math.abs(s.x - (50 + 60 / Math.SQRT2)) < 1e-9 && Math.abs(s.y - s.x) < 1e-9, `${s.x}, ${s.y}`);
  assert.ok(Math.abs(s.heading - Math.PI / 4) < 1e-9, "heads where it goes");
  a.input({ moveX: 1, moveY: 0 });
  assert.equal(a.shown().x, 100, "clamped to the world");
  a.input({ moveX: 0, moveY: 0 });
  assert.equal(a.shown().heading, 0, "standing still keeps the heading");
});
