/**
 * File descriptors from libc `open`, for the files Deno's own API cannot serve: sysfs
 * `resourceN` and `config` (positioned 1/2/4-byte reads and writes), `/dev/vfio/*`
 * (ioctls), `/proc/self/pagemap`. Always released: `using fd = openFd(...)`.
 *
 * @module
 */

import { checked, systemError } from "./errno.ts";
import { cString, libc } from "./libc.ts";

/** open(2) flags (x86_64). */
export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_CLOEXEC = 0o2000000;

/** An open file descriptor; closed once by `close()` or disposal. */
export class FileDescriptor implements Disposable {
  #fd: number;

  constructor(fd: number, readonly path: string) {
    this.#fd = fd;
  }

  /** The descriptor number; throws once closed. */
  get fd(): number {
    if (this.#fd < 0) throw new Error(`${this.path}: file descriptor already closed`);
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  /** pread(2) into `buffer` at file `offset`; returns the number of bytes read. */
  pread(buffer: Uint8Array<ArrayBuffer>, offset: number | bigint): number {
    const n = libc().pread(this.fd, buffer, BigInt(buffer.byteLength), BigInt(offset));
    if (n < 0) throw systemError(`pread(${this.path} @ ${offset})`);
    return Number(n);
  }

  /** pwrite(2) from `buffer` at file `offset`; returns the number of bytes written. */
  pwrite(buffer: Uint8Array<ArrayBuffer>, offset: number | bigint): number {
    const n = libc().pwrite(this.fd, buffer, BigInt(buffer.byteLength), BigInt(offset));
    if (n < 0) throw systemError(`pwrite(${this.path} @ ${offset})`);
    return Number(n);
  }

  /** Reads exactly `buffer.byteLength` bytes at `offset` or throws. */
  preadExact(buffer: Uint8Array<ArrayBuffer>, offset: number | bigint): void {
    const n = this.pread(buffer, offset);
    if (n !== buffer.byteLength) {
      throw new Error(`pread(${this.path} @ ${offset}): short read, ${n} of ${buffer.byteLength}`);
    }
  }

  /** Writes exactly `buffer.byteLength` bytes at `offset` or throws. */
  pwriteExact(buffer: Uint8Array<ArrayBuffer>, offset: number | bigint): void {
    const n = this.pwrite(buffer, offset);
    if (n !== buffer.byteLength) {
      throw new Error(
        `pwrite(${this.path} @ ${offset}): short write, ${n} of ${buffer.byteLength}`,
      );
    }
  }

  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    checked(libc().close(fd), `close(${this.path})`);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Opens `path` with open(2) `flags` (O_CLOEXEC is always added). */
export function openFd(path: string, flags: number): FileDescriptor {
  const fd = libc().open(cString(path), flags | O_CLOEXEC, 0);
  if (fd < 0) throw systemError(`open(${path})`);
  return new FileDescriptor(fd, path);
}
