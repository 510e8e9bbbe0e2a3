/**
 * virtio-blk requests over one {@link RingQueue} (VIRTIO 1.2 §5.2.6): each request is a chain
 * [16-byte header (out) | data segments | 1-byte status (in)]. Headers and status bytes live
 * in one DMA region, one 32-byte slot per request in flight; data buffers are the caller's.
 * Everything the device writes back (status byte, used length) is checked before use.
 * @module
 */
import type { DmaAllocator, DmaRegion } from "../dma/memory.ts";
import type { RingQueue, Segment } from "../queue/virtqueue.ts";
import {
  BLK_HEADER_BYTES,
  type BlkLimits,
  type BlkStatus,
  checkBlkRequest,
  decodeBlkStatus,
  VIRTIO_BLK_T_GET_ID,
  VIRTIO_BLK_T_IN,
} from "./protocol.ts";

const SLOT_BYTES = 32; // header at 0, status at 16

/** One request to submit. `data` is device-writable for IN and GET_ID, readable otherwise. */
export interface BlkRequest {
  /** Request type (VIRTIO_BLK_T_*). */
  type: number;
  /** First 512-byte sector. */
  sector: bigint;
  /** Data segments (none for FLUSH). */
  data: readonly Segment[];
  /** Caller's tag, handed back with the completion. */
  tag: number;
}

/** One finished request. `status` is "bad" when the device broke the protocol for it. */
export interface BlkCompletion {
  /** The request's tag. */
  tag: number;
  /** Device status, or "bad" for a protocol violation. */
  status: BlkStatus | "bad";
  /** Why the completion is "bad" (device-written status or used length out of contract). */
  detail?: string;
}

/** Requests over one virtqueue: submit, kick, poll. Nothing is allocated per request. */
export class BlkRequestQueue {
  /** Requests in flight at most. */
  readonly depth: number;
  readonly #q: RingQueue;
  readonly #limits: BlkLimits;
  readonly #slots: DmaRegion;
  readonly #view: DataView;
  readonly #free: Int32Array;
  #freeCount: number;
  // Per slot: 0 = free, else type + 1; the tag, data bytes, and the reused chains.
  readonly #busyType: Int32Array;
  readonly #tag: Float64Array;
  readonly #dataBytes: Float64Array;
  readonly #outs: Segment[][];
  readonly #inns: Segment[][];
  readonly #header: Segment[];
  readonly #status: Segment[];
  readonly #done: BlkCompletion[];
  readonly #tokens: Uint32Array;
  readonly #lens: Uint32Array;

  /** `depth` requests in flight at most (each takes ≥ 3 descriptors of the queue). */
  constructor(queue: RingQueue, dma: DmaAllocator, limits: BlkLimits, depth: number) {
    if (!Number.isInteger(depth) || depth < 1) throw new RangeError(`depth ${depth} < 1`);
    this.depth = depth;
    this.#q = queue;
    this.#limits = limits;
    this.#slots = dma.alloc(depth * SLOT_BYTES, 64);
    const b = this.#slots.bytes;
    this.#view = new DataView(b.buffer, b.byteOffset, b.length);
    this.#free = new Int32Array(depth);
    for (let i = 0; i < depth; i++) this.#free[i] = depth - 1 - i;
    this.#freeCount = depth;
    this.#busyType = new Int32Array(depth);
    this.#tag = new Float64Array(depth);
    this.#dataBytes = new Float64Array(depth);
    this.#outs = Array.from({ length: depth }, () => []);
    this.#inns = Array.from({ length: depth }, () => []);
    this.#header = Array.from({ length: depth }, (_, i) => ({
      iova: this.#slots.iova + i * SLOT_BYTES,
      len: BLK_HEADER_BYTES,
    }));
    this.#status = Array.from({ length: depth }, (_, i) => ({
      iova: this.#slots.iova + i * SLOT_BYTES + BLK_HEADER_BYTES,
      len: 1,
    }));
    this.#done = Array.from({ length: depth }, () => ({ tag: 0, status: "ok" as const }));
    this.#tokens = new Uint32Array(depth);
    this.#lens = new Uint32Array(depth);
  }

  /** Requests submitted and not yet completed. */
  get inFlight(): number {
    return this.depth - this.#freeCount;
  }

  /**
   * Queues one request (published by {@link kick}). Returns false when no slot or descriptor
   * is free. Throws for a request the device's limits forbid (read-only, seg_max, …).
   */
  submit(req: BlkRequest): boolean {
    if (req.sector < 0n || req.sector > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new RangeError(`sector ${req.sector} out of range`);
    }
    return this.enqueue(req.type, Number(req.sector), req.data, req.tag);
  }

  /**
   * {@link submit} without a request object: `sector` a safe integer. The hot path of
   * blkgen; `data` is referenced until the request completes, not copied.
   */
  enqueue(type: number, sector: number, data: readonly Segment[], tag: number): boolean {
    let bytes = 0;
    for (let i = 0; i < data.length; i++) bytes += data[i]!.len;
    const why = checkBlkRequest(this.#limits, type, bytes, data.length);
    if (why !== undefined) throw new RangeError(why);
    if (!Number.isSafeInteger(sector) || sector < 0) {
      throw new RangeError(`sector ${sector} out of range`);
    }
    if (this.#freeCount === 0) return false;
    const slot = this.#free[--this.#freeCount]!;
    const at = slot * SLOT_BYTES;
    // §5.2.6: le32 type, le32 reserved, le64 sector.
    const v = this.#view;
    v.setUint32(at, type >>> 0, true);
    v.setUint32(at + 4, 0, true);
    v.setUint32(at + 8, sector % 0x1_0000_0000, true);
    v.setUint32(at + 12, Math.floor(sector / 0x1_0000_0000), true);
    // A status value no device writes, so an untouched byte is caught (§5.2.6).
    this.#slots.bytes[at + BLK_HEADER_BYTES] = 0xff;
    const writable = type === VIRTIO_BLK_T_IN || type === VIRTIO_BLK_T_GET_ID;
    // §5.2.6: device-readable header (and data for OUT), then device-writable data for IN,
    // then the status byte the device writes last.
    const out = this.#outs[slot]!, inn = this.#inns[slot]!;
    out.length = 0;
    inn.length = 0;
    out.push(this.#header[slot]!);
    for (let i = 0; i < data.length; i++) (writable ? inn : out).push(data[i]!);
    inn.push(this.#status[slot]!);
    if (!this.#q.addBuffer(out, inn, slot)) {
      this.#freeCount++;
      return false;
    }
    this.#busyType[slot] = type + 1;
    this.#tag[slot] = tag;
    this.#dataBytes[slot] = bytes;
    return true;
  }

  /** Publishes the submitted requests and notifies the device (unless suppressed). */
  kick(): boolean {
    return this.#q.kick();
  }

  /**
   * Collects finished requests into `out` (appended). Returns how many. The completion
   * objects are this queue's own and are reused by the next poll: read them before.
   */
  poll(out: BlkCompletion[]): number {
    const n = this.#q.pollUsed(this.#tokens, this.#lens);
    for (let i = 0; i < n; i++) {
      const slot = this.#tokens[i]!;
      const busy = slot < this.depth ? this.#busyType[slot]! : 0;
      if (busy === 0) throw new Error(`device completed blk slot ${slot} not in flight`);
      this.#busyType[slot] = 0;
      this.#free[this.#freeCount++] = slot;
      out.push(this.#complete(slot, busy - 1, this.#lens[i]!));
    }
    return n;
  }

  #complete(slot: number, type: number, used: number): BlkCompletion {
    const tag = this.#tag[slot]!;
    const byte = this.#slots.bytes[slot * SLOT_BYTES + BLK_HEADER_BYTES]!;
    let status: BlkStatus;
    try {
      status = decodeBlkStatus(byte);
    } catch (e) {
      return { tag, status: "bad", detail: (e as Error).message };
    }
    // §2.7.8.2 / §5.2.6: used length counts bytes written into the chain; the status byte is
    // always written. A successful read must cover all its data; GET_ID may write less.
    const writable = type === VIRTIO_BLK_T_IN || type === VIRTIO_BLK_T_GET_ID;
    const max = (writable ? this.#dataBytes[slot]! : 0) + 1;
    if (used > max) {
      return { tag, status: "bad", detail: `used length ${used} exceeds ${max} writable` };
    }
    if (status === "ok" && type === VIRTIO_BLK_T_IN && used !== max) {
      return { tag, status: "bad", detail: `read of ${max - 1} B reported ${used}` };
    }
    const c = this.#done[slot]!;
    c.tag = tag;
    c.status = status;
    return c;
  }
}
