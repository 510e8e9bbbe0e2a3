import assert from "node:assert/strict";
import { DeviceError } from "../../lib/errors.ts";
import { PackedQueue } from "../../lib/queue/packed.ts";
import { SplitQueue } from "../../lib/queue/split.ts";
import { createVirtqueue } from "../../lib/queue/virtqueue.ts";
import { FakeDma } from "../../testing/fake_dma.ts";
import { SimQueue } from "../../testing/sim_device.ts";

function setup(format: "split" | "packed", size: number) {
  const dma = new FakeDma();
  const sim = new SimQueue(dma, { format, size });
  const q = createVirtqueue({ dma, size, format, notify: sim.notify }) as SplitQueue | PackedQueue;
  sim.attach(q.addresses);
  const mem = dma.alloc(size * 256, 4096);
  return { dma, sim, q, mem };
}

for (const format of ["split", "packed"] as const) {
  Deno.test(`${format} addSlot: the device sees each slot's address, length and direction`, () => {
    const { sim, q, mem } = setup(format, 8);
    const done = new Uint32Array(8), lens = new Uint32Array(8);
    // Rounds with changing lengths and directions: the words a descriptor keeps from its last
    // use must still be right after the change.
    for (let round = 0; round < 6; round++) {
      const writable = round % 3 === 2;
      const len = 40 + 10 * (round % 2);
      for (let s = 7; s >= 0; s--) {
        mem.bytes[s * 256] = s + round;
        q.addSlot(s, mem.iova + s * 256, len, writable);
      }
      q.kick();
      const bufs = sim.take();
      assert.equal(bufs.length, 8);
      const slotsSeen: number[] = [];
      for (const b of bufs) {
        const seg = writable ? b.in[0]! : b.out[0]!;
        assert.equal(b.out.length + b.in.length, 1);
        assert.equal(seg.length, len);
        slotsSeen.push(seg[0]! - round); // the byte marks which slot's memory this is
        sim.complete(b, writable ? 7 : 0);
      }
      assert.deepEqual(slotsSeen.sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7]);
      sim.publish();
      assert.equal(q.pollUsed(done, lens), 8);
      const seen = [...done].sort((a, b) => a - b);
      assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7]);
      for (let i = 0; i < 8; i++) assert.equal(lens[i], writable ? 7 : 0);
      assert.equal(q.freeDescriptors, 8);
    }
  });

  Deno.test(`${format} addSlot: a slot in flight, out of range, or mixed with addOne throws`, () => {
    const { q, mem } = setup(format, 4);
    q.addSlot(1, mem.iova, 60, false);
    assert.throws(() => q.addSlot(1, mem.iova, 60, false), RangeError);
    assert.throws(() => q.addSlot(4, mem.iova, 60, false), RangeError);
    assert.throws(() => q.addSlot(-1, mem.iova, 60, false), RangeError);
    assert.throws(() => q.addSlot(2, mem.iova, -5, false), RangeError);
    assert.throws(() => q.addOne(mem.iova, 60, false, 0), RangeError);
    const fresh = setup(format, 4);
    fresh.q.addOne(fresh.mem.iova, 60, false, 0);
    assert.throws(() => fresh.q.addSlot(1, fresh.mem.iova, 60, false), RangeError);
  });

  Deno.test(`${format} addSlot: used entries are still validated`, () => {
    const { sim, q, mem } = setup(format, 4);
    q.addSlot(0, mem.iova, 100, true);
    q.kick();
    const [b] = sim.take();
    sim.complete(b!, 100);
    sim.publish();
    const done = new Uint32Array(4), lens = new Uint32Array(4);
    assert.equal(q.pollUsed(done, lens), 1);
    assert.equal(done[0], 0);
    assert.equal(lens[0], 100);
    // The slot is free again; a completion for it now is a device fault.
    q.addSlot(2, mem.iova + 512, 50, true);
    q.kick();
    sim.take();
    if (format === "split") sim.writeUsed(0, 10);
    else sim.rawWritePackedDesc(1, 0, 10, 0x8080);
    sim.publish();
    assert.throws(() => q.pollUsed(done, lens), DeviceError);
  });
}
