/**
 * Device-specific configuration reads that are consistent (VIRTIO 1.2 §2.5.1
 * "Driver Requirements: Device Configuration Space": read config_generation before and
 * after, and retry while it changed — fields wider than 32 bits, or several fields read
 * together, may otherwise tear while the device updates them).
 *
 * @module
 */
import { DeviceError } from "../errors.ts";
import type { RegisterRegion } from "../pci/region.ts";
import type { DeviceConfigAccess, RawConfig } from "./transport.ts";

const MAX_TRIES = 100;

/** RawConfig over a register region; 64-bit fields as two 32-bit reads (§4.1.3.1). */
export function rawConfig(region: RegisterRegion): RawConfig {
  return {
    read8: (o) => region.read8(o),
    read16: (o) => region.read16(o),
    read32: (o) => region.read32(o),
    read64: (o) => BigInt(region.read32(o)) | (BigInt(region.read32(o + 4)) << 32n),
  };
}

/**
 * Config access with a generation counter (`generation` reads it). Without one (legacy
 * devices have none), `generation` is undefined and the read is repeated until two runs give
 * the same result.
 */
export function configAccess(
  region: RegisterRegion | undefined,
  generation?: () => number,
): DeviceConfigAccess {
  const raw = region ? rawConfig(region) : undefined;
  return {
    length: region?.length ?? 0,
    consistent<T>(read: (cfg: RawConfig) => T): T {
      if (!raw) throw new DeviceError("the device has no device-specific configuration");
      for (let i = 0; i < MAX_TRIES; i++) {
        if (generation) {
          const before = generation();
          const value = read(raw);
          if (generation() === before) return value;
        } else {
          const a = read(raw);
          const b = read(raw);
          if (JSON.stringify(a, big) === JSON.stringify(b, big)) return b;
        }
      }
      throw new DeviceError(
        `device configuration kept changing over ${MAX_TRIES} reads (config_generation unstable)`,
      );
    },
  };
}

function big(_k: string, v: unknown) {
  return typeof v === "bigint" ? v.toString() : v;
}
