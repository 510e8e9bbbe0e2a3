/**
 * The harmless request each device type completes on its own, used by the virtqueue checks:
 * a frame on a NIC's first transmit queue (§5.1.6.2), a read of sector 0 on a disk
 * (§5.2.6), a request for entropy (§5.4.6), bytes on a console's port 0 transmit queue
 * (§5.3.6). Each can be spread over a chain of `n` descriptors.
 *
 * @module
 */
import type { ConformContext } from "../context.ts";
import type { Request } from "../session.ts";
import { encodeBlkHeader, VIRTIO_BLK_T_IN } from "../../blk/protocol.ts";

/** Where and what to send for queue checks on this device type. */
export interface Workload {
  /** Queue index the requests go to. */
  readonly queue: number;
  /** Request number `i` spread over `n` descriptors (n >= minChain). */
  request(i: number, n?: number): Request;
  /** Fewest descriptors a request takes. */
  readonly minChain: number;
  /** Longest chain the device type allows (blk: seg_max + 2), before the queue size. */
  maxChain(ctx: ConformContext): number;
}

/** Splits `total` bytes into `n` lengths that differ by at most 1. */
export function spread(total: number, n: number): number[] {
  const base = Math.floor(total / n);
  return Array.from({ length: n }, (_, i) => base + (i < total % n ? 1 : 0));
}

function cut(bytes: Uint8Array, n: number): Uint8Array[] {
  let at = 0;
  return spread(bytes.length, n).map((len) => bytes.slice(at, at += len));
}

/** A broadcast Ethernet frame behind a zero virtio_net_hdr (12 bytes, VERSION_1). */
export function testFrame(i: number, size = 60): Uint8Array {
  const f = new Uint8Array(12 + size);
  f.fill(0xff, 12, 18); // broadcast destination
  f.set([0x02, 0x00, 0x00, 0xc0, 0xf0, i & 0xff], 18); // locally administered source
  f.set([0x88, 0xb5], 24); // IEEE local experimental EtherType
  for (let k = 26; k < f.length; k++) f[k] = (k + i) & 0xff;
  return f;
}

const WORKLOADS: Record<number, Workload> = {
  1: {
    queue: 1,
    minChain: 1,
    maxChain: () => Infinity,
    request: (i, n = 1) => ({ out: cut(testFrame(i, Math.max(60, n * 8)), n), inLens: [] }),
  },
  2: {
    queue: 0,
    minChain: 3,
    maxChain: (ctx) => {
      // §5.2.4: with SEG_MAX the driver puts at most seg_max data segments in a request.
      const f = ctx.transport.deviceFeatures();
      if (!((f >> 2n) & 1n)) return Infinity;
      const segMax = ctx.transport.deviceConfig.consistent((c) => c.read32(12));
      return segMax + 2;
    },
    request: (_i, n = 3) => ({
      out: [encodeBlkHeader(VIRTIO_BLK_T_IN, 0n)],
      inLens: [...spread(512, n - 2), 1],
    }),
  },
  3: {
    queue: 1,
    minChain: 1,
    maxChain: () => Infinity,
    request: (i, n = 1) => ({
      out: cut(new TextEncoder().encode(`conform ${i} `.padEnd(Math.max(16, n), ".")), n),
      inLens: [],
    }),
  },
  4: {
    queue: 0,
    minChain: 1,
    maxChain: () => Infinity,
    request: (_i, n = 1) => ({ out: [], inLens: spread(Math.max(64, n), n) }),
  },
};

/** The workload for this device's type, or why there is none. */
export function workloadFor(ctx: ConformContext): Workload | string {
  return WORKLOADS[ctx.deviceType] ?? "no harmless request known for this device type";
}

/** `applies` of a check that needs a workload: true, or why there is none. */
export function hasWorkload(ctx: ConformContext): true | string {
  const w = workloadFor(ctx);
  return typeof w === "string" ? w : true;
}

/** The workload of a check whose `applies` was {@link hasWorkload} (throws if there is none). */
export function workloadOf(ctx: ConformContext): Workload {
  const w = workloadFor(ctx);
  if (typeof w === "string") throw new Error(w);
  return w;
}
