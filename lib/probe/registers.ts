/**
 * Register reads for probe, over the {@link RegisterRegion} seam. Reads only, except the
 * selector writes that `allowSelectWrites` permits (for devices no driver owns). The ISR
 * register is never touched: reading it clears it (§4.1.4.5).
 *
 * @module
 */
import type { RegisterRegion } from "../pci/region.ts";
import type { RawConfig } from "../virtio/transport.ts";
import { COMMON_CFG, LEGACY } from "../virtio/constants.ts";

/** Opens BAR `bar` of a PCI function; `lib/pci/bar.ts` openBarRegion fits. */
export type BarOpener = (
  pciAddress: string,
  bar: number,
  opts: { writable: boolean },
) => RegisterRegion & Disposable;

/** A RawConfig over a region (64-bit fields as two 32-bit reads, low first: §4.1.3.1). */
export function rawConfigOf(region: RegisterRegion, base = 0): RawConfig {
  return {
    read8: (o) => region.read8(base + o),
    read16: (o) => region.read16(base + o),
    read32: (o) => region.read32(base + o),
    read64: (o) => BigInt(region.read32(base + o)) | (BigInt(region.read32(base + o + 4)) << 32n),
  };
}

const GENERATION_RETRIES = 8;

/**
 * §2.5.1 / §4.1.4.3.1: read config_generation, read the fields, read the generation again;
 * repeat while they differ (bounded). Returns the result and the generation it belongs to.
 */
export function readConsistent<T>(
  common: RegisterRegion,
  read: () => T,
): { value: T; generation: number; consistent: boolean } {
  for (let i = 0; i < GENERATION_RETRIES; i++) {
    const before = common.read8(COMMON_CFG.config_generation);
    const value = read();
    const after = common.read8(COMMON_CFG.config_generation);
    if (before === after) return { value, generation: after, consistent: true };
  }
  const generation = common.read8(COMMON_CFG.config_generation);
  return { value: read(), generation, consistent: false };
}

/** Legacy devices have no generation counter: read twice until two reads agree (bounded). */
export function readLegacyStable<T>(read: () => T): { value: T; consistent: boolean } {
  let last = read();
  for (let i = 0; i < GENERATION_RETRIES; i++) {
    const again = read();
    if (JSON.stringify(again) === JSON.stringify(last)) return { value: again, consistent: true };
    last = again;
  }
  return { value: last, consistent: false };
}

/**
 * Device features through device_feature_select (§4.1.4.3): writes the selector, so only
 * for a device no driver owns. Reads `words` 32-bit words (128 bits by default).
 */
export function readModernDeviceFeatures(common: RegisterRegion, words = 4): bigint {
  let features = 0n;
  for (let w = 0; w < words; w++) {
    common.write32(COMMON_CFG.device_feature_select, w);
    features |= BigInt(common.read32(COMMON_CFG.device_feature)) << BigInt(32 * w);
  }
  common.write32(COMMON_CFG.device_feature_select, 0);
  return features;
}

/** Max size of each queue through queue_select (§4.1.4.3); a write, so unbound only. */
export function readModernQueueSizes(common: RegisterRegion, numQueues: number): number[] {
  const sizes: number[] = [];
  for (let q = 0; q < Math.min(numQueues, 1024); q++) {
    common.write16(COMMON_CFG.queue_select, q);
    sizes.push(common.read16(COMMON_CFG.queue_size));
  }
  common.write16(COMMON_CFG.queue_select, 0);
  return sizes;
}

/** Legacy queue sizes (§4.1.4.8): select then read until a 0 size; unbound only. */
export function readLegacyQueueSizes(io: RegisterRegion, limit = 64): number[] {
  const sizes: number[] = [];
  for (let q = 0; q < limit; q++) {
    io.write16(LEGACY.queue_select, q);
    const size = io.read16(LEGACY.queue_size);
    if (size === 0) break;
    sizes.push(size);
  }
  io.write16(LEGACY.queue_select, 0);
  return sizes;
}

/** Bytes of a region as hex, 16 per line with offsets (for `-v`). */
export function hexDump(read8: (o: number) => number, length: number): string {
  const lines: string[] = [];
  for (let o = 0; o < length; o += 16) {
    const row: string[] = [];
    for (let i = o; i < Math.min(o + 16, length); i++) {
      row.push(read8(i).toString(16).padStart(2, "0"));
    }
    lines.push(`${o.toString(16).padStart(4, "0")}: ${row.join(" ")}`);
  }
  return lines.join("\n");
}
