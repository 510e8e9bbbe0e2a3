/**
 * Memory ordering under real concurrency: the device runs in a Worker on SharedArrayBuffer
 * ring memory and checks that every descriptor it reads after the index/flags is complete,
 * while the driver validates every used entry. Evidence for the Atomics placement described
 * in lib/queue/split.ts and packed.ts (x86 TSO + V8), not a proof for every machine.
 */
import assert from "node:assert/strict";
import { BufferSlots, SlotQueue } from "../../lib/queue/slots.ts";
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

for (const format of ["split", "packed"] as const) {
  Deno.test(`${format}: a concurrent device sees complete descriptors, the driver valid used entries`, async () => {
    const dma = new FakeDma({ shared: true });
    const size = 256;
    const q = createVirtqueue({ dma, size, format, notify: () => {} });
    q.disableInterrupts();
    const slots = new BufferSlots(dma, size, 2048);
    const tx = new SlotQueue(q, slots);
    const slotWords = new Uint32Array(slots.region.bytes.buffer);
    const control = new Int32Array(new SharedArrayBuffer(16));
    const base = q.region.iova;
    const setup: WorkerDeviceSetup = {
      format,
      size,
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
    const outSlots = new Uint32Array(64), outLens = new Uint32Array(64);
    const inFlight = new Uint8Array(size);
    let seq = 0, completed = 0;
    const t0 = performance.now();
    try {
      while (completed < TARGET && performance.now() - t0 < TIME_LIMIT_MS) {
        for (let i = 0; i < 32; i++) {
          const s = slots.take();
          if (s < 0) break;
          seq++;
          slotWords[(s * slots.slotSize) / 4] = seq;
          assert.ok(tx.postTx(s, 60 + (seq % 5)));
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
        completed += n;
      }
    } finally {
      Atomics.store(control, CONTROL_STOP, 1);
      await done;
      worker.terminate();
    }
    assert.equal(Atomics.load(control, CONTROL_ERRORS), 0, "device saw incomplete descriptors");
    assert.ok(completed > 10_000, `only ${completed} completions`);
    console.log(`${completed} buffers through a concurrent device`);
    assert.ok(Atomics.load(control, CONTROL_COMPLETED) >= completed);
  });
}
