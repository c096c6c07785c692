// TickrelayClient: a browser client for a tickrelay server over WebTransport. It performs the
// hello, sends inputs as datagrams (with the last few repeated against loss, and the ack), receives
// snapshots on datagrams and unidirectional streams, applies them against its baselines, and tells
// the game through callbacks.

import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { CloseReason, ControlMessageSchema, InputFrameSchema, Version } from "./gen/tickrelay_pb.js";
import {
  InputHistory, ViewRing, applyDelta, decodeSnapshot, entityView, inputValues, quantizeInput, seqAfter, tickGap,
  viewBacks, viewTime,
} from "./netcode.js";
import { compileEntity, compileInput, dequantize } from "./plan.js";

const MAX_CONTROL = 64 * 1024;

/** Name of a close reason, such as "IDLE_TIMEOUT". */
export function reasonName(code) {
  return CloseReason[code] ?? `CODE_${code}`;
}

/**
 * The server refused the hello (or the client refused the welcome): code is the CloseReason, reason
 * its name, such as "SCHEMA_MISMATCH", retryable whether reconnecting may help.
 */
export class RefusedError extends Error {
  /**
   * @param {number} code
   * @param {string} message
   */
  constructor(code, message) {
    super(`refused: ${reasonName(code)} ${message}`);
    this.name = "RefusedError";
    this.code = code;
    this.reason = reasonName(code);
    this.retryable = RETRYABLE.has(code);
  }
}

function hex(id) {
  return `0x${(id >>> 0).toString(16).padStart(8, "0")}`;
}

// dequantizeInput is the input as the server sees it: each field's quantized value in real units.
function dequantizeInput(plan, values) {
  const out = {};
  plan.fields.forEach((f, k) => {
    out[f.localName] = dequantize(f, values[k]);
  });
  return out;
}

/** Converts a hex string to bytes. */
function hexBytes(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(2 * i, 2), 16);
  return out;
}

function appendVarint(out, n) {
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
}

/** Frames a ControlMessage with its varint length. */
export function frameControl(msg) {
  const body = toBinary(ControlMessageSchema, create(ControlMessageSchema, msg));
  const head = [];
  appendVarint(head, body.length);
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

/** ControlReader splits a byte stream into control messages. */
export class ControlReader {
  constructor() {
    this.buf = new Uint8Array(0);
  }

  /** Adds bytes and returns the complete messages they finish. Throws on a malformed frame. */
  push(chunk) {
    const merged = new Uint8Array(this.buf.length + chunk.length);
    merged.set(this.buf);
    merged.set(chunk, this.buf.length);
    const out = [];
    let off = 0;
    for (;;) {
      let n = 0, shift = 0, i = off, done = false;
      while (i < merged.length && i - off < 4) {
        const b = merged[i++];
        n += (b & 0x7f) * 2 ** shift;
        shift += 7;
        if (b < 0x80) {
          done = true;
          break;
        }
      }
      if (!done) {
        if (i - off >= 4) throw new Error("control frame length too long");
        break;
      }
      if (n > MAX_CONTROL) throw new Error(`control frame of ${n} bytes`);
      if (merged.length - i < n) break;
      out.push(fromBinary(ControlMessageSchema, merged.subarray(i, i + n)));
      off = i + n;
    }
    this.buf = merged.slice(off);
    return out;
  }
}

// Close reasons after which reconnecting is worth it.
export const RETRYABLE = new Set([
  CloseReason.UNSPECIFIED, CloseReason.CONNECTION_LOST, CloseReason.SERVER_SHUTDOWN,
  CloseReason.ROOM_FULL, CloseReason.TOO_MANY_SESSIONS, CloseReason.SLOW_CONSUMER,
  CloseReason.INTERNAL_ERROR, CloseReason.IDLE_TIMEOUT, CloseReason.HANDSHAKE_TIMEOUT,
  CloseReason.ROOM_LIMIT, CloseReason.ROOM_MOVED,
]);

// A client paced by an InputHint still sends a frame at its next input once this many snapshots
// arrived since its last one, so that its acks keep pace with the snapshots (see InputHint).
const ACK_AFTER_SNAPSHOTS = 2;

// The most inputs per frame an InputHint may ask for: with at least 3 copies of each input, a
// frame holds 16 (MaxInputsPerFrame).
const MAX_SEND_EVERY = 5;

/** Turns an InputHint's sendEvery into one the client can follow: an integer in 1..5. */
export function clampSendEvery(n) {
  return Math.min(Math.max(Math.trunc(Number(n)) || 1, 1), MAX_SEND_EVERY);
}

/**
 * The fields of a generated message type E, without protobuf-es's bookkeeping: what an entity view
 * holds in real units, and what an input sampler returns.
 * @template {import("@bufbuild/protobuf").Message} E
 * @typedef {Omit<E, "$typeName" | "$unknown">} Fields
 */

/**
 * An entity in real units: its id and kind, and its message's replicated fields by localName
 * (Fixed and Angle numbers, Int numbers or booleans, Quat {x, y, z, w}).
 * @template {import("@bufbuild/protobuf").Message} E
 * @typedef {{id: number, kind: number} & Fields<E>} EntityView
 */

/**
 * What onSnapshot receives: the view in real units, and the quantized states it came from.
 * @template {import("@bufbuild/protobuf").Message} E
 * @typedef {object} SnapshotInfo
 * @property {number} tick
 * @property {EntityView<E>[]} view entities sorted by id, in real units
 * @property {import("./netcode.js").EntityState[]} states the same entities, quantized
 * @property {number} lastInputSeq the newest input of this client the server has applied
 * @property {number} ageMs how old the snapshot is, by the server's clock
 */

/**
 * Options of a TickrelayClient.
 * @template {import("@bufbuild/protobuf").Message} E the game's entity message
 * @template {import("@bufbuild/protobuf").Message} I the game's input message
 * @typedef {object} ClientOptions
 * @property {string} url WebTransport URL, https://host:port/play
 * @property {import("@bufbuild/protobuf/codegenv2").GenMessage<E>} entitySchema the game's entity message descriptor (its generated _pb.js)
 * @property {import("@bufbuild/protobuf/codegenv2").GenMessage<I>} inputSchema the game's input message descriptor
 * @property {() => Partial<Fields<I>>} sample input sampler: the game's input message (or its fields) in real units
 * @property {string} [certHash] hex SHA-256 of a development certificate
 * @property {string} [token] hello token
 * @property {string} [room] room name; "" for the default
 * @property {number} [redundancy] frames each input is sent in (default 4); a frame carries redundancy × sendEvery inputs, at most 16
 * @property {boolean} [ignoreInputHints] send a frame for every input whatever the server's InputHint says
 * @property {() => (number | null)} [renderTick] the fractional tick the page renders others at (Interpolator.time), sent with every input as its view time so that the server judges it against what the player saw (lag compensation); null or absent: none
 * @property {number} [interpDelayMs] how far behind the newest snapshot the page renders, told to the server in the hello (default 100)
 * @property {boolean} [reconnect] reconnect after a retryable close (default true)
 * @property {number} [maxBackoffMs] the longest reconnect delay (default 5000)
 * @property {(welcome: any) => void} [onWelcome]
 * @property {(info: SnapshotInfo<E>) => void} [onSnapshot]
 * @property {(input: Fields<I>) => void} [onInput] each sampled input as the server will see it (quantized), for prediction
 * @property {(players: any[]) => void} [onRoster]
 * @property {(player: any) => void} [onJoin]
 * @property {(playerId: number, reason: string) => void} [onLeave]
 * @property {(event: any) => void} [onEvent]
 * @property {(info: {attempt: number, delayMs: number, reason: string}) => void} [onReconnecting]
 * @property {(info: {reason: string, code: number, message: string}) => void} [onClose] when it gives up: reason is the CloseReason's name, such as "SCHEMA_MISMATCH"
 */

/**
 * A session with a tickrelay server. When the connection drops or the server restarts it
 * reconnects with exponential backoff and full jitter, resuming its player when the server still
 * holds it, and resends its reliable events the server has not applied. A refusal that
 * reconnecting cannot help (a schema mismatch, a bad token) ends it: connect() rejects with a
 * RefusedError and onClose names the reason.
 *
 * The game's entity and input messages (with their tickrelay.v1.replicate options) are compiled
 * into plans at construction; the hello carries their fingerprints, and a room whose schemas
 * differ refuses the client with SCHEMA_MISMATCH.
 * @template {import("@bufbuild/protobuf").Message} E the game's entity message
 * @template {import("@bufbuild/protobuf").Message} I the game's input message
 */
export class TickrelayClient {
  /**
   * @param {ClientOptions<E, I>} opts
   */
  constructor(opts) {
    this.opts = { redundancy: 4, room: "", reconnect: true, maxBackoffMs: 5000, ...opts };
    /** The entity plan, compiled from opts.entitySchema. */
    this.entityPlan = compileEntity(opts.entitySchema);
    /** The input plan, compiled from opts.inputSchema. */
    this.inputPlan = compileInput(opts.inputSchema);
    this.history = new InputHistory(16);
    this.connected = false;
    this.closed = false;
    this.stats = {
      snapshots: 0, stale: 0, decodeErrors: 0, noBaseline: 0, skippedTicks: 0, bytes: 0,
      rttMs: 0, snapshotsPerSec: 0, bytesPerSec: 0, reconnects: 0, events: 0,
    };
    this.tick = 0;
    this.lastEventId = 0n; // newest server event applied
    this.eventSeq = 0n; // newest own event id
    this.outbox = []; // own events not known to be applied
    this.sentAt = new Map(); // input seq -> performance.now(), for RTT
    this.window = []; // {t, bytes} of the last second, for rates
    this.sendEvery = 1; // a frame every this many inputs, as the server's InputHint asks
    this.unsent = 0; // inputs sampled since the last frame
    this.ackedSnapshots = 0; // stats.snapshots when the last frame was sent
  }

  /**
   * Connects and completes the hello; resolves with the welcome. Rejects with a RefusedError when
   * the server refuses the hello, and then, unless the refusal is retryable, the client is closed
   * and onClose has been told.
   */
  async connect() {
    let welcome;
    try {
      welcome = await this.open();
    } catch (err) {
      if (err instanceof RefusedError && !err.retryable) this.giveUp(err.code, err.message);
      throw err;
    }
    this.inputTimer = setInterval(() => this.sendInput(), 1000 / welcome.inputRateHz);
    return welcome;
  }

  // open dials, says hello (resuming when it can) and starts the readers.
  async open() {
    this.opening = true;
    try {
      return await this.handshake();
    } finally {
      this.opening = false;
    }
  }

  async handshake() {
    const o = this.opts;
    const wtOpts = o.certHash
      ? { serverCertificateHashes: [{ algorithm: "sha-256", value: hexBytes(o.certHash) }] }
      : {};
    const wt = new WebTransport(o.url, wtOpts);
    this.wt = wt;
    this.closeInfo = null;
    wt.closed.then(
      (info) => this.ended(wt, info?.closeCode ?? 0, info?.reason ?? ""),
      (err) => this.ended(wt, CloseReason.CONNECTION_LOST, String(err)),
    );
    await wt.ready;
    const ctrl = await wt.createBidirectionalStream();
    this.ctrlWriter = ctrl.writable.getWriter();
    this.ctrlReader = new ControlReader();
    this.ctrlIn = ctrl.readable.getReader();
    const hello = {
      protocolVersion: Version.CURRENT, token: o.token, room: o.room,
      entitySchema: this.entityPlan.id, inputSchema: this.inputPlan.id,
      interpDelayMs: Math.max(0, Math.round(o.interpDelayMs ?? 100)),
    };
    if (this.welcome) {
      Object.assign(hello, {
        resumeToken: this.welcome.resumeToken, lastEventId: this.lastEventId, ackTick: this.tick,
      });
    }
    await this.ctrlWriter.write(frameControl({ msg: { case: "hello", value: hello } }));
    const welcome = await this.readWelcome();
    if (!welcome.resumed || !this.welcome) {
      this.ring = new ViewRing(welcome.baselineWindow);
      this.view = [];
      this.tick = 0;
      this.outbox = [];
      this.eventSeq = 0n;
      this.lastEventId = 0n;
    }
    this.welcome = welcome;
    this.sendEvery = 1; // a new connection starts at a frame per input, until hinted otherwise
    this.unsent = 0;
    this.connected = true;
    this.opts.onWelcome?.(welcome);
    this.outbox = this.outbox.filter((e) => e.id > welcome.lastClientEventId);
    for (const e of this.outbox) this.writeEvent(e);
    this.readControl();
    this.readDatagrams(wt);
    this.readStreams(wt);
    this.datagramWriter = wt.datagrams.writable.getWriter();
    return welcome;
  }

  async readWelcome() {
    for (;;) {
      const { value, done } = await this.ctrlIn.read();
      if (done) throw new Error("control stream ended before the welcome");
      this.stats.bytes += value.length;
      const msgs = this.ctrlReader.push(value);
      for (const [i, m] of msgs.entries()) {
        if (m.msg.case === "welcome") {
          this.backlog = msgs.slice(i + 1); // the roster may come in the same chunk
          this.checkSchemas(m.msg.value);
          return m.msg.value;
        }
        if (m.msg.case === "close") {
          this.closeWith(m.msg.value.reason, m.msg.value.message);
          throw new RefusedError(m.msg.value.reason, m.msg.value.message);
        }
      }
    }
  }

  // checkSchemas refuses a welcome whose room speaks other schemas than this client's plans (a
  // server that checks the hello never sends one; 0 is a server that does not say).
  checkSchemas(w) {
    const e = w.entitySchema ?? 0, i = w.inputSchema ?? 0;
    if ((e !== 0 && e !== this.entityPlan.id) || (i !== 0 && i !== this.inputPlan.id)) {
      try {
        this.wt?.close({ closeCode: CloseReason.SCHEMA_MISMATCH, reason: "schema mismatch" });
      } catch {
        // already closed
      }
      throw new RefusedError(CloseReason.SCHEMA_MISMATCH,
        `room has ${w.entityMessage} ${hex(e)} and ${w.inputMessage} ${hex(i)}, client ` +
        `${this.entityPlan.message} ${hex(this.entityPlan.id)} and ${this.inputPlan.message} ${hex(this.inputPlan.id)}`);
    }
  }

  async readControl() {
    for (const m of this.backlog) this.handleControl(m);
    try {
      for (;;) {
        const { value, done } = await this.ctrlIn.read();
        if (done) return;
        this.stats.bytes += value.length;
        this.window.push({ t: performance.now(), bytes: value.length, snapshot: false });
        for (const m of this.ctrlReader.push(value)) this.handleControl(m);
      }
    } catch (err) {
      if (!this.closed && !this.closeInfo) console.warn("tickrelay: control stream:", err);
    }
  }

  handleControl(m) {
    const v = m.msg.value;
    switch (m.msg.case) {
      case "roster": this.opts.onRoster?.(v.players); break;
      case "joined": this.opts.onJoin?.(v.player); break;
      case "left": this.opts.onLeave?.(v.playerId, reasonName(v.reason)); break;
      case "close":
        this.closeInfo = { code: v.reason, message: v.message, retryAfterMs: v.retryAfterMs };
        this.closeWith(v.reason, v.message);
        break;
      case "inputHint":
        if (!this.opts.ignoreInputHints) this.sendEvery = clampSendEvery(v.sendEvery);
        break;
      case "event":
        if (v.id <= this.lastEventId) break; // resent after a reconnect: already applied
        this.lastEventId = v.id;
        this.stats.events++;
        this.opts.onEvent?.(v);
        break;
      default: break;
    }
  }

  // One long-lived reader per readable: racing reads against timeouts loses data.
  async readDatagrams(wt) {
    const reader = wt.datagrams.readable.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        this.applySnapshot(value);
      }
    } catch {
      // the session ended; ended() reports it
    }
  }

  async readStreams(wt) {
    const streams = wt.incomingUnidirectionalStreams.getReader();
    try {
      for (;;) {
        const { value, done } = await streams.read();
        if (done) return;
        this.readSnapshotStream(value);
      }
    } catch {
      // the session ended
    }
  }

  async readSnapshotStream(stream) {
    const chunks = [];
    let n = 0;
    try {
      for await (const c of stream) {
        chunks.push(c);
        n += c.length;
      }
    } catch {
      return; // reset by the server: a newer tick replaced it
    }
    const buf = new Uint8Array(n);
    let off = 0;
    for (const c of chunks) {
      buf.set(c, off);
      off += c.length;
    }
    this.applySnapshot(buf);
  }

  applySnapshot(bytes) {
    const now = performance.now();
    this.stats.bytes += bytes.length;
    this.window.push({ t: now, bytes: bytes.length, snapshot: false });
    let s;
    try {
      s = decodeSnapshot(bytes);
    } catch (err) {
      this.stats.decodeErrors++;
      console.warn("tickrelay: undecodable snapshot:", err);
      return;
    }
    if (this.tick !== 0 && !seqAfter(s.tick, this.tick)) {
      this.stats.stale++;
      return;
    }
    let base = [];
    if (s.baselineTick !== 0) {
      base = this.ring.baseline(s.baselineTick, s.tick);
      if (!base) {
        this.stats.noBaseline++;
        return;
      }
    }
    let view;
    try {
      view = applyDelta(this.entityPlan, base, s);
    } catch (err) {
      this.stats.decodeErrors++;
      console.warn("tickrelay:", err.message);
      return;
    }
    this.ring.store(s.tick, view);
    if (this.tick !== 0) this.stats.skippedTicks += tickGap(this.tick, s.tick);
    this.tick = s.tick;
    this.view = view;
    this.stats.snapshots++;
    this.window[this.window.length - 1].snapshot = true;
    const sent = this.sentAt.get(s.lastInputSeq);
    if (sent !== undefined) {
      const rtt = now - sent;
      this.stats.rttMs = this.stats.rttMs ? this.stats.rttMs * 0.9 + rtt * 0.1 : rtt;
      this.sentAt.delete(s.lastInputSeq);
    }
    const nowUs = Math.floor((performance.timeOrigin + now) * 1000) % 2 ** 32;
    const ageMs = (((nowUs - s.serverTimeUs) | 0)) / 1000;
    this.updateRates(now);
    if (this.opts.onSnapshot) {
      const real = view.map((e) => entityView(this.entityPlan, e));
      this.opts.onSnapshot({ tick: s.tick, view: real, states: view, lastInputSeq: s.lastInputSeq, ageMs });
    }
  }

  updateRates(now) {
    while (this.window.length && this.window[0].t < now - 1000) this.window.shift();
    const span = Math.max(now - (this.window[0]?.t ?? now), 250) / 1000;
    let bytes = 0, snaps = 0;
    for (const w of this.window) {
      bytes += w.bytes;
      if (w.snapshot) snaps++;
    }
    this.stats.bytesPerSec = bytes / span;
    this.stats.snapshotsPerSec = (snaps - 1) / span;
  }

  /**
   * Samples and records one input, and sends a frame when it is due: after every input, or after
   * every sendEvery-th when the server asks for fewer frames (and sooner once two snapshots
   * arrived since the last frame, to acknowledge them); each frame carries the newest
   * redundancy × sendEvery inputs, so every input still travels in as many frames. Returns the
   * input sampled.
   */
  sendInput() {
    if (!this.connected) return null;
    const input = this.opts.sample();
    const values = quantizeInput(this.inputPlan, input);
    const seen = dequantizeInput(this.inputPlan, values);
    const seq = this.history.push(seen, values, viewTime(this.opts.renderTick?.() ?? null));
    this.sentAt.set(seq, performance.now());
    if (this.sentAt.size > 64) this.sentAt.delete(this.sentAt.keys().next().value);
    this.opts.onInput?.(seen);
    const fresh = this.stats.snapshots - this.ackedSnapshots;
    if (++this.unsent < this.sendEvery && fresh < ACK_AFTER_SNAPSHOTS) return input;
    this.unsent = 0;
    this.ackedSnapshots = this.stats.snapshots;
    const n = Math.min(this.history.size, this.opts.redundancy * this.sendEvery);
    const records = this.history.newest(n);
    const frame = create(InputFrameSchema, {
      seq,
      ackTick: this.tick,
      inputValues: inputValues(records.map((r) => r.values)),
      viewBack: viewBacks(records, this.tick),
    });
    this.datagramWriter.write(toBinary(InputFrameSchema, frame)).catch(() => {});
    return input;
  }

  /**
   * Inputs the server has not applied as of a snapshot's lastInputSeq, oldest first, as the server
   * will see them (quantized, in real units).
   * @returns {Fields<I>[]}
   */
  pendingInputs(lastInputSeq) {
    return this.history.after(lastInputSeq).map((r) => r.input);
  }

  /**
   * Sends a reliable event (for example kind "chat") and returns its id. It is resent after a
   * reconnect until the server has applied it; the server applies each once.
   */
  sendEvent(kind, payload) {
    this.eventSeq++;
    const e = { id: this.eventSeq, kind, payload };
    this.outbox.push(e);
    if (this.outbox.length > 64) this.outbox.shift();
    if (this.connected) this.writeEvent(e);
    return e.id;
  }

  writeEvent(e) {
    this.ctrlWriter.write(frameControl({ msg: { case: "event", value: e } })).catch(() => {});
  }

  // closeWith closes the session once the server said why it ends: the server waits for that
  // (bounded) before it closes the session itself, which resets the control stream, and a reset
  // stream loses what the page had not read yet.
  closeWith(code, message) {
    try {
      this.wt?.close({ closeCode: code, reason: String(message ?? "").slice(0, 256) });
    } catch {
      // already closed
    }
  }

  ended(wt, code, message) {
    // An older connection, one still in its handshake (open() reports that), or closed by us.
    if (wt !== this.wt || this.closed || this.opening) return;
    this.connected = false;
    const info = this.closeInfo ?? { code, message, retryAfterMs: 0 };
    if (this.opts.reconnect && !this.userClosed && RETRYABLE.has(info.code) && this.welcome) {
      this.reconnect(info, 0);
      return;
    }
    this.giveUp(info.code, info.message);
  }

  // giveUp ends the client for good and tells the page why.
  giveUp(code, message) {
    this.closed = true;
    this.connected = false;
    clearInterval(this.inputTimer);
    this.opts.onClose?.({ reason: reasonName(code), code, message });
  }

  // reconnect tries again after a jittered, doubling delay, first honouring the server's hint.
  reconnect(info, attempt) {
    const cap = Math.min(this.opts.maxBackoffMs, 100 * 2 ** attempt);
    const delayMs = attempt === 0 && info.retryAfterMs ? info.retryAfterMs : Math.random() * cap;
    this.opts.onReconnecting?.({ attempt, delayMs, reason: reasonName(info.code) });
    setTimeout(async () => {
      if (this.userClosed) return;
      try {
        await this.open();
        this.stats.reconnects++;
      } catch (err) {
        if (err instanceof RefusedError && !err.retryable) {
          this.giveUp(err.code, err.message);
          return;
        }
        this.reconnect({ code: CloseReason.CONNECTION_LOST }, attempt + 1);
      }
    }, delayMs);
  }

  /** Closes the session normally. */
  close() {
    this.userClosed = true;
    try {
      this.wt?.close({ closeCode: CloseReason.NORMAL, reason: "bye" });
    } catch {
      // already closed
    }
  }
}
