/**
 * The VFIO user-space ABI (include/uapi/linux/vfio.h): ioctl numbers and the structures
 * they take, packed and parsed by hand. Pure functions, so the layouts are unit-tested on any
 * machine; `lib/pci/vfio.ts` does the calls.
 *
 * Every structure starts with `__u32 argsz` (the size the caller provides) and `__u32 flags`.
 *
 * @module
 */

/** `VFIO_API_VERSION`: what VFIO_GET_API_VERSION must return. */
export const VFIO_API_VERSION = 0;
/** IOMMU models for VFIO_CHECK_EXTENSION / VFIO_SET_IOMMU. */
export const VFIO_TYPE1_IOMMU = 1;
export const VFIO_TYPE1V2_IOMMU = 3;

/** `_IO(type, nr)` on x86_64: no direction, no size → (type << 8) | nr. */
function io(nr: number): number {
  const VFIO_TYPE = 0x3b; // ';'
  const VFIO_BASE = 100;
  return (VFIO_TYPE << 8) | (VFIO_BASE + nr);
}

/** ioctl request numbers. */
export const VFIO = {
  GET_API_VERSION: io(0),
  CHECK_EXTENSION: io(1),
  SET_IOMMU: io(2),
  GROUP_GET_STATUS: io(3),
  GROUP_SET_CONTAINER: io(4),
  GROUP_UNSET_CONTAINER: io(5),
  GROUP_GET_DEVICE_FD: io(6),
  DEVICE_GET_INFO: io(7),
  DEVICE_GET_REGION_INFO: io(8),
  DEVICE_GET_IRQ_INFO: io(9),
  DEVICE_SET_IRQS: io(10),
  DEVICE_RESET: io(11),
  IOMMU_GET_INFO: io(12),
  IOMMU_MAP_DMA: io(13),
  IOMMU_UNMAP_DMA: io(14),
} as const;

/** struct vfio_group_status flags. */
export const VFIO_GROUP_FLAGS_VIABLE = 1 << 0;
export const VFIO_GROUP_FLAGS_CONTAINER_SET = 1 << 1;
/** struct vfio_device_info flags. */
export const VFIO_DEVICE_FLAGS_RESET = 1 << 0;
export const VFIO_DEVICE_FLAGS_PCI = 1 << 1;
/** struct vfio_region_info flags. */
export const VFIO_REGION_INFO_FLAG_READ = 1 << 0;
export const VFIO_REGION_INFO_FLAG_WRITE = 1 << 1;
export const VFIO_REGION_INFO_FLAG_MMAP = 1 << 2;
export const VFIO_REGION_INFO_FLAG_CAPS = 1 << 3;
/** struct vfio_iommu_type1_info flags and capability ids. */
export const VFIO_IOMMU_INFO_PGSIZES = 1 << 0;
export const VFIO_IOMMU_INFO_CAPS = 1 << 1;
export const VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE = 1;
/** struct vfio_iommu_type1_dma_map flags. */
export const VFIO_DMA_MAP_FLAG_READ = 1 << 0;
export const VFIO_DMA_MAP_FLAG_WRITE = 1 << 1;

/** vfio-pci region indexes (enum in vfio.h): BAR0..BAR5 = 0..5. */
export const VFIO_PCI_ROM_REGION_INDEX = 6;
export const VFIO_PCI_CONFIG_REGION_INDEX = 7;

/** Structure sizes (the argsz we pass). */
export const SIZEOF = {
  groupStatus: 8,
  deviceInfo: 24,
  regionInfo: 32,
  iommuInfo: 24,
  dmaMap: 32,
  dmaUnmap: 24,
} as const;

function withArgsz(size: number): { bytes: Uint8Array<ArrayBuffer>; view: DataView } {
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, size, true);
  return { bytes, view };
}

function viewOf(bytes: Uint8Array<ArrayBuffer>): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** struct vfio_group_status { u32 argsz; u32 flags; } */
export function packGroupStatus(): Uint8Array<ArrayBuffer> {
  return withArgsz(SIZEOF.groupStatus).bytes;
}

export interface GroupStatus {
  readonly viable: boolean;
  readonly containerSet: boolean;
}

export function parseGroupStatus(bytes: Uint8Array<ArrayBuffer>): GroupStatus {
  const flags = viewOf(bytes).getUint32(4, true);
  return {
    viable: (flags & VFIO_GROUP_FLAGS_VIABLE) !== 0,
    containerSet: (flags & VFIO_GROUP_FLAGS_CONTAINER_SET) !== 0,
  };
}

/** struct vfio_device_info { u32 argsz, flags, num_regions, num_irqs, cap_offset, pad; } */
export function packDeviceInfo(): Uint8Array<ArrayBuffer> {
  return withArgsz(SIZEOF.deviceInfo).bytes;
}

export interface DeviceInfo {
  readonly flags: number;
  readonly isPci: boolean;
  readonly canReset: boolean;
  readonly numRegions: number;
  readonly numIrqs: number;
}

export function parseDeviceInfo(bytes: Uint8Array<ArrayBuffer>): DeviceInfo {
  const view = viewOf(bytes);
  const flags = view.getUint32(4, true);
  return {
    flags,
    isPci: (flags & VFIO_DEVICE_FLAGS_PCI) !== 0,
    canReset: (flags & VFIO_DEVICE_FLAGS_RESET) !== 0,
    numRegions: view.getUint32(8, true),
    numIrqs: view.getUint32(12, true),
  };
}

/** struct vfio_region_info { u32 argsz, flags, index, cap_offset; u64 size, offset; } */
export function packRegionInfo(index: number): Uint8Array<ArrayBuffer> {
  const { bytes, view } = withArgsz(SIZEOF.regionInfo);
  view.setUint32(8, index, true);
  return bytes;
}

export interface RegionInfo {
  readonly index: number;
  readonly flags: number;
  readonly readable: boolean;
  readonly writable: boolean;
  readonly mappable: boolean;
  /** Bytes; 0 when the region (e.g. an unimplemented BAR) does not exist. */
  readonly size: bigint;
  /** Where the region starts in the device fd (for pread/pwrite/mmap). */
  readonly offset: bigint;
}

export function parseRegionInfo(bytes: Uint8Array<ArrayBuffer>): RegionInfo {
  const view = viewOf(bytes);
  const flags = view.getUint32(4, true);
  return {
    index: view.getUint32(8, true),
    flags,
    readable: (flags & VFIO_REGION_INFO_FLAG_READ) !== 0,
    writable: (flags & VFIO_REGION_INFO_FLAG_WRITE) !== 0,
    mappable: (flags & VFIO_REGION_INFO_FLAG_MMAP) !== 0,
    size: view.getBigUint64(16, true),
    offset: view.getBigUint64(24, true),
  };
}

/**
 * struct vfio_iommu_type1_info { u32 argsz, flags; u64 iova_pgsizes; u32 cap_offset, pad; }
 * followed by capabilities. Call once with the minimum; the kernel raises `argsz` to what
 * the capabilities need; call again with that size.
 */
export function packIommuInfo(argsz: number = SIZEOF.iommuInfo): Uint8Array<ArrayBuffer> {
  return withArgsz(Math.max(argsz, SIZEOF.iommuInfo)).bytes;
}

export interface IommuInfo {
  /** The size the kernel wants for the full answer with capabilities. */
  readonly argsz: number;
  readonly flags: number;
  /** Bitmap of supported IOMMU page sizes (bit n set: 2^n bytes). */
  readonly pageSizes: bigint;
  /** Usable IOVA ranges, inclusive; empty when the kernel did not report them. */
  readonly iovaRanges: { start: bigint; end: bigint }[];
}

export function parseIommuInfo(bytes: Uint8Array<ArrayBuffer>): IommuInfo {
  const view = viewOf(bytes);
  const argsz = view.getUint32(0, true);
  const flags = view.getUint32(4, true);
  const pageSizes = flags & VFIO_IOMMU_INFO_PGSIZES ? view.getBigUint64(8, true) : 0n;
  const iovaRanges: { start: bigint; end: bigint }[] = [];
  if (flags & VFIO_IOMMU_INFO_CAPS && argsz <= bytes.byteLength) {
    // Capability chain: struct vfio_info_cap_header { u16 id; u16 version; u32 next; },
    // `next` an offset from the start of the structure, 0 at the end.
    let offset = view.getUint32(16, true);
    for (let steps = 0; offset !== 0 && steps < 16; steps++) {
      if (offset < SIZEOF.iommuInfo || offset + 8 > bytes.byteLength) break;
      const id = view.getUint16(offset, true);
      if (id === VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE && offset + 16 <= bytes.byteLength) {
        const count = view.getUint32(offset + 8, true);
        for (let i = 0; i < count; i++) {
          const at = offset + 16 + i * 16;
          if (at + 16 > bytes.byteLength) break;
          iovaRanges.push({
            start: view.getBigUint64(at, true),
            end: view.getBigUint64(at + 8, true),
          });
        }
      }
      offset = view.getUint32(offset + 4, true);
    }
  }
  return { argsz, flags, pageSizes, iovaRanges };
}

/** struct vfio_iommu_type1_dma_map { u32 argsz, flags; u64 vaddr, iova, size; } */
export function packDmaMap(vaddr: bigint, iova: bigint, size: bigint): Uint8Array<ArrayBuffer> {
  const { bytes, view } = withArgsz(SIZEOF.dmaMap);
  view.setUint32(4, VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE, true);
  view.setBigUint64(8, vaddr, true);
  view.setBigUint64(16, iova, true);
  view.setBigUint64(24, size, true);
  return bytes;
}

/** struct vfio_iommu_type1_dma_unmap { u32 argsz, flags; u64 iova, size; } */
export function packDmaUnmap(iova: bigint, size: bigint): Uint8Array<ArrayBuffer> {
  const { bytes, view } = withArgsz(SIZEOF.dmaUnmap);
  view.setBigUint64(8, iova, true);
  view.setBigUint64(16, size, true);
  return bytes;
}

/** The bytes unmapped, as VFIO_IOMMU_UNMAP_DMA reports back in `size`. */
export function parseDmaUnmapSize(bytes: Uint8Array<ArrayBuffer>): bigint {
  return viewOf(bytes).getBigUint64(16, true);
}
