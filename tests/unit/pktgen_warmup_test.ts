/**
 * The JIT warm-up (lib/pktgen/run/warmup.ts) runs the engine on private rings: frames flow
 * there (sent, and received valid), while the real queues, the stream's sequence numbers and
 * the callbacks see nothing. And the receive refill batching (RxQueue.refill).
 */
import assert from "node:assert/strict";
import { FakeDma } from "../../testing/fake_dma.ts";
import { createVirtqueue, type RingFormat } from "../../lib/queue/virtqueue.ts";
import { RxQueue, TxQueue } from "../../lib/net/packet_queues.ts";
import { FrameWriter } from "../../lib/pktgen/frame.ts";
import { parseRange } from "../../lib/pktgen/flows.ts";
import { monotonicNs } from "../../lib/pktgen/pacer.ts";
import { parseSizes } from "../../lib/pktgen/sizes.ts";
import type { EngineSpec } from "../../lib/pktgen/run/engine.ts";
import { warmUp } from "../../lib/pktgen/run/warmup.ts";

const HEADER = 12;

function writer() {
  return new FrameWriter({
    ipVersion: 4,
    srcMac: parseRange("mac", "02:00:00:00:00:01"),
    dstMac: parseRange("mac", "02:00:00:00:00:02"),
    srcIp: parseRange("ipv4", "10.0.0.1"),
    dstIp: parseRange("ipv4", "10.0.0.2"),
    srcPort: parseRange("port", "1024"),
    dstPort: parseRange("port", "9"),
    maxWireSize: 64,
    stampTime: false,
  });
}

function spec(format: RingFormat, mode: "tx" | "rx", signal: AbortSignal): EngineSpec {
  const dma = new FakeDma();
  const notified: number[] = [];
  const q = (size: number) =>
    createVirtqueue({ dma, size, format, notify: (v) => notified.push(v) });
  const sizes = parseSizes("64");
  const w = writer();
  const txq = new TxQueue(q(64), dma, HEADER);
  for (const f of txq.frames) w.prefill(f, 0, 64);
  return {
    tx: mode === "tx" ? [{ queue: txq, writer: w, sizes, oneSize: true, seq: 7 }] : [],
    rx: mode === "rx" ? [new RxQueue(q(64), dma, HEADER)] : [],
    batch: 32,
    intervalS: 1,
    stallS: 3,
    verifyAll: true,
    latency: false,
    devices: [],
    signal,
    clock: monotonicNs,
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    onInterval: () => {
      throw new Error("the warm-up reported an interval");
    },
  };
}

for (const format of ["split", "packed"] as const) {
  Deno.test(`warm-up (${format}, tx): frames flow on private rings, the real queue sees none`, async () => {
    const s = spec(format, "tx", new AbortController().signal);
    const r = await warmUp(s, 30);
    assert.ok(r.sent > 0, "the warm-up sent nothing");
    const real = s.tx[0]!;
    assert.equal(real.seq, 7);
    assert.equal(real.queue.packets, 0);
    assert.equal(real.queue.queue.stats.added, 0);
    assert.equal(real.queue.queue.stats.publishes, 0);
  });

  Deno.test(`warm-up (${format}, rx): valid frames are received on private rings`, async () => {
    const s = spec(format, "rx", new AbortController().signal);
    const r = await warmUp(s, 30);
    assert.ok(r.received > 0, "the warm-up received no valid frame");
    assert.equal(s.rx[0]!.packets, 0);
    assert.equal(s.rx[0]!.queue.stats.added, 0);
  });
}

Deno.test("warm-up: the stream's writer starts the real run at its first flow", async () => {
  const varying = () =>
    new FrameWriter({
      ipVersion: 4,
      srcMac: parseRange("mac", "02:00:00:00:00:01"),
      dstMac: parseRange("mac", "02:00:00:00:00:02"),
      srcIp: parseRange("ipv4", "10.0.0.1"),
      dstIp: parseRange("ipv4", "10.1.0.1-10.1.0.5"),
      srcPort: parseRange("port", "1000-1009,random"),
      dstPort: parseRange("port", "9"),
      maxWireSize: 128,
      seed: 3,
    });
  const s = spec("split", "tx", new AbortController().signal);
  const w = varying();
  const tx = { ...s.tx[0]!, writer: w, sizes: parseSizes("64-128"), oneSize: false };
  for (const f of tx.queue.frames) w.prefill(f, 0);
  const r = await warmUp({ ...s, tx: [tx] }, 30);
  assert.ok(r.sent > 0, "the warm-up sent nothing");
  const fresh = varying();
  const got = new Uint8Array(2048), want = new Uint8Array(2048);
  for (let i = 0; i < 20; i++) {
    const n = w.writeFull(got, 0, 64 + i, i, 5);
    assert.equal(fresh.writeFull(want, 0, 64 + i, i, 5), n);
    assert.deepEqual(got.subarray(0, n), want.subarray(0, n), `frame ${i}`);
  }
});

Deno.test("warm-up: an aborted signal ends it at once", async () => {
  const ac = new AbortController();
  ac.abort();
  const r = await warmUp(spec("split", "tx", ac.signal), 60_000);
  assert.equal(r.sent, 0);
});

for (const format of ["split", "packed"] as const) {
  Deno.test(`RxQueue.refill (${format}): one publish per refillBatch recycled slots`, () => {
    const dma = new FakeDma();
    const vq = createVirtqueue({ dma, size: 16, format, notify: () => {} });
    const rx = new RxQueue(vq, dma, HEADER, { refillBatch: 4 });
    for (const slot of [0, 1, 2]) rx.recycle(slot);
    rx.refill();
    assert.equal(vq.stats.publishes, 0, "published before the batch was full");
    assert.equal(vq.stats.added, 0);
    rx.recycle(3);
    rx.refill();
    assert.equal(vq.stats.publishes, 1);
    assert.equal(vq.stats.added, 4);
    rx.refill(); // nothing staged
    assert.equal(vq.stats.publishes, 1);
    assert.throws(() => new RxQueue(vq, dma, HEADER, { refillBatch: 17 }), RangeError);
  });
}
