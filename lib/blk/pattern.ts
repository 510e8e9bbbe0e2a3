/**
 * Verification data for blkgen: each block's contents are a function of (seed, sector), so a
 * read-back can be checked without keeping what was written. The block's first 8 bytes carry
 * the sector (le64), so a misdirected write is named by the sector it really came from; the
 * last 4 bytes are the crc32c of everything before them.
 * @module
 */

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** CRC-32C (Castagnoli, reflected, init and xorout 0xffffffff). */
export function crc32c(data: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (const byte of data) c = CRC32C_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** Fill `block` (≥ 16 bytes) with the pattern for (seed, sector). */
export function fillPattern(block: Uint8Array, seed: number, sector: bigint): void {
  if (block.length < 16) throw new RangeError("a pattern block needs at least 16 bytes");
  const v = new DataView(block.buffer, block.byteOffset, block.length);
  v.setBigUint64(0, sector, true);
  // xorshift32 seeded from (seed, sector): cheap, deterministic, never stuck at zero.
  let x =
    (seed ^ Number(sector & 0xffffffffn) ^ Number((sector >> 32n) * 0x9e3779b1n & 0xffffffffn)) >>>
    0;
  if (x === 0) x = 0x6d2b79f5;
  const end = block.length - 4;
  for (let i = 8; i < end; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    block[i] = x & 0xff;
  }
  v.setUint32(end, crc32c(block.subarray(0, end)), true);
}

/** Result of checking one block against its pattern. */
export type PatternCheck =
  | { ok: true }
  | { ok: false; sector: bigint; reason: string };

/** Check a read-back block against the pattern for (seed, sector). */
export function checkPattern(block: Uint8Array, seed: number, sector: bigint): PatternCheck {
  if (block.length < 16) throw new RangeError("a pattern block needs at least 16 bytes");
  const v = new DataView(block.buffer, block.byteOffset, block.length);
  const end = block.length - 4;
  const stamped = v.getBigUint64(0, true);
  if (crc32c(block.subarray(0, end)) !== v.getUint32(end, true)) {
    return { ok: false, sector, reason: "crc32c mismatch (block corrupt or never written)" };
  }
  if (stamped !== sector) {
    return { ok: false, sector, reason: `block holds sector ${stamped}'s data (misdirected)` };
  }
  const want = new Uint8Array(block.length);
  fillPattern(want, seed, sector);
  for (let i = 8; i < end; i++) {
    if (block[i] !== want[i]) {
      return { ok: false, sector, reason: `byte ${i} differs (written with another seed?)` };
    }
  }
  return { ok: true };
}
