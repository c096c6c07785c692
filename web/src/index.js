// tickrelay browser client library: import what a game needs from here.
export { TickrelayClient, RefusedError, ControlReader, frameControl, reasonName, RETRYABLE } from "./client.js";
export { Interpolator, Predictor, angleDelta } from "./smooth.js";
export {
  applyDelta, decodeSnapshot, decodeInputFrame, BadInputFrameError, entityView, inputValues, quantizeInput, tickGap, seqAfter,
  ViewRing, InputHistory, MalformedSnapshotError, MAX_ENTITIES_PER_SNAPSHOT, MAX_INPUTS_PER_FRAME, MAX_KIND,
  MAX_VIEW_BACK, viewTime, viewBacks,
} from "./netcode.js";
export {
  compileEntity, compileInput, makePlan, canonicalForm, fnv1a32, quantize, dequantize, inRange, FieldKind, Plane, PlanError,
  MAX_FIELDS,
} from "./plan.js";
export { CloseReason } from "./gen/tickrelay_pb.js";

// Types for TypeScript users (declarations in dist/, generated from this JSDoc).
/**
 * @template {import("@bufbuild/protobuf").Message} E
 * @typedef {import("./client.js").EntityView<E>} EntityView
 */
/**
 * @template {import("@bufbuild/protobuf").Message} E
 * @typedef {import("./client.js").Fields<E>} Fields
 */
/**
 * @template {import("@bufbuild/protobuf").Message} E
 * @typedef {import("./client.js").SnapshotInfo<E>} SnapshotInfo
 */
/**
 * @template {import("@bufbuild/protobuf").Message} E
 * @template {import("@bufbuild/protobuf").Message} I
 * @typedef {import("./client.js").ClientOptions<E, I>} ClientOptions
 */
/** @typedef {import("./plan.js").Plan} Plan */
/** @typedef {import("./plan.js").PlanField} PlanField */
/** @typedef {import("./netcode.js").EntityState} EntityState */
