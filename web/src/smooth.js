// Smoothness on the client: an interpolation buffer that renders remote entities a little behind
// the newest snapshot, and prediction of the player's own entity from its unacknowledged inputs,
// reconciled against the server's last applied input.

const TAU = 2 * Math.PI;

/** Shortest signed angle from a to b, in radians. */
export function angleDelta(a, b) {
  let d = (b - a) % TAU;
  if (d > Math.PI) d -= TAU;
  if (d < -Math.PI) d += TAU;
  return d;
}

/**
 * Interpolator keeps recent world states by tick and samples them at a render tick that runs a
 * configurable delay behind the newest tick, so that remote entities move smoothly between
 * snapshots even when some are lost or skipped.
 */
export class Interpolator {
  /**
   * @param {object} opts
   * @param {number} opts.tickRate ticks per second
   * @param {number} [opts.delayMs] how far behind the newest snapshot to render (default 100)
   * @param {number} [opts.keep] how many snapshots to keep (default 32)
   */
  constructor({ tickRate, delayMs = 100, keep = 32 }) {
    this.tickRate = tickRate;
    this.delayTicks = (delayMs / 1000) * tickRate;
    this.keep = keep;
    this.frames = []; // {tick, entities: Map<id, {x, y, heading, kind}>}, ascending tick
    this.clock = null; // render tick, fractional
    this.lastNow = 0;
  }

  /** Adds the world state of a tick (entities in world units). Older or equal ticks are ignored. */
  push(tick, entities) {
    const last = this.frames[this.frames.length - 1];
    if (last && tick <= last.tick) return;
    this.frames.push({ tick, entities });
    if (this.frames.length > this.keep) this.frames.shift();
  }

  /**
   * Advances the render clock to local time now (ms) and returns the render tick. The clock runs at
   * the tick rate and is pulled gently toward newest - delay, jumping only when far off.
   */
  advance(now) {
    const newest = this.frames[this.frames.length - 1];
    if (!newest) return null;
    const target = newest.tick - this.delayTicks;
    if (this.clock === null) {
      this.clock = target;
    } else {
      this.clock += ((now - this.lastNow) / 1000) * this.tickRate;
      const err = target - this.clock;
      if (Math.abs(err) > 3 * this.tickRate) this.clock = target; // after a long stall: jump
      else this.clock += err * 0.1;
    }
    this.lastNow = now;
    return this.clock;
  }

  /** Entity states at render tick t: interpolated between the two frames around t. */
  sample(t) {
    const f = this.frames;
    if (f.length === 0) return new Map();
    if (t <= f[0].tick) return f[0].entities;
    if (t >= f[f.length - 1].tick) return f[f.length - 1].entities;
    let i = f.length - 1;
    while (f[i - 1].tick > t) i--;
    const a = f[i - 1], b = f[i];
    const u = (t - a.tick) / (b.tick - a.tick);
    const out = new Map();
    for (const [id, eb] of b.entities) {
      const ea = a.entities.get(id);
      if (!ea) {
        out.set(id, eb);
        continue;
      }
      out.set(id, {
        ...eb,
        x: ea.x + (eb.x - ea.x) * u,
        y: ea.y + (eb.y - ea.y) * u,
        heading: ea.heading + angleDelta(ea.heading, eb.heading) * u,
      });
    }
    return out;
  }
}

/**
 * Predictor moves the player's own entity at once by its inputs, instead of waiting a round trip
 * for the server. It runs the game's own movement function, the one the server's Step runs, so the
 * client knows no game rule of its own. On every snapshot it replays the inputs the server has not
 * applied yet from the server's state; any difference from what was shown is spread over a few
 * frames rather than snapped, and on a clean link there is none.
 * @template S the entity state in real units (an entity view: {x, y, heading, ...})
 * @template I the input in real units (the game's input message fields)
 */
export class Predictor {
  /**
   * @param {object} opts
   * @param {(state: S, input: I, dt: number) => S} opts.move the game's movement: the state after
   *   one input applied for dt seconds; must match the server's game rules, and not modify state
   * @param {number} opts.dt seconds one input lasts (1 / the welcome's inputRateHz)
   * @param {number} [opts.correctionMs] time constant for smoothing corrections (default 100)
   * @param {string[]} [opts.smooth] the numeric state keys whose corrections are smoothed (default
   *   x, y and z); the others snap to the server's
   */
  constructor({ move, dt, correctionMs = 100, smooth = ["x", "y", "z"] }) {
    if (typeof move !== "function") throw new TypeError("Predictor needs the game's move(state, input, dt)");
    this.move = move;
    this.dt = dt;
    this.correctionMs = correctionMs;
    this.smooth = smooth;
    /** @type {S | null} */
    this.predicted = null;
    this.offset = {}; // shown minus predicted, per smoothed key, decaying to zero
    this.lastCorrection = 0; // size of the newest correction, world units
  }

  /**
   * Applies a freshly sent input to the prediction.
   * @param {I} input
   */
  input(input) {
    if (this.predicted) this.predicted = this.move(this.predicted, input, this.dt);
  }

  /**
   * Reconciles with a snapshot: server is the own entity's authoritative state after the inputs
   * up to the server's last applied one; pending are the inputs after it, oldest first.
   * @param {S} server
   * @param {I[]} pending
   */
  reconcile(server, pending) {
    const shown = this.shown();
    let p = { ...server };
    for (const inp of pending) p = this.move(p, inp, this.dt);
    this.predicted = p;
    if (shown) {
      this.offset = {};
      let sq = 0;
      for (const k of this.smooth) {
        if (typeof p[k] !== "number" || typeof shown[k] !== "number") continue;
        this.offset[k] = shown[k] - p[k];
        sq += this.offset[k] ** 2;
      }
      this.lastCorrection = Math.sqrt(sq);
    }
  }

  /** Decays the correction offset over dt milliseconds. */
  decay(dtMs) {
    const k = Math.exp(-dtMs / this.correctionMs);
    for (const key of Object.keys(this.offset)) this.offset[key] *= k;
  }

  /**
   * The state to draw: the prediction plus what is left of the correction.
   * @returns {S | null}
   */
  shown() {
    if (!this.predicted) return null;
    const out = { ...this.predicted };
    for (const [k, d] of Object.entries(this.offset)) out[k] += d;
    return out;
  }
}
