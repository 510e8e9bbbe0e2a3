/**
 * JIT warm-up: before the timed run, the very loop it will run (`runEngine`, the same queue
 * classes, frame writers and validator) runs for a moment against private rings in heap
 * memory, completed by an in-process echo device — no device is touched. Under TCG, V8 needs
 * 3–4 s of a run to optimize the hot path (bench/README.md); without this, those seconds
 * of a short run go at a fraction of the rate and every figure of it is low.
 *
 * The private rings mirror the real ones (format, size, slot size, header size), so the type
 * feedback V8 collects is what the real run sees, not a second shape that would make the
 * hot call sites polymorphic.
 *
 * @module
 */
import type { DmaAllocator, DmaRegion } from "../../dma/memory.ts";
import { RxQueue, TxQueue } from "../../net/packet_queues.ts";
import { createVirtqueue, type Virtqueue } from "../../queue/virtqueue.ts";
import { FrameWriter } from "../frame.ts";
import { fixedRange, parseRange } from "../flows.ts";
import { SizeSequence } from "../sizes.ts";
import { echoDevice } from "./echo_device.ts";
import { type EngineSpec, runEngine, type TxStream } from "./engine.ts";

/** Heap memory with made-up IOVAs: nothing outside this process ever sees them. */
class HeapDma implements DmaAllocator {
  readonly kind = "heap";
  #next = 2 ** 40;
  alloc(size: number): DmaRegion {
    const iova = this.#next;
    this.#next += Math.ceil(size / 4096) * 4096 + 4096;
    return { iova, bytes: new Uint8Array(new ArrayBuffer(size)) };
  }
  [Symbol.dispose](): void {}
}

/** The frames a receive warm-up gets: what our own sender sends. */
function defaultWriter(): FrameWriter {
  return new FrameWriter({
    ipVersion: 4,
    srcMac: fixedRange("mac", 0x020000000001),
    dstMac: fixedRange("mac", 0x020000000002),
    srcIp: parseRange("ipv4", "10.0.0.1"),
    dstIp: parseRange("ipv4", "10.0.0.2"),
    srcPort: parseRange("port", "1024"),
    dstPort: parseRange("port", "9"),
    maxWireSize: 64,
    stampTime: false,
  });
}

/**
 * Runs `spec`'s loop for `ms` milliseconds on private copies of its queues. The real queues,
 * devices, statistics and callbacks are not touched; `spec.signal` still ends it early.
 * Returns what the private rings carried (frames sent, valid frames received).
 */
export async function warmUp(
  spec: EngineSpec,
  ms: number,
): Promise<{ sent: number; received: number }> {
  using dma = new HeapDma();
  const steps: (() => void)[] = [];
  const queue = (like: Virtqueue) =>
    createVirtqueue({
      dma,
      size: like.size,
      format: like.format,
      eventIdx: true,
      notify: () => {},
    });
  const tx: TxStream[] = spec.tx.map((s) => {
    const q = queue(s.queue.queue);
    q.disableInterrupts();
    const t = new TxQueue(q, dma, s.queue.headerSize, s.queue.slotSize);
    const sizes = new SizeSequence(s.sizes.table, s.sizes.description);
    for (const f of t.frames) s.writer.prefill(f, 0, s.oneSize ? sizes.min : undefined);
    steps.push(echoDevice(q, 0));
    return { queue: t, writer: s.writer, sizes, oneSize: s.oneSize ?? false, seq: 0 };
  });
  // Its own writer: writing another size with a stream's writer would change the size its
  // stamp() path is prefilled for.
  const writer = defaultWriter();
  const rx = spec.rx.map((r) => {
    const q = queue(r.queue);
    q.disableInterrupts();
    const x = new RxQueue(q, dma, r.headerSize, {
      slotSize: r.slotSize,
      refillBatch: r.refillBatch,
    });
    // Every slot holds a valid frame, so the validator's accepting path warms up too.
    let len = 0;
    for (const f of x.frames) {
      writer.prefill(f, 0);
      len = writer.write(f, 0, 64, 0, 0);
    }
    x.fill();
    steps.push(echoDevice(q, r.headerSize + len));
    return x;
  });
  // A copy with the same keys in the same order (session.ts makes every key present): the
  // same hidden class for V8, only the values differ.
  const warm: EngineSpec = {
    ...spec,
    tx,
    rx,
    count: undefined,
    durationS: ms / 1000,
    rate: undefined,
    intervalS: 3600,
    drainMs: 0,
    pcap: undefined,
    devices: [],
    tick: () => {
      for (let i = 0; i < steps.length; i++) steps[i]!();
    },
    onInterval: undefined,
    onEvent: undefined,
  };
  const r = await runEngine(warm);
  // The real run starts at the first flow, as it would without a warm-up: the frames of
  // `-n 300 --dst-ip A-B` are the same with and without one.
  for (const s of spec.tx) s.writer.rewind();
  return { sent: r.sent, received: r.summary.rx.packets };
}
