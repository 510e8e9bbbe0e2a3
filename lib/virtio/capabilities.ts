/**
 * Virtio PCI capabilities (VIRTIO 1.2 §4.1.4 "Virtio Structure PCI Capabilities"): vendor
 * capabilities (id 0x09) whose cfg_type says which structure lives where in which BAR.
 * Everything read here comes from the device and is checked against the BAR sizes before
 * anyone maps it.
 *
 * @module
 */
import type { ConfigSpace } from "../pci/config_space.ts";
import { PCI_CAP_ID_VNDR, type PciCapability } from "../pci/capabilities.ts";
import {
  VIRTIO_PCI_CAP,
  VIRTIO_PCI_CAP_COMMON_CFG,
  VIRTIO_PCI_CAP_DEVICE_CFG,
  VIRTIO_PCI_CAP_ISR_CFG,
  VIRTIO_PCI_CAP_NOTIFY_CFG,
  VIRTIO_PCI_CAP_PCI_CFG,
  VIRTIO_PCI_CAP_SHARED_MEMORY_CFG,
  VIRTIO_PCI_CAP_VENDOR_CFG,
} from "./constants.ts";

export const VIRTIO_CAP_TYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [VIRTIO_PCI_CAP_COMMON_CFG, "common"],
  [VIRTIO_PCI_CAP_NOTIFY_CFG, "notify"],
  [VIRTIO_PCI_CAP_ISR_CFG, "isr"],
  [VIRTIO_PCI_CAP_DEVICE_CFG, "device"],
  [VIRTIO_PCI_CAP_PCI_CFG, "pci_cfg"],
  [VIRTIO_PCI_CAP_SHARED_MEMORY_CFG, "shared_memory"],
  [VIRTIO_PCI_CAP_VENDOR_CFG, "vendor"],
]);

/** One virtio structure capability as the device describes it. */
export interface VirtioPciCap {
  /** Offset of the capability in config space. */
  readonly capOffset: number;
  /** `cfg_type`: which structure it points to (§4.1.4, VIRTIO_PCI_CAP_*). */
  readonly cfgType: number;
  /** `common`, `notify`, ... or `type-<n>` for unknown cfg_type values. */
  readonly typeName: string;
  /** BAR index holding the structure. */
  readonly bar: number;
  /** Shared-memory region id (§4.1.4.7); 0 otherwise. */
  readonly id: number;
  /** Offset within the BAR; 64-bit for shared memory, so a bigint. */
  readonly offset: bigint;
  /** Length of the structure; 64-bit for shared memory, so a bigint. */
  readonly length: bigint;
  /** notify only (§4.1.4.4). */
  readonly notifyOffMultiplier?: number;
  /** `cap_len`: length of the capability itself in config space. */
  readonly capLength: number;
}

/** The size of each BAR index (0..5) that exists; from sysfs `resource`. */
export type BarSizes = ReadonlyMap<number, number>;

/**
 * Reads every vendor capability as a virtio structure capability (§4.1.4) and checks it:
 * cap_len large enough, BAR index 0..5 and implemented, offset+length inside the BAR without
 * wrap-around. `bar` values 6..255 are reserved and only noted (§4.1.4: "ignore").
 */
export function parseVirtioCapabilities(
  cs: ConfigSpace,
  capabilities: readonly PciCapability[],
  barSizes: BarSizes,
): { caps: VirtioPciCap[]; findings: string[] } {
  const caps: VirtioPciCap[] = [];
  const findings: string[] = [];
  for (const cap of capabilities) {
    if (cap.id !== PCI_CAP_ID_VNDR) continue;
    const at = cap.offset;
    const where = `virtio cap at 0x${at.toString(16)}`;
    const capLength = cs.read8(at + VIRTIO_PCI_CAP.cap_len);
    if (capLength < 16 || at + 16 > cs.size) {
      findings.push(`${where}: cap_len ${capLength} below 16`);
      continue;
    }
    const cfgType = cs.read8(at + VIRTIO_PCI_CAP.cfg_type);
    const bar = cs.read8(at + VIRTIO_PCI_CAP.bar);
    let offset = BigInt(cs.read32(at + VIRTIO_PCI_CAP.offset));
    let length = BigInt(cs.read32(at + VIRTIO_PCI_CAP.length));
    let notifyOffMultiplier: number | undefined;
    if (cfgType === VIRTIO_PCI_CAP_NOTIFY_CFG) {
      if (capLength < 20) findings.push(`${where}: notify cap_len ${capLength} below 20`);
      else notifyOffMultiplier = cs.read32(at + VIRTIO_PCI_CAP.notify_off_multiplier);
    }
    if (cfgType === VIRTIO_PCI_CAP_SHARED_MEMORY_CFG) {
      // §4.1.4.7: struct virtio_pci_cap64 carries the high 32 bits of offset and length.
      if (capLength < 24) findings.push(`${where}: shared memory cap_len ${capLength} below 24`);
      else {
        offset |= BigInt(cs.read32(at + VIRTIO_PCI_CAP.offset_hi)) << 32n;
        length |= BigInt(cs.read32(at + VIRTIO_PCI_CAP.length_hi)) << 32n;
      }
    }
    const parsed: VirtioPciCap = {
      capOffset: at,
      cfgType,
      typeName: VIRTIO_CAP_TYPE_NAMES.get(cfgType) ?? `type-${cfgType}`,
      bar,
      id: cs.read8(at + VIRTIO_PCI_CAP.id),
      offset,
      length,
      capLength,
      ...(notifyOffMultiplier === undefined ? {} : { notifyOffMultiplier }),
    };
    caps.push(parsed);
    findings.push(...checkAgainstBar(parsed, barSizes));
  }
  return { caps, findings };
}

/** Bounds of one capability against its BAR (pci_cfg points at nothing, so it is exempt). */
function checkAgainstBar(cap: VirtioPciCap, barSizes: BarSizes): string[] {
  const where = `${cap.typeName} cap at 0x${cap.capOffset.toString(16)}`;
  if (cap.cfgType === VIRTIO_PCI_CAP_PCI_CFG) return [];
  if (cap.bar > 5) return [`${where}: reserved BAR index ${cap.bar} (ignored)`];
  const size = barSizes.get(cap.bar);
  if (size === undefined) return [`${where}: BAR ${cap.bar} is not implemented`];
  const end = cap.offset + cap.length;
  const limit = cap.cfgType === VIRTIO_PCI_CAP_SHARED_MEMORY_CFG ? 1n << 64n : 1n << 32n;
  if (end > limit) return [`${where}: offset+length wraps around`];
  if (end > BigInt(size)) {
    return [
      `${where}: [0x${cap.offset.toString(16)}, 0x${end.toString(16)}) outside BAR ${cap.bar} ` +
      `of 0x${size.toString(16)} bytes`,
    ];
  }
  if (cap.cfgType === VIRTIO_PCI_CAP_COMMON_CFG && cap.length < 0x38n) {
    return [`${where}: common config length 0x${cap.length.toString(16)} below 0x38`];
  }
  return [];
}

/** The first capability of a type (§4.1.4: the driver uses the first one it understands). */
export function firstCap(caps: readonly VirtioPciCap[], cfgType: number): VirtioPciCap | undefined {
  return caps.find((c) => c.cfgType === cfgType && c.bar <= 5);
}
