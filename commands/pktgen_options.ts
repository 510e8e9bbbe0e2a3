/**
 * `virtio pktgen`'s command line → a validated {@link PktgenOptions}. Pure: no device is
 * touched, so every usage mistake is found (and reported in one line, exit 2) before anything
 * is taken over. Checks that need the device are `checkAgainstDevice` in
 * lib/pktgen/run/options.ts.
 *
 * @module
 */
import { accessOption, choiceOption, intOption, secondsOption } from "./args.ts";
import { UsageError } from "../lib/errors.ts";
import { normalizePciAddress } from "../lib/pci/address.ts";
import { parseRange } from "../lib/pktgen/flows.ts";
import { minFrameBytes } from "../lib/pktgen/layout.ts";
import { parseRate, type Rate } from "../lib/pktgen/pacer.ts";
import { parseSizes, wireSize } from "../lib/pktgen/sizes.ts";
import { MAX_CPU } from "../lib/sys/affinity.ts";
import {
  type AddressSpecs,
  MAX_SLOT_WIRE_SIZE,
  type PktgenMode,
  type PktgenOptions,
} from "../lib/pktgen/run/options.ts";

/** The option table for node:util parseArgs. */
export const PKTGEN_ARGS = {
  rx: { type: "boolean" },
  loopback: { type: "string" },
  size: { type: "string", short: "s" },
  count: { type: "string", short: "n" },
  duration: { type: "string" },
  rate: { type: "string", short: "r" },
  batch: { type: "string", short: "b" },
  "queue-size": { type: "string" },
  ring: { type: "string" },
  access: { type: "string" },
  "src-mac": { type: "string" },
  "dst-mac": { type: "string" },
  "src-ip": { type: "string" },
  "dst-ip": { type: "string" },
  "src-port": { type: "string" },
  "dst-port": { type: "string" },
  ipv6: { type: "boolean" },
  queues: { type: "string" },
  cpu: { type: "string" },
  pcap: { type: "string" },
  json: { type: "boolean" },
  interval: { type: "string" },
  plot: { type: "string" },
  "expect-loss": { type: "string" },
  force: { type: "boolean" },
  quiet: { type: "boolean", short: "q" },
  verify: { type: "boolean" },
  "stall-timeout": { type: "string" },
  warmup: { type: "string" },
} as const;

/** Option values as `parseArgs` returns them for {@link PKTGEN_ARGS}. */
export type Values = {
  [K in keyof typeof PKTGEN_ARGS]?: (typeof PKTGEN_ARGS)[K]["type"] extends "boolean" ? boolean
    : string;
};

/** Validates parsed option values and the positional DEVICE into {@link PktgenOptions}. */
export function buildOptions(values: Values, positionals: string[]): PktgenOptions {
  if (positionals.length === 0) throw new UsageError("missing DEVICE (a PCI address)");
  if (positionals.length > 1) {
    throw new UsageError(
      `one DEVICE expected, got ${positionals.length}: ${positionals.join(" ")}`,
    );
  }
  const device = normalizePciAddress(positionals[0]!);
  const rx = values.rx === true;
  if (rx && values.loopback !== undefined) {
    throw new UsageError("--rx and --loopback exclude each other (loopback receives on PEER)");
  }
  const mode: PktgenMode = rx ? "rx" : values.loopback !== undefined ? "loopback" : "tx";
  const peer = values.loopback !== undefined ? normalizePciAddress(values.loopback) : undefined;
  if (peer === device) throw new UsageError("--loopback PEER must be another device than DEVICE");
  if (mode === "rx") {
    const txOnly = [
      "rate",
      "size",
      "src-mac",
      "dst-mac",
      "src-ip",
      "dst-ip",
      "src-port",
      "dst-port",
      "ipv6",
    ] as const;
    const given = txOnly.filter((k) => values[k] !== undefined);
    if (given.length > 0) {
      throw new UsageError(`--rx does not transmit: --${given.join(", --")} make no sense with it`);
    }
  }
  if (mode === "tx" && values.pcap !== undefined) {
    throw new UsageError("--pcap records received frames: use it with --rx or --loopback");
  }
  if (mode === "tx" && values["expect-loss"] !== undefined) {
    throw new UsageError("--expect-loss needs a receiver: use it with --rx or --loopback");
  }
  const ipVersion = values.ipv6 ? 6 : 4;
  const ipKind = ipVersion === 4 ? "ipv4" : "ipv6";
  const minWire = wireSize(minFrameBytes(ipVersion));
  const sizeSpec = values.size ?? String(Math.max(64, minWire));
  const sizes = mode === "rx" ? undefined : parseSizes(sizeSpec, minWire, MAX_SLOT_WIRE_SIZE);
  const ring = choiceOption("ring", values.ring, ["split", "packed", "auto"], "auto");
  const queueSize = intOption("queue-size", values["queue-size"], 1, 32768);
  if (queueSize !== undefined && ring !== "packed" && (queueSize & (queueSize - 1)) !== 0) {
    throw new UsageError(
      `--queue-size ${queueSize} is not a power of two, which split rings need (§2.7); ` +
        `use --ring packed for other sizes`,
    );
  }
  // 128 per kick measured best in the lab (bench/README.md): QEMU drains a ring faster than
  // small batches fill it, so with 32 nearly every batch ended in a notification.
  const batch = intOption("batch", values.batch, 1, 4096) ?? Math.min(128, queueSize ?? 256);
  if (queueSize !== undefined && batch > queueSize) {
    throw new UsageError(`--batch ${batch} is larger than --queue-size ${queueSize}`);
  }
  let rate: Rate | undefined;
  if (values.rate !== undefined) {
    if (/^\s*-/.test(values.rate)) {
      throw new UsageError(`--rate must be positive, got '${values.rate}'`);
    }
    rate = parseRate(values.rate);
  }
  const count = intOption("count", values.count, 1, Number.MAX_SAFE_INTEGER);
  const durationS = secondsOption("duration", values.duration, 0.001);
  const intervalS = secondsOption("interval", values.interval, 0.1) ?? 1;
  const expectLoss = intOption("expect-loss", values["expect-loss"], 0, Number.MAX_SAFE_INTEGER);
  const queues = intOption("queues", values.queues, 1, 256) ?? 1;
  const cpu = intOption("cpu", values.cpu, 0, MAX_CPU);
  const stallS = secondsOption("stall-timeout", values["stall-timeout"], 0.1) ?? 3;
  // 1 s: under TCG the loop reached its speed after 3–4 s of a real run; on private rings it
  // turns far faster, so V8 has seen enough of it well within a second (bench/README.md).
  const warmupS = secondsOption("warmup", values.warmup, 0) ?? 1;
  if (values.plot !== undefined && !values.plot.endsWith(".svg")) {
    throw new UsageError(`--plot writes an SVG: give a file name ending in .svg`);
  }
  const range = (kind: "mac" | "ipv4" | "ipv6" | "port", v: string | undefined, def: string) =>
    parseRange(kind, v ?? def);
  const addresses: AddressSpecs = {
    srcIp: range(ipKind, values["src-ip"], ipVersion === 4 ? "10.0.0.1" : "fd00::1"),
    dstIp: range(ipKind, values["dst-ip"], ipVersion === 4 ? "10.0.0.2" : "fd00::2"),
    srcPort: range("port", values["src-port"], "1024"),
    dstPort: range("port", values["dst-port"], "9"),
  };
  if (values["src-mac"] !== undefined) addresses.srcMac = parseRange("mac", values["src-mac"]);
  if (values["dst-mac"] !== undefined) addresses.dstMac = parseRange("mac", values["dst-mac"]);
  const o: PktgenOptions = {
    mode,
    device,
    sizeSpec,
    ipVersion,
    addresses,
    batch,
    ring,
    access: accessOption(values.access),
    queues,
    json: values.json === true,
    intervalS,
    jsonIntervals: values.json === true && values.interval !== undefined,
    force: values.force === true,
    quiet: values.quiet === true,
    verifyAll: values.verify === true,
    stallS,
    warmupS,
  };
  if (peer !== undefined) o.peer = peer;
  if (sizes !== undefined) o.sizes = sizes;
  if (count !== undefined) o.count = count;
  if (durationS !== undefined) o.durationS = durationS;
  if (rate !== undefined) o.rate = rate;
  if (queueSize !== undefined) o.queueSize = queueSize;
  if (values.pcap !== undefined) o.pcap = values.pcap;
  if (values.plot !== undefined) o.plot = values.plot;
  if (expectLoss !== undefined) o.expectLoss = expectLoss;
  if (cpu !== undefined) o.cpu = cpu;
  return o;
}
