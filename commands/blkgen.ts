/**
 * `virtio blkgen DEVICE [options]`: an fio-shaped I/O test through our user-space virtio-blk
 * driver. The job is `lib/blk/job.ts`; this parses, keeps the disk's data safe (writes need
 * `--write`; a disk in use or holding a filesystem is refused), opens the device and renders.
 *
 * @module
 */
import type { Command, CommandIO } from "./command.ts";
import { accessOption, choiceOption, intOption, parseArgs, secondsOption } from "./args.ts";
import { RefusedError, UsageError } from "../lib/errors.ts";
import { VIRTIO_ID_BLOCK } from "../lib/virtio/device_types.ts";
import { type AccessPath, VirtioPciDevice } from "../lib/driver/virtio_pci_device.ts";
import { VirtioBlk } from "../lib/blk/virtio_blk.ts";
import { type BlkJobOptions, type BlkJobResult, runBlkJob } from "../lib/blk/job.ts";
import { readOnce } from "../lib/blk/read_blocks.ts";
import { diskSignature, SIGNATURE_PROBE_BYTES } from "../lib/blk/signature.ts";
import {
  type BlkDeviceInfo,
  BLKGEN_SCHEMA,
  blkgenChartSvg,
  blkgenJson,
  blkgenText,
  blkLiveLine,
} from "../lib/blk/report.ts";
import { modeWrites, parseByteSize, RW_MODES, type RwMode } from "../lib/blk/workload.ts";
import { checkDeviceStatus } from "../lib/virtio/initialize.ts";
import type { RingFormat } from "../lib/queue/virtqueue.ts";
import denoJson from "../deno.json" with { type: "json" };

const usage = `Usage: virtio blkgen DEVICE [options]

Runs an I/O test on DEVICE (a virtio-blk PCI device this process takes over from
virtio_blk and gives back at the end) through our user-space driver, in fio's terms:
IOPS, bandwidth and completion latency (clat) percentiles. Reads never change the disk;
writing needs --write. Needs root.

Workload:
      --rw MODE           read | write | randread | randwrite | randrw (default randread)
      --rwmixread N       percent reads for randrw (default 50)
      --bs SIZE           bytes per request: 512, 4k, 128k, 1m (default 4k; a multiple
                          of the device's block size)
      --iodepth N         requests in flight per queue (default 32)
      --queues N          request queues, served round-robin by one loop (default 1;
                          more needs VIRTIO_BLK_F_MQ)
      --offset SIZE       first byte of the range (default 0; a multiple of --bs)
      --size SIZE         bytes of the range (default: to the end of the disk)
      --seed N            seed of the random offsets and of the verify pattern (default 1)

Run length (default: one pass over the range, --size bytes):
      --runtime SECS      time-based: repeat over the range for SECS
      --count N           stop after N requests
      --ramp SECS         run SECS first without counting (warm-up)

Data:
      --write             allow the write modes: they overwrite the range on the disk
      --verify            writing modes: write a pattern (each block stamped with its
                          sector and a crc32c) to every block once, then read every block
                          back and check it; read modes: only check (a disk written
                          before with the same --seed). A mismatch fails with its sector
  -f, --force             take a disk that is in use (mounted, swap, RAID/LVM member)
                          or write one that holds a filesystem or partition table

Device:
      --access MODE       sysfs | vfio | auto (default auto: vfio when in an IOMMU group)
      --ring FORMAT       split | packed | auto (default auto: packed when offered)

Output:
      --json              summary as JSON in fio's jobs[] shape (schema ${BLKGEN_SCHEMA},
                          docs/blkgen-json.md)
      --interval SECS     live line period on stderr (default 1)
      --plot FILE.svg     IOPS and clat p50/p99 over time
  -q, --quiet             no live line

A writing run ends with a FLUSH when the device offers VIRTIO_BLK_F_FLUSH.

Examples:
  virtio blkgen 0000:00:0a.0 --rw randread --bs 4k --iodepth 32 --runtime 10
  virtio blkgen 0000:00:0a.0 --rw randwrite --write --verify --size 64m

Exit codes: 0 done, every request OK and every block verified; 1 a device error, an
IOERR or a verify mismatch; 2 usage error, or refused (disk in use, a filesystem on it,
writes without --write); 130 interrupted (the summary is still printed and the disk given
back to virtio_blk).`;

const ARGS = {
  rw: { type: "string" },
  rwmixread: { type: "string" },
  bs: { type: "string" },
  iodepth: { type: "string" },
  queues: { type: "string" },
  offset: { type: "string" },
  size: { type: "string" },
  seed: { type: "string" },
  runtime: { type: "string" },
  count: { type: "string" },
  ramp: { type: "string" },
  write: { type: "boolean" },
  verify: { type: "boolean" },
  force: { type: "boolean", short: "f" },
  access: { type: "string" },
  ring: { type: "string" },
  json: { type: "boolean" },
  interval: { type: "string" },
  plot: { type: "string" },
  quiet: { type: "boolean", short: "q" },
} as const;

/** Everything a blkgen run was asked, checked. */
export interface BlkgenOptions {
  device: string;
  job: BlkJobOptions;
  queues: number;
  write: boolean;
  force: boolean;
  access: AccessPath | "auto";
  ring: RingFormat | "auto";
  json: boolean;
  plot?: string;
  quiet: boolean;
}

function sizeOption(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = parseByteSize(v);
  if (n === undefined) throw new UsageError(`--${name} must be a size like 4k or 64m, got '${v}'`);
  return n;
}

/** Seconds as whole milliseconds, the job's unit. */
function msOption(name: string, v: string | undefined): number | undefined {
  const s = secondsOption(name, v);
  return s === undefined ? undefined : Math.round(s * 1000);
}

/** Parses and checks the command line (nothing touched yet). */
export function parseBlkgenArgs(args: string[]): BlkgenOptions {
  const { values: v, positionals } = parseArgs(args, ARGS);
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length === 0 ? "DEVICE is missing" : "one DEVICE only");
  }
  const rw = choiceOption<RwMode>("rw", v.rw, RW_MODES, "randread");
  const bs = sizeOption("bs", v.bs) ?? 4096;
  if (bs < 512 || bs % 512 !== 0 || bs > 1 << 20) {
    throw new UsageError(`--bs must be a multiple of 512 from 512 to 1m, got '${v.bs}'`);
  }
  const verify = v.verify ?? false;
  const runtimeMs = msOption("runtime", v.runtime);
  const count = intOption("count", v.count, 1);
  if (verify && (runtimeMs !== undefined || count !== undefined)) {
    throw new UsageError("--verify covers the range once; it takes no --runtime or --count");
  }
  if (verify && rw === "randrw") {
    throw new UsageError("--verify needs one direction: write or randwrite (or a read mode)");
  }
  if (modeWrites(rw) && !v.write) {
    throw new UsageError(`--rw ${rw} overwrites the disk: add --write to allow it`);
  }
  const rwmixread = intOption("rwmixread", v.rwmixread, 0, 100);
  if (rwmixread !== undefined && rw !== "randrw") {
    throw new UsageError("--rwmixread applies to --rw randrw only");
  }
  const job: BlkJobOptions = {
    rw,
    bs,
    iodepth: intOption("iodepth", v.iodepth, 1, 1024) ?? 32,
    verify,
    ...(rwmixread !== undefined ? { rwmixread } : {}),
    ...(v.offset !== undefined ? { offset: sizeOption("offset", v.offset)! } : {}),
    ...(v.size !== undefined ? { size: sizeOption("size", v.size)! } : {}),
    ...(v.seed !== undefined ? { seed: intOption("seed", v.seed, 0, 0xffffffff)! } : {}),
    ...(runtimeMs !== undefined ? { runtimeMs } : {}),
    ...(count !== undefined ? { count } : {}),
    ...(v.ramp !== undefined ? { rampMs: msOption("ramp", v.ramp)! } : {}),
    intervalMs: Math.max(100, msOption("interval", v.interval) ?? 1000),
  };
  return {
    device: positionals[0]!,
    job,
    queues: intOption("queues", v.queues, 1, 64) ?? 1,
    write: v.write ?? false,
    force: v.force ?? false,
    access: accessOption(v.access),
    ring: choiceOption("ring", v.ring, ["split", "packed", "auto"] as const, "auto"),
    json: v.json ?? false,
    ...(v.plot !== undefined ? { plot: v.plot } : {}),
    quiet: v.quiet ?? false,
  };
}

/** Refuses (before any write) a disk whose first bytes hold a filesystem or partition table. */
function refuseSignature(blk: VirtioBlk, dev: VirtioPciDevice, o: BlkgenOptions): void {
  const bytes = Math.min(SIGNATURE_PROBE_BYTES, Number(blk.limits.capacityBytes));
  const head = readOnce(blk.queues[0]!, dev.dma, 0, Math.floor(bytes / 512) * 512);
  if (head.status !== "ok") {
    throw new RefusedError(
      `cannot read ${o.device}'s first sectors to check them (${head.status})`,
    );
  }
  const found = diskSignature(head.bytes);
  if (found !== undefined && !o.force) {
    throw new RefusedError(`refusing to write ${o.device}: found ${found} on it`, {
      hint: "--force overwrites it",
    });
  }
}

/** `virtio blkgen`. */
export async function runBlkgen(args: string[], io: CommandIO): Promise<number> {
  const o = parseBlkgenArgs(args);
  const log = (l: string) => {
    if (!o.quiet) io.err(`${l}\n`);
  };
  try {
    return await runOpened(o, io, log);
  } catch (e) {
    if (e instanceof RefusedError) {
      io.err(`virtio: ${e.message}\n${e.hint ? `hint: ${e.hint}\n` : ""}`);
      return 2;
    }
    throw e;
  }
}

async function runOpened(o: BlkgenOptions, io: CommandIO, log: (l: string) => void) {
  using dev = VirtioPciDevice.open(o.device, {
    access: o.access,
    force: o.force,
    log,
    deviceType: VIRTIO_ID_BLOCK,
  });
  const blk = VirtioBlk.open(dev.transport, dev.dma, {
    queues: o.queues,
    depth: o.job.iodepth,
    format: o.ring,
  });
  if (o.write && modeWrites(o.job.rw)) refuseSignature(blk, dev, o);
  const device: BlkDeviceInfo = {
    address: dev.address,
    access: dev.access,
    transport: dev.transport.kind,
    format: blk.format,
    capacityBytes: Number(blk.limits.capacityBytes),
    blockBytes: blk.limits.blockBytes,
    queues: blk.queues.length,
    features: `0x${blk.features.toString(16)}`,
    readOnly: blk.limits.readOnly,
  };
  let result: BlkJobResult;
  try {
    result = await runBlkJob(blk, dev.dma, o.job, {
      signal: io.signal,
      health: () => {
        if (!dev.present()) throw new Error(`${dev.address} is gone: hot-unplugged`);
        checkDeviceStatus(dev.transport);
      },
      onInterval: (i, progress) => {
        if (!o.quiet) io.err(blkLiveLine(i, progress) + "\n");
      },
    });
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(e.message);
    throw e;
  }
  if (o.plot !== undefined) {
    Deno.writeTextFileSync(
      o.plot,
      blkgenChartSvg(`virtio blkgen ${o.job.rw} ${dev.address}`, result.intervals),
    );
  }
  if (result.error !== undefined) io.err(`virtio blkgen: ${result.error}\n`);
  io.out(
    o.json
      ? blkgenJson(device, o.job, result, denoJson.version) + "\n"
      : blkgenText(device, o.job, result),
  );
  if (result.interrupted) return 130;
  const bad = result.error !== undefined || (result.verify?.mismatchCount ?? 0) > 0 ||
    result.flush?.ok === false;
  return bad ? 1 : 0;
}

export const blkgenCommand: Command = {
  name: "blkgen",
  summary: "fio-shaped I/O test (IOPS, latency, verify) through a virtio-blk device",
  usage,
  parse: parseBlkgenArgs,
  run: runBlkgen,
};
