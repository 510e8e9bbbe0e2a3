/**
 * The DMA-memory seam: memory that both the CPU (through `bytes`) and the device (through
 * `iova`) can reach. Real: hugepages + pagemap (no IOMMU) or VFIO IOMMU mappings. Fake:
 * plain memory with made-up addresses, in `testing/`.
 *
 * @module
 */

/** One physically (or IOVA-) contiguous block. */
export interface DmaRegion {
  /** The address the device uses. Below 2^53, so a Number. */
  readonly iova: number;
  /** The CPU's view of the same memory. Its buffer is not resized or detached while in use. */
  readonly bytes: Uint8Array;
}

/** Hands out DMA regions; disposing it releases all of them. */
export interface DmaAllocator extends Disposable {
  /** A region of `size` bytes whose iova is aligned to `align` (a power of two, ≤ 4096). */
  alloc(size: number, align?: number): DmaRegion;
  /** Human-readable name for logs: "hugepage", "vfio", "fake". */
  readonly kind: string;
}
