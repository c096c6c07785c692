// The replication plan, the browser's counterpart of Go's netcode.Plan: compiled once from a game's
// generated message descriptor (protoc-gen-es), it says which fields are replicated, how each is
// quantized, which change often and which seldom, and which are the entity's position. The plan's
// canonical form and its FNV-1a fingerprint (ID) are byte for byte those of Go, so a client and a
// room can tell at the hello whether they agree on the schema.

import { ScalarType, getOption, hasOption } from "@bufbuild/protobuf";
import { entity as entityOption, replicate } from "./gen/tickrelay/options_pb.js";

/** The most replicated fields per entity or input message, as Go's netcode.MaxFields. */
export const MAX_FIELDS = 14;

/** How a field is quantized: fixed point, angle, integer range, smallest-three quaternion. */
export const FieldKind = Object.freeze({ FIXED: "f", ANGLE: "a", INT: "i", QUAT: "q" });

/** Plane of an entity message's interest management, as tickrelay.v1.Plane. */
export const Plane = Object.freeze({ XY: 0, XZ: 1 });

const QUAT_NAME = "tickrelay.v1.Quat";
const AXIS_NAMES = ["", "x", "y", "z"];
const TWO_32 = 2 ** 32;
const INT32_MIN = -(2 ** 31), INT32_MAX = 2 ** 31 - 1;

/** Error for a message descriptor that cannot be compiled into a plan; names the field. */
export class PlanError extends Error {
  constructor(msg) {
    super(`netcode: ${msg}`);
    this.name = "PlanError";
  }
}

/**
 * A replicated field.
 * @typedef {object} PlanField
 * @property {string} name proto field name
 * @property {string} localName the generated message's property name
 * @property {number} number proto field number
 * @property {"f"|"a"|"i"|"q"} kind
 * @property {number} min Fixed: dequantized v = min + q*step; Int: the range's minimum
 * @property {number} max Fixed: the option's max; Int: the range's maximum
 * @property {number} step Fixed only
 * @property {number} bits Angle, Quat
 * @property {number} qmax largest quantized value (Fixed: [0, qmax]; Angle: 2^bits - 1; Int: max)
 * @property {boolean} ownerOnly
 * @property {boolean} rare
 * @property {number} axis 0 none, 1 x, 2 y, 3 z
 * @property {boolean} float32 the proto field is a float: values are rounded to float32 first
 * @property {boolean} bool the proto field is a bool
 */

/**
 * A compiled plan.
 * @typedef {object} Plan
 * @property {string} message the message's full name
 * @property {PlanField[]} fields replicated fields in field-number order; index = slot in a view's fields
 * @property {number[]} frequent indices of the fields coded in the first mask group, in field order
 * @property {number[]} rareFields indices of the rare fields, in field order
 * @property {number} x index of the x axis field; -1 if absent
 * @property {number} y index of the y axis field; -1 if absent
 * @property {number} z index of the z axis field; -1 if absent
 * @property {number} plane Plane.XY or Plane.XZ
 * @property {string} canonical the canonical form that id fingerprints
 * @property {number} id FNV-1a 32 of the canonical form, unsigned
 */

/**
 * Compiles an entity message's plan: the fields' rules and exactly the two axis fields of its
 * plane (a third, vertical one, is optional). Throws PlanError.
 * @param {import("@bufbuild/protobuf").DescMessage} desc
 * @returns {Plan}
 */
export function compileEntity(desc) {
  return compile(desc, true);
}

/**
 * Compiles an input message's plan: no axes, no owner-only or rare fields. Throws PlanError.
 * @param {import("@bufbuild/protobuf").DescMessage} desc
 * @returns {Plan}
 */
export function compileInput(desc) {
  return compile(desc, false);
}

function compile(desc, isEntity) {
  const fields = [];
  for (const f of [...desc.fields].sort((a, b) => a.number - b.number)) {
    const pf = compileField(desc, f, isEntity);
    if (pf) fields.push(pf);
  }
  if (fields.length > MAX_FIELDS) {
    throw new PlanError(`message ${desc.typeName} replicates ${fields.length} fields, at most ${MAX_FIELDS}`);
  }
  const plane = hasOption(desc, entityOption) ? getOption(desc, entityOption).plane : Plane.XY;
  const plan = makePlan(desc.typeName, fields, plane);
  if (!isEntity && fields.length === 0) throw new PlanError(`input message ${desc.typeName} replicates no field`);
  if (isEntity) {
    const second = plan.plane === Plane.XY ? "y" : "z";
    if (plan.x === -1 || plan[second] === -1) {
      throw new PlanError(`entity message ${desc.typeName} needs an x and a ${second} axis field`);
    }
  }
  return plan;
}

/**
 * Derives a plan from its message name, fields (in ascending number) and plane: the mask groups,
 * the axes and the fingerprint, as Go's Plan.init. compileEntity and compileInput use it; tests
 * build plans without a proto message with it.
 * @param {string} message
 * @param {PlanField[]} fields
 * @param {number} plane
 * @returns {Plan}
 */
export function makePlan(message, fields, plane = Plane.XY) {
  if (plane !== Plane.XY && plane !== Plane.XZ) throw new PlanError(`message ${message}: unknown plane ${plane}`);
  const plan = { message, fields, frequent: [], rareFields: [], x: -1, y: -1, z: -1, plane, canonical: "", id: 0 };
  fields.forEach((f, i) => {
    if (i > 0 && f.number <= fields[i - 1].number) throw new PlanError(`message ${message}: fields not in ascending number order`);
    (f.rare ? plan.rareFields : plan.frequent).push(i);
    if (f.axis) {
      const k = AXIS_NAMES[f.axis];
      if (plan[k] !== -1) throw new PlanError(`message ${message} has two ${k} axis fields`);
      plan[k] = i;
    }
  });
  plan.canonical = canonicalForm(plan);
  plan.id = fnv1a32(plan.canonical);
  return Object.freeze(plan);
}

// compileField checks one proto field against the rules and returns its plan entry, or null when
// it is skipped.
function compileField(desc, f, isEntity) {
  const where = `field ${desc.typeName}.${f.name}`;
  if (!hasOption(f, replicate)) throw new PlanError(`${where}: no (tickrelay.v1.replicate) option; add one, or {skip: true}`);
  const r = getOption(f, replicate);
  if (r.skip) return null;
  if (f.fieldKind === "list" || f.fieldKind === "map") throw new PlanError(`${where}: repeated fields and maps are not supported`);
  if (f.oneof || f.proto.proto3Optional) throw new PlanError(`${where}: oneof and optional fields are not supported`);
  if (!isEntity && (r.ownerOnly || r.rare || r.axis)) {
    throw new PlanError(`input ${where}: axis, owner_only and rare are for entities`);
  }
  const pf = {
    name: f.name, localName: f.localName, number: f.number, kind: "", min: 0, max: 0, step: 0, bits: 0, qmax: 0,
    ownerOnly: r.ownerOnly, rare: r.rare, axis: r.axis, float32: f.scalar === ScalarType.FLOAT,
    bool: f.scalar === ScalarType.BOOL,
  };
  const k = r.kind;
  switch (k.case) {
    case "fixed": {
      requireFloat(f, where, "fixed");
      const { min, max, step } = k.value;
      if (!(Number.isFinite(min) && Number.isFinite(max) && Number.isFinite(step) && step > 0 && max > min)) {
        throw new PlanError(`${where}: fixed range needs finite min < max and step > 0 (min ${min}, max ${max}, step ${step})`);
      }
      const qmax = roundAway((max - min) / step);
      if (!(qmax >= 1 && qmax <= INT32_MAX)) throw new PlanError(`${where}: fixed range has ${qmax} steps, want 1..${INT32_MAX}`);
      Object.assign(pf, { kind: "f", min, max, step, qmax });
      break;
    }
    case "angle": {
      requireFloat(f, where, "angle");
      const bits = k.value.bits;
      if (bits < 1 || bits > 16) throw new PlanError(`${where}: angle bits ${bits} out of range 1..16`);
      Object.assign(pf, { kind: "a", bits, qmax: 2 ** bits - 1 });
      break;
    }
    case "int": {
      const [lo, hi] = intDefaults(f, where);
      let min = k.value.min, max = k.value.max;
      if (pf.bool || (min === 0n && max === 0n)) [min, max] = [lo, hi]; // the type's range
      if (min > max || min < lo || max > hi) {
        throw new PlanError(`${where}: int range [${min}, ${max}] is empty or outside the field type's [${lo}, ${hi}]`);
      }
      Object.assign(pf, { kind: "i", min: Number(min), max: Number(max), qmax: Number(max) });
      break;
    }
    case "quaternion": {
      if (f.fieldKind !== "message" || f.message.typeName !== QUAT_NAME) {
        throw new PlanError(`${where}: quaternion needs a field of type ${QUAT_NAME}`);
      }
      const bits = k.value.bits;
      if (bits < 2 || bits > 10) throw new PlanError(`${where}: quaternion bits ${bits} out of range 2..10`);
      Object.assign(pf, { kind: "q", bits, qmax: -1 });
      break;
    }
    default:
      throw new PlanError(`${where}: replicate names no kind (fixed, angle, int, quaternion) and no skip`);
  }
  if (pf.axis && pf.kind !== "f") throw new PlanError(`${where}: an axis must be a fixed field`);
  if (pf.axis > 3) throw new PlanError(`${where}: unknown axis ${pf.axis}`);
  return pf;
}

function requireFloat(f, where, kind) {
  if (f.fieldKind !== "scalar" || (f.scalar !== ScalarType.FLOAT && f.scalar !== ScalarType.DOUBLE)) {
    throw new PlanError(`${where}: ${kind} needs a float or double field`);
  }
}

// intDefaults is the proto type's range, an int field's when its option gives none; and it
// rejects the types Go's plan does not read.
function intDefaults(f, where) {
  if (f.fieldKind === "enum") return [BigInt(INT32_MIN), BigInt(INT32_MAX)];
  if (f.fieldKind === "scalar") {
    switch (f.scalar) {
      case ScalarType.BOOL: return [0n, 1n];
      case ScalarType.INT32: case ScalarType.SINT32: case ScalarType.SFIXED32:
        return [BigInt(INT32_MIN), BigInt(INT32_MAX)];
      case ScalarType.UINT32: case ScalarType.FIXED32:
        return [0n, BigInt(TWO_32 - 1)];
      default: break;
    }
  }
  throw new PlanError(`${where}: int needs an int32, uint32, bool or enum field`);
}

/** Rounds half away from zero, as Go's math.Round. */
export function roundAway(v) {
  return v < 0 ? -Math.round(-v) : Math.round(v);
}

/**
 * The plan's canonical form (spec: `<message>;<number>:<name>:<kind>:<params>:<flags>...;plane=xy|xz`).
 * @param {Plan} plan
 */
export function canonicalForm(plan) {
  let s = plan.message;
  for (const f of plan.fields) {
    let params;
    switch (f.kind) {
      case "f": params = [f.min, f.max, f.step].map(float64Hex).join(","); break;
      case "i": params = `${f.min},${f.max}`; break;
      default: params = String(f.bits);
    }
    const flags = (f.ownerOnly ? "o" : "") + (f.rare ? "r" : "") + AXIS_NAMES[f.axis];
    s += `;${f.number}:${f.name}:${f.kind}:${params}:${flags}`;
  }
  return `${s};plane=${plan.plane === Plane.XZ ? "xz" : "xy"}`;
}

const f64 = new DataView(new ArrayBuffer(8));

/** The 16 lowercase hex digits of a float64's IEEE-754 bits. */
export function float64Hex(v) {
  f64.setFloat64(0, v);
  return f64.getUint32(0).toString(16).padStart(8, "0") + f64.getUint32(4).toString(16).padStart(8, "0");
}

/** FNV-1a 32 over a string's UTF-8 bytes, unsigned. */
export function fnv1a32(str) {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(str)) h = Math.imul(h ^ b, 0x01000193);
  return h >>> 0;
}

/**
 * Quantizes field f's value v (real units; a Quat {x,y,z,w} for quaternions) as Go's Plan.Read:
 * round half away from zero, clamp to the field's range, NaN as the range's 0.
 * @param {PlanField} f
 * @param {any} v
 * @returns {number} an int32
 */
export function quantize(f, v) {
  switch (f.kind) {
    case "f": {
      const x = f.float32 ? Math.fround(v) : Number(v);
      if (Number.isNaN(x)) return 0;
      return clamp(roundAway((x - f.min) / f.step), 0, f.qmax);
    }
    case "a": {
      const x = f.float32 ? Math.fround(v) : Number(v);
      const steps = 2 ** f.bits;
      let turns = x / (2 * Math.PI);
      turns -= Math.floor(turns); // [0, 1]; keeps the rounding in range for huge angles
      const q = roundAway(turns * steps);
      return q >= 0 && q < steps ? q : 0; // q == steps after rounding up, or NaN
    }
    case "i": {
      const x = typeof v === "boolean" ? Number(v) : Number(v ?? 0);
      if (Number.isNaN(x)) return clamp(0, f.min, f.max) | 0;
      return clamp(Math.trunc(x), f.min, f.max) | 0; // a uint32 range keeps its bits
    }
    default:
      return quantizeQuat(v ?? { x: 0, y: 0, z: 0, w: 1 }, f.bits);
  }
}

function clamp(v, lo, hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

/**
 * Field f's quantized value q in real units: Fixed min + q*step, Angle radians, Int the value in
 * [min, max] (uint32 ranges read as unsigned), Quat {x, y, z, w}.
 * @param {PlanField} f
 * @param {number} q
 */
export function dequantize(f, q) {
  switch (f.kind) {
    case "f": return f.min + q * f.step;
    case "a": return ((q & f.qmax) / 2 ** f.bits) * 2 * Math.PI;
    case "i": {
      const v = f.max > INT32_MAX ? q >>> 0 : q;
      return f.bool ? v !== 0 : v;
    }
    default: return dequantizeQuat(q, f.bits);
  }
}

/**
 * Reports whether q is within field f's range: Fixed [0, qmax], Int [min, max] (32-bit wrap), Angle
 * [0, 2^bits), Quat any.
 * @param {PlanField} f
 * @param {number} q an int32
 */
export function inRange(f, q) {
  switch (f.kind) {
    case "f": return q >= 0 && q <= f.qmax;
    case "a": return q >= 0 && q <= f.qmax;
    case "i": {
      const v = f.max > INT32_MAX ? q >>> 0 : q; // a uint32 range: the int32 holds the bits
      return v >= f.min && v <= f.max;
    }
    default: return true;
  }
}

// Quaternions are packed "smallest three", as Go's packQuat: the index (0..3 for x, y, z, w) of
// the component of largest magnitude in the top 2 of 2+3*bits bits, then the other three in x, y,
// z, w order, the first in the highest bits, each mapped from [-1/√2, 1/√2] to [0, 2^bits-1]. The
// sign makes the largest component positive; ties go to the lower index. The arithmetic follows
// Go's step by step so that both round alike.
const INV_SQRT2 = 1 / Math.SQRT2;

function quantizeQuat(q, bits) {
  let c = [q.x, q.y, q.z, q.w].map((v) => Math.fround(v));
  let n = Math.sqrt(c[0] * c[0] + c[1] * c[1] + c[2] * c[2] + c[3] * c[3]);
  if (!(n > 0) || n === Infinity) {
    c = [0, 0, 0, 1];
    n = 1;
  }
  let big = 0;
  for (let i = 1; i < 4; i++) if (Math.abs(c[i]) > Math.abs(c[big])) big = i;
  const sign = c[big] < 0 ? -1 / n : 1 / n;
  const top = 2 ** bits - 1;
  let out = big;
  for (let i = 0; i < 4; i++) {
    if (i === big) continue;
    const u = clamp(roundAway(((c[i] * sign + INV_SQRT2) / Math.SQRT2) * top), 0, top);
    out = out * 2 ** bits + u;
  }
  return out | 0;
}

function dequantizeQuat(q, bits) {
  const w = q >>> 0, mask = 2 ** bits - 1;
  const big = Math.floor(w / 2 ** (3 * bits)) & 3;
  const c = [0, 0, 0, 0];
  let sum = 0, shift = 2 * bits;
  for (let i = 0; i < 4; i++) {
    if (i === big) continue;
    const v = ((Math.floor(w / 2 ** shift) & mask) / mask) * Math.SQRT2 - INV_SQRT2;
    c[i] = v;
    sum += v * v;
    shift -= bits;
  }
  c[big] = Math.sqrt(Math.max(0, 1 - sum));
  return { x: c[0], y: c[1], z: c[2], w: c[3] };
}
