/** BlkRequestQueue against the simulated virtio-blk device, both ring formats (§5.2.6). */
import assert from "node:assert/strict";
import { createVirtqueue, type RingFormat } from "../../lib/queue/virtqueue.ts";
import {
  blkLimits,
  decodeBlkId,
  VIRTIO_BLK_T_FLUSH,
  VIRTIO_BLK_T_GET_ID,
  VIRTIO_BLK_T_IN,
  VIRTIO_BLK_T_OUT,
} from "../../lib/blk/protocol.ts";
import { type BlkCompletion, BlkRequestQueue } from "../../lib/blk/request_queue.ts";
import { checkPattern, fillPattern } from "../../lib/blk/pattern.ts";
import { VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_F_RO } from "../../lib/virtio/features.ts";
import { FakeDma } from "../../testing/fake_dma.ts";
import { SimQueue } from "../../testing/sim_device.ts";
import { SimBlk, type SimBlkOptions } from "../../testing/sim_blk.ts";

function rig(format: RingFormat, opts: SimBlkOptions = {}, features = 1n << VIRTIO_BLK_F_FLUSH) {
  const dma = new FakeDma();
  const sim = new SimQueue(dma, { format, size: 64 });
  const q = createVirtqueue({ dma, size: 64, format, notify: sim.notify });
  sim.attach(q.addresses);
  const disk = new Uint8Array(256 * 512);
  const dev = new SimBlk(sim, disk, opts);
  const limits = blkLimits(features, { capacitySectors: 256n });
  const bq = new BlkRequestQueue(q, dma, limits, 8);
  const done: BlkCompletion[] = [];
  const run = () => {
    bq.kick();
    dev.serve();
    done.length = 0;
    bq.poll(done);
    return done;
  };
  return { dma, bq, dev, run, sim };
}

for (const format of ["split", "packed"] as const) {
  Deno.test(`blk queue (${format}): write then verify 8 blocks, then flush`, () => {
    const { dma, bq, dev, run } = rig(format);
    const buf = dma.alloc(8 * 4096);
    for (let i = 0; i < 8; i++) {
      const sector = BigInt(i * 8);
      fillPattern(buf.bytes.subarray(i * 4096, (i + 1) * 4096), 42, sector);
      const seg = { iova: buf.iova + i * 4096, len: 4096 };
      assert.ok(bq.submit({ type: VIRTIO_BLK_T_OUT, sector, data: [seg], tag: i }));
    }
    assert.equal(
      bq.submit({
        type: VIRTIO_BLK_T_OUT,
        sector: 0n,
        data: [{ iova: buf.iova, len: 512 }],
        tag: 9,
      }),
      false,
    );
    assert.deepEqual(run().map((c) => c.status), Array(8).fill("ok"));
    buf.bytes.fill(0);
    for (let i = 0; i < 8; i++) {
      const seg = { iova: buf.iova + i * 4096, len: 4096 };
      assert.ok(bq.submit({ type: VIRTIO_BLK_T_IN, sector: BigInt(i * 8), data: [seg], tag: i }));
    }
    const reads = run();
    assert.equal(reads.length, 8);
    for (const c of reads) {
      assert.equal(c.status, "ok");
      const block = buf.bytes.subarray(c.tag * 4096, (c.tag + 1) * 4096);
      assert.deepEqual(checkPattern(block, 42, BigInt(c.tag * 8)), { ok: true });
    }
    assert.ok(bq.submit({ type: VIRTIO_BLK_T_FLUSH, sector: 0n, data: [], tag: 0 }));
    assert.equal(run()[0]?.status, "ok");
    assert.equal(dev.flushes, 1);
  });

  Deno.test(`blk queue (${format}): out of range and failing sectors are IOERR`, () => {
    const { dma, bq, run } = rig(format, { failSectors: new Set([3n]) });
    const buf = dma.alloc(4096);
    const seg = { iova: buf.iova, len: 4096 };
    bq.submit({ type: VIRTIO_BLK_T_IN, sector: 255n, data: [seg], tag: 1 });
    bq.submit({ type: VIRTIO_BLK_T_IN, sector: 3n, data: [{ iova: buf.iova, len: 512 }], tag: 2 });
    bq.submit({ type: VIRTIO_BLK_T_IN, sector: 4n, data: [{ iova: buf.iova, len: 512 }], tag: 3 });
    const got = run().map((c) => [c.tag, c.status]).sort();
    assert.deepEqual(got, [[1, "ioerr"], [2, "ioerr"], [3, "ok"]]);
    assert.equal(bq.inFlight, 0);
  });

  Deno.test(`blk queue (${format}): a lying used length is caught, not trusted`, () => {
    // Short: the read claims success but covered less than its data → "bad", not "ok".
    const short = rig(format, { lieUsedLen: -100 });
    const buf = short.dma.alloc(512);
    const seg = { iova: buf.iova, len: 512 };
    short.bq.submit({ type: VIRTIO_BLK_T_IN, sector: 0n, data: [seg], tag: 1 });
    const [c] = short.run();
    assert.equal(c?.status, "bad");
    assert.match(c?.detail ?? "", /read of 512 B reported 413/);
    // Long: past the chain's writable bytes; the virtqueue itself refuses it (queue broken).
    const long = rig(format, { lieUsedLen: 7 });
    const b2 = long.dma.alloc(512);
    long.bq.submit({
      type: VIRTIO_BLK_T_IN,
      sector: 0n,
      data: [{ iova: b2.iova, len: 512 }],
      tag: 1,
    });
    assert.throws(() => long.run(), /used len 520 .* exceeds its 513 writable/);
  });
}

Deno.test("blk queue: writes refused before the ring on a read-only device", () => {
  const { dma, bq } = rig("split", {}, 1n << VIRTIO_BLK_F_RO);
  const buf = dma.alloc(512);
  assert.throws(
    () =>
      bq.submit({
        type: VIRTIO_BLK_T_OUT,
        sector: 0n,
        data: [{ iova: buf.iova, len: 512 }],
        tag: 1,
      }),
    /read-only/,
  );
  assert.equal(bq.inFlight, 0);
});

Deno.test("blk queue: GET_ID returns the serial; an untouched status byte is bad", () => {
  const { dma, bq, run } = rig("split", { serial: "labdisk0" });
  const id = dma.alloc(20);
  bq.submit({ type: VIRTIO_BLK_T_GET_ID, sector: 0n, data: [{ iova: id.iova, len: 20 }], tag: 4 });
  assert.deepEqual(run(), [{ tag: 4, status: "ok" }]);
  assert.equal(decodeBlkId(id.bytes), "labdisk0");
  // A device that completes without writing the status leaves our 0xff sentinel there.
  const silent = rig("packed", { lieUsedLen: 0 });
  const buf = silent.dma.alloc(512);
  silent.bq.submit({
    type: VIRTIO_BLK_T_OUT,
    sector: 0n,
    data: [{ iova: buf.iova, len: 512 }],
    tag: 5,
  });
  silent.bq.kick();
  const sim = silent.sim;
  for (const b of sim.take()) sim.complete(b, 1);
  sim.publish();
  const done: BlkCompletion[] = [];
  silent.bq.poll(done);
  assert.equal(done[0]?.status, "bad");
  assert.match(done[0]?.detail ?? "", /status byte 255/);
});
