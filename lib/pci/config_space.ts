/**
 * The PCI configuration space seam. Real: the sysfs `config` file or a VFIO config
 * region. Fake: {@link FakeConfigSpace} in `testing/`.
 *
 * @module
 */
import type { LittleEndianAccess } from "./region.ts";

/**
 * Little-endian access to a PCI function's configuration space. Writes are only legal on a
 * device we took over.
 */
export interface ConfigSpace extends LittleEndianAccess {
  /** Readable bytes: 256 (conventional), 4096 (extended), 64 when not root. */
  readonly size: number;
}
