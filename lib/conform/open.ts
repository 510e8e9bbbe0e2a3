/**
 * A conformance context over a device taken over with {@link VirtioPciDevice.open}: its
 * transport and DMA memory, and a PCI view whose config space is live (sysfs `config` file
 * or the VFIO config region) so the pci_cfg window can be exercised. Disposing closes what
 * this opened; the device itself is given back by closing it.
 *
 * @module
 */
import type { VirtioPciDevice } from "../driver/virtio_pci_device.ts";
import { PciSysfs } from "../pci/sysfs.ts";
import { SysfsConfigFile } from "../pci/sysfs_config.ts";
import { type ConformContext, makeContext, pciView } from "./context.ts";

/** The context for `dev`; dispose it before closing the device. */
export function deviceContext(
  dev: VirtioPciDevice,
  log: (line: string) => void,
): ConformContext & Disposable {
  const closers: (() => void)[] = [];
  let pci;
  if (dev.pci) {
    let config = dev.pci.config;
    if (dev.access === "sysfs") {
      const live = new SysfsConfigFile(new PciSysfs().functionDir(dev.address));
      closers.push(() => live[Symbol.dispose]());
      config = live;
    }
    const view = pciView(config, dev.pci.barSizes, dev.pci.openBar);
    closers.push(() => view[Symbol.dispose]());
    pci = view;
  }
  const ctx = makeContext({
    address: dev.address,
    deviceType: dev.deviceType,
    transport: dev.transport,
    dma: dev.dma,
    ...(pci ? { pci } : {}),
    log,
  });
  return {
    ...ctx,
    [Symbol.dispose]() {
      for (const c of closers.splice(0).reverse()) c();
    },
  };
}
