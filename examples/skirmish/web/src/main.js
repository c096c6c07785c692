// The skirmish page: connects to the server that served it with the skirmish's own entity and
// input messages, and draws the x/z plane from above: height as a shadow's offset and the body's
// size, teams by colour, health bars, the own ammo (which only its owner receives). WASD runs,
// the mouse aims, a click (held) fires, space jumps, the wheel looks up or down.
// window.skirmish mirrors the state for tests and debugging.

import { TickrelayClient } from "../../../../web/src/client.js";
import { EntitySchema, InputSchema } from "../gen/skirmishpb/skirmish_pb.js";

const KIND = { soldier: 1, drone: 2, base: 3 };
const TEAM_COLORS = ["#4aa3ff", "#ff6b4a", "#f5d142", "#b476f0"];
const MAX_PITCH = 1.4; // the server rejects steeper inputs
const SHADOW = 0.6; // pixels of shadow offset per unit of height, at scale 1

const state = {
  connected: false, error: "", tick: 0, snapshots: 0, bytesPerSec: 0,
  ownId: 0, own: null, // {id, x, y, z, yaw, health, team, ammo} of the own soldier, from the newest snapshot
  entities: [], // [{id, kind, team, health, x, y, z}] of the newest snapshot
  fired: 0, // inputs sent with the trigger down
  hits: 0, // health drops seen on other entities between consecutive snapshots
  camera: null, // {ox, oy, scale}: screen = (ox + x*scale, oy + z*scale), CSS pixels
  frames: 0,
};
window.skirmish = state;

const keys = new Set();
const MOVES = { KeyW: [0, -1], KeyS: [0, 1], KeyA: [-1, 0], KeyD: [1, 0] };
const aim = { sx: 0, sy: 0, pitch: 0, firing: false, jump: false };
addEventListener("keydown", (e) => {
  if (MOVES[e.code]) keys.add(e.code);
  if (e.code === "Space") aim.jump = true;
  if (MOVES[e.code] || e.code === "Space") e.preventDefault();
});
addEventListener("keyup", (e) => {
  keys.delete(e.code);
  if (e.code === "Space") aim.jump = false;
});
addEventListener("blur", () => {
  keys.clear();
  aim.firing = aim.jump = false;
});
const canvas = document.getElementById("view");
canvas.addEventListener("mousemove", (e) => {
  aim.sx = e.clientX;
  aim.sy = e.clientY;
});
canvas.addEventListener("mousedown", (e) => {
  aim.sx = e.clientX;
  aim.sy = e.clientY;
  aim.firing = true;
});
addEventListener("mouseup", () => (aim.firing = false));
canvas.addEventListener("wheel", (e) => {
  aim.pitch = Math.min(Math.max(aim.pitch - e.deltaY * 0.002, -MAX_PITCH), MAX_PITCH);
  e.preventDefault();
}, { passive: false });

// sample is the input the client sends at its input rate: world-axis movement, the aim from the
// own soldier towards the mouse, and the buttons.
function sample() {
  let mx = 0, mz = 0;
  for (const k of keys) {
    mx += MOVES[k][0];
    mz += MOVES[k][1];
  }
  const l = Math.hypot(mx, mz) || 1;
  let yaw = state.own?.yaw ?? 0;
  const cam = state.camera, own = state.own;
  if (cam && own) {
    const dx = aim.sx - (cam.ox + own.x * cam.scale), dy = aim.sy - (cam.oy + own.z * cam.scale);
    if (dx !== 0 || dy !== 0) yaw = Math.atan2(dy, dx);
  }
  if (aim.firing) state.fired++;
  return { moveX: mx / l, moveZ: mz / l, yaw: wrap(yaw), pitch: wrap(aim.pitch), fire: aim.firing, jump: aim.jump };
}

// wrap maps an angle to [0, 2π), as the schema's Angle fields store it.
function wrap(a) {
  const t = 2 * Math.PI;
  return ((a % t) + t) % t;
}

async function main() {
  const info = await (await fetch("/connect")).json();
  const params = new URLSearchParams(location.search);
  const name = params.get("name") || `web-${Math.random().toString(16).slice(2, 6)}`;
  const token = info.devMode
    ? await (await fetch(`/dev-token?name=${encodeURIComponent(name)}`)).text()
    : params.get("token") || "";
  let world = { w: 256, h: 256 };
  let view = [];
  const client = new TickrelayClient({
    url: info.url, certHash: info.certHash, token,
    entitySchema: EntitySchema, inputSchema: InputSchema, sample,
    onWelcome(w) {
      state.connected = true;
      state.ownId = Number(w.entityId);
      world = { w: w.worldWidth || world.w, h: w.worldHeight || world.h };
    },
    onReconnecting() {
      state.connected = false;
    },
    onClose({ reason, message }) {
      state.connected = false;
      state.error = `${reason}: ${message}`;
    },
    onSnapshot(s) {
      const before = new Map(view.map((e) => [e.id, e.health]));
      for (const e of s.view) {
        if (e.id !== state.ownId && e.health < (before.get(e.id) ?? 0)) state.hits++;
      }
      view = s.view;
      state.tick = s.tick;
      state.snapshots++;
      state.bytesPerSec = client.stats.bytesPerSec;
      state.entities = view.map((e) => ({ id: e.id, kind: e.kind, team: e.team, health: e.health, x: e.x, y: e.y, z: e.z }));
      const own = view.find((e) => e.id === state.ownId);
      state.own = own
        ? { id: own.id, x: own.x, y: own.y, z: own.z, yaw: own.yaw, health: own.health, team: own.team, ammo: own.ammo }
        : null;
    },
  });
  try {
    await client.connect();
  } catch (err) {
    state.error = String(err);
    throw err;
  }
  const frame = () => {
    draw(world, view);
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
}

function draw(world, view) {
  const dpr = devicePixelRatio || 1;
  const cw = canvas.clientWidth, ch = canvas.clientHeight;
  if (canvas.width !== Math.round(cw * dpr) || canvas.height !== Math.round(ch * dpr)) {
    canvas.width = Math.round(cw * dpr);
    canvas.height = Math.round(ch * dpr);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  const scale = Math.min(cw / world.w, ch / world.h) * 0.94;
  const cam = { ox: (cw - world.w * scale) / 2, oy: (ch - world.h * scale) / 2, scale };
  state.camera = cam;
  const sx = (x) => cam.ox + x * scale, sy = (z) => cam.oy + z * scale;

  ctx.fillStyle = "#141a12";
  ctx.fillRect(0, 0, cw, ch);
  ctx.fillStyle = "#1d2619";
  ctx.fillRect(cam.ox, cam.oy, world.w * scale, world.h * scale);
  ctx.strokeStyle = "#2a3624";
  ctx.lineWidth = 1;
  for (let g = 0; g <= world.w; g += 32) line(ctx, sx(g), sy(0), sx(g), sy(world.h));
  for (let g = 0; g <= world.h; g += 32) line(ctx, sx(0), sy(g), sx(world.w), sy(g));

  // Bases first, then shadows, then bodies from low to high, so that higher things draw on top.
  for (const e of view) if (e.kind === KIND.base) drawBase(ctx, e, sx, sy, scale);
  const bodies = view.filter((e) => e.kind !== KIND.base).sort((a, b) => a.y - b.y);
  for (const e of bodies) {
    ctx.fillStyle = "#0008";
    ctx.beginPath();
    ctx.ellipse(sx(e.x), sy(e.z), radius(e, scale), radius(e, scale) * 0.6, 0, 0, 2 * Math.PI);
    ctx.fill();
  }
  for (const e of bodies) {
    if (e.kind === KIND.drone) drawDrone(ctx, e, sx, sy, scale);
    else drawSoldier(ctx, e, sx, sy, scale, e.id === state.ownId);
  }
  drawHUD();
  state.frames++;
}

function radius(e, scale) {
  return Math.max((e.kind === KIND.drone ? 1.6 : 1.2) * scale, e.kind === KIND.drone ? 8 : 7);
}

// lift is how far up the screen a body at height y is drawn above its shadow.
function lift(y, scale) {
  return y * SHADOW * Math.max(scale, 1);
}

function drawBase(ctx, e, sx, sy, scale) {
  const r = Math.max(8 * scale, 10);
  ctx.strokeStyle = TEAM_COLORS[e.team] ?? "#888";
  ctx.lineWidth = 2;
  ctx.strokeRect(sx(e.x) - r, sy(e.z) - r, 2 * r, 2 * r);
  ctx.fillStyle = ctx.strokeStyle;
  ctx.fillText(`team ${e.team}`, sx(e.x) - r, sy(e.z) - r - 4);
}

function drawSoldier(ctx, e, sx, sy, scale, own) {
  const r = radius(e, scale) * (1 + e.y * 0.08);
  const x = sx(e.x), y = sy(e.z) - lift(e.y, scale);
  ctx.fillStyle = TEAM_COLORS[e.team] ?? "#888";
  ctx.beginPath();
  ctx.arc(x, y, r, 0, 2 * Math.PI);
  ctx.fill();
  if (own) {
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = 2;
    ctx.stroke();
  }
  ctx.strokeStyle = "#fff";
  ctx.lineWidth = 1.5;
  line(ctx, x, y, x + Math.cos(e.yaw) * r * 2, y + Math.sin(e.yaw) * r * 2);
  // Health bar.
  const w = 3 * r;
  ctx.fillStyle = "#000a";
  ctx.fillRect(x - w / 2, y - r - 7, w, 4);
  ctx.fillStyle = e.health > 50 ? "#5ad66b" : e.health > 25 ? "#e6c84a" : "#e0533d";
  ctx.fillRect(x - w / 2, y - r - 7, (w * e.health) / 100, 4);
}

function drawDrone(ctx, e, sx, sy, scale) {
  const r = radius(e, scale) * (1 + e.y * 0.02);
  const x = sx(e.x), y = sy(e.z) - lift(e.y, scale);
  const [fx, , fz] = forward(e.orientation);
  const yaw = Math.atan2(fz, fx);
  ctx.save();
  ctx.translate(x, y);
  ctx.rotate(yaw);
  ctx.fillStyle = "#c9d3c0";
  ctx.beginPath();
  ctx.moveTo(r * 1.5, 0);
  ctx.lineTo(-r, r);
  ctx.lineTo(-r * 0.5, 0);
  ctx.lineTo(-r, -r);
  ctx.closePath();
  ctx.fill();
  ctx.restore();
}

// forward is the direction of a body's nose (+x in its own frame) under the unit quaternion q.
function forward(q) {
  if (!q) return [1, 0, 0];
  const { x, y, z, w } = q;
  return [1 - 2 * (y * y + z * z), 2 * (x * y + w * z), 2 * (x * z - w * y)];
}

function line(ctx, x0, y0, x1, y1) {
  ctx.beginPath();
  ctx.moveTo(x0, y0);
  ctx.lineTo(x1, y1);
  ctx.stroke();
}

function drawHUD() {
  const o = state.own;
  const lines = [
    state.connected ? `tick ${state.tick}` : `disconnected ${state.error}`,
    o ? `team ${o.team}  health ${o.health}  ammo ${o.ammo}` : "no soldier in view",
    o ? `at (${o.x.toFixed(1)}, ${o.y.toFixed(1)}, ${o.z.toFixed(1)})  pitch ${aim.pitch.toFixed(2)}` : "",
    `${state.entities.length} entities  ${(state.bytesPerSec / 1024).toFixed(1)} KiB/s`,
  ];
  document.getElementById("hud").textContent = lines.join("\n");
}

main().catch((err) => {
  state.error = String(err);
  console.warn("skirmish:", err);
});
