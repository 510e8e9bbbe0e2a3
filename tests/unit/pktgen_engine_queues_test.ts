/**
 * The pktgen loop with several transmit queues (`--queues N`): one loop serves them in turn,
 * and under a rate each queue gets its share — the pacer's last grant of a turn must not
 * always fall short on the same queue.
 */
import assert from "node:assert/strict";
import { FakeDma } from "../../testing/fake_dma.ts";
import { SimQueue } from "../../testing/sim_device.ts";
import { createVirtqueue, type RingFormat } from "../../lib/queue/virtqueue.ts";
import { TxQueue } from "../../lib/net/packet_queues.ts";
import { FrameWriter } from "../../lib/pktgen/frame.ts";
import { parseRange } from "../../lib/pktgen/flows.ts";
import { parseRate } from "../../lib/pktgen/pacer.ts";
import { parseSizes } from "../../lib/pktgen/sizes.ts";
import { runEngine, type TxStream } from "../../lib/pktgen/run/engine.ts";
import { fakeTime } from "./pktgen_sim_port.ts";

const HEADER = 12;

function streams(format: RingFormat, n: number) {
  const dma = new FakeDma();
  const devices: SimQueue[] = [];
  const tx: TxStream[] = [];
  for (let i = 0; i < n; i++) {
    const sim = new SimQueue(dma, { format, size: 64 });
    const vq = createVirtqueue({ dma, size: 64, format, notify: sim.notify });
    sim.attach(vq.addresses);
    devices.push(sim);
    const sizes = parseSizes("64");
    const writer = new FrameWriter({
      ipVersion: 4,
      srcMac: parseRange("mac", "02:00:00:00:00:01"),
      dstMac: parseRange("mac", "02:00:00:00:00:02"),
      srcIp: parseRange("ipv4", "10.0.0.1"),
      dstIp: parseRange("ipv4", "10.0.0.2"),
      srcPort: parseRange("port", "1024"),
      dstPort: parseRange("port", "9"),
      maxWireSize: 64,
      flowId: i,
      seed: i + 1,
    });
    const queue = new TxQueue(vq, dma, HEADER);
    for (const f of queue.frames) writer.prefill(f, 0);
    tx.push({ queue, writer, sizes, seq: 0 });
  }
  return { devices, tx };
}

for (const format of ["split", "packed"] as const) {
  Deno.test(`pktgen loop (${format}): 3 transmit queues share a --rate evenly`, async () => {
    const { devices, tx } = streams(format, 3);
    const t = fakeTime(1000);
    const r = await runEngine({
      tx,
      rx: [],
      // A rate that grants less than a batch per turn: the last grant of a turn is short.
      rate: parseRate("10k"),
      durationS: 3,
      batch: 16,
      intervalS: 1,
      stallS: 3,
      verifyAll: false,
      latency: false,
      devices: [],
      signal: new AbortController().signal,
      clock: t.clock,
      sleep: t.sleep,
      yieldNow: () => Promise.resolve(),
      tick: () => devices.forEach((d) => d.completeAll()),
    });
    const sent = tx.map((s) => s.queue.packets);
    assert.equal(sent.reduce((a, b) => a + b, 0), r.sent);
    assert.ok(r.sent > 20_000, `${r.sent} frames at 10 kpps for 3 s`);
    const fair = r.sent / 3;
    for (const n of sent) {
      assert.ok(Math.abs(n - fair) <= Math.max(16, fair * 0.02), `per queue ${sent}`);
    }
  });
}
