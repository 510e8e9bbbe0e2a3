/**
 * What a conformance check runs against: the device's transport, DMA memory and — when the
 * device is reached over PCI — its config space, capability list and BAR windows. Every
 * piece is an interface, so a unit test hands in the simulated device of
 * `testing/conform_device.ts` and the lab hands in a real QEMU device.
 *
 * @module
 */
import type { DmaAllocator } from "../dma/memory.ts";
import type { ConfigSpace } from "../pci/config_space.ts";
import { type PciCapability, walkCapabilities } from "../pci/capabilities.ts";
import { type RegisterRegion, subRegion } from "../pci/region.ts";
import { firstCap, parseVirtioCapabilities, type VirtioPciCap } from "../virtio/capabilities.ts";
import {
  VIRTIO_F_ACCESS_PLATFORM,
  VIRTIO_PCI_CAP_COMMON_CFG,
  VIRTIO_PCI_CAP_DEVICE_CFG,
} from "../virtio/constants.ts";
import { pollUntil } from "../virtio/sleep.ts";
import type { Transport } from "../virtio/transport.ts";

/** The PCI side of a device: config space, capabilities, BAR sizes and BAR windows. */
export interface PciView {
  /** PCI configuration space (writes go only to the pci_cfg window's fields, §4.1.4.9). */
  readonly config: ConfigSpace;
  /** Every standard capability in the list. */
  readonly capabilities: readonly PciCapability[];
  /** The virtio structure capabilities as parsed (§4.1.4). */
  readonly caps: readonly VirtioPciCap[];
  /** What the parse found wrong (short cap_len, out of BAR ...). */
  readonly capFindings: readonly string[];
  /** Size of each implemented BAR. */
  readonly barSizes: ReadonlyMap<number, number>;
  /** A register window [offset, offset+length) of BAR `bar` (bounds-checked). */
  region(bar: number, offset: number, length: number): RegisterRegion;
}

/** Everything a check may use. */
export interface ConformContext {
  /** PCI address (or a name for a simulated device). */
  readonly address: string;
  /** Virtio device type (§5). */
  readonly deviceType: number;
  /** The register-level transport (modern or legacy). */
  readonly transport: Transport;
  /** DMA memory for rings and buffers. */
  readonly dma: DmaAllocator;
  /** PCI view; absent when the transport is not reached over PCI. */
  readonly pci?: PciView;
  /** Polls `done` until true or `timeoutMs` passes (a real device works asynchronously). */
  wait(done: () => boolean, timeoutMs?: number): boolean;
  /** Progress lines. */
  log(line: string): void;
}

/** Builds a {@link PciView} over a config space and a BAR opener; dispose closes the BARs. */
export function pciView(
  config: ConfigSpace,
  barSizes: ReadonlyMap<number, number>,
  openBar: (index: number) => RegisterRegion & Disposable,
): PciView & Disposable {
  const capabilities = walkCapabilities(config).capabilities;
  const { caps, findings } = parseVirtioCapabilities(config, capabilities, barSizes);
  const open = new Map<number, RegisterRegion & Disposable>();
  return {
    config,
    capabilities,
    caps,
    capFindings: findings,
    barSizes,
    region(bar, offset, length) {
      let r = open.get(bar);
      if (!r) {
        r = openBar(bar);
        open.set(bar, r);
      }
      return subRegion(r, offset, length);
    },
    [Symbol.dispose]() {
      for (const r of open.values()) r[Symbol.dispose]();
      open.clear();
    },
  };
}

/** A context with the default bounded poll. */
export function makeContext(
  o: Omit<ConformContext, "wait" | "log"> & { log?: (l: string) => void; timeoutMs?: number },
): ConformContext {
  const timeout = o.timeoutMs ?? 2000;
  return {
    ...o,
    wait: (done, ms) => pollUntil(done, ms ?? timeout),
    log: o.log ?? (() => {}),
  };
}

/** applies() helper: modern PCI transport with a parsed capability list. */
export function needsModernPci(ctx: ConformContext): true | string {
  if (ctx.transport.kind !== "modern") return "legacy transport: no virtio capabilities";
  if (!ctx.pci) return "no PCI view of the device";
  return true;
}

/** applies() helper: a feature bit the device offers. */
export function needsFeature(ctx: ConformContext, bit: bigint, name: string): true | string {
  return (ctx.transport.deviceFeatures() >> bit) & 1n ? true : `${name} not offered`;
}

/** The common configuration structure as a register window (modern PCI only). */
export function commonCfg(ctx: ConformContext): RegisterRegion {
  const cap = ctx.pci && firstCap(ctx.pci.caps, VIRTIO_PCI_CAP_COMMON_CFG);
  if (!cap || !ctx.pci) throw new Error("no common configuration capability");
  return ctx.pci.region(cap.bar, Number(cap.offset), Number(cap.length));
}

/** The device configuration structure as a register window, if the device has one. */
export function deviceCfg(ctx: ConformContext): RegisterRegion | undefined {
  const cap = ctx.pci && firstCap(ctx.pci.caps, VIRTIO_PCI_CAP_DEVICE_CFG);
  if (!cap || !ctx.pci) return undefined;
  return ctx.pci.region(cap.bar, Number(cap.offset), Number(cap.length));
}

/** True when feature `bit` is set in `features`. */
export function has(features: bigint, bit: bigint): boolean {
  return ((features >> bit) & 1n) === 1n;
}

/**
 * The features a driver accepts whenever they are offered: ACCESS_PLATFORM (§6.1: a device
 * behind an IOMMU may refuse FEATURES_OK without it, and QEMU's iommu_platform=on does).
 */
export function platformFeatures(ctx: ConformContext): bigint {
  return ctx.transport.deviceFeatures() & (1n << VIRTIO_F_ACCESS_PLATFORM);
}

/**
 * Resets and negotiates VERSION_1 (plus `extra` when offered) up to FEATURES_OK, so queue
 * fields are written where §3.1.1 puts queue setup (step 7). Returns the accepted set;
 * throws when the device refuses it.
 */
export function negotiate(ctx: ConformContext, extra = 0n): bigint {
  const t = ctx.transport;
  const features = ((1n << 32n) | extra | platformFeatures(ctx)) & t.deviceFeatures();
  t.reset();
  t.setStatus(1);
  t.setStatus(3);
  t.setDriverFeatures(features);
  if (t.kind === "modern") {
    t.setStatus(11);
    if (!(t.getStatus() & 8)) throw new Error(`FEATURES_OK refused for 0x${features.toString(16)}`);
  }
  return features;
}
