// The plan compiled from protoc-gen-es descriptors: Go's rules and errors, and Go's canonical form
// and fingerprint (pinned for the arena here and, against Go's own, in golden.test.js).
import assert from "node:assert/strict";
import { test } from "node:test";
import { EntitySchema as ArenaEntity, InputSchema as ArenaInput } from "../src/gen/arena_pb.js";
import {
  MAX_FIELDS, PlanError, compileEntity, compileInput, dequantize, float64Hex, fnv1a32, inRange, quantize, roundAway,
} from "../src/plan.js";
import { T, angle, fixed, int, messageDesc, quat } from "./lib/descriptors.js";

const X = (more = {}) => ({ name: "x", number: 1, type: T.FLOAT, rep: fixed(0, 100, 0.5, { axis: 1, ...more }) });
const Y = (more = {}) => ({ name: "y", number: 2, type: T.FLOAT, rep: fixed(0, 100, 0.5, { axis: 2, ...more }) });
const Z = (more = {}) => ({ name: "z", number: 3, type: T.FLOAT, rep: fixed(0, 100, 0.5, { axis: 3, ...more }) });

test("FNV-1a 32 and float64 bits as the reference gives them", () => {
  assert.equal(fnv1a32(""), 0x811c9dc5);
  assert.equal(fnv1a32("a"), 0xe40c292c);
  assert.equal(fnv1a32("foobar"), 0xbf9cf968);
  assert.equal(fnv1a32("é"), fnv1a32("\u00e9"), "UTF-8 bytes");
  assert.equal(float64Hex(0.25), "3fd0000000000000");
  assert.equal(float64Hex(-1), "bff0000000000000");
  assert.equal(float64Hex(0), "0000000000000000");
  assert.equal(float64Hex(-0), "8000000000000000");
});

test("the arena's plans: fields, groups, axes and fingerprints", () => {
  const e = compileEntity(ArenaEntity);
  assert.equal(e.canonical, "tickrelay.arena.v1.Entity" +
    ";1:x:f:0000000000000000,40efffe000000000,3fd0000000000000:x" +
    ";2:y:f:0000000000000000,40efffe000000000,3fd0000000000000:y" +
    ";3:heading:a:8:;4:state:i:0,4294967295:r;plane=xy");
  assert.equal(e.id, fnv1a32(e.canonical));
  assert.deepEqual([e.frequent, e.rareFields, e.x, e.y, e.z], [[0, 1, 2], [3], 0, 1, -1]);
  assert.deepEqual(e.fields.map((f) => [f.localName, f.kind, f.qmax]), [
    ["x", "f", 262140], ["y", "f", 262140], ["heading", "a", 255], ["state", "i", 4294967295],
  ]);
  const i = compileInput(ArenaInput);
  assert.deepEqual(i.fields.map((f) => f.localName), ["moveX", "moveY", "buttons", "aim"]);
  assert.match(i.canonical, /^tickrelay\.arena\.v1\.Input;1:move_x:f:bff0000000000000,3ff0000000000000,[0-9a-f]{16}:;2:move_y:.*;3:buttons:i:0,255:;4:aim:a:10:;plane=xy$/);
  assert.notEqual(i.id, e.id);
});

test("any change to a replicated field changes the fingerprint; a skipped field does not", () => {
  const base = compileEntity(messageDesc([X(), Y()])).canonical.replace(/^[^;]*/, "");
  const ids = new Set();
  for (const fields of [
    [X(), Y()], [X(), Y({ rare: true })], [X(), Y({ ownerOnly: true })], [X(), { ...Y(), name: "why" }],
    [X(), { ...Y(), rep: fixed(0, 100, 0.25, { axis: 2 }) }], [X(), Y(), Z()],
  ]) {
    ids.add(compileEntity(messageDesc(fields)).canonical.replace(/^[^;]*/, ""));
  }
  assert.equal(ids.size, 6);
  const skipped = compileEntity(messageDesc([X(), Y(), { name: "note", number: 9, type: T.STRING, rep: { skip: true } }]));
  assert.equal(skipped.canonical.replace(/^[^;]*/, ""), base);
  assert.equal(compileEntity(messageDesc([X(), Z()], { plane: 1 })).canonical.endsWith(";plane=xz"), true);
});

// Each message breaks one rule; the error names the field (or the message for whole-plan rules).
test("compile refuses what Go's Compile refuses, naming the field", () => {
  const cases = [
    ["no replicate option", [X(), Y(), { name: "hp", number: 3, type: T.INT32 }], /hp/],
    ["string", [X(), Y(), { name: "s", number: 3, type: T.STRING, rep: int(0, 1) }], /\bs\b/],
    ["int64", [X(), Y(), { name: "big", number: 3, type: T.INT64, rep: int(0, 1) }], /big/],
    ["bytes", [X(), Y(), { name: "raw", number: 3, type: T.BYTES, rep: int(0, 1) }], /raw/],
    ["repeated", [X(), Y(), { name: "list", number: 3, type: T.INT32, repeated: true, rep: int(0, 1) }], /list/],
    ["optional", [X(), Y(), { name: "opt", number: 3, type: T.INT32, optional: true, rep: int(0, 1) }], /opt/],
    ["oneof", [X(), Y(), { name: "one", number: 3, type: T.INT32, oneof: "u", rep: int(0, 1) }], /one/],
    ["fixed on an int", [X(), Y(), { name: "n", number: 3, type: T.INT32, rep: fixed(0, 1, 1) }], /\bn\b/],
    ["fixed step 0", [X(), Y(), { name: "f", number: 3, type: T.FLOAT, rep: fixed(0, 1, 0) }], /\bf\b/],
    ["fixed max below min", [X(), Y(), { name: "f", number: 3, type: T.FLOAT, rep: fixed(1, 0, 0.1) }], /\bf\b/],
    ["fixed with 2^31 steps", [X(), Y(), { name: "f", number: 3, type: T.DOUBLE, rep: fixed(0, 2 ** 31, 1) }], /\bf\b/],
    ["angle bits 0", [X(), Y(), { name: "a", number: 3, type: T.FLOAT, rep: angle(0) }], /\ba\b/],
    ["angle bits 17", [X(), Y(), { name: "a", number: 3, type: T.FLOAT, rep: angle(17) }], /\ba\b/],
    ["angle on an int", [X(), Y(), { name: "a", number: 3, type: T.UINT32, rep: angle(8) }], /\ba\b/],
    ["int min above max", [X(), Y(), { name: "i", number: 3, type: T.INT32, rep: int(5, 1) }], /\bi\b/],
    ["int below a uint32's range", [X(), Y(), { name: "i", number: 3, type: T.UINT32, rep: int(-1, 5) }], /\bi\b/],
    ["int above an int32's range", [X(), Y(), { name: "i", number: 3, type: T.INT32, rep: int(0, 2 ** 31) }], /\bi\b/],
    ["fixed of no step", [X(), Y(), { name: "f", number: 3, type: T.FLOAT, rep: fixed(0, 0.1, 1) }], /\bf\b/],
    ["int on a float", [X(), Y(), { name: "i", number: 3, type: T.FLOAT, rep: int(0, 5) }], /\bi\b/],
    ["quaternion on a float", [X(), Y(), { name: "q", number: 3, type: T.FLOAT, rep: quat(8) }], /\bq\b/],
    ["quaternion bits 1", [X(), Y(), { name: "q", number: 3, type: T.MESSAGE, typeName: ".tickrelay.v1.Quat", rep: quat(1) }], /\bq\b/],
    ["quaternion bits 11", [X(), Y(), { name: "q", number: 3, type: T.MESSAGE, typeName: ".tickrelay.v1.Quat", rep: quat(11) }], /\bq\b/],
    ["no kind", [X(), Y(), { name: "k", number: 3, type: T.FLOAT, rep: { rare: true } }], /\bk\b/],
    ["axis on an angle", [X(), Y(), { name: "h", number: 3, type: T.FLOAT, rep: angle(8, { axis: 3 }) }], /\bh\b/],
    ["no y axis", [X()], /Msg/],
    ["two x axes", [X(), { ...Y(), rep: fixed(0, 1, 1, { axis: 1 }) }], /Msg/],
    ["15 fields", [X(), Y(), ...Array.from({ length: 13 }, (_, i) => ({ name: `f${i}`, number: 3 + i, type: T.BOOL, rep: int(0, 1) }))], /Msg/],
  ];
  for (const [name, fields, re] of cases) {
    assert.throws(() => compileEntity(messageDesc(fields)), (err) => err instanceof PlanError && re.test(err.message), name);
  }
  assert.throws(() => compileEntity(messageDesc([X(), Y()], { plane: 1 })), PlanError, "XZ plane without z");
  for (const more of [{ rare: true }, { ownerOnly: true }, { axis: 1 }]) {
    const f = { name: "v", number: 1, type: T.FLOAT, rep: fixed(0, 1, 0.5, more) };
    assert.throws(() => compileInput(messageDesc([f])), PlanError, JSON.stringify(more));
  }
  assert.throws(() => compileInput(messageDesc([{ name: "s", number: 1, type: T.STRING, rep: { skip: true } }])), PlanError, "no field");
  // The limit itself and a message without axes are fine for inputs.
  const fourteen = Array.from({ length: MAX_FIELDS }, (_, i) => ({ name: `b${i}`, number: i + 1, type: T.BOOL, rep: int(0, 1) }));
  assert.equal(compileInput(messageDesc(fourteen)).fields.length, MAX_FIELDS);
});

test("int ranges default to the field type's; a bool is always 0..1", () => {
  const p = compileInput(messageDesc([
    { name: "b", number: 1, type: T.BOOL, rep: int(0, 5) },
    { name: "s", number: 2, type: T.SINT32, rep: int(0, 0) },
    { name: "u", number: 3, type: T.UINT32, rep: int(0, 0) },
  ]));
  assert.deepEqual(p.fields.map((f) => [f.min, f.max]), [[0, 1], [-(2 ** 31), 2 ** 31 - 1], [0, 2 ** 32 - 1]]);
  const u = p.fields[2];
  assert.ok(inRange(u, -1) && dequantize(u, -1) === 2 ** 32 - 1, "a uint32 range holds its bits in the int32");
  assert.equal(quantize(u, 2 ** 32 - 1), -1);
  assert.equal(dequantize(p.fields[0], 1), true);
  assert.equal(quantize(p.fields[0], true), 1);
});

test("quantize rounds half away from zero and clamps; dequantize gives real units", () => {
  assert.deepEqual([roundAway(2.5), roundAway(-2.5), roundAway(0.49)], [3, -3, 0]);
  const p = compileEntity(messageDesc([
    { name: "x", number: 1, type: T.DOUBLE, rep: fixed(-10, 10, 0.5, { axis: 1 }) },
    { name: "y", number: 2, type: T.DOUBLE, rep: fixed(0, 10, 1, { axis: 2 }) },
    { name: "h", number: 3, type: T.DOUBLE, rep: angle(4) },
    { name: "r", number: 4, type: T.MESSAGE, typeName: ".tickrelay.v1.Quat", rep: quat(10) },
  ]));
  const [x, y, h, r] = p.fields;
  assert.deepEqual([quantize(x, -10), quantize(x, 10), quantize(x, 0.25), quantize(x, -0.25), quantize(x, 99), quantize(x, NaN)],
    [0, 40, 21, 20, 40, 0]);
  assert.equal(quantize(y, 2.5), 3, "half away from zero");
  assert.equal(dequantize(x, 21), 0.5);
  assert.equal(quantize(h, -Math.PI / 2), 12, "negative angles wrap");
  assert.equal(quantize(h, 2 * Math.PI), 0);
  assert.equal(dequantize(h, 4), Math.PI / 2);
  assert.ok(inRange(h, 15) && !inRange(h, 16) && !inRange(h, -1));
  const q = { x: 0.5, y: -0.5, z: 0.5, w: 0.5 };
  const back = dequantize(r, quantize(r, q));
  for (const k of ["x", "y", "z", "w"]) assert.ok(Math.abs(Math.abs(back[k]) - 0.5) < 2e-3, `${k} = ${back[k]}`);
  assert.ok(Math.abs(back.x * q.x + back.y * q.y + back.z * q.z + back.w * q.w) > 0.999, "the same rotation");
  const id = dequantize(r, quantize(r, undefined));
  assert.ok(Math.abs(id.w) > 0.999, "an absent quaternion is the identity");
});
