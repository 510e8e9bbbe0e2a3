/**
 * Latency histogram with log-linear buckets in fixed memory: values below 32 ns get a bucket
 * each; above, every power of two is split into 32 linear sub-buckets, so any percentile is
 * within 1/32 (3.1 %) of the true value. Covers 0 to 2^53 ns; recording is a few integer
 * operations and one array increment.
 *
 * @module
 */

const SUB_BITS = 5;
const SUB = 1 << SUB_BITS; // 32 sub-buckets per power of two
const BUCKETS = (53 - SUB_BITS + 1) * SUB;
const TWO32 = 4294967296;

/** Bucket index of a non-negative integer value. */
export function bucketOf(v: number): number {
  if (v < SUB) return v;
  const e = v < TWO32 ? 31 - Math.clz32(v) : 63 - Math.clz32(Math.floor(v / TWO32));
  const shift = e - SUB_BITS;
  return (shift + 1) * SUB + Math.floor(v / 2 ** shift) - SUB;
}

/** Smallest value that falls in bucket `i`. */
export function bucketLow(i: number): number {
  if (i < SUB) return i;
  const shift = Math.floor(i / SUB) - 1;
  return (SUB + (i % SUB)) * 2 ** shift;
}

/** Width of bucket `i` (1 for the exact low buckets). */
export function bucketWidth(i: number): number {
  return i < SUB ? 1 : 2 ** (Math.floor(i / SUB) - 1);
}

/** Percentiles and moments of recorded latencies (ns). */
export interface LatencySummary {
  /** Samples recorded. */
  count: number;
  /** Smallest sample (NaN when empty). */
  minNs: number;
  /** Mean (NaN when empty). */
  avgNs: number;
  /** Median, within one bucket (NaN when empty). */
  p50Ns: number;
  /** 99th percentile, within one bucket (NaN when empty). */
  p99Ns: number;
  /** Largest sample (NaN when empty). */
  maxNs: number;
}

/** A latency histogram (ns) with log-linear buckets in fixed memory; recording allocates nothing. */
export class LatencyHistogram {
  /** Samples per bucket. */
  readonly counts = new Float64Array(BUCKETS);
  /** Samples recorded. */
  count = 0;
  /** Sum of the samples (for the mean). */
  sum = 0;
  /** Sum of the squared samples (for the standard deviation). */
  sumSquares = 0;
  /** Smallest sample (Infinity when empty). */
  min: number = Infinity;
  /** Largest sample (0 when empty). */
  max = 0;
  /** Samples below zero (clocks disagree), recorded as 0. */
  negative = 0;

  /** Records one sample in ns; negative values count as 0 (and in `negative`). */
  record(ns: number): void {
    let v = Math.floor(ns);
    if (v < 0) {
      this.negative++;
      v = 0;
    } else if (v > Number.MAX_SAFE_INTEGER) v = Number.MAX_SAFE_INTEGER;
    this.counts[bucketOf(v)]!++;
    this.count++;
    this.sum += v;
    this.sumSquares += v * v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }

  /**
   * The value below which `p` percent of samples lie: the middle of the bucket holding the
   * sample of rank ceil(p/100 · count), clamped to [min, max]. NaN when empty.
   */
  percentile(p: number): number {
    if (this.count === 0) return NaN;
    if (p <= 0) return this.min;
    if (p >= 100) return this.max;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) {
        const mid = bucketLow(i) + (bucketWidth(i) - 1) / 2;
        return Math.min(this.max, Math.max(this.min, mid));
      }
    }
    return this.max;
  }

  /** Population standard deviation of the samples (NaN when empty). */
  stddev(): number {
    if (this.count === 0) return NaN;
    const mean = this.sum / this.count;
    return Math.sqrt(Math.max(0, this.sumSquares / this.count - mean * mean));
  }

  /** Count, min, mean, p50, p99 and max of the samples. */
  summary(): LatencySummary {
    const empty = this.count === 0;
    return {
      count: this.count,
      minNs: empty ? NaN : this.min,
      avgNs: empty ? NaN : this.sum / this.count,
      p50Ns: this.percentile(50),
      p99Ns: this.percentile(99),
      maxNs: empty ? NaN : this.max,
    };
  }

  /** Adds another histogram's samples into this one. */
  merge(other: LatencyHistogram): void {
    for (let i = 0; i < BUCKETS; i++) this.counts[i]! += other.counts[i]!;
    this.count += other.count;
    this.sum += other.sum;
    this.sumSquares += other.sumSquares;
    this.negative += other.negative;
    if (other.min < this.min) this.min = other.min;
    if (other.max > this.max) this.max = other.max;
  }

  /** Forgets every sample. */
  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.sum = 0;
    this.sumSquares = 0;
    this.min = Infinity;
    this.max = 0;
    this.negative = 0;
  }
}
