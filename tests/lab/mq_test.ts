/**
 * Several queue pairs (VIRTIO_NET_F_MQ, §5.1.6.5.5) on real QEMU NICs: the lab's `mq` set,
 * two modern NICs with 4 queue pairs each on multiqueue taps joined by a bridge in the lab's
 * own network namespace. One boot:
 * - loopback net-mq-a → net-mq-b on 4 queue pairs with 256 source ports: every transmit queue
 *   carries its share, the frames arrive spread over several receive queues (the tap picks a
 *   queue per flow hash), nothing lost or duplicated, every checksum verified by us;
 * - what net-mq-a sent, captured by QEMU: each queue's flow id with its sequence numbers
 *   0…n-1 exactly once, and tshark finds both checksums of every frame good;
 * - asking for more queue pairs than the device has fails with a clear line, and both NICs
 *   are back on virtio-pci.
 */
import assert from "node:assert/strict";
import { MQ_QUEUE_PAIRS } from "../../lib/lab/devices.ts";
import { runInLab } from "../../lib/lab/vm.ts";
import { readPcap } from "../../lib/pktgen/pcap.ts";
import { parseFrame, ReceivedFrame, RxStatus } from "../../lib/pktgen/validate.ts";
import { sections, tsharkStatuses } from "./helpers.ts";

const COUNT = 20_000;
const Q = MQ_QUEUE_PAIRS;

const SCRIPT = `
echo "@@loop"
virtio pktgen 0000:00:12.0 --loopback 0000:00:13.0 --queues ${Q} -n ${COUNT} --rate 20k \
  --src-port 1024-1279 --verify --expect-loss 0 --json --quiet; echo "@@rc $?"
echo "@@too-many"
virtio pktgen 0000:00:12.0 --queues ${Q + 1} -n 10 --quiet 2>&1; echo "@@rc $?"
echo "@@driver"
for d in 12.0 13.0; do basename $(readlink /sys/bus/pci/devices/0000:00:$d/driver); done
`;

Deno.test("lab: 4 queue pairs on QEMU multiqueue NICs — spread, exact, nothing lost", async (t) => {
  const r = await runInLab({
    devices: "mq",
    capture: ["net-mq-a"],
    captureSentOnly: true,
    command: ["sh", "-c", SCRIPT],
    timeoutMs: 300_000,
  });
  assert.equal(r.code, 0, r.console.slice(-3000));
  const s = sections(r.stdout);
  const loop = s.get("loop");
  assert.ok(loop, `no loopback output; console:\n${r.console.slice(-3000)}`);
  const doc = JSON.parse(loop.lines.at(-1)!);

  await t.step("loopback on 4 queue pairs: every queue used, nothing lost", () => {
    assert.equal(loop.rc, 0, JSON.stringify(doc.failures));
    assert.equal(doc.tx.queuePairs, Q);
    assert.equal(doc.rx.queuePairs, Q);
    const tx = doc.tx.queues.map((q: { tx: number }) => q.tx) as number[];
    const rx = doc.rx.queues.map((q: { rx: number }) => q.rx) as number[];
    console.log(`mq loopback: tx per queue ${tx.join(" / ")}, rx per queue ${rx.join(" / ")}`);
    assert.equal(tx.reduce((a, b) => a + b, 0), COUNT);
    // One loop serves the transmit queues in turn: each carries about a quarter.
    for (const n of tx) assert.ok(n >= COUNT / Q / 2, `tx per queue ${tx}`);
    assert.equal(rx.reduce((a, b) => a + b, 0), COUNT, `rx per queue ${rx}`);
    assert.ok(rx.filter((n) => n >= COUNT / 20).length >= 2, `rx per queue ${rx}`);
    assert.equal(doc.summary.rx.unique, COUNT);
    assert.equal(doc.summary.rx.lost, 0);
    assert.equal(doc.summary.rx.duplicates, 0);
    assert.equal(doc.summary.rx.errors, 0);
    assert.equal(doc.summary.rx.flows, Q);
  });

  await t.step(
    "capture: each queue's flow carries sequence numbers 0…n-1 once, checksums good",
    () => {
      const frames = readPcap(r.captures["net-mq-a"]!).records.map((x) => x.data);
      const rx = new ReceivedFrame();
      const seen = Array.from({ length: Q }, () => new Set<number>());
      for (const f of frames) {
        if (parseFrame(f, 0, f.length, rx, true) !== RxStatus.OK) continue; // not ours
        assert.ok(rx.flowId < Q, `flow ${rx.flowId}`);
        assert.ok(!seen[rx.flowId]!.has(rx.seq), `flow ${rx.flowId} seq ${rx.seq} twice`);
        seen[rx.flowId]!.add(rx.seq);
      }
      const tx = doc.tx.queues.map((q: { tx: number }) => q.tx) as number[];
      seen.forEach((seqs, flow) => {
        assert.equal(seqs.size, tx[flow], `flow ${flow}: ${seqs.size} frames, sent ${tx[flow]}`);
        assert.equal(Math.max(...seqs), seqs.size - 1, `flow ${flow}: a gap in 0…n-1`);
      });
      const st = tsharkStatuses(r.captures["net-mq-a"]!, "udp.dstport == 9");
      assert.equal(st.length, COUNT);
      assert.ok(st.every((l) => l === "1\t1"), `tshark: ${st.find((l) => l !== "1\t1")}`);
    },
  );

  await t.step("more queue pairs than the device has: one clear line, non-zero exit", () => {
    const sec = s.get("too-many")!;
    assert.notEqual(sec.rc, 0);
    assert.ok(
      sec.lines.some((l) => l.includes(`${Q + 1} queue pairs asked, the device has ${Q}`)),
      sec.lines.join("\n"),
    );
  });

  await t.step("both NICs back on virtio-pci", () => {
    assert.deepEqual(s.get("driver")!.lines, ["virtio-pci", "virtio-pci"]);
  });
});
