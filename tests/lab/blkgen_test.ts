/**
 * `virtio blkgen` on QEMU's file-backed virtio-blk disks (lab set blk-data), one boot:
 * write-then-verify of 64 MiB in random order on the modern, legacy and packed disks; four
 * request queues; a sequential 128k read; SIGINT/SIGTERM/SIGKILL (+ `virtio restore`) each
 * leave the disk on virtio_blk with its contents unchanged (sha256 of the whole disk) and
 * the written pattern still verifies; a read past the end is the device's IOERR; WRITE_ZEROES
 * zeroes its range and DISCARD is accepted; `diag
 * --active`'s blk checks pass on the packed disk; writes are
 * refused with exit 2 on a read-only disk, without --write, on a mounted disk and on a disk
 * holding a filesystem — and nothing is written.
 */
import assert from "node:assert/strict";
import { runInLab } from "../../lib/lab/vm.ts";
import { sections } from "./helpers.ts";

const MiB = 1024 * 1024;

function json(lines: string[]) {
  // deno-lint-ignore no-explicit-any
  return JSON.parse(lines.join("\n")) as any;
}

function fields(lines: string[], kind: string): Record<string, string> {
  const line = lines.find((l) => l.startsWith(`${kind} `) || l.startsWith(`${kind}=`));
  assert.ok(line, `no '${kind}' line in ${lines.join(" / ")}`);
  return Object.fromEntries(
    line.split(" ").filter((p) => p.includes("=")).map((p) => p.split("=", 2) as [string, string]),
  );
}

Deno.test("lab: blkgen writes, verifies, survives signals and refuses unsafe writes on QEMU's disks", async () => {
  const r = await runInLab({
    devices: "blk-data",
    command: ["sh", "tests/lab/scripts/blkgen.sh"],
    timeoutMs: 900_000,
  });
  assert.equal(r.code, 0, r.console.slice(-3000));
  const s = sections(r.stdout);
  const get = (name: string) => {
    const sec = s.get(name);
    assert.ok(sec, `no section ${name} in:\n${r.stdout.slice(-3000)}`);
    return sec;
  };
  const expect = [
    ["0000:00:17.0", "modern", "split"],
    ["0000:00:18.0", "legacy", "split"],
    ["0000:00:19.0", "modern", "packed"],
  ] as const;
  for (const [address, transport, format] of expect) {
    const sec = get(`verify ${address}`);
    assert.equal(sec.rc, 0, sec.lines.join("\n"));
    const doc = json(sec.lines.filter((l) => !/^after /.test(l)));
    assert.equal(doc.schema, "virtio-blkgen/1");
    assert.equal(doc.device.transport, transport);
    assert.equal(doc.device.format, format);
    assert.equal(doc.device.capacityBytes, 96 * MiB);
    const job = doc.jobs[0];
    assert.equal(job.error, 0, JSON.stringify(job));
    // Every 4k block of the 64 MiB range written once and read back once, every sector checked.
    assert.equal(job.write.total_ios, 64 * MiB / 4096);
    assert.equal(job.read.total_ios, 64 * MiB / 4096);
    assert.equal(job.verify.blocksChecked, 64 * MiB / 512);
    assert.equal(job.verify.mismatchCount, 0);
    assert.equal(job.flush.ok, true);
    assert.ok(job.read.clat_ns.percentile["99.000000"] >= job.read.clat_ns.percentile["50.000000"]);
    assert.ok(job.write.iops > 0 && job.read.bw_bytes > 0);
    const after = fields(sec.lines, "after");
    assert.equal(after.driver, "virtio-pci", `${address} not given back`);
    assert.match(after.disk ?? "", /^vd[a-z]$/, `${address}: virtio_blk has no disk again`);
    console.log(
      `${address} (${transport}, ${format}): 64 MiB randwrite ${
        Math.round(job.write.iops)
      } IOPS, ` +
        `read-back ${Math.round(job.read.iops)} IOPS, ${job.verify.blocksChecked} sectors verified`,
    );
  }

  const mq = get("mq");
  assert.equal(mq.rc, 0, mq.lines.join("\n"));
  const mqDoc = json(mq.lines);
  assert.equal(mqDoc.device.queues, 4);
  assert.equal(mqDoc.jobs[0].read.total_ios, 4000);

  const seq = get("seq-read");
  assert.equal(seq.rc, 0, seq.lines.join("\n"));
  const seqJob = json(seq.lines).jobs[0];
  assert.equal(seqJob.read.io_bytes, 96 * MiB, "one pass over the whole disk");
  assert.equal(seqJob["job options"].bs, "128k");
  console.log(`128k sequential read: ${(seqJob.read.bw_bytes / MiB).toFixed(1)} MiB/s`);

  const sig = get("signals");
  for (const name of ["INT", "TERM"]) {
    const line = sig.lines.find((l) => l.startsWith(`sig=${name} `));
    assert.ok(line, sig.lines.join("\n"));
    const f = fields([line], `sig=${name}`);
    assert.equal(f.rc, "130", `SIG${name}: ${line}`);
    assert.equal(f.driver, "virtio-pci", `SIG${name}: ${line}`);
    assert.equal(f.summary, "1", `SIG${name}: no summary printed: ${line}`);
  }
  const killed = fields(sig.lines.filter((l) => l.startsWith("sig=KILL")), "sig=KILL");
  assert.equal(killed.rc, "137");
  const restored = fields(sig.lines, "restore");
  assert.equal(restored.rc, "0");
  assert.equal(restored.driver, "virtio-pci");
  const sums = fields(sig.lines, "sums");
  assert.match(sums.before ?? "", /^[0-9a-f]{64}$/);
  assert.equal(sums.after, sums.before, "a read-only run changed the disk");

  const reverify = get("reverify");
  assert.equal(reverify.rc, 0, reverify.lines.join("\n"));
  assert.equal(json(reverify.lines).jobs[0].verify.mismatchCount, 0);

  const edges = get("edges");
  assert.equal(edges.rc, 0, edges.lines.join("\n"));
  const e = json(edges.lines);
  assert.deepEqual(
    { past: e.past, straddle: e.straddle, last: e.last, cap: e.capacitySectors },
    { past: "ioerr", straddle: "ioerr", last: "ok", cap: 96 * MiB / 512 },
  );
  // QEMU offers both by default (discard=unmap on the drive): zeroes read back as zeros.
  assert.equal(e.writeZeroes, "ok", JSON.stringify(e));
  assert.equal(e.zeroed, true);
  assert.equal(e.neighbourKept, true);
  assert.equal(e.discard, "ok");
  console.log(
    `QEMU's limits: discard ${JSON.stringify(e.discardLimits)}, ` +
      `write-zeroes ${JSON.stringify(e.writeZeroesLimits)}`,
  );

  const diag = get("diag");
  assert.equal(diag.rc, 0, diag.lines.join("\n"));
  const checks: { name: string; status: string; reason: string }[] =
    json(diag.lines).devices[0].checks;
  for (const name of ["blk.config", "blk.read-first", "blk.read-last", "blk.bounds", "blk.flush"]) {
    const c = checks.find((x) => x.name === name);
    assert.equal(c?.status, "pass", `${name}: ${JSON.stringify(c)}`);
  }
  assert.equal(checks.find((x) => x.name === "device.restored")?.status, "pass");

  const az = get("after-zeroes");
  assert.equal(az.rc, 1, "a verify that finds mismatches exits 1");
  const azv = json(az.lines).jobs[0].verify;
  assert.equal(azv.blocksChecked, 2048);
  assert.equal(azv.mismatchCount, 8);
  assert.deepEqual(azv.mismatches.map((m: { sector: number }) => m.sector), [
    1024,
    1025,
    1026,
    1027,
    1028,
    1029,
    1030,
    1031,
  ]);
  assert.match(azv.mismatches[0].reason, /crc32c/);

  const ro = get("readonly");
  assert.equal(ro.rc, 2, ro.lines.join("\n"));
  const roRead = fields(ro.lines, "read");
  assert.equal(roRead.rc, "0");
  assert.equal(roRead.driver, "virtio-pci");

  assert.equal(get("no-write-flag").rc, 2);

  const mounted = get("mounted");
  const m = fields(mounted.lines, "mounted");
  assert.equal(m.rc, "2", mounted.lines.join("\n"));
  assert.equal(m.driver, "virtio-pci", "a mounted disk was taken over");
  assert.equal(m.file, "hello");
  const sigRefused = fields(mounted.lines, "signature");
  assert.equal(sigRefused.rc, "2", mounted.lines.join("\n"));
  assert.equal(sigRefused.driver, "virtio-pci");
  const ms = fields(mounted.lines, "sums");
  assert.equal(ms.after, ms.before, "a refused write changed the disk");
  assert.match(
    r.console,
    /refusing to take over 0000:00:18\.0: block device vd[a-z] \(\d+:\d+\) is mounted/,
  );
  assert.match(r.console, /refusing to write 0000:00:18\.0: found ext2\/3\/4 filesystem on it/);
});
