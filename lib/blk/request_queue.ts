/**
 * virtio-blk requests over one {@link Virtqueue} (VIRTIO 1.2 §5.2.6): each request is a chain
 * [16-byte header (out) | data segments | 1-byte status (in)]. Headers and status bytes live
 * in one DMA region, one 32-byte slot per request in flight; data buffers are the caller's.
 * Everything the device writes back (status byte, used length) is checked before use.
 * @module
 */
import type { DmaAllocator, DmaRegion } from "../dma/memory.ts";
import type { Segment, Virtqueue } from "../queue/virtqueue.ts";
import {
  BLK_HEADER_BYTES,
  type BlkLimits,
  type BlkStatus,
  checkBlkRequest,
  decodeBlkStatus,
  encodeBlkHeader,
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

interface Pending {
  tag: number;
  type: number;
  dataBytes: number;
  writable: boolean;
}

/** Requests over one virtqueue: submit, kick, poll. */
export class BlkRequestQueue {
  /** Requests in flight at most. */
  readonly depth: number;
  readonly #q: Virtqueue;
  readonly #limits: BlkLimits;
  readonly #slots: DmaRegion;
  readonly #pending: (Pending | undefined)[];
  readonly #free: number[] = [];
  readonly #tokens: Uint32Array;
  readonly #lens: Uint32Array;

  /** `depth` requests in flight at most (each takes ≥ 3 descriptors of the queue). */
  constructor(queue: Virtqueue, dma: DmaAllocator, limits: BlkLimits, depth: number) {
    if (!Number.isInteger(depth) || depth < 1) throw new RangeError(`depth ${depth} < 1`);
    this.depth = depth;
    this.#q = queue;
    this.#limits = limits;
    this.#slots = dma.alloc(depth * SLOT_BYTES, 64);
    this.#pending = new Array(depth).fill(undefined);
    for (let i = depth - 1; i >= 0; i--) this.#free.push(i);
    this.#tokens = new Uint32Array(depth);
    this.#lens = new Uint32Array(depth);
  }

  /** Requests submitted and not yet completed. */
  get inFlight(): number {
    return this.depth - this.#free.length;
  }

  /**
   * Queues one request (published by {@link kick}). Returns false when no slot or descriptor
   * is free. Throws for a request the device's limits forbid (read-only, seg_max, …).
   */
  submit(req: BlkRequest): boolean {
    const bytes = req.data.reduce((n, s) => n + s.len, 0);
    const why = checkBlkRequest(this.#limits, req.type, bytes, req.data.length);
    if (why !== undefined) throw new RangeError(why);
    const slot = this.#free.pop();
    if (slot === undefined) return false;
    const at = slot * SLOT_BYTES;
    this.#slots.bytes.set(encodeBlkHeader(req.type, req.sector), at);
    // A status value no device writes, so an untouched byte is caught (§5.2.6).
    this.#slots.bytes[at + BLK_HEADER_BYTES] = 0xff;
    const header: Segment = { iova: this.#slots.iova + at, len: BLK_HEADER_BYTES };
    const status: Segment = { iova: this.#slots.iova + at + BLK_HEADER_BYTES, len: 1 };
    const writable = req.type === VIRTIO_BLK_T_IN || req.type === VIRTIO_BLK_T_GET_ID;
    const out = writable ? [header] : [header, ...req.data];
    const inn = writable ? [...req.data, status] : [status];
    if (!this.#q.addBuffer(out, inn, slot)) {
      this.#free.push(slot);
      return false;
    }
    this.#pending[slot] = { tag: req.tag, type: req.type, dataBytes: bytes, writable };
    return true;
  }

  /** Publishes the submitted requests and notifies the device (unless suppressed). */
  kick(): boolean {
    return this.#q.kick();
  }

  /** Collects finished requests into `out` (appended). Returns how many. */
  poll(out: BlkCompletion[]): number {
    const n = this.#q.pollUsed(this.#tokens, this.#lens);
    for (let i = 0; i < n; i++) {
      const slot = this.#tokens[i]!;
      const p = this.#pending[slot];
      if (p === undefined) throw new Error(`device completed blk slot ${slot} not in flight`);
      this.#pending[slot] = undefined;
      this.#free.push(slot);
      out.push(this.#complete(slot, p, this.#lens[i]!));
    }
    return n;
  }

  #complete(slot: number, p: Pending, used: number): BlkCompletion {
    const byte = this.#slots.bytes[slot * SLOT_BYTES + BLK_HEADER_BYTES]!;
    let status: BlkStatus;
    try {
      status = decodeBlkStatus(byte);
    } catch (e) {
      return { tag: p.tag, status: "bad", detail: (e as Error).message };
    }
    // §2.7.8.2 / §5.2.6: used length counts bytes written into the chain; the status byte is
    // always written. A successful read must cover all its data; GET_ID may write less.
    const max = (p.writable ? p.dataBytes : 0) + 1;
    if (used > max) {
      return { tag: p.tag, status: "bad", detail: `used length ${used} exceeds ${max} writable` };
    }
    if (status === "ok" && p.type === VIRTIO_BLK_T_IN && used !== max) {
      return { tag: p.tag, status: "bad", detail: `read of ${p.dataBytes} B reported ${used}` };
    }
    return { tag: p.tag, status };
  }
}
