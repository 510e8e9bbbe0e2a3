import assert from "node:assert/strict";
import { activeChecks, type TakenDevice } from "../../lib/diag/active.ts";
import { ModernTransport } from "../../lib/virtio/modern_transport.ts";
import { LegacyTransport } from "../../lib/virtio/legacy_transport.ts";
import { VirtioError } from "../../lib/errors.ts";
import { FakeLegacyBar, FakeModernBar } from "../../testing/fake_virtio_pci.ts";
import { FakeDma } from "../../testing/fake_dma.ts";
import { SimNetLoopback } from "../../testing/sim_net.ts";
import { SimQueue } from "../../testing/sim_device.ts";
import { SimBlk } from "../../testing/sim_blk.ts";
import { blkChecks } from "../../lib/diag/blk_checks.ts";

const F = (...bits: number[]) => bits.reduce((v, b) => v | (1n << BigInt(b)), 0n);

function taken(bar: FakeModernBar, type: number, log: string[]): TakenDevice {
  const transport = new ModernTransport({ deviceType: type, caps: bar.caps(), openBar: () => bar });
  return {
    transport,
    dma: new FakeDma(),
    access: "fake",
    originalDriver: "virtio-pci",
    close() {
      log.push("closed");
      transport[Symbol.dispose]();
    },
    [Symbol.dispose]() {
      this.close();
    },
  };
}

const byName = (checks: { name: string; status: string; reason: string }[]) =>
  Object.fromEntries(checks.map((c) => [c.name, c]));

Deno.test("active on a healthy simulated disk: init, queues, the blk checks, restored pass", async () => {
  const log: string[] = [];
  const sectors = 2048;
  const config = new Uint8Array(60);
  new DataView(config.buffer).setBigUint64(0, BigInt(sectors), true);
  new DataView(config.buffer).setUint32(8, 65536, true); // §5.2.4 size_max (F(1) offered)
  new DataView(config.buffer).setUint32(20, 512, true); // §5.2.4 blk_size (F(6) offered)
  const bar = new FakeModernBar({
    deviceType: 2,
    features: F(32, 1, 6, 9, 28, 29),
    queueSizes: [128, 64],
    config,
  });
  const dev = taken(bar, 2, log);
  const disk = new Uint8Array(sectors * 512);
  disk[0] = 0xeb;
  let sim: SimBlk | undefined;
  const tick = () => {
    const q0 = bar.state.queues[0]!;
    if (!sim) {
      const q = new SimQueue(dev.dma as FakeDma, { format: "split", size: q0.size });
      q.attach(q0);
      sim = new SimBlk(q, disk);
    }
    sim.serve();
  };
  const checks = await activeChecks("0000:00:0a.0", 2, {
    open: () => dev,
    currentDriver: () => "virtio-pci",
    tick,
  });
  const c = byName(checks);
  assert.deepEqual(checks.map((x) => x.name), [
    "init.sequence",
    "queues.setup",
    "blk.config",
    "blk.read-first",
    "blk.read-last",
    "blk.bounds",
    "blk.flush",
    "device.restored",
  ]);
  for (const x of checks) assert.equal(x.status, "pass", `${x.name}: ${x.reason}`);
  assert.match(c["init.sequence"]!.reason, /full 0x130000242 \(6 bits\) and minimal 0x100000000/);
  assert.match(c["queues.setup"]!.reason, /2 queues .*sizes 128,64/);
  assert.match(c["blk.config"]!.reason, /capacity 2048 sectors \(1\.0 MiB\), block 512 B/);
  assert.match(c["blk.read-last"]!.reason, /sector 2047/);
  assert.equal(sim?.flushes, 1);
  assert.deepEqual(log, ["closed"]);
});

Deno.test("blk checks: a disk that answers a read past the end with data fails blk.bounds", () => {
  const config = new Uint8Array(60);
  new DataView(config.buffer).setBigUint64(0, 64n, true);
  const bar = new FakeModernBar({ deviceType: 2, features: F(32), queueSizes: [64], config });
  const dev = taken(bar, 2, []);
  // A backing store bigger than the capacity it reports: reads past the end "succeed".
  let sim: SimBlk | undefined;
  const checks = blkChecks(dev, {
    tick: () => {
      if (!sim) {
        const q = new SimQueue(dev.dma as FakeDma, { format: "split", size: 64 });
        q.attach(bar.state.queues[0]!);
        sim = new SimBlk(q, new Uint8Array(128 * 512));
      }
      sim.serve();
    },
  });
  const c = byName(checks);
  assert.equal(c["blk.read-first"]!.status, "pass");
  assert.equal(c["blk.bounds"]!.status, "fail");
  assert.match(c["blk.bounds"]!.reason, /past the end\) answered OK, not IOERR/);
  assert.equal(c["blk.flush"]!.status, "skip");
});

Deno.test("blk checks: a disk that never answers fails with a timeout, not a hang", () => {
  const config = new Uint8Array(60);
  new DataView(config.buffer).setBigUint64(0, 64n, true);
  const bar = new FakeModernBar({ deviceType: 2, features: F(32), queueSizes: [64], config });
  const c = byName(blkChecks(taken(bar, 2, []), { timeoutMs: 50 }));
  assert.equal(c["blk.config"]!.status, "pass");
  assert.equal(c["blk.read-first"]!.status, "fail");
  assert.match(c["blk.read-first"]!.reason, /did not complete/);
  assert.equal(c["blk.flush"]!.status, "skip");
});

Deno.test("init.sequence fails when the device refuses FEATURES_OK for the full set", async () => {
  const bar = new FakeModernBar({
    deviceType: 2,
    features: F(32, 6),
    acceptFeatures: (f) => f === F(32),
  });
  const checks = await activeChecks("x", 2, {
    open: () => taken(bar, 2, []),
    currentDriver: () => "virtio-pci",
  });
  const init = byName(checks)["init.sequence"]!;
  assert.equal(init.status, "fail");
  assert.match(init.reason, /full feature set: .*FEATURES_OK/);
});

Deno.test("queues.setup fails on a split queue size that is not a power of two; warns on 0", async () => {
  const bad = new FakeModernBar({ deviceType: 2, features: F(32), queueSizes: [100] });
  const c1 = byName(
    await activeChecks("x", 2, {
      open: () => taken(bad, 2, []),
      currentDriver: () => "virtio-pci",
    }),
  );
  assert.equal(c1["queues.setup"]!.status, "fail");
  assert.match(c1["queues.setup"]!.reason, /queue 0: max size 100 is not a power of two/);
  const gap = new FakeModernBar({ deviceType: 2, features: F(32), queueSizes: [64, 0] });
  const c2 = byName(
    await activeChecks("x", 2, {
      open: () => taken(gap, 2, []),
      currentDriver: () => "virtio-pci",
      timeoutMs: 50,
    }),
  );
  assert.equal(c2["queues.setup"]!.status, "warn");
});

Deno.test("legacy transport: init and queue setup at the fixed size", async () => {
  const bar = new FakeLegacyBar({ deviceType: 1, features: F(5, 16), queueSizes: [256, 256, 64] });
  const transport = new LegacyTransport(1, bar);
  const dev: TakenDevice = {
    transport,
    dma: new FakeDma(),
    access: "fake",
    originalDriver: null,
    close() {},
    [Symbol.dispose]() {},
  };
  const checks = await activeChecks("x", 4, { open: () => dev, currentDriver: () => null });
  const c = byName(checks);
  assert.equal(c["init.sequence"]!.status, "pass", c["init.sequence"]!.reason);
  assert.match(c["queues.setup"]!.reason, /sizes 256,256,64/);
  assert.match(c["device.restored"]!.reason, /no driver/);
});

Deno.test("net.selftest: frames complete through the simulated NIC; with no device side, it fails", async () => {
  const mac = [2, 0, 0, 0, 0, 9];
  const features = F(32, 5, 16);
  const config = new Uint8Array([...mac, 1, 0, 0, 0, 0, 0]);
  const bar = new FakeModernBar({ deviceType: 1, features, queueSizes: [64, 64], config });
  const dev = taken(bar, 1, []);
  let sim: SimNetLoopback | undefined;
  const q = bar.state.queues;
  const timer = setInterval(() => {
    if (!sim && q[1]!.enabled && q[0]!.enabled && bar.state.status & 4) {
      sim = new SimNetLoopback(dev.dma as FakeDma, { format: "split", size: 64 });
      sim.attach(q[0]!, q[1]!);
    }
    sim?.step();
  }, 1);
  try {
    const checks = await activeChecks("x", 1, {
      open: () => dev,
      currentDriver: () => "virtio-pci",
      frames: 100,
      timeoutMs: 2000,
    });
    const c = byName(checks);
    assert.equal(c["net.selftest"]!.status, "pass", c["net.selftest"]!.reason);
    assert.match(c["net.selftest"]!.reason, /100 frames sent and completed/);
    assert.equal(sim!.transmitted, 100);
  } finally {
    clearInterval(timer);
  }
  const silent = new FakeModernBar({ deviceType: 1, features, queueSizes: [64, 64], config });
  const c2 = byName(
    await activeChecks("x", 1, {
      open: () => taken(silent, 1, []),
      currentDriver: () => "virtio-pci",
      frames: 8,
      timeoutMs: 50,
    }),
  );
  assert.equal(c2["net.selftest"]!.status, "fail");
  assert.match(c2["net.selftest"]!.reason, /tx: 0 of 8 frames completed within 50 ms/);
  const linkDown = new FakeModernBar({
    deviceType: 1,
    features,
    queueSizes: [64, 64],
    config: new Uint8Array([...mac, 0, 0, 0, 0, 0, 0]),
  });
  const c3 = byName(
    await activeChecks("x", 1, {
      open: () => taken(linkDown, 1, []),
      currentDriver: () => "virtio-pci",
    }),
  );
  assert.match(c3["net.selftest"]!.reason, /link is down/);
});

Deno.test("an in-use refusal skips every active check; other open failures fail init.sequence", async () => {
  const refused = await activeChecks("0000:00:02.0", 1, {
    open: () => {
      throw new VirtioError("refusing to take over 0000:00:02.0: it is mounted");
    },
  });
  assert.deepEqual(refused.map((c) => c.status), ["skip", "skip", "skip", "skip"]);
  assert.match(refused[0]!.reason, /it is mounted/);
  const broken = await activeChecks("x", 2, {
    open: () => {
      throw new VirtioError("taking x over needs root");
    },
  });
  assert.equal(broken[0]!.status, "fail");
  assert.match(broken[0]!.reason, /needs root/);
});

Deno.test("device.restored fails when the device does not end on its original driver", async () => {
  const bar = new FakeModernBar({ deviceType: 2, features: F(32) });
  const checks = await activeChecks("x", 2, {
    open: () => taken(bar, 2, []),
    currentDriver: () => null,
  });
  const r = byName(checks)["device.restored"]!;
  assert.equal(r.status, "fail");
  assert.match(r.reason, /now on no driver, was virtio-pci/);
});
