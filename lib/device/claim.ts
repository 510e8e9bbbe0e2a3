/**
 * Taking a device over for a user-space driver and always giving it back. A
 * {@link DeviceClaim} refuses a device this machine uses ({@link refuseInUse}, the policy in
 * `in_use.ts`), records the original driver on disk *before* unbinding, so `virtio restore`
 * ({@link restoreAbandonedClaims}) can give devices back after a SIGKILL. The sysfs binding
 * mechanism it drives is lib/pci/binding.ts.
 *
 * @module
 */

import { RefusedError, VirtioError } from "../errors.ts";
import { isCanonicalPciAddress } from "../pci/address.ts";
import {
  bindDriver,
  currentDriver,
  ensureDriver,
  leaveUnbound,
  readCommand,
  rebindOriginal,
  setDriverOverride,
  Sysfs,
  type SysfsOptions,
  unbindDriver,
  writeCommand,
} from "../pci/binding.ts";
import { PCI_COMMAND_MASTER } from "../pci/capabilities.ts";
import { exists, listDir, readFile } from "../sys/files.ts";
import { deviceUsage, type InUseOptions } from "./in_use.ts";

/**
 * Why taking `address` over would break this machine, one line per reason; empty when the
 * device can be taken. `critical` holds the reasons no force may override (the root
 * filesystem). The policy is in {@link deviceUsage} (`in_use.ts`).
 */
export function checkInUse(
  address: string,
  options: ClaimOptions = {},
): { reasons: string[]; critical: string[] } {
  const sysfs = new Sysfs(options);
  sysfs.device(address); // validates the address
  const { reasons, critical } = deviceUsage(address, {
    root: sysfs.root === "" ? "/" : sysfs.root,
    ...(options.ipv4Addresses ? { ipv4Addresses: options.ipv4Addresses } : {}),
  });
  return { reasons, critical };
}

/**
 * Throws the refusal when `address` is in use and `force` is not set, and always when it
 * carries the root filesystem. Returns the reasons `force` overrode.
 */
export function refuseInUse(
  address: string,
  verb: string,
  force: boolean,
  options: ClaimOptions = {},
): string[] {
  const { reasons, critical } = checkInUse(address, options);
  if (critical.length > 0) {
    throw new RefusedError(`refusing to ${verb} ${address}: ${critical.join("; ")}`, {
      hint: "this machine runs on it; no option overrides this",
    });
  }
  if (reasons.length > 0 && !force) {
    throw new RefusedError(`refusing to ${verb} ${address}: ${reasons.join("; ")}`, {
      hint: "stop using it first (unmount, ip link set DEV down ...), or --force",
    });
  }
  return reasons;
}

/** What is on disk while we hold a device: enough to give it back without us. */
export interface ClaimRecord {
  /** Record format version. */
  readonly version: 1;
  /** PCI address of the claimed function. */
  readonly address: string;
  /** The driver to give the device back to (null: it was unbound). */
  readonly originalDriver: string | null;
  /** The driver we bound it to; null: left unbound (sysfs BAR access, no-IOMMU DMA). */
  readonly driver: string | null;
  /** Process id of the claiming process. */
  readonly pid: number;
  /** Field 22 of /proc/<pid>/stat: tells a live owner from a reused pid. */
  readonly startTime: string | null;
  /** The PCI command register before we set bus mastering (null: not touched). */
  originalCommand: number | null;
  /** When the claim was made (ISO 8601). */
  readonly createdAt: string;
}

const CLAIMS_DIR = "run/virtio-toolkit/claims";

function processStartTime(sysfs: Sysfs, pid: number): string | null {
  const stat = readFile(sysfs.path(`proc/${pid}/stat`));
  if (stat === undefined) return null;
  // Fields after the command name, which is in parentheses and may contain spaces.
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
}

function ownerAlive(sysfs: Sysfs, record: ClaimRecord): boolean {
  if (!exists(sysfs.path(`proc/${record.pid}`))) return false;
  const now = processStartTime(sysfs, record.pid);
  return record.startTime === null || now === null || now === record.startTime;
}

function recordPath(sysfs: Sysfs, address: string): string {
  return sysfs.path(`${CLAIMS_DIR}/${address}.json`);
}

function readRecord(path: string): ClaimRecord | null {
  const text = readFile(path);
  if (text === undefined) return null;
  const record = JSON.parse(text) as ClaimRecord;
  if (record.version !== 1 || !isCanonicalPciAddress(record.address)) {
    throw new VirtioError(`${path}: not a claim record`);
  }
  return record;
}

function writeRecord(sysfs: Sysfs, record: ClaimRecord): void {
  Deno.mkdirSync(sysfs.path(CLAIMS_DIR), { recursive: true });
  const path = recordPath(sysfs, record.address);
  Deno.writeTextFileSync(`${path}.tmp`, JSON.stringify(record, null, 2) + "\n");
  Deno.renameSync(`${path}.tmp`, path);
}

/**
 * Writes a claim record where a claim would leave it (below `options.root`): for tools and
 * tests that must set up the state a crashed run leaves behind.
 */
export function writeClaimRecord(record: ClaimRecord, options: SysfsOptions = {}): void {
  writeRecord(new Sysfs(options), record);
}

/** Gives a device back as its record says: command register, override, original driver. */
function giveBack(sysfs: Sysfs, record: ClaimRecord, options: SysfsOptions): void {
  const { address } = record;
  if (!exists(sysfs.device(address))) {
    // Hot-unplugged while held: there is nothing left to give back, and a record kept for
    // it would make every later restore fail. The kernel re-probes it if it comes back.
    removeRecord(sysfs, address);
    return;
  }
  if (record.originalCommand !== null && exists(sysfs.device(address, "config"))) {
    writeCommand(address, record.originalCommand, options);
  }
  // Only a device still as we left it (on our driver, or unbound) is moved: one already
  // back on its driver, or bound elsewhere by someone since, is left alone.
  const now = currentDriver(address, options);
  if (record.originalDriver !== record.driver && (now === record.driver || now === null)) {
    if (now !== null) unbindDriver(address, options);
    setDriverOverride(address, null, options);
    if (record.originalDriver !== null) rebindOriginal(address, record.originalDriver, options);
  }
  removeRecord(sysfs, address);
}

function removeRecord(sysfs: Sysfs, address: string): void {
  try {
    Deno.removeSync(recordPath(sysfs, address));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/** How to take a device over: sysfs root and writer, in-use check, driver module. */
export interface ClaimOptions extends SysfsOptions {
  /** IPv4 addresses per interface for the in-use check (tests); see {@link InUseOptions}. */
  ipv4Addresses?: InUseOptions["ipv4Addresses"];
  /** Take the device even when {@link checkInUse} objects. Never on a machine you need. */
  allowInUse?: boolean;
  /** Kernel module providing `driver`, loaded when the driver is missing. Default: driver. */
  module?: string;
}

/**
 * A device taken over for user space: bound to `driver` (vfio-pci, uio_pci_generic ...), or
 * with `driver` null left unbound for sysfs BAR access. Dispose (or {@link release}) gives it back to its original driver.
 */
export class DeviceClaim implements Disposable {
  #record: ClaimRecord | null;

  private constructor(record: ClaimRecord, private readonly options: SysfsOptions) {
    this.#record = record;
  }

  /** PCI address of the claimed function (throws once released). */
  get address(): string {
    return this.#current().address;
  }
  /** The driver the device is bound to now; null: unbound (throws once released). */
  get driver(): string | null {
    return this.#current().driver;
  }
  /** The driver it goes back to; null: it was unbound (throws once released). */
  get originalDriver(): string | null {
    return this.#current().originalDriver;
  }
  /** True once the device has been given back. */
  get released(): boolean {
    return this.#record === null;
  }

  #current(): ClaimRecord {
    if (this.#record === null) throw new VirtioError("device claim already released");
    return this.#record;
  }

  /**
   * Binds `address` to `driver`. Refuses devices this machine depends on and devices another
   * live process has claimed. The record is on disk before anything changes.
   */
  static claim(address: string, driver: string | null, options: ClaimOptions = {}): DeviceClaim {
    const sysfs = new Sysfs(options);
    if (!exists(sysfs.device(address))) throw new VirtioError(`no PCI device ${address}`);
    refuseInUse(address, "take over", options.allowInUse ?? false, options);
    const existing = readRecord(recordPath(sysfs, address));
    if (existing !== null) {
      if (ownerAlive(sysfs, existing)) {
        throw new VirtioError(`${address} is already claimed by process ${existing.pid}`);
      }
      giveBack(sysfs, existing, options);
    }
    const originalDriver = currentDriver(address, options);
    if (driver !== null && originalDriver !== driver) {
      ensureDriver(driver, options.module ?? driver, options);
    }
    const record: ClaimRecord = {
      version: 1,
      address,
      originalDriver,
      driver,
      pid: Deno.pid,
      startTime: processStartTime(sysfs, Deno.pid),
      originalCommand: null,
      createdAt: new Date().toISOString(),
    };
    writeRecord(sysfs, record);
    const claim = new DeviceClaim(record, options);
    if (originalDriver !== driver) {
      try {
        if (driver === null) leaveUnbound(address, options);
        else bindDriver(address, driver, options);
      } catch (error) {
        claim.release();
        throw error;
      }
    }
    return claim;
  }

  /** Sets PCI bus mastering (needed before DMA), remembering the old command value. */
  enableBusMaster(): void {
    const record = this.#current();
    const command = readCommand(record.address, this.options);
    if (record.originalCommand === null) {
      record.originalCommand = command;
      writeRecord(new Sysfs(this.options), record);
    }
    if ((command & PCI_COMMAND_MASTER) === 0) {
      writeCommand(record.address, command | PCI_COMMAND_MASTER, this.options);
    }
  }

  /** Gives the device back: command register, driver_override, original driver. */
  release(): void {
    const record = this.#record;
    if (record === null) return;
    this.#record = null;
    giveBack(new Sysfs(this.options), record, this.options);
  }

  /** Gives the device back (same as `release`). */
  [Symbol.dispose](): void {
    this.release();
  }
}

/** The claim record on disk for `address`, and whether its owner still lives; null: none. */
export function readClaim(
  address: string,
  options: SysfsOptions = {},
): { record: ClaimRecord; ownerAlive: boolean } | null {
  const sysfs = new Sysfs(options);
  const record = readRecord(recordPath(sysfs, address));
  return record === null ? null : { record, ownerAlive: ownerAlive(sysfs, record) };
}

/** What {@link restoreAbandonedClaims} did for one record. */
export interface RestoredClaim {
  /** PCI address of the function. */
  readonly address: string;
  /** The driver it was given back to (null: left unbound). */
  readonly originalDriver: string | null;
  /** Process id of the claim's (gone) owner. */
  readonly pid: number;
  /** Null when restored; the failure otherwise. */
  readonly error: string | null;
}

/**
 * Gives back every device whose claiming process is gone (`virtio restore`), or only
 * `only` (an address) when given.
 */
export function restoreAbandonedClaims(
  options: SysfsOptions = {},
  only?: string,
): RestoredClaim[] {
  const sysfs = new Sysfs(options);
  const results: RestoredClaim[] = [];
  for (const name of listDir(sysfs.path(CLAIMS_DIR))) {
    if (!name.endsWith(".json")) continue;
    if (only !== undefined && name !== `${only}.json`) continue;
    const record = readRecord(sysfs.path(`${CLAIMS_DIR}/${name}`));
    if (record === null || ownerAlive(sysfs, record)) continue;
    let error: string | null = null;
    try {
      giveBack(sysfs, record, options);
    } catch (cause) {
      error = cause instanceof Error ? cause.message : String(cause);
    }
    const { address, originalDriver, pid } = record;
    results.push({ address, originalDriver, pid, error });
  }
  return results;
}
