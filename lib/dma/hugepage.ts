/**
 * DMA memory without an IOMMU: 2 MiB hugetlb pages, locked, whose physical address comes
 * from pagemap. A hugetlb page is physically contiguous, so every allocation inside one page
 * is contiguous for the device; an allocation never spans two pages. The pages stay mapped
 * (and therefore in place) until the allocator is disposed.
 *
 * @module
 */

import { SystemError, VirtioError } from "../errors.ts";
import { HUGEPAGE_SIZE, mapAnonymous, type MappedMemory } from "../sys/mmap.ts";
import type { DmaAllocator, DmaRegion } from "./memory.ts";
import { physicalAddress } from "./pagemap.ts";

/** Default alignment: a cache line. */
export const DEFAULT_DMA_ALIGN = 64;

/** Throws unless `size` and `align` are usable for one contiguous block of `limit` bytes. */
export function checkAllocation(size: number, align: number, limit: number): void {
  if (!Number.isSafeInteger(size) || size <= 0) {
    throw new RangeError(`DMA allocation of ${size} bytes`);
  }
  if (!Number.isInteger(align) || align <= 0 || (align & (align - 1)) !== 0 || align > 4096) {
    throw new RangeError(`DMA alignment ${align}: must be a power of two ≤ 4096`);
  }
  if (size > limit) {
    throw new RangeError(`DMA allocation of ${size} bytes exceeds the ${limit}-byte limit`);
  }
}

/** Aligns `n` up to `align` (a power of two). */
export function alignUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}

/** Maps one locked 2 MiB hugetlb page, with a clear error when none is available. */
export function mapHugepage(): MappedMemory {
  try {
    return mapAnonymous(HUGEPAGE_SIZE, { hugetlb: true, locked: true });
  } catch (error) {
    if (error instanceof SystemError && error.code === "ENOMEM") {
      throw new VirtioError("no free 2 MiB hugepage", {
        hint: "reserve some as root: echo 64 > /proc/sys/vm/nr_hugepages",
        cause: error,
      });
    }
    throw error;
  }
}

interface Hugepage {
  readonly memory: MappedMemory;
  readonly physical: number;
  used: number;
}

/** Bump allocator over hugepages; physical addresses are the device addresses. */
export class HugepageAllocator implements DmaAllocator {
  readonly kind = "hugepage";
  readonly #pages: Hugepage[] = [];

  /** @param translate virtual → physical (default: pagemap); tests may inject one. */
  constructor(private readonly translate: (virtual: bigint) => bigint = physicalAddress) {}

  /** Bytes of hugepage memory mapped so far. */
  get mappedBytes(): number {
    return this.#pages.length * HUGEPAGE_SIZE;
  }

  alloc(size: number, align = DEFAULT_DMA_ALIGN): DmaRegion {
    checkAllocation(size, align, HUGEPAGE_SIZE);
    let page = this.#pages.at(-1);
    let offset = page === undefined ? 0 : alignUp(page.used, align);
    if (page === undefined || offset + size > HUGEPAGE_SIZE) {
      page = this.#newPage();
      offset = 0;
    }
    page.used = offset + size;
    const bytes = new Uint8Array(page.memory.buffer, offset, size);
    bytes.fill(0);
    return { iova: page.physical + offset, bytes };
  }

  #newPage(): Hugepage {
    const memory = mapHugepage();
    try {
      memory.lock();
      const physical = this.translate(memory.address);
      if (physical % BigInt(HUGEPAGE_SIZE) !== 0n || physical > BigInt(Number.MAX_SAFE_INTEGER)) {
        throw new VirtioError(`hugepage at unusable physical address 0x${physical.toString(16)}`);
      }
      const page = { memory, physical: Number(physical), used: 0 };
      this.#pages.push(page);
      return page;
    } catch (error) {
      memory.unmap();
      throw error;
    }
  }

  [Symbol.dispose](): void {
    for (const page of this.#pages.splice(0)) page.memory.unmap();
  }
}
