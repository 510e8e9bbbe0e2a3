/**
 * Frame sizes: fixed, a range (stepped or random) or IMIX, precomputed into a table so that
 * choosing the next packet's size is one array lookup.
 *
 * Size convention (kernel pktgen reports, Pktgen-DPDK, RFC 2544): a "64-byte frame" is the
 * Ethernet frame on the wire *including* its 4-byte FCS: 60 bytes of header + payload that
 * the driver writes, plus 4 bytes of FCS a physical NIC would append. virtio-net has no FCS,
 * so a 64-byte frame is 60 bytes in the buffer ({@link bufferBytes}). All sizes in this
 * module, in the pacer's bit/s and in the stats' byte counts are these wire sizes, so
 * "64-byte frames at 1 Mpps" is 512 Mbit/s. (testpmd's `--txpkts` counts buffer bytes
 * instead: its `--txpkts=60` is our 64.)
 *
 * @module
 */
import { UsageError } from "../errors.ts";

/** Bytes of Ethernet FCS that the wire size counts but the virtio buffer does not hold. */
export const FCS_BYTES = 4;
/** Smallest Ethernet frame on the wire, FCS included (IEEE 802.3 minimum). */
export const MIN_WIRE_SIZE = 64;
/** Largest untagged frame for a 1500-byte MTU: 1500 + 14 header + 4 FCS. */
export const MAX_WIRE_SIZE = 1518;

/** Bytes the driver writes into the buffer for a frame of `wireSize` bytes on the wire. */
export function bufferBytes(wireSize: number): number {
  return wireSize - FCS_BYTES;
}

/** The wire size of a frame that occupies `bufferLength` bytes in a virtio buffer. */
export function wireSize(bufferLength: number): number {
  return bufferLength + FCS_BYTES;
}

/** The classic "simple IMIX": 7 × 64, 4 × 570, 1 × 1518 bytes. */
export const CLASSIC_IMIX: readonly { size: number; weight: number }[] = [
  { size: 64, weight: 7 },
  { size: 570, weight: 4 },
  { size: 1518, weight: 1 },
];

/** A cyclic table of wire sizes; `next()` is an array lookup and an index bump. */
export class SizeSequence {
  #i = 0;
  /** Smallest wire size in the table. */
  readonly min: number;
  /** Largest wire size in the table. */
  readonly max: number;
  /** Mean wire size over one cycle of the table (for bit/s ↔ pps conversions). */
  readonly mean: number;

  /** A sequence over `table` (wire sizes); `description` names it for output. Throws on an empty table. */
  constructor(readonly table: Uint16Array, readonly description: string) {
    if (table.length === 0) throw new RangeError("empty size table");
    let min = Infinity, max = 0, sum = 0;
    for (const s of table) {
      min = Math.min(min, s);
      max = Math.max(max, s);
      sum += s;
    }
    this.min = min;
    this.max = max;
    this.mean = sum / table.length;
  }

  /** The wire size of the next frame. */
  next(): number {
    const s = this.table[this.#i]!;
    if (++this.#i === this.table.length) this.#i = 0;
    return s;
  }
}

/**
 * Spreads weighted sizes evenly over one cycle (smooth weighted round-robin), so 7:4:1 is
 * not sent as seven small frames in a row then four medium ones.
 */
export function weightedSequence(
  entries: readonly { size: number; weight: number }[],
  description: string,
): SizeSequence {
  const total = entries.reduce((a, e) => a + e.weight, 0);
  const current = entries.map(() => 0);
  const table = new Uint16Array(total);
  for (let n = 0; n < total; n++) {
    let best = 0;
    for (let i = 0; i < entries.length; i++) {
      current[i]! += entries[i]!.weight;
      if (current[i]! > current[best]!) best = i;
    }
    current[best]! -= total;
    table[n] = entries[best]!.size;
  }
  return new SizeSequence(table, description);
}

/** How many random draws a random size range precomputes. */
const RANDOM_TABLE = 4096;

/**
 * Parses a size spec: `64`; `64-1518` (stepped by 1) or `64-1518,random`; `imix` (the
 * classic 7:4:1); or a custom mix `64:7,570:4,1518:1` (size:weight). Every size must lie in
 * [minSize, maxSize] (wire sizes, FCS included).
 */
export function parseSizes(
  spec: string,
  minSize = MIN_WIRE_SIZE,
  maxSize = MAX_WIRE_SIZE,
  seed = 0x2545f491,
): SizeSequence {
  const t = spec.trim().toLowerCase();
  const size = (text: string) => {
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < minSize || n > maxSize) {
      throw new UsageError(`frame size '${text}' must be an integer from ${minSize} to ${maxSize}`);
    }
    return n;
  };
  if (t === "imix") {
    for (const e of CLASSIC_IMIX) size(String(e.size));
    return weightedSequence(CLASSIC_IMIX, "imix 64:7,570:4,1518:1");
  }
  if (t.includes(":")) {
    const entries = t.split(",").map((part) => {
      const [s = "", w = "", extra] = part.split(":");
      const weight = Number(w);
      if (extra !== undefined || !/^\d+$/.test(w) || weight < 1 || weight > 10000) {
        throw new UsageError(`'${part}' in '${spec}' is not SIZE:WEIGHT (weight 1-10000)`);
      }
      return { size: size(s), weight };
    });
    return weightedSequence(entries, `imix ${t}`);
  }
  const m = /^(\d+)-(\d+)(?:,(inc|random))?$/.exec(t);
  if (m) {
    const lo = size(m[1]!), hi = size(m[2]!);
    if (hi < lo) throw new UsageError(`frame size range '${spec}' is reversed`);
    if (m[3] === "random") {
      let x = seed >>> 0 || 1;
      const table = new Uint16Array(RANDOM_TABLE);
      for (let i = 0; i < table.length; i++) {
        x ^= x << 13, x ^= x >>> 17, x ^= x << 5;
        table[i] = lo + Math.floor(((x >>> 0) / 4294967296) * (hi - lo + 1));
      }
      return new SizeSequence(table, `${lo}-${hi} random`);
    }
    const table = new Uint16Array(hi - lo + 1).map((_, i) => lo + i);
    return new SizeSequence(table, `${lo}-${hi}`);
  }
  return new SizeSequence(Uint16Array.of(size(t)), `${size(t)}`);
}
