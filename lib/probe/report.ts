/**
 * The `ProbeReport`: what `virtio probe` found, JSON-safe (no bigints: 64-bit values are hex
 * strings, u64 config values numbers or decimal strings). `docs/probe-json.md` documents
 * every field; the `schema` string changes when a field changes meaning.
 *
 * @module
 */
import type { ConfigFields } from "../virtio/config/decoder.ts";
import type { KernelView } from "./kernel_view.ts";

/** Schema name and version carried in every report's `schema` field. */
export const PROBE_SCHEMA = "virtio-probe/1";

/**
 * Where a fact came from: the kernel's sysfs view, the kernel's debugfs (a bound device's
 * offered features, `virtio/<dev>/device_features`), or the device's own registers.
 */
export type FactSource = "sysfs" | "debugfs" | "device";

/** What `virtio probe` found: virtio PCI functions and virtio devices on other transports. */
export interface ProbeReport {
  /** Always {@link PROBE_SCHEMA}. */
  readonly schema: typeof PROBE_SCHEMA;
  /** One entry per virtio PCI function. */
  readonly devices: DeviceReport[];
  /** Virtio devices on other transports (virtio-mmio ...), from sysfs only. */
  readonly non_pci: NonPciDevice[];
}

/** A feature bit set, with where it was read and each bit's name. */
export interface FeatureSet {
  /** Where the bits were read. */
  readonly source: FactSource;
  /** `0x` + hex, at least 16 digits. */
  readonly hex: string;
  /** Every set bit with its name (when known) and whether it is a transport or device bit. */
  readonly bits: { bit: number; name?: string; scope: "transport" | "device" }[];
  /** Set bits without a known name. */
  readonly unknown: number[];
}

/** Everything known about one virtio PCI function. */
export interface DeviceReport {
  /** PCI address, `dddd:bb:dd.f`. */
  readonly address: string;
  /** Always "pci" here; other transports are in `non_pci`. */
  readonly transport: "pci";
  /** PCI ids as hex strings (revision as a number), from config space. */
  readonly ids: {
    vendor: string;
    device: string;
    subsystem_vendor: string;
    subsystem_device: string;
    revision: number;
    class: string;
  };
  /** Virtio device type (§5) with its short name and the spec's description. */
  readonly type: { id: number; name: string; description?: string };
  /** modern (0x1040+), transitional (0x10xx with modern caps), legacy (0x10xx, I/O BAR only). */
  readonly kind: "modern" | "transitional" | "legacy";
  /** The PCI driver bound to the function (e.g. virtio-pci, vfio-pci). */
  readonly driver?: string;
  /** The virtio driver bound to the kernel's virtio device (e.g. virtio_net). */
  readonly virtio_driver?: string;
  /** The kernel's virtio device name (virtioN). */
  readonly kernel_name?: string;
  /** Kernel interfaces on top of the device: network interfaces, block devices, 9p tag. */
  readonly interfaces: {
    net: { name: string; mac?: string; mtu?: number }[];
    /** Block devices with their size in 512-byte sectors (sysfs). */
    block: { name: string; sectors?: number }[];
    /** virtio-9p mount tag (sysfs). */
    mount_tag?: string;
  };
  /** The function's IOMMU group, when it has one. */
  readonly iommu_group?: number;
  /** The function's BARs as sysfs reports them. */
  readonly bars: {
    index: number;
    kind: "memory" | "io";
    size: number;
    is64: boolean;
    prefetchable: boolean;
  }[];
  /** Standard PCI capabilities from the config-space list. */
  readonly pci_capabilities: { offset: number; id: number; name: string }[];
  /** Virtio structure capabilities (§4.1.4); offset and length as hex strings. */
  readonly virtio_capabilities: {
    cap_offset: number;
    type: string;
    cfg_type: number;
    bar: number;
    id: number;
    offset: string;
    length: string;
    notify_off_multiplier?: number;
  }[];
  /** MSI-X capability: table size, enable bit, table BAR and offset. */
  readonly msix?: { table_size: number; enabled: boolean; table_bar: number; table_offset: number };
  /** Device status byte (§2.1) with its bit names. */
  readonly status?: { value: number; names: string[]; source: FactSource };
  /** Features the device offers and the driver negotiated. */
  readonly features: { offered?: FeatureSet; negotiated?: FeatureSet };
  /** Number of queues (modern `num_queues`, or the legacy queues found). */
  readonly num_queues?: number;
  /** Max size per queue; read only from devices no driver owns (needs queue_select). */
  readonly queues?: { index: number; max_size: number }[];
  /** Device-specific configuration, decoded by device type (§5.x.4). */
  readonly config?: {
    /** Always the device's own registers (modern device config or the legacy I/O window). */
    source: "device";
    /**
     * How it was reached: the modern device-config capability in a mapped BAR, the legacy
     * I/O BAR, or the PCI configuration access window (`--pci-cfg`, §4.1.4.9).
     */
    via: "modern" | "legacy" | "pci-cfg";
    /** Which feature set decided the fields present. */
    features_from: "negotiated" | "offered" | "none";
    generation?: number;
    fields: ConfigFields;
  };
  /**
   * What the kernel's driver made of the device, from sysfs (no device access): per network
   * interface mac, mtu, speed_mbps, duplex, operstate, rx/tx_queues; per disk capacity,
   * read_only, block sizes, segment, discard and write-zeroes limits, queues; per input device
   * name, serial and ids; per pmem region start, size and namespace; virtio-mem's added memory
   * blocks (with its config read); 9p mount tag; console ports. Present whenever the kernel
   * shows any.
   */
  readonly kernel_view?: KernelView[];
  /**
   * `--pci-cfg`: the §4.1.4.9 window that was used — its capability offset, device_status
   * read through it, whether that equals the kernel's sysfs status (`works`, absent when
   * the kernel has no status), how many BAR accesses it made, and whether it was left
   * disarmed (cap.length 0).
   */
  pci_cfg?: {
    cap_offset: number;
    device_status?: number;
    works?: boolean;
    accesses: number;
    disarmed: boolean;
  };
  /** Why something was not read (bound device, not root, ...). */
  readonly notes: string[];
  /** Problems with what the device reports. */
  readonly findings: string[];
  /** `-v`: raw bytes as hex. */
  raw?: { config_space: string; device_config?: string };
}

/** A virtio device on a non-PCI transport (virtio-mmio ...), from sysfs only. */
export interface NonPciDevice {
  /** The kernel's virtio device name (virtioN). */
  readonly name: string;
  /** Transport: "mmio" or anything else. */
  readonly transport: "mmio" | "other";
  /** The parent device's name: a PCI address, or e.g. `a000000.virtio_mmio`. */
  readonly parent: string;
  /** Virtio device type (§5) with its short name and the spec's description. */
  readonly type: { id: number; name: string; description?: string };
  /** The virtio driver bound to it. */
  readonly driver?: string;
  /** Device status byte (§2.1) from sysfs. */
  readonly status?: { value: number; names: string[]; source: "sysfs" };
  /** Negotiated features from sysfs. */
  readonly features: { negotiated?: FeatureSet };
}
