// Test-only: a delta encoder over a plan, written from the wire format (spec: Go's EncodeDelta),
// independent of the decoder under test, so that round trips through both prove the decoder.
import { create, toBinary } from "@bufbuild/protobuf";
import { SnapshotSchema } from "../../src/gen/tickrelay_pb.js";

/**
 * The Snapshot message that turns view base into view target ({id, kind, fields: Int32Array},
 * sorted by id) over plan. Owner-only fields of entities other than owner are sent as 0.
 */
export function encodeDelta(plan, header, base, target, owner = 0) {
  const s = create(SnapshotSchema, header);
  const F = plan.frequent.length;
  const masked = (e) => {
    if (e.id === owner) return e.fields;
    const f = Int32Array.from(e.fields);
    plan.fields.forEach((pf, k) => {
      if (pf.ownerOnly) f[k] = 0;
    });
    return f;
  };
  const entered = (e, last) => {
    s.enteredIds.push(e.id - last);
    s.enteredKinds.push(e.kind);
    s.enteredValues.push(...masked(e));
    return e.id;
  };
  let lastRemoved = -1, lastChanged = -1, lastEntered = 0, i = 0, j = 0;
  while (i < base.length || j < target.length) {
    if (j === target.length || (i < base.length && base[i].id < target[j].id)) {
      s.removed.push(i - lastRemoved - 1);
      lastRemoved = i++;
    } else if (i === base.length || target[j].id < base[i].id) {
      lastEntered = entered(target[j++], lastEntered);
    } else {
      const b = masked(base[i]), t = masked(target[j]);
      if (base[i].kind !== target[j].kind) {
        s.removed.push(i - lastRemoved - 1);
        lastRemoved = i;
        lastEntered = entered(target[j], lastEntered);
      } else {
        let fm = 0, rm = 0;
        const fv = [], rv = [];
        plan.frequent.forEach((k, bit) => {
          if (b[k] !== t[k]) {
            fm |= 1 << bit;
            fv.push(delta(plan.fields[k], b[k], t[k]));
          }
        });
        plan.rareFields.forEach((k, bit) => {
          if (b[k] !== t[k]) {
            rm |= 1 << bit;
            rv.push(delta(plan.fields[k], b[k], t[k]));
          }
        });
        if (fm || rm) {
          const gap = BigInt(i - lastChanged - 1);
          s.changed.push((gap << BigInt(F + 1)) | (BigInt(rm ? 1 : 0) << BigInt(F)) | BigInt(fm));
          if (rm) s.changedRare.push(rm);
          s.changedValues.push(...fv, ...rv);
          lastChanged = i;
        }
      }
      i++;
      j++;
    }
  }
  return s;
}

function delta(f, b, t) {
  if (f.kind === "a") {
    const n = 2 ** f.bits, half = n / 2;
    return ((((t - b + half) % n) + n) % n) - half;
  }
  return (t - b) | 0;
}

export const marshal = (s) => toBinary(SnapshotSchema, s);
