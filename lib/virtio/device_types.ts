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

export const VIRTIO_ID_NET = 1;
export const VIRTIO_ID_BLOCK = 2;
export const VIRTIO_ID_CONSOLE = 3;
export const VIRTIO_ID_RNG = 4;
export const VIRTIO_ID_BALLOON_LEGACY = 5;
export const VIRTIO_ID_IOMEM = 6;
export const VIRTIO_ID_RPMSG = 7;
export const VIRTIO_ID_SCSI = 8;
export const VIRTIO_ID_9P = 9;
export const VIRTIO_ID_MAC80211_WLAN = 10;
export const VIRTIO_ID_RPROC_SERIAL = 11;
export const VIRTIO_ID_CAIF = 12;
export const VIRTIO_ID_MEMORY_BALLOON = 13;
export const VIRTIO_ID_GPU = 16;
export const VIRTIO_ID_CLOCK = 17;
export const VIRTIO_ID_INPUT = 18;
export const VIRTIO_ID_VSOCK = 19;
export const VIRTIO_ID_CRYPTO = 20;
export const VIRTIO_ID_SIGNAL_DIST = 21;
export const VIRTIO_ID_PSTORE = 22;
export const VIRTIO_ID_IOMMU = 23;
export const VIRTIO_ID_MEM = 24;
export const VIRTIO_ID_SOUND = 25;
export const VIRTIO_ID_FS = 26;
export const VIRTIO_ID_PMEM = 27;
export const VIRTIO_ID_RPMB = 28;
export const VIRTIO_ID_MAC80211_HWSIM = 29;
export const VIRTIO_ID_VIDEO_ENCODER = 30;
export const VIRTIO_ID_VIDEO_DECODER = 31;
export const VIRTIO_ID_SCMI = 32;
export const VIRTIO_ID_NITRO_SEC_MOD = 33;
export const VIRTIO_ID_I2C_ADAPTER = 34;
export const VIRTIO_ID_WATCHDOG = 35;
export const VIRTIO_ID_CAN = 36;
export const VIRTIO_ID_PARAM_SERV = 38;
export const VIRTIO_ID_AUDIO_POLICY = 39;
export const VIRTIO_ID_BT = 40;
export const VIRTIO_ID_GPIO = 41;
export const VIRTIO_ID_RDMA = 42;
export const VIRTIO_ID_CAMERA = 43;
export const VIRTIO_ID_ISM = 44;
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
