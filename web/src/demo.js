// The demo page: connects to the server that served it, draws the arena around the player with
// names over the players, moves with WASD or the arrow keys, fires at a click (the server judges
// the shot against what this page rendered: lag compensation), and shows hit markers, the score,
// live statistics, a legend and a graph of the last seconds. window.tickrelay mirrors the state
// for tests and debugging. With ?watch the page is a spectator of a relay or a replay (tickrelay
// relay, tickrelay replay): it has no entity and moves a camera instead, with the same keys or by
// dragging the view; on a replay, "[" and "]" seek to the previous and next keyframe.

import { arenaMove } from "./arena.js";
import { TickrelayClient } from "./client.js";
import { EntitySchema, InputSchema } from "./gen/arena_pb.js";
import { CameraSchema } from "./gen/tickrelay/stream_pb.js";
import { GRAPH_COLORS, History, drawGraph } from "./graph.js";
import { Interpolator, Predictor } from "./smooth.js";

const PLAYER_SPEED = 120; // the arena's top speed, units per second
const KIND_PLAYER = 1;
const GRAPH_EVERY_MS = 250; // graph sample interval; 40 samples make 10 s
const CAMERA_SPEED = 400; // a spectator's camera, units per second
const WATCH = new URLSearchParams(location.search).has("watch");

// What the canvas draws, with the legend's words for each; one table so that they agree.
const LOOK = {
  own: { color: "#4fe08f", label: "you (predicted)" },
  ghost: { color: "#4fe08f", label: "you, last snapshot" },
  player: { color: "#f0a03c", label: "other players" },
  npc: { color: "#7f93b5", label: "NPCs" },
  aoi: { color: "#2e7d5b", label: "area of interest" },
  hit: { color: "#ff4d4d", label: "hit marker (click to fire)" },
};
const INTERP_DELAY_MS = 100; // how far behind the newest snapshot others are drawn
const MARKER_MS = 700; // how long a hit marker shows

const state = {
  connected: false, tick: 0, snapshots: 0, ownEntity: null, predicted: null, entities: 0,
  snapshotsPerSec: 0, skippedTicks: 0, bytesPerSec: 0, rttMs: 0, snapshotAgeMs: 0, correction: 0,
  players: [], closeReason: "", error: "", reconnects: 0, chat: [],
  ownName: "", // the own player's name, from the roster
  roster: [], // [{playerId, name, entityId}] of the room's members
  ghost: null, // {x, y, tick}: the own entity where the newest snapshot has it
  watch: WATCH, // a spectator: no entity, a camera
  camera: null, // {x, y}: a spectator's camera, in world units
  scale: 1, // canvas pixels per world unit, as last drawn
  sought: null, // the keyframe tick a replay was last sought to
  labels: [], // [{id, name}]: the names the last frame drew over entities
  frames: 0, // frames drawn
  graph: { samples: 0, kept: 0, last: null }, // last: the newest {rttMs, bytesPerSec, skipped}
  shots: 0, hits: 0, misses: 0, score: 0, // shots fired and the server's verdicts; score: own hits
  markers: [], // [{x, y, target, at}]: hits the server reported, in world units, at performance.now()
  screen: null, // {cx, cy, scale, w, h}: the last frame's world-to-canvas transform
  npcs: [], // [{id, px, py}]: up to 8 NPCs the last frame drew, in canvas pixels (for tests)
};
window.tickrelay = state;

const keys = new Set();
const KEYMAP = {
  KeyW: [0, -1], ArrowUp: [0, -1], KeyS: [0, 1], ArrowDown: [0, 1],
  KeyA: [-1, 0], ArrowLeft: [-1, 0], KeyD: [1, 0], ArrowRight: [1, 0],
};
addEventListener("keydown", (e) => {
  if (e.target instanceof HTMLInputElement) return; // typing a chat message
  if (KEYMAP[e.code]) {
    keys.add(e.code);
    e.preventDefault();
  }
});
addEventListener("keyup", (e) => keys.delete(e.code));
addEventListener("blur", () => keys.clear());

let pendingAim = null; // a shot to send with the next input: its aim in radians

// fireAt aims a shot from the own (predicted) position at a canvas point, in device pixels.
function fireAt(px, py) {
  const c = state.screen, me = state.predicted;
  if (!c || !me) return;
  const wx = c.cx + (px - c.w / 2) / c.scale, wy = c.cy + (py - c.h / 2) / c.scale;
  pendingAim = Math.atan2(wy - me.y, wx - me.x);
}

function sampleInput() {
  let x = 0, y = 0;
  for (const k of keys) {
    x += KEYMAP[k][0];
    y += KEYMAP[k][1];
  }
  const l = Math.hypot(x, y) || 1;
  const input = { moveX: x / l, moveY: y / l, buttons: 0, aim: 0 };
  if (pendingAim !== null) {
    input.buttons = 1; // fire
    input.aim = (pendingAim + 2 * Math.PI) % (2 * Math.PI);
    pendingAim = null;
    state.shots++;
  }
  return input;
}

// sampleCamera moves a spectator's camera with the keys and returns it as a Camera input.
let lastCameraMs = 0;
function sampleCamera() {
  const now = performance.now();
  const dt = lastCameraMs ? Math.min((now - lastCameraMs) / 1000, 0.25) : 0;
  lastCameraMs = now;
  const { moveX, moveY } = sampleInput();
  const cam = state.camera ?? { x: 0, y: 0 };
  cam.x += moveX * CAMERA_SPEED * dt;
  cam.y += moveY * CAMERA_SPEED * dt;
  return { x: cam.x, y: cam.y, z: 0 };
}

// seekReplay seeks a replay (GET /replay, POST /replay/seek) to the keyframe before (dir -1) or
// after (dir 1) the one being played; a relay has no /replay, and nothing happens.
async function seekReplay(dir) {
  const res = await fetch("/replay");
  if (!res.ok) return;
  const { tick, keyframes } = await res.json();
  let i = keyframes.findLastIndex((k) => k <= tick);
  i = Math.min(Math.max(i + dir, 0), keyframes.length - 1);
  const seek = await fetch(`/replay/seek?tick=${keyframes[i]}`, { method: "POST" });
  if (seek.ok) state.sought = (await seek.json()).tick;
}

// dragCamera lets a spectator drag the view to move the camera.
function dragCamera(canvas) {
  let from = null;
  canvas.addEventListener("pointerdown", (e) => { from = { x: e.clientX, y: e.clientY }; });
  addEventListener("pointerup", () => { from = null; });
  addEventListener("pointermove", (e) => {
    if (!from || !state.camera) return;
    const k = devicePixelRatio / state.scale;
    state.camera.x -= (e.clientX - from.x) * k;
    state.camera.y -= (e.clientY - from.y) * k;
    from = { x: e.clientX, y: e.clientY };
  });
}

async function main() {
  const params = new URLSearchParams(location.search);
  // Any node answers where a room lives (?room=NAME, else the node's default room, which in a
  // cluster may live on another node): the page connects to the URL and certificate hash it gives.
  const askRoom = params.get("room") || "";
  const info = await (await fetch(askRoom ? `/connect?room=${encodeURIComponent(askRoom)}` : "/connect")).json();
  const room = info.room || askRoom;
  const hostURL = info.url;
  // The room may have moved to another node of the cluster (ROOM_MOVED, or a refusal seen only as
  // a lost connection): on each reconnect ask again where it lives, and go there if that changed.
  let relocating = false;
  const relocate = async () => {
    if (relocating) return;
    relocating = true;
    try {
      const now = await (await fetch(`/connect?room=${encodeURIComponent(room)}`)).json();
      if (now.url && now.url !== hostURL) {
        console.info(`tickrelay: room ${room} now lives at ${now.url}`);
        client.close();
        location.reload();
      }
    } catch (err) {
      console.info(`tickrelay: looking up room ${room}: ${err}`);
    } finally {
      relocating = false;
    }
  };
  // ?via=host:port sends the session through another address, such as a tickproxy.
  if (params.get("via")) {
    const u = new URL(info.url);
    u.host = params.get("via");
    info.url = u.toString();
  }
  const name = params.get("name") || `web-${Math.random().toString(16).slice(2, 6)}`;
  // In development mode the server issues tokens; otherwise the page is given one.
  const token = info.devMode
    ? await (await fetch(`/dev-token?name=${encodeURIComponent(name)}`)).text()
    : params.get("token") || "";
  let welcome, interp, predictor;
  const roster = new Map(); // player id -> {playerId, name, entityId}
  const names = new Map(); // entity id -> player name
  const rosterChanged = () => {
    names.clear();
    for (const p of roster.values()) names.set(p.entityId, p.name);
    state.roster = [...roster.values()].map((p) => ({ playerId: p.playerId, name: p.name, entityId: p.entityId }));
    state.players = state.roster.map((p) => p.name);
    state.ownName = (welcome && roster.get(welcome.playerId)?.name) ?? "";
  };

  const client = new TickrelayClient({
    url: info.url,
    certHash: info.certHash,
    token,
    room,
    entitySchema: EntitySchema,
    inputSchema: WATCH ? CameraSchema : InputSchema,
    sample: WATCH ? sampleCamera : sampleInput,
    renderTick: () => (WATCH ? null : interp?.clock ?? null),
    interpDelayMs: INTERP_DELAY_MS,
    onEvent(e) {
      if (e.kind === "hit" && e.fromPlayer === 0) {
        const h = JSON.parse(new TextDecoder().decode(e.payload)); // {target, x, y, score}
        state.hits++;
        state.score = h.score;
        state.markers.push({ x: h.x, y: h.y, target: h.target, at: performance.now() });
        if (state.markers.length > 16) state.markers.shift();
        return;
      }
      if (e.kind === "miss" && e.fromPlayer === 0) {
        state.misses++;
        return;
      }
      if (e.kind !== "chat") return;
      const who = roster.get(e.fromPlayer)?.name ?? `player ${e.fromPlayer}`;
      state.chat.push(`${who}: ${new TextDecoder().decode(e.payload)}`);
      if (state.chat.length > 6) state.chat.shift();
      document.getElementById("chat-log").textContent = state.chat.join("\n");
    },
    onReconnecting({ delayMs, reason }) {
      state.connected = false;
      if (room) relocate();
      console.info(`tickrelay: connection ended (${reason}); reconnecting in ${Math.round(delayMs)} ms`);
    },
    onWelcome(w) {
      welcome = w;
      state.connected = true;
      if (WATCH && !state.camera) state.camera = { x: w.worldWidth / 2, y: w.worldHeight / 2 };
      state.reconnects = client.stats.reconnects;
      interp = new Interpolator({ tickRate: w.tickRateHz, delayMs: INTERP_DELAY_MS });
      predictor = new Predictor({
        move: arenaMove({ speed: PLAYER_SPEED, width: w.worldWidth, height: w.worldHeight }),
        dt: 1 / w.inputRateHz,
      });
    },
    onInput(inp) {
      predictor?.input(inp);
    },
    onSnapshot({ tick, view, lastInputSeq, ageMs }) {
      const ents = new Map();
      let own = null;
      for (const e of view) { // entities in world units: {id, kind, x, y, heading, state}
        ents.set(e.id, e);
        if (e.id === welcome.entityId) own = e;
      }
      interp.push(tick, ents);
      if (own) {
        predictor.reconcile(own, client.pendingInputs(lastInputSeq));
        state.ownEntity = { id: own.id, x: own.x, y: own.y };
        state.ghost = { x: own.x, y: own.y, tick };
      }
      Object.assign(state, {
        tick, snapshots: client.stats.snapshots, entities: view.length, snapshotsPerSec: round(client.stats.snapshotsPerSec),
        skippedTicks: client.stats.skippedTicks, bytesPerSec: round(client.stats.bytesPerSec),
        rttMs: round(client.stats.rttMs), snapshotAgeMs: round(ageMs),
        correction: round(predictor.lastCorrection), reconnects: client.stats.reconnects,
        playerId: welcome.playerId, entityId: welcome.entityId,
      });
    },
    onRoster(players) {
      roster.clear(); // a roster, after a welcome or a resume, lists every member
      for (const p of players) roster.set(p.playerId, p);
      rosterChanged();
    },
    onJoin(p) {
      roster.set(p.playerId, p);
      rosterChanged();
    },
    onLeave(id) {
      roster.delete(id);
      rosterChanged();
    },
    onClose({ reason, message }) { // SCHEMA_MISMATCH: this page's arena_pb.js is not the room's
      state.connected = false;
      state.closeReason = reason;
      console.info(`tickrelay: session closed: ${reason} ${message}`);
    },
  });

  await client.connect();
  state.connected = true;
  const chat = document.getElementById("chat");
  chat.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && chat.value.trim()) {
      client.sendEvent("chat", new TextEncoder().encode(chat.value.trim().slice(0, 200)));
      chat.value = "";
    }
  });
  document.getElementById("view").addEventListener("click", (e) => {
    fireAt(e.offsetX * devicePixelRatio, e.offsetY * devicePixelRatio);
  });
  startGraph(client);
  if (WATCH) {
    dragCamera(document.getElementById("view"));
    document.getElementById("help").textContent = "spectating: WASD, arrows or drag move the camera";
    addEventListener("keydown", (e) => {
      if (e.code === "BracketLeft" || e.code === "BracketRight") seekReplay(e.code === "BracketLeft" ? -1 : 1);
    });
  }
  startRendering(() => ({ welcome, interp, predictor, names }));
}

// fillLegend writes the legend from LOOK, so that it shows what the canvas draws.
function fillLegend() {
  const el = document.getElementById("legend");
  el.replaceChildren();
  const draw = {
    own: swatchDot(8), player: swatchDot(7), npc: swatchDot(4), ghost: swatchGhost, aoi: swatchRing,
    hit: (c, color) => {
      c.strokeStyle = color;
      c.lineWidth = 2;
      c.beginPath();
      c.moveTo(3, 3);
      c.lineTo(11, 11);
      c.moveTo(11, 3);
      c.lineTo(3, 11);
      c.stroke();
    },
  };
  for (const [key, { color, label }] of Object.entries(LOOK)) {
    if (WATCH && (key === "own" || key === "ghost" || key === "hit")) continue; // a spectator has none
    const row = document.createElement("div");
    row.dataset.key = key;
    const sw = document.createElement("canvas");
    sw.width = sw.height = 14;
    draw[key](sw.getContext("2d"), color);
    row.append(sw, ` ${label}`);
    el.append(row);
  }
}

const swatchDot = (r) => (c, color) => {
  c.fillStyle = color;
  c.beginPath();
  c.arc(7, 7, r * 0.75, 0, 2 * Math.PI);
  c.fill();
};

function swatchGhost(c, color) {
  c.strokeStyle = color;
  c.setLineDash([2, 2]);
  c.beginPath();
  c.arc(7, 7, 5.5, 0, 2 * Math.PI);
  c.stroke();
}

function swatchRing(c, color) {
  c.strokeStyle = color;
  c.beginPath();
  c.arc(14, 14, 12, Math.PI, 1.5 * Math.PI);
  c.stroke();
}

// startGraph samples the client's figures every GRAPH_EVERY_MS and redraws the graph and its key
// then: a timer rather than the frame loop, so the graph costs nothing per frame and keeps
// sampling while the tab draws no frames.
function startGraph(client) {
  const canvas = document.getElementById("graph");
  const ctx = canvas.getContext("2d");
  const key = document.getElementById("graph-key");
  for (const [field, color] of Object.entries(GRAPH_COLORS)) key.querySelector(`[data-key=${field}]`).style.color = color;
  const history = new History({ size: (10 * 1000) / GRAPH_EVERY_MS });
  const sample = () => {
    const { rttMs, bytes, skippedTicks } = client.stats;
    const s = history.add(performance.now(), { rttMs, bytes, skippedTicks });
    if (!s) return;
    state.graph = { samples: history.total, kept: history.samples.length, last: s };
    canvas.width = canvas.clientWidth * devicePixelRatio;
    canvas.height = canvas.clientHeight * devicePixelRatio;
    drawGraph(ctx, history, canvas.width, canvas.height);
    key.querySelector("[data-key=rttMs]").textContent =
      `RTT ${Math.round(s.rttMs)} ms (max ${Math.round(history.max("rttMs", 0))})`;
    key.querySelector("[data-key=bytesPerSec]").textContent =
      `${(s.bytesPerSec / 1024).toFixed(1)} KiB/s (max ${(history.max("bytesPerSec", 0) / 1024).toFixed(1)})`;
    key.querySelector("[data-key=skipped]").textContent =
      `skipped ${s.skipped} (10 s: ${history.samples.reduce((n, x) => n + x.skipped, 0)})`;
  };
  sample();
  setInterval(sample, GRAPH_EVERY_MS);
}

function round(v) {
  return Math.round(v * 10) / 10;
}

function startRendering(get) {
  const canvas = document.getElementById("view");
  const ctx = canvas.getContext("2d");
  const overlay = document.getElementById("stats");
  let last = performance.now();
  const frame = (now) => {
    const { welcome, interp, predictor, names } = get();
    predictor.decay(now - last);
    last = now;
    const w = (canvas.width = canvas.clientWidth * devicePixelRatio);
    const h = (canvas.height = canvas.clientHeight * devicePixelRatio);
    const t = interp.advance(now);
    const ents = t === null ? new Map() : interp.sample(t);
    const me = predictor.shown();
    state.predicted = me;
    state.labels = draw(ctx, w, h, welcome, ents, me, names, state.ghost);
    state.frames++;
    const ahead = me && state.ghost ? Math.hypot(me.x - state.ghost.x, me.y - state.ghost.y) : 0;
    overlay.textContent = [
      `${state.ownName || "?"}   player ${state.playerId ?? "?"}   entity ${state.entityId ?? "?"}`,
      `players ${state.players.length}: ${listNames(state.players)}`,
      `tick ${state.tick}   snapshots/s ${state.snapshotsPerSec}   skipped ${state.skippedTicks}`,
      `RTT ${state.rttMs} ms   age ${state.snapshotAgeMs} ms`,
      `${(state.bytesPerSec / 1024).toFixed(1)} KiB/s   visible ${state.entities}`,
      ...(WATCH
        ? [`camera ${round(state.camera?.x ?? 0)}, ${round(state.camera?.y ?? 0)}   reconnects ${state.reconnects}`]
        : [
          `ahead ${round(ahead)} u   correction ${state.correction} u   reconnects ${state.reconnects}`,
          `score ${state.score}   shots ${state.shots}   hits ${state.hits}   misses ${state.misses}`,
        ]),
    ].join("\n");
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
}

// listNames lists the first few names and counts the rest.
function listNames(list) {
  const shown = list.slice(0, 6).join(", ");
  return list.length > 6 ? `${shown} +${list.length - 6}` : shown;
}

// draw draws one frame and returns the names it wrote over entities, as [{id, name}].
function draw(ctx, w, h, welcome, ents, me, names, ghost) {
  const scale = (Math.min(w, h) / (2.6 * welcome.aoiRadius));
  state.scale = scale;
  const centre = me ?? state.camera ?? { x: welcome.worldWidth / 2, y: welcome.worldHeight / 2 };
  const cx = centre.x, cy = centre.y;
  const sx = (x) => w / 2 + (x - cx) * scale, sy = (y) => h / 2 + (y - cy) * scale;
  state.screen = { cx, cy, scale, w, h };
  ctx.fillStyle = "#10141c";
  ctx.fillRect(0, 0, w, h);
  ctx.strokeStyle = "#1d2533";
  ctx.lineWidth = 1;
  for (let g = 0; g <= welcome.worldWidth; g += 100) {
    ctx.beginPath();
    ctx.moveTo(sx(g), sy(0));
    ctx.lineTo(sx(g), sy(welcome.worldHeight));
    ctx.stroke();
  }
  for (let g = 0; g <= welcome.worldHeight; g += 100) {
    ctx.beginPath();
    ctx.moveTo(sx(0), sy(g));
    ctx.lineTo(sx(welcome.worldWidth), sy(g));
    ctx.stroke();
  }
  ctx.strokeStyle = "#56627a";
  ctx.strokeRect(sx(0), sy(0), welcome.worldWidth * scale, welcome.worldHeight * scale);
  if (me || state.camera) {
    ctx.strokeStyle = LOOK.aoi.color;
    ctx.beginPath();
    ctx.arc(sx(cx), sy(cy), welcome.aoiRadius * scale, 0, 2 * Math.PI);
    ctx.stroke();
  }
  const labels = [];
  const dpr = devicePixelRatio;
  state.npcs.length = 0;
  for (const e of ents.values()) {
    if (e.id === welcome.entityId) continue;
    const player = e.kind === KIND_PLAYER;
    if (!player && state.npcs.length < 8) state.npcs.push({ id: e.id, px: sx(e.x), py: sy(e.y) });
    drawEntity(ctx, sx(e.x), sy(e.y), e.heading, (player ? 7 : 4) * dpr,
      player ? LOOK.player.color : LOOK.npc.color);
    const name = names.get(e.id);
    if (name !== undefined) {
      drawName(ctx, sx(e.x), sy(e.y) - 12 * dpr, name);
      labels.push({ id: e.id, name });
    }
  }
  const now = performance.now();
  for (const m of state.markers) {
    if (now - m.at < MARKER_MS) drawMarker(ctx, sx(m.x), sy(m.y), 7 * dpr);
  }
  if (ghost) drawGhost(ctx, sx(ghost.x), sy(ghost.y), me && sx(me.x), me && sy(me.y), 8 * dpr);
  if (me) {
    const own = ents.get(welcome.entityId);
    drawEntity(ctx, sx(me.x), sy(me.y), own ? own.heading : 0, 8 * dpr, LOOK.own.color);
    const name = names.get(welcome.entityId);
    if (name !== undefined) {
      drawName(ctx, sx(me.x), sy(me.y) - 13 * dpr, name);
      labels.push({ id: welcome.entityId, name });
    }
  }
  return labels;
}

// drawMarker draws a hit marker: a cross where the server says the shot hit.
function drawMarker(ctx, x, y, r) {
  ctx.save();
  ctx.strokeStyle = LOOK.hit.color;
  ctx.lineWidth = 2 * devicePixelRatio;
  ctx.beginPath();
  ctx.moveTo(x - r, y - r);
  ctx.lineTo(x + r, y + r);
  ctx.moveTo(x + r, y - r);
  ctx.lineTo(x - r, y + r);
  ctx.stroke();
  ctx.restore();
}

// drawGhost draws the own entity where the newest snapshot has it: a dashed ring, tied by a thin
// line to the predicted position (x2, y2) when that is elsewhere.
function drawGhost(ctx, x, y, x2, y2, r) {
  ctx.save();
  ctx.strokeStyle = LOOK.ghost.color;
  ctx.lineWidth = devicePixelRatio;
  ctx.globalAlpha = 0.8;
  if (x2 !== null && Math.hypot(x2 - x, y2 - y) > r) {
    ctx.beginPath();
    ctx.moveTo(x, y);
    ctx.lineTo(x2, y2);
    ctx.stroke();
  }
  ctx.setLineDash([3 * devicePixelRatio, 3 * devicePixelRatio]);
  ctx.beginPath();
  ctx.arc(x, y, r + 2 * devicePixelRatio, 0, 2 * Math.PI);
  ctx.stroke();
  ctx.restore();
}

function drawName(ctx, x, y, name) {
  ctx.save();
  ctx.font = `${12 * devicePixelRatio}px ui-monospace, monospace`;
  ctx.textAlign = "center";
  ctx.textBaseline = "bottom";
  ctx.lineWidth = 3 * devicePixelRatio;
  ctx.strokeStyle = "#10141c";
  ctx.strokeText(name, x, y);
  ctx.fillStyle = "#e6edf7";
  ctx.fillText(name, x, y);
  ctx.restore();
}

function drawEntity(ctx, x, y, heading, r, color) {
  ctx.fillStyle = color;
  ctx.beginPath();
  ctx.arc(x, y, r, 0, 2 * Math.PI);
  ctx.fill();
  ctx.strokeStyle = color;
  ctx.beginPath();
  ctx.moveTo(x, y);
  ctx.lineTo(x + Math.cos(heading) * r * 2, y + Math.sin(heading) * r * 2);
  ctx.stroke();
}

fillLegend();
main().catch((err) => {
  state.error = String(err);
  console.error("tickrelay:", err);
});
