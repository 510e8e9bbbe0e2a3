/** A virtio-net device over the fake modern BAR with the simulated NIC behind it, for pktgen tests. */
import { FakeModernBar } from "../../testing/fake_virtio_pci.ts";
import { FakeDma } from "../../testing/fake_dma.ts";
import { SimNetLoopback } from "../../testing/sim_net.ts";
import { ModernTransport } from "../../lib/virtio/modern_transport.ts";
import { VirtioNet } from "../../lib/net/virtio_net.ts";
import type { NetPort } from "../../lib/pktgen/run/session.ts";
import type { PktgenOptions } from "../../lib/pktgen/run/options.ts";
import { buildOptions, PKTGEN_ARGS } from "../../commands/pktgen_options.ts";
import { parseArgs } from "../../commands/args.ts";

const F = (n: number) => 1n << BigInt(n);
const FEATURES = F(32) | F(5) | F(16) | F(29) | F(34) | F(3); // VERSION_1 MAC STATUS EVENT_IDX PACKED MTU

/** `loopback: false` leaves the wire to `sim.onTransmit`. */
export function simPort(format: "split" | "packed", o: { loopback?: boolean; size?: number } = {}) {
  const size = o.size ?? 64;
  // mac 52:54:00:12:34:56, status LINK_UP, max pairs 1, mtu 1500
  const config = new Uint8Array([0x52, 0x54, 0, 0x12, 0x34, 0x56, 1, 0, 1, 0, 0xdc, 0x05]);
  const bar = new FakeModernBar({
    deviceType: 1,
    features: FEATURES,
    queueSizes: [size, size],
    config,
  });
  const t = new ModernTransport({ deviceType: 1, caps: bar.caps(), openBar: () => bar });
  const dma = new FakeDma();
  const net = VirtioNet.open(t, dma, { format });
  const sim = new SimNetLoopback(dma, {
    format: net.format,
    size,
    eventIdx: true,
    loopback: o.loopback ?? true,
  });
  sim.attach(bar.state.queues[0]!, bar.state.queues[1]!);
  const port: NetPort = { address: "0000:00:04.0", net, access: "sim" };
  return { bar, net, sim, port };
}

/** pktgen options from a command line, as the CLI builds them. */
export function pktgenOptions(args: string[]): PktgenOptions {
  const { values, positionals } = parseArgs(args, PKTGEN_ARGS);
  return buildOptions(values, positionals);
}

/** Fake time: every clock reading moves `stepNs`; sleeps move it by their length. */
export function fakeTime(stepNs = 1000): {
  clock: () => number;
  sleep: (ms: number) => Promise<void>;
  readonly now: number;
} {
  let now = 1e9;
  return {
    clock: () => (now += stepNs),
    sleep: (ms: number) => {
      now += ms * 1e6;
      return Promise.resolve();
    },
    get now() {
      return now;
    },
  };
}
