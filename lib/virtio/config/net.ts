/** virtio-net device configuration (VIRTIO 1.2 §5.1.4). @module */
import {
  VIRTIO_NET_F_HASH_REPORT,
  VIRTIO_NET_F_MAC,
  VIRTIO_NET_F_MQ,
  VIRTIO_NET_F_MTU,
  VIRTIO_NET_F_RSS,
  VIRTIO_NET_F_SPEED_DUPLEX,
  VIRTIO_NET_F_STATUS,
} from "../features.ts";
import { type ConfigDecoder, type ConfigFields, fieldReader } from "./decoder.ts";

export const NET_CONFIG = {
  mac: 0,
  status: 6,
  max_virtqueue_pairs: 8,
  mtu: 10,
  speed: 12,
  duplex: 16,
  rss_max_key_size: 17,
  rss_max_indirection_table_length: 18,
  supported_hash_types: 20,
} as const;

export const VIRTIO_NET_S_LINK_UP = 1;
export const VIRTIO_NET_S_ANNOUNCE = 2;

/** §5.1.4: each field exists only with its feature; speed/duplex with SPEED_DUPLEX. */
export const decodeNetConfig: ConfigDecoder = (cfg, ctx) => {
  const f = fieldReader(cfg, ctx);
  const out: ConfigFields = {};
  if (f.has(VIRTIO_NET_F_MAC) && f.fits(0, 6)) {
    const bytes = [0, 1, 2, 3, 4, 5].map((i) => f.u8(i).toString(16).padStart(2, "0"));
    out.mac = bytes.join(":");
  }
  if (f.has(VIRTIO_NET_F_STATUS) && f.fits(6, 2)) {
    const status = f.u16(NET_CONFIG.status);
    out.status = status;
    out.link_up = (status & VIRTIO_NET_S_LINK_UP) !== 0;
    out.announce = (status & VIRTIO_NET_S_ANNOUNCE) !== 0;
  }
  if ((f.has(VIRTIO_NET_F_MQ) || f.has(VIRTIO_NET_F_RSS)) && f.fits(8, 2)) {
    out.max_virtqueue_pairs = f.u16(NET_CONFIG.max_virtqueue_pairs);
  }
  if (f.has(VIRTIO_NET_F_MTU) && f.fits(10, 2)) out.mtu = f.u16(NET_CONFIG.mtu);
  if (f.has(VIRTIO_NET_F_SPEED_DUPLEX) && f.fits(12, 5)) {
    const speed = f.u32(NET_CONFIG.speed);
    const duplex = f.u8(NET_CONFIG.duplex);
    // §5.1.4: 0xffffffff = unknown speed; duplex 0x00 half, 0x01 full, 0xff unknown.
    out.speed_mbps = speed === 0xffffffff ? "unknown" : speed;
    out.duplex = duplex === 1 ? "full" : duplex === 0 ? "half" : "unknown";
  }
  if ((f.has(VIRTIO_NET_F_RSS) || f.has(VIRTIO_NET_F_HASH_REPORT)) && f.fits(17, 7)) {
    out.rss_max_key_size = f.u8(NET_CONFIG.rss_max_key_size);
    out.rss_max_indirection_table_length = f.u16(NET_CONFIG.rss_max_indirection_table_length);
    out.supported_hash_types = f.u32(NET_CONFIG.supported_hash_types);
  }
  return out;
};
