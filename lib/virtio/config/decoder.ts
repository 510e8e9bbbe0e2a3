/**
 * What every device-config decoder shares: its input (a {@link RawConfig} reader, the
 * feature bits that say which fields exist, the length the device exposes) and its output
 * (a JSON-safe tree of numbers, strings and booleans).
 *
 * @module
 */
import type { RawConfig } from "../transport.ts";
import { hasFeature } from "../features.ts";

/** A decoded value: JSON-safe; u64 values beyond 2^53 become decimal strings. */
export type ConfigValue = number | string | boolean | ConfigFields | ConfigValue[];
/** Decoded configuration fields by name. */
export interface ConfigFields {
  /** A field's decoded value. */
  [field: string]: ConfigValue;
}

/** What a decoder needs besides the raw bytes: the feature set and the config length. */
export interface DecodeContext {
  /** The features that decide which fields exist (negotiated when bound, else offered). */
  readonly features: bigint;
  /** Bytes of device configuration the device exposes; fields beyond it are not read. */
  readonly length: number;
}

/** Decodes one device type's configuration. Reads only; never writes. */
export type ConfigDecoder = (cfg: RawConfig, ctx: DecodeContext) => ConfigFields;

/** Field-reading helpers bound to one context. */
export function fieldReader(cfg: RawConfig, ctx: DecodeContext) {
  const fits = (offset: number, size: number) => offset + size <= ctx.length;
  return {
    fits,
    has: (bit: bigint) => hasFeature(ctx.features, bit),
    u8: (o: number) => cfg.read8(o),
    u16: (o: number) => cfg.read16(o),
    u32: (o: number) => cfg.read32(o),
    /** A u64 as a number when exact, else as a decimal string. */
    u64: (o: number): number | string => u64Value(cfg.read64(o)),
    /** A NUL-padded byte string of at most `max` bytes, printable ASCII kept. */
    text: (o: number, max: number) => {
      let s = "";
      for (let i = 0; i < max && fits(o + i, 1); i++) {
        const c = cfg.read8(o + i);
        if (c === 0) break;
        s += c >= 0x20 && c < 0x7f
          ? String.fromCharCode(c)
          : `\\x${c.toString(16).padStart(2, "0")}`;
      }
      return s;
    },
  };
}

/** A bigint as a JSON-safe value: number when ≤ 2^53-1, decimal string otherwise. */
export function u64Value(v: bigint): number | string {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
}
