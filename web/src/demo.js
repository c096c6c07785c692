// The demo page: connects to the server that served it, draws the arena around the player, moves
// with WASD or the arrow keys, and shows live statistics. window.tickrelay mirrors the state for
// tests and debugging.

import { TickrelayClient } from "./client.js";
import { Interpolator, Predictor } from "./smooth.js";

const PLAYER_SPEED = 120; // the arena's top speed, units per second
const KIND_PLAYER = 1;

const state = {
  connected: false, tick: 0, ownEntity: null, predicted: null, entities: 0, snapshotsPerSec: 0,
  skippedTicks: 0, bytesPerSec: 0, rttMs: 0, snapshotAgeMs: 0, correction: 0, players: [],
  closeReason: "", error: "", reconnects: 0, chat: [],
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

function sampleInput() {
  let x = 0, y = 0;
  for (const k of keys) {
    x += KEYMAP[k][0];
    y += KEYMAP[k][1];
  }
  const l = Math.hypot(x, y) || 1;
  return { moveX: Math.round((127 * x) / l), moveY: Math.round((127 * y) / l), buttons: 0 };
}

async function main() {
  const info = await (await fetch("/connect")).json();
  const params = new URLSearchParams(location.search);
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
  let welcome, q, interp, predictor;
  const roster = new Map();

  const client = new TickrelayClient({
    url: info.url,
    certHash: info.certHash,
    token,
    sample: sampleInput,
    onEvent(e) {
      if (e.kind !== "chat") return;
      const who = roster.get(e.fromPlayer)?.name ?? `player ${e.fromPlayer}`;
      state.chat.push(`${who}: ${new TextDecoder().decode(e.payload)}`);
      if (state.chat.length > 6) state.chat.shift();
      document.getElementById("chat-log").textContent = state.chat.join("\n");
    },
    onReconnecting({ delayMs, reason }) {
      state.connected = false;
      console.info(`tickrelay: connection ended (${reason}); reconnecting in ${Math.round(delayMs)} ms`);
    },
    onWelcome(w) {
      welcome = w;
      state.connected = true;
      state.reconnects = client.stats.reconnects;
      const scale = w.positionScale, turn = 2 ** w.headingBits;
      q = { pos: (v) => v / scale, heading: (h) => (h / turn) * 2 * Math.PI };
      interp = new Interpolator({ tickRate: w.tickRateHz, delayMs: 100 });
      const dt = 1 / w.inputRateHz;
      predictor = new Predictor({
        step(p, inp) {
          let vx = inp.moveX / 127, vy = inp.moveY / 127;
          const l = Math.hypot(vx, vy);
          if (l > 1) {
            vx /= l;
            vy /= l;
          }
          return {
            x: Math.min(Math.max(p.x + vx * PLAYER_SPEED * dt, 0), w.worldWidth),
            y: Math.min(Math.max(p.y + vy * PLAYER_SPEED * dt, 0), w.worldHeight),
          };
        },
      });
    },
    onInput(inp) {
      predictor?.input(inp);
    },
    onSnapshot({ tick, view, lastInputSeq, ageMs }) {
      const ents = new Map();
      let own = null;
      for (const e of view) {
        const v = { id: e.id, kind: e.kind, x: q.pos(e.x), y: q.pos(e.y), heading: q.heading(e.heading) };
        ents.set(e.id, v);
        if (e.id === welcome.entityId) own = v;
      }
      interp.push(tick, ents);
      if (own) {
        predictor.reconcile(own, client.pendingInputs(lastInputSeq));
        state.ownEntity = { id: own.id, x: own.x, y: own.y };
      }
      Object.assign(state, {
        tick, entities: view.length, snapshotsPerSec: round(client.stats.snapshotsPerSec),
        skippedTicks: client.stats.skippedTicks, bytesPerSec: round(client.stats.bytesPerSec),
        rttMs: round(client.stats.rttMs), snapshotAgeMs: round(ageMs),
        correction: round(predictor.lastCorrection), reconnects: client.stats.reconnects,
        playerId: welcome.playerId, entityId: welcome.entityId,
      });
    },
    onRoster(players) {
      for (const p of players) roster.set(p.playerId, p);
      state.players = [...roster.values()].map((p) => p.name);
    },
    onJoin(p) {
      roster.set(p.playerId, p);
      state.players = [...roster.values()].map((pl) => pl.name);
    },
    onLeave(id) {
      roster.delete(id);
      state.players = [...roster.values()].map((pl) => pl.name);
    },
    onClose({ reason, message }) {
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
  startRendering(() => ({ welcome, interp, predictor }));
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
    const { welcome, interp, predictor } = get();
    predictor.decay(now - last);
    last = now;
    const w = (canvas.width = canvas.clientWidth * devicePixelRatio);
    const h = (canvas.height = canvas.clientHeight * devicePixelRatio);
    const t = interp.advance(now);
    const ents = t === null ? new Map() : interp.sample(t);
    const me = predictor.shown();
    state.predicted = me;
    draw(ctx, w, h, welcome, ents, me);
    overlay.textContent = [
      `tick ${state.tick}   players ${state.players.length}`,
      `snapshots/s ${state.snapshotsPerSec}   skipped ${state.skippedTicks}`,
      `RTT ${state.rttMs} ms   age ${state.snapshotAgeMs} ms`,
      `${(state.bytesPerSec / 1024).toFixed(1)} KiB/s   visible ${state.entities}`,
      `correction ${state.correction} u   reconnects ${state.reconnects}`,
    ].join("\n");
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
}

function draw(ctx, w, h, welcome, ents, me) {
  const scale = (Math.min(w, h) / (2.6 * welcome.aoiRadius));
  const cx = me ? me.x : welcome.worldWidth / 2, cy = me ? me.y : welcome.worldHeight / 2;
  const sx = (x) => w / 2 + (x - cx) * scale, sy = (y) => h / 2 + (y - cy) * scale;
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
  if (me) {
    ctx.strokeStyle = "#2e7d5b";
    ctx.beginPath();
    ctx.arc(sx(me.x), sy(me.y), welcome.aoiRadius * scale, 0, 2 * Math.PI);
    ctx.stroke();
  }
  for (const e of ents.values()) {
    if (e.id === welcome.entityId) continue;
    const player = e.kind === KIND_PLAYER;
    drawEntity(ctx, sx(e.x), sy(e.y), e.heading, (player ? 7 : 4) * devicePixelRatio,
      player ? "#f0a03c" : "#7f93b5");
  }
  if (me) {
    const own = ents.get(welcome.entityId);
    drawEntity(ctx, sx(me.x), sy(me.y), own ? own.heading : 0, 8 * devicePixelRatio, "#4fe08f");
  }
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

main().catch((err) => {
  state.error = String(err);
  console.error("tickrelay:", err);
});
