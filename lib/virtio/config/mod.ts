/**
 * Device-config decoders by virtio device type (§5). Input (§5.8.4) needs select writes and
 * is decoded separately, only for devices no driver owns (see `input.ts`).
 *
 * @module
 */
import type { ConfigDecoder } from "./decoder.ts";
import { decodeNetConfig } from "./net.ts";
import { decodeBlkConfig } from "./blk.ts";
import {
  decode9pConfig,
  decodeBalloonConfig,
  decodeConsoleConfig,
  decodeCryptoConfig,
  decodeFsConfig,
  decodeGpuConfig,
  decodeIommuConfig,
  decodeMemConfig,
  decodePmemConfig,
  decodeRngConfig,
  decodeScsiConfig,
  decodeSoundConfig,
  decodeVsockConfig,
} from "./simple.ts";

export type { ConfigDecoder, ConfigFields, ConfigValue, DecodeContext } from "./decoder.ts";

/** Device configuration decoders by virtio device type (§5.x.4 "Device configuration layout"). */
export const CONFIG_DECODERS: ReadonlyMap<number, ConfigDecoder> = new Map([
  [1, decodeNetConfig],
  [2, decodeBlkConfig],
  [3, decodeConsoleConfig],
  [4, decodeRngConfig],
  [5, decodeBalloonConfig],
  [8, decodeScsiConfig],
  [9, decode9pConfig],
  [16, decodeGpuConfig],
  [19, decodeVsockConfig],
  [20, decodeCryptoConfig],
  [23, decodeIommuConfig],
  [24, decodeMemConfig],
  [25, decodeSoundConfig],
  [26, decodeFsConfig],
  [27, decodePmemConfig],
]);
