import assert from "node:assert/strict";
import { BufferSlots, SlotPoster } from "../../lib/queue/slots.ts";
import { createVirtqueue } from "../../lib/queue/virtqueue.ts";
import { FakeDma } from "../../testing/fake_dma.ts";
import { SimQueue } from "../../testing/sim_device.ts";

for (const format of ["split", "packed"] as const) {
  Deno.test(`${format}: fixed slots — postTx/postRx, one kick per batch, slots come back`, () => {
    const dma = new FakeDma();
    const sim = new SimQueue(dma, { format, size: 16 });
    const q = createVirtqueue({ dma, size: 16, format, notify: sim.notify });
    sim.attach(q.addresses);
    const slots = new BufferSlots(dma, 32, 2048);
    const sq = new SlotPoster(q, slots);
    const done = new Uint32Array(16), lens = new Uint32Array(16);
    let sent = 0;
    for (let round = 0; round < 5; round++) {
      for (;;) {
        const s = slots.take();
        if (s < 0) break;
        slots.bytes(s).fill(s & 0xff, 0, 64);
        if (!sq.postTx(s, 64)) {
          slots.give(s);
          break;
        }
      }
      assert.equal(sq.kick(), true);
      const bufs = sim.take();
      assert.equal(bufs.length, 16);
      for (const b of bufs) {
        assert.equal(b.out[0]!.length, 64);
        assert.equal(b.out[0]![63], b.out[0]![0]);
        sim.complete(b, 0);
      }
      sim.publish();
      const n = sq.pollUsed(done, lens);
      assert.equal(n, 16);
      for (let i = 0; i < n; i++) slots.give(done[i]!);
      sent += n;
    }
    assert.equal(sent, 80);
    assert.equal(sim.kicks, 5);
    assert.equal(slots.free, 32);
  });

  Deno.test(`${format}: postRx offers the whole slot; lengths come back`, () => {
    const dma = new FakeDma();
    const sim = new SimQueue(dma, { format, size: 4 });
    const q = createVirtqueue({ dma, size: 4, format, notify: sim.notify });
    sim.attach(q.addresses);
    const slots = new BufferSlots(dma, 4, 1536);
    const sq = new SlotPoster(q, slots);
    for (let s = 0; s < 4; s++) assert.ok(sq.postRx(s));
    assert.equal(sq.postRx(0), false, "ring full");
    sq.kick();
    const bufs = sim.take();
    bufs[2]!.in[0]!.set([1, 2, 3]);
    sim.complete(bufs[2]!, 3);
    sim.publish();
    const done = new Uint32Array(4), lens = new Uint32Array(4);
    assert.equal(sq.pollUsed(done, lens), 1);
    assert.deepEqual([done[0], lens[0]], [2, 3]);
    assert.deepEqual([...slots.bytes(2).subarray(0, 3)], [1, 2, 3]);
    assert.throws(() => sq.postRx(4), RangeError);
    assert.throws(() => sq.postTx(0, 1537), RangeError);
  });
}

Deno.test("BufferSlots: take/give and bounds", () => {
  const slots = new BufferSlots(new FakeDma(), 3, 100);
  assert.deepEqual([slots.take(), slots.take(), slots.take(), slots.take()], [0, 1, 2, -1]);
  assert.equal(slots.iova(2) - slots.iova(0), 200);
  assert.equal(slots.bytes(1).length, 100);
  assert.throws(() => slots.bytes(3), RangeError);
  slots.give(1);
  assert.equal(slots.take(), 1);
  slots.give(0), slots.give(1), slots.give(2);
  assert.throws(() => slots.give(0), RangeError);
});
