/**
 * Disk I/O in the lab, in ONE boot on the same disk: `virtio blkgen` (our user-space driver,
 * polling) against fio (io_uring, O_DIRECT) through the kernel's virtio_blk. Rows: 4k random
 * read at QD1 (latency p50/p99), 4k random read at QD32 (IOPS), 128k sequential read at QD4
 * (MiB/s). Latency is fio's `lat` (submission + completion): under TCG QEMU serves a null-co
 * request inside the doorbell write, so the time from the kick to the completion (`clat`)
 * leaves out most of the request for fio and for us alike. Each tool runs each row in interleaved rounds whose order flips every round; a
 * figure is the median over rounds. Both tools print fio's JSON shape, so one parser reads
 * both (docs/blkgen-json.md). The guest half is bench/guest/blk.sh.
 *
 * The disk is the lab's `blk` (QEMU null-co with read-zeroes, 64 MiB, 2 queues): no host
 * storage behind it, so what is measured is the path through the driver, the ring and
 * QEMU's virtio-blk — the part a driver can change.
 *
 * Standalone: `deno run -A bench/lab_blk.ts [--quick] [--json] [--rounds N] [--runtime S]`
 *
 * @module
 */
import { parseArgs } from "node:util";
import { runInLab } from "../lib/lab/vm.ts";
import { pciAddress, resolveDevices } from "../lib/lab/devices.ts";
import { median } from "./guest/parse.ts";

/** How to run the blk bench. */
export interface LabBlkOptions {
  /** One round of 5 s runs instead of the default. */
  quick?: boolean;
  /** Interleaved rounds (default 3; 1 with quick). */
  rounds?: number;
  /** Seconds per run, after the ramp (default 10; 5 with quick). */
  runtime?: number;
  /** Guest progress lines. */
  log?: (line: string) => void;
}

/** One tool's figures on one row, medians over rounds. */
export interface BlkFigures {
  iops: number;
  bwMiBs: number;
  /** Total latency (fio lat_ns) median, µs. */
  p50us: number;
  /** Total latency 99th percentile, µs. */
  p99us: number;
  rounds: number;
}

/** The bench's result. */
export interface LabBlkResult {
  disk: string;
  accel: string;
  runtimeSeconds: number;
  rounds: number;
  rows: { row: string; ours: BlkFigures; fio: BlkFigures }[];
}

/** What one run printed (fio's JSON shape, ours or fio's own). */
interface RunDoc {
  jobs: {
    read: {
      iops: number;
      bw_bytes: number;
      lat_ns: { percentile?: Record<string, number> };
    };
    error: number;
  }[];
}

/** Splits the guest's stdout into runs: tool → row → documents. */
export function parseBlkRuns(stdout: string): Map<string, Map<string, RunDoc[]>> {
  const out = new Map<string, Map<string, RunDoc[]>>();
  const re = /^@@run (\w+) (\w+) (\d+)\n([\s\S]*?)^@@end (\d+)$/gm;
  for (const m of stdout.matchAll(re)) {
    const [, tool, row, round, body, rc] = m;
    if (rc !== "0") throw new Error(`${tool} ${row} round ${round} exited ${rc}:\n${body}`);
    // fio may print notes before its JSON; the document starts at the first '{'.
    const doc = JSON.parse(body!.slice(body!.indexOf("{"))) as RunDoc;
    if (doc.jobs[0]?.error) throw new Error(`${tool} ${row} round ${round}: job error`);
    const rows = out.get(tool!) ?? new Map<string, RunDoc[]>();
    rows.set(row!, [...(rows.get(row!) ?? []), doc]);
    out.set(tool!, rows);
  }
  return out;
}

function figures(docs: RunDoc[]): BlkFigures {
  const read = docs.map((d) => d.jobs[0]!.read);
  const pct = (k: string) => median(read.map((r) => (r.lat_ns.percentile?.[k] ?? NaN) / 1e3));
  return {
    iops: median(read.map((r) => r.iops)),
    bwMiBs: median(read.map((r) => r.bw_bytes / 2 ** 20)),
    p50us: pct("50.000000"),
    p99us: pct("99.000000"),
    rounds: docs.length,
  };
}

/** Boots the lab once and runs every row with both tools. */
export async function benchLabBlk(o: LabBlkOptions = {}): Promise<LabBlkResult> {
  const rounds = o.rounds ?? (o.quick ? 1 : 3);
  const runtime = o.runtime ?? (o.quick ? 5 : 10);
  const ramp = 2;
  const disk = pciAddress(resolveDevices("blk")[0]!.slot);
  const r = await runInLab({
    devices: "blk",
    command: ["sh", "bench/guest/blk.sh", disk, String(rounds), String(runtime), String(ramp)],
    timeoutMs: 300_000 + rounds * 6 * (runtime + ramp + 15) * 1000,
    onConsole: (l) => {
      if (l.startsWith("virtio: ") || l.startsWith("fio: ")) o.log?.(l);
    },
  });
  if (r.code !== 0) throw new Error(`guest exited ${r.code}:\n${r.console.slice(-2000)}`);
  const runs = parseBlkRuns(r.stdout);
  const rows = ["qd1", "qd32", "seq128k"].map((row) => {
    const ours = runs.get("ours")?.get(row), fio = runs.get("fio")?.get(row);
    if (!ours || !fio) throw new Error(`row ${row}: a tool did not run`);
    return { row, ours: figures(ours), fio: figures(fio) };
  });
  return { disk, accel: r.accel, runtimeSeconds: runtime, rounds, rows };
}

const fmt = (v: number, d = 0) => (Number.isFinite(v) ? v.toFixed(d) : "-");

/** The table: each row's figures and ours/fio (IOPS ratio; p99 ratio, lower is better). */
export function labBlkText(r: LabBlkResult): string {
  const lines = [
    `disk I/O, ${r.disk} (null-co), ${r.accel}, ${r.rounds} interleaved round(s) of ` +
    `${r.runtimeSeconds} s; ours = virtio blkgen (polling), fio = io_uring O_DIRECT on virtio_blk`,
    "row                      tool   IOPS      MiB/s   p50 µs   p99 µs",
  ];
  const labels: Record<string, string> = {
    qd1: "4k randread QD1",
    qd32: "4k randread QD32",
    seq128k: "128k seq read QD4",
  };
  for (const row of r.rows) {
    for (const tool of ["ours", "fio"] as const) {
      const f = row[tool];
      lines.push(
        `${(tool === "ours" ? labels[row.row]! : "").padEnd(24)} ${tool.padEnd(5)} ${
          fmt(f.iops).padStart(7)
        } ${fmt(f.bwMiBs, 1).padStart(9)} ${fmt(f.p50us, 1).padStart(8)} ${
          fmt(f.p99us, 1).padStart(8)
        }`,
      );
    }
    lines.push(
      `${"".padEnd(24)} ratio ${fmt(row.ours.iops / row.fio.iops, 2).padStart(7)} ${
        fmt(row.ours.bwMiBs / row.fio.bwMiBs, 2).padStart(9)
      } ${fmt(row.ours.p50us / row.fio.p50us, 2).padStart(8)} ${
        fmt(row.ours.p99us / row.fio.p99us, 2).padStart(8)
      }`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      rounds: { type: "string" },
      runtime: { type: "string" },
    },
  });
  const r = await benchLabBlk({
    quick: values.quick,
    ...(values.rounds ? { rounds: Number(values.rounds) } : {}),
    ...(values.runtime ? { runtime: Number(values.runtime) } : {}),
    log: (l) => console.error(l),
  });
  console.log(values.json ? JSON.stringify(r) : labBlkText(r));
}
