/**
 * BAR regions: the {@link RegisterRegion} seam over real hardware.
 * - {@link MmioRegion}: a memory BAR mapped into our address space (sysfs `resourceN` or a
 *   VFIO device region). Every access is one load or store of the register's width.
 * - {@link PortRegion}: an I/O BAR (legacy virtio, §4.1.4.8) through pread/pwrite of 1/2/4
 *   bytes; mmap of an I/O BAR's `resourceN` fails with ENODEV.
 *
 * @module
 */

import { SystemError, VirtioError } from "../errors.ts";
import type { RegisterRegion } from "./region.ts";
import { FileDescriptor, O_RDONLY, O_RDWR, openFd } from "../sys/fd.ts";
import { mapFile, MappedMemory, PAGE_SIZE, roundUp } from "../sys/mmap.ts";
import { libc } from "../sys/libc.ts";
import { systemError } from "../sys/errno.ts";

/** Linux `IORESOURCE_*` flags as shown in sysfs `resource` (include/linux/ioport.h). */
export const IORESOURCE_IO = 0x100;
export const IORESOURCE_MEM = 0x200;
export const IORESOURCE_PREFETCH = 0x2000;
export const IORESOURCE_MEM_64 = 0x100000;

/** One line of sysfs `resource`: what BAR `index` decodes. */
export interface BarInfo {
  readonly index: number;
  readonly kind: "memory" | "io" | "absent";
  /** Bus address of the first byte. */
  readonly start: bigint;
  /** Size in bytes (0 when absent). */
  readonly size: number;
  readonly flags: number;
  readonly is64bit: boolean;
  readonly prefetchable: boolean;
}

/** Parses the text of sysfs `resource` (one `start end flags` line per resource). */
export function parseResourceFile(text: string): BarInfo[] {
  const lines = text.split("\n").filter((line) => line.trim() !== "");
  return lines.map((line, index) => {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 3) throw new Error(`sysfs resource line ${index}: "${line}"`);
    const start = BigInt(fields[0]!);
    const end = BigInt(fields[1]!);
    const flags = Number(BigInt(fields[2]!));
    const present = end > start || (start !== 0n && end === start);
    const kind = !present
      ? "absent"
      : flags & IORESOURCE_IO
      ? "io"
      : flags & IORESOURCE_MEM
      ? "memory"
      : "absent";
    return {
      index,
      kind,
      start,
      size: present ? Number(end - start + 1n) : 0,
      flags,
      is64bit: (flags & IORESOURCE_MEM_64) !== 0,
      prefetchable: (flags & IORESOURCE_PREFETCH) !== 0,
    } satisfies BarInfo;
  });
}

/** `<root>/sys/bus/pci/devices/<address>`. */
export function devicePath(pciAddress: string, sysfsRoot = "/"): string {
  return `${sysfsRoot.replace(/\/$/, "")}/sys/bus/pci/devices/${pciAddress}`;
}

/** Reads BAR `bar` of a device from sysfs `resource`. */
export function readBarInfo(pciAddress: string, bar: number, sysfsRoot = "/"): BarInfo {
  if (!Number.isInteger(bar) || bar < 0 || bar > 5) throw new RangeError(`BAR ${bar}: not 0..5`);
  const path = `${devicePath(pciAddress, sysfsRoot)}/resource`;
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (cause) {
    throw new VirtioError(`no PCI device ${pciAddress} (${path} unreadable)`, { cause });
  }
  const info = parseResourceFile(text)[bar];
  if (info === undefined) throw new VirtioError(`${pciAddress}: no resource line for BAR ${bar}`);
  return info;
}

function readOnlyError(description: string): VirtioError {
  return new VirtioError(`${description} is opened read-only: refusing to write`);
}

/**
 * A memory-mapped BAR window. Reads use `Atomics.load` (one load of the exact width that the
 * optimiser may not merge or hoist out of a polling loop); writes are single typed-array
 * stores of the exact width. Offsets must be aligned to the access width.
 */
export class MmioRegion implements RegisterRegion, Disposable {
  readonly #u8: Uint8Array;
  readonly #u16: Uint16Array;
  readonly #u32: Uint32Array;
  readonly #owner: Disposable | undefined;

  /**
   * @param buffer the CPU view of the mapping (at least `length` bytes)
   * @param owner released on dispose (the mapping, and the fd when this region owns it)
   */
  constructor(
    buffer: ArrayBuffer,
    readonly length: number,
    readonly writable: boolean,
    readonly description: string,
    owner?: Disposable,
  ) {
    if (length > buffer.byteLength) {
      throw new RangeError(`${description}: ${length} bytes over a ${buffer.byteLength}-byte map`);
    }
    this.#u8 = new Uint8Array(buffer, 0, length);
    this.#u16 = new Uint16Array(buffer, 0, length >>> 1);
    this.#u32 = new Uint32Array(buffer, 0, length >>> 2);
    this.#owner = owner;
  }

  #check(offset: number, width: number): void {
    if (!(offset >= 0 && offset + width <= this.length && (offset & (width - 1)) === 0)) {
      throw new RangeError(`${this.description}: bad ${width}-byte access at ${offset}`);
    }
  }

  read8(offset: number): number {
    this.#check(offset, 1);
    return Atomics.load(this.#u8, offset);
  }
  read16(offset: number): number {
    this.#check(offset, 2);
    return Atomics.load(this.#u16, offset >>> 1);
  }
  read32(offset: number): number {
    this.#check(offset, 4);
    return Atomics.load(this.#u32, offset >>> 2);
  }
  write8(offset: number, value: number): void {
    if (!this.writable) throw readOnlyError(this.description);
    this.#check(offset, 1);
    this.#u8[offset] = value;
  }
  write16(offset: number, value: number): void {
    if (!this.writable) throw readOnlyError(this.description);
    this.#check(offset, 2);
    this.#u16[offset >>> 1] = value;
  }
  write32(offset: number, value: number): void {
    if (!this.writable) throw readOnlyError(this.description);
    this.#check(offset, 4);
    this.#u32[offset >>> 2] = value;
  }

  [Symbol.dispose](): void {
    this.#owner?.[Symbol.dispose]();
  }
}

/**
 * Register access by pread/pwrite on a file at `base + offset`: an I/O BAR's sysfs
 * `resourceN`, or a VFIO region that cannot be mapped. One syscall per access.
 */
export class PortRegion implements RegisterRegion, Disposable {
  readonly #scratch = new Uint8Array(4);
  readonly #view = new DataView(this.#scratch.buffer);
  readonly #one = this.#scratch.subarray(0, 1);
  readonly #two = this.#scratch.subarray(0, 2);

  constructor(
    readonly file: FileDescriptor,
    readonly base: number,
    readonly length: number,
    readonly writable: boolean,
    readonly ownsFile: boolean,
  ) {}

  #transfer(
    kind: "pread" | "pwrite",
    buffer: Uint8Array<ArrayBuffer>,
    offset: number,
  ): void {
    const width = buffer.byteLength;
    if (!(offset >= 0 && offset + width <= this.length)) {
      throw new RangeError(`${this.file.path}: bad ${width}-byte access at ${offset}`);
    }
    const position = BigInt(this.base + offset);
    const n = libc()[kind](this.file.fd, buffer, BigInt(width), position);
    if (Number(n) !== width) {
      if (n < 0) throw systemError(`${kind}(${this.file.path} @ ${this.base + offset})`);
      throw new VirtioError(`${kind}(${this.file.path} @ ${this.base + offset}): ${n} of ${width}`);
    }
  }

  read8(offset: number): number {
    this.#transfer("pread", this.#one, offset);
    return this.#view.getUint8(0);
  }
  read16(offset: number): number {
    this.#transfer("pread", this.#two, offset);
    return this.#view.getUint16(0, true);
  }
  read32(offset: number): number {
    this.#transfer("pread", this.#scratch, offset);
    return this.#view.getUint32(0, true);
  }
  write8(offset: number, value: number): void {
    if (!this.writable) throw readOnlyError(this.file.path);
    this.#view.setUint8(0, value);
    this.#transfer("pwrite", this.#one, offset);
  }
  write16(offset: number, value: number): void {
    if (!this.writable) throw readOnlyError(this.file.path);
    this.#view.setUint16(0, value, true);
    this.#transfer("pwrite", this.#two, offset);
  }
  write32(offset: number, value: number): void {
    if (!this.writable) throw readOnlyError(this.file.path);
    this.#view.setUint32(0, value, true);
    this.#transfer("pwrite", this.#scratch, offset);
  }

  [Symbol.dispose](): void {
    if (this.ownsFile) this.file.close();
  }
}

/** Drivers under which user space may write to a device's BARs through sysfs. */
export const USER_SPACE_DRIVERS: readonly string[] = ["vfio-pci", "uio_pci_generic", "pci-stub"];

/** The name of the kernel driver bound to a device, or null. */
function boundDriver(pciAddress: string, sysfsRoot: string): string | null {
  try {
    const target = Deno.readLinkSync(`${devicePath(pciAddress, sysfsRoot)}/driver`);
    return target.split("/").pop() ?? null;
  } catch {
    return null;
  }
}

export interface OpenBarOptions {
  /** Map read/write. False: PROT_READ, and every write* throws (probe on kernel-owned devices). */
  writable: boolean;
  /** Root of the sysfs tree; tests point it at a fake tree. Default "/". */
  sysfsRoot?: string;
  /**
   * A kernel driver the caller knows to leave the device's registers alone (the device layer
   * knows one: virtio-pci with no virtio driver on top); writable access is allowed under it.
   */
  idleDriver?: (driver: string, pciAddress: string, sysfsRoot: string) => boolean;
}

/**
 * Opens BAR `bar` of `pciAddress` through sysfs: a memory BAR is mmapped from `resourceN`,
 * an I/O BAR is reached with pread/pwrite on `resourceN`. A writable region is refused while
 * a kernel driver (other than {@link USER_SPACE_DRIVERS} or one `idleDriver` accepts) owns the
 * device: writing behind a
 * driver's back breaks the device and perhaps the machine.
 */
export function openBarRegion(
  pciAddress: string,
  bar: number,
  options: OpenBarOptions,
): RegisterRegion & Disposable {
  const root = options.sysfsRoot ?? "/";
  const info = readBarInfo(pciAddress, bar, root);
  if (info.kind === "absent") throw new VirtioError(`${pciAddress}: BAR ${bar} is not implemented`);
  if (options.writable) {
    const driver = boundDriver(pciAddress, root);
    if (
      driver !== null && !USER_SPACE_DRIVERS.includes(driver) &&
      !(options.idleDriver?.(driver, pciAddress, root) ?? false)
    ) {
      throw new VirtioError(`${pciAddress} is driven by the kernel driver ${driver}`, {
        hint: "claim the device first (unbind it from its driver), or open it read-only",
      });
    }
  }
  const path = `${devicePath(pciAddress, root)}/resource${bar}`;
  let file: FileDescriptor;
  try {
    file = openFd(path, options.writable ? O_RDWR : O_RDONLY);
  } catch (error) {
    if (!(error instanceof SystemError) || error.code !== "ENOENT") throw error;
    throw new VirtioError(
      `${pciAddress}: sysfs has no resource${bar} file, so BAR ${bar} cannot be reached this way`,
      { hint: "this kernel does not expose BARs through sysfs; use the VFIO path", cause: error },
    );
  }
  try {
    if (info.kind === "io") return new PortRegion(file, 0, info.size, options.writable, true);
    let mapping: MappedMemory;
    try {
      mapping = mapFile(file, roundUp(info.size, PAGE_SIZE), { writable: options.writable });
    } catch (error) {
      const driver = boundDriver(pciAddress, root);
      if (!(error instanceof SystemError) || error.code !== "EINVAL" || driver === null) {
        throw error;
      }
      // pci_mmap_resource refuses regions a driver holds busy (CONFIG_IO_STRICT_DEVMEM).
      throw new VirtioError(
        `${pciAddress}: the kernel refuses to map BAR ${bar} while ${driver} owns the device`,
        {
          hint: "read what the driver exposes in sysfs instead, or claim the device",
          cause: error,
        },
      );
    }
    const owner: Disposable = {
      [Symbol.dispose]() {
        mapping.unmap();
        file.close();
      },
    };
    return new MmioRegion(mapping.buffer, info.size, options.writable, path, owner);
  } catch (error) {
    file.close();
    throw error;
  }
}
