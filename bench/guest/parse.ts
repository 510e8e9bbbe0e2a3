/**
 * Pure helpers of the lab benchmark: reading the figures testpmd, kernel pktgen and
 * `virtio pktgen` print, and the statistics the report is made of. No I/O, so the host and
 * the guest share them.
 *
 * @module
 */

/** One per-second figure testpmd prints with `--stats-period 1` ("Tx-pps:  1057656"). */
export function testpmdPps(text: string, direction: "tx" | "rx"): number[] {
  const re = direction === "tx" ? /Tx-pps:\s+(\d+)/g : /Rx-pps:\s+(\d+)/g;
  return [...text.matchAll(re)].map((m) => Number(m[1]));
}

/** The pps of a kernel pktgen device file after a run ("...\n  301234pps 144Mb/sec ..."). */
export function kernelPktgenPps(deviceFile: string): number | undefined {
  const result = deviceFile.slice(deviceFile.indexOf("Result:"));
  const m = /Result: OK:[\s\S]*?(\d+)pps/.exec(result);
  return m ? Number(m[1]) : undefined;
}

/** Per-interval frame rates from `virtio pktgen --json --interval 1` lines (errors included). */
export function pktgenIntervalPps(stdout: string, direction: "tx" | "rx"): number[] {
  const out: number[] = [];
  for (const line of stdout.split("\n")) {
    if (!line.startsWith("{")) continue;
    let doc: {
      type?: string;
      dt?: number;
      tx?: { packets: number };
      rx?: { packets: number; errors: number };
    };
    try {
      doc = JSON.parse(line);
    } catch {
      continue;
    }
    if (doc.type !== "interval" || !doc.dt) continue;
    // Frames that fail our validation (e.g. testpmd's payload) still arrived: count them.
    const n = direction === "tx" ? doc.tx?.packets ?? 0 : (doc.rx?.packets ?? 0) +
      (doc.rx?.errors ?? 0);
    out.push(n / doc.dt);
  }
  return out;
}

/** The middle value (mean of the two middle ones for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * The steady rate of per-second samples: the first `warmup` samples (start-up, JIT warm-up,
 * a partial interval) are dropped and the median of the rest taken — the same rule for every
 * tool. With too few samples, the last one alone.
 */
export function steadyRate(samples: readonly number[], warmup: number): number {
  const steady = samples.slice(warmup);
  return steady.length ? median(steady) : median(samples.slice(-1));
}

/** Least-squares slope of y over x (units of y per unit of x); NaN with fewer than 2 points. */
export function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return NaN;
  let sx = 0, sy = 0;
  for (const p of points) {
    sx += p.x;
    sy += p.y;
  }
  const mx = sx / n, my = sy / n;
  let num = 0, den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}

/** What one measurement in the guest produced (one JSON line on the guest's stdout). */
/**
 * The doorbell counts in a `virtio pktgen --json` result: the direction's queues' publishes
 * and notifications and the frames of the run (sent, or received valid or not).
 */
export function pktgenDoorbells(
  stdout: string,
  direction: "tx" | "rx",
): RateRecord["doorbells"] {
  for (const line of stdout.split("\n")) {
    if (!line.startsWith("{") || !line.includes('"summary"')) continue;
    try {
      const doc = JSON.parse(line) as {
        sent?: number;
        summary?: { rx?: { packets: number; errors: number } };
        tx?: { doorbells?: { tx: { publishes: number; notifications: number } } } | null;
        rx?: { doorbells?: { rx: { publishes: number; notifications: number } } } | null;
      };
      const d = direction === "tx" ? doc.tx?.doorbells?.tx : doc.rx?.doorbells?.rx;
      if (!d) return undefined;
      const frames = direction === "tx"
        ? doc.sent ?? 0
        : (doc.summary?.rx?.packets ?? 0) + (doc.summary?.rx?.errors ?? 0);
      return { publishes: d.publishes, notifications: d.notifications, frames };
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export interface RateRecord {
  kind: "rate";
  direction: "tx" | "rx";
  tool: "virtio" | "testpmd" | "kernel";
  nic: string;
  address: string;
  /** Wire size, FCS included. */
  size: number;
  /** Steady packets per second, or null when the run failed. */
  pps: number | null;
  /** Per-second samples the figure came from (empty for kernel pktgen: one total). */
  samples: number[];
  /** Receive runs: the traffic source's median pps while this receiver ran. */
  sourcePps?: number;
  /** Which round of the interleaved runs (1-based; tools take turns within a round). */
  round?: number;
  /** Samples dropped at the start of `samples` before the median (the tool's warm-up). */
  warmup?: number;
  /** Wall time of the run, start-up included. */
  ms?: number;
  /**
   * Our pktgen only: what its queues made the device see over the whole run (its --json
   * result): publishes (avail index / flags stores that exposed new buffers), notifications
   * (doorbell writes), and the frames they carried.
   */
  doorbells?: { publishes: number; notifications: number; frames: number };
  error?: string;
}

/**
 * A rate record with the wire count beside the tool's own: frames the peer NIC received
 * (`rx_packets` delta) over the same steady window, and what it dropped meanwhile
 * (`rx_dropped` + `rx_missed_errors`). Frames QEMU drops before the peer's ring (its
 * queue towards a slow receiver) are not counted anywhere: the wire figure is a lower bound.
 */
export interface WireRateRecord extends RateRecord {
  wirePps?: number | null;
  wireDropped?: number;
}

/**
 * The samples a record's figure stands on: its per-second samples after its warm-up (the
 * last one alone when too few, as {@link steadyRate}), or its one figure when the tool gives
 * only a total (kernel pktgen); none for a failed run.
 */
export function keptSamples(r: RateRecord): number[] {
  if (r.pps === null) return [];
  if (r.samples.length === 0) return [r.pps];
  const steady = r.samples.slice(r.warmup ?? 0);
  return steady.length ? steady : r.samples.slice(-1);
}

/** One tool in one direction/NIC/size over all its rounds. */
export interface ToolSummary {
  direction: RateRecord["direction"];
  nic: string;
  size: number;
  tool: RateRecord["tool"];
  /** Median of the kept samples of every round together; null when no round measured. */
  pps: number | null;
  /** How many kept samples that median is of. */
  sampleCount: number;
  /** Rounds that gave a figure, and rounds that failed. */
  rounds: number;
  failed: number;
  /** Lowest and highest per-round figure (each round's own median): the spread. */
  roundMin: number | null;
  roundMax: number | null;
  /** Median over rounds of the peer's wire rate (transmit, with `--wire`). */
  wirePps?: number | null;
  /** Median over rounds of the traffic source's rate while this receiver ran. */
  sourcePps?: number;
}

const isFiniteNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/** Groups records by direction/NIC/size/tool (in first-seen order) and summarises each. */
export function summarizeRates(records: readonly WireRateRecord[]): ToolSummary[] {
  const groups = new Map<string, WireRateRecord[]>();
  for (const r of records) {
    const key = `${r.direction}|${r.nic}|${r.size}|${r.tool}`;
    const g = groups.get(key);
    if (g) g.push(r);
    else groups.set(key, [r]);
  }
  return [...groups.values()].map((g) => {
    const first = g[0]!;
    const ok = g.filter((r) => r.pps !== null);
    const kept = ok.flatMap(keptSamples);
    const perRound = ok.map((r) => r.pps!);
    const out: ToolSummary = {
      direction: first.direction,
      nic: first.nic,
      size: first.size,
      tool: first.tool,
      pps: kept.length ? median(kept) : null,
      sampleCount: kept.length,
      rounds: ok.length,
      failed: g.length - ok.length,
      roundMin: perRound.length ? Math.min(...perRound) : null,
      roundMax: perRound.length ? Math.max(...perRound) : null,
    };
    if (g.some((r) => r.wirePps !== undefined)) {
      const wire = g.flatMap((r) => (isFiniteNumber(r.wirePps) ? [r.wirePps] : []));
      out.wirePps = wire.length ? median(wire) : null;
    }
    // A source with no samples in the window had NaN, which JSON carries as null.
    const source = g.flatMap((r) => (isFiniteNumber(r.sourcePps) ? [r.sourcePps] : []));
    if (source.length) out.sourcePps = median(source);
    return out;
  });
}

/** JS heap samples of a long `virtio pktgen` run. */
export interface HeapRecord {
  kind: "heap";
  address: string;
  seconds: number;
  /** [seconds since start, heapUsed bytes] once per interval. */
  samples: [number, number][];
  txPps: number | null;
  /** The run's transmit rate each second (how long it takes to reach speed). */
  txSamples?: number[];
  error?: string;
}

/** start/end/max and slope of heap samples; the slope skips the first `warmupS` seconds. */
export function heapSummary(samples: readonly [number, number][], warmupS: number) {
  const ys = samples.map((s) => s[1]);
  const warm = samples.filter((s) => s[0] >= warmupS).map(([x, y]) => ({ x, y }));
  return {
    startBytes: ys[0] ?? NaN,
    endBytes: ys[ys.length - 1] ?? NaN,
    maxBytes: ys.length ? Math.max(...ys) : NaN,
    slopeBytesPerS: slope(warm),
    slopeFromS: warmupS,
  };
}
