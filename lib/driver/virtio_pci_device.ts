/**
 * Taking a virtio PCI device over for a user-space driver, and giving it back.
 *
 * Two access paths: **sysfs** (no IOMMU: the kernel driver is unbound, BARs are reached
 * through `resourceN`, DMA memory is hugepages addressed by physical address) and **VFIO**
 * (the device is bound to vfio-pci, BARs come through the device fd, DMA memory is mapped
 * at IOVAs through the IOMMU). `auto` picks VFIO when the device has an IOMMU group.
 *
 * Closing (or disposing) resets the device so it stops DMA, frees the memory, and binds
 * the device back to the driver it had — on every exit path, including signals (the CLI
 * aborts long work on SIGINT/SIGTERM and the `using` scopes unwind) and process exit (an
 * `unload` handler releases whatever is still open).
 *
 * @module
 */
import { VirtioError } from "../errors.ts";
import { type BarInfo, readBarInfo } from "../pci/bar.ts";
import { openDeviceBar } from "../device/bar_access.ts";
import { DeviceClaim } from "../device/claim.ts";
import { walkCapabilities } from "../pci/capabilities.ts";
import type { ConfigSpace } from "../pci/config_space.ts";
import type { RegisterRegion } from "../pci/region.ts";
import { normalizePciAddress } from "../pci/address.ts";
import { PciSysfs } from "../pci/sysfs.ts";
import { readSysfsConfigSpace } from "../pci/sysfs_config.ts";
import { VfioDevice } from "../pci/vfio.ts";
import type { DmaAllocator } from "../dma/memory.ts";
import { HugepageAllocator } from "../dma/hugepage.ts";
import { VfioDmaAllocator } from "../dma/vfio_dma.ts";
import { parseVirtioCapabilities } from "../virtio/capabilities.ts";
import { VIRTIO_PCI_CAP_COMMON_CFG } from "../virtio/constants.ts";
import { deviceTypeName, virtioIdentityFromPci } from "../virtio/device_types.ts";
import { LegacyTransport } from "../virtio/legacy_transport.ts";
import { ModernTransport } from "../virtio/modern_transport.ts";
import type { Transport } from "../virtio/transport.ts";

/** How a device is reached: sysfs (no IOMMU, hugepage DMA) or VFIO (IOMMU-mapped DMA). */
export type AccessPath = "sysfs" | "vfio";

/** How `VirtioPciDevice.open` takes a device over. */
export interface OpenOptions {
  /** Default "auto": VFIO when the device is in an IOMMU group, else sysfs. */
  readonly access?: AccessPath | "auto";
  /** Take the device even when it looks in use (mounted, carrying routes ...). */
  readonly force?: boolean;
  /** Refuse, before touching it, a device of another virtio type (§5 device ids). */
  readonly deviceType?: number;
  /** Force the legacy interface of a transitional device. */
  readonly legacy?: boolean;
  /** Progress and decisions, one line each. */
  readonly log?: (line: string) => void;
}

/** The PCI side of an open device, for tools that look below the transport (virtio conform). */
export interface DevicePciAccess {
  /** Config space as read when the device was opened (VFIO: live). */
  readonly config: ConfigSpace;
  /** Size of each implemented BAR. */
  readonly barSizes: ReadonlyMap<number, number>;
  /** Opens BAR `index` read-write; the caller closes what it opened. */
  readonly openBar: (index: number) => RegisterRegion & Disposable;
}

/** Devices currently open in this process; released on exit if still open. */
const openDevices = new Set<VirtioPciDevice>();
let unloadHooked = false;
function trackForExit(device: VirtioPciDevice): void {
  openDevices.add(device);
  if (!unloadHooked && typeof globalThis.addEventListener === "function") {
    unloadHooked = true;
    globalThis.addEventListener("unload", () => {
      for (const d of [...openDevices]) {
        try {
          d.close();
        } catch { /* best effort on the way out */ }
      }
    });
  }
}

/** A virtio PCI device taken over by this process. */
export class VirtioPciDevice implements Disposable {
  #closed = false;
  readonly #cleanup: (() => void)[];

  private constructor(
    readonly address: string,
    readonly deviceType: number,
    readonly access: AccessPath,
    readonly transport: Transport,
    readonly dma: DmaAllocator,
    readonly originalDriver: string | null,
    cleanup: (() => void)[],
    /** Config space, BAR sizes and a BAR opener of the device. */
    readonly pci?: DevicePciAccess,
  ) {
    this.#cleanup = cleanup;
  }

  /** The virtio device type's name (net, block, ...). */
  get typeName(): string {
    return deviceTypeName(this.deviceType);
  }

  /**
   * Takes `address` over. Refuses a device that is in use (unless `force`), one that is not
   * virtio, and missing prerequisites, each with a message that says what to do.
   */
  static open(address: string, options: OpenOptions = {}): VirtioPciDevice {
    const log = options.log ?? (() => {});
    const addr = normalizePciAddress(address);
    const sysfs = new PciSysfs();
    if (!sysfs.exists(addr)) throw new VirtioError(`no PCI device ${addr}`);
    const info = sysfs.readFunction(addr);
    const identity = virtioIdentityFromPci(info.vendor, info.device, info.subsystemDevice);
    if (!identity) {
      throw new VirtioError(
        `${addr} is not a virtio device (vendor 0x${info.vendor.toString(16)}, device 0x${
          info.device.toString(16)
        })`,
      );
    }
    if (options.deviceType !== undefined && identity.type !== options.deviceType) {
      throw new VirtioError(
        `${addr} is a virtio-${deviceTypeName(identity.type)} device, not virtio-${
          deviceTypeName(options.deviceType)
        }`,
      );
    }
    if (Deno.uid() !== 0) {
      throw new VirtioError(`taking ${addr} over needs root`, { hint: "run as root (sudo)" });
    }
    const access = options.access === undefined || options.access === "auto"
      ? (info.iommuGroup !== undefined ? "vfio" : "sysfs")
      : options.access;
    if (access === "vfio" && info.iommuGroup === undefined) {
      throw new VirtioError(`${addr} has no IOMMU group, so VFIO cannot drive it`, {
        hint:
          "boot with an IOMMU (intel_iommu=on, QEMU: -device intel-iommu) or use --access sysfs",
      });
    }
    const cleanup: (() => void)[] = [];
    const unwind = () => {
      for (const f of cleanup.splice(0).reverse()) {
        try {
          f();
        } catch (e) {
          log(`cleanup: ${e instanceof Error ? e.message : e}`);
        }
      }
    };
    try {
      const claim = DeviceClaim.claim(addr, access === "vfio" ? "vfio-pci" : null, {
        allowInUse: options.force ?? false,
      });
      cleanup.push(() => claim.release());
      log(
        `${addr}: taken from ${claim.originalDriver ?? "no driver"} for ${
          access === "vfio" ? "vfio-pci" : "sysfs access"
        }`,
      );
      let config: ConfigSpace;
      let barSize: (i: number) => BarInfo | undefined;
      let openBar: (i: number) => ReturnType<typeof openDeviceBar>;
      let dma: DmaAllocator;
      if (access === "vfio") {
        const vfio = VfioDevice.open(addr);
        cleanup.push(() => vfio[Symbol.dispose]());
        vfio.enableBusMaster();
        config = vfio.config;
        barSize = (i) => {
          const size = Number(vfio.regionInfo(i).size);
          return size ? { index: i, size } as BarInfo : undefined;
        };
        openBar = (i) => vfio.barRegion(i, { writable: true });
        dma = new VfioDmaAllocator(vfio);
      } else {
        claim.enableBusMaster();
        config = readSysfsConfigSpace(sysfs.functionDir(addr));
        barSize = (i) => {
          const bar = readBarInfo(addr, i);
          return bar.kind === "absent" ? undefined : bar;
        };
        openBar = (i) => openDeviceBar(addr, i, { writable: true });
        dma = new HugepageAllocator();
      }
      cleanup.push(() => dma[Symbol.dispose]());
      const sizes = new Map<number, number>();
      for (let i = 0; i < 6; i++) {
        const b = barSize(i);
        if (b) sizes.set(i, b.size);
      }
      const { caps, findings } = parseVirtioCapabilities(
        config,
        walkCapabilities(config).capabilities,
        sizes,
      );
      findings.forEach((f) => log(`${addr}: ${f}`));
      const modern = caps.some((c) => c.cfgType === VIRTIO_PCI_CAP_COMMON_CFG);
      let transport: Transport;
      if (modern && !options.legacy) {
        transport = new ModernTransport({ deviceType: identity.type, caps, openBar });
      } else {
        if (identity.idKind === "modern") {
          throw new VirtioError(`${addr} is modern-only: it has no legacy interface`);
        }
        const bar0 = openBar(0);
        transport = new LegacyTransport(identity.type, bar0);
      }
      // Before the memory is freed and the driver rebound, the device must stop DMA:
      // a reset does that (§2.4 "Device Reset").
      cleanup.push(() => transport[Symbol.dispose]());
      cleanup.push(() => transport.reset(500));
      log(
        `${addr}: ${deviceTypeName(identity.type)}, ${transport.kind} transport, ${dma.kind} DMA`,
      );
      const device = new VirtioPciDevice(
        addr,
        identity.type,
        access,
        transport,
        dma,
        claim.originalDriver,
        cleanup,
        { config, barSizes: sizes, openBar },
      );
      trackForExit(device);
      return device;
    } catch (e) {
      unwind();
      throw e;
    }
  }

  /** True while the function is still on the PCI bus (false after a hot-unplug). */
  present(): boolean {
    return new PciSysfs().exists(this.address);
  }

  /** Resets the device, frees DMA memory, and gives the device back to its driver. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    openDevices.delete(this);
    const errors: unknown[] = [];
    for (const f of this.#cleanup.splice(0).reverse()) {
      try {
        f();
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length) {
      throw new VirtioError(
        `${this.address}: giving the device back was incomplete: ${
          errors.map((e) => e instanceof Error ? e.message : String(e)).join("; ")
        }`,
        { hint: "run 'virtio restore' to retry" },
      );
    }
  }

  /** Same as `close`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
