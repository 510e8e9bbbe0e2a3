/** virtio-blk device configuration (VIRTIO 1.2 §5.2.4). @module */
import {
  VIRTIO_BLK_F_BLK_SIZE,
  VIRTIO_BLK_F_CONFIG_WCE,
  VIRTIO_BLK_F_DISCARD,
  VIRTIO_BLK_F_GEOMETRY,
  VIRTIO_BLK_F_MQ,
  VIRTIO_BLK_F_SECURE_ERASE,
  VIRTIO_BLK_F_SEG_MAX,
  VIRTIO_BLK_F_SIZE_MAX,
  VIRTIO_BLK_F_TOPOLOGY,
  VIRTIO_BLK_F_WRITE_ZEROES,
  VIRTIO_BLK_F_ZONED,
} from "../features.ts";
import { type ConfigDecoder, type ConfigFields, fieldReader, u64Value } from "./decoder.ts";

export const BLK_CONFIG = {
  capacity: 0,
  size_max: 8,
  seg_max: 12,
  geometry: 16,
  blk_size: 20,
  topology: 24,
  writeback: 32,
  num_queues: 34,
  max_discard_sectors: 36,
  max_discard_seg: 40,
  discard_sector_alignment: 44,
  max_write_zeroes_sectors: 48,
  max_write_zeroes_seg: 52,
  write_zeroes_may_unmap: 56,
  max_secure_erase_sectors: 60,
  max_secure_erase_seg: 64,
  secure_erase_sector_alignment: 68,
  zoned: 72,
} as const;

/** §5.2.4: capacity is always there, in 512-byte sectors whatever blk_size says. */
export const decodeBlkConfig: ConfigDecoder = (cfg, ctx) => {
  const f = fieldReader(cfg, ctx);
  const out: ConfigFields = {};
  if (f.fits(0, 8)) {
    const sectors = cfg.read64(BLK_CONFIG.capacity);
    out.capacity_sectors = u64Value(sectors);
    out.capacity_bytes = u64Value(sectors * 512n);
  }
  if (f.has(VIRTIO_BLK_F_SIZE_MAX) && f.fits(8, 4)) out.size_max = f.u32(BLK_CONFIG.size_max);
  if (f.has(VIRTIO_BLK_F_SEG_MAX) && f.fits(12, 4)) out.seg_max = f.u32(BLK_CONFIG.seg_max);
  if (f.has(VIRTIO_BLK_F_GEOMETRY) && f.fits(16, 4)) {
    out.geometry = { cylinders: f.u16(16), heads: f.u8(18), sectors: f.u8(19) };
  }
  if (f.has(VIRTIO_BLK_F_BLK_SIZE) && f.fits(20, 4)) out.blk_size = f.u32(BLK_CONFIG.blk_size);
  if (f.has(VIRTIO_BLK_F_TOPOLOGY) && f.fits(24, 8)) {
    out.topology = {
      physical_block_exp: f.u8(24),
      alignment_offset: f.u8(25),
      min_io_size: f.u16(26),
      opt_io_size: f.u32(28),
    };
  }
  if (f.has(VIRTIO_BLK_F_CONFIG_WCE) && f.fits(32, 1)) out.writeback = f.u8(BLK_CONFIG.writeback);
  if (f.has(VIRTIO_BLK_F_MQ) && f.fits(34, 2)) out.num_queues = f.u16(BLK_CONFIG.num_queues);
  if (f.has(VIRTIO_BLK_F_DISCARD) && f.fits(36, 12)) {
    out.discard = {
      max_sectors: f.u32(36),
      max_seg: f.u32(40),
      sector_alignment: f.u32(44),
    };
  }
  if (f.has(VIRTIO_BLK_F_WRITE_ZEROES) && f.fits(48, 9)) {
    out.write_zeroes = { max_sectors: f.u32(48), max_seg: f.u32(52), may_unmap: f.u8(56) !== 0 };
  }
  if (f.has(VIRTIO_BLK_F_SECURE_ERASE) && f.fits(60, 12)) {
    out.secure_erase = { max_sectors: f.u32(60), max_seg: f.u32(64), sector_alignment: f.u32(68) };
  }
  if (f.has(VIRTIO_BLK_F_ZONED) && f.fits(72, 21)) {
    const model = f.u8(92);
    out.zoned = {
      zone_sectors: f.u32(72),
      max_open_zones: f.u32(76),
      max_active_zones: f.u32(80),
      max_append_sectors: f.u32(84),
      write_granularity: f.u32(88),
      model: model === 0
        ? "none"
        : model === 1
        ? "host-managed"
        : model === 2
        ? "host-aware"
        : model,
    };
  }
  return out;
};
