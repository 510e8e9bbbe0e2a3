/**
 * ns per buffer for post + kick + reclaim, both ring formats, on the host. Two devices:
 * - "echo": a minimal device written with typed arrays (marks every available buffer used
 *   at once), so the figure is mostly the driver's own cost;
 * - "sim": the full {@link SimQueue} (DataView parsing, validation), for reference.
 *
 *   deno run -A bench/queue_bench.ts [--size 256] [--batch 32] [--packets 2000000] [--json]
 */
import { parseArgs } from "node:util";
import * as L from "../lib/queue/layout.ts";
import { BufferSlots, SlotQueue } from "../lib/queue/slots.ts";
import { createVirtqueue, type RingFormat, type Virtqueue } from "../lib/queue/virtqueue.ts";
import { FakeDma } from "../testing/fake_dma.ts";
import { SimQueue } from "../testing/sim_device.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    size: { type: "string", default: "256" },
    batch: { type: "string", default: "32" },
    packets: { type: "string", default: "2000000" },
    json: { type: "boolean", default: false },
  },
});
const size = Number(values.size);
const batch = Number(values.batch);
const packets = Number(values.packets);

/** A device that completes everything available, with typed arrays on the ring memory. */
function echoDevice(q: Virtqueue): () => void {
  const { buffer, byteOffset } = q.region.bytes;
  if (q.format === "split") {
    const layout = L.splitLayout(q.size, false);
    const avail = new Uint16Array(buffer, byteOffset + layout.avail, 3 + q.size);
    const used16 = new Uint16Array(buffer, byteOffset + layout.used, 2);
    const used32 = new Uint32Array(buffer, byteOffset + layout.used, 1 + 2 * q.size);
    let lastAvail = 0;
    let usedIdx = 0;
    const mask = q.size - 1;
    return () => {
      const idx = Atomics.load(avail, 1);
      while (lastAvail !== idx) {
        const e = 1 + ((usedIdx & mask) << 1);
        used32[e] = avail[2 + (lastAvail & mask)]!;
        used32[e + 1] = 0;
        lastAvail = (lastAvail + 1) & 0xffff;
        usedIdx = (usedIdx + 1) & 0xffff;
      }
      Atomics.store(used16, 1, usedIdx);
    };
  }
  const desc16 = new Uint16Array(buffer, byteOffset, 8 * q.size);
  const desc32 = new Uint32Array(buffer, byteOffset, 4 * q.size);
  let pos = 0;
  let wrap = 1;
  return () => {
    for (;;) {
      const f = Atomics.load(desc16, (pos << 3) + 7);
      if (((f >> 7) & 1) !== wrap || f >> 15 === wrap) return;
      // single-descriptor buffers: the id is already in place; len 0 (nothing written),
      // then mark used in this lap
      desc32[(pos << 2) + 2] = 0;
      desc16[(pos << 3) + 7] = wrap ? 0x8080 : 0;
      if (++pos === q.size) {
        pos = 0;
        wrap ^= 1;
      }
    }
  };
}

function run(format: RingFormat, device: "echo" | "sim", eventIdx: boolean) {
  const dma = new FakeDma();
  const sim = new SimQueue(dma, { format, size, eventIdx });
  const q = createVirtqueue({ dma, size, format, eventIdx, notify: sim.notify });
  sim.attach(q.addresses);
  q.disableInterrupts();
  const step = device === "echo" ? echoDevice(q) : () => void sim.completeAll(0);
  const slots = new BufferSlots(dma, size, 2048);
  const tx = new SlotQueue(q, slots);
  const done = new Uint32Array(batch);
  const lens = new Uint32Array(batch);
  let sent = 0;
  const loop = (count: number) => {
    let n = 0;
    while (n < count) {
      for (let i = 0; i < batch; i++) {
        const s = slots.take();
        if (s < 0 || !tx.postTx(s, 64)) {
          if (s >= 0) slots.give(s);
          break;
        }
      }
      tx.kick();
      step();
      const got = tx.pollUsed(done, lens);
      for (let i = 0; i < got; i++) slots.give(done[i]!);
      n += got;
    }
    return n;
  };
  loop(Math.min(packets, 200_000)); // warm-up: let the JIT settle
  const t0 = performance.now();
  sent = loop(packets);
  const ns = ((performance.now() - t0) * 1e6) / sent;
  return {
    format,
    device,
    eventIdx,
    size,
    batch,
    packets: sent,
    nsPerBuffer: ns,
    kicks: sim.kicks,
  };
}

const rows = [];
for (const format of ["split", "packed"] as const) {
  for (const eventIdx of [false, true]) rows.push(run(format, "echo", eventIdx));
  rows.push(run(format, "sim", false));
}
if (values.json) console.log(JSON.stringify(rows));
else {
  console.log(`post+kick+reclaim, queue ${size}, batch ${batch}, ${packets} buffers (host)`);
  for (const r of rows) {
    console.log(
      `${r.format.padEnd(6)} ${r.device.padEnd(4)} eventIdx=${r.eventIdx ? 1 : 0}  ` +
        `${r.nsPerBuffer.toFixed(1).padStart(7)} ns/buffer  ` +
        `(${(1000 / r.nsPerBuffer).toFixed(2)} M/s, ${r.kicks} kicks)`,
    );
  }
}
