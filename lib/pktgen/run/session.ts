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
import { checkDeviceStatus } from "../../virtio/initialize.ts";
import { hasFeature, VIRTIO_NET_F_CTRL_RX } from "../../virtio/features.ts";
import { FrameWriter } from "../frame.ts";
import { type FieldRange, fixedRange, formatRange, parseMac } from "../flows.ts";
import { type Clock, formatRateSpec, monotonicNs } from "../pacer.ts";
import type { PcapWriter } from "../pcap.ts";
import { SizeSequence } from "../sizes.ts";
import type { IntervalSnapshot } from "../stats.ts";
import { type EngineResult, runEngine, type TxStream, type WatchedDevice } from "./engine.ts";
import type { PktgenMode, PktgenOptions } from "./options.ts";

/** An opened device as the session sees it. */
export interface NetPort {
  readonly address: string;
  readonly net: VirtioNet;
  /** "sysfs" | "vfio" (or "sim" in tests). */
  readonly access: string;
}

/** Where frames go unless --dst-mac says otherwise (tx mode): locally administered, unused. */
export const DEFAULT_DST_MAC = "02:00:00:00:00:02";
/** Source MAC when the device has no MAC feature. */
export const DEFAULT_SRC_MAC = "02:00:00:00:00:01";

export interface SessionDeps {
  readonly signal: AbortSignal;
  readonly clock?: Clock;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly tick?: () => void;
  readonly pcap?: PcapWriter;
  readonly onInterval?: (snap: IntervalSnapshot, progress: number | undefined) => void;
  readonly onEvent?: (message: string) => void;
}

export interface DeviceInfo {
  address: string;
  access: string;
  transport: string;
  format: string;
  mac: string | null;
  mtu: number | null;
  queuePairs: number;
  features: string;
}

export interface FlowInfo {
  ipVersion: 4 | 6;
  sizes: string;
  srcMac: string;
  dstMac: string;
  srcIp: string;
  dstIp: string;
  srcPort: string;
  dstPort: string;
}

export interface Expectations {
  met: boolean;
  failures: string[];
}

export interface SessionResult extends EngineResult {
  mode: PktgenMode;
  tx: DeviceInfo | null;
  rx: DeviceInfo | null;
  flows: FlowInfo | null;
  rate: string | null;
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
  };
}

function watch(p: NetPort): WatchedDevice {
  return {
    name: p.address,
    checkStatus: () => checkDeviceStatus(p.net.transport),
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
      });
      // The template goes into every slot once; per packet only the changing fields move.
      for (const f of pair.tx.frames) writer.prefill(f, 0);
      // Each stream walks its own copy of the size table.
      const sizes = new SizeSequence(o.sizes!.table, o.sizes!.description);
      streams.push({ queue: pair.tx, writer, sizes, seq: 0 });
    });
  }
  if (rxPort && o.mode === "rx" && hasFeature(rxPort.net.features, VIRTIO_NET_F_CTRL_RX)) {
    // Receive what the wire carries, not only frames for our MAC (§5.1.6.5.1).
    rxPort.net.setPromiscuous(true);
  }
  const watched = [...new Set([txPort, rxPort])].filter((p): p is NetPort => p !== undefined)
    .map(watch);
  const clock = deps.clock ?? monotonicNs;
  const result = await runEngine({
    tx: streams,
    rx: rxPort ? rxPort.net.pairs.map((p) => p.rx) : [],
    ...(o.count !== undefined ? { count: o.count } : {}),
    ...(o.durationS !== undefined ? { durationS: o.durationS } : {}),
    ...(o.rate ? { rate: o.rate } : {}),
    batch: Math.min(o.batch, ...(txPort ? txPort.net.pairs.map((p) => p.tx.queue.size) : [])),
    intervalS: o.intervalS,
    stallS: o.stallS,
    verifyAll: o.verifyAll,
    latency: o.mode === "loopback",
    drainMs: 500,
    ...(deps.pcap ? { pcap: deps.pcap } : {}),
    devices: watched,
    signal: deps.signal,
    clock,
    sleep: deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
    ...(deps.tick ? { tick: deps.tick } : {}),
    ...(deps.sleep ? {} : { yieldNow: yieldToEventLoop }),
    ...(deps.onInterval ? { onInterval: deps.onInterval } : {}),
    ...(deps.onEvent ? { onEvent: deps.onEvent } : {}),
  });
  return {
    ...result,
    mode: o.mode,
    tx: txPort ? deviceInfo(txPort) : null,
    rx: rxPort ? deviceInfo(rxPort) : null,
    flows,
    rate: o.rate ? formatRateSpec(o.rate) : null,
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
