/** blkgen's command line (checked before any device is touched) and its fio-shaped JSON. */
import assert from "node:assert/strict";
import { blkgenCommand, parseBlkgenArgs } from "../../commands/blkgen.ts";
import { UsageError } from "../../lib/errors.ts";
import { runBlkJob } from "../../lib/blk/job.ts";
import {
  blkgenChartSvg,
  blkgenJson,
  blkgenText,
  blkLiveLine,
  FIO_PERCENTILES,
} from "../../lib/blk/report.ts";
import { formatByteSize, parseByteSize } from "../../lib/blk/workload.ts";
import { FakeModernBar } from "../../testing/fake_virtio_pci.ts";
import { FakeDma } from "../../testing/fake_dma.ts";
import { SimQueue } from "../../testing/sim_device.ts";
import { SimBlk } from "../../testing/sim_blk.ts";
import { ModernTransport } from "../../lib/virtio/modern_transport.ts";
import { VirtioBlk } from "../../lib/blk/virtio_blk.ts";

const A = "0000:00:17.0";

Deno.test("blkgen args: defaults are fio's randread 4k QD32, one pass", () => {
  const o = parseBlkgenArgs([A]);
  assert.equal(o.device, A);
  assert.deepEqual(
    { rw: o.job.rw, bs: o.job.bs, iodepth: o.job.iodepth, verify: o.job.verify },
    { rw: "randread", bs: 4096, iodepth: 32, verify: false },
  );
  assert.equal(o.job.runtimeMs, undefined);
  assert.equal(o.job.count, undefined);
  assert.equal(o.queues, 1);
  assert.equal(o.write, false);
});

Deno.test("blkgen args: both value forms, sizes and seconds", () => {
  const o = parseBlkgenArgs([
    A,
    "--bs",
    "128k",
    "--size=64m",
    "--offset",
    "1M",
    "--runtime",
    "2.5",
  ]);
  assert.equal(o.job.bs, 128 * 1024);
  assert.equal(o.job.size, 64 * 1024 * 1024);
  assert.equal(o.job.offset, 1024 * 1024);
  assert.equal(o.job.runtimeMs, 2500);
});

Deno.test("blkgen args: unsafe or malformed requests are usage errors (exit 2)", () => {
  const bad: [string[], RegExp][] = [
    [[], /DEVICE is missing/],
    [[A, A], /one DEVICE only/],
    [[A, "--rw", "write"], /add --write/],
    [[A, "--rw", "randrw", "--verify", "--write"], /one direction/],
    [[A, "--rw", "randwrite", "--write", "--verify", "--runtime", "5"], /no --runtime/],
    [[A, "--rw", "bogus"], /--rw must be one of/],
    [[A, "--bs", "1000"], /multiple of 512/],
    [[A, "--bs", "4x"], /--bs must be a size/],
    [[A, "--bs", "2m"], /512 to 1m/],
    [[A, "--iodepth", "0"], /--iodepth must be an integer from 1/],
    [[A, "--rwmixread", "70"], /randrw only/],
    [[A, "--rw", "randrw", "--write", "--rwmixread", "101"], /0 to 100/],
    [[A, "--runtime", "-1"], /seconds/],
    [[A, "--ring", "ring"], /split, packed, auto/],
    [[A, "--nope"], /Unknown option/],
  ];
  for (const [args, why] of bad) {
    assert.throws(() => parseBlkgenArgs(args), (e: unknown) => {
      assert.ok(e instanceof UsageError, `${args.join(" ")}: ${e}`);
      assert.match(e.message, why, args.join(" "));
      return true;
    });
  }
});

Deno.test("blkgen args: every example in --help parses", () => {
  const examples = blkgenCommand.usage.split("\n").map((l) => l.trim())
    .filter((l) => l.startsWith("virtio blkgen ") && !l.includes("DEVICE"));
  assert.ok(examples.length >= 2);
  for (const e of examples) parseBlkgenArgs(e.split(/\s+/).slice(2));
});

Deno.test("blkgen sizes: fio's units", () => {
  assert.equal(parseByteSize("4k"), 4096);
  assert.equal(parseByteSize("4KiB"), 4096);
  assert.equal(parseByteSize("1g"), 1 << 30);
  assert.equal(parseByteSize("512"), 512);
  assert.equal(parseByteSize("k"), undefined);
  assert.equal(formatByteSize(131072), "128k");
  assert.equal(formatByteSize(1000), "1000");
});

Deno.test("blkgen JSON: fio's jobs[] shape with its percentile keys, from a real job", async () => {
  const config = new Uint8Array(60);
  new DataView(config.buffer).setBigUint64(0, 2048n, true);
  const bar = new FakeModernBar({
    deviceType: 2,
    features: (1n << 32n) | (1n << 9n),
    queueSizes: [128],
    config,
  });
  const t = new ModernTransport({ deviceType: 2, caps: bar.caps(), openBar: () => bar });
  const dma = new FakeDma();
  const blk = VirtioBlk.open(t, dma, { format: "split" });
  const q = new SimQueue(dma, { format: "split", size: 128 });
  q.attach(bar.state.queues[0]!);
  const sim = new SimBlk(q, new Uint8Array(2048 * 512));
  const job = { rw: "randwrite", bs: 4096, iodepth: 8, verify: true } as const;
  const r = await runBlkJob(blk, dma, job, {
    signal: new AbortController().signal,
    tick: () => sim.serve(),
  });
  const device = {
    address: A,
    access: "sim",
    transport: "modern",
    format: "split",
    capacityBytes: 2048 * 512,
    blockBytes: 512,
    queues: 1,
    features: "0x100000200",
    readOnly: false,
  };
  const doc = JSON.parse(blkgenJson(device, job, r, "9.9.9"));
  assert.equal(doc.schema, "virtio-blkgen/1");
  const j = doc.jobs[0];
  assert.equal(j.error, 0);
  assert.deepEqual(j["job options"], { rw: "randwrite", bs: "4k", iodepth: "8", verify: "crc32c" });
  for (const dir of [j.read, j.write]) {
    assert.equal(dir.total_ios, 256);
    assert.equal(dir.io_bytes, 256 * 4096);
    assert.deepEqual(
      Object.keys(dir.clat_ns.percentile),
      FIO_PERCENTILES.map((p) => p.toFixed(6)),
    );
    assert.ok(dir.clat_ns.min <= dir.clat_ns.percentile["50.000000"]);
    assert.ok(dir.clat_ns.percentile["99.990000"] <= dir.clat_ns.max);
    assert.equal(dir.clat_ns.N, 256);
    assert.equal(dir.lat_ns.N, 256);
    assert.ok(dir.lat_ns.percentile["50.000000"] >= dir.clat_ns.percentile["1.000000"]);
  }
  assert.equal(j.verify.blocksChecked, 2048);
  assert.equal(j.flush.ok, true);
  const text = blkgenText(device, job, r);
  assert.match(text, /write: IOPS=.*256 ios/);
  assert.match(text, /verify: 2048 blocks checked, 0 mismatches/);
  assert.match(blkLiveLine(r.intervals.at(-1)!, 1), /\[100%\] (verify )?read /);
  const svg = blkgenChartSvg("t", r.intervals);
  assert.match(svg, /^<svg[\s\S]*read p99[\s\S]*<\/svg>$/);
});
