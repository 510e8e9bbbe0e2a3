/**
 * The active checks of `virtio diag --active`: the device is taken from its driver, driven
 * through the §3.1.1 initialisation, its queues set up, a NIC sends traffic, and the device
 * is given back. Only on devices the operator lets us take (the in-use refusal of
 * {@link VirtioPciDevice.open} applies; `force` overrides it, never for the root disk).
 *
 * The opener is injectable so the sequence runs against the fakes in `testing/`.
 *
 * @module
 */
import { VirtioError } from "../errors.ts";
import type { DmaAllocator } from "../dma/memory.ts";
import { type AccessPath, VirtioPciDevice } from "../driver/virtio_pci_device.ts";
import { VirtioNet } from "../net/virtio_net.ts";
import { currentDriver } from "../pci/binding.ts";
import { createVirtqueue, type Virtqueue } from "../queue/virtqueue.ts";
import { VIRTIO_F_ACCESS_PLATFORM } from "../virtio/constants.ts";
import { featureBits, nameFeatures } from "../virtio/features.ts";
import { checkDeviceStatus, type FeatureRequest, initializeDevice } from "../virtio/initialize.ts";
import type { Transport } from "../virtio/transport.ts";
import { check, type CheckResult } from "./report.ts";
import { BLK_CHECK_NAMES, blkChecks } from "./blk_checks.ts";

/** A device in our hands: what {@link VirtioPciDevice} gives, or a fake. */
export interface TakenDevice extends Disposable {
  /** Its registers. */
  readonly transport: Transport;
  /** Memory it can reach. */
  readonly dma: DmaAllocator;
  /** How it was reached. */
  readonly access: AccessPath | "fake";
  /** The driver to give the device back to; null: it was unbound. */
  readonly originalDriver: string | null;
  /** Gives the device back (reset, free memory, rebind). */
  close(): void;
}

/** How {@link activeChecks} takes devices and drives them. */
export interface ActiveOptions {
  /** Take devices that look in use (never the root filesystem's). */
  readonly force?: boolean;
  /** sysfs, vfio, or auto (VFIO when the device has an IOMMU group). */
  readonly access?: AccessPath | "auto";
  /** A second NIC of ours on the same wire: the self-test checks it receives our frames. */
  readonly peer?: string;
  /** Frames the NIC self-test sends (default 64: below one ring, which QEMU takes even with no receiver on the wire). */
  readonly frames?: number;
  /** How long the self-test waits for completions (default 3000 ms). */
  readonly timeoutMs?: number;
  /** Progress lines (to stderr in the CLI). */
  readonly log?: (line: string) => void;
  /** Takes a device over; default {@link VirtioPciDevice.open}. */
  readonly open?: (
    address: string,
    o: { force: boolean; access: AccessPath | "auto"; log: (l: string) => void },
  ) => TakenDevice;
  /** The PCI driver bound now; default sysfs. */
  readonly currentDriver?: (address: string) => string | null;
  /** Called while a check waits for the device (a simulated device serves here). */
  readonly tick?: () => void;
}

const ms = (start: number) => Math.round(performance.now() - start);
const why = (e: unknown) => e instanceof Error ? e.message : String(e);
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));
const timed = (r: CheckResult, start: number): CheckResult => ({ ...r, ms: ms(start) });

/** Offered bits we can name: a driver MUST NOT accept what it does not understand (§2.2). */
function knownBits(type: number, offered: bigint): bigint {
  let known = 0n;
  for (const f of nameFeatures(type, offered)) {
    if (f.name !== undefined) known |= 1n << BigInt(f.bit);
  }
  return known;
}

/** The smallest set a driver may take: VERSION_1 (added by initializeDevice on modern) and ACCESS_PLATFORM when offered (§6.1). */
function minimalRequest(offered: bigint): FeatureRequest {
  return { wanted: offered & (1n << VIRTIO_F_ACCESS_PLATFORM) };
}

/** `init.sequence`: §3.1.1 to DRIVER_OK with every offered bit we know, then with the minimum. */
export function checkInitSequence(t: Transport): CheckResult {
  const name = "init.sequence";
  const offered = t.deviceFeatures();
  const full = knownBits(t.deviceType, offered);
  const steps: string[] = [];
  for (
    const [label, request] of [["full", { wanted: full }], [
      "minimal",
      minimalRequest(offered),
    ]] as const
  ) {
    try {
      const { decision } = initializeDevice(t, request, () => undefined);
      checkDeviceStatus(t);
      steps.push(
        `${label} 0x${decision.accepted.toString(16)} (${
          featureBits(decision.accepted).length
        } bits)`,
      );
    } catch (e) {
      return check.fail(name, `${label} feature set: ${why(e)}`);
    } finally {
      t.reset();
    }
  }
  const unknown = featureBits(offered & ~full).length;
  return check.pass(
    name,
    `DRIVER_OK with ${steps.join(" and ")}${
      unknown ? `; ${unknown} unnamed offered bits left out` : ""
    }`,
  );
}

/**
 * `queues.setup`: every queue has a usable maximum size (> 0; a power of two for split rings,
 * §2.7), can be laid out, programmed and enabled, and the device reaches DRIVER_OK with all
 * of them (§3.1.1 step 7).
 */
export function checkQueueSetup(t: Transport, dma: DmaAllocator): CheckResult {
  const name = "queues.setup";
  const problems: string[] = [];
  const sizes: string[] = [];
  const queues: Virtqueue[] = [];
  try {
    initializeDevice(t, minimalRequest(t.deviceFeatures()), () => {
      const n = t.numQueues();
      if (n === 0) problems.push("the device has no queues");
      for (let i = 0; i < n; i++) {
        const max = t.queueMaxSize(i);
        if (max === 0) {
          sizes.push("-");
          continue;
        }
        if ((max & (max - 1)) !== 0) {
          problems.push(`queue ${i}: max size ${max} is not a power of two (§2.7)`);
          continue;
        }
        // Legacy queues have a fixed size (§4.1.4.8); modern ones may be made smaller.
        const size = t.kind === "legacy" ? max : Math.min(max, 256);
        const q = createVirtqueue({
          dma,
          size,
          format: "split",
          legacyLayout: t.kind === "legacy",
          notify: t.notifier(i),
        });
        queues.push(q);
        t.setupQueue(i, size, q.addresses);
        sizes.push(String(size));
      }
      if (problems.length) throw new VirtioError(problems.join("; "));
    });
    checkDeviceStatus(t);
  } catch (e) {
    return check.fail(name, problems.length ? problems.join("; ") : why(e));
  } finally {
    // The queues' memory stays ours until the device forgets it (§2.4 reset).
    t.reset();
  }
  const unavailable = sizes.filter((s) => s === "-").length;
  const reason = `${queues.length} queues set up and enabled (sizes ${sizes.join(",")}), DRIVER_OK`;
  return unavailable
    ? check.warn(name, `${reason}; ${unavailable} reported max size 0 (unavailable)`)
    : check.pass(name, reason);
}

/** Test frames: broadcast, ethertype 0x88b5 (IEEE local experimental), sequence in the payload. */
const ETHERTYPE = 0x88b5;

function writeTestFrame(buf: Uint8Array, src: Uint8Array, seq: number): number {
  buf.fill(0xff, 0, 6);
  buf.set(src, 6);
  buf[12] = ETHERTYPE >> 8;
  buf[13] = ETHERTYPE & 0xff;
  new DataView(buf.buffer, buf.byteOffset).setUint32(14, seq);
  buf.fill(0x5a, 18, 60);
  return 60;
}

function macBytes(mac: string | undefined): Uint8Array {
  const parts = (mac ?? "02:00:00:00:d1:a9").split(":").map((h) => parseInt(h, 16));
  return new Uint8Array(parts);
}

/**
 * `net.selftest`: brings the NIC up with our driver and sends `frames` broadcast frames; every
 * one must complete on the transmit queue within the timeout (a NIC cannot hear itself on
 * QEMU's hub). With a peer NIC of ours, the peer must receive them all.
 */
export async function checkNetSelftest(
  dev: TakenDevice,
  options: ActiveOptions,
  peer?: TakenDevice,
): Promise<CheckResult> {
  const name = "net.selftest";
  const frames = options.frames ?? 64;
  const timeoutMs = options.timeoutMs ?? 3000;
  let net: VirtioNet;
  let peerNet: VirtioNet | undefined;
  try {
    net = VirtioNet.open(dev.transport, dev.dma, { requireAccessPlatform: dev.access === "vfio" });
    if (peer) {
      peerNet = VirtioNet.open(peer.transport, peer.dma, {
        requireAccessPlatform: peer.access === "vfio",
      });
    }
  } catch (e) {
    dev.transport.reset();
    return check.fail(name, `driver did not start: ${why(e)}`);
  }
  try {
    if (!net.linkUp()) return check.fail(name, "link is down (§5.1.4): nothing can be sent");
    const { tx } = net.pairs[0]!;
    const src = macBytes(net.mac);
    let sent = 0;
    let done = 0;
    let received = 0;
    const slots = new Uint32Array(256);
    const deadline = performance.now() + timeoutMs;
    while ((done < frames || (peerNet && received < frames)) && performance.now() < deadline) {
      done += tx.reclaim();
      let batch = 0;
      while (sent < frames && batch < 16) {
        const slot = tx.nextSlot();
        if (slot < 0) break;
        tx.send(slot, writeTestFrame(tx.frames[slot]!, src, sent));
        sent++;
        batch++;
      }
      if (batch) tx.flush();
      if (peerNet) {
        const rx = peerNet.pairs[0]!.rx;
        const n = rx.poll(slots);
        for (let i = 0; i < n; i++) {
          const slot = slots[i]!;
          const f = rx.frames[slot]!;
          if (
            f[12] === ETHERTYPE >> 8 && f[13] === (ETHERTYPE & 0xff) &&
            src.every((b, k) => f[6 + k] === b)
          ) {
            received++;
          }
          rx.recycle(slot);
        }
        if (n) rx.flush();
      }
      checkDeviceStatus(dev.transport);
      await sleep(1);
    }
    if (done < frames) {
      // QEMU holds transmission while nothing on the wire can receive (after one ring).
      const hint = done > 0 ? "; is anything on the wire accepting frames?" : "";
      return check.fail(
        name,
        `tx: ${done} of ${frames} frames completed within ${timeoutMs} ms${hint}`,
      );
    }
    if (peerNet && received < frames) {
      return check.fail(
        name,
        `peer received ${received} of ${frames} frames within ${timeoutMs} ms`,
      );
    }
    return check.pass(
      name,
      `${frames} frames sent and completed (${net.format} ring${
        peerNet ? `; peer received all ${frames}` : ""
      })`,
    );
  } catch (e) {
    return check.fail(name, why(e));
  } finally {
    dev.transport.reset();
    peer?.transport.reset();
  }
}

function skipAll(names: string[], reason: string): CheckResult[] {
  return names.map((n) => check.skip(n, reason));
}

/**
 * Runs every active check on `address` (virtio type `type`) and gives the device back.
 * A device the in-use policy refuses gets its active checks skipped, with the refusal as
 * the reason; any other failure to take it over fails `init.sequence`.
 */
export async function activeChecks(
  address: string,
  type: number,
  options: ActiveOptions = {},
): Promise<CheckResult[]> {
  const log = options.log ?? (() => {});
  const names = [
    "init.sequence",
    "queues.setup",
    ...(type === 1 ? ["net.selftest"] : []),
    ...(type === 2 ? BLK_CHECK_NAMES : []),
    "device.restored",
  ];
  const open = options.open ?? ((a, o) => VirtioPciDevice.open(a, o));
  const driverOf = options.currentDriver ?? ((a) => currentDriver(a));
  const access = options.access ?? "auto";
  let dev: TakenDevice;
  try {
    dev = open(address, { force: options.force ?? false, access, log });
  } catch (e) {
    const msg = why(e);
    if (msg.startsWith("refusing")) return skipAll(names, `not taken over: ${msg}`);
    return [
      check.fail("init.sequence", `could not take the device over: ${msg}`),
      ...skipAll(names.slice(1), "device not taken over"),
    ];
  }
  const results: CheckResult[] = [];
  let peer: TakenDevice | undefined;
  try {
    let start = performance.now();
    results.push(timed(checkInitSequence(dev.transport), start));
    start = performance.now();
    results.push(timed(checkQueueSetup(dev.transport, dev.dma), start));
    if (type === 1) {
      start = performance.now();
      if (options.peer) {
        try {
          peer = open(options.peer, { force: options.force ?? false, access, log });
        } catch (e) {
          results.push(check.fail("net.selftest", `peer ${options.peer}: ${why(e)}`));
        }
      }
      if (!options.peer || peer) {
        results.push(timed(await checkNetSelftest(dev, options, peer), start));
      }
    }
    if (type === 2) {
      results.push(...blkChecks(dev, options));
    }
  } finally {
    const start = performance.now();
    const closeErrors: string[] = [];
    for (const d of [peer, dev]) {
      try {
        d?.close();
      } catch (e) {
        closeErrors.push(why(e));
      }
    }
    const now = driverOf(address);
    const want = dev.originalDriver;
    const back = now === want;
    const problems = [
      ...closeErrors,
      ...(back ? [] : [`now on ${now ?? "no driver"}, was ${want ?? "no driver"}`]),
    ];
    results.push(timed(
      problems.length
        ? check.fail("device.restored", problems.join("; "))
        : check.pass("device.restored", `given back to ${want ?? "no driver (as found)"}`),
      start,
    ));
  }
  return results;
}
