/**
 * Driver binding through sysfs, the mechanism: who drives a PCI function, binding it to a
 * driver (`driver_override` + `unbind` + `drivers_probe`) or leaving it unbound, loading a
 * driver's module, and the PCI command register through `config`. The policy — whether a
 * device may be taken, and the claims that always give it back — is in lib/device/claim.ts.
 *
 * Every path is under a root directory (default "/") and every sysfs write goes through one
 * injectable function, so tests run the logic against a fake tree and a fake kernel.
 *
 * @module
 */

import { VirtioError } from "../errors.ts";
import { O_RDWR, openFd } from "../sys/fd.ts";
import { exists, linkName } from "../sys/files.ts";
import { isCanonicalPciAddress } from "./address.ts";
import { PCI_COMMAND } from "./capabilities.ts";

/** Writes one sysfs attribute (one write call); tests inject a fake kernel here. */
export type SysfsWriter = (path: string, text: string) => void;

/** Where sysfs lives and how attributes are written (both replaceable for tests). */
export interface SysfsOptions {
  /** Root of the tree holding `sys/`, `proc/` and `run/`. Default "/". */
  root?: string;
  /** Writes an attribute; a real write to the file by default. */
  write?: SysfsWriter;
}

const realWrite: SysfsWriter = (path, text) => {
  try {
    Deno.writeTextFileSync(path, text);
  } catch (cause) {
    throw new VirtioError(`writing "${text.trim()}" to ${path} failed: ${cause}`, { cause });
  }
};

/** Paths under the root, and the attribute writer. */
export class Sysfs {
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
    if (!isCanonicalPciAddress(address)) throw new VirtioError(`bad PCI address "${address}"`);
    return this.path(`sys/bus/pci/devices/${address}${attribute === "" ? "" : "/" + attribute}`);
  }
}

/** The driver bound to `address` (the `driver` symlink's name), or null when unbound. */
export function currentDriver(address: string, options?: SysfsOptions): string | null {
  return linkName(new Sysfs(options).device(address, "driver")) ?? null;
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
  const modprobe = MODPROBE_PATHS.find((p) => exists(p));
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
