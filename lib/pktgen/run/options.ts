/**
 * What a pktgen run is asked: the typed {@link PktgenOptions} the session takes, and the
 * check that needs the opened device (frame size against its MTU, {@link checkAgainstDevice}).
 * The command line that builds them is `commands/pktgen_options.ts`.
 *
 * @module
 */
import { UsageError } from "../../errors.ts";
import type { FieldRange } from "../flows.ts";
import type { Rate } from "../pacer.ts";
import { type SizeSequence, wireSize } from "../sizes.ts";
import { DEFAULT_SLOT_SIZE } from "../../net/packet_queues.ts";

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

/** Largest frame a transmit slot holds, as a wire size (slot − 12-byte header + FCS). */
export const MAX_SLOT_WIRE_SIZE = wireSize(DEFAULT_SLOT_SIZE - 12);

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
