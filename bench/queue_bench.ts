/**
 * ns per buffer for post + kick + reclaim, both ring formats, on the host. Two devices:
 * - "echo": a minimal device written with typed arrays (marks every available buffer used
 *   at once), so the figure is mostly the driver's own cost;
 * - "sim": the full {@link SimQueue} (DataView parsing, validation), for reference.
 *
 *   deno run -A bench/queue_bench.ts [--size 256] [--batch 32] [--packets 2000000] [--json]
 */
import { parseArgs } from "node:util";
import { BufferSlots, SlotPoster } from "../lib/queue/slots.ts";
import { createVirtqueue, type RingFormat } from "../lib/queue/virtqueue.ts";
import { FakeDma } from "../testing/fake_dma.ts";
import { SimQueue } from "../testing/sim_device.ts";
import { echoDevice } from "../lib/pktgen/run/echo_device.ts";

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

function run(format: RingFormat, device: "echo" | "sim", eventIdx: boolean) {
  const dma = new FakeDma();
  const sim = new SimQueue(dma, { format, size, eventIdx });
  const q = createVirtqueue({ dma, size, format, eventIdx, notify: sim.notify });
  sim.attach(q.addresses);
  q.disableInterrupts();
  const step = device === "echo" ? echoDevice(q, 0) : () => void sim.completeAll(0);
  const slots = new BufferSlots(dma, size, 2048);
  const tx = new SlotPoster(q, slots);
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
