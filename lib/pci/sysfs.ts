/**
 * Read-only enumeration of PCI functions and of the kernel's virtio view through sysfs.
 * The root ("/sys") is a parameter so tests run over a recorded tree
 * (`tests/fixtures/host/sys`). Nothing here writes.
 *
 * @module
 */
import { linkName, listDir, readFile } from "../sys/files.ts";
import { isCanonicalPciAddress } from "./address.ts";
import { type BarInfo, parseResourceFile } from "./bar.ts";

export type { BarInfo };

/** A virtio network interface the kernel created. */
export interface NetInterface {
  readonly name: string;
  readonly mac?: string;
  readonly mtu?: number;
}

/** A block device the kernel created. */
export interface BlockDevice {
  readonly name: string;
  /** In 512-byte sectors, as sysfs `size` reports. */
  readonly sectors?: number;
}

/** The kernel's view of one virtio device: `/sys/bus/virtio/devices/virtioN`. */
export interface KernelVirtioDevice {
  /** `virtioN`. */
  readonly name: string;
  readonly deviceType: number;
  readonly vendor: number;
  /** Negotiated features (the driver's set once bound; drivers/virtio/virtio.c). */
  readonly features?: bigint;
  /** Device status byte as the kernel last set it. */
  readonly status?: number;
  /** The virtio driver bound (virtio_net, virtio_blk ...). */
  readonly driver?: string;
  readonly netInterfaces: NetInterface[];
  readonly blockDevices: BlockDevice[];
  /** virtio-9p: the mount tag the 9pnet_virtio driver exposes (`mount_tag`). */
  readonly mountTag?: string;
}

/** A virtio device on the virtio bus with the transport that carries it. */
export interface VirtioBusDevice extends KernelVirtioDevice {
  readonly transport: "pci" | "mmio" | "other";
  /** The parent device's name: a PCI address, or e.g. `a000000.virtio_mmio`. */
  readonly parent: string;
}

export interface PciFunctionInfo {
  readonly address: string;
  readonly vendor: number;
  readonly device: number;
  readonly subsystemVendor: number;
  readonly subsystemDevice: number;
  readonly revision: number;
  readonly classCode: number;
  /** The PCI driver bound (virtio-pci, vfio-pci ...). */
  readonly driver?: string;
  readonly iommuGroup?: number;
  /** Implemented BARs only (absent ones left out). */
  readonly bars: BarInfo[];
  /** The kernel's virtio child device, when the virtio-pci driver created one. */
  readonly virtio?: KernelVirtioDevice;
}

function parseBars(text: string): BarInfo[] {
  try {
    return parseResourceFile(text).slice(0, 6).filter((b) => b.kind !== "absent");
  } catch {
    return [];
  }
}

/**
 * Parses the kernel's `/sys/bus/virtio/devices/virtioN/features`: one '0'/'1' per bit,
 * bit 0 first (drivers/virtio/virtio.c features_show). Throws on any other character.
 */
export function parseSysfsFeatureString(text: string): bigint {
  const bits = text.trim();
  let value = 0n;
  for (let i = bits.length - 1; i >= 0; i--) {
    const c = bits[i];
    if (c !== "0" && c !== "1") throw new SyntaxError(`bad feature string character '${c}'`);
    value = (value << 1n) | (c === "1" ? 1n : 0n);
  }
  return value;
}

/** A sysfs attribute's text, trimmed; undefined when it cannot be read. */
export function readText(path: string): string | undefined {
  return readFile(path)?.trim();
}

function readHex(path: string): number | undefined {
  const text = readText(path);
  if (text === undefined || !/^(0x)?[0-9a-fA-F]+$/.test(text)) return undefined;
  return parseInt(text, 16);
}

/** sysfs below an injectable root. */
export class PciSysfs {
  constructor(readonly root: string = "/sys") {}

  get devicesDir(): string {
    return `${this.root}/bus/pci/devices`;
  }

  /** Canonical addresses of every PCI function, sorted. */
  listFunctions(): string[] {
    return listDir(this.devicesDir).filter(isCanonicalPciAddress);
  }

  functionDir(address: string): string {
    return `${this.devicesDir}/${address}`;
  }

  exists(address: string): boolean {
    try {
      return Deno.statSync(this.functionDir(address)).isDirectory;
    } catch {
      return false;
    }
  }

  /** Ids, driver, BARs and the kernel's virtio child of one function. */
  readFunction(address: string): PciFunctionInfo {
    const dir = this.functionDir(address);
    const num = (name: string) => readHex(`${dir}/${name}`) ?? 0;
    const resource = readText(`${dir}/resource`);
    const driver = linkName(`${dir}/driver`);
    const group = linkName(`${dir}/iommu_group`);
    const child = listDir(dir).find((n) => /^virtio\d+$/.test(n));
    const virtio = child === undefined ? undefined : this.readVirtio(`${dir}/${child}`, child);
    return {
      address,
      vendor: num("vendor"),
      device: num("device"),
      subsystemVendor: num("subsystem_vendor"),
      subsystemDevice: num("subsystem_device"),
      revision: num("revision"),
      classCode: num("class"),
      ...(driver === undefined ? {} : { driver }),
      ...(group === undefined || !/^\d+$/.test(group) ? {} : { iommuGroup: Number(group) }),
      bars: resource === undefined ? [] : parseBars(resource),
      ...(virtio === undefined ? {} : { virtio }),
    };
  }

  /** Reads a `virtioN` directory (device, vendor, features, status, driver, net/, block/). */
  readVirtio(dir: string, name: string): KernelVirtioDevice {
    const featuresText = readText(`${dir}/features`);
    let features: bigint | undefined;
    try {
      features = featuresText === undefined ? undefined : parseSysfsFeatureString(featuresText);
    } catch {
      features = undefined;
    }
    const status = readHex(`${dir}/status`);
    const driver = linkName(`${dir}/driver`);
    const netInterfaces = listDir(`${dir}/net`).map((ifname): NetInterface => {
      const mac = readText(`${dir}/net/${ifname}/address`);
      const mtu = readText(`${dir}/net/${ifname}/mtu`);
      return {
        name: ifname,
        ...(mac === undefined ? {} : { mac }),
        ...(mtu === undefined || !/^\d+$/.test(mtu) ? {} : { mtu: Number(mtu) }),
      };
    });
    const blockDevices = listDir(`${dir}/block`).map((blk): BlockDevice => {
      const size = readText(`${dir}/block/${blk}/size`);
      return { name: blk, ...(size && /^\d+$/.test(size) ? { sectors: Number(size) } : {}) };
    });
    const mountTag = readText(`${dir}/mount_tag`)?.replace(/\0+$/, "");
    return {
      name,
      deviceType: readHex(`${dir}/device`) ?? 0,
      vendor: readHex(`${dir}/vendor`) ?? 0,
      ...(features === undefined ? {} : { features }),
      ...(status === undefined ? {} : { status }),
      ...(driver === undefined ? {} : { driver }),
      netInterfaces,
      blockDevices,
      ...(mountTag === undefined ? {} : { mountTag }),
    };
  }

  /**
   * Every device on the virtio bus (`/sys/bus/virtio/devices`), with the transport its
   * parent device implies: a PCI function, a virtio-mmio platform device, or other.
   */
  listVirtioBus(): VirtioBusDevice[] {
    const bus = `${this.root}/bus/virtio/devices`;
    return listDir(bus).filter((n) => /^virtio\d+$/.test(n)).sort((a, b) =>
      Number(a.slice(6)) - Number(b.slice(6))
    ).map((name) => {
      let real: string;
      try {
        real = Deno.realPathSync(`${bus}/${name}`);
      } catch {
        real = `${bus}/${name}`;
      }
      const parentPath = real.split("/").slice(0, -1).join("/");
      const parent = parentPath.split("/").pop() ?? "";
      const isPci = isCanonicalPciAddress(parent) && readText(`${parentPath}/class`) !== undefined;
      const transport = isPci ? "pci" : /virtio[-_]mmio/.test(parent) ? "mmio" : "other";
      return { ...this.readVirtio(real, name), transport, parent };
    });
  }
}
