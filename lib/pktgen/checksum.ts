/**
 * The Internet checksum (RFC 1071) and its incremental update (RFC 1624), on plain
 * Uint8Array views at an offset. Sums are kept unfolded as JS numbers (exact up to 2^53),
 * so callers can add partial sums of separate pieces and fold once at the end.
 *
 * @module
 */

/**
 * The one's-complement sum, unfolded, of `len` bytes at `off` taken as big-endian 16-bit
 * words; an odd last byte is padded with a zero low byte (RFC 1071 §4.1). `off` and `len`
 * are relative to the word grid: pass pieces that start at an even distance from the start
 * of the checksummed data.
 */
export function sumBytes(buf: Uint8Array, off: number, len: number): number {
  let sum = 0;
  const end = off + (len & ~1);
  const end8 = off + (len & ~7);
  let i = off;
  // 8 bytes per step: high bytes and low bytes summed separately, combined once.
  let hi = 0, lo = 0;
  for (; i < end8; i += 8) {
    hi += buf[i]! + buf[i + 2]! + buf[i + 4]! + buf[i + 6]!;
    lo += buf[i + 1]! + buf[i + 3]! + buf[i + 5]! + buf[i + 7]!;
  }
  sum = hi * 256 + lo;
  for (; i < end; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (len & 1) sum += buf[end]! << 8;
  return sum;
}

/** Folds an unfolded sum into 16 bits with end-around carry. */
export function foldSum(sum: number): number {
  // Per-frame sums stay far below 2^32: fold with integer ops. Larger sums (up to 2^53)
  // take one exact division first.
  let s = sum <= 0xffffffff
    ? (sum & 0xffff) + (sum >>> 16)
    : (sum % 0x10000) + Math.floor(sum / 0x10000);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** The checksum field value for an unfolded sum: the complement of the folded sum. */
export function finishChecksum(sum: number): number {
  return ~foldSum(sum) & 0xffff;
}

/**
 * The UDP checksum field value for an unfolded sum (RFC 768): a computed 0 is sent as
 * 0xffff, because 0 in the field means "no checksum" (IPv4) or is invalid (IPv6, RFC 8200
 * §8.1).
 */
export function finishUdpChecksum(sum: number): number {
  const c = ~foldSum(sum) & 0xffff;
  return c === 0 ? 0xffff : c;
}

/**
 * RFC 1624 eqn. 3: the new checksum field after one 16-bit word of the covered data changes
 * from `oldWord` to `newWord`: HC' = ~(~HC + ~m + m'). Apply once per changed word.
 */
export function checksumAdjust(checksum: number, oldWord: number, newWord: number): number {
  const sum = (~checksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  return ~foldSum(sum) & 0xffff;
}

/** Reads a big-endian u16. */
export function getU16(buf: Uint8Array, off: number): number {
  return (buf[off]! << 8) | buf[off + 1]!;
}

/** Writes a big-endian u16. */
export function putU16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 8;
  buf[off + 1] = v;
}

/** Reads a big-endian u32 as an unsigned number. */
export function getU32(buf: Uint8Array, off: number): number {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}

/** Writes a big-endian u32. */
export function putU32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 24;
  buf[off + 1] = v >>> 16;
  buf[off + 2] = v >>> 8;
  buf[off + 3] = v;
}
