/**
 * `virtio pktgen` options → a validated {@link PktgenOptions}. Pure: no device is touched, so
 * every usage mistake is found (and reported in one line, exit 2) before anything is taken
 * over. Checks that need the device (frame size against its MTU, queue pairs against its
 * maximum) are in {@link checkAgainstDevice}.
 *
 * @module
 */
import { UsageError } from "../../errors.ts";
import { normalizePciAddress } from "../../pci/address.ts";
import { type FieldRange, parseRange } from "../flows.ts";
import { minFrameBytes } from "../layout.ts";
import { parseRate, type Rate } from "../pacer.ts";
import { parseSizes, type SizeSequence, wireSize } from "../sizes.ts";
import { DEFAULT_SLOT_SIZE } from "../../net/packet_queues.ts";
import { MAX_CPU } from "../../sys/affinity.ts";

/** What a run does: transmit, receive, or transmit on DEVICE and receive on PEER. */
export type PktgenMode = "tx" | "rx" | "loopback";
/** Ring format to ask for; auto takes packed when offered. */
export type RingChoice = "split" | "packed" | "auto";
/** Device access path to use; auto takes VFIO when the device is in an IOMMU group. */
export type AccessChoice = "sysfs" | "vfio" | "auto";

/** The address fields as given (undefined = a default chosen once the devices are open). */
export interface AddressSpecs {
  /** Source MAC range; undefined: the transmitting device's MAC (or a default). */
  srcMac?: FieldRange;
  /** Destination MAC range; undefined: the receiving peer's MAC (or a default). */
  dstMac?: FieldRange;
  /** Source IP range. */
  srcIp: FieldRange;
  /** Destination IP range. */
  dstIp: FieldRange;
  /** Source UDP port range. */
  srcPort: FieldRange;
  /** Destination UDP port range. */
  dstPort: FieldRange;
}

/** Validated `virtio pktgen` options (see `virtio pktgen --help`). */
export interface PktgenOptions {
  /** Transmit, receive, or loopback. */
  mode: PktgenMode;
  /** PCI address of the (transmitting, or in rx mode receiving) device. */
  device: string;
  /** Loopback: the receiving device. */
  peer?: string;
  /** Transmit sizes (wire sizes, FCS included); undefined in rx mode. */
  sizes?: SizeSequence;
  /** The `--size` text as given (or the default), for output. */
  sizeSpec: string;
  /** IPv4 or IPv6 frames. */
  ipVersion: 4 | 6;
  /** Address and port ranges. */
  addresses: AddressSpecs;
  /** Packets to send (tx, loopback) or receive (rx); undefined = unbounded. */
  count?: number;
  /** Seconds; undefined = unbounded. */
  durationS?: number;
  /** Target rate; undefined: as fast as possible. */
  rate?: Rate;
  /** Frames per kick. */
  batch: number;
  /** Entries per queue; undefined: the default. */
  queueSize?: number;
  /** Ring format to ask for. */
  ring: RingChoice;
  /** Device access path. */
  access: AccessChoice;
  /** Queue pairs, one flow id per transmit queue. */
  queues: number;
  /** The CPU to pin the poll loop's thread to; undefined: not pinned. */
  cpu?: number;
  /** File to save received frames to (pcap). */
  pcap?: string;
  /** Final summary as JSON on stdout. */
  json: boolean;
  /** Seconds between live lines / JSON interval lines. */
  intervalS: number;
  /** Emit one JSON line per interval (--json --interval). */
  jsonIntervals: boolean;
  /** SVG file for the rate (and latency) chart. */
  plot?: string;
  /** Fail when more than this many frames are lost. */
  expectLoss?: number;
  /** Take the device even when it looks in use. */
  force: boolean;
  /** No live line on stderr. */
  quiet: boolean;
  /** Verify checksums of every received frame (default: one in 16). */
  verifyAll: boolean;
  /** Seconds without transmit progress before the run is declared stalled. */
  stallS: number;
  /** Seconds of JIT warm-up on private in-memory rings before the run (0: none). */
  warmupS: number;
}

/** The option table for node:util parseArgs. */
export const PKTGEN_ARGS = {
  rx: { type: "boolean" },
  loopback: { type: "string" },
  size: { type: "string", short: "s" },
  count: { type: "string", short: "n" },
  duration: { type: "string", short: "d" },
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
  queues: { type: "string", short: "q" },
  cpu: { type: "string" },
  pcap: { type: "string" },
  json: { type: "boolean" },
  interval: { type: "string" },
  plot: { type: "string" },
  "expect-loss": { type: "string" },
  force: { type: "boolean" },
  quiet: { type: "boolean" },
  verify: { type: "boolean" },
  "stall-timeout": { type: "string" },
  warmup: { type: "string" },
} as const;

/** Option values as `parseArgs` returns them for {@link PKTGEN_ARGS}. */
export type Values = {
  [K in keyof typeof PKTGEN_ARGS]?: (typeof PKTGEN_ARGS)[K]["type"] extends "boolean" ? boolean
    : string;
};

/** Largest frame a transmit slot holds, as a wire size (slot − 12-byte header + FCS). */
export const MAX_SLOT_WIRE_SIZE = wireSize(DEFAULT_SLOT_SIZE - 12);

function int(name: string, v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const t = v.trim();
  const n = Number(t);
  if (!/^\d+$/.test(t) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got '${v}'`);
  }
  return n;
}

function seconds(name: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v.trim());
  if (v.trim() === "" || !Number.isFinite(n) || n < min) {
    throw new UsageError(`--${name} must be a number of seconds ≥ ${min}, got '${v}'`);
  }
  return n;
}

function choice<T extends string>(name: string, v: string | undefined, allowed: T[], def: T): T {
  if (v === undefined) return def;
  if (!allowed.includes(v as T)) {
    throw new UsageError(`--${name} must be one of ${allowed.join(", ")}, got '${v}'`);
  }
  return v as T;
}

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
  const ring = choice("ring", values.ring, ["split", "packed", "auto"], "auto");
  const queueSize = int("queue-size", values["queue-size"], 1, 32768);
  if (queueSize !== undefined && ring !== "packed" && (queueSize & (queueSize - 1)) !== 0) {
    throw new UsageError(
      `--queue-size ${queueSize} is not a power of two, which split rings need (§2.7); ` +
        `use --ring packed for other sizes`,
    );
  }
  // 128 per kick measured best in the lab (bench/README.md): QEMU drains a ring faster than
  // small batches fill it, so with 32 nearly every batch ended in a notification.
  const batch = int("batch", values.batch, 1, 4096) ?? Math.min(128, queueSize ?? 256);
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
  const count = int("count", values.count, 1, Number.MAX_SAFE_INTEGER);
  const durationS = seconds("duration", values.duration, 0.001);
  const intervalS = seconds("interval", values.interval, 0.1) ?? 1;
  const expectLoss = int("expect-loss", values["expect-loss"], 0, Number.MAX_SAFE_INTEGER);
  const queues = int("queues", values.queues, 1, 256) ?? 1;
  const cpu = int("cpu", values.cpu, 0, MAX_CPU);
  const stallS = seconds("stall-timeout", values["stall-timeout"], 0.1) ?? 3;
  // 1 s: under TCG the loop reached its speed after 3–4 s of a real run; on private rings it
  // turns far faster, so V8 has seen enough of it well within a second (bench/README.md).
  const warmupS = seconds("warmup", values.warmup, 0) ?? 1;
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
    access: choice("access", values.access, ["sysfs", "vfio", "auto"], "auto"),
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

/** Checks that need the opened device: the largest frame against its MTU (§5.1.4 mtu). */
export function checkAgainstDevice(
  o: PktgenOptions,
  device: { mtu: number | undefined; address: string },
): void {
  const mtu = device.mtu ?? 1500;
  // Ethernet header 14 + FCS 4 around an MTU-sized IP datagram.
  const maxWire = mtu + 18;
  if (o.sizes && o.sizes.max > maxWire) {
    throw new UsageError(
      `frame size ${o.sizes.max} exceeds ${device.address}'s MTU ${mtu} + 18 = ${maxWire} bytes`,
    );
  }
}
