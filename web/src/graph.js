// The demo page's graph of the last seconds of the connection: round-trip time, bytes received
// per second and skipped ticks, sampled a few times a second and drawn only when a sample is
// added, so that it costs nothing per frame.

/**
 * History keeps the newest samples of the connection's figures, oldest first. Bytes and skipped
 * ticks come in as the client's running totals; a sample holds what changed since the previous
 * one, so a connection that stops delivering shows as zero rather than its last rate.
 */
export class History {
  /**
   * @param {object} [opts]
   * @param {number} [opts.size] samples kept (default 40: ten seconds at four a second)
   */
  constructor({ size = 40 } = {}) {
    this.size = size;
    this.samples = []; // {rttMs, bytesPerSec, skipped}
    this.total = 0; // samples ever added
    this.prev = null; // {t, bytes, skippedTicks} of the previous call
  }

  /**
   * Adds a sample at local time t (ms) from the client's figures: rttMs (smoothed), bytes and
   * skippedTicks (running totals). The first call only sets the starting point and returns null;
   * later ones return the sample added. Totals that go backwards count as zero.
   */
  add(t, { rttMs, bytes, skippedTicks }) {
    const prev = this.prev;
    this.prev = { t, bytes, skippedTicks };
    if (prev === null || t <= prev.t) return null;
    const s = {
      rttMs,
      bytesPerSec: (Math.max(bytes - prev.bytes, 0) * 1000) / (t - prev.t),
      skipped: Math.max(skippedTicks - prev.skippedTicks, 0),
    };
    this.samples.push(s);
    if (this.samples.length > this.size) this.samples.shift();
    this.total++;
    return s;
  }

  /** The largest value of field over the kept samples, at least floor. */
  max(field, floor) {
    let m = floor;
    for (const s of this.samples) m = Math.max(m, s[field]);
    return m;
  }
}

/** Colours of the graph's series; the page's key uses the same. */
export const GRAPH_COLORS = { rttMs: "#e8c547", bytesPerSec: "#4cc3e0", skipped: "#e0564c" };

/**
 * Draws the history on a 2D context of w x h pixels: skipped ticks as bars from the bottom, RTT and
 * bytes/s as lines, each scaled to its own maximum over the window (the key states them).
 */
export function drawGraph(ctx, history, w, h) {
  ctx.clearRect(0, 0, w, h);
  ctx.fillStyle = "#000a";
  ctx.fillRect(0, 0, w, h);
  const n = history.size, s = history.samples;
  const step = w / (n - 1);
  const x0 = w - (s.length - 1) * step; // the newest sample sits on the right edge
  const skipMax = history.max("skipped", 1);
  ctx.fillStyle = GRAPH_COLORS.skipped;
  for (let i = 0; i < s.length; i++) {
    if (s[i].skipped === 0) continue;
    // A bar spans the interval that ends at its sample.
    const bh = (s[i].skipped / skipMax) * (h - 4);
    const right = x0 + i * step, left = Math.max(right - step + 1, 0);
    ctx.fillRect(left, h - bh, Math.max(right - left, 1), bh);
  }
  for (const field of ["bytesPerSec", "rttMs"]) {
    const max = history.max(field, field === "rttMs" ? 10 : 1024);
    ctx.strokeStyle = GRAPH_COLORS[field];
    ctx.lineWidth = Math.max(1, h / 60);
    ctx.beginPath();
    for (let i = 0; i < s.length; i++) {
      const y = h - 2 - (s[i][field] / max) * (h - 4);
      if (i === 0) ctx.moveTo(x0, y);
      else ctx.lineTo(x0 + i * step, y);
    }
    ctx.stroke();
  }
}
