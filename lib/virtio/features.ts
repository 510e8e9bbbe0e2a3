/**
 * Feature bits by name: the transport bits (§6) and each device type's bits (§5.x.3
 * "Feature bits"). Feature sets are bigints so more than 64 bits work.
 *
 * @module
 */
import { TRANSPORT_FEATURES } from "./constants.ts";

// ---- §5.1.3 Network device ----
/** Device handles packets with a partial checksum (transmit checksum offload). */
export const VIRTIO_NET_F_CSUM = 0n;
/** Driver handles packets with a partial checksum (receive checksum offload). */
export const VIRTIO_NET_F_GUEST_CSUM = 1n;
/** Guest offloads can be reconfigured over the control queue. */
export const VIRTIO_NET_F_CTRL_GUEST_OFFLOADS = 2n;
/** Device reports its maximum MTU in config `mtu`. */
export const VIRTIO_NET_F_MTU = 3n;
/** Device has a MAC address in config `mac`. */
export const VIRTIO_NET_F_MAC = 5n;
/** Legacy: device handles packets with any GSO type. */
export const VIRTIO_NET_F_GSO = 6n;
/** Driver can receive TSOv4. */
export const VIRTIO_NET_F_GUEST_TSO4 = 7n;
/** Driver can receive TSOv6. */
export const VIRTIO_NET_F_GUEST_TSO6 = 8n;
/** Driver can receive TSO with ECN. */
export const VIRTIO_NET_F_GUEST_ECN = 9n;
/** Driver can receive UFO. */
export const VIRTIO_NET_F_GUEST_UFO = 10n;
/** Device can receive TSOv4 (the driver may send it). */
export const VIRTIO_NET_F_HOST_TSO4 = 11n;
/** Device can receive TSOv6 (the driver may send it). */
export const VIRTIO_NET_F_HOST_TSO6 = 12n;
/** Device can receive TSO with ECN. */
export const VIRTIO_NET_F_HOST_ECN = 13n;
/** Device can receive UFO. */
export const VIRTIO_NET_F_HOST_UFO = 14n;
/** Driver can merge receive buffers (`num_buffers` in the header). */
export const VIRTIO_NET_F_MRG_RXBUF = 15n;
/** Config `status` (link up, announce) is available. */
export const VIRTIO_NET_F_STATUS = 16n;
/** A control virtqueue is available. */
export const VIRTIO_NET_F_CTRL_VQ = 17n;
/** Control queue: receive mode (promiscuous, all-multicast) commands. */
export const VIRTIO_NET_F_CTRL_RX = 18n;
/** Control queue: VLAN filtering commands. */
export const VIRTIO_NET_F_CTRL_VLAN = 19n;
/** Control queue: extra receive mode commands. */
export const VIRTIO_NET_F_CTRL_RX_EXTRA = 20n;
/** Driver can send gratuitous packets (announce). */
export const VIRTIO_NET_F_GUEST_ANNOUNCE = 21n;
/** Multiqueue with automatic receive steering; config `max_virtqueue_pairs`. */
export const VIRTIO_NET_F_MQ = 22n;
/** MAC address can be set over the control queue. */
export const VIRTIO_NET_F_CTRL_MAC_ADDR = 23n;
/** Per-virtqueue notification coalescing. */
export const VIRTIO_NET_F_VQ_NOTF_COAL = 52n;
/** Notification coalescing. */
export const VIRTIO_NET_F_NOTF_COAL = 53n;
/** Driver can receive USOv4. */
export const VIRTIO_NET_F_GUEST_USO4 = 54n;
/** Driver can receive USOv6. */
export const VIRTIO_NET_F_GUEST_USO6 = 55n;
/** Device can receive USO. */
export const VIRTIO_NET_F_HOST_USO = 56n;
/** Device can report a per-packet hash value and type. */
export const VIRTIO_NET_F_HASH_REPORT = 57n;
/** Driver can provide the exact `hdr_len`. */
export const VIRTIO_NET_F_GUEST_HDRLEN = 59n;
/** Receive-side scaling. */
export const VIRTIO_NET_F_RSS = 60n;
/** Device reports coalesced segments and duplicated ACKs (RSC). */
export const VIRTIO_NET_F_RSC_EXT = 61n;
/** Device may act as a standby for a primary device with the same MAC. */
export const VIRTIO_NET_F_STANDBY = 62n;
/** Device reports `speed` and `duplex` in config. */
export const VIRTIO_NET_F_SPEED_DUPLEX = 63n;

// ---- §5.2.3 Block device ----
/** Legacy: device supports request barriers. */
export const VIRTIO_BLK_F_BARRIER = 0n;
/** Maximum segment size is in config `size_max`. */
export const VIRTIO_BLK_F_SIZE_MAX = 1n;
/** Maximum segments per request is in config `seg_max`. */
export const VIRTIO_BLK_F_SEG_MAX = 2n;
/** Disk geometry is in config `geometry`. */
export const VIRTIO_BLK_F_GEOMETRY = 4n;
/** Device is read-only. */
export const VIRTIO_BLK_F_RO = 5n;
/** Block size is in config `blk_size`. */
export const VIRTIO_BLK_F_BLK_SIZE = 6n;
/** Legacy: device supports SCSI packet commands. */
export const VIRTIO_BLK_F_SCSI = 7n;
/** Cache flush command support. */
export const VIRTIO_BLK_F_FLUSH = 9n;
/** Optimal I/O alignment is in config `topology`. */
export const VIRTIO_BLK_F_TOPOLOGY = 10n;
/** Device can switch its cache between writeback and writethrough (`writeback`). */
export const VIRTIO_BLK_F_CONFIG_WCE = 11n;
/** Multiqueue; config `num_queues`. */
export const VIRTIO_BLK_F_MQ = 12n;
/** Discard command support. */
export const VIRTIO_BLK_F_DISCARD = 13n;
/** Write zeroes command support. */
export const VIRTIO_BLK_F_WRITE_ZEROES = 14n;
/** Device reports storage lifetime information. */
export const VIRTIO_BLK_F_LIFETIME = 15n;
/** Secure erase command support. */
export const VIRTIO_BLK_F_SECURE_ERASE = 16n;
/** Device is a zoned block device. */
export const VIRTIO_BLK_F_ZONED = 17n;

// ---- other device types, used by the config decoders ----
/** Console: config `cols` and `rows` are valid (§5.3.3). */
export const VIRTIO_CONSOLE_F_SIZE = 0n;
/** Console: multiple ports; config `max_nr_ports` is valid (§5.3.3). */
export const VIRTIO_CONSOLE_F_MULTIPORT = 1n;
/** Console: emergency write via config `emerg_wr` (§5.3.3). */
export const VIRTIO_CONSOLE_F_EMERG_WRITE = 2n;
/** Balloon: the host must be told before balloon pages are used (§5.5.3). */
export const VIRTIO_BALLOON_F_MUST_TELL_HOST = 0n;
/** Balloon: a statistics virtqueue is present (§5.5.3). */
export const VIRTIO_BALLOON_F_STATS_VQ = 1n;
/** Balloon: deflate when the guest runs out of memory (§5.5.3). */
export const VIRTIO_BALLOON_F_DEFLATE_ON_OOM = 2n;
/** Balloon: free page hinting; config `free_page_hint_cmd_id` (§5.5.3). */
export const VIRTIO_BALLOON_F_FREE_PAGE_HINT = 3n;
/** Balloon: config `poison_val` is valid (§5.5.3). */
export const VIRTIO_BALLOON_F_PAGE_POISON = 4n;
/** Balloon: free page reporting (§5.5.3). */
export const VIRTIO_BALLOON_F_PAGE_REPORTING = 5n;
/** 9P transport: the mount tag is in config. */
export const VIRTIO_9P_F_MOUNT_TAG = 0n;
/** File system device: notification queue (§5.11.3). */
export const VIRTIO_FS_F_NOTIFICATION = 0n;
/** IOMMU: config `input_range` is valid (§5.13.3). */
export const VIRTIO_IOMMU_F_INPUT_RANGE = 0n;
/** IOMMU: config `domain_range` is valid (§5.13.3). */
export const VIRTIO_IOMMU_F_DOMAIN_RANGE = 1n;
/** IOMMU: PROBE requests are available (§5.13.3). */
export const VIRTIO_IOMMU_F_PROBE = 4n;
/** IOMMU: config `bypass` is valid (§5.13.3). */
export const VIRTIO_IOMMU_F_BYPASS_CONFIG = 6n;
/** Sound: control elements are supported. */
export const VIRTIO_SND_F_CTLS = 0n;

function table(entries: [number, string][]): ReadonlyMap<number, string> {
  return new Map(entries);
}

/** Device-specific feature names by device type and bit (§5.x.3). */
export const DEVICE_FEATURES: ReadonlyMap<number, ReadonlyMap<number, string>> = new Map([
  [
    1,
    table([
      [0, "CSUM"],
      [1, "GUEST_CSUM"],
      [2, "CTRL_GUEST_OFFLOADS"],
      [3, "MTU"],
      [5, "MAC"],
      [6, "GSO"],
      [7, "GUEST_TSO4"],
      [8, "GUEST_TSO6"],
      [9, "GUEST_ECN"],
      [10, "GUEST_UFO"],
      [11, "HOST_TSO4"],
      [12, "HOST_TSO6"],
      [13, "HOST_ECN"],
      [14, "HOST_UFO"],
      [15, "MRG_RXBUF"],
      [16, "STATUS"],
      [17, "CTRL_VQ"],
      [18, "CTRL_RX"],
      [19, "CTRL_VLAN"],
      [20, "CTRL_RX_EXTRA"],
      [21, "GUEST_ANNOUNCE"],
      [22, "MQ"],
      [23, "CTRL_MAC_ADDR"],
      [52, "VQ_NOTF_COAL"],
      [53, "NOTF_COAL"],
      [54, "GUEST_USO4"],
      [55, "GUEST_USO6"],
      [56, "HOST_USO"],
      [57, "HASH_REPORT"],
      [59, "GUEST_HDRLEN"],
      [60, "RSS"],
      [61, "RSC_EXT"],
      [62, "STANDBY"],
      [63, "SPEED_DUPLEX"],
    ]),
  ],
  [
    2,
    table([
      [0, "BARRIER"],
      [1, "SIZE_MAX"],
      [2, "SEG_MAX"],
      [4, "GEOMETRY"],
      [5, "RO"],
      [6, "BLK_SIZE"],
      [7, "SCSI"],
      [9, "FLUSH"],
      [10, "TOPOLOGY"],
      [11, "CONFIG_WCE"],
      [12, "MQ"],
      [13, "DISCARD"],
      [14, "WRITE_ZEROES"],
      [15, "LIFETIME"],
      [16, "SECURE_ERASE"],
      [17, "ZONED"],
    ]),
  ],
  [3, table([[0, "SIZE"], [1, "MULTIPORT"], [2, "EMERG_WRITE"]])],
  [
    5,
    table([
      [0, "MUST_TELL_HOST"],
      [1, "STATS_VQ"],
      [2, "DEFLATE_ON_OOM"],
      [3, "FREE_PAGE_HINT"],
      [4, "PAGE_POISON"],
      [5, "PAGE_REPORTING"],
    ]),
  ],
  [8, table([[0, "INOUT"], [1, "HOTPLUG"], [2, "CHANGE"], [3, "T10_PI"]])],
  [9, table([[0, "MOUNT_TAG"]])],
  [
    16,
    table([
      [0, "VIRGL"],
      [1, "EDID"],
      [2, "RESOURCE_UUID"],
      [3, "RESOURCE_BLOB"],
      [4, "CONTEXT_INIT"],
    ]),
  ],
  [19, table([[0, "STREAM"], [1, "SEQPACKET"]])],
  [
    20,
    table([
      [0, "REVISION_1"],
      [1, "CIPHER_STATELESS_MODE"],
      [2, "HASH_STATELESS_MODE"],
      [3, "MAC_STATELESS_MODE"],
      [4, "AEAD_STATELESS_MODE"],
    ]),
  ],
  [
    23,
    table([
      [0, "INPUT_RANGE"],
      [1, "DOMAIN_RANGE"],
      [2, "MAP_UNMAP"],
      [3, "BYPASS"],
      [4, "PROBE"],
      [5, "MMIO"],
      [6, "BYPASS_CONFIG"],
    ]),
  ],
  [24, table([[0, "ACPI_PXM"], [1, "UNPLUGGED_INACCESSIBLE"]])],
  [25, table([[0, "CTLS"]])],
  [26, table([[0, "NOTIFICATION"]])],
  [27, table([[0, "SHMEM_REGION"]])],
]);

/** One named (or unknown) feature bit. */
export interface NamedFeature {
  /** The bit number. */
  readonly bit: number;
  /** `VIRTIO_F_*` style name without prefix, or undefined when the bit has no known name. */
  readonly name?: string;
  /** Whether the bit is a transport bit (§6, bits 24–41) or a device-type bit (§5.x.3). */
  readonly scope: "transport" | "device";
}

/** True when bit `bit` is set in `features`. */
export function hasFeature(features: bigint, bit: bigint): boolean {
  return ((features >> bit) & 1n) === 1n;
}

/** The numbers of all set bits, lowest first. */
export function featureBits(features: bigint): number[] {
  const bits: number[] = [];
  let rest = features;
  for (let bit = 0; rest > 0n; bit++, rest >>= 1n) if (rest & 1n) bits.push(bit);
  return bits;
}

/** Every set bit of `features` with its name for device `type` (§6 then §5.x.3). */
export function nameFeatures(type: number, features: bigint): NamedFeature[] {
  const device = DEVICE_FEATURES.get(type);
  return featureBits(features).map((bit) => {
    const transport = TRANSPORT_FEATURES.get(bit);
    if (bit >= 24 && bit <= 41) {
      return transport === undefined ? { bit, scope: "transport" } : {
        bit,
        name: transport,
        scope: "transport",
      };
    }
    const name = device?.get(bit);
    return name === undefined ? { bit, scope: "device" } : { bit, name, scope: "device" };
  });
}

// parseSysfsFeatureString reads a sysfs attribute, so it lives with the sysfs reader.
export { parseSysfsFeatureString } from "../pci/sysfs.ts";

/** `0x` + 16 hex digits at least; longer when more than 64 bits are set. */
export function featuresHex(features: bigint): string {
  return "0x" + features.toString(16).padStart(16, "0");
}
