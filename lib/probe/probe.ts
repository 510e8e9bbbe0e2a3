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
import { readSysfsConfigSpace, SysfsConfigFile } from "../pci/sysfs_config.ts";
import { PCI_CAP_ID_MSIX, readMsix, walkCapabilities } from "../pci/capabilities.ts";
import { VirtioError } from "../errors.ts";
import { firstCap, parseVirtioCapabilities } from "../virtio/capabilities.ts";
import { statusNames, VIRTIO_PCI_CAP_COMMON_CFG } from "../virtio/constants.ts";
import { DEVICE_TYPES, deviceTypeName, virtioIdentityFromPci } from "../virtio/device_types.ts";
import type { DeviceReport, NonPciDevice, ProbeReport } from "./report.ts";
import { PROBE_SCHEMA } from "./report.ts";
import { memoryBlocksView, readDebugfsFeatures, readKernelView } from "./kernel_view.ts";
import {
  type ConfigOpener,
  featureSet,
  readLegacy,
  readModernBars,
  readThroughWindow,
} from "./device_registers.ts";
import { type BarOpener, hexDump } from "./registers.ts";

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
  readonly openConfig?: ConfigOpener;
  /** debugfs root, for bound devices' offered features; `<sysfsRoot>/kernel/debug` by default. */
  readonly debugfsRoot?: string;
}

function typeInfo(id: number) {
  const known = DEVICE_TYPES.get(id);
  return { id, name: deviceTypeName(id), ...(known ? { description: known.description } : {}) };
}

/**
 * Whether the kernel's feature bits are a negotiated set: FEATURES_OK is set (§3.1.1), or —
 * the legacy interface has no FEATURES_OK (§3.1.2) — DRIVER_OK with VERSION_1 not among them.
 */
function negotiated(status: number | undefined, features: bigint): boolean {
  if (status === undefined) return false;
  return (status & 8) !== 0 || ((status & 4) !== 0 && (features & (1n << 32n)) === 0n);
}

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
    devices.push(finish(probeFunction(sysfs, info, options), options));
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
  return finish(probeFunction(sysfs, info, options), options);
}

/**
 * What the kernel knows beyond sysfs, once the registers were read. A bound device's offered
 * features are not read (its feature selector is the driver's): they come from debugfs
 * `virtio/<dev>/device_features` where the kernel has it (CONFIG_VIRTIO_DEBUG; Debian 12's
 * 6.1 has not), else a note says they are unknown — never a guess. For virtio-mem, the
 * memory blocks the kernel added inside the region its config names.
 */
function finish(report: DeviceReport, options: ProbeOptions): DeviceReport {
  const sysfsRoot = options.sysfsRoot ?? "/sys";
  if (report.kernel_name && !report.features.offered) {
    const debugfs = options.debugfsRoot ?? `${sysfsRoot}/kernel/debug`;
    const path = `${debugfs}/virtio/${report.kernel_name}/device_features`;
    const { bits, problem } = readDebugfsFeatures(path);
    if (problem) report.findings.push(problem);
    if (bits !== undefined) report.features.offered = featureSet(report.type.id, bits, "debugfs");
  }
  if (report.virtio_driver && !report.features.offered) {
    report.notes.push(
      "offered features unknown: a bound device's are not read, and the kernel does not show " +
        "them (no debugfs virtio/<dev>/device_features)",
    );
  }
  const fields = report.config?.fields;
  if (report.type.id === 24 && report.virtio_driver && fields) {
    const addr = typeof fields.addr === "string" && /^0x[0-9a-f]+$/.test(fields.addr)
      ? BigInt(fields.addr)
      : undefined;
    const size = fields.region_size;
    if (addr !== undefined && (typeof size === "number" || typeof size === "string")) {
      const view = memoryBlocksView(sysfsRoot, addr, BigInt(size));
      if (view) Object.assign(report, { kernel_view: [...(report.kernel_view ?? []), view] });
    }
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
    features: kernel?.features === undefined || !negotiated(kernel.status, kernel.features)
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
  if (kernel?.features !== undefined && !negotiated(kernel.status, kernel.features)) {
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
    const openConfig = options.openConfig ?? ((_a: string, d: string) => new SysfsConfigFile(d));
    readThroughWindow(report, virtio.caps, info, dir, openConfig, mayWrite, kernel?.status);
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
    const openBar = options.openBar;
    if (kind === "legacy") readLegacy(report, info, openBar, mayWrite, msixOn, true);
    else readModernBars(report, virtio.caps, info, openBar, mayWrite);
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
      readLegacy(report, info, options.openBar, false, msixOn, false);
    } catch (e2) {
      notes.push(`device registers not read: ${why(e2)}`);
    }
  }
  return report;
}
