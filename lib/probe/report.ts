/**
 * The `ProbeReport`: what `virtio probe` found, JSON-safe (no bigints: 64-bit values are hex
 * strings, u64 config values numbers or decimal strings). `docs/probe-json.md` documents
 * every field; the `schema` string changes when a field changes meaning.
 *
 * @module
 */
import type { ConfigFields } from "../virtio/config/decoder.ts";

export const PROBE_SCHEMA = "virtio-probe/1";

/** Where a fact came from: the kernel's sysfs view, or the device's own registers. */
export type FactSource = "sysfs" | "device";

export interface ProbeReport {
  readonly schema: typeof PROBE_SCHEMA;
  readonly devices: DeviceReport[];
  /** Virtio devices on other transports (virtio-mmio ...), from sysfs only. */
  readonly non_pci: NonPciDevice[];
}

export interface FeatureSet {
  readonly source: FactSource;
  /** `0x` + hex, at least 16 digits. */
  readonly hex: string;
  readonly bits: { bit: number; name?: string; scope: "transport" | "device" }[];
  /** Set bits without a known name. */
  readonly unknown: number[];
}

export interface DeviceReport {
  readonly address: string;
  readonly transport: "pci";
  readonly ids: {
    vendor: string;
    device: string;
    subsystem_vendor: string;
    subsystem_device: string;
    revision: number;
    class: string;
  };
  readonly type: { id: number; name: string; description?: string };
  /** modern (0x1040+), transitional (0x10xx with modern caps), legacy (0x10xx, I/O BAR only). */
  readonly kind: "modern" | "transitional" | "legacy";
  readonly driver?: string;
  readonly virtio_driver?: string;
  /** The kernel's virtio device name (virtioN). */
  readonly kernel_name?: string;
  readonly interfaces: {
    net: { name: string; mac?: string; mtu?: number }[];
    /** Block devices with their size in 512-byte sectors (sysfs). */
    block: { name: string; sectors?: number }[];
    /** virtio-9p mount tag (sysfs). */
    mount_tag?: string;
  };
  readonly iommu_group?: number;
  readonly bars: {
    index: number;
    kind: "memory" | "io";
    size: number;
    is64: boolean;
    prefetchable: boolean;
  }[];
  readonly pci_capabilities: { offset: number; id: number; name: string }[];
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
  readonly msix?: { table_size: number; enabled: boolean; table_bar: number; table_offset: number };
  readonly status?: { value: number; names: string[]; source: FactSource };
  readonly features: { offered?: FeatureSet; negotiated?: FeatureSet };
  readonly num_queues?: number;
  /** Max size per queue; read only from devices no driver owns (needs queue_select). */
  readonly queues?: { index: number; max_size: number }[];
  readonly config?: {
    /** Always the device's own registers (modern device config or the legacy I/O window). */
    source: "device";
    /** How it was reached: modern device-config capability, or the legacy I/O BAR. */
    via: "modern" | "legacy";
    /** Which feature set decided the fields present. */
    features_from: "negotiated" | "offered" | "none";
    generation?: number;
    fields: ConfigFields;
  };
  /** Why something was not read (bound device, not root, ...). */
  readonly notes: string[];
  /** Problems with what the device reports. */
  readonly findings: string[];
  /** `-v`: raw bytes as hex. */
  raw?: { config_space: string; device_config?: string };
}

export interface NonPciDevice {
  readonly name: string;
  readonly transport: "mmio" | "other";
  readonly parent: string;
  readonly type: { id: number; name: string; description?: string };
  readonly driver?: string;
  readonly status?: { value: number; names: string[]; source: "sysfs" };
  readonly features: { negotiated?: FeatureSet };
}
