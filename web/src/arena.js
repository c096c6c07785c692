// The arena's movement rules in JavaScript, as server/arena's Input applies them, for the demo
// page's prediction: a game passes its own movement function to the Predictor in the same way.

/**
 * The arena's player movement: moveX and moveY (each -1..1) give the direction and, by their
 * length up to 1, the fraction of top speed; the position stays within the world and the heading
 * turns to the direction of travel.
 * @param {{speed?: number, width: number, height: number}} world top speed (units per second,
 *   default the arena's 120) and the world's extents
 * @returns {(state: {x: number, y: number, heading?: number}, input: {moveX: number, moveY: number}, dt: number) => any}
 */
export function arenaMove({ speed = 120, width, height }) {
  return (s, input, dt) => {
    let vx = input.moveX, vy = input.moveY;
    const l = Math.hypot(vx, vy);
    if (l > 1) {
      vx /= l;
      vy /= l;
    }
    const d = speed * dt;
    const out = {
      ...s,
      x: Math.min(Math.max(s.x + vx * d, 0), width),
      y: Math.min(Math.max(s.y + vy * d, 0), height),
    };
    if (vx !== 0 || vy !== 0) out.heading = Math.atan2(vy, vx);
    return out;
  };
}
