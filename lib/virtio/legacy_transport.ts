/**
 * The legacy virtio PCI transport (VIRTIO 1.2 §4.1.4.8, the 0.9.5 layout): every register
 * in I/O BAR 0, 32 feature bits, queues given by the page frame number of one contiguous
 * region in the legacy layout (§2.7.2).
 *
 * @module
 */
import { DeviceError, TimeoutError } from "../errors.ts";
import { type RegisterRegion, subRegion } from "../pci/region.ts";
import { LEGACY, LEGACY_QUEUE_ALIGN } from "./constants.ts";
import { configAccess } from "./config_access.ts";
import { pollUntil } from "./sleep.ts";
import type { DeviceConfigAccess, QueueAddresses, Transport } from "./transport.ts";

/** Legacy devices have no num_queues register; we stop probing here. */
const MAX_LEGACY_QUEUES = 64;

/** The legacy virtio PCI transport over I/O BAR 0 (§4.1.4.8): 32 feature bits, PFN queues. */
export class LegacyTransport implements Transport {
  /** Always "legacy". */
  readonly kind = "legacy" as const;
  readonly deviceConfig: DeviceConfigAccess;
  readonly #io: RegisterRegion & Disposable;

  /** `bar0` is the device's I/O BAR 0, opened read-write; the transport closes it. */
  constructor(readonly deviceType: number, bar0: RegisterRegion & Disposable) {
    this.#io = bar0;
    // We never enable MSI-X on a device we drive, so device config follows the 20-byte
    // header (§4.1.4.8: at 24 only "if MSI-X is enabled for the device").
    const start = LEGACY.device_config;
    this.deviceConfig = configAccess(
      bar0.length > start ? subRegion(bar0, start, bar0.length - start) : undefined,
    );
  }

  getStatus(): number {
    return this.#io.read8(LEGACY.device_status);
  }

  /** Writes the device status register (§2.1); 0 resets the device. */
  setStatus(status: number): void {
    this.#io.write8(LEGACY.device_status, status);
  }

  reset(timeoutMs = 1000): void {
    this.setStatus(0);
    if (!pollUntil(() => this.getStatus() === 0, timeoutMs)) {
      throw new TimeoutError(`device did not complete reset within ${timeoutMs} ms`);
    }
  }

  deviceFeatures(): bigint {
    return BigInt(this.#io.read32(LEGACY.host_features));
  }

  setDriverFeatures(features: bigint): void {
    if (features >> 32n) throw new DeviceError("legacy devices take only feature bits 0-31");
    this.#io.write32(LEGACY.guest_features, Number(features));
  }

  numQueues(): number {
    let n = 0;
    while (n < MAX_LEGACY_QUEUES && this.queueMaxSize(n) > 0) n++;
    return n;
  }

  queueMaxSize(index: number): number {
    this.#io.write16(LEGACY.queue_select, index);
    return this.#io.read16(LEGACY.queue_size);
  }

  setupQueue(index: number, size: number, a: QueueAddresses): void {
    const max = this.queueMaxSize(index);
    if (max === 0) throw new DeviceError(`queue ${index} is not available (size 0)`);
    // §4.1.4.8 / §2.7.2: a legacy queue's size is fixed by the device.
    if (size !== max) {
      throw new DeviceError(`legacy queue ${index} has fixed size ${max}; asked for ${size}`);
    }
    if (a.desc % LEGACY_QUEUE_ALIGN !== 0) {
      throw new DeviceError(`legacy queue ${index}: ring not 4096-aligned`);
    }
    const pfn = a.desc / LEGACY_QUEUE_ALIGN;
    if (pfn > 0xffff_ffff) throw new DeviceError(`legacy queue ${index}: ring above 16 TiB`);
    this.#io.write32(LEGACY.queue_address, pfn);
  }

  notifier(index: number): (value: number) => void {
    const io = this.#io;
    return () => io.write16(LEGACY.queue_notify, index);
  }

  readIsr(): number {
    return this.#io.read8(LEGACY.isr_status);
  }

  /** Closes the I/O BAR. */
  [Symbol.dispose](): void {
    this.#io[Symbol.dispose]();
  }
}
