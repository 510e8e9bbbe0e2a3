/**
 * The shapes of a blkgen job (lib/blk/job.ts): what it is asked, what it needs from outside,
 * what it reports per interval and at the end. No code.
 * @module
 */
import type { LatencyHistogram } from "../pktgen/histogram.ts";
import type { BlkLimits } from "./protocol.ts";
import type { BlkRequestQueue } from "./request_queue.ts";
import type { RwMode } from "./workload.ts";

/** What a job does. Sizes in bytes, times in ms. */
export interface BlkJobOptions {
  /** Direction and order of the requests (fio's rw=). */
  readonly rw: RwMode;
  /** Percent reads for randrw (default 50). */
  readonly rwmixread?: number;
  /** Block size per request: a multiple of the device's block size. */
  readonly bs: number;
  /** Requests in flight per queue. */
  readonly iodepth: number;
  /** First byte of the range (a multiple of bs). */
  readonly offset?: number;
  /** Bytes of the range from offset (default: to the end, whole blocks of bs). */
  readonly size?: number;
  /** Time-based run: repeat over the range for this long. */
  readonly runtimeMs?: number;
  /** Stop after this many requests. */
  readonly count?: number;
  /** Run this long before counting anything (warm-up). */
  readonly rampMs?: number;
  /** Write a pattern and read every block back, checking it; or (read modes) only check. */
  readonly verify?: boolean;
  /** Seed of the offsets and the verify pattern (default 1). */
  readonly seed?: number;
  /** Live-line period (default 1000). */
  readonly intervalMs?: number;
  /** Give up when requests are in flight and none completes for this long (default 5000). */
  readonly stallMs?: number;
}

/** One direction's totals over the measured time. */
export interface BlkDirectionStats {
  /** Requests completed OK. */
  ios: number;
  /** Bytes moved by them. */
  bytes: number;
  /** Submission to completion, ns (what fio calls clat). */
  clat: LatencyHistogram;
  /** Preparing the request to completion, ns (fio's lat: slat + clat). */
  lat: LatencyHistogram;
  /** This direction's counted span: first counted submission to last completion, ns. */
  activeNs: number;
  /** Start of the span (clock ns; Infinity until a request counts). */
  fromNs: number;
}

/** One live-line interval. */
export interface BlkInterval {
  /** Seconds since the start, at the end of the interval. */
  t: number;
  /** Still in the ramp (not counted). */
  ramp: boolean;
  /** "write" or "verify" for a verified run's passes, else "run". */
  phase: string;
  /** Reads within the interval: rate, bandwidth and clat percentiles. */
  read: BlkIntervalRates;
  /** Writes within the interval. */
  write: BlkIntervalRates;
}

/** One direction within one interval. */
export interface BlkIntervalRates {
  /** Requests per second. */
  iops: number;
  /** Bytes per second. */
  bwBytes: number;
  /** Median completion latency, ns (NaN without requests). */
  p50Ns: number;
  /** 99th percentile completion latency, ns. */
  p99Ns: number;
}

/** A block whose read-back did not match. */
export interface VerifyMismatch {
  /** Its first 512-byte sector. */
  sector: number;
  /** What was wrong (crc, misdirected, another seed). */
  reason: string;
}

/** What a job did. */
export interface BlkJobResult {
  /** Reads counted. */
  read: BlkDirectionStats;
  /** Writes counted. */
  write: BlkDirectionStats;
  /** From the first submission to the end, ns. */
  elapsedNs: number;
  /** The counted part (after the ramp), ns. */
  measuredNs: number;
  /** Stopped by the signal (Ctrl-C / SIGTERM). */
  interrupted: boolean;
  /** Why the job stopped early: a device error or a failed request. */
  error?: string;
  /** Verified runs: blocks checked and the first mismatches (at most 16 kept). */
  verify?: { blocksChecked: number; mismatchCount: number; mismatches: VerifyMismatch[] };
  /** The FLUSH sent at the end of a writing run, when the device offers it. */
  flush?: { ok: boolean; latNs: number };
  /** One entry per live-line interval. */
  intervals: BlkInterval[];
}

/** The opened device as a job needs it. */
export interface BlkTarget {
  /** The negotiated limits (capacity, block size, read-only ...). */
  readonly limits: BlkLimits;
  /** The request queues to serve. */
  readonly queues: readonly BlkRequestQueue[];
}

/** What a job needs from outside. */
export interface BlkJobDeps {
  /** Aborting it stops the job (Ctrl-C). */
  readonly signal: AbortSignal;
  /** Monotonic ns clock. */
  readonly clock?: () => number;
  /** Called once per loop turn (a simulated device does its work here). */
  readonly tick?: () => void;
  /** Throws when the device has gone or reset (checked once per interval). */
  readonly health?: () => void;
  /** Each interval's rates; `progress` 0..1 for bounded runs. */
  readonly onInterval?: (i: BlkInterval, progress: number | undefined) => void;
}
