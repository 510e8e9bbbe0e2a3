/**
 * The passive checks of `virtio diag`: read-only, safe on any machine, on a device a kernel
 * driver owns. Pure functions over what the probe and sysfs say ({@link PassiveInput}), so
 * tests drive them with fixtures; {@link gatherPassiveInput} does the reading.
 *
 * @module
 */
import type { ConfigSpace } from "../pci/config_space.ts";
import { PCI_HEADER_TYPE, PCI_STATUS, PCI_STATUS_CAP_LIST } from "../pci/capabilities.ts";
import { walkCapabilities } from "../pci/capabilities.ts";
import { readSysfsConfigSpace } from "../pci/sysfs_config.ts";
import { PciSysfs, readText } from "../pci/sysfs.ts";
import { firstCap, parseVirtioCapabilities } from "../virtio/capabilities.ts";
import {
  STATUS_DEVICE_NEEDS_RESET,
  STATUS_DRIVER_OK,
  STATUS_FAILED,
  statusNames,
  VIRTIO_PCI_CAP_COMMON_CFG,
  VIRTIO_PCI_CAP_DEVICE_CFG,
  VIRTIO_PCI_CAP_ISR_CFG,
  VIRTIO_PCI_CAP_NOTIFY_CFG,
  VIRTIO_PCI_MODERN_DEVICE_ID_BASE,
  VIRTIO_PCI_MODERN_LAST,
  VIRTIO_PCI_TRANSITIONAL_FIRST,
  VIRTIO_PCI_VENDOR_ID,
} from "../virtio/constants.ts";
import { hasFeature, VIRTIO_NET_F_STATUS } from "../virtio/features.ts";
import { probeDevice, type ProbeOptions } from "../probe/probe.ts";
import type { DeviceReport } from "../probe/report.ts";
import { featureViolations, hasVersion1 } from "./feature_rules.ts";
import { check, type CheckResult } from "./report.ts";
import { checkCfgWindow, checkKernelAgrees } from "./views.ts";

/** The kernel's view of one network interface's link (sysfs `net/<if>/...`). */
export interface LinkState {
  /** Interface name (eth0). */
  readonly name: string;
  /** `operstate`: up, down, lowerlayerdown, unknown ... */
  readonly operstate?: string;
  /** `carrier`: 1 / 0; undefined when the interface is administratively down. */
  readonly carrier?: number;
  /** IFF_UP from `flags`. */
  readonly adminUp?: boolean;
}

/** Everything the passive checks look at for one device. */
export interface PassiveInput {
  /** The probe's read-only report of the device. */
  readonly report: DeviceReport;
  /** The PCI config space (64 bytes when not root); undefined when unreadable. */
  readonly config?: ConfigSpace;
  /** Its kernel network interfaces. */
  readonly links: readonly LinkState[];
  /** The report was made with `--pci-cfg` (the window checks apply). */
  readonly pciCfg?: boolean;
}

const hex = (n: number, w = 4) => n.toString(16).padStart(w, "0");

/** `pci.config`: header sane, virtio vendor/device ids, capability list bit (§4.1.2). */
export function checkPciConfig(input: PassiveInput): CheckResult {
  const name = "pci.config";
  const cs = input.config;
  if (!cs) return check.skip(name, "config space not readable");
  if (cs.size < 0x40) return check.fail(name, `only ${cs.size} bytes of header readable`);
  const vendor = cs.read16(0);
  const device = cs.read16(2);
  if (vendor === 0xffff) return check.fail(name, "config space reads all ones: device gone");
  if (vendor !== VIRTIO_PCI_VENDOR_ID) {
    return check.fail(name, `vendor ${hex(vendor)} is not the virtio vendor 1af4`);
  }
  if (device < VIRTIO_PCI_TRANSITIONAL_FIRST || device > VIRTIO_PCI_MODERN_LAST) {
    return check.fail(name, `device id ${hex(device)} outside 1000..107f (§4.1.2)`);
  }
  const headerType = cs.read8(PCI_HEADER_TYPE) & 0x7f;
  if (headerType !== 0) return check.fail(name, `header type ${headerType}, not an endpoint (0)`);
  const modernId = device >= VIRTIO_PCI_MODERN_DEVICE_ID_BASE;
  const capList = (cs.read16(PCI_STATUS) & PCI_STATUS_CAP_LIST) !== 0;
  if (modernId && !capList) {
    return check.fail(name, "modern device without a capability list (§4.1.4 needs one)");
  }
  const revision = cs.read8(8);
  const ids = `${hex(vendor)}:${hex(device)} rev ${revision}`;
  // §4.1.2.1: transitional devices MUST have revision 0; non-transitional SHOULD have ≥ 1.
  if (!modernId && revision !== 0 && input.report.kind !== "modern") {
    return check.warn(name, `${ids}: transitional id with revision ${revision}, not 0 (§4.1.2.1)`);
  }
  if (modernId && revision < 1) {
    return check.warn(name, `${ids}: modern id with revision 0 (§4.1.2.1 wants ≥ 1)`);
  }
  if (cs.size < 0x100) {
    return check.warn(name, `${ids}; only ${cs.size} bytes readable (not root?)`);
  }
  return check.pass(name, `${ids}, header type 0${capList ? ", capability list" : ""}`);
}

/** `pci.capabilities`: the capability list walks to its end, no loops or wild pointers. */
export function checkPciCapabilities(input: PassiveInput): CheckResult {
  const name = "pci.capabilities";
  const cs = input.config;
  if (!cs || cs.size < 0x100) return check.skip(name, "needs the full config space (root)");
  const walk = walkCapabilities(cs);
  if (walk.findings.length) return check.fail(name, walk.findings.join("; "));
  if (walk.capabilities.length === 0) {
    return input.report.kind === "legacy"
      ? check.pass(name, "no capabilities (legacy device)")
      : check.fail(name, "no capabilities: a modern device lists its virtio structures there");
  }
  const counts = new Map<string, number>();
  for (const c of walk.capabilities) counts.set(c.name, (counts.get(c.name) ?? 0) + 1);
  const list = [...counts].map(([n, k]) => (k > 1 ? `${n} ×${k}` : n)).join(", ");
  return check.pass(name, `${walk.capabilities.length} capabilities: ${list}`);
}

/** Device types without a device-specific configuration (§5): no device cap expected. */
const NO_DEVICE_CONFIG: ReadonlySet<number> = new Set([4]);

/**
 * `virtio.capabilities` (§4.1.4): common, notify, ISR present (device config when the type
 * has one), each inside an implemented BAR, notify_off_multiplier 0 or an even power of 2
 * (§4.1.4.4.1). Legacy devices: an I/O BAR 0 (§4.1.4.8).
 */
export function checkVirtioCapabilities(input: PassiveInput): CheckResult {
  const name = "virtio.capabilities";
  const { report } = input;
  if (report.kind === "legacy") {
    const bar0 = report.bars.find((b) => b.index === 0);
    return bar0?.kind === "io"
      ? check.pass(name, `legacy: I/O BAR 0 of ${bar0.size} bytes`)
      : check.fail(name, "legacy device without an I/O BAR 0 (§4.1.4.8)");
  }
  const cs = input.config;
  if (!cs || cs.size < 0x100) return check.skip(name, "needs the full config space (root)");
  const barSizes = new Map(report.bars.map((b) => [b.index, b.size]));
  const { caps, findings } = parseVirtioCapabilities(
    cs,
    walkCapabilities(cs).capabilities,
    barSizes,
  );
  const problems = [...findings];
  const missing = [
    [VIRTIO_PCI_CAP_COMMON_CFG, "common"],
    [VIRTIO_PCI_CAP_NOTIFY_CFG, "notify"],
    [VIRTIO_PCI_CAP_ISR_CFG, "isr"],
  ].filter(([t]) => !firstCap(caps, t as number)).map(([, n]) => n);
  if (missing.length) problems.push(`no ${missing.join(", ")} capability (§4.1.4)`);
  const notify = firstCap(caps, VIRTIO_PCI_CAP_NOTIFY_CFG);
  const m = notify?.notifyOffMultiplier;
  if (m !== undefined && m !== 0 && ((m & (m - 1)) !== 0 || m < 2)) {
    problems.push(`notify_off_multiplier ${m} is neither 0 nor an even power of 2 (§4.1.4.4.1)`);
  }
  if (problems.length) return check.fail(name, problems.join("; "));
  const device = firstCap(caps, VIRTIO_PCI_CAP_DEVICE_CFG);
  const bars = [...new Set(caps.filter((c) => c.bar <= 5).map((c) => c.bar))].join(",");
  const summary = `common, notify (multiplier ${m ?? "?"}), isr${
    device ? ", device" : ""
  } in BAR ${bars}, all within their BARs`;
  if (!device && !NO_DEVICE_CONFIG.has(report.type.id)) {
    return check.warn(name, `${summary}; no device config capability (§4.1.4.6)`);
  }
  return check.pass(name, summary);
}

/**
 * `virtio.features`: the offered set (when known) and the negotiated set (when a virtio
 * driver is bound) each satisfy the feature dependencies (§2.2.1, §5.1.3.1); negotiated ⊆
 * offered; a modern-id device offers and negotiates VERSION_1 (§6.1).
 */
export function checkVirtioFeatures(input: PassiveInput): CheckResult {
  const name = "virtio.features";
  const { report } = input;
  const type = report.type.id;
  const offered = report.features.offered ? BigInt(report.features.offered.hex) : undefined;
  const negotiated = report.features.negotiated && report.virtio_driver
    ? BigInt(report.features.negotiated.hex)
    : undefined;
  if (offered === undefined && negotiated === undefined) {
    return check.skip(name, "no feature bits known (no virtio driver bound, offered not read)");
  }
  const problems: string[] = [];
  const modernId = parseInt(report.ids.device, 16) >= VIRTIO_PCI_MODERN_DEVICE_ID_BASE;
  if (offered !== undefined) {
    problems.push(...featureViolations(type, offered).map((v) => `device offers ${v}`));
    if (modernId && !hasVersion1(offered)) {
      problems.push("modern device does not offer VERSION_1 (§6.1)");
    }
  }
  if (negotiated !== undefined) {
    problems.push(...featureViolations(type, negotiated).map((v) => `negotiated ${v}`));
    if (modernId && !hasVersion1(negotiated)) {
      problems.push("VERSION_1 not negotiated on a modern-only device (§6.1)");
    }
    if (offered !== undefined && (negotiated & ~offered) !== 0n) {
      problems.push(
        `negotiated bits the device does not offer: 0x${(negotiated & ~offered).toString(16)}`,
      );
    }
  }
  const rule = type === 1 ? " (§5.1.3.1)" : " (§2.2.1)";
  if (problems.length) return check.fail(name, problems.join("; ") + rule);
  const what = [
    offered === undefined ? "" : `${report.features.offered!.bits.length} offered`,
    negotiated === undefined ? "" : `${report.features.negotiated!.bits.length} negotiated`,
  ].filter(Boolean).join(", ");
  return check.pass(name, `${what} bits consistent${rule}`);
}

/**
 * `virtio.status` (§2.1): not FAILED, not DEVICE_NEEDS_RESET, not gone (0xff); DRIVER_OK
 * when a virtio driver is bound; no DRIVER_OK left behind without one.
 */
export function checkVirtioStatus(input: PassiveInput): CheckResult {
  const name = "virtio.status";
  const { report } = input;
  const status = report.status;
  if (!status) {
    return check.skip(
      name,
      report.driver ? `held by ${report.driver}: status not readable passively` : "not read",
    );
  }
  const s = status.value;
  const text = `0x${hex(s, 2)} ${statusNames(s).join("|") || "(reset)"} (${status.source})`;
  if (s === 0xff) return check.fail(name, `${text}: reads all ones, device gone`);
  if (s & STATUS_FAILED) return check.fail(name, `${text}: FAILED is set`);
  if (s & STATUS_DEVICE_NEEDS_RESET) return check.fail(name, `${text}: the device needs a reset`);
  if (report.virtio_driver && !(s & STATUS_DRIVER_OK)) {
    return check.fail(name, `${text}: ${report.virtio_driver} bound but not DRIVER_OK`);
  }
  if (!report.virtio_driver && report.driver === "virtio-pci" && (s & STATUS_DRIVER_OK)) {
    return check.warn(name, `${text}: DRIVER_OK with no virtio driver bound`);
  }
  return check.pass(name, text);
}

/**
 * `net.link`: the device's own link status (§5.1.4 VIRTIO_NET_S_LINK_UP) when readable, else
 * the kernel interface's carrier; without the STATUS feature the link is always up.
 */
export function checkNetLink(input: PassiveInput): CheckResult | undefined {
  const name = "net.link";
  const { report } = input;
  if (report.type.id !== 1) return undefined;
  const fields = report.config?.fields;
  if (fields && typeof fields.link_up === "boolean") {
    return fields.link_up
      ? check.pass(name, "device status: link up (§5.1.4)")
      : check.fail(name, "device status: link down (VIRTIO_NET_S_LINK_UP clear, §5.1.4)");
  }
  const up = input.links.filter((l) => l.adminUp && l.carrier !== undefined);
  const down = up.filter((l) => l.carrier === 0);
  if (down.length) {
    return check.fail(
      name,
      down.map((l) => `${l.name}: no carrier (operstate ${l.operstate ?? "?"})`).join("; "),
    );
  }
  if (up.length) return check.pass(name, up.map((l) => `${l.name}: carrier up`).join("; "));
  const negotiated = report.features.negotiated;
  if (
    report.virtio_driver && negotiated && !hasFeature(BigInt(negotiated.hex), VIRTIO_NET_F_STATUS)
  ) {
    return check.pass(name, "STATUS not negotiated: the link is always up (§5.1.4)");
  }
  const ifs = input.links.map((l) => l.name).join(", ");
  return check.skip(
    name,
    ifs
      ? `${ifs} administratively down and device status not readable: link unknown`
      : "no kernel interface and device status not readable",
  );
}

/** `blk.capacity`: a block device with capacity 0 cannot hold anything (§5.2.4). */
export function checkBlkCapacity(input: PassiveInput): CheckResult | undefined {
  const name = "blk.capacity";
  const { report } = input;
  if (report.type.id !== 2) return undefined;
  const fromConfig = report.config?.fields.capacity_sectors;
  const sectors = fromConfig !== undefined
    ? Number(fromConfig)
    : report.interfaces.block[0]?.sectors;
  const source = fromConfig !== undefined ? "device config" : report.interfaces.block[0]?.name;
  if (sectors === undefined || Number.isNaN(sectors)) {
    return check.skip(name, "capacity not readable (no block device, no device config)");
  }
  if (sectors === 0) return check.fail(name, `capacity 0 sectors (${source})`);
  return check.pass(
    name,
    `${sectors} sectors = ${(sectors * 512 / 2 ** 20).toFixed(1)} MiB (${source})`,
  );
}

/** Every passive check that applies to the device, in a fixed order. */
export function passiveChecks(input: PassiveInput): CheckResult[] {
  return [
    checkPciConfig(input),
    checkPciCapabilities(input),
    checkVirtioCapabilities(input),
    checkVirtioFeatures(input),
    checkVirtioStatus(input),
    checkNetLink(input),
    checkBlkCapacity(input),
    checkCfgWindow(input.report, input.pciCfg === true),
    checkKernelAgrees(input.report),
  ].filter((c): c is CheckResult => c !== undefined);
}

/** Where {@link gatherPassiveInput} reads from. */
export interface GatherOptions {
  /** sysfs root; "/sys" by default. */
  readonly sysfsRoot?: string;
  /** Opens BARs read-only for device config (never ISR); without it, sysfs only. */
  readonly openBar?: ProbeOptions["openBar"];
  /** Read modern devices through the PCI configuration access window (probe's `pciCfg`). */
  readonly pciCfg?: boolean;
}

/** Reads what the passive checks need for `address`, without writing anything. */
export function gatherPassiveInput(address: string, options: GatherOptions = {}): PassiveInput {
  const report = probeDevice(address, {
    ...(options.sysfsRoot ? { sysfsRoot: options.sysfsRoot } : {}),
    ...(options.openBar ? { openBar: options.openBar } : {}),
    ...(options.pciCfg ? { pciCfg: true } : {}),
    allowWrites: false,
  });
  const sysfs = new PciSysfs(options.sysfsRoot);
  const dir = sysfs.functionDir(report.address);
  let config: ConfigSpace | undefined;
  try {
    config = readSysfsConfigSpace(dir);
  } catch {
    config = undefined;
  }
  const links = report.interfaces.net.map((n): LinkState => {
    const base = `${dir}/${report.kernel_name}/net/${n.name}`;
    const operstate = readText(`${base}/operstate`);
    const carrier = readText(`${base}/carrier`);
    const flags = readText(`${base}/flags`);
    return {
      name: n.name,
      ...(operstate === undefined ? {} : { operstate }),
      ...(carrier === "0" || carrier === "1" ? { carrier: Number(carrier) } : {}),
      ...(flags === undefined ? {} : { adminUp: (parseInt(flags, 16) & 1) === 1 }),
    };
  });
  return { report, ...(config ? { config } : {}), links, pciCfg: options.pciCfg === true };
}
