/**
 * The modern virtio PCI transport (VIRTIO 1.2 §4.1.4): registers reached through the
 * common, notify, ISR and device capabilities, each a window on a BAR.
 *
 * @module
 */
import { DeviceError, TimeoutError } from "../errors.ts";
import { type RegisterRegion, subRegion } from "../pci/region.ts";
import {
  COMMON_CFG,
  COMMON_CFG_MIN_LENGTH,
  VIRTIO_F_NOTIFICATION_DATA,
  VIRTIO_PCI_CAP_COMMON_CFG,
  VIRTIO_PCI_CAP_DEVICE_CFG,
  VIRTIO_PCI_CAP_ISR_CFG,
  VIRTIO_PCI_CAP_NOTIFY_CFG,
} from "./constants.ts";
import { firstCap, type VirtioPciCap } from "./capabilities.ts";
import { configAccess } from "./config_access.ts";
import { pollUntil } from "./sleep.ts";
import type { DeviceConfigAccess, QueueAddresses, Transport } from "./transport.ts";

/** What a modern transport needs: the device type, its virtio capabilities and a BAR opener. */
export interface ModernTransportOptions {
  /** Virtio device type (§5). */
  readonly deviceType: number;
  /** The device's virtio capabilities (lib/virtio/capabilities.ts). */
  readonly caps: readonly VirtioPciCap[];
  /** Opens BAR `index` read-write; the transport closes what it opened. */
  readonly openBar: (index: number) => RegisterRegion & Disposable;
}

/** The modern virtio PCI transport (§4.1.4): common, notify, ISR and device config structures. */
export class ModernTransport implements Transport {
  /** Always "modern". */
  readonly kind = "modern" as const;
  readonly deviceType: number;
  readonly deviceConfig: DeviceConfigAccess;
  readonly #common: RegisterRegion;
  readonly #isr: RegisterRegion;
  readonly #notify: RegisterRegion;
  readonly #notifyMultiplier: number;
  readonly #bars = new Map<number, RegisterRegion & Disposable>();
  #notificationData = false;

  /** Maps the common, ISR and notify structures (and device config when present); throws DeviceError if one is missing. */
  constructor(o: ModernTransportOptions) {
    this.deviceType = o.deviceType;
    const need = (type: number, name: string) => {
      const cap = firstCap(o.caps, type);
      if (!cap) throw new DeviceError(`modern device without a ${name} capability (§4.1.4)`);
      return cap;
    };
    const region = (cap: VirtioPciCap) => {
      let bar = this.#bars.get(cap.bar);
      if (!bar) {
        bar = o.openBar(cap.bar);
        this.#bars.set(cap.bar, bar);
      }
      // subRegion checks the capability lies inside the BAR: a device cannot point us
      // outside the mapping (§4.1.4.1 "the driver MUST ignore ... outside the BAR").
      return subRegion(bar, Number(cap.offset), Number(cap.length));
    };
    try {
      const common = need(VIRTIO_PCI_CAP_COMMON_CFG, "common configuration");
      if (common.length < BigInt(COMMON_CFG_MIN_LENGTH)) {
        throw new DeviceError(`common configuration is only ${common.length} bytes`);
      }
      this.#common = region(common);
      this.#isr = region(need(VIRTIO_PCI_CAP_ISR_CFG, "ISR"));
      const notify = need(VIRTIO_PCI_CAP_NOTIFY_CFG, "notification");
      this.#notify = region(notify);
      this.#notifyMultiplier = notify.notifyOffMultiplier ?? 0;
      const device = firstCap(o.caps, VIRTIO_PCI_CAP_DEVICE_CFG);
      this.deviceConfig = configAccess(
        device ? region(device) : undefined,
        () => this.#common.read8(COMMON_CFG.config_generation),
      );
    } catch (e) {
      this[Symbol.dispose]();
      throw e;
    }
  }

  getStatus(): number {
    return this.#common.read8(COMMON_CFG.device_status);
  }

  /** Writes `device_status` (§2.1); 0 resets the device. */
  setStatus(status: number): void {
    this.#common.write8(COMMON_CFG.device_status, status);
  }

  reset(timeoutMs = 1000): void {
    this.setStatus(0);
    // §4.1.4.3.2: after writing 0 the driver MUST wait for device_status to read 0 before
    // re-initialising; the device may take time to finish in-flight work.
    if (!pollUntil(() => this.getStatus() === 0, timeoutMs)) {
      throw new TimeoutError(`device did not complete reset within ${timeoutMs} ms`);
    }
  }

  deviceFeatures(): bigint {
    let features = 0n;
    // Four 32-bit words cover every feature bit the 1.2 spec defines (up to bit 127).
    for (let word = 0; word < 4; word++) {
      this.#common.write32(COMMON_CFG.device_feature_select, word);
      features |= BigInt(this.#common.read32(COMMON_CFG.device_feature)) << BigInt(32 * word);
    }
    return features;
  }

  setDriverFeatures(features: bigint): void {
    for (let word = 0; word < 4; word++) {
      this.#common.write32(COMMON_CFG.driver_feature_select, word);
      this.#common.write32(
        COMMON_CFG.driver_feature,
        Number((features >> BigInt(32 * word)) & 0xffff_ffffn),
      );
    }
    this.#notificationData = ((features >> VIRTIO_F_NOTIFICATION_DATA) & 1n) === 1n;
  }

  numQueues(): number {
    return this.#common.read16(COMMON_CFG.num_queues);
  }

  queueMaxSize(index: number): number {
    if (index >= this.numQueues()) return 0;
    this.#common.write16(COMMON_CFG.queue_select, index);
    return this.#common.read16(COMMON_CFG.queue_size);
  }

  setupQueue(index: number, size: number, a: QueueAddresses): void {
    const max = this.queueMaxSize(index);
    if (max === 0) throw new DeviceError(`queue ${index} is not available (size 0)`);
    if (size > max) throw new DeviceError(`queue ${index}: size ${size} above the maximum ${max}`);
    const c = this.#common;
    c.write16(COMMON_CFG.queue_select, index);
    c.write16(COMMON_CFG.queue_size, size);
    // Without an interrupt handler we ask for no MSI-X vector (§4.1.4.3: NO_VECTOR 0xffff).
    c.write16(COMMON_CFG.queue_msix_vector, 0xffff);
    const write64 = (off: number, v: number) => {
      c.write32(off, v >>> 0);
      c.write32(off + 4, Math.floor(v / 2 ** 32));
    };
    write64(COMMON_CFG.queue_desc, a.desc);
    write64(COMMON_CFG.queue_driver, a.driver);
    write64(COMMON_CFG.queue_device, a.device);
    // §4.1.4.3.2: the driver MUST configure the other queue fields before enabling it.
    c.write16(COMMON_CFG.queue_enable, 1);
  }

  notifier(index: number): (value: number) => void {
    this.#common.write16(COMMON_CFG.queue_select, index);
    const off = this.#common.read16(COMMON_CFG.queue_notify_off) * this.#notifyMultiplier;
    const width = this.#notificationData ? 4 : 2;
    if (off + width > this.#notify.length) {
      throw new DeviceError(
        `queue ${index}: notify address 0x${off.toString(16)} outside the notify window`,
      );
    }
    const region = this.#notify;
    // §4.1.5.2: without NOTIFICATION_DATA the driver writes the queue index (16 bits);
    // with it, a 32-bit value: queue index, then the position data in the high half.
    return this.#notificationData
      ? (value) => region.write32(off, (index | (value << 16)) >>> 0)
      : () => region.write16(off, index);
  }

  readIsr(): number {
    return this.#isr.read8(0);
  }

  /** Closes every BAR it opened. */
  [Symbol.dispose](): void {
    for (const bar of this.#bars.values()) bar[Symbol.dispose]();
    this.#bars.clear();
  }
}
