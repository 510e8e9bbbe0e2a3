import assert from "node:assert/strict";
import { createVirtqueue, type RingFormat, type Virtqueue } from "../../lib/queue/virtqueue.ts";
import { FakeDma } from "../../testing/fake_dma.ts";
import { SimQueue } from "../../testing/sim_device.ts";

interface Setup {
  dma: FakeDma;
  sim: SimQueue;
  q: Virtqueue;
  tokens: Uint32Array;
  lens: Uint32Array;
}

function setup(
  format: RingFormat,
  size = 8,
  opts: { eventIdx?: boolean; indirect?: boolean; inOrder?: boolean; legacy?: boolean } = {},
): Setup {
  const dma = new FakeDma();
  const sim = new SimQueue(dma, {
    format,
    size,
    eventIdx: opts.eventIdx,
    legacyLayout: opts.legacy,
  });
  const q = createVirtqueue({
    dma,
    size,
    format,
    eventIdx: opts.eventIdx,
    indirect: opts.indirect,
    inOrder: opts.inOrder,
    legacyLayout: opts.legacy,
    notify: sim.notify,
  });
  sim.attach(q.addresses);
  return { dma, sim, q, tokens: new Uint32Array(64), lens: new Uint32Array(64) };
}

/** A data buffer with recognisable bytes. */
function data(dma: FakeDma, len: number, fill: number) {
  const r = dma.alloc(len, 16);
  r.bytes.fill(fill);
  return r;
}

for (const format of ["split", "packed"] as const) {
  Deno.test(`${format}: one buffer out and one in, through the simulated device`, () => {
    const { dma, sim, q, tokens, lens } = setup(format);
    const tx = data(dma, 60, 0xaa);
    const rx = data(dma, 100, 0);
    assert.ok(q.addOne(tx.iova, 60, false, 7));
    assert.ok(q.addOne(rx.iova, 100, true, 9));
    assert.equal(q.kick(), true);
    assert.equal(sim.kicks, 1);
    const all = sim.take();
    assert.equal(all.length, 2);
    assert.deepEqual([...all[0]!.out[0]!], new Array(60).fill(0xaa));
    assert.equal(all[1]!.in[0]!.length, 100);
    all[1]!.in[0]!.fill(0x55, 0, 40);
    sim.complete(all[1]!, 40);
    sim.complete(all[0]!, 0);
    sim.publish();
    assert.equal(q.pollUsed(tokens, lens), 2);
    assert.deepEqual([tokens[0], lens[0], tokens[1], lens[1]], [9, 40, 7, 0]);
    assert.equal(rx.bytes[39], 0x55);
    assert.equal(q.inFlight, 0);
    assert.equal(q.freeDescriptors, 8);
    assert.equal(q.pollUsed(tokens, lens), 0);
  });

  Deno.test(`${format}: a batch becomes visible to the device at kick, all at once`, () => {
    const { dma, sim, q } = setup(format);
    const b = data(dma, 8, 1);
    q.addOne(b.iova, 8, false, 1);
    q.addBuffer([{ iova: b.iova, len: 4 }, { iova: b.iova, len: 4 }], [], 2);
    q.addOne(b.iova, 8, false, 3);
    // Split publishes avail.idx at kick; packed stores the batch's first flags at kick.
    assert.equal(sim.take().length, 0);
    q.kick();
    assert.equal(sim.take().length, 3);
    q.addOne(b.iova, 8, false, 4);
    assert.equal(sim.take().length, 0);
    q.kick();
    assert.equal(sim.take().length, 1);
  });

  Deno.test(`${format}: chains of out then in segments`, () => {
    const { dma, sim, q, tokens, lens } = setup(format);
    const a = data(dma, 10, 1), b = data(dma, 20, 2), c = data(dma, 30, 0), d = data(dma, 40, 0);
    assert.ok(q.addBuffer([a, b].map((r, i) => ({ iova: r.iova, len: 10 * (i + 1) })), [
      { iova: c.iova, len: 30 },
      { iova: d.iova, len: 40 },
    ], 42));
    assert.equal(q.freeDescriptors, 4);
    q.kick();
    const [buf] = sim.take();
    assert.ok(buf);
    assert.deepEqual(buf.out.map((s) => [s.length, s[0]]), [[10, 1], [20, 2]]);
    assert.deepEqual(buf.in.map((s) => s.length), [30, 40]);
    assert.equal(buf.writableLen, 70);
    sim.complete(buf, 70);
    sim.publish();
    assert.equal(q.pollUsed(tokens, lens), 1);
    assert.deepEqual([tokens[0], lens[0]], [42, 70]);
    assert.equal(q.freeDescriptors, 8);
  });

  Deno.test(`${format}: a chain that needs more descriptors than are free is refused`, () => {
    const { dma, q } = setup(format, 4);
    const r = data(dma, 64, 0);
    const seg = { iova: r.iova, len: 8 };
    assert.ok(q.addBuffer([seg, seg, seg], [], 1));
    assert.equal(q.addBuffer([seg, seg], [], 2), false);
    assert.equal(q.freeDescriptors, 1);
    assert.throws(() => q.addBuffer([], [], 3), RangeError);
    assert.throws(() => q.addBuffer([seg, seg, seg, seg, seg], [], 3), RangeError);
  });

  Deno.test(`${format}: indirect descriptors take one ring entry`, () => {
    const { dma, sim, q, tokens, lens } = setup(format, 4, { indirect: true });
    const a = data(dma, 16, 3), c = data(dma, 64, 0);
    const segs = [{ iova: a.iova, len: 16 }, { iova: a.iova, len: 8 }];
    assert.ok(q.addBuffer(segs, [{ iova: c.iova, len: 64 }, { iova: c.iova, len: 32 }], 5, true));
    assert.equal(q.freeDescriptors, 3);
    q.kick();
    const [buf] = sim.take();
    assert.ok(buf);
    assert.equal(buf.descCount, 1);
    assert.deepEqual(buf.out.map((s) => s.length), [16, 8]);
    assert.deepEqual(buf.in.map((s) => s.length), [64, 32]);
    assert.equal(buf.out[0]![0], 3);
    sim.complete(buf, 96);
    sim.publish();
    assert.equal(q.pollUsed(tokens, lens), 1);
    assert.deepEqual([tokens[0], lens[0]], [5, 96]);
    const { q: plain } = setup(format, 4);
    assert.throws(() => plain.addBuffer(segs, [], 1, true), RangeError);
  });

  Deno.test(`${format}: out-of-order completion returns the right tokens`, () => {
    const { dma, sim, q, tokens, lens } = setup(format, 8);
    const r = data(dma, 8 * 64, 0);
    for (let i = 0; i < 5; i++) {
      // mixed chain lengths so packed slots and split chains differ per buffer
      const segs = Array.from({ length: 1 + (i % 2) }, (_, k) => ({
        iova: r.iova + i * 64 + k * 8,
        len: 8,
      }));
      assert.ok(q.addBuffer([], segs, 100 + i));
    }
    q.kick();
    const bufs = sim.take();
    assert.equal(bufs.length, 5);
    const order = [3, 0, 4, 1, 2];
    for (const i of order) sim.complete(bufs[i]!, i);
    sim.publish();
    assert.equal(q.pollUsed(tokens, lens), 5);
    assert.deepEqual([...tokens.subarray(0, 5)], order.map((i) => 100 + i));
    assert.deepEqual([...lens.subarray(0, 5)], order);
    assert.equal(q.freeDescriptors, 8);
  });

  Deno.test(`${format}: wrap-around over many rounds keeps ids, tokens and lengths`, () => {
    const size = 8;
    const { dma, sim, q, tokens, lens } = setup(format, size);
    const r = data(dma, 4096, 0);
    let token = 0;
    let expected: number[] = [];
    for (let round = 0; round < 10 * size; round++) {
      const n = 1 + (round % 3); // chain lengths 1..3 so packed chains straddle the ring end
      while (
        q.addBuffer(
          [],
          Array.from({ length: n }, (_, k) => ({
            iova: r.iova + k * 16,
            len: 16,
          })),
          token,
        )
      ) {
        expected.push(token++);
      }
      q.kick();
      const bufs = sim.take();
      // complete the second half first, then the first half
      const half = bufs.length >> 1;
      for (const b of [...bufs.slice(half), ...bufs.slice(0, half)]) sim.complete(b, 16);
      sim.publish();
      const got: number[] = [];
      let c;
      while ((c = q.pollUsed(tokens, lens)) > 0) {
        got.push(...tokens.subarray(0, c));
        assert.ok(lens.subarray(0, c).every((l) => l === 16));
      }
      assert.deepEqual(got.sort((a, b) => a - b), expected.sort((a, b) => a - b));
      expected = [];
      assert.equal(q.freeDescriptors, size);
    }
    assert.ok(token > 3 * size);
    assert.equal(q.stats.completed, token);
  });

  Deno.test(`${format}: device kick suppression without EVENT_IDX`, () => {
    const { dma, sim, q } = setup(format);
    const r = data(dma, 64, 0);
    sim.setKicksEnabled(false);
    q.addOne(r.iova, 8, false, 1);
    assert.equal(q.kick(), false);
    assert.equal(sim.kicks, 0);
    sim.setKicksEnabled(true);
    q.addOne(r.iova, 8, false, 2);
    q.addOne(r.iova, 8, false, 3);
    assert.equal(q.kick(), true);
    assert.equal(sim.kicks, 1, "one kick per batch");
    assert.equal(q.kick(), false, "nothing new: no kick");
    assert.equal(sim.kicks, 1);
    assert.equal(q.stats.notifications, 1);
  });

  Deno.test(`${format}: driver interrupt suppression without EVENT_IDX`, () => {
    const { dma, sim, q, tokens, lens } = setup(format);
    const r = data(dma, 64, 0);
    q.disableInterrupts();
    q.addOne(r.iova, 8, false, 1);
    q.kick();
    sim.completeAll();
    assert.equal(sim.interrupts, 0);
    assert.equal(q.enableInterrupts(), true, "a completion is already waiting");
    q.pollUsed(tokens, lens);
    assert.equal(q.enableInterrupts(), false);
    q.addOne(r.iova, 8, false, 2);
    q.kick();
    sim.completeAll();
    assert.equal(sim.interrupts, 1);
  });
}

Deno.test("split EVENT_IDX: kicks only when avail idx passes avail_event", () => {
  const { dma, sim, q } = setup("split", 16, { eventIdx: true });
  const r = data(dma, 64, 0);
  sim.setAvailEvent(4); // kick me when the buffer with index 4 is published
  for (let i = 0; i < 4; i++) q.addOne(r.iova, 8, false, i);
  assert.equal(q.kick(), false, "indices 0..3 do not reach event 4");
  q.addOne(r.iova, 8, false, 4);
  assert.equal(q.kick(), true);
  assert.equal(sim.kicks, 1);
  assert.equal(sim.lastNotifyValue, 5, "NOTIFICATION_DATA value: next avail idx");
  q.addOne(r.iova, 8, false, 5);
  assert.equal(q.kick(), false, "event 4 already passed");
  assert.equal(sim.kicks, 1);
});

Deno.test("split EVENT_IDX: interrupts follow used_event", () => {
  const { dma, sim, q, tokens, lens } = setup("split", 16, { eventIdx: true });
  const r = data(dma, 64, 0);
  for (let i = 0; i < 3; i++) q.addOne(r.iova, 8, false, i);
  q.kick();
  const bufs = sim.take();
  sim.complete(bufs[0]!, 0);
  assert.equal(sim.publish(), true, "used_event 0 is crossed by the first completion");
  assert.equal(q.pollUsed(tokens, lens), 1); // moves used_event to 1
  q.disableInterrupts();
  sim.complete(bufs[1]!, 0);
  assert.equal(sim.publish(), false);
  assert.equal(q.enableInterrupts(), true);
  assert.equal(q.pollUsed(tokens, lens), 1);
  sim.complete(bufs[2]!, 0);
  assert.equal(sim.publish(), true);
  assert.equal(sim.interrupts, 2);
});

Deno.test("packed EVENT_IDX: kicks only when the event offset is made available", () => {
  const size = 8;
  const { dma, sim, q } = setup("packed", size, { eventIdx: true });
  const r = data(dma, 64, 0);
  sim.setPackedKickAt(3, 1);
  for (let i = 0; i < 3; i++) q.addOne(r.iova, 8, false, i);
  assert.equal(q.kick(), false, "slots 0..2 do not reach 3");
  q.addOne(r.iova, 8, false, 3);
  assert.equal(q.kick(), true);
  assert.equal(sim.kicks, 1);
  assert.equal(sim.lastNotifyValue, 4 | (1 << 15), "next offset 4, wrap 1");
  sim.completeAll();
  const tokens = new Uint32Array(8), lens = new Uint32Array(8);
  assert.equal(q.pollUsed(tokens, lens), 4);
  // Across the ring end: ask for slot 1 of the next lap (wrap 0).
  sim.setPackedKickAt(1, 0);
  for (let i = 0; i < 4; i++) q.addOne(r.iova, 8, false, i); // slots 4..7, lap 1
  assert.equal(q.kick(), false);
  q.addOne(r.iova, 8, false, 8); // slot 0, lap 0
  assert.equal(q.kick(), false);
  q.addOne(r.iova, 8, false, 9); // slot 1, lap 0
  assert.equal(q.kick(), true);
  assert.equal(sim.kicks, 2);
});

Deno.test("packed EVENT_IDX: driver asks for an interrupt at its used position", () => {
  const { dma, sim, q, tokens, lens } = setup("packed", 8, { eventIdx: true });
  const r = data(dma, 64, 0);
  assert.equal(q.enableInterrupts(), false);
  for (let i = 0; i < 3; i++) q.addOne(r.iova, 8, false, i);
  q.kick();
  const bufs = sim.take();
  sim.complete(bufs[0]!, 0);
  assert.equal(sim.publish(), true);
  q.pollUsed(tokens, lens);
  q.disableInterrupts();
  sim.complete(bufs[1]!, 0);
  assert.equal(sim.publish(), false);
  assert.equal(q.enableInterrupts(), true);
  q.pollUsed(tokens, lens);
  sim.complete(bufs[2]!, 0);
  assert.equal(sim.publish(), true);
});

for (const format of ["split", "packed"] as const) {
  Deno.test(`${format} IN_ORDER: one used entry completes a whole batch`, () => {
    const { dma, sim, q } = setup(format, 8, { inOrder: true });
    const r = data(dma, 64, 0);
    for (let i = 0; i < 3; i++) q.addOne(r.iova, 8, true, 10 + i);
    q.kick();
    const bufs = sim.take();
    sim.complete(bufs[2]!, 5); // the last of the batch only (§2.7.9 / §2.8.8)
    sim.publish();
    const tokens = new Uint32Array(2), lens = new Uint32Array(2);
    assert.equal(q.pollUsed(tokens, lens), 2, "limited by the output arrays");
    assert.deepEqual([...tokens, ...lens], [10, 11, 0, 0]);
    assert.equal(q.pollUsed(tokens, lens), 1);
    assert.deepEqual([tokens[0], lens[0]], [12, 5]);
    assert.equal(q.freeDescriptors, 8);
    assert.equal(q.inFlight, 0);
  });
}

Deno.test("split legacy layout: used ring on a 4096 boundary after the avail ring", () => {
  const { dma, sim, q, tokens, lens } = setup("split", 256, { legacy: true });
  assert.equal((q.addresses.device - q.addresses.desc) % 4096, 0);
  assert.equal(q.addresses.desc % 4096, 0);
  assert.equal(q.addresses.driver - q.addresses.desc, 256 * 16);
  assert.equal(q.addresses.device - q.addresses.desc, 8192); // 4096 + 518 → next page
  const r = data(dma, 64, 0);
  q.addOne(r.iova, 64, true, 3);
  q.kick();
  sim.completeAll(10);
  assert.equal(q.pollUsed(tokens, lens), 1);
  assert.deepEqual([tokens[0], lens[0]], [3, 10]);
});

Deno.test("split: the driver frees chains from its shadow even if the device scribbles", () => {
  const { dma, sim, q, tokens, lens } = setup("split", 8);
  const r = data(dma, 64, 0);
  const seg = { iova: r.iova, len: 8 };
  assert.ok(q.addBuffer([seg, seg, seg], [], 1));
  q.kick();
  const [buf] = sim.take();
  let s = 1;
  sim.scribbleDescriptors(() => (s = (s * 48271) % 0x7fffffff) / 0x7fffffff);
  sim.complete(buf!, 0);
  sim.publish();
  assert.equal(q.pollUsed(tokens, lens), 1);
  assert.equal(q.freeDescriptors, 8, "all three descriptors came back");
  for (let i = 0; i < 8; i++) assert.ok(q.addOne(r.iova, 8, false, i));
  assert.equal(q.addOne(r.iova, 8, false, 9), false);
});

Deno.test("construction rejects bad sizes and combinations", () => {
  const dma = new FakeDma();
  const notify = () => {};
  for (const size of [0, -1, 1.5, 32769]) {
    assert.throws(() => createVirtqueue({ dma, size, format: "split", notify }), RangeError);
    assert.throws(() => createVirtqueue({ dma, size, format: "packed", notify }), RangeError);
  }
  for (const size of [3, 6, 100, 255]) {
    assert.throws(
      () => createVirtqueue({ dma, size, format: "split", notify }),
      /not a power of two/,
    );
    // Packed rings may have any size (§2.8).
    assert.equal(createVirtqueue({ dma, size, format: "packed", notify }).size, size);
  }
  assert.throws(
    () => createVirtqueue({ dma, size: 8, format: "packed", legacyLayout: true, notify }),
    RangeError,
  );
  assert.equal(createVirtqueue({ dma, size: 32768, format: "split", notify }).size, 32768);
});

Deno.test("addOne and addBuffer reject bad segments and tokens", () => {
  const { q } = setup("split");
  assert.throws(() => q.addOne(-1, 8, false, 0), RangeError);
  assert.throws(() => q.addOne(0x1000, 2 ** 32, false, 0), RangeError);
  assert.throws(() => q.addOne(0x1000, 8, false, -1), RangeError);
  assert.throws(() => q.addOne(0x1000, 8, false, 2 ** 32), RangeError);
  assert.equal(q.freeDescriptors, 8, "nothing consumed by refused calls");
});
