/**
 * A simulated virtio-blk device (VIRTIO 1.2 §5.2) over one {@link SimQueue}, backed by a
 * Uint8Array: it serves IN/OUT/FLUSH/GET_ID from the ring the way QEMU does (out-of-range →
 * IOERR, unknown type → UNSUPP, used length = bytes written into the chain; DISCARD and
 * WRITE_ZEROES zero their ranges). Faults on
 * request: `failSectors` answer IOERR, `lieUsedLen` adds to the used length it reports.
 * @module
 */
import type { SimBuffer, SimQueue } from "./sim_device.ts";

export interface SimBlkOptions {
  /** Sectors (512 B) whose requests answer IOERR. */
  failSectors?: Set<bigint>;
  /** Added to every used length (a lying device). */
  lieUsedLen?: number;
  /** Serial for GET_ID. */
  serial?: string;
}

export class SimBlk {
  readonly disk: Uint8Array;
  readonly #q: SimQueue;
  readonly #opts: SimBlkOptions;
  flushes = 0;
  /** DISCARD / WRITE_ZEROES ranges served. */
  ranges = 0;

  constructor(queue: SimQueue, disk: Uint8Array, opts: SimBlkOptions = {}) {
    this.#q = queue;
    this.disk = disk;
    this.#opts = opts;
  }

  /** Serves everything available, publishes the used entries; returns how many. */
  serve(): number {
    const bufs = this.#q.take();
    for (const b of bufs) this.#q.complete(b, this.#one(b) + (this.#opts.lieUsedLen ?? 0));
    this.#q.publish();
    return bufs.length;
  }

  #one(b: SimBuffer): number {
    const outAll = concat(b.out);
    const status = b.in[b.in.length - 1]!;
    const setStatus = (s: number, written: number) => {
      status[status.length - 1] = s;
      return written + 1;
    };
    if (outAll.length < 16) return setStatus(1, 0);
    const v = new DataView(outAll.buffer, outAll.byteOffset, outAll.length);
    const type = v.getUint32(0, true);
    const sector = v.getBigUint64(8, true);
    const dataIn = b.in.slice(0, -1);
    const inBytes = dataIn.reduce((n, s) => n + s.length, 0);
    const out = outAll.subarray(16);
    const len = type === 0 ? inBytes : out.length;
    const start = Number(sector) * 512;
    const bad = this.#opts.failSectors?.has(sector) ||
      start + len > this.disk.length || len % 512 !== 0;
    if (type === 0 || type === 1) {
      if (bad) return setStatus(1, 0);
      if (type === 1) {
        this.disk.set(out, start);
        return setStatus(0, 0);
      }
      let at = start;
      for (const s of dataIn) {
        s.set(this.disk.subarray(at, at + s.length));
        at += s.length;
      }
      return setStatus(0, inBytes);
    }
    if (type === 4) {
      this.flushes++;
      return setStatus(0, 0);
    }
    if (type === 8 && dataIn[0]) {
      const id = new TextEncoder().encode(this.#opts.serial ?? "sim-blk").subarray(0, 20);
      dataIn[0].fill(0);
      dataIn[0].set(id.subarray(0, dataIn[0].length));
      return setStatus(0, Math.min(20, dataIn[0].length));
    }
    if (type === 11 || type === 13) {
      // §5.2.6 ranges: le64 sector, le32 num_sectors, le32 flags. Write zeroes zeroes them;
      // discard zeroes them too (its contents after are undefined; zero is one choice).
      if (out.length === 0 || out.length % 16 !== 0) return setStatus(1, 0);
      const rv = new DataView(out.buffer, out.byteOffset, out.length);
      for (let at = 0; at < out.length; at += 16) {
        const first = Number(rv.getBigUint64(at, true)), n = rv.getUint32(at + 8, true);
        if ((first + n) * 512 > this.disk.length) return setStatus(1, 0);
      }
      for (let at = 0; at < out.length; at += 16) {
        const first = Number(rv.getBigUint64(at, true)), n = rv.getUint32(at + 8, true);
        this.disk.fill(0, first * 512, (first + n) * 512);
      }
      this.ranges += out.length / 16;
      return setStatus(0, 0);
    }
    return setStatus(2, 0);
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
