/**
 * `virtio pktgen DEVICE [options]`: transmit, receive (`--rx`) or loopback (`--loopback
 * PEER`) UDP test traffic through our user-space virtio-net driver. The loop and the
 * reporting are in `lib/pktgen/run/`; this parses, opens the devices and renders.
 *
 * @module
 */
import type { Command, CommandIO } from "./command.ts";
import { parseArgs } from "./args.ts";
import { VIRTIO_ID_NET } from "../lib/virtio/device_types.ts";
import { VirtioPciDevice } from "../lib/driver/virtio_pci_device.ts";
import { VirtioNet } from "../lib/net/virtio_net.ts";
import { PcapWriter } from "../lib/pktgen/pcap.ts";
import { runChartSvg } from "../lib/pktgen/plot.ts";
import type { Clock } from "../lib/pktgen/pacer.ts";
import {
  checkAgainstDevice,
  MAX_SLOT_WIRE_SIZE,
  type PktgenOptions,
} from "../lib/pktgen/run/options.ts";
import { buildOptions, PKTGEN_ARGS } from "./pktgen_options.ts";
import { type NetPort, runSession } from "../lib/pktgen/run/session.ts";
import { checkCpuAllowed } from "../lib/sys/affinity.ts";
import { UsageError } from "../lib/errors.ts";
import {
  intervalJson,
  liveLine,
  PKTGEN_SCHEMA,
  summaryJson,
  summaryText,
} from "../lib/pktgen/run/report.ts";

const usage = `Usage: virtio pktgen DEVICE [options]

Sends UDP test traffic from DEVICE (a virtio-net PCI device this process takes over and
gives back at the end), receives it (--rx), or both across two devices (--loopback PEER:
transmit on DEVICE, receive on PEER) reporting loss, duplicates, reordering and latency
from a sequence number and timestamp in every payload (plain transmit writes only the
sequence number: a receiver elsewhere does not share our clock). Needs root.

Modes:
      --rx                receive on DEVICE: count, validate, optionally --pcap
      --loopback PEER     transmit on DEVICE, receive on PEER (both taken over)

Traffic (transmit and loopback):
  -s, --size SPEC         wire size incl. 4-byte FCS: 64 | 64-1518[,random] | imix |
                          64:7,570:4,1518:1 (size:weight); default 64 (84 with --ipv6);
                          at most the device MTU + 18 (and ${MAX_SLOT_WIRE_SIZE})
  -r, --rate RATE         pps (1M, 500kpps) or bit/s (1Gbit, 100Mbps); default: full speed
      --src-mac R, --dst-mac R     MAC or range FIRST-LAST[,inc|random]
                          (default: the device's MAC → PEER's MAC, or 02:00:00:00:00:02)
      --src-ip R, --dst-ip R       IPv4/IPv6 address or range (default 10.0.0.1 → 10.0.0.2,
                          fd00::1 → fd00::2 with --ipv6); IPv6 ranges vary the low 32 bits
      --src-port R, --dst-port R   port, range, or 'random' (default 1024 → 9)
      --ipv6              UDP over IPv6 instead of IPv4

Run length (default: until Ctrl-C):
  -n, --count N           frames to send (tx, loopback) or to receive (--rx)
      --duration SECS     stop after SECS seconds (whichever of count/duration comes first)

Device:
      --access MODE       sysfs | vfio | auto (default auto: vfio when in an IOMMU group)
      --ring FORMAT       split | packed | auto (default auto: packed when offered)
      --queue-size N      entries per queue (power of two for split rings; default 256)
  -b, --batch N           frames per kick (default 128)
      --queues N          queue pairs (needs VIRTIO_NET_F_MQ; PEER uses as many), one flow id
                          per transmit queue. One loop on one thread serves them round-robin:
                          this spreads the device's work, not ours — the JS side stays on one
                          core. The summary counts frames per queue (how the device spread
                          what it delivered). Try it: virtio lab -d mq (two 4-pair NICs)
      --force             take the device even when it looks in use
      --cpu N             run the poll loop on CPU N: pins this thread only, so V8's
                          compiler and GC threads do not take the loop's CPU (taskset would
                          pin them too); default: wherever the kernel puts it

Output:
      --json              final summary as JSON on stdout (schema ${PKTGEN_SCHEMA},
                          docs/pktgen-json.md)
      --interval SECS     live line period (default 1); with --json also one JSON line
                          per interval
      --plot FILE.svg     tx/rx rate (and latency in loopback) over time
      --pcap FILE         save received frames (pcap, ns timestamps; --rx or --loopback)
      --verify            check IP/UDP checksums of every received frame (default 1 in 16)
  -q, --quiet             no live line on stderr
      --stall-timeout S   give up when transmit makes no progress for S s (default 3)
      --warmup S          warm the JIT for S s on private in-memory rings first (default 1, 0: off)

Expectations:
      --expect-loss N     fail (exit 1) when more than N frames are lost (--rx, --loopback)

Examples:
  virtio pktgen 0000:00:04.0 --count 1000000 --size 64
  virtio pktgen 00:04.0 --duration 10 --rate 1M --size imix --json
  virtio pktgen 00:04.0 --loopback 00:05.0 -n 100000 --expect-loss 0 --plot run.svg
  virtio pktgen 00:05.0 --rx --duration 30 --pcap rx.pcap -q
  virtio pktgen 00:04.0 --queues 4 --src-port 1024-1087 --dst-mac=02:00:00:00:00:02

Exit codes: 0 the run met what was asked, 1 loss above --expect-loss or a device error,
2 usage error. Ctrl-C stops the run, prints the summary and gives the device back.`;

/** A device opened for the run; disposing gives it back. */
export type OpenedPort = NetPort & Disposable;

export interface PktgenDeps {
  /** Opens a device for the run (tests pass a simulated one). */
  readonly open?: (address: string, o: PktgenOptions, log: (l: string) => void) => OpenedPort;
  readonly clock?: Clock;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly tick?: () => void;
}

/** Takes `address` over and sets virtio-net up as the options ask. */
export function openPort(address: string, o: PktgenOptions, log: (l: string) => void): OpenedPort {
  const dev = VirtioPciDevice.open(address, {
    access: o.access,
    force: o.force,
    log,
    deviceType: VIRTIO_ID_NET,
  });
  try {
    const net = VirtioNet.open(dev.transport, dev.dma, {
      format: o.ring,
      queuePairs: o.queues,
      requireAccessPlatform: dev.access === "vfio",
      ...(o.queueSize !== undefined ? { queueSize: o.queueSize } : {}),
    });
    return {
      address: dev.address,
      net,
      access: dev.access,
      present: () => dev.present(),
      [Symbol.dispose]: () => dev.close(),
    };
  } catch (e) {
    dev.close();
    throw e;
  }
}

/** Parses and checks `virtio pktgen`'s arguments (UsageError on a mistake); nothing opened. */
export function parsePktgenArgs(args: string[]): PktgenOptions {
  const { values, positionals } = parseArgs(args, PKTGEN_ARGS);
  return buildOptions(values, positionals);
}

export async function runPktgen(
  args: string[],
  io: CommandIO,
  deps: PktgenDeps = {},
): Promise<number> {
  const o = parsePktgenArgs(args);
  const log = (l: string) => {
    if (!o.quiet) io.err(`${l}\n`);
  };
  const open = deps.open ?? openPort;
  // Before any device is touched: a CPU we may not run on is a usage error. The session pins.
  if (o.cpu !== undefined) {
    try {
      checkCpuAllowed(o.cpu);
    } catch (e) {
      if (e instanceof RangeError) throw new UsageError(`--cpu ${o.cpu}: ${e.message}`);
      throw e;
    }
  }
  using first = open(o.device, o, log);
  using second = o.peer !== undefined ? open(o.peer, o, log) : undefined;
  const txPort = o.mode === "rx" ? undefined : first;
  const rxPort = o.mode === "rx" ? first : second;
  if (txPort) checkAgainstDevice(o, { mtu: txPort.net.mtu, address: txPort.address });
  using pcap = o.pcap !== undefined ? PcapWriter.create(o.pcap) : undefined;
  const result = await runSession(o, {
    ...(txPort ? { tx: txPort } : {}),
    ...(rxPort ? { rx: rxPort } : {}),
  }, {
    signal: io.signal,
    ...(deps.clock ? { clock: deps.clock } : {}),
    ...(deps.sleep ? { sleep: deps.sleep } : {}),
    ...(deps.tick ? { tick: deps.tick } : {}),
    ...(pcap ? { pcap } : {}),
    onInterval: (snap, progress) => {
      if (!o.quiet) io.err(liveLine(snap, progress) + "\n");
      if (o.jsonIntervals) io.out(intervalJson(snap) + "\n");
    },
    onEvent: (m) => io.err(`virtio pktgen: ${m}\n`),
  });
  if (o.plot !== undefined) {
    const title = `virtio pktgen ${o.mode} ${o.device}${o.peer ? ` → ${o.peer}` : ""}`;
    Deno.writeTextFileSync(o.plot, runChartSvg(title, result.snapshots));
  }
  if (result.error !== undefined) io.err(`virtio pktgen: ${result.error}\n`);
  io.out(o.json ? summaryJson(result) + "\n" : summaryText(result, io.color));
  return result.expectations.met ? 0 : 1;
}

export const pktgenCommand: Command = {
  name: "pktgen",
  summary: "send, receive or loop back UDP test traffic through a virtio-net device",
  usage,
  parse: parsePktgenArgs,
  run: (args, io) => runPktgen(args, io),
};
