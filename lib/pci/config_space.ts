/**
 * The PCI configuration space seam. Real: the sysfs `config` file or a VFIO config
 * region. Fake: {@link FakeConfigSpace} in `testing/`.
 *
 * @module
 */

/** Little-endian access to a PCI function's configuration space. */
export interface ConfigSpace {
  /** Readable bytes: 256 (conventional), 4096 (extended), 64 when not root. */
  readonly size: number;
  read8(offset: number): number;
  read16(offset: number): number;
  read32(offset: number): number;
  /** Writes are only legal on a device we took over. */
  write8(offset: number, value: number): void;
  write16(offset: number, value: number): void;
  write32(offset: number, value: number): void;
}
