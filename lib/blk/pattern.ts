/**
 * Verification data for blkgen: each block's contents are a function of (seed, sector), so a
 * read-back can be checked without keeping what was written. A block (a multiple of 4 bytes,
 * at least 16) holds le64 sector | le32 seed | xorshift32 words | le32 crc32c of everything
 * before it. So a misdirected write is named by the sector it really came from, a block of
 * another run by its seed, and any other corruption by the crc — without regenerating the
 * pattern to compare.
 * @module
 */

// Slicing-by-8 tables for CRC-32C (Castagnoli, reflected polynomial 0x82f63b78).
const T = (() => {
  const t = new Uint32Array(8 * 256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  for (let i = 0; i < 256; i++) {
    for (let s = 1; s < 8; s++) {
      t[s * 256 + i] = (t[(s - 1) * 256 + i]! >>> 8) ^ t[t[(s - 1) * 256 + i]! & 0xff]!;
    }
  }
  return t;
})();

/** CRC-32C (Castagnoli, reflected, init and xorout 0xffffffff); `crc` continues a previous one. */
export function crc32c(data: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  let i = 0;
  const n = data.length;
  for (; i + 8 <= n; i += 8) {
    const lo = (c ^ (data[i]! | data[i + 1]! << 8 | data[i + 2]! << 16 | data[i + 3]! << 24)) >>> 0;
    c = T[7 * 256 + (lo & 0xff)]! ^ T[6 * 256 + ((lo >>> 8) & 0xff)]! ^
      T[5 * 256 + ((lo >>> 16) & 0xff)]! ^ T[4 * 256 + (lo >>> 24)]! ^
      T[3 * 256 + data[i + 4]!]! ^ T[2 * 256 + data[i + 5]!]! ^ T[256 + data[i + 6]!]! ^
      T[data[i + 7]!]!;
  }
  for (; i < n; i++) c = T[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

function checkBlock(block: Uint8Array): DataView {
  if (block.length < 16 || block.length % 4 !== 0) {
    throw new RangeError("a pattern block is a multiple of 4 bytes, at least 16");
  }
  return new DataView(block.buffer, block.byteOffset, block.length);
}

/** Fill `block` with the pattern for (seed, sector). `sector` below 2^53. */
export function fillPattern(block: Uint8Array, seed: number, sector: bigint | number): void {
  const v = checkBlock(block);
  const s = Number(sector);
  v.setUint32(0, s % 0x1_0000_0000, true);
  v.setUint32(4, Math.floor(s / 0x1_0000_0000), true);
  v.setUint32(8, seed >>> 0, true);
  // xorshift32 seeded from (seed, sector): cheap, deterministic, never stuck at zero.
  let x = (seed ^ Math.imul(s % 0x1_0000_0000 | 0, 0x9e3779b1) ^ Math.floor(s / 0x1_0000_0000)) >>>
    0;
  if (x === 0) x = 0x6d2b79f5;
  const end = block.length - 4;
  for (let i = 12; i < end; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    v.setUint32(i, x >>> 0, true);
  }
  v.setUint32(end, crc32c(block.subarray(0, end)), true);
}

/** Result of checking one block against its pattern. */
export type PatternCheck =
  | { ok: true }
  | { ok: false; sector: bigint; reason: string };

const OK: PatternCheck = { ok: true };

/** Check a read-back block against the pattern for (seed, sector). */
export function checkPattern(
  block: Uint8Array,
  seed: number,
  sector: bigint | number,
): PatternCheck {
  const v = checkBlock(block);
  const end = block.length - 4;
  const want = BigInt(sector);
  if (crc32c(block.subarray(0, end)) !== v.getUint32(end, true)) {
    return { ok: false, sector: want, reason: "crc32c mismatch (block corrupt or never written)" };
  }
  const stamped = v.getBigUint64(0, true);
  if (stamped !== want) {
    return {
      ok: false,
      sector: want,
      reason: `block holds sector ${stamped}'s data (misdirected)`,
    };
  }
  const stampedSeed = v.getUint32(8, true);
  if (stampedSeed !== seed >>> 0) {
    return { ok: false, sector: want, reason: `block written with another seed (${stampedSeed})` };
  }
  return OK;
}
