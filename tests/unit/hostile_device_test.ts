/**
 * Issue 6, "A hostile or broken device": the named cases that queue_malicious_test.ts,
 * virtio_transport_test.ts and fuzz_test.ts do not already cover, driven through the layers a
 * user runs (VirtioNet.open, the pktgen session, the `virtio pktgen` command):
 * - a split-ring device whose queue size is not a power of two (§2.7);
 * - device configuration changing between reads (§2.5.1 config_generation), settling or not;
 * - DEVICE_NEEDS_RESET (§2.1.1) raised mid-run while traffic flows;
 * - a used-ring violation mid-run reaching the command line: exit 1, one line, no trace.
 * Every outcome must be progress or a clean typed error (VirtioError), never a crash or a hang.
 */
import assert from "node:assert/strict";
import { FakeModernBar } from "../../testing/fake_virtio_pci.ts";
import { FakeDma } from "../../testing/fake_dma.ts";
import { ModernTransport } from "../../lib/virtio/modern_transport.ts";
import { VirtioNet } from "../../lib/net/virtio_net.ts";
import { VirtioError } from "../../lib/errors.ts";
import { restoreAbandonedClaims } from "../../lib/device/claim.ts";
import { runSession } from "../../lib/pktgen/run/session.ts";
import { runPktgen } from "../../commands/pktgen.ts";
import { fakeTime, pktgenOptions, simPort } from "./pktgen_sim_port.ts";
import { type RecordingIO, recordingIO } from "../../testing/recording_io.ts";

const F = (n: number) => 1n << BigInt(n);
const VERSION_1 = F(32), MAC = F(5), STATUS = F(16), PACKED = F(34);
/** mac 52:54:00:12:34:56, status LINK_UP. */
const NET_CONFIG = () => new Uint8Array([0x52, 0x54, 0, 0x12, 0x34, 0x56, 1, 0, 1, 0, 0, 0]);

function netDevice(o: ConstructorParameters<typeof FakeModernBar>[0]) {
  const bar = new FakeModernBar({ deviceType: 1, config: NET_CONFIG(), ...o });
  const t = new ModernTransport({ deviceType: 1, caps: bar.caps(), openBar: () => bar });
  return { bar, t, dma: new FakeDma() };
}

const captureIO = (): RecordingIO => recordingIO();

/**
 * Found by the two tests below and fixed since (85d7be2): VirtioNet.open took
 * min(256, device max) as the split ring size, and createVirtqueue's RangeError for a size
 * that is not a power of two escaped untyped, so `virtio pktgen` printed "internal error"
 * and a stack trace.
 */
Deno.test({
  name:
    "hostile: a split-ring device offering queue size 100 (not a power of two) is refused with a typed error",
  fn() {
    const { bar, t, dma } = netDevice({
      features: VERSION_1 | MAC | STATUS,
      queueSizes: [100, 100],
    });
    let thrown: unknown;
    try {
      VirtioNet.open(t, dma, { format: "split" });
    } catch (e) {
      thrown = e;
    }
    assert.ok(thrown !== undefined, "a split ring of 100 entries was set up");
    // A RangeError here reaches main.ts as an "internal error" with a stack trace.
    assert.ok(
      thrown instanceof VirtioError,
      `expected a VirtioError (clear message, exit 1), got ${String(thrown)}`,
    );
    assert.match(thrown.message, /100.*power of two|power of two.*100/);
    assert.equal(bar.state.queues.some((q) => q.enabled), false, "no queue left enabled");
  },
});

Deno.test("hostile: the same odd queue size is fine for a packed ring (§2.8 allows any size)", () => {
  const { t, dma } = netDevice({
    features: VERSION_1 | MAC | STATUS | PACKED,
    queueSizes: [100, 100],
  });
  const net = VirtioNet.open(t, dma, { format: "packed", queueSize: 100 });
  assert.equal(net.format, "packed");
});

Deno.test("hostile: config that changes between reads is read consistently (§2.5.1)", () => {
  const { bar, t } = netDevice({ features: VERSION_1 | MAC | STATUS });
  // The device rewrites its MAC while the driver reads it byte by byte: the first two
  // passes see a generation change and are retried; the third is consistent.
  let passes = 0;
  const mac = t.deviceConfig.consistent((c) => {
    passes++;
    const bytes = [0, 1, 2, 3, 4, 5].map((i) => {
      const b = c.read8(i);
      if (passes < 3 && i === 2) {
        bar.config[5] = 0x60 + passes;
        bar.state.generation++;
      }
      return b;
    });
    return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
  });
  assert.equal(passes, 3);
  assert.equal(mac, "52:54:00:12:34:62");
});

Deno.test("hostile: a config generation that never settles fails VirtioNet.open cleanly, no hang", () => {
  const { t, dma } = netDevice({
    // MQ + CTRL_VQ: with two pairs asked, open reads max_virtqueue_pairs from the config.
    features: VERSION_1 | MAC | STATUS | F(17) | F(22),
    queueSizes: [64, 64, 64, 64, 64],
    unstableGeneration: true,
  });
  const started = performance.now();
  assert.throws(
    () => VirtioNet.open(t, dma, { format: "split", queuePairs: 2 }),
    (e) => e instanceof VirtioError && /kept changing/.test(e.message),
  );
  assert.ok(performance.now() - started < 2000, "bounded retries");
});

for (const format of ["split", "packed"] as const) {
  Deno.test(`hostile (${format}): DEVICE_NEEDS_RESET mid-run stops traffic with a clear error`, async () => {
    const { sim, port, bar } = simPort(format);
    const events: string[] = [];
    let turns = 0, sentBefore = -1;
    const o = pktgenOptions(["00:04.0", "--loopback", "00:05.0", "--quiet", "--interval", "0.1"]);
    const r = await runSession(o, { tx: port, rx: port }, {
      signal: new AbortController().signal,
      ...fakeTime(20_000),
      tick: () => {
        sim.step();
        if (++turns === 300) {
          sentBefore = sim.transmitted;
          bar.state.needsReset();
        }
        assert.ok(turns < 200_000, "the run did not stop on DEVICE_NEEDS_RESET");
      },
      onEvent: (m) => events.push(m),
    });
    assert.ok(sentBefore > 0, "traffic flowed before the fault");
    assert.equal(r.stopReason, "error");
    assert.match(r.error!, /needs a reset/);
    assert.equal(r.expectations.met, false);
    assert.ok(r.sent >= sentBefore);
  });
}

Deno.test("hostile: a used id out of range mid-run ends `virtio pktgen` with exit 1 and one line", async () => {
  const { sim, port } = simPort("split", { loopback: false });
  let turns = 0;
  const io = captureIO();
  const code = await runPktgen(["00:04.0", "--quiet", "--duration", "5"], io, {
    open: () => ({ ...port, [Symbol.dispose]: () => {} }),
    ...fakeTime(),
    tick: () => {
      sim.step();
      if (++turns === 500) {
        // The device writes a used element whose id no descriptor has (§2.7.8).
        sim.tx.writeUsed(9999, 0);
        sim.tx.publish();
      }
    },
  }).catch((e) => {
    // Whatever escapes runPktgen reaches main.ts: it must be a typed error, not a crash.
    assert.ok(e instanceof VirtioError, `untyped error escaped: ${e}`);
    return 1;
  });
  assert.equal(code, 1, io.stderr);
  const lines = io.stderr.trimEnd().split("\n").filter((l) => l !== "");
  assert.equal(lines.length, 1, io.stderr);
  assert.match(lines[0]!, /^virtio pktgen: .*(used|id|9999)/i);
  assert.doesNotMatch(io.stderr, /^\s+at /m);
});

Deno.test({
  name: "hostile: the odd-size split device through `virtio pktgen` is exit 1 with one line",
  async fn() {
    const { t, dma } = netDevice({ features: VERSION_1 | MAC | STATUS, queueSizes: [100, 100] });
    const io = captureIO();
    let escaped: unknown;
    const code = await runPktgen(["00:04.0", "--quiet", "-n", "10"], io, {
      open: () => {
        const net = VirtioNet.open(t, dma, { format: "split" });
        return { address: "0000:00:04.0", net, access: "sim", [Symbol.dispose]: () => {} };
      },
    }).catch((e) => {
      escaped = e;
      return -1;
    });
    // main.ts turns a VirtioError into "virtio: MESSAGE" and exit 1; anything else into an
    // "internal error" with a stack trace.
    assert.equal(code, -1);
    assert.ok(escaped instanceof VirtioError, `main.ts would print a stack trace for ${escaped}`);
  },
});

/**
 * Found in the lab (tests/lab/faults_test.ts, device_del) and fixed since (791bf2b): giving
 * back a device hot-unplugged while taken over wrote driver_override of a device that no
 * longer exists, failed with NotFound, and the claim record stayed: every later
 * `virtio restore` exited 1 on it. A vanished device has nothing to give back.
 */
Deno.test({
  name: "hostile: the claim record of a device that vanished (hot-unplug) is cleared by restore",
  fn() {
    const root = Deno.makeTempDirSync({ prefix: "virtio-vanished-" });
    try {
      const address = "0000:01:00.0";
      const claims = `${root}/run/virtio-toolkit/claims`;
      Deno.mkdirSync(claims, { recursive: true });
      Deno.mkdirSync(`${root}/sys/bus/pci/devices`, { recursive: true });
      Deno.mkdirSync(`${root}/proc`, { recursive: true }); // pid 4242 is not running
      Deno.writeTextFileSync(
        `${claims}/${address}.json`,
        JSON.stringify({
          version: 1,
          address,
          originalDriver: "virtio-pci",
          driver: null,
          pid: 4242,
          startTime: null,
          originalCommand: 0x0103,
          createdAt: "2026-01-01T00:00:00.000Z",
        }),
      );
      // Writes go to the tree as the kernel's sysfs would take them: a vanished device's
      // attributes are not there (NotFound).
      const write = (path: string, text: string) => Deno.writeTextFileSync(path, text);
      const results = restoreAbandonedClaims({ root, write }, address);
      assert.equal(results.length, 1);
      assert.equal(results[0]!.error, null, `restore failed: ${results[0]!.error}`);
      assert.equal([...Deno.readDirSync(claims)].length, 0, "the record stayed behind");
    } finally {
      Deno.removeSync(root, { recursive: true });
    }
  },
});
