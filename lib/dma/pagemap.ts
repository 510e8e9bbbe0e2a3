/**
 * Virtual → physical translation through `/proc/self/pagemap` (Documentation/admin-guide/
 * mm/pagemap.rst): one little-endian u64 per virtual page; bit 63 "present", bits 0–54 the
 * page frame number. Without CAP_SYS_ADMIN the kernel reports PFN 0, which we refuse.
 *
 * @module
 */

import { VirtioError } from "../errors.ts";
import { O_RDONLY, openFd } from "../sys/fd.ts";
import { PAGE_SIZE } from "../sys/mmap.ts";

const PRESENT = 1n << 63n;
const PFN_MASK = (1n << 55n) - 1n;

/** Decodes one pagemap entry into a page frame number; throws when it cannot be used. */
export function decodePagemapEntry(entry: bigint, virtual: bigint): bigint {
  if ((entry & PRESENT) === 0n) {
    throw new VirtioError(
      `page at 0x${virtual.toString(16)} is not resident: cannot know its physical address`,
      { hint: "lock the memory (mlock / MAP_LOCKED | MAP_POPULATE) before translating it" },
    );
  }
  const pfn = entry & PFN_MASK;
  if (pfn === 0n) {
    throw new VirtioError("/proc/self/pagemap hides physical addresses from this process", {
      hint: "run as root (CAP_SYS_ADMIN), or use VFIO so the device works with IOVAs",
    });
  }
  return pfn;
}

/** The physical address of virtual address `virtual` in this process. */
export function physicalAddress(virtual: bigint, pagemapPath = "/proc/self/pagemap"): bigint {
  const page = virtual / BigInt(PAGE_SIZE);
  const entry = new Uint8Array(8);
  using pagemap = openFd(pagemapPath, O_RDONLY);
  pagemap.preadExact(entry, page * 8n);
  const pfn = decodePagemapEntry(new DataView(entry.buffer).getBigUint64(0, true), virtual);
  return pfn * BigInt(PAGE_SIZE) + virtual % BigInt(PAGE_SIZE);
}
