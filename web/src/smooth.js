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
 * for the server. On every snapshot it replays the inputs the server has not applied yet from the
 * server's position; any difference from what was shown is spread over a few frames rather than
 * snapped, and on a clean link there is none.
 */
export class Predictor {
  /**
   * @param {object} opts
   * @param {(pos: {x:number, y:number}, input: object) => {x:number, y:number}} opts.step
   *   applies one input for one input interval; must match the server's game rules
   * @param {number} [opts.correctionMs] time constant for smoothing corrections (default 100)
   */
  constructor({ step, correctionMs = 100 }) {
    this.step = step;
    this.correctionMs = correctionMs;
    this.predicted = null; // {x, y}
    this.offset = { x: 0, y: 0 }; // shown minus predicted, decaying to zero
    this.lastCorrection = 0; // size of the newest correction, world units
  }

  /** Applies a freshly sent input to the prediction. */
  input(input) {
    if (this.predicted) this.predicted = this.step(this.predicted, input);
  }

  /**
   * Reconciles with a snapshot: server is the own entity's authoritative position after the inputs
   * up to the server's last applied one; pending are the inputs after it, oldest first.
   */
  reconcile(server, pending) {
    const shown = this.shown();
    let p = { x: server.x, y: server.y };
    for (const inp of pending) p = this.step(p, inp);
    this.predicted = p;
    if (shown) {
      this.offset = { x: shown.x - p.x, y: shown.y - p.y };
      this.lastCorrection = Math.hypot(this.offset.x, this.offset.y);
    }
  }

  /** Decays the correction offset over dt milliseconds. */
  decay(dtMs) {
    const k = Math.exp(-dtMs / this.correctionMs);
    this.offset.x *= k;
    this.offset.y *= k;
  }

  /** The position to draw: the prediction plus what is left of the correction. */
  shown() {
    if (!this.predicted) return null;
    return { x: this.predicted.x + this.offset.x, y: this.predicted.y + this.offset.y };
  }
}
