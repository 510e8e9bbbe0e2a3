/**
 * BAR access with the device layer's knowledge of virtio: lib/pci/bar.ts refuses writable
 * access under any kernel driver but the user-space holders; virtio-pci that created a virtio
 * device no driver took (`<dev>/virtioN/driver` absent) only acknowledged it and uses none of
 * its registers, so its BARs may be written.
 *
 * @module
 */

import type { RegisterRegion } from "../pci/region.ts";
import { devicePath, type OpenBarOptions, openBarRegion } from "../pci/bar.ts";

import { VIRTIO_PCI_DRIVER as VIRTIO_PCI } from "./devbind.ts";

/**
 * virtio-pci with no driver on the virtio device it created (`<dev>/virtioN/driver` absent):
 * the kernel only acknowledged the device and uses none of its registers.
 */
export function noDriverOnTop(pciAddress: string, sysfsRoot: string): boolean {
  const dir = devicePath(pciAddress, sysfsRoot);
  try {
    const children = [...Deno.readDirSync(dir)].filter((e) => /^virtio\d+$/.test(e.name));
    if (children.length === 0) return false;
    return children.every((c) => {
      try {
        Deno.lstatSync(`${dir}/${c.name}/driver`);
        return false;
      } catch {
        return true;
      }
    });
  } catch {
    return false;
  }
}

/** A kernel driver that leaves a virtio device's registers alone (see the module doc). */
export function idleVirtioDriver(driver: string, pciAddress: string, sysfsRoot: string): boolean {
  return driver === VIRTIO_PCI && noDriverOnTop(pciAddress, sysfsRoot);
}

/** {@link openBarRegion} that also writes under virtio-pci with no virtio driver on top. */
export function openDeviceBar(
  pciAddress: string,
  bar: number,
  options: OpenBarOptions,
): RegisterRegion & Disposable {
  return openBarRegion(pciAddress, bar, { idleDriver: idleVirtioDriver, ...options });
}
