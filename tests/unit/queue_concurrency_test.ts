/**
 * Memory ordering under real concurrency: the device runs in a Worker on SharedArrayBuffer
 * ring memory and checks that every descriptor it reads after the index/flags is complete,
 * while the driver validates every used entry. Evidence for the Atomics placement described
 * in lib/queue/split_ring.ts and packed_ring.ts (x86 TSO + V8), not a proof for every machine.
 *
 * Two driver paths, both formats: the one-by-one path (addOne through SlotPoster, pollUsed)
 * and the production bulk slot path the packet queues use (useSlots once, then addSlots /
 * kick / pollSlots), whose descriptors keep their address and only get a new length.
 */
import assert from "node:assert/strict";
import { BufferSlots, SlotPoster } from "../../lib/queue/slots.ts";
import type { RingFormat, Virtqueue } from "../../lib/queue/types.ts";
import { createVirtqueue } from "../../lib/queue/virtqueue.ts";
import { FakeDma } from "../../testing/fake_dma.ts";
import {
  CONTROL_COMPLETED,
  CONTROL_ERRORS,
  CONTROL_RUNNING,
  CONTROL_STOP,
  type WorkerDeviceSetup,
} from "../../testing/sim_worker_device.ts";

const TARGET = 1_000_000;
const TIME_LIMIT_MS = 2500;
const SIZE = 256;

/** One driver step: post what is free, kick, collect; returns how many completed. */
type Step = () => number;

/**
 * Starts the worker device on `q`'s ring, runs `step` until TARGET completions or the time
 * limit, stops the device and checks what both sides saw.
 */
async function runAgainstWorker(
  format: RingFormat,
  q: Virtqueue,
  slots: BufferSlots,
  step: Step,
): Promise<void> {
  const control = new Int32Array(new SharedArrayBuffer(16));
  const base = q.region.iova;
  const setup: WorkerDeviceSetup = {
    format,
    size: SIZE,
    ring: q.region.bytes.buffer as SharedArrayBuffer,
    desc: q.addresses.desc - base,
    avail: q.addresses.driver - base,
    used: q.addresses.device - base,
    slots: slots.region.bytes.buffer as SharedArrayBuffer,
    slotsIova: slots.region.iova,
    slotSize: slots.slotSize,
    control: control.buffer as SharedArrayBuffer,
  };
  const worker = new Worker(
    new URL("../../testing/sim_worker_device.ts", import.meta.url).href,
    { type: "module" },
  );
  const done = new Promise((resolve) => (worker.onmessage = resolve));
  worker.postMessage(setup);
  // The worker starts through this thread's event loop: let it, before busy-looping.
  for (let i = 0; i < 500 && Atomics.load(control, CONTROL_RUNNING) === 0; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(Atomics.load(control, CONTROL_RUNNING), 1, "worker device did not start");
  let completed = 0;
  const t0 = performance.now();
  try {
    while (completed < TARGET && performance.now() - t0 < TIME_LIMIT_MS) completed += step();
  } finally {
    Atomics.store(control, CONTROL_STOP, 1);
    await done;
    worker.terminate();
  }
  assert.equal(Atomics.load(control, CONTROL_ERRORS), 0, "device saw incomplete descriptors");
  assert.ok(completed > 10_000, `only ${completed} completions`);
  console.log(`${completed} buffers through a concurrent device`);
  assert.ok(Atomics.load(control, CONTROL_COMPLETED) >= completed);
}

/** What the device checks: a slot starts with its sequence number, its length follows it. */
function stamp(slotWords: Uint32Array, slots: BufferSlots, s: number, seq: number): number {
  slotWords[(s * slots.slotSize) / 4] = seq;
  return 60 + (seq % 5);
}

function setUp(format: RingFormat) {
  const dma = new FakeDma({ shared: true });
  const q = createVirtqueue({ dma, size: SIZE, format, notify: () => {} });
  q.disableInterrupts();
  const slots = new BufferSlots(dma, SIZE, 2048);
  return { q, slots, slotWords: new Uint32Array(slots.region.bytes.buffer) };
}

for (const format of ["split", "packed"] as const) {
  Deno.test(`${format}, one by one: a concurrent device sees complete descriptors, the driver valid used entries`, async () => {
    const { q, slots, slotWords } = setUp(format);
    const tx = new SlotPoster(q, slots);
    const outSlots = new Uint32Array(64), outLens = new Uint32Array(64);
    const inFlight = new Uint8Array(SIZE);
    let seq = 0;
    await runAgainstWorker(format, q, slots, () => {
      for (let i = 0; i < 32; i++) {
        const s = slots.take();
        if (s < 0) break;
        assert.ok(tx.postTx(s, stamp(slotWords, slots, s, ++seq)));
        inFlight[s] = 1;
      }
      tx.kick();
      const n = tx.pollUsed(outSlots, outLens);
      for (let i = 0; i < n; i++) {
        const s = outSlots[i]!;
        assert.equal(inFlight[s], 1, `slot ${s} returned twice`);
        inFlight[s] = 0;
        slots.give(s);
      }
      return n;
    });
  });

  Deno.test(`${format}, bulk slots: a concurrent device sees complete descriptors, the driver valid used entries`, async () => {
    const { q, slots, slotWords } = setUp(format);
    q.useSlots(slots.region.iova, slots.slotSize, false);
    // Free slots in a ring (as the packet queues keep them): pollSlots appends at `tail`,
    // addSlots takes from `head`.
    const ring = new Uint32Array(SIZE);
    for (let s = 0; s < SIZE; s++) ring[s] = s;
    let head = 0, free = SIZE;
    const lens = new Uint32Array(SIZE);
    const usedLens = new Uint32Array(SIZE);
    const inFlight = new Uint8Array(SIZE);
    let seq = 0;
    await runAgainstWorker(format, q, slots, () => {
      const count = free < 32 ? free : 32;
      for (let k = 0; k < count; k++) {
        const s = ring[(head + k) % SIZE]!;
        lens[s] = stamp(slotWords, slots, s, ++seq);
        inFlight[s] = 1;
      }
      q.addSlots(ring, head, count, lens);
      head = (head + count) % SIZE;
      free -= count;
      q.kick();
      const tail = (head + free) % SIZE;
      const n = q.pollSlots(ring, tail, SIZE - free, usedLens);
      for (let k = 0; k < n; k++) {
        const s = ring[(tail + k) % SIZE]!;
        assert.equal(inFlight[s], 1, `slot ${s} returned twice`);
        assert.equal(usedLens[s], 0, "transmit buffers come back with used length 0");
        inFlight[s] = 0;
      }
      free += n;
      return n;
    });
    assert.equal(q.broken, false);
    assert.equal(q.inFlight + free, SIZE);
  });
}
