// Transport-free client logic, the browser's counterpart of Go's netcode package: wrap-safe tick
// arithmetic, snapshot decoding and delta application over a plan (plan.js) against baselines,
// entity views in real units, the baseline ring and the input history. Go's netcode tests write golden vectors (netcode/testdata/golden) that
// test/golden.test.js runs through this file, so that the two decoders cannot drift apart.

import { fromBinary } from "@bufbuild/protobuf";
import { InputFrameSchema } from "./gen/tickrelay_pb.js";
import { dequantize, inRange, quantize } from "./plan.js";

const TWO_32 = 2 ** 32;

/**
 * The most entities (entered, changed and removed together) one snapshot may name, as Go's
 * netcode.MaxEntitiesPerSnapshot: a hostile snapshot cannot make a client allocate without limit.
 */
export const MAX_ENTITIES_PER_SNAPSHOT = 1 << 16;

/** The largest entity kind (a byte, as Go's EntityState.Kind). */
export const MAX_KIND = 255;

/** The most inputs one input frame carries, as Go's netcode.MaxInputsPerFrame. */
export const MAX_INPUTS_PER_FRAME = 16;

/** Reports whether tick a comes after tick b in wrap-around (serial number) arithmetic. */
export function seqAfter(a, b) {
  return ((a - b) | 0) > 0;
}

/** Ticks strictly between an older tick a and a newer tick b (0 when consecutive or not newer). */
export function tickGap(a, b) {
  if (!seqAfter(b, a)) return 0;
  let d = (b - a) >>> 0;
  if (b < a) d--; // wrapped past the unused tick 0
  return d - 1;
}

/** Error for a snapshot inconsistent in itself or with its baseline. */
export class MalformedSnapshotError extends Error {
  constructor(msg) {
    super(`malformed snapshot: ${msg}`);
    this.name = "MalformedSnapshotError";
  }
}

// Protobuf wire types.
const WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_SGROUP = 3, WT_EGROUP = 4, WT_I32 = 5;

/** Field numbers of the Snapshot message's repeated uint32 and sint32 columns. */
const UINT32_COLUMNS = { 5: "removed", 6: "enteredIds", 7: "enteredKinds", 11: "alwaysRelevant", 12: "changedRare" };
const SINT32_COLUMNS = { 8: "enteredValues", 10: "changedValues" };

/**
 * Decodes a snapshot payload, the counterpart of Go's netcode.DecodeSnapshot, into an object with
 * the field names of the generated SnapshotSchema. It reads protobuf as Go's proto.Unmarshal does,
 * where @bufbuild/protobuf is more lenient: a known field with the wrong wire type is an unknown
 * field and ignored (not read as if it had the right one), and a packed list must end exactly at
 * its length. The uint64 changed entries are Numbers (exact below 2^53; larger ones have gaps no
 * baseline reaches, and applyDelta refuses them). Throws MalformedSnapshotError for bytes that do
 * not decode, tick 0 or a baseline not before the tick. The entity columns are checked by
 * applyDelta, against the entity plan.
 */
export function decodeSnapshot(bytes) {
  const s = {
    tick: 0, baselineTick: 0, lastInputSeq: 0, serverTimeUs: 0,
    removed: [], enteredIds: [], enteredKinds: [], enteredValues: [], changed: [], changedValues: [],
    changedRare: [], alwaysRelevant: [],
  };
  const r = new WireReader(bytes);
  while (r.pos < r.end) {
    const [no, wt] = r.tag();
    if (wt === WT_EGROUP) throw new MalformedSnapshotError("end group without start");
    if (no <= 3 && wt === WT_VARINT) {
      const v = r.varint();
      if (no === 1) s.tick = v;
      else if (no === 2) s.baselineTick = v;
      else s.lastInputSeq = v;
    } else if (no === 4 && wt === WT_I32) {
      s.serverTimeUs = r.fixed32();
    } else if (no in UINT32_COLUMNS && (wt === WT_VARINT || wt === WT_LEN)) {
      r.repeated(wt, s[UINT32_COLUMNS[no]], (v) => v);
    } else if (no === 9 && (wt === WT_VARINT || wt === WT_LEN)) {
      r.repeated(wt, s.changed, () => r.hi * TWO_32 + r.lo); // uint64: exact below 2^53 (see applyDelta)
    } else if (no in SINT32_COLUMNS && (wt === WT_VARINT || wt === WT_LEN)) {
      r.repeated(wt, s[SINT32_COLUMNS[no]], (v) => (v >>> 1) ^ -(v & 1));
    } else {
      r.skip(wt, no, 0);
    }
  }
  if (s.tick === 0) throw new MalformedSnapshotError("tick 0");
  if (s.baselineTick !== 0 && !seqAfter(s.tick, s.baselineTick)) {
    throw new MalformedSnapshotError(`baseline ${s.baselineTick} not before tick ${s.tick}`);
  }
  return s;
}

// WireReader reads protobuf wire format within [pos, end) with the limits of Go's protowire.
class WireReader {
  constructor(buf) {
    this.buf = buf;
    this.pos = 0;
    this.end = buf.length;
    this.big = false; // the last varint was 2^32 or more
    this.lo = 0; // the last varint's low 32 bits, unsigned
    this.hi = 0; // and its high 32 bits
  }

  /** Reads a varint of at most 10 bytes and returns its low 32 bits, unsigned. */
  varint() {
    let lo = 0, hi = 0;
    for (let i = 0; ; i++) {
      if (this.pos >= this.end) throw new MalformedSnapshotError("truncated varint");
      const b = this.buf[this.pos++];
      if (i < 4) lo |= (b & 0x7f) << (7 * i);
      else if (i === 4) {
        lo |= (b & 0x0f) << 28;
        hi = (b & 0x70) >> 4;
      } else hi |= (b & 0x7f) << (7 * i - 32);
      if (i === 9 && b > 1) throw new MalformedSnapshotError("varint overflows 64 bits");
      if (b < 0x80) {
        this.lo = lo >>> 0;
        this.hi = hi >>> 0;
        this.big = this.hi !== 0;
        return this.lo;
      }
    }
  }

  tag() {
    const v = this.varint();
    const no = v >>> 3, wt = v & 7;
    if (this.big || no === 0) throw new MalformedSnapshotError("invalid field number");
    if (wt > WT_I32) throw new MalformedSnapshotError(`invalid wire type ${wt}`);
    return [no, wt];
  }

  fixed32() {
    const p = this.take(4);
    return (this.buf[p] | (this.buf[p + 1] << 8) | (this.buf[p + 2] << 16) | (this.buf[p + 3] << 24)) >>> 0;
  }

  /** Advances past n bytes and returns where they start. */
  take(n) {
    if (n > this.end - this.pos) throw new MalformedSnapshotError("truncated field");
    const p = this.pos;
    this.pos += n;
    return p;
  }

  /** The length of a length-delimited field. */
  length() {
    const n = this.varint();
    if (this.big || n > this.end - this.pos) throw new MalformedSnapshotError("truncated field");
    return n;
  }

  /** Appends to list one varint (wt 0) or a packed run of them (wt 2), each mapped by f. */
  repeated(wt, list, f) {
    if (wt === WT_VARINT) {
      list.push(f(this.varint()));
      return;
    }
    const n = this.length();
    const outer = this.end;
    this.end = this.pos + n;
    try {
      while (this.pos < this.end) list.push(f(this.varint()));
    } finally {
      this.end = outer;
    }
  }

  /** Skips the value of an unknown field, groups included, as Go keeps it among unknown fields. */
  skip(wt, no, depth) {
    switch (wt) {
      case WT_VARINT: this.varint(); return;
      case WT_I64: this.take(8); return;
      case WT_I32: this.take(4); return;
      case WT_LEN: this.take(this.length()); return;
      case WT_SGROUP:
        if (depth >= 10000) throw new MalformedSnapshotError("groups nested too deep");
        for (;;) {
          const [n, t] = this.tag();
          if (t === WT_EGROUP) {
            if (n !== no) throw new MalformedSnapshotError("mismatched end group");
            return;
          }
          this.skip(t, n, depth + 1);
        }
      default:
        throw new MalformedSnapshotError("end group without start");
    }
  }
}

/**
 * An entity in a view: its quantized values in the plan's field order.
 * @typedef {{id: number, kind: number, fields: Int32Array}} EntityState
 */

/**
 * Applies the entity columns of a decoded Snapshot to the baseline view over the entity plan and
 * returns the new view, as Go's netcode.ApplyDelta. A view is an array of {id, kind, fields}
 * sorted by id, fields an Int32Array of the plan's quantized values. It checks what Go checks:
 * column lengths, masks nonzero and within their groups, rare masks one per flagged entry, the
 * values count, positions within the baseline, no entry both removed and changed, entered ids
 * ascending and new to the view, kinds bytes, and every value within its field's range. Throws
 * MalformedSnapshotError on any inconsistency; never returns a partial view, never modifies base.
 * @param {import("./plan.js").Plan} plan
 * @param {EntityState[]} base
 * @param {object} s a decoded snapshot (decodeSnapshot, or a generated Snapshot message)
 * @returns {EntityState[]}
 */
export function applyDelta(plan, base, s) {
  const nf = plan.fields.length;
  const F = plan.frequent.length, R = plan.rareFields.length;
  const nEntered = s.enteredIds.length;
  if (nEntered + s.changed.length + s.removed.length > MAX_ENTITIES_PER_SNAPSHOT) {
    throw new MalformedSnapshotError(`more than ${MAX_ENTITIES_PER_SNAPSHOT} entities`);
  }
  if (s.enteredKinds.length !== nEntered || s.enteredValues.length !== nf * nEntered) {
    throw new MalformedSnapshotError("entered columns differ in length");
  }
  for (const k of s.enteredKinds) {
    if (k > MAX_KIND) throw new MalformedSnapshotError(`entity kind ${k} out of range`);
  }
  // Split each changed entry into gap, frequent mask and rare flag. Entries are uint64: a value of
  // 2^53 or more is inexact as a Number, but its gap (at least 2^38) is past any baseline, so it
  // is refused whatever its low bits read as.
  const shift = 2 ** (F + 1);
  const nChanged = s.changed.length;
  const gaps = new Array(nChanged), masks = new Array(nChanged), rare = new Array(nChanged);
  const rareMasks = s.changedRare ?? [];
  let values = 0, ri = 0;
  for (let i = 0; i < nChanged; i++) {
    const c = Number(s.changed[i]);
    const low = c % shift;
    gaps[i] = Math.floor(c / shift);
    masks[i] = low % 2 ** F;
    let rm = 0;
    if (low >= 2 ** F) {
      if (ri >= rareMasks.length) throw new MalformedSnapshotError("fewer rare masks than flagged entries");
      rm = rareMasks[ri++];
      if (rm === 0 || rm >= 2 ** R) throw new MalformedSnapshotError(`rare mask ${rm} out of range`);
    }
    if (masks[i] === 0 && rm === 0) throw new MalformedSnapshotError("empty change mask");
    rare[i] = rm;
    values += popcount(masks[i]) + popcount(rm);
  }
  if (ri !== rareMasks.length) throw new MalformedSnapshotError("more rare masks than flagged entries");
  if (values !== s.changedValues.length) throw new MalformedSnapshotError("changed values count");

  const removed = positions(s.removed, base.length, (v) => v);
  const changed = positions(gaps, base.length, (v) => v);
  const out = [];
  let ei = 0, vi = 0;
  let enteredId = nEntered > 0 ? s.enteredIds[0] : 0;
  const emitEntered = () => {
    const fields = new Int32Array(nf);
    for (let k = 0; k < nf; k++) {
      fields[k] = s.enteredValues[nf * ei + k];
      checkRange(plan.fields[k], fields[k]);
    }
    out.push({ id: enteredId, kind: s.enteredKinds[ei], fields });
    ei++;
    if (ei < nEntered) {
      const d = s.enteredIds[ei];
      if (d === 0 || enteredId + d > 0xffffffff) throw new MalformedSnapshotError("entered ids do not ascend");
      enteredId += d;
    }
  };
  const applyGroup = (fields, mask, group) => {
    for (let k = 0; k < group.length; k++) {
      if (!(mask & (1 << k))) continue;
      const j = group[k], f = plan.fields[j];
      fields[j] = applyValue(f, fields[j], s.changedValues[vi++]);
      checkRange(f, fields[j]);
    }
  };
  for (let i = 0; i < base.length; i++) {
    const b = base[i];
    if (removed.pos === i) {
      if (changed.pos === i) throw new MalformedSnapshotError(`entry ${i} removed and changed`);
      removed.next();
      continue;
    }
    while (ei < nEntered && enteredId <= b.id) {
      if (enteredId === b.id) throw new MalformedSnapshotError(`entered id ${b.id} already in view`);
      emitEntered();
    }
    let e = b;
    if (changed.pos === i) {
      const k = changed.index;
      e = { id: b.id, kind: b.kind, fields: Int32Array.from(b.fields) };
      applyGroup(e.fields, masks[k], plan.frequent);
      applyGroup(e.fields, rare[k], plan.rareFields);
      changed.next();
    }
    out.push(e);
  }
  while (ei < nEntered) emitEntered();
  return out;
}

// applyValue applies one changed value d to the baseline value b: Angle wraps within its bits,
// every other kind adds with int32 wrap-around.
function applyValue(f, b, d) {
  if (f.kind === "a") {
    const n = f.qmax + 1;
    return ((((b + d) % n) + n) % n) | 0;
  }
  return (b + d) | 0;
}

function checkRange(f, v) {
  if (!inRange(f, v)) throw new MalformedSnapshotError(`field ${f.name}: value ${v} out of range`);
}

function popcount(m) {
  let n = 0;
  for (; m; m >>>= 1) n += m & 1;
  return n;
}

// positions walks a list of gaps between baseline positions; pos is -1 once the list is done and
// index is the current entry's index in the list.
function positions(list, n) {
  const p = {
    i: 0, index: -1, pos: -1, last: -1,
    next() {
      if (this.i >= list.length) {
        this.pos = -1;
        return;
      }
      this.index = this.i;
      const pos = this.last + 1 + Number(list[this.i++]);
      if (pos >= n) throw new MalformedSnapshotError(`position ${pos} past a baseline of ${n}`);
      this.pos = this.last = pos;
    },
  };
  p.next();
  return p;
}

/**
 * An entity in real units, keyed by the entity message's field localNames: {id, kind, x, y,
 * heading, state} for the arena. Owner-only fields of entities the viewer does not own read as
 * their quantized 0.
 * @param {import("./plan.js").Plan} plan
 * @param {EntityState} e
 * @returns {{id: number, kind: number, [field: string]: any}}
 */
export function entityView(plan, e) {
  const v = { id: e.id, kind: e.kind };
  const fs = plan.fields;
  for (let k = 0; k < fs.length; k++) v[fs[k].localName] = dequantize(fs[k], e.fields[k]);
  return v;
}

/**
 * Quantizes one of the game's input messages (or a plain object with its fields' localNames) with
 * the input plan, into an Int32Array in the plan's field order.
 * @param {import("./plan.js").Plan} plan
 * @param {object} msg
 * @returns {Int32Array}
 */
export function quantizeInput(plan, msg) {
  const out = new Int32Array(plan.fields.length);
  plan.fields.forEach((f, k) => {
    out[k] = quantize(f, msg[f.localName]);
  });
  return out;
}

/**
 * The input_values of an input frame: the inputs' quantized values (newest first, as given),
 * concatenated. At most MAX_INPUTS_PER_FRAME inputs.
 * @param {Int32Array[]} inputs quantized inputs, newest first
 * @returns {number[]}
 */
export function inputValues(inputs) {
  if (inputs.length > MAX_INPUTS_PER_FRAME) throw new RangeError(`more than ${MAX_INPUTS_PER_FRAME} inputs in a frame`);
  const out = [];
  for (const q of inputs) out.push(...q);
  return out;
}

/** Error for an input frame that does not decode or does not fit the input plan. */
export class BadInputFrameError extends Error {
  constructor(msg) {
    super(`bad input frame: ${msg}`);
    this.name = "BadInputFrameError";
  }
}

/**
 * Decodes an input datagram and checks it under the input plan, as Go's DecodeInputFrame: whole
 * inputs, at most MAX_INPUTS_PER_FRAME, a sequence if there are any, every value in range.
 * Returns {seq, ackTick, inputs} with inputs newest first (input i has sequence seq - i). Throws
 * BadInputFrameError.
 * @param {import("./plan.js").Plan} plan
 * @param {Uint8Array} bytes
 * @returns {{seq: number, ackTick: number, inputs: Int32Array[]}}
 */
export function decodeInputFrame(plan, bytes) {
  let f;
  try {
    f = fromBinary(InputFrameSchema, bytes);
  } catch (err) {
    throw new BadInputFrameError(String(err?.message ?? err));
  }
  const nf = plan.fields.length, values = f.inputValues;
  if (nf === 0 ? values.length !== 0 : values.length % nf !== 0) {
    throw new BadInputFrameError(`${values.length} values are not whole inputs of ${nf}`);
  }
  const n = nf === 0 ? 0 : values.length / nf;
  if (n > MAX_INPUTS_PER_FRAME) throw new BadInputFrameError(`${n} inputs, at most ${MAX_INPUTS_PER_FRAME}`);
  if (n > 0 && f.seq === 0) throw new BadInputFrameError("inputs with sequence 0");
  const vb = f.viewBack;
  if (vb.length !== 0 && vb.length !== n) throw new BadInputFrameError(`${vb.length} view times for ${n} inputs`);
  if (vb.length !== 0 && f.ackTick === 0) throw new BadInputFrameError("view times without an ack tick");
  vb.forEach((b, i) => {
    if (b > MAX_VIEW_BACK || b < -MAX_VIEW_BACK) throw new BadInputFrameError(`input ${i} view ${b}/256 ticks from the ack`);
  });
  const inputs = [];
  for (let i = 0; i < n; i++) {
    const q = Int32Array.from(values.slice(i * nf, (i + 1) * nf));
    q.forEach((v, k) => {
      if (!inRange(plan.fields[k], v)) throw new BadInputFrameError(`input ${i} field ${plan.fields[k].name} value ${v} out of range`);
    });
    inputs.push(q);
  }
  return { seq: f.seq, ackTick: f.ackTick, inputs, viewBack: Array.from(vb) };
}

/** How far from its frame's ack an input's view time may be, in 1/256 ticks (Go's MaxViewBack). */
export const MAX_VIEW_BACK = 4096 * 256;

/**
 * The view time of a fractional render tick (what the client draws: between two ticks), as Go's
 * netcode.ViewTime: the tick and the fraction towards the next one in 1/256. null for none.
 */
export function viewTime(renderTick) {
  if (renderTick === null || renderTick === undefined || !Number.isFinite(renderTick) || renderTick < 1) return null;
  const tick = Math.floor(renderTick);
  return { tick: tick >>> 0, frac: Math.min(255, Math.floor((renderTick - tick) * 256)) };
}

/**
 * The view_back values of a frame's records (newest first) against its ack tick, as Go's
 * InputHistory.Fill: one per record when every record has a view time and ack is not 0, else none.
 */
export function viewBacks(records, ack) {
  if (ack === 0 || records.some((r) => !r.view)) return [];
  return records.map((r) => {
    const d = ((r.view.tick - ack) | 0) * 256 + r.view.frac;
    return Math.max(-MAX_VIEW_BACK, Math.min(MAX_VIEW_BACK, -d));
  });
}

/** Keeps the views of the most recent ticks, as baselines for the snapshots to come. */
export class ViewRing {
  constructor(size) {
    this.slots = Array.from({ length: Math.max(size, 2) }, () => ({ tick: 0, view: null }));
  }

  /** The view stored for tick, if it is still held and less than a ring's length before now. */
  baseline(tick, now) {
    const n = this.slots.length;
    const d = (now - tick) | 0;
    if (d <= 0 || d >= n || tick % n === now % n) return null;
    const s = this.slots[tick % n];
    return s.tick === tick ? s.view : null;
  }

  store(tick, view) {
    const s = this.slots[tick % this.slots.length];
    s.tick = tick;
    s.view = view;
  }

  reset() {
    for (const s of this.slots) s.tick = 0;
  }
}

/**
 * The client's record of its newest inputs, resent in every input frame against loss. Each record
 * is {seq, input, values}: the input as the server will see it (the game's input in real units,
 * after quantization) and its quantized values.
 */
export class InputHistory {
  constructor(size = 16) {
    this.size = size;
    this.seq = 0;
    this.inputs = new Array(size);
  }

  /**
   * Records an input and returns its sequence number.
   * @param {object} input the input in real units
   * @param {Int32Array} [values] its quantized values
   * @param {{tick: number, frac: number} | null} [view] the view time it was sampled at (viewTime)
   */
  push(input, values = new Int32Array(0), view = null) {
    this.seq = (this.seq + 1) >>> 0 || 1;
    this.inputs[this.seq % this.size] = { seq: this.seq, input, values, view };
    return this.seq;
  }

  /** The newest n records, newest first. */
  newest(n) {
    const out = [];
    for (let i = 0; i < Math.min(n, this.size, this.seq); i++) {
      out.push(this.inputs[((this.seq - i) >>> 0) % this.size]);
    }
    return out;
  }

  /** Records newer than seq (the server's last applied), oldest first. */
  after(seq) {
    const out = [];
    for (let i = this.newest(this.size).length - 1; i >= 0; i--) {
      const inp = this.inputs[((this.seq - i) >>> 0) % this.size];
      if (inp && seqAfter(inp.seq, seq)) out.push(inp);
    }
    return out;
  }
}
