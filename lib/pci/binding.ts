/**
 * Driver binding through sysfs: who drives a device, taking it over for a user-space driver
 * (`driver_override` + `unbind` + `drivers_probe`), and giving it back. A
 * {@link DeviceClaim} records the original driver on disk *before* unbinding, so
 * `virtio restore` ({@link restoreAbandonedClaims}) can give devices back after a SIGKILL.
 *
 * Every path is under a root directory (default "/") and every sysfs write goes through one
 * injectable function, so tests run the logic against a fake tree and a fake kernel.
 *
 * @module
 */

import { RefusedError, VirtioError } from "../errors.ts";
import { O_RDWR, openFd } from "../sys/fd.ts";
import { deviceUsage, type InUseOptions } from "./in_use.ts";

/** Writes one sysfs attribute (one write call); tests inject a fake kernel here. */
export type SysfsWriter = (path: string, text: string) => void;

/** Where sysfs lives and how attributes are written (both replaceable for tests). */
export interface SysfsOptions {
  /** Root of the tree holding `sys/`, `proc/` and `run/`. Default "/". */
  root?: string;
  /** Writes an attribute; a real write to the file by default. */
  write?: SysfsWriter;
}

const PCI_ADDRESS = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;

/** PCI command register (PCI 3.0 §6.2.2) and its bus-master enable bit. */
export const PCI_COMMAND = 0x04;
export const PCI_COMMAND_MASTER = 0x4;

const realWrite: SysfsWriter = (path, text) => {
  try {
    Deno.writeTextFileSync(path, text);
  } catch (cause) {
    throw new VirtioError(`writing "${text.trim()}" to ${path} failed: ${cause}`, { cause });
  }
};

class Sysfs {
  readonly root: string;
  readonly write: SysfsWriter;
  constructor(options: SysfsOptions = {}) {
    this.root = (options.root ?? "/").replace(/\/$/, "");
    this.write = options.write ?? realWrite;
  }
  path(relative: string): string {
    return `${this.root}/${relative}`;
  }
  device(address: string, attribute = ""): string {
    if (!PCI_ADDRESS.test(address)) throw new VirtioError(`bad PCI address "${address}"`);
    return this.path(`sys/bus/pci/devices/${address}${attribute === "" ? "" : "/" + attribute}`);
  }
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function readText(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return null;
  }
}

/** The driver bound to `address` (the `driver` symlink's name), or null when unbound. */
export function currentDriver(address: string, options?: SysfsOptions): string | null {
  const link = new Sysfs(options).device(address, "driver");
  try {
    return Deno.readLinkSync(link).split("/").pop() ?? null;
  } catch {
    return null;
  }
}

/** Unbinds `address` from its driver; nothing to do when unbound. */
export function unbindDriver(address: string, options?: SysfsOptions): void {
  const sysfs = new Sysfs(options);
  if (currentDriver(address, options) === null) return;
  sysfs.write(sysfs.device(address, "driver/unbind"), address);
}

/** Sets (or with null clears) `driver_override`: the only driver allowed to bind. */
export function setDriverOverride(
  address: string,
  driver: string | null,
  options?: SysfsOptions,
): void {
  const sysfs = new Sysfs(options);
  sysfs.write(sysfs.device(address, "driver_override"), driver === null ? "\n" : driver);
}

/** Binds `address` to `driver`: override, unbind, `drivers_probe`, then checks the result. */
export function bindDriver(address: string, driver: string, options?: SysfsOptions): void {
  const sysfs = new Sysfs(options);
  setDriverOverride(address, driver, options);
  unbindDriver(address, options);
  sysfs.write(sysfs.path("sys/bus/pci/drivers_probe"), address);
  const now = currentDriver(address, options);
  if (now !== driver) {
    throw new VirtioError(`${address}: binding to ${driver} failed (now: ${now ?? "no driver"})`, {
      hint: `is the ${driver} module loaded? see dmesg`,
    });
  }
}

/**
 * Unbinds `address` and keeps every driver off it: `driver_override` names a driver that
 * does not exist, so neither `drivers_probe` nor a module load binds it again.
 */
export function leaveUnbound(address: string, options?: SysfsOptions): void {
  setDriverOverride(address, NO_DRIVER, options);
  unbindDriver(address, options);
  const now = currentDriver(address, options);
  if (now !== null) throw new VirtioError(`${address}: unbinding from ${now} failed`);
}

/** A driver name no driver has, for `driver_override` (Documentation/ABI sysfs-bus-pci). */
export const NO_DRIVER = "none";

/** Binds an unbound device back to `driver` by its `bind` file (after clearing the override). */
export function rebindOriginal(address: string, driver: string, options?: SysfsOptions): void {
  const sysfs = new Sysfs(options);
  sysfs.write(sysfs.path(`sys/bus/pci/drivers/${driver}/bind`), address);
  if (currentDriver(address, options) !== driver) {
    sysfs.write(sysfs.path("sys/bus/pci/drivers_probe"), address);
  }
}

const MODPROBE_PATHS = [
  "/sbin/modprobe",
  "/usr/sbin/modprobe",
  "/bin/modprobe",
  "/usr/bin/modprobe",
];

/** Loads kernel module `name` with modprobe; a clear error when there is no modprobe. */
export function loadModule(name: string): void {
  const modprobe = MODPROBE_PATHS.find(exists);
  if (modprobe === undefined) {
    throw new VirtioError(`cannot load kernel module ${name}: no modprobe on this system`, {
      hint: `load it by other means first (e.g. busybox insmod of ${name}.ko)`,
    });
  }
  const result = new Deno.Command(modprobe, { args: [name], stderr: "piped" }).outputSync();
  if (!result.success) {
    const message = new TextDecoder().decode(result.stderr).trim();
    throw new VirtioError(`modprobe ${name} failed: ${message}`);
  }
}

/** Makes sure PCI driver `driver` is registered, loading module `module` when it is not. */
export function ensureDriver(driver: string, module = driver, options?: SysfsOptions): void {
  const sysfs = new Sysfs(options);
  if (exists(sysfs.path(`sys/bus/pci/drivers/${driver}`))) return;
  loadModule(module);
  if (!exists(sysfs.path(`sys/bus/pci/drivers/${driver}`))) {
    throw new VirtioError(`module ${module} loaded but PCI driver ${driver} did not appear`);
  }
}

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

/** {@link checkInUse}'s reasons only. */
export function deviceInUse(address: string, options: ClaimOptions = {}): string[] {
  return checkInUse(address, options).reasons;
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

function safeReadDir(path: string): string[] {
  try {
    return [...Deno.readDirSync(path)].map((entry) => entry.name);
  } catch {
    return [];
  }
}

/** Reads the PCI command register through sysfs `config`. */
export function readCommand(address: string, options?: SysfsOptions): number {
  const sysfs = new Sysfs(options);
  using config = openFd(sysfs.device(address, "config"), O_RDWR);
  const bytes = new Uint8Array(2);
  config.preadExact(bytes, PCI_COMMAND);
  return bytes[0]! | bytes[1]! << 8;
}

/** Writes the PCI command register through sysfs `config` (2 bytes at 0x04). */
export function writeCommand(address: string, value: number, options?: SysfsOptions): void {
  const sysfs = new Sysfs(options);
  using config = openFd(sysfs.device(address, "config"), O_RDWR);
  config.pwriteExact(new Uint8Array([value & 0xff, (value >> 8) & 0xff]), PCI_COMMAND);
}

// ---- Claims: taking a device over and always giving it back -----------------------------

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
  const stat = readText(sysfs.path(`proc/${pid}/stat`));
  if (stat === null) return null;
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
  const text = readText(path);
  if (text === null) return null;
  const record = JSON.parse(text) as ClaimRecord;
  if (record.version !== 1 || !PCI_ADDRESS.test(record.address)) {
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
  /** Take the device even when {@link deviceInUse} objects. Never on a machine you need. */
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
  for (const name of safeReadDir(sysfs.path(CLAIMS_DIR)).sort()) {
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
