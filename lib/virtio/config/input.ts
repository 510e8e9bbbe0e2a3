/**
 * virtio-input configuration (VIRTIO 1.2 §5.8.4): the driver writes `select`/`subsel` and
 * reads `size` and the union. Those are writes, so this runs only on a device no driver
 * owns, and only when the caller allowed writes.
 *
 * @module
 */
import type { ConfigFields } from "./decoder.ts";

/** Device-config access that can also write (only for unbound devices). */
export interface WritableConfig {
  readonly length: number;
  read8(offset: number): number;
  read16(offset: number): number;
  write8(offset: number, value: number): void;
}

export const VIRTIO_INPUT_CFG_ID_NAME = 0x01;
export const VIRTIO_INPUT_CFG_ID_SERIAL = 0x02;
export const VIRTIO_INPUT_CFG_ID_DEVIDS = 0x03;

function select(cfg: WritableConfig, sel: number): number {
  cfg.write8(0, sel);
  cfg.write8(1, 0);
  return Math.min(cfg.read8(2), 128);
}

function text(cfg: WritableConfig, size: number): string {
  let s = "";
  for (let i = 0; i < size && 8 + i < cfg.length; i++) {
    const c = cfg.read8(8 + i);
    if (c === 0) break;
    s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : "?";
  }
  return s;
}

/** Name, serial and ids of an input device; leaves select at 0 (§5.8.4) afterwards. */
export function decodeInputConfig(cfg: WritableConfig): ConfigFields {
  if (cfg.length < 8) return {};
  const out: ConfigFields = {};
  const nameSize = select(cfg, VIRTIO_INPUT_CFG_ID_NAME);
  if (nameSize > 0) out.name = text(cfg, nameSize);
  const serialSize = select(cfg, VIRTIO_INPUT_CFG_ID_SERIAL);
  if (serialSize > 0) out.serial = text(cfg, serialSize);
  if (select(cfg, VIRTIO_INPUT_CFG_ID_DEVIDS) >= 8) {
    out.ids = {
      bustype: cfg.read16(8),
      vendor: cfg.read16(10),
      product: cfg.read16(12),
      version: cfg.read16(14),
    };
  }
  cfg.write8(0, 0);
  return out;
}
