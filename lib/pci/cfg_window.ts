/**
 * The PCI configuration access window (VIRTIO 1.2 §4.1.4.9, `virtio_pci_cfg_cap`): a way to
 * reach a BAR's registers through config space alone, for when the BAR cannot be mapped —
 * e.g. a BAR the kernel's driver owns (CONFIG_IO_STRICT_DEVMEM refuses the mmap).
 *
 * An access: write cap.bar, cap.offset and cap.length (1, 2 or 4), then read or write
 * pci_cfg_data with that width; the device performs the BAR access. The rules kept here:
 * - only aligned accesses of the field's own width (§4.1.4.9.1: "naturally aligned");
 * - only inside a range another virtio capability describes, never ISR (reading it clears
 *   it, §4.1.4.5) — the caller names the structure it wants a region over;
 * - the window is disarmed (cap.length = 0) after every access, so a later config read by
 *   anyone (lspci -xxx) is not turned into a BAR access;
 * - a capability shorter than 20 bytes has no pci_cfg_data and cannot be a window.
 * The only config-space bytes written are cap.bar, cap.offset, cap.length and pci_cfg_data.
 *
 * @module
 */
import type { ConfigSpace } from "./config_space.ts";
import type { RegisterRegion } from "./region.ts";
import { VirtioError } from "../errors.ts";

/** Offsets inside `virtio_pci_cfg_cap` (§4.1.4.9): a virtio_pci_cap, then pci_cfg_data. */
export const PCI_CFG_CAP = { bar: 4, offset: 8, length: 12, data: 16 } as const;
/** A window needs the 16-byte virtio_pci_cap plus 4 bytes of pci_cfg_data. */
export const PCI_CFG_CAP_MIN_LENGTH = 20;

/** A BAR range a window region may cover. */
export interface WindowTarget {
  /** BAR index. */
  readonly bar: number;
  /** Offset of the range in the BAR. */
  readonly offset: number;
  /** Length of the range in bytes. */
  readonly length: number;
}

/** Raised for a capability that cannot serve as a window. */
export class WindowError extends VirtioError {
  /** "WindowError". */
  override name = "WindowError";
}

/** One device's window, over its (writable) config space and its pci_cfg capability. */
export class PciCfgWindow {
  /** How many BAR accesses went through the window (each one armed and disarmed). */
  accesses = 0;

  /**
   * A window through the capability at `capOffset` (`capLength` bytes, from cap_len) of
   * `config`; `forbidden` ranges (ISR) get no region. Throws WindowError for a short cap.
   */
  constructor(
    readonly config: ConfigSpace,
    readonly capOffset: number,
    capLength: number,
    readonly forbidden: readonly WindowTarget[] = [],
  ) {
    if (capLength < PCI_CFG_CAP_MIN_LENGTH) {
      throw new WindowError(
        `pci_cfg capability at 0x${capOffset.toString(16)} is ${capLength} bytes: too short ` +
          `for an access window (needs ${PCI_CFG_CAP_MIN_LENGTH}, §4.1.4.9)`,
      );
    }
    if (capOffset + PCI_CFG_CAP_MIN_LENGTH > config.size) {
      throw new WindowError(`pci_cfg capability at 0x${capOffset.toString(16)} outside config`);
    }
  }

  /**
   * A register region over `target` (a range another capability describes). Writes through
   * it are refused unless `writable`. Throws WindowError when the range overlaps a forbidden
   * one (ISR).
   */
  region(target: WindowTarget, writable = false): RegisterRegion {
    for (const f of this.forbidden) {
      if (
        f.bar === target.bar && target.offset < f.offset + f.length &&
        f.offset < target.offset + target.length
      ) {
        throw new WindowError(
          `window range BAR ${target.bar} [0x${target.offset.toString(16)}, +0x${
            target.length.toString(16)
          }) overlaps a forbidden structure (ISR: reading clears it, §4.1.4.5)`,
        );
      }
    }
    const access = (o: number, width: 1 | 2 | 4, value?: number): number => {
      if (!Number.isInteger(o) || o < 0 || o + width > target.length) {
        throw new RangeError(`window access at ${o}+${width} outside ${target.length} bytes`);
      }
      if (o % width !== 0) throw new RangeError(`window access at ${o} not ${width}-aligned`);
      if (value !== undefined && !writable) {
        throw new Error(`window region is read-only (write at 0x${o.toString(16)})`);
      }
      return this.#access(target.bar, target.offset + o, width, value);
    };
    return {
      length: target.length,
      read8: (o) => access(o, 1),
      read16: (o) => access(o, 2),
      read32: (o) => access(o, 4),
      write8: (o, v) => void access(o, 1, v),
      write16: (o, v) => void access(o, 2, v),
      write32: (o, v) => void access(o, 4, v),
    };
  }

  /** Disarms the window (cap.length = 0); done after every access, and safe to repeat. */
  disarm(): void {
    this.config.write32(this.capOffset + PCI_CFG_CAP.length, 0);
  }

  /** True when the window is disarmed (cap.length reads 0). */
  get disarmed(): boolean {
    return this.config.read32(this.capOffset + PCI_CFG_CAP.length) === 0;
  }

  #access(bar: number, offset: number, width: 1 | 2 | 4, value?: number): number {
    const cs = this.config, at = this.capOffset;
    // §4.1.4.9: cap.bar, cap.offset and cap.length select the BAR access; pci_cfg_data does it.
    cs.write8(at + PCI_CFG_CAP.bar, bar);
    cs.write32(at + PCI_CFG_CAP.offset, offset);
    cs.write32(at + PCI_CFG_CAP.length, width);
    const data = at + PCI_CFG_CAP.data;
    try {
      this.accesses++;
      if (value === undefined) {
        return width === 1 ? cs.read8(data) : width === 2 ? cs.read16(data) : cs.read32(data);
      }
      if (width === 1) cs.write8(data, value);
      else if (width === 2) cs.write16(data, value);
      else cs.write32(data, value);
      return 0;
    } finally {
      this.disarm();
    }
  }
}
