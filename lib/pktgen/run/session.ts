/**
 * One pktgen run over opened virtio-net devices: fills in address defaults from the devices,
 * builds a frame writer per transmit queue (flow id = queue index), prefills every transmit
 * slot once, runs the loop and judges the result against what was asked.
 *
 * Queue pairs (`--queues N`) are served round-robin by one loop on one thread: N queues
 * spread the device's work over N virtqueues (and N QEMU/host threads where the backend has
 * them) but the JS side does not scale beyond one core.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import type { VirtioNet } from "../../net/virtio_net.ts";
import { DeviceError } from "../../errors.ts";
import { checkDeviceStatus } from "../../virtio/initialize.ts";
import { hasFeature, VIRTIO_NET_F_CTRL_RX } from "../../virtio/features.ts";
import { FrameWriter } from "../frame.ts";
import { type FieldRange, fixedRange, formatRange, parseMac } from "../flows.ts";
import { type Clock, formatRateSpec, monotonicNs } from "../pacer.ts";
import type { PcapWriter } from "../pcap.ts";
import { SizeSequence } from "../sizes.ts";
import type { IntervalSnapshot } from "../stats.ts";
import {
  type EngineResult,
  type EngineSpec,
  runEngine,
  type TxStream,
  type WatchedDevice,
} from "./engine.ts";
import type { PktgenMode, PktgenOptions } from "./options.ts";
import { pinThisThread } from "../../sys/affinity.ts";
import { warmUp } from "./warmup.ts";

/** An opened device as the session sees it. */
export interface NetPort {
  /** PCI address of the device. */
  readonly address: string;
  /** The opened virtio-net device. */
  readonly net: VirtioNet;
  /** "sysfs" | "vfio" (or "sim" in tests). */
  readonly access: string;
  /** False once the function has left the PCI bus (hot-unplug); checked once per interval. */
  readonly present?: () => boolean;
}

/** Where frames go unless --dst-mac says otherwise (tx mode): locally administered, unused. */
export const DEFAULT_DST_MAC = "02:00:00:00:00:02";
/** Source MAC when the device has no MAC feature. */
export const DEFAULT_SRC_MAC = "02:00:00:00:00:01";

/** What a session needs from outside: the abort signal, and replaceable clock, sleep and callbacks. */
export interface SessionDeps {
  /** Aborting it stops the run (Ctrl-C). */
  readonly signal: AbortSignal;
  /** Monotonic ns clock; default `monotonicNs`. */
  readonly clock?: Clock;
  /** Sleeps `ms`; default a timer. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Called once per loop turn (a simulated device does its work here). */
  readonly tick?: () => void;
  /** Where received frames are recorded, if anywhere. */
  readonly pcap?: PcapWriter;
  /** Each interval's snapshot; `progress` 0..1 for bounded runs, else undefined. */
  readonly onInterval?: (snap: IntervalSnapshot, progress: number | undefined) => void;
  /** Link changes and other events worth a line on stderr. */
  readonly onEvent?: (message: string) => void;
}

/** A device as the result reports it. */
export interface DeviceInfo {
  /** PCI address. */
  address: string;
  /** Access path ("sysfs", "vfio" ...). */
  access: string;
  /** Transport kind ("modern" or "legacy"). */
  transport: string;
  /** Ring format ("split" or "packed"). */
  format: string;
  /** The device's MAC address, null when it has none. */
  mac: string | null;
  /** The device's MTU, null when it reports none. */
  mtu: number | null;
  /** Queue pairs in use. */
  queuePairs: number;
  /** Negotiated feature bits as hex. */
  features: string;
  /**
   * Per direction, over all queue pairs: batches made visible to the device (avail index or
   * flags stores) and notifications actually sent — what notification suppression
   * (§2.7.10, §2.8.10) saved. Read when the result is built.
   */
  doorbells: { tx: DoorbellCounts; rx: DoorbellCounts };
  /**
   * Per queue pair, in queue order: frames handed to its transmit queue and frames its
   * receive queue took from the device (valid or not) — how the traffic spread over the
   * queues (VIRTIO_NET_F_MQ: the device picks the receive queue, §5.1.6.5.6).
   */
  queues: QueuePairCounts[];
}

/** One queue pair's frame counts. */
export interface QueuePairCounts {
  /** Frames sent on this pair's transmit queue. */
  tx: number;
  /** Frames received on this pair's receive queue. */
  rx: number;
}

/** How often a direction's queues published buffers and rang the doorbell. */
export interface DoorbellCounts {
  /** kick() calls that published something. */
  publishes: number;
  /** Notifications written to the device. */
  notifications: number;
}

/** What the transmitted frames look like, as text. */
export interface FlowInfo {
  /** IPv4 or IPv6. */
  ipVersion: 4 | 6;
  /** The size sequence's description. */
  sizes: string;
  /** Source MAC range. */
  srcMac: string;
  /** Destination MAC range. */
  dstMac: string;
  /** Source IP range. */
  srcIp: string;
  /** Destination IP range. */
  dstIp: string;
  /** Source UDP port range. */
  srcPort: string;
  /** Destination UDP port range. */
  dstPort: string;
}

/** Whether the run met what was asked (loss, count), and if not why. */
export interface Expectations {
  /** True when `failures` is empty. */
  met: boolean;
  /** One line per unmet expectation (or the run's error). */
  failures: string[];
}

/** A whole pktgen run's result: the engine's numbers plus devices, flows and the verdict. */
export interface SessionResult extends EngineResult {
  /** Transmit, receive, or loopback. */
  mode: PktgenMode;
  /** The transmitting device, null in rx mode. */
  tx: DeviceInfo | null;
  /** The receiving device, null in tx mode. */
  rx: DeviceInfo | null;
  /** The transmitted frames, null when nothing was sent. */
  flows: FlowInfo | null;
  /** The target rate as given, null when unlimited. */
  rate: string | null;
  /** The CPU the poll loop was pinned to (--cpu), null when not pinned. */
  cpu: number | null;
  /** Whether the run met what was asked. */
  expectations: Expectations;
}

export function deviceInfo(p: NetPort): DeviceInfo {
  return {
    address: p.address,
    access: p.access,
    transport: p.net.transport.kind,
    format: p.net.format,
    mac: p.net.mac ?? null,
    mtu: p.net.mtu ?? null,
    queuePairs: p.net.pairs.length,
    features: `0x${p.net.features.toString(16)}`,
    doorbells: {
      tx: doorbells(p.net.pairs.map((q) => q.tx.queue.stats)),
      rx: doorbells(p.net.pairs.map((q) => q.rx.queue.stats)),
    },
    queues: p.net.pairs.map((q) => ({ tx: q.tx.packets, rx: q.rx.packets })),
  };
}

function doorbells(stats: readonly { publishes: number; notifications: number }[]): DoorbellCounts {
  return {
    publishes: stats.reduce((a, s) => a + s.publishes, 0),
    notifications: stats.reduce((a, s) => a + s.notifications, 0),
  };
}

function watch(p: NetPort): WatchedDevice {
  return {
    name: p.address,
    checkStatus: () => {
      const gone = () =>
        new DeviceError(`${p.address} is gone: hot-unplugged (no longer on the PCI bus)`);
      if (p.present && !p.present()) throw gone();
      try {
        checkDeviceStatus(p.net.transport);
      } catch (e) {
        if (!(e instanceof DeviceError)) throw e;
        // A status of 0 or 0xff often comes a moment before the function leaves the bus.
        if (p.present && !p.present()) throw gone();
        throw new DeviceError(`${p.address}: ${e.message}`, { cause: e });
      }
    },
    linkUp: () => p.net.linkUp(),
  };
}

/** Runs `o.mode` with `txPort` transmitting and/or `rxPort` receiving. */
export async function runSession(
  o: PktgenOptions,
  ports: { tx?: NetPort; rx?: NetPort },
  deps: SessionDeps,
): Promise<SessionResult> {
  const { tx: txPort, rx: rxPort } = ports;
  const streams: TxStream[] = [];
  let flows: FlowInfo | null = null;
  if (txPort && o.sizes) {
    const a = o.addresses;
    const srcMac: FieldRange = a.srcMac ??
      fixedRange("mac", parseMac(txPort.net.mac ?? DEFAULT_SRC_MAC));
    const dstMac: FieldRange = a.dstMac ??
      fixedRange("mac", parseMac(rxPort?.net.mac ?? DEFAULT_DST_MAC));
    flows = {
      ipVersion: o.ipVersion,
      sizes: o.sizes.description,
      srcMac: formatRange(srcMac),
      dstMac: formatRange(dstMac),
      srcIp: formatRange(a.srcIp),
      dstIp: formatRange(a.dstIp),
      srcPort: formatRange(a.srcPort),
      dstPort: formatRange(a.dstPort),
    };
    txPort.net.pairs.forEach((pair, i) => {
      const writer = new FrameWriter({
        ipVersion: o.ipVersion,
        srcMac,
        dstMac,
        srcIp: a.srcIp,
        dstIp: a.dstIp,
        srcPort: a.srcPort,
        dstPort: a.dstPort,
        maxWireSize: o.sizes!.max,
        flowId: i,
        seed: i + 1,
        // Latency needs the sender's clock: only loopback's receiver shares it.
        stampTime: o.mode === "loopback",
      });
      // The template goes into every slot once; per packet only the changing fields move.
      // One size and one flow: the lengths too, so per packet only the stamp is written.
      const sizes = new SizeSequence(o.sizes!.table, o.sizes!.description);
      const oneSize = writer.fixedFlow && sizes.min === sizes.max;
      for (const f of pair.tx.frames) writer.prefill(f, 0, oneSize ? sizes.min : undefined);
      // Each stream walks its own copy of the size table.
      streams.push({ queue: pair.tx, writer, sizes, oneSize, seq: 0 });
    });
  }
  if (rxPort && o.mode === "rx" && hasFeature(rxPort.net.features, VIRTIO_NET_F_CTRL_RX)) {
    // Receive what the wire carries, not only frames for our MAC (§5.1.6.5.1).
    rxPort.net.setPromiscuous(true);
  }
  const watched = [...new Set([txPort, rxPort])].filter((p): p is NetPort => p !== undefined)
    .map(watch);
  const clock = deps.clock ?? monotonicNs;
  // --cpu: the loop runs on this thread; its mask goes back when the run ends.
  using _pinned = o.cpu !== undefined ? pinThisThread(o.cpu) : undefined;
  // Every key present (undefined when unused), in one order: the warm-up's copy of this spec
  // then has the same hidden class, so the loop V8 optimized on it is not thrown away (a
  // deoptimization) when it meets the real spec.
  const spec: EngineSpec = {
    tx: streams,
    rx: rxPort ? rxPort.net.pairs.map((p) => p.rx) : [],
    count: o.count,
    durationS: o.durationS,
    rate: o.rate,
    batch: Math.min(o.batch, ...(txPort ? txPort.net.pairs.map((p) => p.tx.queue.size) : [])),
    intervalS: o.intervalS,
    stallS: o.stallS,
    verifyAll: o.verifyAll,
    latency: o.mode === "loopback",
    drainMs: 500,
    pcap: deps.pcap,
    devices: watched,
    signal: deps.signal,
    clock,
    sleep: deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
    tick: deps.tick,
    yieldNow: deps.sleep ? undefined : yieldToEventLoop,
    onInterval: deps.onInterval,
    onEvent: deps.onEvent,
  };
  // JIT warm-up on private rings (warmup.ts), on the CPU the run will use. Not with a
  // simulated device (tick): it steps inside our loop, and tests want no extra second.
  if (o.warmupS > 0 && !deps.tick) await warmUp(spec, o.warmupS * 1000);
  const result = await runEngine(spec);
  return {
    ...result,
    mode: o.mode,
    tx: txPort ? deviceInfo(txPort) : null,
    rx: rxPort ? deviceInfo(rxPort) : null,
    flows,
    rate: o.rate ? formatRateSpec(o.rate) : null,
    cpu: o.cpu ?? null,
    expectations: judge(o, result),
  };
}

/**
 * One full event-loop turn (timers, signals, I/O) through node's `setImmediate`: ~0.6 ms on
 * the host where a 0-ms timer costs ~2.3 ms (and ~10 ms in the TCG guest). A MessageChannel
 * message is cheaper still but is delivered without a full turn: signals then waited seconds.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Did the run meet what was asked? Device errors and loss above --expect-loss fail it. */
export function judge(o: PktgenOptions, r: EngineResult): Expectations {
  const failures: string[] = [];
  if (r.error !== undefined) failures.push(r.error);
  if (o.expectLoss !== undefined && r.summary.rx.lost > o.expectLoss) {
    failures.push(`${r.summary.rx.lost} frames lost, at most ${o.expectLoss} expected`);
  }
  if (o.mode === "rx" && o.count !== undefined && r.stopReason === "duration") {
    failures.push(`received ${r.summary.rx.packets} of ${o.count} frames before the time ran out`);
  }
  return { met: failures.length === 0, failures };
}
