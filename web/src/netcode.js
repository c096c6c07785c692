// Transport-free client logic, the browser's counterpart of Go's netcode package: wrap-safe tick
// arithmetic, delta application against baselines, the baseline ring and the input history.

/** Number of bits above which a changed entry's gap starts (below: the field mask). */
const CHANGE_GAP_SHIFT = 4;
const FIELD_X = 1, FIELD_Y = 2, FIELD_HEADING = 4, FIELD_STATE = 8;

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

/**
 * Applies the entity columns of a decoded Snapshot to the baseline view and returns the new view.
 * A view is an array of {id, kind, x, y, heading, state} sorted by id. Throws
 * MalformedSnapshotError on any inconsistency; never returns a partial view.
 */
export function applyDelta(base, s) {
  const nEntered = s.enteredIds.length;
  if (s.enteredKinds.length !== nEntered || s.enteredValues.length !== 4 * nEntered) {
    throw new MalformedSnapshotError("entered columns differ in length");
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
