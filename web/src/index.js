// tickrelay browser client library: import what a game needs from here.
export { TickrelayClient, ControlReader, frameControl, reasonName } from "./client.js";
export { Interpolator, Predictor, angleDelta } from "./smooth.js";
export {
  applyDelta, decodeSnapshot, tickGap, seqAfter, ViewRing, InputHistory, MalformedSnapshotError,
  MAX_ENTITIES_PER_SNAPSHOT,
} from "./netcode.js";
