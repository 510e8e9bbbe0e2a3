/**
 * A read-only {@link ConfigSpace} over the sysfs `config` file of a PCI function. The whole
 * file is read once: reading config space has no side effects, and a snapshot keeps every
 * later decode consistent. The kernel gives 64 bytes to non-root users, 256 or 4096 to root.
 *
 * @module
 */
import type { ConfigSpace } from "./config_space.ts";
import { VirtioError } from "../errors.ts";
import { type FileDescriptor, O_RDWR, openFd } from "../sys/fd.ts";

/** Config-space bytes held in memory; writes throw (this view is for looking only). */
export class ConfigSpaceSnapshot implements ConfigSpace {
  readonly #view: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  get size(): number {
    return this.bytes.length;
  }
  /** False when only the 64-byte header is visible (not root). */
  get complete(): boolean {
    return this.bytes.length >= 256;
  }
  read8(offset: number): number {
    this.#check(offset, 1);
    return this.#view.getUint8(offset);
  }
  read16(offset: number): number {
    this.#check(offset, 2);
    return this.#view.getUint16(offset, true);
  }
  read32(offset: number): number {
    this.#check(offset, 4);
    return this.#view.getUint32(offset, true);
  }
  write8(offset: number): void {
    this.#readOnly(offset);
  }
  write16(offset: number): void {
    this.#readOnly(offset);
  }
  write32(offset: number): void {
    this.#readOnly(offset);
  }
  #check(offset: number, n: number): void {
    if (!Number.isInteger(offset) || offset < 0 || offset + n > this.bytes.length) {
      throw new RangeError(`config read at ${offset}+${n} outside ${this.bytes.length} bytes`);
    }
  }
  #readOnly(offset: number): never {
    throw new Error(`config space snapshot is read-only (write at 0x${offset.toString(16)})`);
  }
}

/** Reads `<deviceDir>/config` once. Throws VirtioError when it cannot be read. */
export function readSysfsConfigSpace(deviceDir: string): ConfigSpaceSnapshot {
  const path = `${deviceDir}/config`;
  try {
    return new ConfigSpaceSnapshot(Deno.readFileSync(path));
  } catch (e) {
    if (e instanceof Deno.errors.PermissionDenied) {
      throw new VirtioError(`cannot read ${path}: permission denied`, {
        hint: "run as root to see the capability list",
      });
    }
    throw new VirtioError(`cannot read ${path}: ${e instanceof Error ? e.message : e}`, {
      cause: e,
    });
  }
}

/**
 * Live read-write access to `<deviceDir>/config` (pread/pwrite of exactly the field's bytes).
 * For the PCI configuration access window (lib/pci/cfg_window.ts) and bus-master writes on a
 * device we took over; never opened by read-only probing. Needs root.
 */
export class SysfsConfigFile implements ConfigSpace, Disposable {
  readonly #fd: FileDescriptor;
  readonly #buf = new Uint8Array(4);
  readonly #view = new DataView(this.#buf.buffer);
  readonly size: number;

  constructor(deviceDir: string) {
    const path = `${deviceDir}/config`;
    this.size = Deno.statSync(path).size;
    this.#fd = openFd(path, O_RDWR);
  }
  #read(o: number, n: 1 | 2 | 4): DataView {
    this.#check(o, n);
    this.#fd.preadExact(this.#buf.subarray(0, n), o);
    return this.#view;
  }
  #write(o: number, n: 1 | 2 | 4): void {
    this.#check(o, n);
    this.#fd.pwriteExact(this.#buf.subarray(0, n), o);
  }
  #check(o: number, n: number): void {
    if (!Number.isInteger(o) || o < 0 || o + n > this.size) {
      throw new RangeError(`config access at ${o}+${n} outside ${this.size} bytes`);
    }
  }
  read8(o: number): number {
    return this.#read(o, 1).getUint8(0);
  }
  read16(o: number): number {
    return this.#read(o, 2).getUint16(0, true);
  }
  read32(o: number): number {
    return this.#read(o, 4).getUint32(0, true);
  }
  write8(o: number, v: number): void {
    this.#view.setUint8(0, v);
    this.#write(o, 1);
  }
  write16(o: number, v: number): void {
    this.#view.setUint16(0, v, true);
    this.#write(o, 2);
  }
  write32(o: number, v: number): void {
    this.#view.setUint32(0, v, true);
    this.#write(o, 4);
  }
  [Symbol.dispose](): void {
    this.#fd[Symbol.dispose]();
  }
}
