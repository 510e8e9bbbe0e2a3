/**
 * One bounded request through an idle request queue: the disk's head for the signature check
 * before blkgen writes, single sectors and a FLUSH for diag, the FLUSH at the end of a blkgen
 * job, DISCARD and WRITE_ZEROES ranges. Polls with a deadline, so a device that never answers
 * is an error, not a hang. Only WRITE_ZEROES changes data.
 * @module
 */
import type { DmaAllocator } from "../dma/memory.ts";
import { DeviceError } from "../errors.ts";
import { sleepSync } from "../virtio/sleep.ts";
import {
  type BlkLimits,
  VIRTIO_BLK_T_DISCARD,
  VIRTIO_BLK_T_FLUSH,
  VIRTIO_BLK_T_IN,
  VIRTIO_BLK_T_WRITE_ZEROES,
} from "./protocol.ts";
import { type BlkRange, checkRanges, encodeRanges, RANGE_BYTES } from "./ranges.ts";
import type { BlkCompletion, BlkRequestQueue } from "./request_queue.ts";

/** What one read got: the device's status, and the bytes when it was OK. */
export type ReadResult =
  | { status: "ok"; bytes: Uint8Array }
  | { status: "ioerr" | "unsupp" | "bad"; detail?: string };

/** How long to wait, and a hook for a simulated device to serve. */
export interface OnceOptions {
  /** Give up after this long (default 5000 ms): a DeviceError. */
  timeoutMs?: number;
  /** Called while waiting (a simulated device serves here). */
  tick?: () => void;
}

/**
 * Reads `bytes` (a multiple of 512) from `sector` in one request on an idle queue, waiting
 * at most `timeoutMs`. `tick` lets a simulated device serve.
 */
export function readOnce(
  q: BlkRequestQueue,
  dma: DmaAllocator,
  sector: number,
  bytes: number,
  o: OnceOptions = {},
): ReadResult {
  return requestOnce(q, dma, VIRTIO_BLK_T_IN, sector, bytes, o);
}

/** §5.2.6.2 FLUSH, alone on an idle queue: its status. Changes no data. */
export function flushOnce(q: BlkRequestQueue, dma: DmaAllocator, o: OnceOptions = {}): ReadResult {
  return requestOnce(q, dma, VIRTIO_BLK_T_FLUSH, 0, 0, o);
}

/**
 * One DISCARD or WRITE_ZEROES request of `ranges` (§5.2.6), checked against the device's
 * limits first (a RangeError names the broken one). WRITE_ZEROES changes the disk.
 */
export function rangesOnce(
  q: BlkRequestQueue,
  dma: DmaAllocator,
  limits: BlkLimits,
  what: "discard" | "write-zeroes",
  ranges: readonly BlkRange[],
  o: OnceOptions = {},
): ReadResult {
  const l = what === "discard" ? limits.discardLimits : limits.writeZeroesLimits;
  if (!l) throw new RangeError(`the device did not offer ${what}`);
  const why = checkRanges(what, l, ranges, Number(limits.capacitySectors));
  if (why !== undefined) throw new RangeError(why);
  const type = what === "discard" ? VIRTIO_BLK_T_DISCARD : VIRTIO_BLK_T_WRITE_ZEROES;
  return requestOnce(
    q,
    dma,
    type,
    0,
    ranges.length * RANGE_BYTES,
    o,
    (b) => encodeRanges(b, ranges),
  );
}

const REQUEST_NAMES: Record<number, string> = {
  [VIRTIO_BLK_T_IN]: "read",
  [VIRTIO_BLK_T_FLUSH]: "FLUSH",
  [VIRTIO_BLK_T_DISCARD]: "DISCARD",
  [VIRTIO_BLK_T_WRITE_ZEROES]: "WRITE_ZEROES",
};

function requestOnce(
  q: BlkRequestQueue,
  dma: DmaAllocator,
  type: number,
  sector: number,
  bytes: number,
  o: OnceOptions,
  fill?: (buf: Uint8Array) => void,
): ReadResult {
  if (q.inFlight !== 0) throw new Error("a single request needs an idle queue");
  const what = REQUEST_NAMES[type] ?? `request type ${type}`;
  const buf = bytes > 0 ? dma.alloc(bytes, 4096) : undefined;
  if (buf && fill) fill(buf.bytes);
  const data = buf ? [{ iova: buf.iova, len: bytes }] : [];
  if (!q.enqueue(type, sector, data, 0)) {
    throw new DeviceError(`a ${what} of ${bytes} bytes does not fit the queue`);
  }
  q.kick();
  const done: BlkCompletion[] = [];
  const deadline = performance.now() + (o.timeoutMs ?? 5000);
  while (done.length === 0) {
    o.tick?.();
    q.poll(done);
    if (done.length > 0) break;
    if (performance.now() > deadline) {
      throw new DeviceError(`a ${what} at sector ${sector} did not complete`);
    }
    sleepSync(0.05);
  }
  const c = done[0]!;
  if (c.status === "ok") return { status: "ok", bytes: buf ? buf.bytes.slice() : new Uint8Array() };
  return { status: c.status, ...(c.detail !== undefined ? { detail: c.detail } : {}) };
}
