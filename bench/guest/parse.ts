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
  error?: string;
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
