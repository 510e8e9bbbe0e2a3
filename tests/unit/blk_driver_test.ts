/** VirtioBlk.open over the fake modern transport, served by the simulated blk device. */
import assert from "node:assert/strict";
import { FakeModernBar } from "../../testing/fake_virtio_pci.ts";
import { FakeDma } from "../../testing/fake_dma.ts";
import { SimQueue } from "../../testing/sim_device.ts";
import { SimBlk } from "../../testing/sim_blk.ts";
import { ModernTransport } from "../../lib/virtio/modern_transport.ts";
import { VirtioBlk } from "../../lib/blk/virtio_blk.ts";
import { VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT } from "../../lib/blk/protocol.ts";
import type { BlkCompletion } from "../../lib/blk/request_queue.ts";

const F = (n: number) => 1n << BigInt(n);
const VERSION_1 = F(32), PACKED = F(34), RO = F(5), MQ = F(12), FLUSH = F(9);

function config(sectors: bigint, numQueues = 1): Uint8Array {
  const c = new Uint8Array(60);
  const v = new DataView(c.buffer);
  v.setBigUint64(0, sectors, true);
  v.setUint16(34, numQueues, true);
  return c;
}

function open(features: bigint, opts: Parameters<typeof VirtioBlk.open>[2] = {}, nq = 1) {
  const bar = new FakeModernBar({
    deviceType: 2,
    features,
    queueSizes: Array(nq).fill(64),
    config: config(128n, nq),
  });
  const t = new ModernTransport({ deviceType: 2, caps: bar.caps(), openBar: () => bar });
  const dma = new FakeDma();
  return { blk: VirtioBlk.open(t, dma, opts), bar, dma };
}

for (const format of ["split", "packed"] as const) {
  Deno.test(`blk driver (${format}): config decoded, a block written and read back`, () => {
    const { blk, bar, dma } = open(VERSION_1 | PACKED | FLUSH, { format, depth: 4 });
    assert.equal(blk.format, format);
    assert.equal(blk.limits.capacitySectors, 128n);
    assert.equal(blk.limits.flush, true);
    const sim = new SimQueue(dma, { format, size: 64 });
    sim.attach(bar.state.queues[0]!);
    const dev = new SimBlk(sim, new Uint8Array(128 * 512));
    const q = blk.queues[0]!;
    const buf = dma.alloc(512);
    buf.bytes.fill(0x5a);
    q.submit({ type: VIRTIO_BLK_T_OUT, sector: 5n, data: [{ iova: buf.iova, len: 512 }], tag: 1 });
    q.kick();
    dev.serve();
    const done: BlkCompletion[] = [];
    q.poll(done);
    assert.deepEqual(done, [{ tag: 1, status: "ok" }]);
    assert.equal(dev.disk[5 * 512 + 17], 0x5a);
    assert.equal(dev.disk[4 * 512 + 17], 0);
    buf.bytes.fill(0);
    q.submit({ type: VIRTIO_BLK_T_IN, sector: 5n, data: [{ iova: buf.iova, len: 512 }], tag: 2 });
    q.kick();
    dev.serve();
    done.length = 0;
    q.poll(done);
    assert.deepEqual(done, [{ tag: 2, status: "ok" }]);
    assert.equal(buf.bytes[511], 0x5a);
  });
}

Deno.test("blk driver: read-only noticed, MQ needed for more queues", () => {
  assert.equal(open(VERSION_1 | RO).blk.limits.readOnly, true);
  assert.throws(() => open(VERSION_1, { queues: 2 }, 2), /MQ|queues/);
  assert.equal(open(VERSION_1 | MQ, { queues: 2 }, 2).blk.queues.length, 2);
  assert.throws(() => open(VERSION_1 | MQ, { queues: 3 }, 2), /3 queues asked, the device has 2/);
});
