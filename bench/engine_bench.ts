/**
 * The pktgen loop's own cost per packet on the host: the real `runEngine` with real
 * TxQueue/RxQueue over split and packed rings in fake DMA memory, against an "echo" device
 * written with typed arrays (lib/pktgen/run/echo_device.ts) that completes everything at once. The
 * device is nearly free, so ns/packet is what the driver side spends: frame patch, ring
 * writes, reclaim, validation, statistics. Under TCG the same work costs ~10× more, which is
 * what bounds the lab rates (bench/README.md).
 *
 *   deno run -A bench/engine_bench.ts [--seconds 2] [--batch 128] [--size 64] [--json]
 */
import { parseArgs } from "node:util";
import { RxQueue, TxQueue } from "../lib/net/packet_queues.ts";
import { FrameWriter } from "../lib/pktgen/frame.ts";
import { parseRange } from "../lib/pktgen/flows.ts";
import { monotonicNs } from "../lib/pktgen/pacer.ts";
import { parseSizes, SizeSequence } from "../lib/pktgen/sizes.ts";
import { runEngine, type TxStream } from "../lib/pktgen/run/engine.ts";
import { createVirtqueue, type RingFormat } from "../lib/queue/virtqueue.ts";
import { FakeDma } from "../testing/fake_dma.ts";
import { echoDevice } from "../lib/pktgen/run/echo_device.ts";

const NET_HDR = 12;

export interface EngineBenchRow {
  direction: "tx" | "rx";
  format: RingFormat;
  wireSize: number;
  batch: number;
  packets: number;
  nsPerPacket: number;
}

function writerFor(size: number): FrameWriter {
  return new FrameWriter({
    ipVersion: 4,
    srcMac: parseRange("mac", "02:00:00:00:00:01"),
    dstMac: parseRange("mac", "02:00:00:00:00:02"),
    srcIp: parseRange("ipv4", "10.0.0.1"),
    dstIp: parseRange("ipv4", "10.0.0.2"),
    srcPort: parseRange("port", "9"),
    dstPort: parseRange("port", "9"),
    maxWireSize: Math.max(size, 64),
  });
}

async function run(
  direction: "tx" | "rx",
  format: RingFormat,
  wireSize: number,
  batch: number,
  seconds: number,
): Promise<EngineBenchRow> {
  const dma = new FakeDma();
  const q = createVirtqueue({ dma, size: 256, format, eventIdx: true, notify: () => {} });
  q.disableInterrupts();
  const sizes = parseSizes(String(wireSize));
  const writer = writerFor(wireSize);
  const ac = new AbortController();
  let tick: () => void;
  const spec = {
    rx: [] as RxQueue[],
    tx: [] as TxStream[],
  };
  if (direction === "tx") {
    const tx = new TxQueue(q, dma, NET_HDR);
    for (const f of tx.frames) writer.prefill(f, 0, wireSize);
    spec.tx.push({
      queue: tx,
      writer,
      sizes: new SizeSequence(sizes.table, sizes.description),
      oneSize: true,
      seq: 0,
    });
    tick = echoDevice(q, 0);
  } else {
    const rx = new RxQueue(q, dma, NET_HDR);
    // Every slot holds a valid frame of ours once; the device "writes" only the length.
    let seq = 0;
    for (const f of rx.frames) writer.write(f, 0, wireSize, seq++, 0);
    rx.fill();
    spec.rx.push(rx);
    const len = NET_HDR + wireSize - 4;
    tick = echoDevice(q, len);
  }
  const result = await runEngine({
    ...spec,
    durationS: seconds,
    batch,
    intervalS: 1,
    stallS: 5,
    verifyAll: false,
    latency: false,
    devices: [],
    signal: ac.signal,
    clock: monotonicNs,
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    tick,
  });
  const s = result.summary;
  const packets = direction === "tx" ? s.tx.packets : s.rx.packets + s.rx.errors;
  return {
    direction,
    format,
    wireSize,
    batch,
    packets,
    nsPerPacket: (s.seconds * 1e9) / packets,
  };
}

/** One row per direction × ring format. */
export async function benchEngine(
  o: { seconds?: number; batch?: number; size?: number } = {},
): Promise<EngineBenchRow[]> {
  const rows: EngineBenchRow[] = [];
  for (const direction of ["tx", "rx"] as const) {
    for (const format of ["split", "packed"] as const) {
      await run(direction, format, o.size ?? 64, o.batch ?? 128, 0.5); // JIT warm-up
      rows.push(await run(direction, format, o.size ?? 64, o.batch ?? 128, o.seconds ?? 2));
    }
  }
  return rows;
}

export function engineText(rows: readonly EngineBenchRow[]): string {
  const lines = [`pktgen loop on the host (echo device), ns per packet`];
  for (const r of rows) {
    lines.push(
      `${r.direction} ${r.format.padEnd(6)} ${String(r.wireSize).padStart(4)} B batch ${r.batch}` +
        `  ${r.nsPerPacket.toFixed(1).padStart(6)} ns/pkt  (${
          (1000 / r.nsPerPacket).toFixed(2)
        } Mpps)`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      seconds: { type: "string", default: "2" },
      batch: { type: "string", default: "128" },
      size: { type: "string", default: "64" },
      json: { type: "boolean", default: false },
    },
  });
  const rows = await benchEngine({
    seconds: Number(values.seconds),
    batch: Number(values.batch),
    size: Number(values.size),
  });
  console.log(values.json ? JSON.stringify(rows) : engineText(rows));
}
