/**
 * The register-reading paths of probe: modern registers through mapped BARs or the PCI
 * configuration access window (§4.1.4.9), and the legacy I/O BAR (§4.1.4.8), each decoding
 * the device config by type. Only plain reads of side-effect-free registers, except the
 * selector writes `mayWrite` permits (devices no driver owns); never the ISR (§4.1.4.5).
 *
 * @module
 */
import type { ConfigSpace } from "../pci/config_space.ts";
import type { PciFunctionInfo } from "../pci/sysfs.ts";
import { type RegisterRegion, subRegion } from "../pci/region.ts";
import { PciCfgWindow, WindowError } from "../pci/cfg_window.ts";
import { firstCap, type parseVirtioCapabilities } from "../virtio/capabilities.ts";
import {
  COMMON_CFG,
  LEGACY,
  statusNames,
  VIRTIO_PCI_CAP_COMMON_CFG,
  VIRTIO_PCI_CAP_DEVICE_CFG,
  VIRTIO_PCI_CAP_ISR_CFG,
  VIRTIO_PCI_CAP_PCI_CFG,
} from "../virtio/constants.ts";
import { featuresHex, nameFeatures } from "../virtio/features.ts";
import { CONFIG_DECODERS } from "../virtio/config/mod.ts";
import { decodeInputConfig } from "../virtio/config/input.ts";
import type { DeviceReport, FactSource, FeatureSet } from "./report.ts";
import {
  type BarOpener,
  hexDump,
  rawConfigOf,
  readConsistent,
  readLegacyQueueSizes,
  readLegacyStable,
  readModernDeviceFeatures,
  readModernQueueSizes,
} from "./registers.ts";

/** Opens a function's config space read-write, for the window. */
export type ConfigOpener = (address: string, dir: string) => ConfigSpace & Disposable;

/** A feature set with each bit's name, as the report carries it. */
export function featureSet(type: number, features: bigint, source: FactSource): FeatureSet {
  const bits = nameFeatures(type, features);
  return {
    source,
    hex: featuresHex(features),
    bits,
    unknown: bits.filter((b) => b.name === undefined).map((b) => b.bit),
  };
}

type Caps = ReturnType<typeof parseVirtioCapabilities>["caps"];

/** Opens the register range a capability describes, as a region. */
type CapOpener = (cap: Caps[number]) => RegisterRegion & Disposable;

/** The modern registers through mapped BARs (one mapping per BAR index). */
export function readModernBars(
  report: DeviceReport,
  caps: Caps,
  info: PciFunctionInfo,
  openBar: BarOpener,
  mayWrite: boolean,
): void {
  const bars = new Map<number, RegisterRegion & Disposable>();
  const open: CapOpener = (cap) => {
    let bar = bars.get(cap.bar);
    if (!bar) {
      bar = openBar(info.address, cap.bar, { writable: mayWrite });
      bars.set(cap.bar, bar);
    }
    return { ...subRegion(bar, Number(cap.offset), Number(cap.length)), [Symbol.dispose]() {} };
  };
  try {
    const status = readModern(report, caps, open, mayWrite, "modern");
    if (status !== undefined) {
      Object.assign(report, {
        status: { value: status, names: statusNames(status), source: "device" },
      });
    }
  } finally {
    for (const bar of bars.values()) bar[Symbol.dispose]();
  }
}

/**
 * `--pci-cfg`: the modern registers through the §4.1.4.9 window. The window is checked
 * before it is trusted: device_status read through it must equal the kernel's view.
 */
export function readThroughWindow(
  report: DeviceReport,
  caps: Caps,
  info: PciFunctionInfo,
  dir: string,
  openConfig: ConfigOpener,
  mayWrite: boolean,
  kernelStatus: number | undefined,
): void {
  const cap = firstCap(caps, VIRTIO_PCI_CAP_PCI_CFG);
  if (!cap) {
    report.findings.push(
      "no PCI configuration access capability (§4.1.4.9: the device MUST present one)",
    );
    return;
  }
  using cs = openConfig(info.address, dir);
  // ISR is never read through the window: reading it clears it (§4.1.4.5).
  const isr = caps.filter((c) => c.cfgType === VIRTIO_PCI_CAP_ISR_CFG)
    .map((c) => ({ bar: c.bar, offset: Number(c.offset), length: Number(c.length) }));
  let window: PciCfgWindow;
  try {
    window = new PciCfgWindow(cs, cap.capOffset, cap.capLength, isr);
  } catch (e) {
    if (e instanceof WindowError) return void report.findings.push(e.message);
    throw e;
  }
  const open: CapOpener = (c) => ({
    ...window.region({ bar: c.bar, offset: Number(c.offset), length: Number(c.length) }, mayWrite),
    [Symbol.dispose]() {},
  });
  try {
    const status = readModern(report, caps, open, mayWrite, "pci-cfg");
    const works = status === undefined || kernelStatus === undefined
      ? undefined
      : status === kernelStatus;
    if (works === false) {
      report.findings.push(
        `PCI configuration access window does not work: device_status reads 0x${
          status!.toString(16)
        } through it, the kernel says 0x${kernelStatus!.toString(16)} (§4.1.4.9)`,
      );
      Reflect.deleteProperty(report, "config"); // read through a broken window: not trusted
    }
    if (!report.status && status !== undefined) {
      Object.assign(report, {
        status: { value: status, names: statusNames(status), source: "device" },
      });
    }
    Object.assign(report, {
      pci_cfg: {
        cap_offset: cap.capOffset,
        ...(status === undefined ? {} : { device_status: status }),
        ...(works === undefined ? {} : { works }),
        accesses: window.accesses,
        disarmed: window.disarmed,
      },
    });
  } finally {
    window.disarm();
  }
}

/** Reads the common and device config through `open`; returns device_status when read. */
function readModern(
  report: DeviceReport,
  caps: Caps,
  open: CapOpener,
  mayWrite: boolean,
  via: "modern" | "pci-cfg",
): number | undefined {
  const common = firstCap(caps, VIRTIO_PCI_CAP_COMMON_CFG);
  const device = firstCap(caps, VIRTIO_PCI_CAP_DEVICE_CFG);
  if (!common) return void report.notes.push("no common config capability");
  if (report.findings.some((f) => f.startsWith(`common cap`))) return;
  using cc = open(common);
  // Plain reads of read-only common registers: no side effects (§4.1.4.3).
  const status = cc.read8(COMMON_CFG.device_status);
  Object.assign(report, { num_queues: cc.read16(COMMON_CFG.num_queues) });
  if (mayWrite) {
    const offered = readModernDeviceFeatures(cc);
    report.features.offered = featureSet(report.type.id, offered, "device");
    const sizes = readModernQueueSizes(cc, report.num_queues ?? 0);
    Object.assign(report, { queues: sizes.map((max_size, index) => ({ index, max_size })) });
  }
  if (!device) {
    report.notes.push("no device config capability");
    return status;
  }
  if (report.findings.some((f) => f.startsWith(`device cap`))) return status;
  using dc = open(device);
  decodeConfig(report, via, rawConfigOf(dc), dc, mayWrite, (read) => {
    const r = readConsistent(cc, read);
    if (!r.consistent) report.findings.push("config_generation kept changing: config may be torn");
    return { value: r.value, generation: r.generation };
  });
  return status;
}

/** The legacy I/O BAR (§4.1.4.8): status, host_features, queue sizes, device config. */
export function readLegacy(
  report: DeviceReport,
  info: PciFunctionInfo,
  openBar: BarOpener,
  mayWrite: boolean,
  msixEnabled: boolean,
  /** False for a transitional device: its legacy word holds only feature bits 0..31. */
  reportFeatures: boolean,
): void {
  const bar0 = info.bars.find((b) => b.index === 0);
  if (!bar0 || bar0.kind !== "io") return void report.notes.push("legacy device without I/O BAR 0");
  using io = openBar(info.address, 0, { writable: mayWrite });
  // §4.1.4.8: host_features and device_status are plain reads; never isr_status.
  if (reportFeatures) {
    const offered = BigInt(io.read32(LEGACY.host_features));
    report.features.offered = featureSet(report.type.id, offered, "device");
  }
  const status = io.read8(LEGACY.device_status);
  Object.assign(report, {
    status: { value: status, names: statusNames(status), source: "device" },
  });
  if (mayWrite) {
    const sizes = readLegacyQueueSizes(io);
    Object.assign(report, {
      num_queues: sizes.length,
      queues: sizes.map((max_size, index) => ({ index, max_size })),
    });
  }
  const start = msixEnabled ? LEGACY.device_config_msix : LEGACY.device_config;
  if (io.length <= start) return;
  const dc = subRegion(io, start, io.length - start);
  decodeConfig(report, "legacy", rawConfigOf(dc), dc, mayWrite, (read) => {
    const r = readLegacyStable(read);
    if (!r.consistent) report.findings.push("legacy config kept changing between reads");
    return { value: r.value };
  });
}

function decodeConfig(
  report: DeviceReport,
  via: "modern" | "legacy" | "pci-cfg",
  raw: ReturnType<typeof rawConfigOf>,
  region: {
    length: number;
    read8(o: number): number;
    read16(o: number): number;
    write8(o: number, v: number): void;
  },
  mayWrite: boolean,
  consistent: <T>(read: () => T) => { value: T; generation?: number },
): void {
  const type = report.type.id;
  const fromNegotiated = report.features.negotiated !== undefined;
  const features = report.features.negotiated ?? report.features.offered;
  const featureBitsValue = features === undefined ? 0n : BigInt(features.hex);
  const features_from = fromNegotiated ? "negotiated" : features ? "offered" : "none";
  if (report.raw) {
    report.raw.device_config = hexDump((o) => region.read8(o), Math.min(region.length, 0x100));
  }
  if (type === 18) {
    if (!mayWrite) return void report.notes.push("input config needs select writes: not read");
    const fields = decodeInputConfig(region);
    Object.assign(report, { config: { source: "device", via, features_from, fields } });
    return;
  }
  const decoder = CONFIG_DECODERS.get(type);
  if (!decoder) return void report.notes.push(`no decoder for device type ${type}`);
  const ctx = { features: featureBitsValue, length: region.length };
  const { value: fields, generation } = consistent(() => decoder(raw, ctx));
  Object.assign(report, {
    config: {
      source: "device",
      via,
      features_from,
      ...(generation === undefined ? {} : { generation }),
      fields,
    },
  });
}
