/**
 * blkgen's output: the live line (stderr), the text summary, the JSON summary in fio's shape
 * under the `virtio-blkgen/1` schema (docs/blkgen-json.md), and the `--plot` chart.
 * @module
 */
import type { LatencyHistogram } from "../pktgen/histogram.ts";
import { lineChartSvg, PALETTE } from "../pktgen/plot.ts";
import type { BlkDirectionStats, BlkInterval, BlkJobOptions, BlkJobResult } from "./job.ts";
import { formatByteSize } from "./workload.ts";

/** Schema name of the JSON summary. */
export const BLKGEN_SCHEMA = "virtio-blkgen/1";

/** fio's default percentile_list, as fio prints the keys. */
export const FIO_PERCENTILES = [
  1,
  5,
  10,
  20,
  30,
  40,
  50,
  60,
  70,
  80,
  90,
  95,
  99,
  99.5,
  99.9,
  99.95,
  99.99,
] as const;

/** The device a job ran on, as the summary names it. */
export interface BlkDeviceInfo {
  /** PCI address. */
  address: string;
  /** "sysfs" or "vfio". */
  access: string;
  /** "modern" or "legacy". */
  transport: string;
  /** "split" or "packed". */
  format: string;
  /** Capacity in bytes. */
  capacityBytes: number;
  /** Logical block size in bytes. */
  blockBytes: number;
  /** Request queues in use. */
  queues: number;
  /** Negotiated feature bits, hex. */
  features: string;
  /** VIRTIO_BLK_F_RO. */
  readOnly: boolean;
}

function latJson(h: LatencyHistogram, percentiles: boolean) {
  const n = h.count;
  const base = {
    min: n ? h.min : 0,
    max: n ? h.max : 0,
    mean: n ? h.sum / n : 0,
    stddev: n ? h.stddev() : 0,
    N: n,
  };
  if (!percentiles || n === 0) return base;
  const percentile: Record<string, number> = {};
  for (const p of FIO_PERCENTILES) percentile[p.toFixed(6)] = Math.round(h.percentile(p));
  return { ...base, percentile };
}

function dirJson(s: BlkDirectionStats) {
  const runtimeMs = s.activeNs / 1e6;
  const secs = runtimeMs / 1000;
  return {
    io_bytes: s.bytes,
    io_kbytes: Math.floor(s.bytes / 1024),
    bw_bytes: secs > 0 ? Math.round(s.bytes / secs) : 0,
    bw: secs > 0 ? Math.round(s.bytes / 1024 / secs) : 0,
    iops: secs > 0 ? s.ios / secs : 0,
    runtime: s.ios > 0 ? Math.round(runtimeMs) : 0,
    total_ios: s.ios,
    short_ios: 0,
    drop_ios: 0,
    clat_ns: latJson(s.clat, true),
    lat_ns: latJson(s.lat, true),
  };
}

/** The JSON summary: fio's `jobs[]` shape plus what fio does not have (device, verify). */
export function blkgenJson(
  device: BlkDeviceInfo,
  o: BlkJobOptions,
  r: BlkJobResult,
  version: string,
): string {
  const now = Date.now();
  const doc = {
    schema: BLKGEN_SCHEMA,
    "virtio version": version,
    timestamp: Math.floor(now / 1000),
    timestamp_ms: now,
    device,
    jobs: [{
      jobname: "blkgen",
      groupid: 0,
      error: r.error !== undefined || (r.verify?.mismatchCount ?? 0) > 0 ? 1 : 0,
      ...(r.error !== undefined ? { error_message: r.error } : {}),
      interrupted: r.interrupted,
      elapsed: Math.round(r.elapsedNs / 1e9),
      "job options": jobOptions(o),
      read: dirJson(r.read),
      write: dirJson(r.write),
      ...(r.verify ? { verify: r.verify } : {}),
      ...(r.flush ? { flush: { ok: r.flush.ok, lat_ns: r.flush.latNs } } : {}),
    }],
  };
  return JSON.stringify(doc, null, 2);
}

function jobOptions(o: BlkJobOptions): Record<string, string> {
  const out: Record<string, string> = {
    rw: o.rw,
    bs: formatByteSize(o.bs),
    iodepth: String(o.iodepth),
  };
  if (o.rw === "randrw") out.rwmixread = String(o.rwmixread ?? 50);
  if (o.offset) out.offset = String(o.offset);
  if (o.size !== undefined) out.size = String(o.size);
  if (o.runtimeMs !== undefined) out.runtime = String(o.runtimeMs / 1000);
  if (o.count !== undefined) out.number_ios = String(o.count);
  if (o.rampMs) out.ramp_time = String(o.rampMs / 1000);
  if (o.verify) out.verify = "crc32c";
  if (o.seed !== undefined) out.randseed = String(o.seed);
  return out;
}

/** 12345 → "12.3k" */
function si(v: number): string {
  if (!Number.isFinite(v)) return "-";
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  return v.toFixed(0);
}

function mib(bytesPerSec: number): string {
  return `${(bytesPerSec / 1024 / 1024).toFixed(1)} MiB/s`;
}

/** ns → "81µs" / "1.2ms" */
export function formatNs(ns: number): string {
  if (!Number.isFinite(ns)) return "-";
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(ns >= 1e7 ? 0 : 1)}ms`;
  return `${(ns / 1e3).toFixed(ns >= 1e4 ? 0 : 1)}µs`;
}

/** One live line per interval. */
export function blkLiveLine(i: BlkInterval, progress: number | undefined): string {
  const pct = progress === undefined ? "" : ` [${(progress * 100).toFixed(0).padStart(3)}%]`;
  const tag = i.ramp ? " ramp" : i.phase === "run" ? "" : ` ${i.phase}`;
  const dir = (name: string, d: BlkInterval["read"]) =>
    `${name} ${si(d.iops)} IOPS ${mib(d.bwBytes)} p50 ${formatNs(d.p50Ns)} p99 ${
      formatNs(d.p99Ns)
    }`;
  const parts: string[] = [];
  if (i.read.iops > 0 || i.write.iops === 0) parts.push(dir("read", i.read));
  if (i.write.iops > 0) parts.push(dir("write", i.write));
  return `${i.t.toFixed(1).padStart(6)}s${pct}${tag} ${parts.join(" | ")}`;
}

/** The text summary (stdout). */
export function blkgenText(device: BlkDeviceInfo, o: BlkJobOptions, r: BlkJobResult): string {
  const secs = r.measuredNs / 1e9;
  const lines = [
    `virtio blkgen ${device.address}: ${o.rw} bs=${formatByteSize(o.bs)} iodepth=${o.iodepth} ` +
    `queues=${device.queues} (${device.transport}, ${device.format}, ${device.access}), ` +
    `${secs.toFixed(1)} s counted${r.interrupted ? " (interrupted)" : ""}`,
  ];
  for (const [name, s] of [["read", r.read], ["write", r.write]] as const) {
    if (s.ios === 0) continue;
    const c = s.clat, active = s.activeNs / 1e9;
    lines.push(
      `  ${name}: IOPS=${si(s.ios / active)}, BW=${mib(s.bytes / active)}, ${s.ios} ios in ${
        active.toFixed(2)
      } s`,
      `    clat: min=${formatNs(c.min)} avg=${formatNs(c.sum / c.count)} max=${
        formatNs(c.max)
      } stdev=${formatNs(c.stddev())}`,
      `    percentiles: 50th=${formatNs(c.percentile(50))} 90th=${
        formatNs(c.percentile(90))
      } 99th=${formatNs(c.percentile(99))} 99.9th=${formatNs(c.percentile(99.9))} 99.99th=${
        formatNs(c.percentile(99.99))
      }`,
    );
  }
  if (r.verify) {
    lines.push(
      `  verify: ${r.verify.blocksChecked} blocks checked, ${r.verify.mismatchCount} mismatches`,
    );
    for (const m of r.verify.mismatches) lines.push(`    sector ${m.sector}: ${m.reason}`);
  }
  if (r.flush) {
    lines.push(`  flush: ${r.flush.ok ? "ok" : "FAILED"} (${formatNs(r.flush.latNs)})`);
  }
  if (r.error !== undefined) lines.push(`  error: ${r.error}`);
  return lines.join("\n") + "\n";
}

/** `--plot`: IOPS per direction, and p50/p99 completion latency, over time. */
export function blkgenChartSvg(title: string, intervals: readonly BlkInterval[]): string {
  const pts = (f: (i: BlkInterval) => number) => intervals.map((i) => [i.t, f(i)] as const);
  const lat = (f: (i: BlkInterval) => number) => pts((i) => f(i) / 1e3);
  return lineChartSvg({
    title,
    xLabel: "time (s)",
    panels: [
      {
        yLabel: "IOPS",
        series: [
          { name: "read", points: pts((i) => i.read.iops) },
          { name: "write", points: pts((i) => i.write.iops) },
        ],
      },
      {
        yLabel: "clat (µs)",
        series: [
          { name: "read p50", points: lat((i) => i.read.p50Ns), color: PALETTE[2] },
          { name: "read p99", points: lat((i) => i.read.p99Ns), color: PALETTE[3] },
          { name: "write p50", points: lat((i) => i.write.p50Ns), color: PALETTE[4] },
          { name: "write p99", points: lat((i) => i.write.p99Ns), color: PALETTE[5], dashed: true },
        ],
      },
    ],
  });
}
