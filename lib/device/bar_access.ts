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
import { exists, listDir } from "../sys/files.ts";

import { VIRTIO_PCI_DRIVER as VIRTIO_PCI } from "./devbind.ts";

/**
 * virtio-pci with no driver on the virtio device it created (`<dev>/virtioN/driver` absent):
 * the kernel only acknowledged the device and uses none of its registers.
 */
export function noDriverOnTop(pciAddress: string, sysfsRoot: string): boolean {
  const dir = devicePath(pciAddress, sysfsRoot);
  const children = listDir(dir).filter((n) => /^virtio\d+$/.test(n));
  return children.length > 0 && children.every((c) => !exists(`${dir}/${c}/driver`));
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
