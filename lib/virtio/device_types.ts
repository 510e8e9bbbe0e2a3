/**
 * Virtio device types (VIRTIO 1.2 §5 "Device Types", table in §5) and how a PCI function's
 * ids map to one (§4.1.2 "PCI Device Discovery").
 *
 * @module
 */
import {
  VIRTIO_PCI_MODERN_DEVICE_ID_BASE,
  VIRTIO_PCI_MODERN_LAST,
  VIRTIO_PCI_TRANSITIONAL_FIRST,
  VIRTIO_PCI_TRANSITIONAL_LAST,
  VIRTIO_PCI_VENDOR_ID,
} from "./constants.ts";

/** Virtio device type 1: network card (§5). */
export const VIRTIO_ID_NET = 1;
/** Virtio device type 2: block device (§5). */
export const VIRTIO_ID_BLOCK = 2;
/** Virtio device type 3: console (§5). */
export const VIRTIO_ID_CONSOLE = 3;
/** Virtio device type 4: entropy source (§5). */
export const VIRTIO_ID_RNG = 4;
/** Virtio device type 5: memory ballooning (traditional) (§5). */
export const VIRTIO_ID_BALLOON_LEGACY = 5;
/** Virtio device type 6: ioMemory (§5). */
export const VIRTIO_ID_IOMEM = 6;
/** Virtio device type 7: rpmsg (§5). */
export const VIRTIO_ID_RPMSG = 7;
/** Virtio device type 8: SCSI host (§5). */
export const VIRTIO_ID_SCSI = 8;
/** Virtio device type 9: 9P transport (§5). */
export const VIRTIO_ID_9P = 9;
/** Virtio device type 10: mac80211 wlan (§5). */
export const VIRTIO_ID_MAC80211_WLAN = 10;
/** Virtio device type 11: rproc serial (§5). */
export const VIRTIO_ID_RPROC_SERIAL = 11;
/** Virtio device type 12: virtio CAIF (§5). */
export const VIRTIO_ID_CAIF = 12;
/** Virtio device type 13: memory balloon (§5). */
export const VIRTIO_ID_MEMORY_BALLOON = 13;
/** Virtio device type 16: GPU device (§5). */
export const VIRTIO_ID_GPU = 16;
/** Virtio device type 17: Timer/Clock device (§5). */
export const VIRTIO_ID_CLOCK = 17;
/** Virtio device type 18: Input device (§5). */
export const VIRTIO_ID_INPUT = 18;
/** Virtio device type 19: Socket device (§5). */
export const VIRTIO_ID_VSOCK = 19;
/** Virtio device type 20: Crypto device (§5). */
export const VIRTIO_ID_CRYPTO = 20;
/** Virtio device type 21: Signal Distribution Module (§5). */
export const VIRTIO_ID_SIGNAL_DIST = 21;
/** Virtio device type 22: pstore device (§5). */
export const VIRTIO_ID_PSTORE = 22;
/** Virtio device type 23: IOMMU device (§5). */
export const VIRTIO_ID_IOMMU = 23;
/** Virtio device type 24: Memory device (§5). */
export const VIRTIO_ID_MEM = 24;
/** Virtio device type 25: Audio device (§5). */
export const VIRTIO_ID_SOUND = 25;
/** Virtio device type 26: file system device (§5). */
export const VIRTIO_ID_FS = 26;
/** Virtio device type 27: PMEM device (§5). */
export const VIRTIO_ID_PMEM = 27;
/** Virtio device type 28: RPMB device (§5). */
export const VIRTIO_ID_RPMB = 28;
/** Virtio device type 29: mac80211 hwsim wireless simulation device (§5). */
export const VIRTIO_ID_MAC80211_HWSIM = 29;
/** Virtio device type 30: Video encoder device (§5). */
export const VIRTIO_ID_VIDEO_ENCODER = 30;
/** Virtio device type 31: Video decoder device (§5). */
export const VIRTIO_ID_VIDEO_DECODER = 31;
/** Virtio device type 32: SCMI device (§5). */
export const VIRTIO_ID_SCMI = 32;
/** Virtio device type 33: NitroSecureModule (§5). */
export const VIRTIO_ID_NITRO_SEC_MOD = 33;
/** Virtio device type 34: I2C adapter (§5). */
export const VIRTIO_ID_I2C_ADAPTER = 34;
/** Virtio device type 35: Watchdog (§5). */
export const VIRTIO_ID_WATCHDOG = 35;
/** Virtio device type 36: CAN device (§5). */
export const VIRTIO_ID_CAN = 36;
/** Virtio device type 38: Parameter Server (§5). */
export const VIRTIO_ID_PARAM_SERV = 38;
/** Virtio device type 39: Audio policy device (§5). */
export const VIRTIO_ID_AUDIO_POLICY = 39;
/** Virtio device type 40: Bluetooth device (§5). */
export const VIRTIO_ID_BT = 40;
/** Virtio device type 41: GPIO device (§5). */
export const VIRTIO_ID_GPIO = 41;
/** Virtio device type 42: RDMA device (§5). */
export const VIRTIO_ID_RDMA = 42;
/** Virtio device type 43: Camera device (§5). */
export const VIRTIO_ID_CAMERA = 43;
/** Virtio device type 44: ISM device (§5). */
export const VIRTIO_ID_ISM = 44;
/** Virtio device type 45: SPI master (§5). */
export const VIRTIO_ID_SPI = 45;

/** Short machine names (used in `--type` and JSON) and the spec's description, §5. */
export const DEVICE_TYPES: ReadonlyMap<number, { name: string; description: string }> = new Map([
  [1, { name: "net", description: "network card" }],
  [2, { name: "blk", description: "block device" }],
  [3, { name: "console", description: "console" }],
  [4, { name: "rng", description: "entropy source" }],
  [5, { name: "balloon", description: "memory ballooning (traditional)" }],
  [6, { name: "iomem", description: "ioMemory" }],
  [7, { name: "rpmsg", description: "rpmsg" }],
  [8, { name: "scsi", description: "SCSI host" }],
  [9, { name: "9p", description: "9P transport" }],
  [10, { name: "wlan", description: "mac80211 wlan" }],
  [11, { name: "rproc-serial", description: "rproc serial" }],
  [12, { name: "caif", description: "virtio CAIF" }],
  [13, { name: "memory-balloon", description: "memory balloon" }],
  [16, { name: "gpu", description: "GPU device" }],
  [17, { name: "clock", description: "Timer/Clock device" }],
  [18, { name: "input", description: "Input device" }],
  [19, { name: "vsock", description: "Socket device" }],
  [20, { name: "crypto", description: "Crypto device" }],
  [21, { name: "signal-dist", description: "Signal Distribution Module" }],
  [22, { name: "pstore", description: "pstore device" }],
  [23, { name: "iommu", description: "IOMMU device" }],
  [24, { name: "mem", description: "Memory device" }],
  [25, { name: "sound", description: "Audio device" }],
  [26, { name: "fs", description: "file system device" }],
  [27, { name: "pmem", description: "PMEM device" }],
  [28, { name: "rpmb", description: "RPMB device" }],
  [29, { name: "hwsim", description: "mac80211 hwsim wireless simulation device" }],
  [30, { name: "video-encoder", description: "Video encoder device" }],
  [31, { name: "video-decoder", description: "Video decoder device" }],
  [32, { name: "scmi", description: "SCMI device" }],
  [33, { name: "nsm", description: "NitroSecureModule" }],
  [34, { name: "i2c", description: "I2C adapter" }],
  [35, { name: "watchdog", description: "Watchdog" }],
  [36, { name: "can", description: "CAN device" }],
  [38, { name: "param-server", description: "Parameter Server" }],
  [39, { name: "audio-policy", description: "Audio policy device" }],
  [40, { name: "bt", description: "Bluetooth device" }],
  [41, { name: "gpio", description: "GPIO device" }],
  [42, { name: "rdma", description: "RDMA device" }],
  [43, { name: "camera", description: "Camera device" }],
  [44, { name: "ism", description: "ISM device" }],
  [45, { name: "spi", description: "SPI master" }],
]);

/** Short name of a device type; unknown types are shown as `type-<n>`. */
export function deviceTypeName(type: number): string {
  return DEVICE_TYPES.get(type)?.name ?? `type-${type}`;
}

/** The device type for a `--type` word (name or number); undefined if unknown. */
export function deviceTypeFromName(word: string): number | undefined {
  if (/^\d+$/.test(word)) return Number(word);
  const aliases: Record<string, string> = { block: "blk", network: "net", serial: "console" };
  const name = aliases[word] ?? word;
  for (const [type, info] of DEVICE_TYPES) if (info.name === name) return type;
  return undefined;
}

/** Legacy (transitional) PCI device id → virtio type, §4.1.2.3 table. */
const TRANSITIONAL_TYPES: ReadonlyMap<number, number> = new Map([
  [0x1000, 1],
  [0x1001, 2],
  [0x1002, 5],
  [0x1003, 3],
  [0x1004, 8],
  [0x1005, 4],
  [0x1009, 9],
]);

/** How a virtio PCI function presents itself: modern only (§4.1.2), transitional (modern plus legacy interface), or legacy only (§4.1.4.8). */
export type PciTransportKind = "modern" | "transitional" | "legacy";

/** What a PCI function's ids say about it as a virtio device. */
export interface VirtioPciIdentity {
  /** Virtio device type (§5). */
  readonly type: number;
  /**
   * modern: 0x1040+ (no legacy interface). transitional: 0x1000..0x103f with a modern
   * capability list. legacy: 0x1000..0x103f without one (decided later, by caps).
   */
  readonly idKind: "modern" | "transitional";
}

/**
 * §4.1.2: vendor 0x1af4; device 0x1040 + type is modern; 0x1000..0x103f is transitional
 * and its subsystem device id carries the type (with the table above as fallback when the
 * subsystem id is 0). Returns undefined for a non-virtio function.
 */
export function virtioIdentityFromPci(
  vendor: number,
  device: number,
  subsystemDevice: number,
): VirtioPciIdentity | undefined {
  if (vendor !== VIRTIO_PCI_VENDOR_ID) return undefined;
  if (device >= VIRTIO_PCI_MODERN_DEVICE_ID_BASE && device <= VIRTIO_PCI_MODERN_LAST) {
    return { type: device - VIRTIO_PCI_MODERN_DEVICE_ID_BASE, idKind: "modern" };
  }
  if (device >= VIRTIO_PCI_TRANSITIONAL_FIRST && device <= VIRTIO_PCI_TRANSITIONAL_LAST) {
    const type = subsystemDevice !== 0 ? subsystemDevice : TRANSITIONAL_TYPES.get(device);
    if (type === undefined) return undefined;
    return { type, idKind: "transitional" };
  }
  return undefined;
}
