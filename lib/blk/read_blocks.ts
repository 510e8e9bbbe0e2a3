/**
 * One bounded read through a request queue, outside any job: the disk's head for the
 * signature check before blkgen writes, single sectors for diag. Polls with a deadline, so a
 * device that never answers is an error, not a hang. Reads only.
 * @module
 */
import type { DmaAllocator } from "../dma/memory.ts";
import { DeviceError } from "../errors.ts";
import { sleepSync } from "../virtio/sleep.ts";
import { SECTOR_BYTES, VIRTIO_BLK_T_IN } from "./protocol.ts";
import type { BlkCompletion, BlkRequestQueue } from "./request_queue.ts";

/** What one read got: the device's status, and the bytes when it was OK. */
export type ReadResult =
  | { status: "ok"; bytes: Uint8Array }
  | { status: "ioerr" | "unsupp" | "bad"; detail?: string };

/**
 * Reads `bytes` (a multiple of 512) from `sector` in one request on an idle queue, waiting
 * at most `timeoutMs`. `tick` lets a simulated device serve.
 */
export function readOnce(
  q: BlkRequestQueue,
  dma: DmaAllocator,
  sector: number,
  bytes: number,
  o: { timeoutMs?: number; tick?: () => void } = {},
): ReadResult {
  if (q.inFlight !== 0) throw new Error("readOnce needs an idle queue");
  const buf = dma.alloc(bytes, 4096);
  if (!q.enqueue(VIRTIO_BLK_T_IN, sector, [{ iova: buf.iova, len: bytes }], 0)) {
    throw new DeviceError(`a read of ${bytes / SECTOR_BYTES} sectors does not fit the queue`);
  }
  q.kick();
  const done: BlkCompletion[] = [];
  const deadline = performance.now() + (o.timeoutMs ?? 5000);
  while (done.length === 0) {
    o.tick?.();
    q.poll(done);
    if (done.length > 0) break;
    if (performance.now() > deadline) {
      throw new DeviceError(`a read of sector ${sector} did not complete`);
    }
    sleepSync(0.05);
  }
  const c = done[0]!;
  if (c.status === "ok") return { status: "ok", bytes: buf.bytes.slice() };
  return { status: c.status, ...(c.detail !== undefined ? { detail: c.detail } : {}) };
}
