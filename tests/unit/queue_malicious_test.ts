/** Each way a device can break the ring contract, one by one: DeviceError, and it sticks. */
import assert from "node:assert/strict";
import { DeviceError } from "../../lib/errors.ts";
import { VIRTQ_PACKED_F_AVAIL, VIRTQ_PACKED_F_USED } from "../../lib/queue/layout.ts";
import { createVirtqueue, type RingFormat, type Virtqueue } from "../../lib/queue/virtqueue.ts";
import { FakeDma } from "../../testing/fake_dma.ts";
import { type SimBuffer, SimQueue } from "../../testing/sim_device.ts";

const USED_BOTH = VIRTQ_PACKED_F_AVAIL | VIRTQ_PACKED_F_USED;

/** Two buffers in flight: a 60-byte tx (token 1) and a 100-byte rx (token 2). */
function twoInFlight(format: RingFormat) {
  const dma = new FakeDma();
  const sim = new SimQueue(dma, { format, size: 8 });
  const q = createVirtqueue({ dma, size: 8, format, notify: sim.notify });
  sim.attach(q.addresses);
  const mem = dma.alloc(4096);
  q.addOne(mem.iova, 60, false, 1);
  q.addOne(mem.iova + 2048, 100, true, 2);
  q.kick();
  const bufs = sim.take();
  assert.equal(bufs.length, 2);
  return { q, sim, bufs: bufs as [SimBuffer, SimBuffer], mem };
}

const out = () => ({ tokens: new Uint32Array(8), lens: new Uint32Array(8) });

/** The queue is broken and every entry point now throws DeviceError. */
function assertBroken(q: Virtqueue, mem: { iova: number }, pattern: RegExp) {
  const { tokens, lens } = out();
  assert.throws(
    () => q.pollUsed(tokens, lens),
    (e) => e instanceof DeviceError && pattern.test(e.message),
  );
  assert.equal(q.broken, true);
  assert.throws(() => q.pollUsed(tokens, lens), DeviceError);
  assert.throws(() => q.addOne(mem.iova, 8, false, 3), DeviceError);
  assert.throws(() => q.addBuffer([{ iova: mem.iova, len: 8 }], [], 3), DeviceError);
  assert.throws(() => q.kick(), DeviceError);
  assert.throws(() => q.hasUsed(), DeviceError);
  assert.throws(() => q.enableInterrupts(), DeviceError);
  assert.throws(() => q.disableInterrupts(), DeviceError);
}

Deno.test("split: used id out of range", () => {
  const { q, sim, mem } = twoInFlight("split");
  sim.writeUsed(8, 0);
  sim.publish();
  assertBroken(q, mem, /used id 8 is out of range/);
});

Deno.test("split: used id in range but not in flight", () => {
  const { q, sim, mem } = twoInFlight("split");
  sim.writeUsed(5, 0);
  sim.publish();
  assertBroken(q, mem, /not in flight/);
});

Deno.test("split: the same buffer completed twice", () => {
  const { q, sim, bufs, mem } = twoInFlight("split");
  sim.complete(bufs[0], 0);
  sim.publish();
  const { tokens, lens } = out();
  assert.equal(q.pollUsed(tokens, lens), 1);
  sim.complete(bufs[0], 0);
  sim.publish();
  assertBroken(q, mem, /not in flight/);
});

Deno.test("split: used length above the buffer's writable size", () => {
  const { q, sim, bufs, mem } = twoInFlight("split");
  sim.complete(bufs[1], 101);
  sim.publish();
  assertBroken(q, mem, /len 101 .* exceeds its 100 writable bytes/);
});

Deno.test("split: a device-readable buffer reported as written", () => {
  const { q, sim, bufs, mem } = twoInFlight("split");
  sim.complete(bufs[0], 1);
  sim.publish();
  assertBroken(q, mem, /exceeds its 0 writable bytes/);
});

Deno.test("split: used idx jumps ahead of what is in flight", () => {
  const { q, sim, mem } = twoInFlight("split");
  sim.rawSetUsedIdx(3);
  assertBroken(q, mem, /ahead .* only 2 buffers are in flight/);
});

Deno.test("split: used idx moving backwards is a jump of 65535", () => {
  const { q, sim, mem } = twoInFlight("split");
  sim.rawSetUsedIdx(0xffff);
  assertBroken(q, mem, /65535 ahead/);
});

Deno.test("packed: used buffer id out of range", () => {
  const { q, sim, mem } = twoInFlight("packed");
  sim.rawWritePackedDesc(0, 8, 0, USED_BOTH);
  assertBroken(q, mem, /id 8 is out of range/);
});

Deno.test("packed: used buffer id not in flight", () => {
  const { q, sim, mem } = twoInFlight("packed");
  sim.rawWritePackedDesc(0, 6, 0, USED_BOTH);
  assertBroken(q, mem, /id 6 is not in flight/);
});

Deno.test("packed: used length above the buffer", () => {
  const { q, sim, bufs, mem } = twoInFlight("packed");
  sim.complete(bufs[1], 0xffff_ffff);
  sim.publish();
  assertBroken(q, mem, /exceeds its 100 writable bytes/);
});

for (const [name, flags] of [["AVAIL=0 USED=1", VIRTQ_PACKED_F_USED], ["AVAIL=0 USED=0", 0]]) {
  Deno.test(`packed: wrap counter inconsistency (${name} in lap 1)`, () => {
    const { q, sim, mem } = twoInFlight("packed");
    sim.rawWritePackedDesc(0, 0, 0, flags as number);
    assertBroken(q, mem, /contradict wrap counter 1/);
  });
}

Deno.test("packed: wrap inconsistency in the second lap", () => {
  const dma = new FakeDma();
  const sim = new SimQueue(dma, { format: "packed", size: 2 });
  const q = createVirtqueue({ dma, size: 2, format: "packed", notify: sim.notify });
  sim.attach(q.addresses);
  const mem = dma.alloc(64);
  const { tokens, lens } = out();
  q.addOne(mem.iova, 8, false, 1);
  q.addOne(mem.iova, 8, false, 2);
  q.kick();
  sim.completeAll();
  assert.equal(q.pollUsed(tokens, lens), 2);
  q.addOne(mem.iova, 8, false, 3); // slot 0, lap 0: AVAIL=0 USED=1
  q.kick();
  // A device flipping AVAIL while marking used, (1,1), means "used in lap 1": stale or lying.
  sim.rawWritePackedDesc(0, 0, 0, USED_BOTH);
  assertBroken(q, mem, /contradict wrap counter 0/);
});

Deno.test("packed: a used descriptor where nothing is in flight is ignored, not trusted", () => {
  const dma = new FakeDma();
  const sim = new SimQueue(dma, { format: "packed", size: 4 });
  const q = createVirtqueue({ dma, size: 4, format: "packed", notify: sim.notify });
  sim.attach(q.addresses);
  sim.rawWritePackedDesc(0, 0, 0, USED_BOTH);
  const { tokens, lens } = out();
  assert.equal(q.pollUsed(tokens, lens), 0);
  assert.equal(q.hasUsed(), false);
  assert.equal(q.broken, false);
});

Deno.test("split: a used entry beyond used.idx is not read", () => {
  const { q, sim } = twoInFlight("split");
  sim.rawWriteUsedElem(0, 99, 99); // written but not published
  const { tokens, lens } = out();
  assert.equal(q.pollUsed(tokens, lens), 0);
  assert.equal(q.broken, false);
});

Deno.test("good completions before a violation are delivered, the violation still breaks", () => {
  const { q, sim, bufs, mem } = twoInFlight("split");
  sim.complete(bufs[1], 50);
  sim.publish();
  const { tokens, lens } = out();
  assert.equal(q.pollUsed(tokens, lens), 1);
  assert.deepEqual([tokens[0], lens[0]], [2, 50]);
  sim.writeUsed(1, 0); // the rx id again, already collected
  sim.publish();
  assertBroken(q, mem, /not in flight/);
});

for (const format of ["split", "packed"] as const) {
  Deno.test(`${format}: a used entry for a buffer added but not yet kicked`, () => {
    const { q, sim, mem } = twoInFlight(format);
    q.addOne(mem.iova + 1024, 8, false, 3); // gets id 2 (ids are handed out FIFO); no kick
    if (format === "split") {
      sim.writeUsed(2, 0);
      sim.publish();
    } else {
      sim.rawWritePackedDesc(0, 2, 0, USED_BOTH);
    }
    assertBroken(q, mem, /id 2 was not made available yet/);
  });
}
