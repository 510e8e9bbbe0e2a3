/**
 * DISCARD and WRITE_ZEROES (VIRTIO 1.2 §5.2.6): the request's data is an array of 16-byte
 * ranges {le64 sector, le32 num_sectors, le32 flags (bit 0 unmap)}, bounded by the limits the
 * device gives in its config (§5.2.4: max_discard_sectors, max_discard_seg,
 * discard_sector_alignment, max_write_zeroes_sectors, max_write_zeroes_seg,
 * write_zeroes_may_unmap). Pure functions; the request goes through BlkRequestQueue.
 * @module
 */
/** Bytes of one range in the request's data. */
export const RANGE_BYTES = 16;
/** §5.2.6: flags bit 0 of a WRITE_ZEROES range: the device may deallocate (unmap) instead. */
export const VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP = 1;

/** One sector range. */
export interface BlkRange {
  /** First 512-byte sector. */
  sector: number;
  /** Sectors in the range (≥ 1). */
  sectors: number;
  /** WRITE_ZEROES only: the device may unmap (when write_zeroes_may_unmap). */
  unmap?: boolean;
}

/** The device's limits for one of the two commands, as its config gives them. */
export interface RangeLimits {
  /** Most sectors in one range. */
  maxSectors: number;
  /** Most ranges in one request. */
  maxSegments: number;
  /** DISCARD: ranges should start and end on this many sectors (0/1: any); advisory. */
  alignment: number;
  /** WRITE_ZEROES: the device may unmap when a range asks it to. */
  mayUnmap: boolean;
}

/**
 * Limits from the raw config words, checked: §5.2.4 says the driver reads these only with the
 * feature, and a device that offers the command with a zero maximum offers nothing usable.
 */
export function rangeLimits(
  what: "discard" | "write-zeroes",
  maxSectors: number,
  maxSegments: number,
  alignment = 0,
  mayUnmap = 0,
): RangeLimits {
  if (maxSectors < 1) throw new Error(`max_${what.replace("-", "_")}_sectors is 0`);
  if (maxSegments < 1) throw new Error(`max_${what.replace("-", "_")}_seg is 0`);
  return { maxSectors, maxSegments, alignment, mayUnmap: mayUnmap !== 0 };
}

/** Why `ranges` cannot go in one request under `limits` (undefined when they can). */
export function checkRanges(
  name: "discard" | "write-zeroes",
  limits: RangeLimits,
  ranges: readonly BlkRange[],
  capacitySectors: number,
): string | undefined {
  if (ranges.length === 0) return `a ${name} request needs a range`;
  if (ranges.length > limits.maxSegments) {
    return `${ranges.length} ranges exceed the device's ${limits.maxSegments} per ${name}`;
  }
  for (const r of ranges) {
    if (!Number.isSafeInteger(r.sector) || r.sector < 0 || !Number.isInteger(r.sectors)) {
      return `range ${r.sector}+${r.sectors} is not whole sectors`;
    }
    if (r.sectors < 1 || r.sectors > limits.maxSectors) {
      return `range of ${r.sectors} sectors: the device takes 1..${limits.maxSectors}`;
    }
    if (r.sectors > 0xffffffff) return `range of ${r.sectors} sectors does not fit le32`;
    if (r.sector + r.sectors > capacitySectors) {
      return `range ${r.sector}+${r.sectors} ends past the disk (${capacitySectors} sectors)`;
    }
    if (r.unmap && name === "discard") return "unmap is a WRITE_ZEROES flag";
  }
  return undefined;
}

/** Writes `ranges` into `out` (16 bytes each, §5.2.6 layout); returns the bytes written. */
export function encodeRanges(out: Uint8Array, ranges: readonly BlkRange[]): number {
  const v = new DataView(out.buffer, out.byteOffset, out.length);
  ranges.forEach((r, i) => {
    const at = i * RANGE_BYTES;
    v.setUint32(at, r.sector % 0x1_0000_0000, true);
    v.setUint32(at + 4, Math.floor(r.sector / 0x1_0000_0000), true);
    v.setUint32(at + 8, r.sectors, true);
    v.setUint32(at + 12, r.unmap ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0, true);
  });
  return ranges.length * RANGE_BYTES;
}
