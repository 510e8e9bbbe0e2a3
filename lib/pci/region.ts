/**
 * The register-region seam: a window on a BAR (memory-mapped or I/O ports) through which
 * the virtio transports read and write device registers.
 *
 * @module
 */

/** Little-endian access at byte offsets: what registers and config space have in common. */
export interface LittleEndianAccess {
  /** Reads one byte at `offset`. */
  read8(offset: number): number;
  /** Reads a little-endian 16-bit value at `offset`. */
  read16(offset: number): number;
  /** Reads a little-endian 32-bit value at `offset`. */
  read32(offset: number): number;
  /** Writes one byte at `offset`. */
  write8(offset: number, value: number): void;
  /** Writes a little-endian 16-bit value at `offset`. */
  write16(offset: number, value: number): void;
  /** Writes a little-endian 32-bit value at `offset`. */
  write32(offset: number, value: number): void;
}

/** Little-endian register access at byte offsets within one region. */
export interface RegisterRegion extends LittleEndianAccess {
  /** Size of the region in bytes. */
  readonly length: number;
}

/** A sub-window of a region, bounds-checked against the parent at creation. */
export function subRegion(parent: RegisterRegion, offset: number, length: number): RegisterRegion {
  if (offset < 0 || length < 0 || offset + length > parent.length) {
    throw new RangeError(
      `region [${offset}, ${offset + length}) outside parent of ${parent.length} bytes`,
    );
  }
  const check = (o: number, n: number) => {
    if (o < 0 || o + n > length) throw new RangeError(`access at ${o}+${n} outside ${length}`);
  };
  return {
    length,
    read8: (o) => (check(o, 1), parent.read8(offset + o)),
    read16: (o) => (check(o, 2), parent.read16(offset + o)),
    read32: (o) => (check(o, 4), parent.read32(offset + o)),
    write8: (o, v) => (check(o, 1), parent.write8(offset + o, v)),
    write16: (o, v) => (check(o, 2), parent.write16(offset + o, v)),
    write32: (o, v) => (check(o, 4), parent.write32(offset + o, v)),
  };
}
