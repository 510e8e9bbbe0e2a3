/**
 * What the conformance simulator's device does with one buffer, per device type: net
 * transmit and control queue (§5.1.6), block requests (§5.2.6, including RO, out-of-range,
 * discard/write-zeroes flags), rng (§5.4) and console transmit (§5.3). Returns the used
 * length to report. Faults come from the bar's fault set.
 *
 * @module
 */
import type { SimBuffer } from "./sim_device.ts";
import type { FakeModernBar } from "./fake_virtio_pci.ts";

/** What serving needs of the simulated device (conform_device.ts's ConformBar), without importing it back. */
export interface ServedBar {
  /** The register state (queues, options). */
  readonly state: FakeModernBar["state"];
  /** The faults it was made with. */
  readonly faults: ReadonlySet<string>;
  /** The blk backing store. */
  readonly disk: Uint8Array;
  /** Offered feature bits. */
  readonly offered: bigint;
}

/** Queues the device keeps buffers on without using them (net and console receive queues). */
export function holdsBuffers(type: number, queue: number, numQueues: number): boolean {
  if (type === 1) return queue % 2 === 0 && queue !== numQueues - 1;
  if (type === 3) return queue % 2 === 0;
  return false;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, at), at += p.length;
  return out;
}

/** Serves `b` from queue `queue` of `bar`'s device; returns the used length. */
export function serveRequest(bar: ServedBar, queue: number, b: SimBuffer): number {
  const type = bar.state.o.deviceType ?? 0;
  const f = bar.faults;
  if (type === 1 && queue === bar.state.queues.length - 1) {
    // §5.1.6.5: the device writes the ack byte.
    const ack = b.in[0];
    if (ack) ack[0] = f.has("ctrl-nack") ? 1 : 0;
    return ack ? 1 : 0;
  }
  if (type === 4) {
    const n = f.has("rng-empty") ? 0 : b.writableLen;
    let at = 0;
    for (const s of b.in) {
      for (let i = 0; i < s.length && at < n; i++, at++) s[i] = (at * 151 + 7) & 0xff;
    }
    return n;
  }
  if (type === 2) return serveBlk(bar, b);
  return 0; // net / console transmit: the bytes leave, nothing is written back
}

function serveBlk(bar: ServedBar, b: SimBuffer): number {
  const f = bar.faults;
  const out = concat(b.out);
  const status = b.in[b.in.length - 1];
  if (!status || status.length === 0) return 0;
  const set = (s: number, written: number) => {
    status[status.length - 1] = f.has("blk-bad-status") ? 7 : s;
    return written + 1;
  };
  if (out.length < 16) return set(1, 0);
  const v = new DataView(out.buffer, out.byteOffset, out.length);
  const reqType = v.getUint32(0, true);
  const sector = Number(v.getBigUint64(8, true));
  const data = b.in.slice(0, -1);
  const inBytes = data.reduce((n, s) => n + s.length, 0);
  const payload = out.subarray(16);
  const sectors = bar.disk.length / 512;
  const ro = ((bar.offered >> 5n) & 1n) === 1n;
  const range = (len: number) =>
    len % 512 === 0 && (sector + len / 512 <= sectors || f.has("blk-oob-ok"));
  switch (reqType) {
    case 0: { // IN
      if (!range(inBytes)) return set(1, 0);
      let at = sector * 512;
      for (const s of data) {
        s.set(bar.disk.subarray(at, at + s.length));
        at += s.length;
      }
      return set(0, inBytes);
    }
    case 1: // OUT: §5.2.6.1 a read-only device answers IOERR and writes nothing
      if (ro && !f.has("blk-ro-writable")) return set(1, 0);
      if (!range(payload.length)) return set(1, 0);
      if (!f.has("blk-write-lost") && sector * 512 + payload.length <= bar.disk.length) {
        bar.disk.set(payload, sector * 512);
      }
      return set(0, 0);
    case 4:
      return set(0, 0);
    case 8: {
      const id = data[0];
      if (!id) return set(1, 0);
      const text = new TextEncoder().encode("conform-sim");
      id.fill(0);
      id.set(text.subarray(0, id.length));
      return set(0, Math.min(20, id.length));
    }
    case 11:
    case 13: { // DISCARD / WRITE_ZEROES: one segment {sector, num_sectors, flags}
      if (payload.length < 16) return set(1, 0);
      const flags = new DataView(payload.buffer, payload.byteOffset + 12, 4).getUint32(0, true);
      // §5.2.6.1: unknown flags → UNSUPP; discard with the unmap flag → UNSUPP.
      const bad = (flags & ~1) !== 0 || (reqType === 11 && (flags & 1) !== 0);
      if (bad && !f.has("blk-discard-flags-ok")) return set(2, 0);
      return set(0, 0);
    }
    default:
      return set(f.has("blk-unsupp-ok") ? 0 : 2, 0);
  }
}
