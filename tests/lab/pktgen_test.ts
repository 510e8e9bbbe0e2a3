/**
 * `virtio pktgen` on real QEMU virtio NICs, in one lab boot with several checks:
 * frames captured by QEMU are byte-exact what we meant (and tshark finds both checksums
 * good); loopback modern → packed and legacy → packed at a modest rate loses nothing and
 * reports latency; --rate holds; --rx --pcap in one process while another transmits writes a
 * pcap tshark reads; SIGINT ends a run with its summary and gives the device back. It also
 * prints (does not assert) the 64-byte transmit rates of the packed and legacy NICs.
 *
 * A dangling hub port is added: with nothing on the hub able to receive, QEMU stops taking
 * frames after a ring's worth (seen in this lab: transmit stalls at 256 frames), and the
 * kernel NICs on the hub are down.
 */
import assert from "node:assert/strict";
import { runInLab } from "../../lib/lab/vm.ts";
import { PACER_BURST_NS } from "../../lib/pktgen/run/engine.ts";
import { readPcap } from "../../lib/pktgen/pcap.ts";
import { FrameWriter } from "../../lib/pktgen/frame.ts";
import { parseRange } from "../../lib/pktgen/flows.ts";
import { parseFrame, ReceivedFrame, RxStatus } from "../../lib/pktgen/validate.ts";
import { sections, tsharkStatuses } from "./helpers.ts";

const SCRIPT = `
mark() { echo "@@$1"; }
mark tx
virtio pktgen 0000:00:04.0 -n 300 --size 64-200 --src-port 1000-1009 --dst-ip 10.1.0.1-10.1.0.5 --dst-port 7001 --json --quiet; echo "@@rc $?"
mark loop-modern
virtio pktgen 0000:00:04.0 --loopback 0000:00:06.0 -n 10000 --rate 5k --expect-loss 0 --json --quiet; echo "@@rc $?"
mark loop-legacy
virtio pktgen 0000:00:05.0 --loopback 0000:00:06.0 -n 5000 --rate 5k --expect-loss 0 --json --quiet; echo "@@rc $?"
mark rate
virtio pktgen 0000:00:04.0 --duration 4 --rate 2k --json --interval 0.5 --quiet; echo "@@rc $?"
mark rx
(virtio pktgen 0000:00:06.0 --rx -n 1000 --duration 60 --pcap /tmp/rx.pcap --verify --json --quiet > /tmp/rx.json; echo $? > /tmp/rx.rc) &
sleep 6
virtio pktgen 0000:00:04.0 --duration 20 --rate 2k --dst-mac 52:54:00:12:34:06 --dst-port 7002 --quiet > /dev/null
wait
cat /tmp/rx.json; echo "@@rc $(cat /tmp/rx.rc)"
mark rxpcap
base64 -w0 /tmp/rx.pcap; echo
mark sigint
timeout --preserve-status -s INT 8 virtio pktgen 0000:00:05.0 --json --quiet; echo "@@rc $?"
mark driver
basename $(readlink /sys/bus/pci/devices/0000:00:05.0/driver)
for d in 06.0 05.0; do
  mark speed-$d
  virtio pktgen 0000:00:$d --duration 6 --json --interval 1 --quiet; echo "@@rc $?"
done
`;

Deno.test("lab: virtio pktgen on real NICs — bytes, loss, rate, rx pcap, SIGINT", async (t) => {
  const r = await runInLab({
    devices: "net",
    // Only what net-modern sends, and no full-speed run on it: at ~4 Mpps a few seconds of
    // capture are gigabytes, which the test would have to read into memory.
    capture: ["net-modern"],
    captureSentOnly: true,
    command: ["sh", "-c", SCRIPT],
    timeoutMs: 400_000,
  });
  const s = sections(r.stdout);
  const json = (name: string) => {
    const sec = s.get(name);
    assert.ok(sec, `no output for ${name}; console:\n${r.console.slice(-3000)}`);
    return { doc: JSON.parse(sec.lines.at(-1)!), rc: sec.rc };
  };

  await t.step("transmit: captured frames are byte-exact what we meant, checksums good", () => {
    const { doc, rc } = json("tx");
    assert.equal(rc, 0);
    assert.equal(doc.sent, 300);
    const frames = readPcap(r.captures["net-modern"]!).records.map((x) => x.data)
      .filter((f) => f.length > 37 && ((f[36]! << 8) | f[37]!) === 7001);
    assert.equal(frames.length, 300);
    const writer = new FrameWriter({
      ipVersion: 4,
      srcMac: parseRange("mac", "52:54:00:12:34:04"),
      dstMac: parseRange("mac", "02:00:00:00:00:02"),
      srcIp: parseRange("ipv4", "10.0.0.1"),
      dstIp: parseRange("ipv4", "10.1.0.1-10.1.0.5"),
      srcPort: parseRange("port", "1000-1009"),
      dstPort: parseRange("port", "7001"),
      maxWireSize: 200,
      flowId: 0,
      seed: 1,
    });
    const rx = new ReceivedFrame();
    const want = new Uint8Array(2048);
    frames.forEach((f, i) => {
      // The timestamp is the guest's clock: take it from the frame, rebuild, compare all bytes.
      assert.equal(parseFrame(f, 0, f.length, rx), RxStatus.OK);
      const len = writer.writeFull(want, 0, 64 + (i % 137), i, rx.txNs);
      assert.deepEqual(f, want.subarray(0, len), `frame ${i}`);
    });
    const st = tsharkStatuses(r.captures["net-modern"]!, "udp.dstport == 7001");
    assert.equal(st.length, 300);
    assert.ok(st.every((l) => l === "1\t1"), `tshark: ${st.find((l) => l !== "1\t1")}`);
  });

  for (const name of ["loop-modern", "loop-legacy"]) {
    await t.step(`${name}: zero loss at a modest rate, latency reported`, () => {
      const { doc, rc } = json(name);
      assert.equal(rc, 0, JSON.stringify(doc.failures));
      assert.equal(doc.summary.rx.lost, 0);
      assert.equal(doc.summary.rx.unique, doc.sent);
      assert.equal(doc.summary.rx.duplicates, 0);
      assert.ok(doc.summary.latency.count > 0 && doc.summary.latency.p99Ns > 0);
      const l = doc.summary.latency;
      console.log(
        `${name} (${doc.tx.transport} ${doc.tx.format} → ${doc.rx.format}): ${doc.sent} frames, ` +
          `latency min ${(l.minNs / 1e3).toFixed(0)} µs p50 ${(l.p50Ns / 1e3).toFixed(0)} µs ` +
          `p99 ${(l.p99Ns / 1e3).toFixed(0)} µs`,
      );
    });
  }

  await t.step("--rate 2k holds within 5% over 4 s", () => {
    const { doc, rc } = json("rate");
    assert.equal(rc, 0);
    const pps = doc.summary.tx.packets / doc.summary.seconds;
    const intervals = s.get("rate")!.lines.slice(0, -1).map((l) => JSON.parse(l))
      .filter((x) => x.type === "interval").map((x) => x.tx.pps as number).sort((a, b) => a - b);
    const median = intervals[Math.floor(intervals.length / 2)]!;
    const pause = (doc.maxPauseNs / 1e6).toFixed(0);
    // Time the loop did not poll, the pacer's sleeps not counted: within the run.
    assert.ok(doc.pausedNs >= 0 && doc.pausedNs < doc.summary.seconds * 1e9, `${doc.pausedNs}`);
    const pausedShare = (100 * doc.pausedNs / (doc.summary.seconds * 1e9)).toFixed(0);
    console.log(
      `rate: asked 2 kpps, run mean ${pps.toFixed(0)} pps, median of 0.5 s intervals ` +
        `${median.toFixed(0)} pps (${intervals.map((p) => p.toFixed(0)).join(" ")}), ` +
        `longest loop pause ${pause} ms, paused ${pausedShare}% of the run`,
    );
    // Never faster than asked, however the run went.
    assert.ok(pps < 2_000 * 1.05, `${pps} pps`);
    if (doc.maxPauseNs > PACER_BURST_NS) {
      // The guest stopped for longer than the pacer catches up on (other VMs on our 2 cores):
      // no rate can hold then, and the summary says so. Nothing more to judge.
      console.log(`rate: INCONCLUSIVE, the host was too busy (loop paused ${pause} ms)`);
      return;
    }
    // Steady state: the median interval; whole run: the mean (pauses caught up).
    assert.ok(intervals.length >= 6, `${intervals.length} intervals`);
    assert.ok(Math.abs(median - 2_000) / 2_000 < 0.05, `median ${median} pps`);
    assert.ok(Math.abs(pps - 2_000) / 2_000 < 0.05, `${pps} pps`);
  });

  await t.step("--rx --pcap while another process transmits: counted, tshark reads it", () => {
    const { doc, rc } = json("rx");
    assert.equal(rc, 0, JSON.stringify(doc.failures));
    assert.equal(doc.mode, "rx");
    assert.equal(doc.summary.rx.unique, 1000);
    assert.equal(doc.summary.rx.lost, 0);
    assert.equal(doc.summary.rx.errorsByKind.bad_udp_checksum ?? 0, 0);
    const pcap = Uint8Array.from(atob(s.get("rxpcap")!.lines[0]!), (c) => c.charCodeAt(0));
    const st = tsharkStatuses(pcap, "udp.dstport == 7002");
    assert.ok(st.length >= 1000, `${st.length} frames`);
    assert.ok(st.every((l) => l === "1\t1"));
  });

  await t.step("SIGINT mid-run: summary printed, device back on virtio-pci", () => {
    const { doc, rc } = json("sigint");
    assert.equal(rc, 0);
    assert.equal(doc.stopReason, "signal");
    assert.ok(doc.sent > 0);
    assert.deepEqual(s.get("driver")!.lines, ["virtio-pci"]);
  });

  await t.step("64-byte transmit rates (printed, not asserted)", () => {
    // Not 04.0: it is captured (see above); bench/README.md has every NIC's rates.
    for (const d of ["06.0", "05.0"]) {
      const { doc, rc } = json(`speed-${d}`);
      assert.equal(rc, 0);
      // Deno's JIT needs a second or two under TCG: the best second shows the warm rate.
      const perSecond = s.get(`speed-${d}`)!.lines.slice(0, -1).map((l) => JSON.parse(l))
        .map((x) => x.tx.pps as number);
      console.log(
        `tx 64 B ${doc.tx.address} ${doc.tx.transport}/${doc.tx.format}: ` +
          `${(doc.summary.tx.pps / 1e6).toFixed(3)} Mpps over ${
            doc.summary.seconds.toFixed(1)
          } s, ` +
          `best second ${(Math.max(...perSecond) / 1e6).toFixed(3)} Mpps ` +
          `(${perSecond.map((p) => (p / 1e6).toFixed(3)).join(" ")})`,
      );
    }
  });
});
