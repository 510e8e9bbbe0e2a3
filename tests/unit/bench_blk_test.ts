/** The blk bench's parser reads both tools' fio-shaped documents and refuses failed runs. */
import assert from "node:assert/strict";
import { labBlkText, parseBlkRuns } from "../../bench/lab_blk.ts";

const doc = (iops: number, p50: number) =>
  JSON.stringify({
    jobs: [{
      error: 0,
      read: { iops, bw_bytes: iops * 4096, lat_ns: { percentile: { "50.000000": p50 } } },
    }],
  });

Deno.test("bench blk: runs parsed per tool and row; fio's notes before its JSON skipped", () => {
  const out = [
    "@@run ours qd1 1",
    doc(100, 5000),
    "@@end 0",
    "@@run fio qd1 1",
    "note: both iodepth >= 1 and synchronous I/O engine are selected",
    doc(50, 9000),
    "@@end 0",
    "@@run ours qd1 2",
    doc(120, 4000),
    "@@end 0",
  ].join("\n");
  const runs = parseBlkRuns(out);
  assert.equal(runs.get("ours")?.get("qd1")?.length, 2);
  assert.equal(runs.get("fio")?.get("qd1")?.[0]?.jobs[0]?.read.iops, 50);
});

Deno.test("bench blk: a run that failed is an error, not a figure", () => {
  assert.throws(() => parseBlkRuns("@@run ours qd1 1\nvirtio: boom\n@@end 1"), /exited 1/);
});

Deno.test("bench blk: the table shows ours/fio per row", () => {
  const f = (iops: number) => ({ iops, bwMiBs: iops / 256, p50us: 10, p99us: 20, rounds: 1 });
  const text = labBlkText({
    disk: "0000:00:0a.0",
    accel: "tcg",
    runtimeSeconds: 5,
    rounds: 1,
    rows: [{ row: "qd32", ours: f(300), fio: f(100) }],
  });
  assert.match(text, /4k randread QD32\s+ours\s+300/);
  assert.match(text, /ratio\s+3\.00\s+3\.00\s+1\.00\s+1\.00/);
});
