import assert from "node:assert/strict";
import { FakeModernBar } from "../../testing/fake_virtio_pci.ts";
import { FakeDma } from "../../testing/fake_dma.ts";
import { SimNetLoopback } from "../../testing/sim_net.ts";
import { ModernTransport } from "../../lib/virtio/modern_transport.ts";
import { VirtioNet } from "../../lib/net/virtio_net.ts";
import { DeviceError, VirtioError } from "../../lib/errors.ts";

const F = (n: number) => 1n << BigInt(n);
const VERSION_1 = F(32), MAC = F(5), STATUS = F(16), EVENT_IDX = F(29), PACKED = F(34);
const ACCESS_PLATFORM = F(33), MRG = F(15);

function setup(
  features: bigint,
  opts: Parameters<typeof VirtioNet.open>[2] = {},
  cfg?: Uint8Array,
) {
  const config = cfg ?? new Uint8Array([0x52, 0x54, 0, 0x12, 0x34, 0x56, 1, 0, 0, 0, 0, 0]);
  const bar = new FakeModernBar({ deviceType: 1, features, queueSizes: [64, 64], config });
  const t = new ModernTransport({ deviceType: 1, caps: bar.caps(), openBar: () => bar });
  const dma = new FakeDma();
  const net = VirtioNet.open(t, dma, opts);
  const q = bar.state.queues;
  const sim = new SimNetLoopback(dma, {
    format: net.format,
    size: 64,
    eventIdx: (net.features & EVENT_IDX) !== 0n,
  });
  sim.attach(q[0]!, q[1]!);
  return { bar, net, sim, dma };
}

function frame(i: number, len: number): Uint8Array {
  const f = new Uint8Array(len);
  for (let j = 0; j < len; j++) f[j] = (i * 31 + j) & 0xff;
  return f;
}

for (const format of ["split", "packed"] as const) {
  Deno.test(`net (${format}): frames sent come back byte-exact through the simulated device`, () => {
    const { net, sim } = setup(VERSION_1 | MAC | STATUS | EVENT_IDX | PACKED, { format });
    assert.equal(net.format, format);
    assert.equal(net.mac, "52:54:00:12:34:56");
    assert.equal(net.linkUp(), true);
    assert.equal(net.headerSize, 12);
    const { rx, tx } = net.pairs[0]!;
    const seen: Uint8Array[] = [];
    sim.onTransmit = (f) => seen.push(f);
    const out = new Uint32Array(64);
    let sent = 0, received = 0;
    for (let round = 0; round < 20; round++) {
      // A batch of 10, one flush: wrap-around of a 64-entry ring several times over.
      tx.reclaim();
      for (let k = 0; k < 10; k++) {
        const slot = tx.nextSlot();
        assert.notEqual(slot, -1);
        const len = 60 + ((sent * 7) % 1400);
        tx.frames[slot]!.set(frame(sent, len));
        tx.send(slot, len);
        sent++;
      }
      tx.flush();
      sim.step();
      const n = rx.poll(out);
      for (let i = 0; i < n; i++) {
        const slot = out[i]!;
        const len = rx.frameLengths[slot]!;
        assert.deepEqual(
          rx.frames[slot]!.subarray(0, len),
          frame(received, 60 + ((received * 7) % 1400)),
        );
        rx.recycle(slot);
        received++;
      }
      rx.flush();
    }
    assert.equal(received, 200);
    assert.equal(seen.length, 200);
    assert.equal(tx.packets, 200);
    assert.equal(rx.packets, 200);
  });
}

Deno.test("net: link status follows the device's status field", () => {
  const cfg = new Uint8Array(12);
  const { net, bar } = setup(VERSION_1 | STATUS, {}, cfg);
  assert.equal(net.linkUp(), false);
  bar.config[6] = 1;
  assert.equal(net.linkUp(), true);
  assert.equal(net.mac, undefined, "no MAC feature, no MAC");
});

Deno.test("net: a used length shorter than the net header is a device error", () => {
  const { net, sim } = setup(VERSION_1 | MAC, { format: "split" });
  const [buf] = sim.rx.take(1);
  sim.rx.complete(buf!, 4);
  sim.rx.publish();
  assert.throws(() => net.pairs[0]!.rx.poll(new Uint32Array(8)), DeviceError);
});

Deno.test("net: MRG_RXBUF checks num_buffers; VFIO needs ACCESS_PLATFORM", () => {
  const { net } = setup(VERSION_1 | MAC | MRG, { mergeable: true });
  assert.ok(net.features & MRG);
  assert.throws(
    () => setup(VERSION_1 | MAC, { requireAccessPlatform: true }),
    (e) => e instanceof VirtioError && /ACCESS_PLATFORM/.test(e.message),
  );
  const ok = setup(VERSION_1 | MAC | ACCESS_PLATFORM, { requireAccessPlatform: true });
  assert.ok(ok.net.features & ACCESS_PLATFORM);
});

Deno.test("net: asking for packed from a split-only device fails negotiation clearly", () => {
  assert.throws(() => setup(VERSION_1 | MAC, { format: "packed" }), /RING_PACKED/);
  assert.throws(() => setup(VERSION_1 | MAC, { queueSize: 128 }), /above the device's maximum 64/);
  assert.throws(() => setup(VERSION_1 | MAC, { queuePairs: 2 }), /MQ/);
});
