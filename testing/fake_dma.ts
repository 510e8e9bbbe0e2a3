/**
 * A {@link DmaAllocator} over plain ArrayBuffers with made-up iovas, for tests and the
 * simulated device. Regions get addresses above 4 GiB (so the high word of a le64 address is
 * exercised) with unmapped gaps between them; {@link FakeDma.view} resolves an iova range the
 * way a device would and throws {@link DmaFault} for anything not inside one region.
 *
 * @module
 */

import type { DmaAllocator, DmaRegion } from "../lib/dma/memory.ts";

/** A device-side access outside every allocated region. */
export class DmaFault extends Error {
  /** The error name. */
  override name = "DmaFault";
}

interface Mapping extends DmaRegion {
  readonly size: number;
}

/** First iova handed out: above 4 GiB on purpose. */
const IOVA_BASE = 0x1_2340_0000;
/** Unmapped space left after each region, so an overrun lands nowhere. */
const GUARD = 0x1000;

/** Options for {@link FakeDma}. */
export interface FakeDmaOptions {
  /** Back regions with SharedArrayBuffer so a Worker can play the device concurrently. */
  readonly shared?: boolean;
}

/** DMA memory over plain ArrayBuffers with made-up iovas above 4 GiB, for tests. */
export class FakeDma implements DmaAllocator {
  readonly kind = "fake";
  readonly #regions: Mapping[] = [];
  readonly #shared: boolean;
  #next = IOVA_BASE;
  #disposed = false;

  /** An empty allocator; `options.shared` backs regions with SharedArrayBuffer. */
  constructor(options: FakeDmaOptions = {}) {
    this.#shared = options.shared ?? false;
  }

  alloc(size: number, align = 4096): DmaRegion {
    if (this.#disposed) throw new Error("FakeDma used after dispose");
    if (!Number.isInteger(size) || size <= 0) throw new RangeError(`bad DMA size ${size}`);
    if (!Number.isInteger(align) || align < 1 || align > 4096 || (align & (align - 1)) !== 0) {
      throw new RangeError(`bad DMA alignment ${align}`);
    }
    const iova = Math.ceil(this.#next / 4096) * 4096; // page-aligned satisfies any align ≤ 4096
    const bytes = new Uint8Array(
      this.#shared ? new SharedArrayBuffer(size) : new ArrayBuffer(size),
    );
    const region: Mapping = { iova, bytes, size };
    this.#regions.push(region);
    this.#next = iova + size + GUARD;
    return region;
  }

  /** The CPU bytes behind [iova, iova + len), which must lie inside one region. */
  view(iova: number, len: number): Uint8Array {
    const r = this.#find(iova, len);
    return r.bytes.subarray(iova - r.iova, iova - r.iova + len);
  }

  /** True when [iova, iova + len) lies inside one allocated region. */
  contains(iova: number, len: number): boolean {
    return this.#lookup(iova, len) !== undefined;
  }

  /** The regions allocated so far, lowest iova first. */
  get regions(): readonly DmaRegion[] {
    return this.#regions;
  }

  #find(iova: number, len: number): Mapping {
    const r = this.#lookup(iova, len);
    if (!r) {
      throw new DmaFault(`DMA access [0x${iova.toString(16)}, +${len}) outside any region`);
    }
    return r;
  }

  #lookup(iova: number, len: number): Mapping | undefined {
    if (!Number.isInteger(iova) || !Number.isInteger(len) || len < 0) return undefined;
    // Regions are sorted by iova (allocated upwards): binary search.
    let lo = 0;
    let hi = this.#regions.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.#regions[mid]!;
      if (iova < r.iova) hi = mid - 1;
      else if (iova >= r.iova + r.size) lo = mid + 1;
      else return iova + len <= r.iova + r.size ? r : undefined;
    }
    return undefined;
  }

  /** Forgets every region; later use throws. */
  [Symbol.dispose](): void {
    this.#disposed = true;
    this.#regions.length = 0;
  }
}
