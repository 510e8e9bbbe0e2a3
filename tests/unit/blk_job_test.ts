/** runBlkJob over the fake modern transport, served by the simulated blk device. */
import assert from "node:assert/strict";
import { FakeModernBar } from "../../testing/fake_virtio_pci.ts";
import { FakeDma } from "../../testing/fake_dma.ts";
import { SimQueue } from "../../testing/sim_device.ts";
import { SimBlk, type SimBlkOptions } from "../../testing/sim_blk.ts";
import { ModernTransport } from "../../lib/virtio/modern_transport.ts";
import { VirtioBlk } from "../../lib/blk/virtio_blk.ts";
import { type BlkJobOptions, jobRange, runBlkJob } from "../../lib/blk/job.ts";
import { Workload } from "../../lib/blk/workload.ts";

const F = (n: number) => 1n << BigInt(n);
const VERSION_1 = F(32), PACKED = F(34), MQ = F(12), FLUSH = F(9), RO = F(5);

function device(
  o: { sectors?: number; queues?: number; features?: bigint; format?: "split" | "packed" } = {},
  sim: SimBlkOptions = {},
) {
  const sectors = o.sectors ?? 1024, nq = o.queues ?? 1;
  const config = new Uint8Array(60);
  const v = new DataView(config.buffer);
  v.setBigUint64(0, BigInt(sectors), true);
  v.setUint16(34, nq, true);
  const bar = new FakeModernBar({
    deviceType: 2,
    features: o.features ?? (VERSION_1 | PACKED | FLUSH | MQ),
    queueSizes: Array(nq).fill(128),
    config,
  });
  const t = new ModernTransport({ deviceType: 2, caps: bar.caps(), openBar: () => bar });
  const dma = new FakeDma();
  const format = o.format ?? "split";
  const blk = VirtioBlk.open(t, dma, { format, queues: nq, depth: 16 });
  const disk = new Uint8Array(sectors * 512);
  const sims = blk.queues.map((_, i) => {
    const q = new SimQueue(dma, { format, size: 128 });
    q.attach(bar.state.queues[i]!);
    return new SimBlk(q, disk, sim);
  });
  const served = sims.map(() => 0);
  const tick = () => sims.forEach((s, i) => (served[i]! += s.serve()));
  return { blk, dma, disk, sims, served, tick };
}

const run = (
  d: ReturnType<typeof device>,
  o: Partial<BlkJobOptions>,
  signal = new AbortController().signal,
) =>
  runBlkJob(d.blk, d.dma, { rw: "read", bs: 4096, iodepth: 8, ...o }, {
    signal,
    tick: d.tick,
  });

for (const format of ["split", "packed"] as const) {
  Deno.test(`blk job (${format}): randwrite --verify writes every block once, reads all back`, async () => {
    const d = device({ format });
    const r = await run(d, { rw: "randwrite", verify: true, seed: 7 });
    assert.equal(r.error, undefined);
    assert.equal(r.write.ios, 128); // 1024 sectors / 8 per 4k block
    assert.equal(r.read.ios, 128);
    assert.deepEqual(r.verify, { blocksChecked: 1024, mismatchCount: 0, mismatches: [] });
    assert.equal(r.flush?.ok, true);
    assert.equal(d.sims[0]!.flushes, 1);
    // Every sector carries its own number: the pattern reached the disk, each block once.
    const v = new DataView(d.disk.buffer);
    for (let s = 0; s < 1024; s++) assert.equal(v.getBigUint64(s * 512, true), BigInt(s));
  });
}

Deno.test("blk job: a read-only verify pass names the corrupted sector", async () => {
  const d = device();
  assert.equal((await run(d, { rw: "write", verify: true, seed: 3 })).verify?.mismatchCount, 0);
  d.disk[77 * 512 + 100]! ^= 0xff;
  const r = await run(d, { rw: "read", verify: true, seed: 3 });
  assert.equal(r.write.ios, 0);
  assert.equal(r.verify?.mismatchCount, 1);
  assert.equal(r.verify?.mismatches[0]?.sector, 77);
  assert.match(r.verify!.mismatches[0]!.reason, /crc32c/);
  // Another seed is another pattern: every block differs.
  assert.equal((await run(d, { rw: "read", verify: true, seed: 4 })).verify?.mismatchCount, 1024);
});

Deno.test("blk job: an IOERR stops the job and is reported with its sector", async () => {
  const d = device({}, { failSectors: new Set([40n]) });
  const r = await run(d, { rw: "read", iodepth: 1 });
  assert.match(r.error ?? "", /read of sector 40: the device answered IOERR/);
  assert.equal(r.read.ios, 5); // blocks 0..4 before the failing one
});

Deno.test("blk job: a lying used length is a protocol error, not data", async () => {
  const d = device({}, { lieUsedLen: 1 });
  const r = await run(d, { rw: "read", count: 4 });
  // The queue layer sees it first (§2.7.8.2) and the job stops with its message.
  assert.match(r.error ?? "", /used len 4098 for id \d+ exceeds its 4097 writable bytes/);
});

Deno.test("blk job: randrw with --count does that many requests, mixed as asked", async () => {
  const d = device();
  const r = await run(d, { rw: "randrw", rwmixread: 70, count: 400 });
  assert.equal(r.read.ios + r.write.ios, 400);
  assert.ok(r.read.ios > 230 && r.read.ios < 330, `reads ${r.read.ios}`);
  assert.equal(r.read.clat.count, r.read.ios);
  assert.ok(r.read.lat.min >= r.read.clat.min);
});

Deno.test("blk job: two queues both carry requests", async () => {
  const d = device({ queues: 2 });
  const r = await run(d, { rw: "randread", count: 200 });
  assert.equal(r.read.ios, 200);
  assert.ok(d.served[0]! > 0 && d.served[1]! > 0, `served ${d.served}`);
});

Deno.test("blk job: a device that stops completing is a stall error, not a hang", async () => {
  const d = device();
  const r = await runBlkJob(d.blk, d.dma, { rw: "read", bs: 4096, iodepth: 4, stallMs: 50 }, {
    signal: new AbortController().signal,
  });
  assert.match(r.error ?? "", /stopped completing requests \(4 in flight/);
});

Deno.test("blk job: the signal stops a time-based run, in-flight requests collected", async () => {
  const d = device();
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 30);
  const r = await run(d, { rw: "randread", runtimeMs: 60_000 }, ac.signal);
  assert.equal(r.interrupted, true);
  assert.equal(r.error, undefined);
  assert.ok(r.read.ios > 0);
  assert.equal(d.blk.queues[0]!.inFlight, 0);
});

Deno.test("blk job: writes to a read-only device are refused before any request", async () => {
  const d = device({ features: VERSION_1 | RO });
  await assert.rejects(run(d, { rw: "write" }), /read-only/);
  assert.equal(d.served[0], 0);
});

Deno.test("blk job: the range is checked against the device", () => {
  const limits = device().blk.limits; // 512 KiB
  assert.deepEqual(jobRange(limits, { rw: "read", bs: 4096, iodepth: 1 }), {
    first: 0,
    blocks: 128,
  });
  assert.deepEqual(
    jobRange(limits, { rw: "read", bs: 4096, iodepth: 1, offset: 8192, size: 16384 }),
    { first: 2, blocks: 4 },
  );
  assert.throws(
    () => jobRange(limits, { rw: "read", bs: 4096, iodepth: 1, offset: 1 << 20 }),
    /beyond/,
  );
  assert.throws(
    () => jobRange(limits, { rw: "read", bs: 4096, iodepth: 1, offset: 100 }),
    /multiple of bs/,
  );
  assert.throws(() => jobRange(limits, { rw: "read", bs: 1000, iodepth: 1 }), /multiple/);
});

Deno.test("workload: a permuted order visits every block once per pass, same order after rewind", () => {
  const w = new Workload("randwrite", 1000, { seed: 9, permute: true });
  const first = Array.from({ length: 1000 }, () => w.nextBlock());
  assert.equal(new Set(first).size, 1000);
  assert.notDeepEqual(first.slice(0, 10), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  w.rewind();
  assert.deepEqual(Array.from({ length: 1000 }, () => w.nextBlock()), first);
});
