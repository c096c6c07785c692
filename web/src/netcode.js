// Transport-free client logic, the browser's counterpart of Go's netcode package: wrap-safe tick
// arithmetic, snapshot decoding and delta application against baselines, the baseline ring and the
// input history. Go's netcode tests write golden vectors (netcode/testdata/golden) that
// test/golden.test.js runs through this file, so that the two decoders cannot drift apart.

/** Number of bits above which a changed entry's gap starts (below: the field mask). */
const CHANGE_GAP_SHIFT = 4;
const FIELD_X = 1, FIELD_Y = 2, FIELD_HEADING = 4, FIELD_STATE = 8;

/**
 * The most entities (entered, changed and removed together) one snapshot may name, as Go's
 * netcode.MaxEntitiesPerSnapshot: a hostile snapshot cannot make a client allocate without limit.
 */
export const MAX_ENTITIES_PER_SNAPSHOT = 1 << 16;

/** The largest entity kind (a byte, as Go's EntityState.Kind). */
export const MAX_KIND = 255;

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
const UINT32_COLUMNS = { 5: "removed", 6: "enteredIds", 7: "enteredKinds", 9: "changed" };
const SINT32_COLUMNS = { 8: "enteredValues", 10: "changedValues" };

/**
 * Decodes a snapshot payload, the counterpart of Go's netcode.DecodeSnapshot, into an object with
 * the field names of the generated SnapshotSchema. It reads protobuf as Go's proto.Unmarshal does,
 * where @bufbuild/protobuf is more lenient: a known field with the wrong wire type is an unknown
 * field and ignored (not read as if it had the right one), and a packed list must end exactly at
 * its length. Throws MalformedSnapshotError for bytes that do not decode, tick 0 or a baseline not
 * before the tick. The entity columns are checked by applyDelta.
 */
export function decodeSnapshot(bytes) {
  const s = {
    tick: 0, baselineTick: 0, lastInputSeq: 0, serverTimeUs: 0,
    removed: [], enteredIds: [], enteredKinds: [], enteredValues: [], changed: [], changedValues: [],
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
  }

  /** Reads a varint of at most 10 bytes and returns its low 32 bits, unsigned. */
  varint() {
    let lo = 0, big = false;
    for (let i = 0; ; i++) {
      if (this.pos >= this.end) throw new MalformedSnapshotError("truncated varint");
      const b = this.buf[this.pos++];
      if (i < 4) lo |= (b & 0x7f) << (7 * i);
      else if (i === 4) {
        lo |= (b & 0x0f) << 28;
        if (b & 0x70) big = true;
      } else if (b & 0x7f) big = true;
      if (i === 9 && b > 1) throw new MalformedSnapshotError("varint overflows 64 bits");
      if (b < 0x80) {
        this.big = big;
        return lo >>> 0;
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
 * Applies the entity columns of a decoded Snapshot to the baseline view and returns the new view.
 * A view is an array of {id, kind, x, y, heading, state} sorted by id. Throws
 * MalformedSnapshotError on any inconsistency; never returns a partial view.
 */
export function applyDelta(base, s) {
  const nEntered = s.enteredIds.length;
  if (nEntered + s.changed.length + s.removed.length > MAX_ENTITIES_PER_SNAPSHOT) {
    throw new MalformedSnapshotError(`more than ${MAX_ENTITIES_PER_SNAPSHOT} entities`);
  }
  if (s.enteredKinds.length !== nEntered || s.enteredValues.length !== 4 * nEntered) {
    throw new MalformedSnapshotError("entered columns differ in length");
  }
  for (const k of s.enteredKinds) {
    if (k > MAX_KIND) throw new MalformedSnapshotError(`entity kind ${k} out of range`);
  }
  let values = 0;
  for (const c of s.changed) {
    const m = c & 0xf;
    if (m === 0) throw new MalformedSnapshotError("empty change mask");
    values += (m & 1) + ((m >> 1) & 1) + ((m >> 2) & 1) + ((m >> 3) & 1);
  }
  if (values !== s.changedValues.length) throw new MalformedSnapshotError("changed values count");

  const removed = positions(s.removed, 0, base.length);
  const changed = positions(s.changed, CHANGE_GAP_SHIFT, base.length);
  const out = [];
  let ei = 0, vi = 0;
  let enteredId = nEntered > 0 ? s.enteredIds[0] : 0;
  const emitEntered = () => {
    const v = 4 * ei;
    out.push({
      id: enteredId, kind: s.enteredKinds[ei],
      x: s.enteredValues[v], y: s.enteredValues[v + 1],
      heading: s.enteredValues[v + 2] >>> 0, state: s.enteredValues[v + 3] >>> 0,
    });
    ei++;
    if (ei < nEntered) {
      const d = s.enteredIds[ei];
      if (d === 0 || enteredId + d > 0xffffffff) throw new MalformedSnapshotError("entered ids do not ascend");
      enteredId += d;
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
      e = { ...b };
      const m = changed.mask;
      if (m & FIELD_X) e.x = (e.x + s.changedValues[vi++]) | 0;
      if (m & FIELD_Y) e.y = (e.y + s.changedValues[vi++]) | 0;
      if (m & FIELD_HEADING) e.heading = (e.heading + s.changedValues[vi++]) >>> 0;
      if (m & FIELD_STATE) e.state = (e.state + s.changedValues[vi++]) >>> 0;
      changed.next();
    }
    out.push(e);
  }
  while (ei < nEntered) emitEntered();
  return out;
}

// positions walks a gap-coded list of baseline positions; pos is -1 once the list is done.
function positions(list, shift, n) {
  const p = {
    i: 0, pos: -1, last: -1, mask: 0,
    next() {
      if (this.i >= list.length) {
        this.pos = -1;
        return;
      }
      const v = list[this.i++];
      const pos = this.last + 1 + Math.floor(v / 2 ** shift);
      if (pos >= n) throw new MalformedSnapshotError(`position ${pos} past a baseline of ${n}`);
      this.pos = this.last = pos;
      this.mask = v & ((1 << shift) - 1);
    },
  };
  p.next();
  return p;
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

/** The client's record of its newest inputs, resent in every input frame against loss. */
export class InputHistory {
  constructor(size = 16) {
    this.size = size;
    this.seq = 0;
    this.inputs = new Array(size);
  }

  /** Records input {moveX, moveY, buttons} and returns its sequence number. */
  push(input) {
    this.seq = (this.seq + 1) >>> 0 || 1;
    this.inputs[this.seq % this.size] = { ...input, seq: this.seq };
    return this.seq;
  }

  /** The newest n inputs, newest first. */
  newest(n) {
    const out = [];
    for (let i = 0; i < Math.min(n, this.size, this.seq); i++) {
      out.push(this.inputs[((this.seq - i) >>> 0) % this.size]);
    }
    return out;
  }

  /** Inputs newer than seq (the server's last applied), oldest first. */
  after(seq) {
    const out = [];
    for (let i = this.newest(this.size).length - 1; i >= 0; i--) {
      const inp = this.inputs[((this.seq - i) >>> 0) % this.size];
      if (inp && seqAfter(inp.seq, seq)) out.push(inp);
    }
    return out;
  }
}
