/**
 * One blkgen job over opened request queues: keeps `iodepth` requests in flight on every
 * queue, times each from submission to completion, checks every status and (with verify)
 * every block read back, and reports per interval and at the end. One loop on one thread
 * serves all queues round-robin; it polls (no interrupts) and yields to the event loop every
 * few milliseconds so timers and Ctrl-C are seen. Nothing is allocated per request.
 * @module
 */
import { setImmediate } from "node:timers";
import type { DmaAllocator, DmaRegion } from "../dma/memory.ts";
import { DeviceError } from "../errors.ts";
import { LatencyHistogram } from "../pktgen/histogram.ts";
import { monotonicNs } from "../pktgen/pacer.ts";
import type { Segment } from "../queue/virtqueue.ts";
import { checkPattern, fillPattern } from "./pattern.ts";
import { type BlkLimits, SECTOR_BYTES, VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT } from "./protocol.ts";
import { flushOnce } from "./read_blocks.ts";
import type { BlkCompletion } from "./request_queue.ts";
import { modeRandom, modeWrites, Workload } from "./workload.ts";
import type {
  BlkDirectionStats,
  BlkInterval,
  BlkJobDeps,
  BlkJobOptions,
  BlkJobResult,
  BlkTarget,
  VerifyMismatch,
} from "./job_types.ts";

export type {
  BlkDirectionStats,
  BlkInterval,
  BlkIntervalRates,
  BlkJobDeps,
  BlkJobOptions,
  BlkJobResult,
  BlkTarget,
  VerifyMismatch,
} from "./job_types.ts";

const YIELD_NS = 5_000_000;
const KEEP_MISMATCHES = 16;

/** The range a job covers, in blocks of bs, checked against the device. */
export function jobRange(limits: BlkLimits, o: BlkJobOptions): { first: number; blocks: number } {
  const cap = Number(limits.capacityBytes);
  const offset = o.offset ?? 0;
  if (o.bs % limits.blockBytes !== 0) {
    throw new RangeError(`bs ${o.bs} is not a multiple of the device's ${limits.blockBytes}`);
  }
  if (offset % o.bs !== 0) throw new RangeError(`offset ${offset} is not a multiple of bs`);
  if (offset >= cap) throw new RangeError(`offset ${offset} is beyond the ${cap}-byte disk`);
  const size = o.size ?? cap - offset;
  if (offset + size > cap) {
    throw new RangeError(`offset + size (${offset + size}) is beyond the ${cap}-byte disk`);
  }
  const blocks = Math.floor(size / o.bs);
  if (blocks < 1) throw new RangeError(`size ${size} holds no block of ${o.bs}`);
  return { first: offset / o.bs, blocks };
}

/** Splits a buffer into segments no longer than the device's size_max (§5.2.4). */
function segmentsOf(buf: DmaRegion, len: number, sizeMax: number | undefined): Segment[] {
  const step = sizeMax === undefined ? len : Math.floor(sizeMax / SECTOR_BYTES) * SECTOR_BYTES;
  const out: Segment[] = [];
  for (let at = 0; at < len; at += step) {
    out.push({ iova: buf.iova + at, len: Math.min(step, len - at) });
  }
  return out;
}

function emptyStats(): BlkDirectionStats {
  return {
    ios: 0,
    bytes: 0,
    clat: new LatencyHistogram(),
    lat: new LatencyHistogram(),
    activeNs: 0,
    fromNs: Infinity,
  };
}

/** Fill or check `bs` bytes as blocks of the device's block size, each with its own sector. */
function fillBlocks(buf: Uint8Array, seed: number, sector: number, blockBytes: number): void {
  for (let at = 0; at < buf.length; at += blockBytes) {
    fillPattern(buf.subarray(at, at + blockBytes), seed, sector + at / SECTOR_BYTES);
  }
}

/** Runs one job to its end (range covered, count, runtime, error or signal). */
export async function runBlkJob(
  target: BlkTarget,
  dma: DmaAllocator,
  o: BlkJobOptions,
  deps: BlkJobDeps,
): Promise<BlkJobResult> {
  const clock = deps.clock ?? monotonicNs;
  const { limits, queues } = target;
  const { first, blocks } = jobRange(limits, o);
  const seed = o.seed ?? 1;
  const writes = modeWrites(o.rw);
  if (writes && limits.readOnly) throw new RangeError("the device is read-only (VIRTIO_BLK_F_RO)");
  const verify = o.verify ?? false;
  const work = new Workload(o.rw, blocks, {
    mixRead: o.rwmixread,
    seed,
    permute: verify && modeRandom(o.rw),
  });
  // Passes: a verified writing run writes every block, then reads every block back.
  let phase: "run" | "write" | "verify" = verify ? (writes ? "write" : "verify") : "run";
  const passRequests = blocks;
  const limit = verify ? passRequests : o.count ?? (o.runtimeMs !== undefined ? Infinity : blocks);
  const runtimeNs = o.runtimeMs !== undefined && !verify ? o.runtimeMs * 1e6 : Infinity;
  const rampNs = (o.rampMs ?? 0) * 1e6;
  const intervalNs = (o.intervalMs ?? 1000) * 1e6;
  const stallNs = (o.stallMs ?? 5000) * 1e6;
  const blockBytes = limits.blockBytes;
  const sectorsPerBlock = o.bs / SECTOR_BYTES;

  // Per slot (tag = queue * depth + i): its buffer, segments, and what is in flight.
  const depth = Math.min(o.iodepth, ...queues.map((q) => q.depth));
  const slotCount = queues.length * depth;
  const bufs: DmaRegion[] = [];
  const segs: Segment[][] = [];
  for (let s = 0; s < slotCount; s++) {
    const b = dma.alloc(o.bs, 4096);
    if (writes && !verify) fillBlocks(b.bytes, seed, first * sectorsPerBlock + s, blockBytes);
    bufs.push(b);
    segs.push(segmentsOf(b, o.bs, limits.sizeMax));
  }
  const slotSector = new Float64Array(slotCount);
  const slotRead = new Uint8Array(slotCount);
  const slotStart = new Float64Array(slotCount);
  const slotKick = new Float64Array(slotCount);
  const free: Int32Array[] = queues.map((_, q) =>
    Int32Array.from({ length: depth }, (_, i) => q * depth + i)
  );
  const freeCount = queues.map(() => depth);
  const justSubmitted = new Int32Array(depth);

  const read = emptyStats(), write = emptyStats();
  const iv = { read: emptyStats(), write: emptyStats() };
  const intervals: BlkInterval[] = [];
  const mismatches: VerifyMismatch[] = [];
  let mismatchCount = 0, blocksChecked = 0;
  let issued = 0, completed = 0, inFlight = 0;
  let error: string | undefined;
  const done: BlkCompletion[] = [];

  const t0 = clock();
  let measuredFrom = rampNs > 0 ? Infinity : t0;
  let lastInterval = t0, lastYield = t0, lastProgress = t0, end = t0;

  const progress = (): number | undefined => {
    if (verify) {
      return ((phase === "verify" && writes ? passRequests : 0) + completed) /
        (writes ? 2 * passRequests : passRequests);
    }
    if (runtimeNs !== Infinity) return Math.min(1, (clock() - t0) / runtimeNs);
    return limit === Infinity ? undefined : Math.min(1, completed / limit);
  };
  const closeInterval = (now: number) => {
    const secs = (now - lastInterval) / 1e9;
    const dir = (s: BlkDirectionStats) => ({
      iops: s.ios / secs,
      bwBytes: s.bytes / secs,
      p50Ns: s.clat.percentile(50),
      p99Ns: s.clat.percentile(99),
    });
    const i: BlkInterval = {
      t: (now - t0) / 1e9,
      ramp: now < measuredFrom,
      phase,
      read: dir(iv.read),
      write: dir(iv.write),
    };
    intervals.push(i);
    deps.onInterval?.(i, progress());
    for (const s of [iv.read, iv.write]) {
      s.ios = s.bytes = 0;
      s.clat.reset();
      s.lat.reset();
    }
    lastInterval = now;
  };

  const complete = (c: BlkCompletion, now: number) => {
    const s = c.tag;
    const isRead = slotRead[s] === 1;
    inFlight--;
    const q = Math.floor(s / depth);
    free[q]![freeCount[q]!++] = s;
    if (c.status !== "ok") {
      const what = c.status === "bad"
        ? `broke the protocol: ${c.detail}`
        : `answered ${c.status.toUpperCase()}`;
      error ??= `${isRead ? "read" : "write"} of sector ${slotSector[s]}: the device ${what}`;
      return;
    }
    completed++;
    if (phase === "verify") {
      const buf = bufs[s]!.bytes;
      const base = slotSector[s]!;
      for (let at = 0; at < buf.length; at += blockBytes) {
        blocksChecked++;
        const r = checkPattern(
          buf.subarray(at, at + blockBytes),
          seed,
          base + at / SECTOR_BYTES,
        );
        if (!r.ok) {
          mismatchCount++;
          if (mismatches.length < KEEP_MISMATCHES) {
            mismatches.push({ sector: Number(r.sector), reason: r.reason });
          }
        }
      }
    }
    const clat = now - slotKick[s]!, lat = now - slotStart[s]!;
    const ivs = isRead ? iv.read : iv.write;
    ivs.ios++;
    ivs.bytes += o.bs;
    ivs.clat.record(clat);
    if (now >= measuredFrom) {
      const tot = isRead ? read : write;
      tot.ios++;
      tot.bytes += o.bs;
      tot.clat.record(clat);
      tot.lat.record(lat);
      // fio's per-direction runtime: a verified run's write and read passes each count
      // their own time, not the whole run's.
      if (slotStart[s]! < tot.fromNs) tot.fromNs = slotStart[s]!;
      tot.activeNs = now - tot.fromNs;
    }
  };

  /** Every few ms, lets timers and the signal run (the loop polls, it never waits). */
  const yieldSometimes = async () => {
    if (clock() - lastYield <= YIELD_NS) return;
    await new Promise((r) => setImmediate(r));
    lastYield = clock();
  };

  /** One turn of the device (tick) and of every queue's completions; returns how many. */
  const pollAll = (): number => {
    deps.tick?.();
    let got = 0;
    for (const rq of queues) {
      done.length = 0;
      got += rq.poll(done);
      const now = clock();
      for (const c of done) complete(c, now);
    }
    return got;
  };

  const drain = async (timeoutNs: number) => {
    const until = clock() + timeoutNs;
    while (inFlight > 0) {
      pollAll();
      if (inFlight > 0 && clock() > until) {
        throw new DeviceError(`${inFlight} requests not completed within ${timeoutNs / 1e6} ms`);
      }
      await yieldSometimes();
    }
  };

  try {
    while (true) {
      let now = clock();
      if (deps.signal.aborted || error !== undefined) break;
      if (now - t0 >= runtimeNs) break;
      if (issued >= limit && inFlight === 0) {
        if (phase === "write") {
          // Every block written: read them all back, in the same order (fio's verify phase).
          phase = "verify";
          work.rewind();
          issued = completed = 0;
          continue;
        }
        break;
      }
      if (measuredFrom === Infinity && now - t0 >= rampNs) measuredFrom = now;
      for (let q = 0; q < queues.length; q++) {
        const rq = queues[q]!;
        let n = 0;
        while (freeCount[q]! > 0 && issued < limit) {
          const s = free[q]![--freeCount[q]!]!;
          const isRead = phase === "verify" || (phase === "run" && work.nextIsRead());
          const sector = (first + work.nextBlock()) * sectorsPerBlock;
          slotSector[s] = sector;
          slotRead[s] = isRead ? 1 : 0;
          if (phase === "write") fillBlocks(bufs[s]!.bytes, seed, sector, blockBytes);
          slotStart[s] = clock();
          if (!rq.enqueue(isRead ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT, sector, segs[s]!, s)) {
            freeCount[q]!++;
            break;
          }
          justSubmitted[n++] = s;
          issued++;
          inFlight++;
        }
        if (n > 0) {
          rq.kick();
          const k = clock();
          for (let i = 0; i < n; i++) slotKick[justSubmitted[i]!] = k;
        }
      }
      const got = pollAll();
      now = clock();
      if (got > 0 || inFlight === 0) lastProgress = now;
      else if (now - lastProgress > stallNs) {
        throw new DeviceError(
          `the device stopped completing requests (${inFlight} in flight, none done for ${
            stallNs / 1e9
          } s)`,
        );
      }
      if (now - lastInterval >= intervalNs) {
        deps.health?.();
        closeInterval(now);
      }
      await yieldSometimes();
    }
    // Requests still in flight (signal, error, runtime): collect them so no buffer is reused
    // or freed under the device; they count, and so does the time they took.
    await drain(stallNs);
    end = clock();
  } catch (e) {
    error ??= e instanceof Error ? e.message : String(e);
    end = clock();
  }
  // The last, partial interval (unless it is only a sliver).
  if (intervals.length === 0 || end - lastInterval > intervalNs / 10) closeInterval(end);

  let flush: BlkJobResult["flush"];
  if (writes && limits.flush && error === undefined && write.ios + iv.write.ios > 0) {
    // §5.2.6.2: a FLUSH makes every completed write durable; sent once, on an idle queue.
    const t = clock();
    const r = flushOnce(queues[0]!, dma, {
      timeoutMs: stallNs / 1e6,
      ...(deps.tick ? { tick: deps.tick } : {}),
    });
    flush = { ok: r.status === "ok", latNs: clock() - t };
  }
  const measuredNs = measuredFrom === Infinity ? 0 : Math.max(0, end - measuredFrom);
  return {
    read,
    write,
    elapsedNs: end - t0,
    measuredNs,
    interrupted: deps.signal.aborted,
    ...(error !== undefined ? { error } : {}),
    ...(verify ? { verify: { blocksChecked, mismatchCount, mismatches } } : {}),
    ...(flush ? { flush } : {}),
    intervals,
  };
}
