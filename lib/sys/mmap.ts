/**
 * Memory mappings: a file (sysfs `resourceN`, a VFIO device region) or anonymous memory
 * (DMA buffers, optionally hugetlb and locked). The CPU reaches the memory through
 * {@link MappedMemory.buffer}, an ArrayBuffer over the mapping (typed-array element access
 * costs ~1 ns; `UnsafePointerView` calls cost 60–70 ns).
 *
 * @module
 */

import { checked, systemError } from "./errno.ts";
import type { FileDescriptor } from "./fd.ts";
import { libc } from "./libc.ts";

export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_ANONYMOUS = 0x20;
export const MAP_LOCKED = 0x2000;
export const MAP_POPULATE = 0x8000;
export const MAP_HUGETLB = 0x40000;

export const PAGE_SIZE = 4096;
export const HUGEPAGE_SIZE = 2 * 1024 * 1024;

const MAP_FAILED = 0xffff_ffff_ffff_ffffn;

/** Rounds `n` up to a multiple of `multiple` (a power of two). */
export function roundUp(n: number, multiple: number): number {
  return Math.ceil(n / multiple) * multiple;
}

/** A live mapping. Disposal unmaps it and detaches {@link buffer}, so stale views read nothing. */
export class MappedMemory implements Disposable {
  #pointer: Deno.PointerObject | null;
  #buffer: ArrayBuffer;
  #locked = false;

  constructor(pointer: Deno.PointerObject, readonly length: number, readonly description: string) {
    this.#pointer = pointer;
    this.#buffer = Deno.UnsafePointerView.getArrayBuffer(pointer, length);
  }

  /** The mapping's start; for FFI calls inside the system layer only. */
  get pointer(): Deno.PointerObject {
    if (this.#pointer === null) throw new Error(`${this.description}: already unmapped`);
    return this.#pointer;
  }

  /** The mapping's virtual address (what VFIO_IOMMU_MAP_DMA and pagemap take). */
  get address(): bigint {
    return BigInt(Deno.UnsafePointer.value(this.pointer));
  }

  /** The CPU's view of the whole mapping. */
  get buffer(): ArrayBuffer {
    return this.#buffer;
  }

  get unmapped(): boolean {
    return this.#pointer === null;
  }

  /** Locks the pages in RAM (mlock): they are faulted in and never swapped or moved. */
  lock(): void {
    checked(libc().mlock(this.pointer, BigInt(this.length)), `mlock(${this.description})`);
    this.#locked = true;
  }

  unmap(): void {
    const pointer = this.#pointer;
    if (pointer === null) return;
    this.#pointer = null;
    // Detach first: any typed array over the old buffer now has length 0 instead of
    // pointing at unmapped memory (which would crash the process).
    this.#buffer = this.#buffer.transfer(0);
    if (this.#locked) libc().munlock(pointer, BigInt(this.length));
    checked(libc().munmap(pointer, BigInt(this.length)), `munmap(${this.description})`);
  }

  [Symbol.dispose](): void {
    this.unmap();
  }
}

function mmapChecked(
  length: number,
  prot: number,
  flags: number,
  fd: number,
  offset: bigint,
  description: string,
): MappedMemory {
  if (!Number.isSafeInteger(length) || length <= 0) {
    throw new RangeError(`mmap(${description}): bad length ${length}`);
  }
  const pointer = libc().mmap(null, BigInt(length), prot, flags, fd, offset);
  if (pointer === null || BigInt(Deno.UnsafePointer.value(pointer)) === MAP_FAILED) {
    throw systemError(`mmap(${description})`);
  }
  return new MappedMemory(pointer, length, description);
}

/** Maps `length` bytes of `file` at `offset` (MAP_SHARED); read-only unless `writable`. */
export function mapFile(
  file: FileDescriptor,
  length: number,
  options: { offset?: number | bigint; writable: boolean },
): MappedMemory {
  const prot = options.writable ? PROT_READ | PROT_WRITE : PROT_READ;
  const offset = BigInt(options.offset ?? 0);
  return mmapChecked(length, prot, MAP_SHARED, file.fd, offset, file.path);
}

export interface AnonymousOptions {
  /** Back with 2 MiB hugetlb pages (length must be a multiple of 2 MiB). */
  hugetlb?: boolean;
  /** MAP_LOCKED | MAP_POPULATE: fault every page in now and keep it resident. */
  locked?: boolean;
}

/** Maps `length` bytes of zeroed private anonymous memory, read/write. */
export function mapAnonymous(length: number, options: AnonymousOptions = {}): MappedMemory {
  let flags = MAP_PRIVATE | MAP_ANONYMOUS;
  if (options.hugetlb) flags |= MAP_HUGETLB;
  if (options.locked) flags |= MAP_LOCKED | MAP_POPULATE;
  const what = options.hugetlb ? "anonymous hugetlb memory" : "anonymous memory";
  return mmapChecked(length, PROT_READ | PROT_WRITE, flags, -1, 0n, `${what}, ${length} bytes`);
}
