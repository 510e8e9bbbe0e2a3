import assert from "node:assert/strict";
import { BufferSlots, SlotPoster } from "../../lib/queue/slots.ts";
import { createVirtqueue } from "../../lib/queue/virtqueue.ts";
import { DmaFault, FakeDma } from "../../testing/fake_dma.ts";
import { SimNetLoopback } from "../../testing/sim_net.ts";

for (const format of ["split", "packed"] as const) {
  Deno.test(`${format}: loopback net device returns each frame behind a 12-byte header`, () => {
    const dma = new FakeDma();
    const net = new SimNetLoopback(dma, { format, size: 8 });
    const rxq = createVirtqueue({ dma, size: 8, format, notify: net.rx.notify });
    const txq = createVirtqueue({ dma, size: 8, format, notify: net.tx.notify });
    net.attach(rxq.addresses, txq.addresses);
    const rxSlots = new BufferSlots(dma, 8, 2048);
    const txSlots = new BufferSlots(dma, 8, 2048);
    const rx = new SlotPoster(rxq, rxSlots);
    const tx = new SlotPoster(txq, txSlots);
    for (let s = 0; s < 8; s++) rx.postRx(s);
    rx.kick();
    const seen: number[] = [];
    net.onTransmit = (f) => seen.push(f[0]!);
    for (let i = 0; i < 5; i++) {
      const b = txSlots.bytes(i);
      b.fill(0, 0, 12);
      b.fill(i + 1, 12, 12 + 60);
      tx.postTx(i, 72);
    }
    tx.kick();
    net.step();
    assert.deepEqual(seen, [1, 2, 3, 4, 5]);
    const done = new Uint32Array(8), lens = new Uint32Array(8);
    assert.equal(tx.pollUsed(done, lens), 5);
    const n = rx.pollUsed(done, lens);
    assert.equal(n, 5);
    for (let i = 0; i < n; i++) {
      assert.equal(lens[i], 72);
      const bytes = rxSlots.bytes(done[i]!);
      assert.equal(bytes[10], 1, "num_buffers = 1");
      assert.equal(bytes[12], i + 1);
      assert.equal(bytes[71], i + 1);
    }
    assert.deepEqual([net.transmitted, net.received, net.pendingFrames], [5, 5, 0]);
  });
}

Deno.test("loopback holds frames until rx buffers are posted", () => {
  const dma = new FakeDma();
  const net = new SimNetLoopback(dma, { format: "split", size: 4, headerSize: 10 });
  const rxq = createVirtqueue({ dma, size: 4, format: "split", notify: net.rx.notify });
  const txq = createVirtqueue({ dma, size: 4, format: "split", notify: net.tx.notify });
  net.attach(rxq.addresses, txq.addresses);
  net.inject(new Uint8Array([9, 9, 9]));
  net.step();
  assert.equal(net.pendingFrames, 1);
  const r = dma.alloc(64);
  rxq.addOne(r.iova, 64, true, 0);
  rxq.kick();
  net.step();
  const done = new Uint32Array(1), lens = new Uint32Array(1);
  assert.equal(rxq.pollUsed(done, lens), 1);
  assert.equal(lens[0], 13);
  assert.deepEqual([...r.bytes.subarray(10, 13)], [9, 9, 9]);
});

Deno.test("FakeDma: lookups inside regions only", () => {
  const dma = new FakeDma();
  const a = dma.alloc(100, 16);
  const b = dma.alloc(8192);
  assert.ok(a.iova > 2 ** 32, "iovas above 4 GiB exercise the high address word");
  assert.equal(b.iova % 4096, 0);
  assert.equal(dma.view(a.iova + 10, 90).length, 90);
  assert.throws(() => dma.view(a.iova + 10, 91), DmaFault);
  assert.throws(() => dma.view(a.iova - 1, 1), DmaFault);
  assert.throws(() => dma.view(b.iova + 8192, 1), DmaFault);
  assert.equal(dma.contains(b.iova, 8192), true);
  dma.view(a.iova, 1)[0] = 7;
  assert.equal(a.bytes[0], 7);
});
