/**
 * `diagnose`: the passive checks on every virtio PCI device (or the ones named), and with
 * `active` the takeover checks, collected into one {@link DiagReport}.
 *
 * @module
 */
import { normalizePciAddress } from "../pci/address.ts";
import { PciSysfs } from "../pci/sysfs.ts";
import { virtioIdentityFromPci } from "../virtio/device_types.ts";
import { activeChecks, type ActiveOptions } from "./active.ts";
import { type GatherOptions, gatherPassiveInput, passiveChecks } from "./passive.ts";
import {
  check,
  type CheckResult,
  type DeviceDiagnosis,
  type DiagReport,
  makeReport,
  verdictOf,
} from "./report.ts";

/** What {@link diagnose} checks and how. */
export interface DiagOptions extends GatherOptions, ActiveOptions {
  /** PCI addresses to check; default every virtio PCI function. */
  readonly addresses?: readonly string[];
  /** Run the active checks (takes each device over, then gives it back). */
  readonly active?: boolean;
  /** Called with each device's result as soon as it is known (for `--jsonl` streaming). */
  readonly onDevice?: (d: DeviceDiagnosis) => void;
}

/** Every virtio PCI function, sorted by address. */
export function listVirtioFunctions(sysfsRoot?: string): string[] {
  const sysfs = new PciSysfs(sysfsRoot);
  return sysfs.listFunctions().filter((a) => {
    const info = sysfs.readFunction(a);
    return virtioIdentityFromPci(info.vendor, info.device, info.subsystemDevice) !== undefined;
  });
}

/** Diagnoses one device: passive checks, then (with `active`) the takeover checks. */
export async function diagnoseDevice(
  address: string,
  options: DiagOptions = {},
): Promise<DeviceDiagnosis> {
  let input;
  try {
    input = gatherPassiveInput(address, options);
  } catch (e) {
    const checks = [check.fail("probe", e instanceof Error ? e.message : String(e))];
    return { address, type: "unknown", kind: "modern", verdict: "fail", checks };
  }
  const { report } = input;
  const checks: CheckResult[] = passiveChecks(input);
  if (options.active) checks.push(...await activeChecks(report.address, report.type.id, options));
  return {
    address: report.address,
    type: report.type.name,
    kind: report.kind,
    ...(report.driver ? { driver: report.driver } : {}),
    verdict: verdictOf(checks),
    checks,
  };
}

/** Diagnoses every device asked for, one after the other (active checks must not overlap). */
export async function diagnose(options: DiagOptions = {}): Promise<DiagReport> {
  const addresses = options.addresses?.map(normalizePciAddress) ??
    listVirtioFunctions(options.sysfsRoot);
  const devices: DeviceDiagnosis[] = [];
  for (const address of addresses) {
    // A device named as the self-test peer is driven by that test, not diagnosed itself.
    if (options.active && options.peer && normalizePciAddress(options.peer) === address) continue;
    const d = await diagnoseDevice(address, options);
    options.onDevice?.(d);
    devices.push(d);
  }
  return makeReport(devices, options.active ?? false);
}
