/**
 * `virtio probe --pci-cfg` on kernel NICs that are carrying traffic: the two NICs of
 * `net-pair` (one hub) are the two ends of a ping that runs as fast as replies come (busybox
 * `ping -A`, the peer NIC in its own network namespace so the frames really cross the hub),
 * while probe reads both devices through the PCI configuration access window (§4.1.4.9)
 * again and again. The window may only touch its own capability's fields: traffic must keep
 * flowing during every probe, no echo may be lost, the kernel's negotiated features and
 * status must not move, and every window must be left disarmed. One boot.
 */
import assert from "node:assert/strict";
import { runInLab } from "../../lib/lab/vm.ts";
import { DEVICES, pciAddress } from "../../lib/lab/devices.ts";
import type { ProbeReport } from "../../lib/probe/report.ts";
import { PCI_CFG_CAP } from "../../lib/pci/cfg_window.ts";
import { sections, virtioStateScript } from "./helpers.ts";

const A = pciAddress(DEVICES["net-modern"]!.slot);
const B = pciAddress(DEVICES["net-peer"]!.slot);
const ROUNDS = 6;

const STATE = virtioStateScript([A, B]);

const SCRIPT = `
mark() { echo "@@$1"; }
a=$(ls /sys/bus/pci/devices/${A}/virtio*/net)
b=$(ls /sys/bus/pci/devices/${B}/virtio*/net)
ip netns add peer
ip link set "$b" netns peer
ip addr add 10.9.0.1/24 dev "$a"
ip link set "$a" up
ip netns exec peer ip addr add 10.9.0.2/24 dev "$b"
ip netns exec peer ip link set "$b" up
busybox ping -c 3 -W 20 10.9.0.2 > /dev/null
mark before
${STATE}
busybox ping -A -q -w 45 10.9.0.2 > /tmp/ping.txt 2>&1 &
sleep 2
for i in $(seq ${ROUNDS}); do
  mark probe-$i
  t0=$(cat /sys/class/net/$a/statistics/tx_packets)
  virtio probe --json --pci-cfg ${A} ${B}; echo "@@rc $?"
  t1=$(cat /sys/class/net/$a/statistics/tx_packets)
  echo "tx $t0 $t1"
done
wait
mark ping
cat /tmp/ping.txt
mark after
${STATE}
`;

Deno.test("lab: probe --pci-cfg on kernel NICs under a ping flood — traffic flows, nothing lost, kernel state unchanged", async () => {
  const r = await runInLab({
    devices: "net-pair",
    command: ["sh", "-c", SCRIPT],
    timeoutMs: 400_000,
  });
  assert.equal(r.code, 0, r.console.slice(-3000));
  const s = sections(r.stdout);
  const lines = (name: string) => {
    const sec = s.get(name);
    assert.ok(sec, `no output for ${name}; console:\n${r.console.slice(-3000)}`);
    return sec.lines;
  };

  /** A round's probe report: its section's lines but the counter line (probe's JSON is indented). */
  const reportOf = (name: string): ProbeReport =>
    JSON.parse(lines(name).filter((l) => !l.startsWith("tx ")).join("\n"));

  const figures: string[] = [];
  for (let i = 1; i <= ROUNDS; i++) {
    const sec = s.get(`probe-${i}`)!;
    assert.equal(sec?.rc, 0, `probe round ${i}`);
    const out = lines(`probe-${i}`);
    const report = reportOf(`probe-${i}`);
    assert.equal(report.devices.length, 2);
    for (const d of report.devices) {
      assert.ok(d.virtio_driver, `${d.address}: no kernel driver`);
      assert.equal(d.pci_cfg?.works, true, `${d.address}: ${d.findings.join("; ")}`);
      assert.equal(d.pci_cfg?.disarmed, true, `${d.address}: window left armed`);
      assert.equal(d.config?.via, "pci-cfg", d.address);
    }
    // The kernel NIC kept sending while probe read both devices through their windows.
    const [t0, t1] = out.find((l) => l.startsWith("tx "))!.split(" ").slice(1).map(Number);
    assert.ok(t1! > t0!, `round ${i}: no frame sent while probe ran (${t0} → ${t1})`);
    figures.push(`${t1! - t0!}`);
  }

  // busybox: "N packets transmitted, M packets received, L% packet loss". The echo in flight
  // when -w ends may go unanswered; nothing else may.
  const summary = lines("ping").find((l) => /packets transmitted/.test(l)) ?? "";
  const m = summary.match(/(\d+) packets transmitted, (\d+) packets received/);
  assert.ok(m, `no ping summary: ${lines("ping").join(" | ")}`);
  const [sent, received] = [Number(m[1]), Number(m[2])];
  assert.ok(sent >= 100, `only ${sent} echoes in 45 s`);
  assert.ok(received >= sent - 1, `ping lost echoes while probe ran: ${summary}`);

  // Kernel status and features byte-identical; each window's cap.length reads 0.
  const before = lines("before"), after = lines("after");
  const kernel = (l: string[]) => l.filter((x) => x.includes(" kernel "));
  assert.deepEqual(kernel(after), kernel(before), "kernel status or features changed");
  assert.equal(kernel(before).length, 2);
  const last = reportOf(`probe-${ROUNDS}`);
  for (const d of last.devices) {
    const hex = after.find((l) => l.startsWith(`${d.address} config `))!.split(" ")[2]!;
    const o = (d.pci_cfg!.cap_offset + PCI_CFG_CAP.length) * 2;
    assert.equal(hex.slice(o, o + 8), "00000000", `${d.address}: window left armed`);
  }
  console.log(
    `ping: ${summary}; frames sent by ${A} during each probe: ${figures.join(", ")}`,
  );
});
