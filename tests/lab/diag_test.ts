/**
 * `virtio diag` on real QEMU devices. Boot 1 (probe set): passive diag passes on every device;
 * `--active` on the modern NIC passes (with a kernel NIC up on the hub to take the frames, and
 * again with our own driver on a peer NIC) and leaves it on virtio-pci; the root 9p device is
 * refused; JUnit output parses; a device left FAILED fails `virtio.status`. Boot 2: QMP `set_link hp4 off` makes `net.link` fail by name.
 */
import assert from "node:assert/strict";
import { runInLab, startLab } from "../../lib/lab/vm.ts";
import type { DiagReport } from "../../lib/diag/report.ts";

const SEP = "=====8<=====";
const ifOf = (addr: string) => `$(ls /sys/bus/pci/devices/${addr}/virtio*/net)`;

Deno.test("lab: diag passes on every healthy device; --active on 00:04.0 passes and gives it back; a FAILED device fails virtio.status", async () => {
  const script = [
    "virtio diag --json --junit /tmp/diag.xml; echo rc=$?",
    `echo '${SEP}'`,
    `ip link set ${ifOf("0000:00:05.0")} up`,
    "virtio diag --active --json 0000:00:04.0 0000:00:02.0; echo rc=$?",
    `echo '${SEP}'`,
    "virtio diag --active --json --peer 0000:00:06.0 0000:00:04.0; echo rc=$?",
    `echo '${SEP}'`,
    "basename $(readlink /sys/bus/pci/devices/0000:00:04.0/driver)",
    `echo '${SEP}'`,
    "cat /tmp/diag.xml",
    `echo '${SEP}'`,
    // Leave the legacy NIC in a bad state: unbound, device_status (I/O BAR 0 + 18) = FAILED.
    "echo 0000:00:05.0 > /sys/bus/pci/drivers/virtio-pci/unbind",
    "printf '\\200' | dd of=/sys/bus/pci/devices/0000:00:05.0/resource0 bs=1 seek=18 conv=notrunc 2>/dev/null",
    "virtio diag --json 0000:00:05.0; echo rc=$?",
  ].join("; ");
  const r = await runInLab({ devices: "probe", command: ["sh", "-c", script] });
  assert.equal(r.code, 0, r.console.slice(-2000));
  const [passive, active, peer, driver, junit, failed] = r.stdout.split(SEP + "\n");
  const parse = (text: string): { report: DiagReport; rc: number } => {
    const at = text!.lastIndexOf("rc=");
    return { report: JSON.parse(text.slice(0, at)), rc: Number(text.slice(at + 3)) };
  };

  const p = parse(passive!);
  assert.equal(p.rc, 0, passive);
  assert.equal(p.report.ok, true);
  assert.ok(p.report.devices.length >= 12, "every lab device plus the two 9p shares");
  for (const d of p.report.devices) {
    assert.notEqual(d.verdict, "fail", JSON.stringify(d));
    const names = d.checks.map((c) => c.name);
    for (const n of ["pci.config", "virtio.capabilities", "virtio.features", "virtio.status"]) {
      assert.ok(names.includes(n), `${d.address} lacks ${n}`);
    }
  }
  const blk = p.report.devices.find((d) => d.type === "blk")!;
  assert.match(blk.checks.find((c) => c.name === "blk.capacity")!.reason, /^131072 sectors/);

  const a = parse(active!);
  assert.equal(a.rc, 0, active);
  const nic = a.report.devices.find((d) => d.address === "0000:00:04.0")!;
  const status = Object.fromEntries(nic.checks.map((c) => [c.name, c.status]));
  for (const n of ["init.sequence", "queues.setup", "net.selftest", "device.restored"]) {
    assert.equal(status[n], "pass", `${n}: ${JSON.stringify(nic.checks)}`);
  }
  const root = a.report.devices.find((d) => d.address === "0000:00:02.0")!;
  const init = root.checks.find((c) => c.name === "init.sequence")!;
  assert.equal(init.status, "skip");
  assert.match(init.reason, /root filesystem/);

  const q = parse(peer!);
  assert.equal(q.rc, 0, peer);
  const selftest = q.report.devices[0]!.checks.find((c) => c.name === "net.selftest")!;
  assert.equal(selftest.status, "pass", selftest.reason);
  assert.match(selftest.reason, /peer received all 64/);
  assert.deepEqual(q.report.devices.map((d) => d.address), ["0000:00:04.0"]);

  assert.equal(driver!.trim(), "virtio-pci");

  const xmlFile = await Deno.makeTempFile({ suffix: ".xml" });
  await Deno.writeTextFile(xmlFile, junit!);
  const py = await new Deno.Command("python3", {
    args: [
      "-c",
      "import xml.dom.minidom,sys; d=xml.dom.minidom.parse(sys.argv[1]); " +
      "print(len(d.getElementsByTagName('testsuite')), len(d.getElementsByTagName('testcase')))",
      xmlFile,
    ],
  }).output();
  await Deno.remove(xmlFile);
  assert.ok(py.success, new TextDecoder().decode(py.stderr));
  const [suites, cases] = new TextDecoder().decode(py.stdout).trim().split(" ").map(Number);
  assert.equal(suites, p.report.devices.length);
  assert.equal(cases, p.report.devices.reduce((n, d) => n + d.checks.length, 0));

  const f = parse(failed!);
  assert.equal(f.rc, 1, failed);
  const bad = f.report.devices[0]!.checks.filter((c) => c.status === "fail");
  assert.deepEqual(bad.map((c) => c.name), ["virtio.status"], failed);
  assert.match(bad[0]!.reason, /^0x80 FAILED \(device\): FAILED is set/);
});

Deno.test("lab: QMP set_link off on hp4 makes net.link fail for 00:04.0, by name", async () => {
  const eth = ifOf("0000:00:04.0");
  const script = [
    `ip link set ${eth} up`,
    "virtio diag --json 0000:00:04.0; echo rc=$?",
    `echo '${SEP}'`,
    "echo ready-for-fault >&2",
    // Wait (bounded) for the kernel to see the carrier go.
    `for i in $(seq 1 100); do [ "$(cat /sys/class/net/${eth}/carrier)" = 0 ] && break; sleep 0.2; done`,
    "virtio diag --json --junit /tmp/d.xml 0000:00:04.0; echo rc=$?",
    `echo '${SEP}'`,
    "cat /tmp/d.xml",
  ].join("; ");
  await using vm = await startLab({ devices: "net-modern", command: ["sh", "-c", script] });
  await vm.waitForConsole(/ready-for-fault/);
  const qmp = await vm.qmp();
  await qmp.execute("set_link", { name: "hp4", up: false });
  const r = await vm.result;
  assert.equal(r.code, 0, r.console.slice(-2000));
  const [before, after, junit] = r.stdout.split(SEP + "\n");
  const parse = (text: string) => {
    const at = text.lastIndexOf("rc=");
    return { report: JSON.parse(text.slice(0, at)) as DiagReport, rc: Number(text.slice(at + 3)) };
  };
  const b = parse(before!);
  assert.equal(b.rc, 0, before);
  const upLink = b.report.devices[0]!.checks.find((c) => c.name === "net.link")!;
  assert.equal(upLink.status, "pass", upLink.reason);

  const x = parse(after!);
  assert.equal(x.rc, 1, "a failed check makes the exit code 1");
  assert.equal(x.report.ok, false);
  const failed = x.report.devices[0]!.checks.filter((c) => c.status === "fail");
  assert.deepEqual(failed.map((c) => c.name), ["net.link"]);
  assert.match(failed[0]!.reason, /no carrier/);
  assert.match(
    junit!,
    /<testcase classname="virtio\.0000:00:04\.0" name="net\.link"[^>]*>\s*<failure/,
  );
});
