/**
 * A PCI device through VFIO (Documentation/driver-api/vfio.rst): container
 * (`/dev/vfio/vfio`) → group (`/dev/vfio/<n>`) → device fd. Gives config-space access
 * (region 7), BAR regions (mmap when the region allows it, else pread/pwrite) and IOMMU DMA
 * mappings, and releases everything on dispose. The device must already be bound to
 * vfio-pci (see `DeviceClaim` in lib/device/claim.ts).
 *
 * @module
 */

import { VirtioError } from "../errors.ts";
import type { ConfigSpace } from "./config_space.ts";
import type { RegisterRegion } from "./region.ts";
import { devicePath as pciDevicePath, MmioRegion, PortRegion } from "./bar.ts";
import { currentDriver } from "./binding.ts";
import { PCI_COMMAND, PCI_COMMAND_MASTER } from "./capabilities.ts";
import type { IommuMapper, IovaRange } from "../dma/vfio_dma.ts";
import { systemError } from "../sys/errno.ts";
import { FileDescriptor, O_RDWR, openFd } from "../sys/fd.ts";
import { exists } from "../sys/files.ts";
import { cString, libc } from "../sys/libc.ts";
import { mapFile, PAGE_SIZE, roundUp } from "../sys/mmap.ts";
import {
  type DeviceInfo,
  packDeviceInfo,
  packDmaMap,
  packDmaUnmap,
  packGroupStatus,
  packIommuInfo,
  packRegionInfo,
  parseDeviceInfo,
  parseGroupStatus,
  parseIommuInfo,
  parseRegionInfo,
  type RegionInfo,
  VFIO,
  VFIO_API_VERSION,
  VFIO_PCI_CONFIG_REGION_INDEX,
  VFIO_TYPE1V2_IOMMU,
} from "../sys/vfio_abi.ts";

const REQUEST_NAMES = new Map<number, string>(
  Object.entries(VFIO).map(([name, value]) => [value, `VFIO_${name}`]),
);

function ioctlPointer(file: FileDescriptor, request: number, arg: Uint8Array<ArrayBuffer>): number {
  const result = libc().ioctlPointer(file.fd, BigInt(request), arg);
  if (result < 0) throw systemError(`ioctl(${REQUEST_NAMES.get(request)}, ${file.path})`);
  return result;
}

function ioctlInteger(file: FileDescriptor, request: number, arg: number): number {
  const result = libc().ioctlInteger(file.fd, BigInt(request), BigInt(arg));
  if (result < 0) throw systemError(`ioctl(${REQUEST_NAMES.get(request)}, ${file.path})`);
  return result;
}

/** Config space through the VFIO config region: pread/pwrite at the region's offset. */
class VfioConfigSpace implements ConfigSpace {
  constructor(private readonly region: PortRegion) {}
  get size(): number {
    return this.region.length;
  }
  read8(offset: number): number {
    return this.region.read8(offset);
  }
  read16(offset: number): number {
    return this.region.read16(offset);
  }
  read32(offset: number): number {
    return this.region.read32(offset);
  }
  write8(offset: number, value: number): void {
    this.region.write8(offset, value);
  }
  write16(offset: number, value: number): void {
    this.region.write16(offset, value);
  }
  write32(offset: number, value: number): void {
    this.region.write32(offset, value);
  }
}

export interface VfioOpenOptions {
  /** Root holding `sys/` and `dev/`. Default "/". */
  root?: string;
}

/** An open VFIO device with its own container and group. */
export class VfioDevice implements Disposable, IommuMapper {
  readonly config: ConfigSpace;
  readonly #regions: Disposable[] = [];
  readonly #mappings = new Map<bigint, number>();
  #originalCommand: number | null = null;

  private constructor(
    readonly address: string,
    readonly group: number,
    private readonly container: FileDescriptor,
    private readonly groupFile: FileDescriptor,
    private readonly device: FileDescriptor,
    readonly info: DeviceInfo,
    readonly iovaRanges: readonly IovaRange[],
    readonly iovaPageSizes: bigint,
  ) {
    const config = this.regionInfo(VFIO_PCI_CONFIG_REGION_INDEX);
    this.config = new VfioConfigSpace(
      new PortRegion(device, Number(config.offset), Number(config.size), true, false),
    );
  }

  /**
   * Opens `pciAddress` (bound to vfio-pci): container, group (checked viable), type1v2
   * IOMMU, device fd.
   */
  static open(pciAddress: string, options: VfioOpenOptions = {}): VfioDevice {
    const root = (options.root ?? "/").replace(/\/$/, "");
    const devicePath = pciDevicePath(pciAddress, root);
    if (!exists(devicePath, true)) throw new VirtioError(`no PCI device ${pciAddress}`);
    if (!exists(`${root}/dev/vfio/vfio`, true)) {
      throw new VirtioError("VFIO is not available: no /dev/vfio/vfio", {
        hint: "load vfio-pci and vfio_iommu_type1 (modprobe vfio-pci), with the IOMMU on",
      });
    }
    let group: number;
    try {
      group = Number(Deno.readLinkSync(`${devicePath}/iommu_group`).split("/").pop());
    } catch {
      throw new VirtioError(`${pciAddress} has no IOMMU group: the IOMMU is off`, {
        hint: "boot with intel_iommu=on (QEMU: -machine q35 -device intel-iommu)",
      });
    }
    const driver = currentDriver(pciAddress, { root });
    if (driver !== "vfio-pci") {
      throw new VirtioError(`${pciAddress} is bound to ${driver ?? "no driver"}, not vfio-pci`, {
        hint: "claim it for vfio-pci first (DeviceClaim.claim(address, 'vfio-pci'))",
      });
    }
    const opened: FileDescriptor[] = [];
    try {
      const container = openFd(`${root}/dev/vfio/vfio`, O_RDWR);
      opened.push(container);
      const version = ioctlInteger(container, VFIO.GET_API_VERSION, 0);
      if (version !== VFIO_API_VERSION) {
        throw new VirtioError(`VFIO API version ${version}, expected ${VFIO_API_VERSION}`);
      }
      if (ioctlInteger(container, VFIO.CHECK_EXTENSION, VFIO_TYPE1V2_IOMMU) !== 1) {
        throw new VirtioError("VFIO type1v2 IOMMU not supported", {
          hint: "load vfio_iommu_type1",
        });
      }
      const groupFile = openFd(`${root}/dev/vfio/${group}`, O_RDWR);
      opened.push(groupFile);
      const status = packGroupStatus();
      ioctlPointer(groupFile, VFIO.GROUP_GET_STATUS, status);
      if (!parseGroupStatus(status).viable) {
        throw new VirtioError(
          `IOMMU group ${group} is not viable: ${groupBlockers(root, group, pciAddress)}`,
          { hint: "bind every device of the group to vfio-pci (or unbind them)" },
        );
      }
      const containerFd = new Int32Array([container.fd]);
      ioctlPointer(groupFile, VFIO.GROUP_SET_CONTAINER, new Uint8Array(containerFd.buffer));
      ioctlInteger(container, VFIO.SET_IOMMU, VFIO_TYPE1V2_IOMMU);
      const iommu = readIommuInfo(container);
      const deviceFd = ioctlPointer(groupFile, VFIO.GROUP_GET_DEVICE_FD, cString(pciAddress));
      const device = new FileDescriptor(deviceFd, `vfio device ${pciAddress}`);
      opened.push(device);
      const infoBytes = packDeviceInfo();
      ioctlPointer(device, VFIO.DEVICE_GET_INFO, infoBytes);
      const info = parseDeviceInfo(infoBytes);
      if (!info.isPci) throw new VirtioError(`${pciAddress}: VFIO device is not PCI`);
      return new VfioDevice(
        pciAddress,
        group,
        container,
        groupFile,
        device,
        info,
        iommu.iovaRanges,
        iommu.pageSizes,
      );
    } catch (error) {
      for (const file of opened.reverse()) file.close();
      throw error;
    }
  }

  /** VFIO_DEVICE_GET_REGION_INFO for region `index` (0–5 BARs, 7 config). */
  regionInfo(index: number): RegionInfo {
    const bytes = packRegionInfo(index);
    ioctlPointer(this.device, VFIO.DEVICE_GET_REGION_INFO, bytes);
    return parseRegionInfo(bytes);
  }

  /**
   * BAR `index` as a register region: mmapped when VFIO allows it (memory BARs), else
   * pread/pwrite on the device fd (I/O BARs). Closed with the device at the latest.
   */
  barRegion(index: number, options: { writable?: boolean } = {}): RegisterRegion & Disposable {
    if (!Number.isInteger(index) || index < 0 || index > 5) {
      throw new RangeError(`BAR ${index}: not 0..5`);
    }
    const writable = options.writable ?? true;
    const info = this.regionInfo(index);
    if (info.size === 0n) throw new VirtioError(`${this.address}: BAR ${index} is not implemented`);
    const size = Number(info.size);
    let region: RegisterRegion & Disposable | undefined;
    if (info.mappable) {
      try {
        const mapping = mapFile(this.device, roundUp(size, PAGE_SIZE), {
          offset: info.offset,
          writable,
        });
        region = new MmioRegion(mapping.buffer, size, writable, `${this.address} BAR${index}`, {
          [Symbol.dispose]: () => mapping.unmap(),
        });
      } catch {
        // Fall through to pread/pwrite: e.g. a BAR holding the MSI-X table on old kernels.
      }
    }
    region ??= new PortRegion(this.device, Number(info.offset), size, writable, false);
    this.#regions.push(region);
    return region;
  }

  /** Sets PCI bus mastering through the config region; the old value is put back on dispose. */
  enableBusMaster(): void {
    const command = this.config.read16(PCI_COMMAND);
    this.#originalCommand ??= command;
    if ((command & PCI_COMMAND_MASTER) === 0) {
      this.config.write16(PCI_COMMAND, command | PCI_COMMAND_MASTER);
    }
  }

  /** VFIO_IOMMU_MAP_DMA: the device may read and write [iova, iova+size) → vaddr. */
  mapDma(vaddr: bigint, iova: bigint, size: number): void {
    ioctlPointer(this.container, VFIO.IOMMU_MAP_DMA, packDmaMap(vaddr, iova, BigInt(size)));
    this.#mappings.set(iova, size);
  }

  /**
   * VFIO_IOMMU_UNMAP_DMA of a mapping made by {@link mapDma}. After the device is disposed
   * there is nothing to do: closing the container dropped every mapping.
   */
  unmapDma(iova: bigint, size: number): void {
    if (this.container.closed) return;
    ioctlPointer(this.container, VFIO.IOMMU_UNMAP_DMA, packDmaUnmap(iova, BigInt(size)));
    this.#mappings.delete(iova);
  }

  /** Closes regions, restores the command register, unmaps leftover DMA, closes the fds. */
  [Symbol.dispose](): void {
    for (const region of this.#regions.splice(0)) region[Symbol.dispose]();
    if (this.#originalCommand !== null && !this.device.closed) {
      try {
        this.config.write16(PCI_COMMAND, this.#originalCommand);
      } catch { /* the device may be gone (hot-unplug); closing still releases it */ }
    }
    for (const [iova, size] of this.#mappings) {
      try {
        this.unmapDma(iova, size);
      } catch { /* closing the container drops every mapping anyway */ }
    }
    this.device.close();
    this.groupFile.close();
    this.container.close();
  }
}

function readIommuInfo(container: FileDescriptor) {
  let bytes = packIommuInfo();
  ioctlPointer(container, VFIO.IOMMU_GET_INFO, bytes);
  let info = parseIommuInfo(bytes);
  if (info.argsz > bytes.byteLength && info.argsz <= 65536) {
    bytes = packIommuInfo(info.argsz);
    ioctlPointer(container, VFIO.IOMMU_GET_INFO, bytes);
    info = parseIommuInfo(bytes);
  }
  return info;
}

/** The other devices of an IOMMU group that keep it from being viable, for the error. */
function groupBlockers(root: string, group: number, self: string): string {
  const blockers: string[] = [];
  try {
    for (const entry of Deno.readDirSync(`${root}/sys/kernel/iommu_groups/${group}/devices`)) {
      if (entry.name === self) continue;
      const driver = currentDriver(entry.name, { root });
      if (driver !== null && driver !== "vfio-pci" && driver !== "pci-stub") {
        blockers.push(`${entry.name} (bound to ${driver})`);
      }
    }
  } catch { /* unreadable group directory: say what we know */ }
  return blockers.length > 0 ? blockers.join(", ") : "another device of the group is in use";
}
