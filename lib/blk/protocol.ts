/**
 * virtio-blk request layout and device limits (VIRTIO 1.2 §5.2.6). Pure functions: no device,
 * no ring. The driver builds each request as [header (out) | data (out or in) | status (in)].
 * @module
 */
import {
  hasFeature,
  VIRTIO_BLK_F_BLK_SIZE,
  VIRTIO_BLK_F_DISCARD,
  VIRTIO_BLK_F_FLUSH,
  VIRTIO_BLK_F_MQ,
  VIRTIO_BLK_F_RO,
  VIRTIO_BLK_F_SEG_MAX,
  VIRTIO_BLK_F_SIZE_MAX,
  VIRTIO_BLK_F_WRITE_ZEROES,
} from "../virtio/features.ts";
import { type RangeLimits, rangeLimits } from "./ranges.ts";

/** §5.2.6: request types. */
export const VIRTIO_BLK_T_IN = 0;
/** Write. */
export const VIRTIO_BLK_T_OUT = 1;
/** Flush the write cache. */
export const VIRTIO_BLK_T_FLUSH = 4;
/** Read the device serial. */
export const VIRTIO_BLK_T_GET_ID = 8;
/** Discard. */
export const VIRTIO_BLK_T_DISCARD = 11;
/** Write zeroes. */
export const VIRTIO_BLK_T_WRITE_ZEROES = 13;

/** §5.2.6: status byte values. */
export const VIRTIO_BLK_S_OK = 0;
export const VIRTIO_BLK_S_IOERR = 1;
export const VIRTIO_BLK_S_UNSUPP = 2;

/** §5.2.6: le32 type, le32 reserved, le64 sector. */
export const BLK_HEADER_BYTES = 16;
/** §5.2.6: GET_ID answers with a 20-byte serial, NUL-padded (not terminated when full). */
export const BLK_ID_BYTES = 20;
/** §5.2.4: capacity and `sector` are always in 512-byte units, whatever blk_size says. */
export const SECTOR_BYTES = 512;

/** The 16-byte request header (§5.2.6). */
export function encodeBlkHeader(type: number, sector: bigint): Uint8Array {
  if (sector < 0n || sector >= 1n << 64n) throw new RangeError(`sector ${sector} out of u64`);
  const out = new Uint8Array(BLK_HEADER_BYTES);
  const v = new DataView(out.buffer);
  v.setUint32(0, type >>> 0, true);
  v.setUint32(4, 0, true);
  v.setBigUint64(8, sector, true);
  return out;
}

/** Decoded status byte. */
export type BlkStatus = "ok" | "ioerr" | "unsupp";

/** The status byte is device-written, so any value beyond the three defined is an error. */
export function decodeBlkStatus(byte: number): BlkStatus {
  if (byte === VIRTIO_BLK_S_OK) return "ok";
  if (byte === VIRTIO_BLK_S_IOERR) return "ioerr";
  if (byte === VIRTIO_BLK_S_UNSUPP) return "unsupp";
  throw new Error(`device wrote status byte ${byte}, not one of OK/IOERR/UNSUPP (§5.2.6)`);
}

/** §5.2.6: the GET_ID serial, cut at the first NUL; non-printable bytes shown as `?`. */
export function decodeBlkId(bytes: Uint8Array): string {
  const raw = bytes.subarray(0, BLK_ID_BYTES);
  const end = raw.indexOf(0);
  const s = end < 0 ? raw : raw.subarray(0, end);
  return Array.from(s, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : "?")).join("");
}

/** Raw config words as read; blkLimits ignores those whose feature was not negotiated. */
export interface BlkRawConfig {
  /** §5.2.4 capacity, 512-byte sectors. */
  capacitySectors: bigint;
  /** §5.2.4 size_max. */
  sizeMax?: number;
  /** §5.2.4 seg_max. */
  segMax?: number;
  /** §5.2.4 blk_size. */
  blkSize?: number;
  /** §5.2.4 num_queues. */
  numQueues?: number;
  /** §5.2.4 max_discard_sectors, max_discard_seg, discard_sector_alignment. */
  discard?: { maxSectors: number; maxSegments: number; alignment: number };
  /** §5.2.4 max_write_zeroes_sectors, max_write_zeroes_seg, write_zeroes_may_unmap. */
  writeZeroes?: { maxSectors: number; maxSegments: number; mayUnmap: number };
}

/** What the driver must honour, checked for sanity (device-written config is untrusted). */
export interface BlkLimits {
  /** Capacity in 512-byte sectors. */
  capacitySectors: bigint;
  /** Capacity in bytes. */
  capacityBytes: bigint;
  /** Logical block size in bytes (§5.2.4 blk_size; 512 when not offered). */
  blockBytes: number;
  /** Largest data segment, bytes; undefined = no limit offered. */
  sizeMax?: number;
  /** Most data segments in one request; undefined = no limit offered. */
  segMax?: number;
  /** Request queues the device has. */
  numQueues: number;
  /** VIRTIO_BLK_F_RO: writes are refused. */
  readOnly: boolean;
  /** VIRTIO_BLK_F_FLUSH offered. */
  flush: boolean;
  /** VIRTIO_BLK_F_DISCARD offered. */
  discard: boolean;
  /** VIRTIO_BLK_F_WRITE_ZEROES offered. */
  writeZeroes: boolean;
  /** DISCARD's limits, when negotiated and read. */
  discardLimits?: RangeLimits;
  /** WRITE_ZEROES's limits, when negotiated and read. */
  writeZeroesLimits?: RangeLimits;
}

/**
 * The device features {@link blkLimits} decodes (§5.2.3): what the driver asks for, so the set
 * it negotiates and the set it understands are one list.
 */
export const BLK_DEVICE_FEATURES: bigint = [
  VIRTIO_BLK_F_SIZE_MAX,
  VIRTIO_BLK_F_SEG_MAX,
  VIRTIO_BLK_F_BLK_SIZE,
  VIRTIO_BLK_F_RO,
  VIRTIO_BLK_F_FLUSH,
  VIRTIO_BLK_F_MQ,
  VIRTIO_BLK_F_DISCARD,
  VIRTIO_BLK_F_WRITE_ZEROES,
].reduce((mask, bit) => mask | (1n << bit), 0n);

/** Validate the negotiated features plus raw config into limits, or throw with the reason. */
export function blkLimits(features: bigint, raw: BlkRawConfig): BlkLimits {
  const cap = raw.capacitySectors;
  if (cap < 0n || cap >= 1n << 55n) throw new Error(`capacity ${cap} sectors is not plausible`);
  let blockBytes = SECTOR_BYTES;
  if (hasFeature(features, VIRTIO_BLK_F_BLK_SIZE) && raw.blkSize !== undefined) {
    const b = raw.blkSize;
    // §5.2.4: blk_size is advisory for performance; a driver may still use it as the I/O
    // granularity only when it is a power of two from 512 up to a page multiple we can map.
    if (b < SECTOR_BYTES || b > 1 << 20 || (b & (b - 1)) !== 0) {
      throw new Error(`blk_size ${b} is not a power of two in 512..1MiB`);
    }
    blockBytes = b;
  }
  let sizeMax: number | undefined;
  if (hasFeature(features, VIRTIO_BLK_F_SIZE_MAX) && raw.sizeMax !== undefined) {
    if (raw.sizeMax < SECTOR_BYTES) throw new Error(`size_max ${raw.sizeMax} is below a sector`);
    sizeMax = raw.sizeMax;
  }
  let segMax: number | undefined;
  if (hasFeature(features, VIRTIO_BLK_F_SEG_MAX) && raw.segMax !== undefined) {
    if (raw.segMax < 1) throw new Error(`seg_max ${raw.segMax}: a device must take one segment`);
    segMax = raw.segMax;
  }
  let numQueues = 1;
  if (hasFeature(features, VIRTIO_BLK_F_MQ) && raw.numQueues !== undefined) {
    // §5.2.3: num_queues ≥ 1 when VIRTIO_BLK_F_MQ; zero is a broken device.
    if (raw.numQueues < 1) throw new Error(`num_queues ${raw.numQueues} with VIRTIO_BLK_F_MQ`);
    numQueues = raw.numQueues;
  }
  const d = hasFeature(features, VIRTIO_BLK_F_DISCARD) ? raw.discard : undefined;
  const z = hasFeature(features, VIRTIO_BLK_F_WRITE_ZEROES) ? raw.writeZeroes : undefined;
  return {
    ...(d
      ? { discardLimits: rangeLimits("discard", d.maxSectors, d.maxSegments, d.alignment) }
      : {}),
    ...(z
      ? {
        writeZeroesLimits: rangeLimits("write-zeroes", z.maxSectors, z.maxSegments, 0, z.mayUnmap),
      }
      : {}),
    capacitySectors: cap,
    capacityBytes: cap * BigInt(SECTOR_BYTES),
    blockBytes,
    sizeMax,
    segMax,
    numQueues,
    readOnly: hasFeature(features, VIRTIO_BLK_F_RO),
    flush: hasFeature(features, VIRTIO_BLK_F_FLUSH),
    discard: hasFeature(features, VIRTIO_BLK_F_DISCARD),
    writeZeroes: hasFeature(features, VIRTIO_BLK_F_WRITE_ZEROES),
  };
}

/**
 * Check one data request against the limits before it reaches the ring. Returns a reason, or
 * undefined when fine. §5.2.6.1: a driver MUST NOT submit a write to a VIRTIO_BLK_F_RO device.
 * Out-of-range is NOT checked here on purpose: the device must report it as IOERR.
 */
export function checkBlkRequest(
  limits: BlkLimits,
  type: number,
  bytes: number,
  segments: number,
): string | undefined {
  const writes = type === VIRTIO_BLK_T_OUT || type === VIRTIO_BLK_T_WRITE_ZEROES ||
    type === VIRTIO_BLK_T_DISCARD;
  if (writes && limits.readOnly) return "device is read-only (VIRTIO_BLK_F_RO)";
  if (type === VIRTIO_BLK_T_FLUSH && !limits.flush) {
    return "device did not offer VIRTIO_BLK_F_FLUSH";
  }
  if (type === VIRTIO_BLK_T_DISCARD && !limits.discard) return "device did not offer DISCARD";
  if (type === VIRTIO_BLK_T_WRITE_ZEROES && !limits.writeZeroes) {
    return "device did not offer WRITE_ZEROES";
  }
  if (type === VIRTIO_BLK_T_IN || type === VIRTIO_BLK_T_OUT) {
    // §5.2.6: data length for IN/OUT is a multiple of 512 bytes.
    if (bytes <= 0 || bytes % SECTOR_BYTES !== 0) return `length ${bytes} not a multiple of 512`;
    if (limits.segMax !== undefined && segments > limits.segMax) {
      return `${segments} segments exceed seg_max ${limits.segMax}`;
    }
    if (limits.sizeMax !== undefined && bytes / segments > limits.sizeMax) {
      return `segment of ${bytes / segments} bytes exceeds size_max ${limits.sizeMax}`;
    }
  }
  return undefined;
}
