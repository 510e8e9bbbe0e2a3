/**
 * Decoders for the device types with small configurations: console (§5.3.4), scsi
 * (§5.6.4), 9p (virtio-9p, "9P transport"), balloon (§5.5.4), gpu (§5.7.4), rng (§5.4.4:
 * none), vsock (§5.10.4), fs (§5.11.4), iommu (§5.13.4), mem (§5.15.4), pmem (§5.19.4),
 * crypto (§5.9.4), sound (§5.14.4).
 *
 * @module
 */
import {
  VIRTIO_9P_F_MOUNT_TAG,
  VIRTIO_BALLOON_F_FREE_PAGE_HINT,
  VIRTIO_BALLOON_F_PAGE_POISON,
  VIRTIO_CONSOLE_F_EMERG_WRITE,
  VIRTIO_CONSOLE_F_MULTIPORT,
  VIRTIO_CONSOLE_F_SIZE,
  VIRTIO_FS_F_NOTIFICATION,
  VIRTIO_IOMMU_F_BYPASS_CONFIG,
  VIRTIO_IOMMU_F_DOMAIN_RANGE,
  VIRTIO_IOMMU_F_INPUT_RANGE,
  VIRTIO_IOMMU_F_PROBE,
  VIRTIO_SND_F_CTLS,
} from "../features.ts";
import { type ConfigDecoder, type ConfigFields, fieldReader } from "./decoder.ts";

export const decodeConsoleConfig: ConfigDecoder = (cfg, ctx) => {
  const f = fieldReader(cfg, ctx);
  const out: ConfigFields = {};
  if (f.has(VIRTIO_CONSOLE_F_SIZE) && f.fits(0, 4)) {
    out.cols = f.u16(0);
    out.rows = f.u16(2);
  }
  if (f.has(VIRTIO_CONSOLE_F_MULTIPORT) && f.fits(4, 4)) out.max_nr_ports = f.u32(4);
  // emerg_wr (offset 8) is write-only: nothing to read even with EMERG_WRITE.
  if (f.has(VIRTIO_CONSOLE_F_EMERG_WRITE)) out.emerg_write = true;
  return out;
};

export const decodeScsiConfig: ConfigDecoder = (cfg, ctx) => {
  const f = fieldReader(cfg, ctx);
  if (!f.fits(0, 36)) return empty();
  return {
    num_queues: f.u32(0),
    seg_max: f.u32(4),
    max_sectors: f.u32(8),
    cmd_per_lun: f.u32(12),
    event_info_size: f.u32(16),
    sense_size: f.u32(20),
    cdb_size: f.u32(24),
    max_channel: f.u16(28),
    max_target: f.u16(30),
    max_lun: f.u32(32),
  };
};

/** virtio-9p: `le16 tag_len; u8 tag[tag_len]` with MOUNT_TAG. */
export const decode9pConfig: ConfigDecoder = (cfg, ctx) => {
  const f = fieldReader(cfg, ctx);
  if (!f.has(VIRTIO_9P_F_MOUNT_TAG) || !f.fits(0, 2)) return empty();
  const tagLen = f.u16(0);
  return { tag_len: tagLen, tag: f.text(2, Math.min(tagLen, ctx.length - 2)) };
};

export const decodeBalloonConfig: ConfigDecoder = (cfg, ctx) => {
  const f = fieldReader(cfg, ctx);
  const out: ConfigFields = {};
  if (f.fits(0, 8)) {
    out.num_pages = f.u32(0);
    out.actual = f.u32(4);
  }
  if (f.has(VIRTIO_BALLOON_F_FREE_PAGE_HINT) && f.fits(8, 4)) out.free_page_hint_cmd_id = f.u32(8);
  if (f.has(VIRTIO_BALLOON_F_PAGE_POISON) && f.fits(12, 4)) out.poison_val = f.u32(12);
  return out;
};

export const decodeGpuConfig: ConfigDecoder = (cfg, ctx) => {
  const f = fieldReader(cfg, ctx);
  if (!f.fits(0, 16)) return empty();
  // events_clear (4) is write-to-clear; reading it is harmless but meaningless: skipped.
  return { events_read: f.u32(0), num_scanouts: f.u32(8), num_capsets: f.u32(12) };
};

export const decodeRngConfig: ConfigDecoder = () => empty();

export const decodeVsockConfig: ConfigDecoder = (cfg, ctx) => {
  const f = fieldReader(cfg, ctx);
  return f.fits(0, 8) ? { guest_cid: f.u64(0) } : empty();
};

export const decodeFsConfig: ConfigDecoder = (cfg, ctx) => {
  const f = fieldReader(cfg, ctx);
  const out: ConfigFields = {};
  if (f.fits(0, 40)) {
    out.tag = f.text(0, 36);
    out.num_request_queues = f.u32(36);
  }
  if (f.has(VIRTIO_FS_F_NOTIFICATION) && f.fits(40, 4)) out.notify_buf_size = f.u32(40);
  return out;
};

export const decodeIommuConfig: ConfigDecoder = (cfg, ctx) => {
  const f = fieldReader(cfg, ctx);
  const out: ConfigFields = {};
  if (f.fits(0, 8)) out.page_size_mask = "0x" + cfg.read64(0).toString(16);
  if (f.has(VIRTIO_IOMMU_F_INPUT_RANGE) && f.fits(8, 16)) {
    out.input_range = {
      start: "0x" + cfg.read64(8).toString(16),
      end: "0x" + cfg.read64(16).toString(16),
    };
  }
  if (f.has(VIRTIO_IOMMU_F_DOMAIN_RANGE) && f.fits(24, 8)) {
    out.domain_range = { start: f.u32(24), end: f.u32(28) };
  }
  if (f.has(VIRTIO_IOMMU_F_PROBE) && f.fits(32, 4)) out.probe_size = f.u32(32);
  if (f.has(VIRTIO_IOMMU_F_BYPASS_CONFIG) && f.fits(36, 1)) out.bypass = f.u8(36) !== 0;
  return out;
};

export const decodeMemConfig: ConfigDecoder = (cfg, ctx) => {
  const f = fieldReader(cfg, ctx);
  if (!f.fits(0, 56)) return empty();
  return {
    block_size: f.u64(0),
    node_id: f.u16(8),
    addr: "0x" + cfg.read64(16).toString(16),
    region_size: f.u64(24),
    usable_region_size: f.u64(32),
    plugged_size: f.u64(40),
    requested_size: f.u64(48),
  };
};

export const decodePmemConfig: ConfigDecoder = (cfg, ctx) => {
  const f = fieldReader(cfg, ctx);
  return f.fits(0, 16) ? { start: "0x" + cfg.read64(0).toString(16), size: f.u64(8) } : empty();
};

export const decodeCryptoConfig: ConfigDecoder = (cfg, ctx) => {
  const f = fieldReader(cfg, ctx);
  if (!f.fits(0, 44)) return empty();
  const out: ConfigFields = {
    status: f.u32(0),
    max_dataqueues: f.u32(4),
    crypto_services: f.u32(8),
    cipher_algo_l: f.u32(12),
    cipher_algo_h: f.u32(16),
    hash_algo: f.u32(20),
    mac_algo_l: f.u32(24),
    mac_algo_h: f.u32(28),
    aead_algo: f.u32(32),
    max_cipher_key_len: f.u32(36),
    max_auth_key_len: f.u32(40),
  };
  if (f.fits(44, 12)) {
    out.akcipher_algo = f.u32(44);
    out.max_size = f.u64(48);
  }
  return out;
};

export const decodeSoundConfig: ConfigDecoder = (cfg, ctx) => {
  const f = fieldReader(cfg, ctx);
  const out: ConfigFields = {};
  if (f.fits(0, 12)) {
    out.jacks = f.u32(0);
    out.streams = f.u32(4);
    out.chmaps = f.u32(8);
  }
  if (f.has(VIRTIO_SND_F_CTLS) && f.fits(12, 4)) out.controls = f.u32(12);
  return out;
};

function empty(): ConfigFields {
  return {};
}
