/**
 * Binding management for operators, what `dpdk-devbind.py` does for DPDK: the status of
 * every virtio PCI device (driver, in use and why, our claim record), and explicit
 * bind/unbind with the same in-use refusal as a takeover.
 *
 * An explicit bind is the operator's decision and outlives this process, so unlike
 * {@link DeviceClaim} it leaves no claim record (`virtio restore` would otherwise undo it).
 *
 * @module
 */
import { VirtioError } from "../errors.ts";
import { normalizePciAddress } from "../pci/address.ts";
import {
  bindDriver,
  currentDriver,
  ensureDriver,
  rebindOriginal,
  setDriverOverride,
  unbindDriver,
} from "../pci/binding.ts";
import { PciSysfs } from "../pci/sysfs.ts";
import {
  type ClaimOptions,
  type ClaimRecord,
  readClaim,
  refuseInUse,
  restoreAbandonedClaims,
} from "./claim.ts";
import { deviceUsage } from "./in_use.ts";
import { deviceTypeName, virtioIdentityFromPci } from "../virtio/device_types.ts";

/** The kernel's own driver for virtio PCI devices. */
export const VIRTIO_PCI_DRIVER = "virtio-pci";

/** Options for status, bind and unbind: claim options plus uid and --force. */
export interface DevbindOptions extends ClaimOptions {
  /** Our effective uid (tests); default Deno.uid(). */
  uid?: number;
  /** Act even when the device looks in use. */
  force?: boolean;
}

/** One virtio PCI device as `virtio status` shows it. */
export interface DeviceStatus {
  /** PCI address. */
  readonly address: string;
  /** Device type short name (net, blk ...). */
  readonly type: string;
  /** "1af4:1041". */
  readonly ids: string;
  /** From the PCI device id (§4.1.2): modern (0x1040+) or transitional (0x1000..0x103f). */
  readonly transport: "modern" | "transitional";
  /** The PCI driver bound now, null when unbound. */
  readonly driver: string | null;
  /** The virtio driver on the kernel's virtio child (virtio_net ...), null when none. */
  readonly virtioDriver: string | null;
  /** Network interfaces the kernel made of it. */
  readonly interfaces: string[];
  /** Disks the kernel made of it. */
  readonly disks: string[];
  /** True when `reasons` is not empty. */
  readonly inUse: boolean;
  /** Why it is in use (including a live claim), one line each. */
  readonly reasons: string[];
  /** Reasons no --force overrides (it carries the root filesystem). */
  readonly critical: string[];
  /** Our claim record, if any, and whether its owner still runs. */
  readonly claim: (ClaimRecord & { ownerAlive: boolean }) | null;
}

function rootOf(options: DevbindOptions): string {
  return (options.root ?? "/").replace(/\/$/, "") || "/";
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, "0");
}

/** Every virtio PCI device with its driver, use and claim, in address order. */
export function virtioStatus(options: DevbindOptions = {}): DeviceStatus[] {
  const root = rootOf(options);
  const sysfs = new PciSysfs(`${root === "/" ? "" : root}/sys`);
  const result: DeviceStatus[] = [];
  for (const address of sysfs.listFunctions()) {
    const info = sysfs.readFunction(address);
    const identity = virtioIdentityFromPci(info.vendor, info.device, info.subsystemDevice);
    if (!identity) continue;
    result.push(statusOf(address, info.vendor, info.device, identity, options));
  }
  return result;
}

function statusOf(
  address: string,
  vendor: number,
  device: number,
  identity: { type: number; idKind: "modern" | "transitional" },
  options: DevbindOptions,
): DeviceStatus {
  const usage = deviceUsage(address, {
    root: rootOf(options),
    ...(options.ipv4Addresses ? { ipv4Addresses: options.ipv4Addresses } : {}),
  });
  const claim = readClaim(address, options);
  const reasons = [...usage.reasons];
  if (claim?.ownerAlive) reasons.push(`claimed by process ${claim.record.pid}`);
  return {
    address,
    type: deviceTypeName(identity.type),
    ids: `${hex4(vendor)}:${hex4(device)}`,
    transport: identity.idKind,
    driver: usage.driver,
    virtioDriver: usage.virtio?.driver ?? null,
    interfaces: usage.interfaces,
    disks: usage.disks,
    inUse: reasons.length > 0,
    reasons,
    critical: usage.critical,
    claim: claim === null ? null : { ...claim.record, ownerAlive: claim.ownerAlive },
  };
}

/** What a bind or unbind did. */
export interface BindResult {
  /** PCI address. */
  readonly address: string;
  /** Device type short name. */
  readonly type: string;
  /** The PCI driver before (null: unbound). */
  readonly before: string | null;
  /** The PCI driver after (null: unbound). */
  readonly after: string | null;
  /** False when the device already was as asked. */
  readonly changed: boolean;
  /** The in-use reasons overridden by --force (empty when none). */
  readonly forced: string[];
}

/** Checks shared by bind and unbind: a virtio device, root, not in use (or forced). */
function prepare(text: string, verb: string, options: DevbindOptions) {
  const address = normalizePciAddress(text); // UsageError (exit 2) when malformed
  const root = rootOf(options);
  const sysfs = new PciSysfs(`${root === "/" ? "" : root}/sys`);
  if (!sysfs.exists(address)) {
    throw new VirtioError(`no PCI device ${address}`, {
      hint: "see 'virtio status' for the virtio devices of this machine",
    });
  }
  const info = sysfs.readFunction(address);
  const identity = virtioIdentityFromPci(info.vendor, info.device, info.subsystemDevice);
  if (!identity) {
    throw new VirtioError(
      `${address} is not a virtio device (ids ${hex4(info.vendor)}:${hex4(info.device)})`,
      { hint: "virtio only manages virtio devices (vendor 1af4); use dpdk-devbind or sysfs" },
    );
  }
  if ((options.uid ?? Deno.uid()) !== 0) {
    throw new VirtioError(`${verb} ${address} needs root`, { hint: "run as root (sudo)" });
  }
  const claim = readClaim(address, options);
  if (claim?.ownerAlive) {
    throw new VirtioError(`${address} is in use by virtio process ${claim.record.pid}`, {
      hint: `stop process ${claim.record.pid}; it gives the device back when it ends`,
    });
  }
  // A dead owner's claim: give the device back first, so the record cannot undo us later.
  for (const r of restoreAbandonedClaims(options, address)) {
    if (r.error !== null) throw new VirtioError(`${address}: ${r.error}`);
  }
  return { address, type: deviceTypeName(identity.type) };
}

/** The in-use refusal; returns the reasons --force overrode. */
function guard(address: string, verb: string, options: DevbindOptions): string[] {
  return refuseInUse(address, verb, options.force ?? false, options);
}

/**
 * Binds a virtio device to `driver` (vfio-pci, uio_pci_generic, virtio-pci ...). Another
 * driver stays the only one allowed (`driver_override`) until the device is bound back to
 * virtio-pci, which clears the override.
 */
export function bindDevice(text: string, driver: string, options: DevbindOptions = {}): BindResult {
  if (!/^[\w.-]+$/.test(driver)) throw new VirtioError(`bad driver name '${driver}'`);
  const { address, type } = prepare(text, "bind", options);
  const before = currentDriver(address, options);
  if (before === driver) {
    return { address, type, before, after: before, changed: false, forced: [] };
  }
  const forced = guard(address, "bind", options);
  ensureDriver(driver, driver, options);
  if (driver === VIRTIO_PCI_DRIVER) {
    unbindDriver(address, options);
    setDriverOverride(address, null, options);
    rebindOriginal(address, driver, options);
    const now = currentDriver(address, options);
    if (now !== driver) {
      throw new VirtioError(`${address}: binding to ${driver} failed (now: ${now ?? "none"})`, {
        hint: "see dmesg",
      });
    }
  } else {
    bindDriver(address, driver, options);
  }
  return { address, type, before, after: driver, changed: true, forced };
}

/** Unbinds a virtio device from its driver (it stays unbound until bound again). */
export function unbindDevice(text: string, options: DevbindOptions = {}): BindResult {
  const { address, type } = prepare(text, "unbind", options);
  const before = currentDriver(address, options);
  if (before === null) return { address, type, before, after: null, changed: false, forced: [] };
  const forced = guard(address, "unbind", options);
  unbindDriver(address, options);
  const now = currentDriver(address, options);
  if (now !== null) throw new VirtioError(`${address}: unbinding from ${before} failed`);
  return { address, type, before, after: null, changed: true, forced };
}
