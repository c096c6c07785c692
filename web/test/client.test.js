import assert from "node:assert/strict";
import { test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { ControlReader, RETRYABLE, RefusedError, TickrelayClient, frameControl, reasonName } from "../src/client.js";
import { EntitySchema, InputSchema } from "../src/gen/arena_pb.js";
import { CloseReason, SnapshotSchema, Version } from "../src/gen/tickrelay_pb.js";
import { compileEntity, compileInput } from "../src/plan.js";

test("control frames split across and within chunks", () => {
  const a = frameControl({ msg: { case: "left", value: { playerId: 7, reason: 8 } } });
  const b = frameControl({ msg: { case: "joined", value: { player: { playerId: 9, name: "x".repeat(300) } } } });
  const all = new Uint8Array([...a, ...b]);
  const r = new ControlReader();
  const got = [];
  for (let i = 0; i < all.length; i += 5) got.push(...r.push(all.subarray(i, i + 5)));
  assert.equal(got.length, 2);
  assert.equal(got[0].msg.value.playerId, 7);
  assert.equal(reasonName(got[0].msg.value.reason), "IDLE_TIMEOUT");
  assert.equal(got[1].msg.value.player.name.length, 300);
});

test("oversize control frames are refused", () => {
  const r = new ControlReader();
  assert.throws(() => r.push(new Uint8Array([0x80, 0x80, 0x80, 0x01])), /control frame/);
});

// A WebTransport stand-in: the control stream's writes are parsed as the server would, and the
// test answers with control messages and snapshot datagrams.
class FakeWebTransport {
  static last = null;
  constructor(url, opts) {
    FakeWebTransport.last = this;
    this.url = url;
    this.opts = opts;
    this.ready = Promise.resolve();
    this.closed = new Promise((resolve) => { this.close = (info) => resolve(info ?? {}); });
    this.sent = new ControlReader();
    this.hello = new Promise((resolve) => { this.gotHello = resolve; });
    this.ctrl = new TransformStream();
    this.dgrams = new TransformStream();
    this.datagrams = { readable: this.dgrams.readable, writable: new WritableStream() };
    this.incomingUnidirectionalStreams = new ReadableStream();
    this.toClient = this.ctrl.writable.getWriter();
    this.datagramOut = this.dgrams.writable.getWriter();
  }

  async createBidirectionalStream() {
    return {
      readable: this.ctrl.readable,
      writable: new WritableStream({
        write: (chunk) => {
          for (const m of this.sent.push(chunk)) if (m.msg.case === "hello") this.gotHello(m.msg.value);
        },
      }),
    };
  }

  send(msg) {
    return this.toClient.write(frameControl({ msg }));
  }
}

function clientWith(opts) {
  globalThis.WebTransport = FakeWebTransport;
  return new TickrelayClient({
    url: "https://127.0.0.1:1/play", token: "t", entitySchema: EntitySchema, inputSchema: InputSchema,
    sample: () => ({ moveX: 0, moveY: 0, buttons: 0 }), ...opts,
  });
}

test("the hello names the schemas; SCHEMA_MISMATCH is a typed close the page sees, not retried", async () => {
  const closes = [], reconnects = [];
  const c = clientWith({ onClose: (i) => closes.push(i), onReconnecting: (i) => reconnects.push(i) });
  const connecting = c.connect();
  const wt = FakeWebTransport.last;
  const hello = await wt.hello;
  assert.equal(hello.protocolVersion, Version.CURRENT);
  assert.equal(hello.entitySchema, compileEntity(EntitySchema).id);
  assert.equal(hello.inputSchema, compileInput(InputSchema).id);
  assert.notEqual(hello.entitySchema, 0);
  await wt.send({ case: "close", value: { reason: CloseReason.SCHEMA_MISMATCH, message: "room has other schemas" } });
  await assert.rejects(connecting, (err) => err instanceof RefusedError && err.reason === "SCHEMA_MISMATCH" && !err.retryable);
  assert.deepEqual(closes.map((i) => i.reason), ["SCHEMA_MISMATCH"]);
  assert.equal(closes[0].code, CloseReason.SCHEMA_MISMATCH);
  assert.equal(reconnects.length, 0);
  assert.ok(c.closed);
  assert.ok(!RETRYABLE.has(CloseReason.SCHEMA_MISMATCH));
});

test("a welcome naming other schemas is refused by the client as SCHEMA_MISMATCH", async () => {
  const closes = [];
  const c = clientWith({ onClose: (i) => closes.push(i) });
  const connecting = c.connect();
  const wt = FakeWebTransport.last;
  await wt.hello;
  await wt.send({ case: "welcome", value: { entitySchema: 1, inputSchema: compileInput(InputSchema).id, inputRateHz: 30 } });
  await assert.rejects(connecting, (err) => err instanceof RefusedError && err.code === CloseReason.SCHEMA_MISMATCH);
  assert.deepEqual(closes.map((i) => i.reason), ["SCHEMA_MISMATCH"]);
});

test("onSnapshot gives the entities in real units, keyed by the entity message's fields", async () => {
  const snaps = [];
  const c = clientWith({ onSnapshot: (s) => snaps.push(s) });
  const connecting = c.connect();
  const wt = FakeWebTransport.last;
  await wt.hello;
  const plan = compileEntity(EntitySchema);
  await wt.send({ case: "welcome", value: {
    playerId: 1, entityId: 7, entitySchema: plan.id, inputSchema: compileInput(InputSchema).id,
    inputRateHz: 1000, tickRateHz: 30, baselineWindow: 32,
  } });
  await connecting;
  const snap = create(SnapshotSchema, { tick: 5, enteredIds: [7], enteredKinds: [1], enteredValues: [400, 8, 128, 3] });
  await wt.datagramOut.write(toBinary(SnapshotSchema, snap));
  for (let i = 0; i < 100 && snaps.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
  c.close();
  clearInterval(c.inputTimer);
  assert.equal(snaps.length, 1);
  assert.deepEqual(snaps[0].view, [{ id: 7, kind: 1, x: 100, y: 2, heading: Math.PI, state: 3 }]);
  assert.deepEqual([...snaps[0].states[0].fields], [400, 8, 128, 3]);
});
