/**
 * The PCI capability list (PCI Local Bus 3.0 §6.7) and the extended list (PCIe §7.6), walked
 * with a step budget so a looping or corrupt list ends with a finding instead of a hang.
 *
 * @module
 */
import type { ConfigSpace } from "./config_space.ts";

export const PCI_STATUS = 0x06;
export const PCI_STATUS_CAP_LIST = 0x10;
export const PCI_CAPABILITY_LIST = 0x34;
/** PCI command register (PCI 3.0 §6.2.2) and its bus-master enable bit. */
export const PCI_COMMAND = 0x04;
export const PCI_COMMAND_MASTER = 0x4;
export const PCI_HEADER_TYPE = 0x0e;

export const PCI_CAP_ID_PM = 0x01;
export const PCI_CAP_ID_MSI = 0x05;
export const PCI_CAP_ID_VNDR = 0x09;
export const PCI_CAP_ID_EXP = 0x10;
export const PCI_CAP_ID_MSIX = 0x11;

const CAP_NAMES: ReadonlyMap<number, string> = new Map([
  [0x01, "Power Management"],
  [0x05, "MSI"],
  [0x09, "Vendor Specific"],
  [0x10, "PCI Express"],
  [0x11, "MSI-X"],
  [0x12, "SATA"],
  [0x13, "PCI Advanced Features"],
]);

/** One entry of the standard capability list. */
export interface PciCapability {
  /** Offset of the capability in config space. */
  readonly offset: number;
  /** Capability id (PCI 3.0 §6.7). */
  readonly id: number;
  /** Human-readable name of the capability id. */
  readonly name: string;
}

/** An MSI-X capability decoded (PCI 3.0 §6.8.2). */
export interface MsixInfo {
  readonly offset: number;
  /** Number of table entries (Table Size field + 1). */
  readonly tableSize: number;
  readonly enabled: boolean;
  readonly functionMasked: boolean;
  readonly tableBar: number;
  readonly tableOffset: number;
  readonly pbaBar: number;
  readonly pbaOffset: number;
}

export interface CapabilityWalk {
  readonly capabilities: PciCapability[];
  /** Problems seen while walking (loops, pointers outside config space ...). */
  readonly findings: string[];
}

/** Longest possible list: 48 dword-aligned slots in 0x40..0xff. */
const STEP_BUDGET = 48;

/** Walks the standard capability list from 0x34. */
export function walkCapabilities(cs: ConfigSpace): CapabilityWalk {
  const capabilities: PciCapability[] = [];
  const findings: string[] = [];
  if (cs.size < 0x40) return { capabilities, findings: ["config header incomplete"] };
  if ((cs.read16(PCI_STATUS) & PCI_STATUS_CAP_LIST) === 0) return { capabilities, findings };
  if (cs.size < 0x100) {
    return {
      capabilities,
      findings: [`only ${cs.size} bytes of config space readable (not root?)`],
    };
  }
  const seen = new Set<number>();
  let pointer = cs.read8(PCI_CAPABILITY_LIST) & 0xfc;
  for (let step = 0; pointer !== 0; step++) {
    if (step >= STEP_BUDGET) {
      findings.push(`capability list longer than ${STEP_BUDGET} entries: stopped`);
      break;
    }
    if (pointer < 0x40 || pointer > 0xfe) {
      findings.push(`capability pointer 0x${pointer.toString(16)} outside 0x40..0xff`);
      break;
    }
    if (seen.has(pointer)) {
      findings.push(`capability list loops back to 0x${pointer.toString(16)}`);
      break;
    }
    seen.add(pointer);
    const id = cs.read8(pointer);
    capabilities.push({
      offset: pointer,
      id,
      name: CAP_NAMES.get(id) ?? `id 0x${id.toString(16)}`,
    });
    pointer = cs.read8(pointer + 1) & 0xfc;
  }
  return { capabilities, findings };
}

/** Decodes the MSI-X capability at `offset`. */
export function readMsix(cs: ConfigSpace, offset: number): MsixInfo {
  const control = cs.read16(offset + 2);
  const table = cs.read32(offset + 4);
  const pba = cs.read32(offset + 8);
  return {
    offset,
    tableSize: (control & 0x7ff) + 1,
    enabled: (control & 0x8000) !== 0,
    functionMasked: (control & 0x4000) !== 0,
    tableBar: table & 7,
    tableOffset: (table & ~7) >>> 0,
    pbaBar: pba & 7,
    pbaOffset: (pba & ~7) >>> 0,
  };
}
