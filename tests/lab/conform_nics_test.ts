/**
 * `virtio conform` on the NICs the probe set lacks: "noevent" (virtio-net-pci with
 * event_idx=off, over sysfs) and "vfio" (the split and packed NICs behind the q35
 * intel-iommu, taken over through VFIO the way pktgen's vfio access path does). One boot of
 * the lab's vfio set plus net-noevent. Every device gets a verdict per check, each is back
 * on virtio-pci afterwards, and the non-pass verdicts are exactly the ones
 * docs/conformance.md explains.
 */
import assert from "node:assert/strict";
import { runInLab } from "../../lib/lab/vm.ts";
import type { ConformReport } from "../../lib/conform/run.ts";

const SEP = "=====8<=====";
/** address → [name, access path]. */
const DEVICES: Record<string, [string, string]> = {
  "0000:00:08.0": ["net-noevent", "sysfs"],
  "0000:00:09.0": ["net-vfio", "vfio"],
  "0000:00:11.0": ["net-vfio-packed", "vfio"],
};

/**
 * The non-pass verdicts QEMU gives ("id@device"), each explained in docs/conformance.md: the
 * same two lenient FEATURES_OK decisions as on the probe set's NICs (tests/lab/conform_test.ts).
 * The test wants exactly these: a new one is unexplained, a missing one means QEMU (or a
 * check) changed and the document is out of date.
 */
const EXPECTED_NON_PASS = ["net-noevent", "net-vfio", "net-vfio-packed"].flatMap((d) => [
  // QEMU keeps FEATURES_OK when the driver accepted a bit it did not offer (it drops the bit).
  `status.features-ok-unoffered@${d}`,
  // QEMU's virtio-net keeps FEATURES_OK for CTRL_RX without CTRL_VQ (§5.1.3.1 dependency).
  `status.features-ok-dependency@${d}`,
]);

Deno.test("lab: virtio conform on net-noevent (sysfs) and net-vfio, net-vfio-packed (VFIO behind intel-iommu)", async () => {
  const script = Object.entries(DEVICES).map(([a, [, access]]) =>
    `virtio conform --json --access ${access} ${a} 2>/tmp/err.txt; echo rc=$?; ` +
    `basename $(readlink /sys/bus/pci/devices/${a}/driver); tail -3 /tmp/err.txt; echo '${SEP}'`
  ).join("; ");
  const r = await runInLab({ devices: "vfio,net-noevent", command: ["sh", "-c", script] });
  assert.equal(r.code, 0, r.console.slice(-2000));
  const parts = r.stdout.split(SEP + "\n").slice(0, -1);
  assert.equal(parts.length, Object.keys(DEVICES).length, r.stdout.slice(-3000));
  const nonPass: string[] = [];
  for (const [i, [addr, [name]]] of Object.entries(DEVICES).entries()) {
    const text = parts[i]!;
    const at = text.lastIndexOf("rc=");
    let report: ConformReport;
    try {
      report = JSON.parse(text.slice(0, at));
    } catch {
      throw new Error(`${name}: no JSON report:\n${text.slice(-3000)}`);
    }
    const [rc, driver] = text.slice(at + 3).split("\n");
    assert.equal(report.device.address, addr);
    assert.ok(rc === "0" || rc === "1", `${name}: rc ${rc}: ${text.slice(at)}`);
    assert.equal(rc === "0", report.summary.fail === 0, `${name}: exit code matches the verdicts`);
    assert.equal(driver, "virtio-pci", `${name} given back to its driver`);
    assert.ok(report.summary.pass > 0, `${name}: some checks pass`);
    for (const res of report.results) {
      if (res.verdict === "fail" || res.verdict === "skip") {
        nonPass.push(`${res.id}@${name}`);
        console.log(
          `${name} ${res.verdict} ${res.id}: ${res.seen ?? ""} / ${res.expected ?? ""} ${
            res.detail ?? ""
          }`,
        );
      }
    }
    console.log(`${name}: ${JSON.stringify(report.summary)} features ${report.device.features}`);
  }
  assert.deepEqual(nonPass.toSorted(), EXPECTED_NON_PASS.toSorted(), "non-pass verdicts");
});
