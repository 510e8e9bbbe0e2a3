/** DISCARD / WRITE_ZEROES (§5.2.6): limits from the config, ranges checked before the ring. */
import assert from "node:assert/strict";
import { FakeModernBar } from "../../testing/fake_virtio_pci.ts";
import { FakeDma } from "../../testing/fake_dma.ts";
import { SimQueue } from "../../testing/sim_device.ts";
import { SimBlk } from "../../testing/sim_blk.ts";
import { ModernTransport } from "../../lib/virtio/modern_transport.ts";
import { VirtioBlk } from "../../lib/blk/virtio_blk.ts";
import { rangesOnce, readOnce } from "../../lib/blk/read_blocks.ts";
import { BLK_CONFIG } from "../../lib/virtio/config/blk.ts";

const F = (...b: number[]) => b.reduce((v, n) => v | (1n << BigInt(n)), 0n);
const DISCARD = 13, WRITE_ZEROES = 14;

function device(features: bigint, limits = { dSectors: 64, dSeg: 2, zSectors: 128, zSeg: 1 }) {
  const config = new Uint8Array(60);
  const v = new DataView(config.buffer);
  v.setBigUint64(0, 1024n, true);
  v.setUint32(BLK_CONFIG.max_discard_sectors, limits.dSectors, true);
  v.setUint32(BLK_CONFIG.max_discard_seg, limits.dSeg, true);
  v.setUint32(BLK_CONFIG.discard_sector_alignment, 8, true);
  v.setUint32(BLK_CONFIG.max_write_zeroes_sectors, limits.zSectors, true);
  v.setUint32(BLK_CONFIG.max_write_zeroes_seg, limits.zSeg, true);
  config[BLK_CONFIG.write_zeroes_may_unmap] = 1;
  const bar = new FakeModernBar({
    deviceType: 2,
    features: F(32) | features,
    queueSizes: [64],
    config,
  });
  const t = new ModernTransport({ deviceType: 2, caps: bar.caps(), openBar: () => bar });
  const dma = new FakeDma();
  const blk = VirtioBlk.open(t, dma, { format: "split" });
  const q = new SimQueue(dma, { format: "split", size: 64 });
  q.attach(bar.state.queues[0]!);
  const disk = new Uint8Array(1024 * 512).fill(0xaa);
  const sim = new SimBlk(q, disk);
  return { blk, dma, disk, sim, tick: () => sim.serve() };
}

Deno.test("blk ranges: the limits are read only with their feature", () => {
  const both = device(F(DISCARD, WRITE_ZEROES)).blk.limits;
  assert.deepEqual(both.discardLimits, {
    maxSectors: 64,
    maxSegments: 2,
    alignment: 8,
    mayUnmap: false,
  });
  assert.deepEqual(both.writeZeroesLimits, {
    maxSectors: 128,
    maxSegments: 1,
    alignment: 0,
    mayUnmap: true,
  });
  const none = device(0n).blk.limits;
  assert.equal(none.discardLimits, undefined);
  assert.equal(none.writeZeroesLimits, undefined);
  assert.throws(
    () => device(F(DISCARD), { dSectors: 0, dSeg: 1, zSectors: 1, zSeg: 1 }),
    /max_discard_sectors is 0/,
  );
});

Deno.test("blk ranges: WRITE_ZEROES zeroes exactly its range; DISCARD of two ranges accepted", () => {
  const d = device(F(DISCARD, WRITE_ZEROES));
  const q = d.blk.queues[0]!;
  const r = rangesOnce(q, d.dma, d.blk.limits, "write-zeroes", [{
    sector: 16,
    sectors: 8,
    unmap: true,
  }], { tick: d.tick });
  assert.equal(r.status, "ok");
  assert.equal(d.disk[16 * 512 - 1], 0xaa);
  assert.ok(d.disk.subarray(16 * 512, 24 * 512).every((b) => b === 0));
  assert.equal(d.disk[24 * 512], 0xaa);
  const back = readOnce(q, d.dma, 16, 4096, { tick: d.tick });
  assert.ok(back.status === "ok" && back.bytes.every((b) => b === 0));
  const disc = rangesOnce(q, d.dma, d.blk.limits, "discard", [
    { sector: 100, sectors: 64 },
    { sector: 300, sectors: 8 },
  ], { tick: d.tick });
  assert.equal(disc.status, "ok");
  assert.equal(d.sim.ranges, 3);
});

Deno.test("blk ranges: a request beyond the device's limits never reaches the ring", () => {
  const d = device(F(DISCARD, WRITE_ZEROES));
  const q = d.blk.queues[0]!;
  const l = d.blk.limits;
  const bad: [Parameters<typeof rangesOnce>[3], Parameters<typeof rangesOnce>[4], RegExp][] = [
    ["discard", [{ sector: 0, sectors: 65 }], /1\.\.64/],
    [
      "discard",
      [{ sector: 0, sectors: 1 }, { sector: 8, sectors: 1 }, { sector: 16, sectors: 1 }],
      /3 ranges exceed the device's 2/,
    ],
    ["write-zeroes", [{ sector: 1020, sectors: 8 }], /ends past the disk/],
    ["write-zeroes", [], /needs a range/],
    ["discard", [{ sector: 0, sectors: 8, unmap: true }], /WRITE_ZEROES flag/],
  ];
  for (const [what, ranges, why] of bad) {
    assert.throws(() => rangesOnce(q, d.dma, l, what, ranges, { tick: d.tick }), why);
  }
  assert.equal(d.sim.ranges, 0);
  const plain = device(0n);
  assert.throws(
    () =>
      rangesOnce(plain.blk.queues[0]!, plain.dma, plain.blk.limits, "discard", [{
        sector: 0,
        sectors: 1,
      }]),
    /did not offer discard/,
  );
});
