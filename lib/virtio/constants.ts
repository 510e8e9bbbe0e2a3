/**
 * VIRTIO 1.2 constants shared by every layer: device status bits (§2.1), transport feature
 * bits (§6), the modern common-configuration layout (§4.1.4.3), the legacy I/O BAR layout
 * (§4.1.4.8), PCI ids (§4.1.2) and the virtio PCI capability types (§4.1.4).
 * `tests/unit/virtio_constants_test.ts` pins every value.
 *
 * @module
 */

// ---- §2.1 Device Status Field ----
/** §2.1: the guest OS has found the device and recognised it as a virtio device. */
export const STATUS_ACKNOWLEDGE = 1;
/** §2.1: the guest OS knows how to drive the device. */
export const STATUS_DRIVER = 2;
/** §2.1: the driver is set up and ready to drive the device. */
export const STATUS_DRIVER_OK = 4;
/** §2.1: the driver has acknowledged the features it understands; negotiation is complete. */
export const STATUS_FEATURES_OK = 8;
/** §2.1: the device hit an error it cannot recover from and needs a reset. */
export const STATUS_DEVICE_NEEDS_RESET = 64;
/** §2.1: something went wrong in the guest; the driver has given up on the device. */
export const STATUS_FAILED = 128;

/** Status bits by name, lowest first, for rendering. */
export const STATUS_BITS: readonly (readonly [number, string])[] = [
  [STATUS_ACKNOWLEDGE, "ACKNOWLEDGE"],
  [STATUS_DRIVER, "DRIVER"],
  [STATUS_DRIVER_OK, "DRIVER_OK"],
  [STATUS_FEATURES_OK, "FEATURES_OK"],
  [STATUS_DEVICE_NEEDS_RESET, "DEVICE_NEEDS_RESET"],
  [STATUS_FAILED, "FAILED"],
];

/** Names of the bits set in a device status byte. */
export function statusNames(status: number): string[] {
  return STATUS_BITS.filter(([bit]) => (status & bit) !== 0).map(([, name]) => name);
}

// ---- §6 Reserved Feature Bits (transport bits 24..41) ----
/** Legacy only: notify when the available ring runs empty (§6.3). */
export const VIRTIO_F_NOTIFY_ON_EMPTY = 24n;
/** Legacy only: any descriptor layout (§6.3). */
export const VIRTIO_F_ANY_LAYOUT = 27n;
/** §6: the driver may use indirect descriptors. */
export const VIRTIO_F_INDIRECT_DESC = 28n;
/** §6: used_event / avail_event fields enable event-index notification suppression. */
export const VIRTIO_F_EVENT_IDX = 29n;
/** Legacy only: set by a device to detect buggy drivers (§6.3, "UNUSED"/BAD_FEATURE). */
export const VIRTIO_F_BAD_FEATURE = 30n;
/** §6: compliance with VIRTIO 1.x; cleared means a legacy device. */
export const VIRTIO_F_VERSION_1 = 32n;
/** §6: the device reaches memory through platform translation (e.g. an IOMMU). */
export const VIRTIO_F_ACCESS_PLATFORM = 33n;
/** §6: packed virtqueue layout support (§2.8). */
export const VIRTIO_F_RING_PACKED = 34n;
/** §6: the device uses buffers in the order they were made available. */
export const VIRTIO_F_IN_ORDER = 35n;
/** §6: memory accesses need platform ordering (real hardware, not software barriers). */
export const VIRTIO_F_ORDER_PLATFORM = 36n;
/** §6: the device supports single root I/O virtualization. */
export const VIRTIO_F_SR_IOV = 37n;
/** §6: the driver passes extra data (avail index/wrap) in its notifications. */
export const VIRTIO_F_NOTIFICATION_DATA = 38n;
/** §6: the driver gets per-queue notification data from `queue_notify_data`. */
export const VIRTIO_F_NOTIF_CONFIG_DATA = 39n;
/** §6: individual virtqueues can be reset (`queue_reset`). */
export const VIRTIO_F_RING_RESET = 40n;
/** VIRTIO 1.3 §6: administration virtqueue. */
export const VIRTIO_F_ADMIN_VQ = 41n;

/** Transport feature names by bit number. */
export const TRANSPORT_FEATURES: ReadonlyMap<number, string> = new Map([
  [24, "NOTIFY_ON_EMPTY"],
  [27, "ANY_LAYOUT"],
  [28, "INDIRECT_DESC"],
  [29, "EVENT_IDX"],
  [30, "BAD_FEATURE"],
  [32, "VERSION_1"],
  [33, "ACCESS_PLATFORM"],
  [34, "RING_PACKED"],
  [35, "IN_ORDER"],
  [36, "ORDER_PLATFORM"],
  [37, "SR_IOV"],
  [38, "NOTIFICATION_DATA"],
  [39, "NOTIF_CONFIG_DATA"],
  [40, "RING_RESET"],
  [41, "ADMIN_VQ"],
]);

/** Bits 24..41 belong to the transport; device types own 0..23 and 50..127 (§2.2). */
export function isTransportFeatureBit(bit: number): boolean {
  return bit >= 24 && bit <= 41;
}

// ---- §4.1.2 PCI Device Discovery ----
/** §4.1.2: PCI vendor id of every virtio device. */
export const VIRTIO_PCI_VENDOR_ID = 0x1af4;
/** Modern device id = 0x1040 + virtio device type. */
export const VIRTIO_PCI_MODERN_DEVICE_ID_BASE = 0x1040;
/** Transitional devices use 0x1000..0x103f; the subsystem device id is the type. */
export const VIRTIO_PCI_TRANSITIONAL_FIRST = 0x1000;
/** Last transitional device id. */
export const VIRTIO_PCI_TRANSITIONAL_LAST = 0x103f;
/** Last modern device id (0x1040 + 63). */
export const VIRTIO_PCI_MODERN_LAST = 0x107f;

// ---- §4.1.4 Virtio Structure PCI Capabilities (cfg_type) ----
/** §4.1.4: common configuration (`struct virtio_pci_common_cfg`). */
export const VIRTIO_PCI_CAP_COMMON_CFG = 1;
/** §4.1.4: notifications. */
export const VIRTIO_PCI_CAP_NOTIFY_CFG = 2;
/** §4.1.4: ISR status. */
export const VIRTIO_PCI_CAP_ISR_CFG = 3;
/** §4.1.4: device-specific configuration. */
export const VIRTIO_PCI_CAP_DEVICE_CFG = 4;
/** §4.1.4: PCI configuration access window. */
export const VIRTIO_PCI_CAP_PCI_CFG = 5;
/** §4.1.4: shared memory region. */
export const VIRTIO_PCI_CAP_SHARED_MEMORY_CFG = 8;
/** §4.1.4: vendor-specific data. */
export const VIRTIO_PCI_CAP_VENDOR_CFG = 9;

/** Field offsets inside a `struct virtio_pci_cap` (§4.1.4), from the capability start. */
export const VIRTIO_PCI_CAP = {
  cap_vndr: 0,
  cap_next: 1,
  cap_len: 2,
  cfg_type: 3,
  bar: 4,
  id: 5,
  offset: 8,
  length: 12,
  /** notify_cfg only (§4.1.4.4). */
  notify_off_multiplier: 16,
  /** shared-memory cap only (§4.1.4.7, virtio_pci_cap64). */
  offset_hi: 16,
  length_hi: 20,
} as const;

// ---- §4.1.4.3 Common configuration structure layout ----
/** Byte offsets of the common configuration fields (`struct virtio_pci_common_cfg`, §4.1.4.3). */
export const COMMON_CFG = {
  device_feature_select: 0x00, // le32 RW
  device_feature: 0x04, // le32 RO
  driver_feature_select: 0x08, // le32 RW
  driver_feature: 0x0c, // le32 RW
  config_msix_vector: 0x10, // le16 RW
  num_queues: 0x12, // le16 RO
  device_status: 0x14, // u8 RW
  config_generation: 0x15, // u8 RO
  queue_select: 0x16, // le16 RW
  queue_size: 0x18, // le16 RW
  queue_msix_vector: 0x1a, // le16 RW
  queue_enable: 0x1c, // le16 RW
  queue_notify_off: 0x1e, // le16 RO
  queue_desc: 0x20, // le64 RW
  queue_driver: 0x28, // le64 RW
  queue_device: 0x30, // le64 RW
  queue_notify_data: 0x38, // le16 RO (NOTIF_CONFIG_DATA)
  queue_reset: 0x3a, // le16 RW (RING_RESET)
} as const;
/** Minimum length of the common configuration structure without 1.2 additions. */
export const COMMON_CFG_MIN_LENGTH = 0x38;

// ---- §4.1.4.8 Legacy Interfaces: A Note on PCI Device Layout (I/O BAR 0) ----
/** Byte offsets of the legacy I/O BAR registers (§4.1.4.8), before the device config. */
export const LEGACY = {
  host_features: 0x00, // le32 RO (bits 0..31 only)
  guest_features: 0x04, // le32 RW
  queue_address: 0x08, // le32 RW (PFN, 4096-byte pages)
  queue_size: 0x0c, // le16 RO
  queue_select: 0x0e, // le16 RW
  queue_notify: 0x10, // le16 RW
  device_status: 0x12, // u8 RW
  isr_status: 0x13, // u8 RO, read clears
  /** MSI-X only: config vector (le16). */
  config_msix_vector: 0x14,
  /** MSI-X only: queue vector (le16). */
  queue_msix_vector: 0x16,
  /** Device-specific config starts here without MSI-X enabled... */
  device_config: 0x14,
  /** ...and here when MSI-X is enabled. */
  device_config_msix: 0x18,
} as const;
/** Legacy queues are laid out with 4096-byte alignment (§2.7.2). */
export const LEGACY_QUEUE_ALIGN = 4096;
