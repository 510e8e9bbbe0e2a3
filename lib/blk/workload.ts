/**
 * What blkgen asks of the disk, request by request: the direction of each request and the
 * block it touches, in fio's vocabulary (`--rw read|write|randread|randwrite|randrw`,
 * `--rwmixread`). Seeded, so a run can be repeated exactly; nothing allocated per request.
 *
 * A verified run (`--verify`) touches every block of the range exactly once per phase: a
 * write pass (sequential, or a seeded permutation for random), then a read pass in the same
 * order that checks each block — so every block written is read back and none is missed.
 * @module
 */

/** fio's `rw=` values that blkgen understands. */
export const RW_MODES = ["read", "write", "randread", "randwrite", "randrw"] as const;
/** One of {@link RW_MODES}. */
export type RwMode = typeof RW_MODES[number];

/** Does the mode write? */
export function modeWrites(mode: RwMode): boolean {
  return mode === "write" || mode === "randwrite" || mode === "randrw";
}

/** Does the mode pick blocks at random? */
export function modeRandom(mode: RwMode): boolean {
  return mode.startsWith("rand");
}

/** xorshift32: a small, fast, seeded generator (not for anything secret). */
export class Xorshift32 {
  #x: number;
  /** Seeded; a zero seed is replaced (xorshift never leaves zero). */
  constructor(seed: number) {
    this.#x = (seed >>> 0) || 0x9e3779b9;
  }
  /** The next value in [0, 2^32). */
  next(): number {
    let x = this.#x;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    this.#x = x;
    return x;
  }
  /** A value in [0, n) for n ≤ 2^32 (multiply-shift: no modulo bias worth measuring here). */
  below(n: number): number {
    return Math.floor((this.next() / 0x1_0000_0000) * n);
  }
}

/** Largest range a verified random run can permute (a Uint32Array of this many blocks). */
export const MAX_PERMUTED_BLOCKS = 1 << 26;

/** The next request's direction and block, as the mode says. */
export class Workload {
  readonly #mode: RwMode;
  readonly #blocks: number;
  readonly #mixRead: number;
  readonly #rng: Xorshift32;
  readonly #order: Uint32Array | undefined;
  #next = 0;

  /**
   * `blocks` blocks of the range; `mixRead` percent reads for randrw; `permute` (verified
   * random runs) visits each block once per pass in a seeded random order.
   */
  constructor(
    mode: RwMode,
    blocks: number,
    o: { mixRead?: number; seed?: number; permute?: boolean } = {},
  ) {
    if (!Number.isSafeInteger(blocks) || blocks < 1) {
      throw new RangeError(`a range of ${blocks} blocks`);
    }
    this.#mode = mode;
    this.#blocks = blocks;
    this.#mixRead = o.mixRead ?? 50;
    this.#rng = new Xorshift32(o.seed ?? 1);
    if (o.permute && modeRandom(mode)) {
      if (blocks > MAX_PERMUTED_BLOCKS) {
        throw new RangeError(`${blocks} blocks is too many to permute; use a smaller --size`);
      }
      // Fisher–Yates over the block numbers, once: the same order for both passes.
      const order = new Uint32Array(blocks);
      for (let i = 0; i < blocks; i++) order[i] = i;
      for (let i = blocks - 1; i > 0; i--) {
        const j = this.#rng.below(i + 1);
        const t = order[i]!;
        order[i] = order[j]!;
        order[j] = t;
      }
      this.#order = order;
    }
  }

  /** Blocks in the range. */
  get blocks(): number {
    return this.#blocks;
  }

  /** True when the next request should be a read. */
  nextIsRead(): boolean {
    switch (this.#mode) {
      case "read":
      case "randread":
        return true;
      case "write":
      case "randwrite":
        return false;
      case "randrw":
        return this.#rng.below(100) < this.#mixRead;
    }
  }

  /** The next block number in [0, blocks). Sequential and permuted orders wrap around. */
  nextBlock(): number {
    if (this.#order) {
      const b = this.#order[this.#next]!;
      this.#next = this.#next + 1 === this.#blocks ? 0 : this.#next + 1;
      return b;
    }
    if (modeRandom(this.#mode)) return this.#rng.below(this.#blocks);
    const b = this.#next;
    this.#next = b + 1 === this.#blocks ? 0 : b + 1;
    return b;
  }

  /** Starts the order over (the verify pass reads in the order the write pass wrote). */
  rewind(): void {
    this.#next = 0;
  }
}

const UNITS: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/**
 * Parses a byte size as fio does: `4k`, `128K`, `64m`, `1g`, `4096`, `4KiB` (powers of
 * 1024; fio's default `kb_base=1024`). Returns undefined for malformed input.
 */
export function parseByteSize(text: string): number | undefined {
  const m = /^\s*(\d+)\s*([kmgt]?)(i?b)?\s*$/i.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]) * UNITS[m[2]!.toLowerCase()]!;
  return Number.isSafeInteger(n) ? n : undefined;
}

/** 4096 → "4k", 1048576 → "1m", 1000 → "1000" (the way fio prints bs=). */
export function formatByteSize(n: number): string {
  for (const [u, f] of [["t", 1024 ** 4], ["g", 1024 ** 3], ["m", 1024 ** 2], ["k", 1024]]) {
    if (n >= (f as number) && n % (f as number) === 0) return `${n / (f as number)}${u}`;
  }
  return String(n);
}
