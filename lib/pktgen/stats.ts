/**
 * Counters of a pktgen run: tx/rx packets and bytes, receive errors by kind, per-flow
 * sequence tracking (loss, duplicates, reordering) and latency histograms (whole run and
 * current interval). Counting is allocation-free; {@link RunStats.snapshot} (once per
 * interval) and {@link RunStats.summary} (once per run) build plain objects for the live
 * line, `--json` and `--plot`.
 *
 * Bytes are wire bytes, FCS included (sizes.ts): pass `wireSize(bufferLength)` for frames
 * taken from a virtio buffer.
 *
 * JSON schema of an {@link IntervalSnapshot} (one JSON line per interval with
 * `--json --interval`): `{ t, dt, tx: {packets, bytes, pps, bps}, rx: {packets, bytes, pps,
 * bps, errors}, latency: {count, minNs, avgNs, p50Ns, p99Ns, maxNs} | null }` — `t` seconds
 * since the start, `dt` the interval length, packet/byte counts within the interval, rates
 * over it; latency null when no timestamps were measured in the interval.
 *
 * @module
 */
import { LatencyHistogram, type LatencySummary } from "./histogram.ts";
import { SequenceTracker } from "./sequence.ts";
import { RX_STATUS_NAMES, type RxStatus } from "./validate.ts";

/** Counts and rates of one direction over an interval or a run. */
export interface DirectionStats {
  /** Packets counted. */
  packets: number;
  /** Wire bytes counted (FCS included). */
  bytes: number;
  /** Packets per second. */
  pps: number;
  /** Bits per second (wire bytes × 8). */
  bps: number;
}

/** One interval's numbers (see the module doc for the JSON schema). */
export interface IntervalSnapshot {
  /** Seconds since the start of the run, at the end of this interval. */
  t: number;
  /** Length of this interval in seconds. */
  dt: number;
  /** Transmit counts and rates within the interval. */
  tx: DirectionStats;
  /** Receive counts and rates within the interval, with receive errors. */
  rx: DirectionStats & { errors: number };
  /** Latency within the interval; null when no timestamps were measured. */
  latency: LatencySummary | null;
  /** Time within the interval in which the poll loop did not poll (EngineResult.pausedNs). */
  pausedNs: number;
}

/** The whole run's numbers. */
export interface RunSummary {
  /** Length of the run in seconds. */
  seconds: number;
  /** Transmit totals and mean rates. */
  tx: DirectionStats;
  /** Receive totals, mean rates, errors and sequence accounting. */
  rx: DirectionStats & {
    errors: number;
    errorsByKind: Record<string, number>;
    unique: number;
    duplicates: number;
    reordered: number;
    late: number;
    /** Sent − unique when the sender's count is known, else gaps in the sequence. */
    lost: number;
    /** lost / expected, 0..1 (0 when nothing was expected). */
    lossRatio: number;
    flows: number;
  };
  /** Latency over the whole run; null when nothing was measured. */
  latency: LatencySummary | null;
}

/** Most flow ids a receiver tracks separately; higher ids count as errors. */
export const MAX_FLOWS = 1024;

/** Counters of a pktgen run (see the module doc); counting allocates nothing. */
export class RunStats {
  /** Packets sent. */
  txPackets = 0;
  /** Wire bytes sent. */
  txBytes = 0;
  /** Frames counted by `countRx` (those that failed validation are only in `rxErrors`). */
  rxPackets = 0;
  /** Wire bytes of the frames counted by `countRx`. */
  rxBytes = 0;
  /** Receive errors indexed by {@link RxStatus} (index 0 unused), plus unknown flows. */
  readonly rxErrors = new Float64Array(RX_STATUS_NAMES.length + 1);
  /** Latency over the whole run. */
  readonly latency = new LatencyHistogram();
  /** Latency in the current interval (cleared by `snapshot`). */
  readonly intervalLatency = new LatencyHistogram();
  readonly #flows: (SequenceTracker | undefined)[] = [];
  readonly #startNs: number;
  #lastNs: number;
  #lastPausedNs = 0;
  #last = { tx: 0, txB: 0, rx: 0, rxB: 0, err: 0 };

  /** Counters starting at `startNs` (monotonic ns, same clock as later calls). */
  constructor(startNs: number) {
    this.#startNs = startNs;
    this.#lastNs = startNs;
  }

  /** Counts `packets` sent frames of `bytes` wire bytes in total. */
  countTx(packets: number, bytes: number): void {
    this.txPackets += packets;
    this.txBytes += bytes;
  }

  /** Counts a received frame that failed validation. */
  countRxError(status: RxStatus): void {
    this.rxErrors[status]!++;
  }

  /**
   * Counts a valid received frame of `bytes` wire bytes carrying `flowId`/`seq`; records
   * latency `nowNs - txNs` when `txNs` is from the same clock (pass NaN otherwise).
   */
  countRx(bytes: number, flowId: number, seq: number, txNs: number, nowNs: number): void {
    this.rxPackets++;
    this.rxBytes += bytes;
    if (flowId >= MAX_FLOWS) {
      this.rxErrors[RX_STATUS_NAMES.length]!++;
      return;
    }
    // A tracker is allocated on a flow's first packet only.
    (this.#flows[flowId] ??= new SequenceTracker()).record(seq);
    if (!Number.isNaN(txNs)) {
      const lat = nowNs - txNs;
      this.latency.record(lat);
      this.intervalLatency.record(lat);
    }
  }

  /** Total receive errors of every kind. */
  get rxErrorCount(): number {
    let n = 0;
    for (let i = 1; i < this.rxErrors.length; i++) n += this.rxErrors[i]!;
    return n;
  }

  /**
   * The numbers since the previous snapshot; starts a new interval. `pausedTotalNs` is the
   * loop's pause time since the start of the run; the snapshot has this interval's share.
   */
  snapshot(nowNs: number, pausedTotalNs = 0): IntervalSnapshot {
    const dt = (nowNs - this.#lastNs) / 1e9;
    const l = this.#last;
    const err = this.rxErrorCount;
    const dir = (packets: number, bytes: number): DirectionStats => ({
      packets,
      bytes,
      pps: dt > 0 ? packets / dt : 0,
      bps: dt > 0 ? (bytes * 8) / dt : 0,
    });
    const snap: IntervalSnapshot = {
      t: (nowNs - this.#startNs) / 1e9,
      dt,
      tx: dir(this.txPackets - l.tx, this.txBytes - l.txB),
      rx: { ...dir(this.rxPackets - l.rx, this.rxBytes - l.rxB), errors: err - l.err },
      latency: this.intervalLatency.count > 0 ? this.intervalLatency.summary() : null,
      pausedNs: pausedTotalNs - this.#lastPausedNs,
    };
    this.#lastPausedNs = pausedTotalNs;
    this.#last = {
      tx: this.txPackets,
      txB: this.txBytes,
      rx: this.rxPackets,
      rxB: this.rxBytes,
      err,
    };
    this.#lastNs = nowNs;
    this.intervalLatency.reset();
    return snap;
  }

  /**
   * The run's totals at `nowNs`. `sentPackets`, when the sender is in this process
   * (loopback), gives exact loss including a lost tail; per-flow counts are summed.
   */
  summary(nowNs: number, sentPackets?: number): RunSummary {
    const seconds = (nowNs - this.#startNs) / 1e9;
    let unique = 0, duplicates = 0, reordered = 0, late = 0, gaps = 0, flows = 0;
    for (const f of this.#flows) {
      if (!f) continue;
      flows++;
      unique += f.unique;
      duplicates += f.duplicates;
      reordered += f.reordered;
      late += f.late;
      gaps += f.lost;
    }
    const lost = sentPackets === undefined ? gaps : Math.max(0, sentPackets - unique);
    const expected = sentPackets ?? unique + gaps;
    const errorsByKind: Record<string, number> = {};
    RX_STATUS_NAMES.forEach((name, i) => {
      if (i > 0 && this.rxErrors[i]! > 0) errorsByKind[name] = this.rxErrors[i]!;
    });
    const unknown = this.rxErrors[RX_STATUS_NAMES.length]!;
    if (unknown > 0) errorsByKind.unknown_flow = unknown;
    const dir = (packets: number, bytes: number): DirectionStats => ({
      packets,
      bytes,
      pps: seconds > 0 ? packets / seconds : 0,
      bps: seconds > 0 ? (bytes * 8) / seconds : 0,
    });
    return {
      seconds,
      tx: dir(this.txPackets, this.txBytes),
      rx: {
        ...dir(this.rxPackets, this.rxBytes),
        errors: this.rxErrorCount,
        errorsByKind,
        unique,
        duplicates,
        reordered,
        late,
        lost,
        lossRatio: expected > 0 ? lost / expected : 0,
        flows,
      },
      latency: this.latency.count > 0 ? this.latency.summary() : null,
    };
  }
}

/** A number with an SI prefix and `unit`, 3 significant digits: `1.23 M` + unit. */
export function formatSI(value: number, unit: string): string {
  if (!Number.isFinite(value)) return `- ${unit}`;
  const a = Math.abs(value);
  const [div, prefix] = a >= 1e12
    ? [1e12, "T"]
    : a >= 1e9
    ? [1e9, "G"]
    : a >= 1e6
    ? [1e6, "M"]
    : a >= 1e3
    ? [1e3, "k"]
    : [1, ""];
  const v = value / div;
  const digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2;
  return `${v.toFixed(prefix === "" && Number.isInteger(v) ? 0 : digits)} ${prefix}${unit}`;
}

/** Packets per second: `1.23 Mpps`. */
export function formatPps(pps: number): string {
  return formatSI(pps, "pps");
}

/** Bits per second: `512 Mbit/s`. */
export function formatBps(bps: number): string {
  return formatSI(bps, "bit/s");
}

/** A duration in ns in the most readable unit: `850 ns`, `12.3 µs`, `4.56 ms`. */
export function formatNs(ns: number): string {
  if (!Number.isFinite(ns)) return "-";
  if (ns < 1e3) return `${Math.round(ns)} ns`;
  if (ns < 1e6) return `${+(ns / 1e3).toPrecision(3)} µs`;
  if (ns < 1e9) return `${+(ns / 1e6).toPrecision(3)} ms`;
  return `${+(ns / 1e9).toPrecision(3)} s`;
}

/** The live line for one interval: `tx 1.02 Mpps 522 Mbit/s | rx ... | err 0 | lat p50 ...`. */
export function formatLiveLine(s: IntervalSnapshot): string {
  const parts = [
    `${s.t.toFixed(1).padStart(6)}s`,
    `tx ${formatPps(s.tx.pps).padStart(10)} ${formatBps(s.tx.bps).padStart(12)}`,
    `rx ${formatPps(s.rx.pps).padStart(10)} ${formatBps(s.rx.bps).padStart(12)}`,
    `err ${s.rx.errors}`,
  ];
  if (s.latency) {
    parts.push(`lat p50 ${formatNs(s.latency.p50Ns)} p99 ${formatNs(s.latency.p99Ns)}`);
  }
  return parts.join(" | ");
}
