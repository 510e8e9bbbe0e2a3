/**
 * `probeAll` / `probeDevice`: every virtio PCI function decoded, read-only. A device bound to
 * a driver is never written: features come from the kernel's sysfs, device config and a few
 * read-only common registers from the device. Selector writes (device features, queue sizes,
 * input config) happen only for devices no driver owns, and only with `allowWrites`.
 *
 * @module
 */
import type { ConfigSpace } from "../pci/config_space.ts";
import { normalizePciAddress } from "../pci/address.ts";
import { type PciFunctionInfo, PciSysfs } from "../pci/sysfs.ts";
import { readSysfsConfigSpace } from "../pci/sysfs_config.ts";
import { PCI_CAP_ID_MSIX, readMsix, walkCapabilities } from "../pci/capabilities.ts";
import { type RegisterRegion, subRegion } from "../pci/region.ts";
import { PciCfgWindow, WindowError } from "../pci/cfg_window.ts";
import { SysfsConfigFile } from "../pci/sysfs_config.ts";
import { VirtioError } from "../errors.ts";
import { firstCap, parseVirtioCapabilities } from "../virtio/capabilities.ts";
import {
  COMMON_CFG,
  LEGACY,
  statusNames,
  VIRTIO_PCI_CAP_COMMON_CFG,
  VIRTIO_PCI_CAP_DEVICE_CFG,
  VIRTIO_PCI_CAP_ISR_CFG,
  VIRTIO_PCI_CAP_PCI_CFG,
} from "../virtio/constants.ts";
import { DEVICE_TYPES, deviceTypeName, virtioIdentityFromPci } from "../virtio/device_types.ts";
import { featuresHex, nameFeatures } from "../virtio/features.ts";
import { CONFIG_DECODERS } from "../virtio/config/mod.ts";
import { decodeInputConfig } from "../virtio/config/input.ts";
import type { DeviceReport, FactSource, FeatureSet, NonPciDevice, ProbeReport } from "./report.ts";
import { PROBE_SCHEMA } from "./report.ts";
import { readKernelView } from "./kernel_view.ts";
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

/** Where and how `probeAll` / `probeDevice` look: sysfs root, type filter, register access. */
export interface ProbeOptions {
  /** sysfs root; "/sys" by default. */
  readonly sysfsRoot?: string;
  /** Only these virtio device types. */
  readonly types?: readonly number[];
  /** Opens BARs; without it, no device register is read (sysfs and config space only). */
  readonly openBar?: BarOpener;
  /** Reads a function's config space; the sysfs `config` file by default. */
  readonly readConfigSpace?: (address: string, dir: string) => ConfigSpace;
  /** Allow selector writes to devices that no driver owns (never to bound devices). */
  readonly allowWrites?: boolean;
  /** Include raw hex dumps. */
  readonly raw?: boolean;
  /**
   * Read modern devices' registers through the PCI configuration access window (§4.1.4.9)
   * instead of a mapped BAR: writes only that capability's window fields (bar, offset,
   * length, data) in config space, and leaves the window disarmed.
   */
  readonly pciCfg?: boolean;
  /** Opens a function's config space read-write for the window; the sysfs `config` file by default. */
  readonly openConfig?: (address: string, dir: string) => ConfigSpace & Disposable;
}

function typeInfo(id: number) {
  const known = DEVICE_TYPES.get(id);
  return { id, name: deviceTypeName(id), ...(known ? { description: known.description } : {}) };
}

function featureSet(type: number, features: bigint, source: FactSource): FeatureSet {
  const bits = nameFeatures(type, features);
  return {
    source,
    hex: featuresHex(features),
    bits,
    unknown: bits.filter((b) => b.name === undefined).map((b) => b.bit),
  };
}

/** FEATURES_OK (§2.1) set in a status byte: only then is a feature set negotiated. */
const negotiated = (status: number | undefined) => status !== undefined && (status & 8) !== 0;

const hex = (n: number, w: number) => "0x" + n.toString(16).padStart(w, "0");

/** Probes every virtio PCI function (sorted by address) and the non-PCI virtio devices. */
export function probeAll(options: ProbeOptions = {}): ProbeReport {
  const sysfs = new PciSysfs(options.sysfsRoot);
  const devices: DeviceReport[] = [];
  for (const address of sysfs.listFunctions()) {
    const info = sysfs.readFunction(address);
    const identity = virtioIdentityFromPci(info.vendor, info.device, info.subsystemDevice);
    if (!identity) continue;
    if (options.types && !options.types.includes(identity.type)) continue;
    devices.push(withOfferedNote(probeFunction(sysfs, info, options)));
  }
  const non_pci: NonPciDevice[] = sysfs.listVirtioBus()
    .filter((d) => d.transport !== "pci")
    .filter((d) => !options.types || options.types.includes(d.deviceType))
    .map((d) => ({
      name: d.name,
      transport: d.transport as "mmio" | "other",
      parent: d.parent,
      type: typeInfo(d.deviceType),
      ...(d.driver ? { driver: d.driver } : {}),
      ...(d.status === undefined
        ? {}
        : { status: { value: d.status, names: statusNames(d.status), source: "sysfs" as const } }),
      features: d.features === undefined
        ? {}
        : { negotiated: featureSet(d.deviceType, d.features, "sysfs") },
    }));
  return { schema: PROBE_SCHEMA, devices, non_pci };
}

/** Probes one PCI function; throws VirtioError when it does not exist or is not virtio. */
export function probeDevice(address: string, options: ProbeOptions = {}): DeviceReport {
  const canonical = normalizePciAddress(address);
  const sysfs = new PciSysfs(options.sysfsRoot);
  if (!sysfs.exists(canonical)) {
    throw new VirtioError(`no PCI device ${canonical}`, {
      hint: `see ${sysfs.devicesDir} or lspci for the devices this machine has`,
    });
  }
  const info = sysfs.readFunction(canonical);
  if (!virtioIdentityFromPci(info.vendor, info.device, info.subsystemDevice)) {
    throw new VirtioError(
      `${canonical} is not a virtio device (vendor ${hex(info.vendor, 4)}, device ${
        hex(info.device, 4)
      })`,
    );
  }
  return withOfferedNote(probeFunction(sysfs, info, options));
}

/**
 * A bound device's offered features are not read (its feature selector is the driver's), and
 * the kernels we know expose them nowhere (no debugfs virtio/<dev>/device_features without
 * CONFIG_VIRTIO_DEBUG): say they are unknown rather than leave it to a guess.
 */
function withOfferedNote(report: DeviceReport): DeviceReport {
  if (report.virtio_driver && !report.features.offered) {
    report.notes.push(
      "offered features unknown: a bound device's are not read, and the kernel does not show them",
    );
  }
  return report;
}

function probeFunction(
  sysfs: PciSysfs,
  info: PciFunctionInfo,
  options: ProbeOptions,
): DeviceReport {
  const identity = virtioIdentityFromPci(info.vendor, info.device, info.subsystemDevice)!;
  const notes: string[] = [];
  const findings: string[] = [];
  const kernel = info.virtio;
  const type = identity.type;
  if (kernel && kernel.deviceType !== type) {
    findings.push(`kernel says device type ${kernel.deviceType}, PCI ids say ${type}`);
  }
  const dir = sysfs.functionDir(info.address);
  const cs = (options.readConfigSpace ?? ((_a, d) => readSysfsConfigSpace(d)))(info.address, dir);
  const walk = walkCapabilities(cs);
  findings.push(...walk.findings);
  const barSizes = new Map(info.bars.map((b) => [b.index, b.size]));
  const virtio = parseVirtioCapabilities(cs, walk.capabilities, barSizes);
  findings.push(...virtio.findings);
  const msixCap = walk.capabilities.find((c) => c.id === PCI_CAP_ID_MSIX);
  const msix = msixCap ? readMsix(cs, msixCap.offset) : undefined;
  const common = firstCap(virtio.caps, VIRTIO_PCI_CAP_COMMON_CFG);
  const complete = cs.size >= 256;
  const kind = identity.idKind === "modern"
    ? "modern"
    : common
    ? "transitional"
    : complete
    ? "legacy"
    : "transitional";
  // Driverless: no PCI driver, or virtio-pci with no virtio driver on top (the kernel then
  // only acknowledged the device, §3.1.1 step 2): nothing uses its registers.
  const bound = info.driver !== undefined &&
    !(info.driver === "virtio-pci" && kernel !== undefined && !kernel.driver);
  const mayWrite = !bound && options.allowWrites === true;

  const report: DeviceReport = {
    address: info.address,
    transport: "pci",
    ids: {
      vendor: hex(info.vendor, 4),
      device: hex(info.device, 4),
      subsystem_vendor: hex(info.subsystemVendor, 4),
      subsystem_device: hex(info.subsystemDevice, 4),
      revision: info.revision,
      class: hex(info.classCode, 6),
    },
    type: typeInfo(type),
    kind,
    ...(info.driver ? { driver: info.driver } : {}),
    ...(kernel?.driver ? { virtio_driver: kernel.driver } : {}),
    ...(kernel ? { kernel_name: kernel.name } : {}),
    interfaces: {
      net: kernel?.netInterfaces.map((n) => ({ ...n })) ?? [],
      block: kernel?.blockDevices.map((b) => ({ ...b })) ?? [],
      ...(kernel?.mountTag === undefined ? {} : { mount_tag: kernel.mountTag }),
    },
    ...(info.iommuGroup === undefined ? {} : { iommu_group: info.iommuGroup }),
    bars: info.bars.map((b) => ({
      index: b.index,
      kind: b.kind as "memory" | "io",
      size: b.size,
      is64: b.is64bit,
      prefetchable: b.prefetchable,
    })),
    pci_capabilities: walk.capabilities.map((c) => ({ ...c })),
    virtio_capabilities: virtio.caps.map((c) => ({
      cap_offset: c.capOffset,
      type: c.typeName,
      cfg_type: c.cfgType,
      bar: c.bar,
      id: c.id,
      offset: "0x" + c.offset.toString(16),
      length: "0x" + c.length.toString(16),
      ...(c.notifyOffMultiplier === undefined
        ? {}
        : { notify_off_multiplier: c.notifyOffMultiplier }),
    })),
    ...(msix
      ? {
        msix: {
          table_size: msix.tableSize,
          enabled: msix.enabled,
          table_bar: msix.tableBar,
          table_offset: msix.tableOffset,
        },
      }
      : {}),
    // §3.1.1: features are negotiated only once FEATURES_OK is set; before that the kernel's
    // `features` file holds nothing a driver agreed to.
    features: kernel?.features === undefined || !negotiated(kernel.status)
      ? {}
      : { negotiated: featureSet(type, kernel.features, "sysfs") },
    notes,
    findings,
  };
  if (kernel?.status !== undefined) {
    Object.assign(report, {
      status: { value: kernel.status, names: statusNames(kernel.status), source: "sysfs" },
    });
  }
  if (kernel) {
    const views = readKernelView(`${dir}/${kernel.name}`);
    if (views.length) Object.assign(report, { kernel_view: views });
  }
  if (kernel?.features !== undefined && !negotiated(kernel.status)) {
    notes.push("no driver negotiated features (FEATURES_OK not set)");
  }
  if (!complete) {
    notes.push(
      `only ${cs.size} bytes of config space readable: run as root for capabilities and device registers`,
    );
  }
  if (options.raw) {
    report.raw = { config_space: hexDump((o) => cs.read8(o), cs.size) };
  }
  if (options.pciCfg && complete && kind !== "legacy") {
    readThroughWindow(report, virtio.caps, info, dir, options, mayWrite, kernel?.status);
    return report;
  }
  if (!options.openBar || !complete) {
    if (complete) notes.push("device registers not read (no BAR access)");
    return report;
  }
  if (bound) {
    notes.push(`bound to ${info.driver}: nothing written; features from sysfs`);
  } else if (!mayWrite) {
    notes.push("no driver: offered features and queue sizes need --allow-writes");
  }
  const msixOn = msix?.enabled ?? false;
  const why = (e: unknown) => e instanceof Error ? e.message : String(e);
  try {
    if (kind === "legacy") readLegacy(report, info, options, mayWrite, msixOn, true);
    else readModernBars(report, virtio.caps, info, options, mayWrite);
  } catch (e) {
    const io0 = info.bars.some((b) => b.index === 0 && b.kind === "io");
    if (kind !== "transitional" || !io0) {
      notes.push(`device registers not read: ${why(e)}`);
      return report;
    }
    // §4.1.4.8: a transitional device also serves its config through the legacy I/O BAR,
    // which plain pread reaches even when the kernel keeps the memory BAR to itself.
    notes.push(`modern registers not readable (${why(e)}): device config read via legacy I/O BAR`);
    try {
      readLegacy(report, info, options, false, msixOn, false);
    } catch (e2) {
      notes.push(`device registers not read: ${why(e2)}`);
    }
  }
  return report;
}

type Caps = ReturnType<typeof parseVirtioCapabilities>["caps"];

/** Opens the register range a capability describes, as a region. */
type CapOpener = (cap: Caps[number]) => RegisterRegion & Disposable;

function readModernBars(
  report: DeviceReport,
  caps: Caps,
  info: PciFunctionInfo,
  options: ProbeOptions,
  mayWrite: boolean,
): void {
  const bars = new Map<number, RegisterRegion & Disposable>();
  const open: CapOpener = (cap) => {
    let bar = bars.get(cap.bar);
    if (!bar) {
      bar = options.openBar!(info.address, cap.bar, { writable: mayWrite });
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
function readThroughWindow(
  report: DeviceReport,
  caps: Caps,
  info: PciFunctionInfo,
  dir: string,
  options: ProbeOptions,
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
  using cs = (options.openConfig ?? ((_a, d) => new SysfsConfigFile(d)))(info.address, dir);
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

function readLegacy(
  report: DeviceReport,
  info: PciFunctionInfo,
  options: ProbeOptions,
  mayWrite: boolean,
  msixEnabled: boolean,
  /** False for a transitional device: its legacy word holds only feature bits 0..31. */
  reportFeatures: boolean,
): void {
  const bar0 = info.bars.find((b) => b.index === 0);
  if (!bar0 || bar0.kind !== "io") return void report.notes.push("legacy device without I/O BAR 0");
  using io = options.openBar!(info.address, 0, { writable: mayWrite });
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
