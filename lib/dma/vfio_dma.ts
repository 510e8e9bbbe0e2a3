/**
 * DMA memory behind an IOMMU (VFIO type1): anonymous memory, locked, mapped with
 * VFIO_IOMMU_MAP_DMA at IOVAs we choose. The IOMMU makes each mapped chunk contiguous in
 * IOVA space whatever the physical pages are, so a chunk can be any size.
 *
 * @module
 */

import { SystemError, VirtioError } from "../errors.ts";
import { HUGEPAGE_SIZE, mapAnonymous, type MappedMemory, roundUp } from "../sys/mmap.ts";
import { alignUp, checkAllocation, DEFAULT_DMA_ALIGN } from "./hugepage.ts";
import type { DmaAllocator, DmaRegion } from "./memory.ts";

/** An inclusive IOVA range the IOMMU accepts (VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE). */
export interface IovaRange {
  readonly start: bigint;
  readonly end: bigint;
}

/** What the allocator needs from a VFIO container; `VfioDevice` provides it. */
export interface IommuMapper {
  /** Maps `size` bytes at virtual address `vaddr` to `iova`, device-readable and -writable. */
  mapDma(vaddr: bigint, iova: bigint, size: number): void;
  unmapDma(iova: bigint, size: number): void;
  /** Usable IOVA ranges; empty means "unknown, assume all below 2^48". */
  readonly iovaRanges: readonly IovaRange[];
}

/** Where IOVA allocation starts by default: above 4 GiB, clear of the x86 MSI window. */
export const DEFAULT_IOVA_BASE = 0x1_0000_0000n;
/** IOVAs stay below 2^48 (x86 IOMMU widths) and below 2^53 (a Number in DmaRegion). */
const IOVA_LIMIT = 1n << 48n;

/**
 * The lowest `align`-aligned IOVA ≥ `cursor` such that [iova, iova + size) lies inside one
 * of `ranges`; null when there is none.
 */
export function placeIova(
  ranges: readonly IovaRange[],
  cursor: bigint,
  size: bigint,
  align: bigint,
): bigint | null {
  const usable = ranges.length > 0 ? ranges : [{ start: 0n, end: IOVA_LIMIT - 1n }];
  let best: bigint | null = null;
  for (const range of usable) {
    const low = cursor > range.start ? cursor : range.start;
    const iova = (low + align - 1n) / align * align;
    const end = range.end < IOVA_LIMIT - 1n ? range.end : IOVA_LIMIT - 1n;
    if (iova + size - 1n <= end && (best === null || iova < best)) best = iova;
  }
  return best;
}

interface Chunk {
  readonly memory: MappedMemory;
  readonly iova: bigint;
  readonly size: number;
  used: number;
  mapped: boolean;
}

export interface VfioDmaOptions {
  /** Size of each mapped chunk (rounded to 2 MiB); larger allocations get their own chunk. */
  chunkSize?: number;
  /** "auto": hugetlb pages when free, else normal pages; "never": normal pages only. */
  hugepages?: "auto" | "never";
  /** First IOVA to hand out, if the IOMMU allows it. */
  iovaBase?: bigint;
}

/** Bump allocator over IOMMU-mapped chunks. Disposal unmaps every chunk from the IOMMU. */
export class VfioDmaAllocator implements DmaAllocator {
  readonly kind = "vfio";
  readonly #chunks: Chunk[] = [];
  readonly #chunkSize: number;
  readonly #hugepages: "auto" | "never";
  #cursor: bigint;

  constructor(private readonly mapper: IommuMapper, options: VfioDmaOptions = {}) {
    this.#chunkSize = roundUp(options.chunkSize ?? HUGEPAGE_SIZE, HUGEPAGE_SIZE);
    this.#hugepages = options.hugepages ?? "auto";
    this.#cursor = options.iovaBase ?? DEFAULT_IOVA_BASE;
  }

  alloc(size: number, align = DEFAULT_DMA_ALIGN): DmaRegion {
    checkAllocation(size, align, Number.MAX_SAFE_INTEGER);
    let chunk = this.#chunks.at(-1);
    let offset = chunk === undefined ? 0 : alignUp(chunk.used, align);
    if (chunk === undefined || offset + size > chunk.size) {
      chunk = this.#newChunk(Math.max(this.#chunkSize, roundUp(size, HUGEPAGE_SIZE)));
      offset = 0;
    }
    chunk.used = offset + size;
    const bytes = new Uint8Array(chunk.memory.buffer, offset, size);
    bytes.fill(0);
    return { iova: Number(chunk.iova) + offset, bytes };
  }

  #newChunk(size: number): Chunk {
    let iova = placeIova(this.mapper.iovaRanges, this.#cursor, BigInt(size), BigInt(HUGEPAGE_SIZE));
    iova ??= placeIova(this.mapper.iovaRanges, 0n, BigInt(size), BigInt(HUGEPAGE_SIZE));
    if (iova === null) {
      throw new VirtioError(`no free IOVA range for ${size} bytes of DMA memory`);
    }
    const memory = this.#mapMemory(size);
    try {
      this.mapper.mapDma(memory.address, iova, size);
    } catch (error) {
      memory.unmap();
      throw error;
    }
    const chunk = { memory, iova, size, used: 0, mapped: true };
    this.#chunks.push(chunk);
    this.#cursor = iova + BigInt(size);
    return chunk;
  }

  #mapMemory(size: number): MappedMemory {
    if (this.#hugepages === "auto") {
      try {
        return mapAnonymous(size, { hugetlb: true, locked: true });
      } catch (error) {
        if (!(error instanceof SystemError)) throw error;
      }
    }
    // VFIO pins the pages itself on MAP_DMA; locking them too keeps the accounting honest
    // and faults them in before the device can touch them.
    return mapAnonymous(size, { locked: true });
  }

  [Symbol.dispose](): void {
    const errors: unknown[] = [];
    for (const chunk of this.#chunks.splice(0)) {
      try {
        if (chunk.mapped) this.mapper.unmapDma(chunk.iova, chunk.size);
      } catch (error) {
        errors.push(error);
      }
      chunk.memory.unmap();
    }
    if (errors.length > 0) throw new AggregateError(errors, "VFIO DMA unmap failed");
  }
}
