/**
 * `virtio probe --pci-cfg` on real QEMU devices the guest kernel owns: the device config read
 * through the PCI configuration access window (§4.1.4.9) equals what QEMU was given, every
 * window is left disarmed, the kernel's negotiated features and status are unchanged, and
 * plain `virtio probe` writes nothing at all (config space and sysfs byte-identical). A device
 * whose virtio driver was unbound shows no negotiated features. One boot.
 */
import assert from "node:assert/strict";
import { runInLab } from "../../lib/lab/vm.ts";
import { DEVICES, pciAddress } from "../../lib/lab/devices.ts";
import type { DeviceReport, ProbeReport } from "../../lib/probe/report.ts";
import { PCI_CFG_CAP } from "../../lib/pci/cfg_window.ts";
import { virtioStateScript } from "./helpers.ts";

const SEP = "=====8<=====";
const at = (name: string) => pciAddress(DEVICES[name]!.slot);

const STATE = virtioStateScript();

Deno.test("lab: probe --pci-cfg reads kernel-owned devices through the window; plain probe writes nothing", async () => {
  const rng = at("rng");
  const script = [
    STATE,
    `echo '${SEP}'`,
    "virtio probe --json > /tmp/plain.json",
    STATE,
    `echo '${SEP}'`,
    "virtio probe --json --pci-cfg",
    `echo '${SEP}'`,
    STATE,
    `echo '${SEP}'`,
    `virtio diag --json --pci-cfg ${at("net-modern")} ${at("blk")}`,
    `echo '${SEP}'`,
    // Driverless: the virtio driver unbound, virtio-pci kept (status ACKNOWLEDGE only).
    `echo $(basename /sys/bus/pci/devices/${rng}/virtio*) > /sys/bus/virtio/drivers/virtio_rng/unbind`,
    `virtio probe --json --pci-cfg --allow-writes ${rng}`,
  ].join("\n");
  const r = await runInLab({ devices: "probe", command: ["sh", "-c", script] });
  assert.equal(r.code, 0, r.console.slice(-3000));
  const [before, afterPlain, windowJson, afterWindow, diagJson, driverlessJson] = r.stdout.split(
    SEP + "\n",
  );

  // Plain probe changed nothing: config space, status and features byte-identical.
  assert.ok(before!.trim().length > 0);
  assert.equal(afterPlain, before, "plain probe changed config space or sysfs state");

  const report: ProbeReport = JSON.parse(windowJson!);
  const by = new Map(report.devices.map((d) => [d.address, d]));
  const get = (name: string): DeviceReport => {
    const d = by.get(at(name));
    assert.ok(d, `${name} missing`);
    return d;
  };

  // Every modern bound device: the window works (device_status equals the kernel's) and
  // was left disarmed; its config came through it.
  let windows = 0;
  for (const d of report.devices) {
    if (d.kind === "legacy" || !d.virtio_driver) continue;
    assert.ok(d.pci_cfg, `${d.address}: no window used (${d.findings.join("; ")})`);
    assert.equal(d.pci_cfg.works, true, `${d.address}: ${d.findings.join("; ")}`);
    assert.equal(d.pci_cfg.disarmed, true, d.address);
    assert.equal(d.pci_cfg.device_status, d.status?.value, d.address);
    if (d.config) assert.equal(d.config.via, "pci-cfg", d.address);
    windows++;
  }
  assert.ok(windows >= 6, `only ${windows} devices read through the window`);

  // What QEMU was given, read from the devices themselves.
  const net = get("net-modern");
  assert.equal(net.config?.fields.mac, DEVICES["net-modern"]!.given.mac);
  assert.equal(net.config?.fields.mtu, DEVICES["net-modern"]!.given.mtu);
  const blk = get("blk");
  assert.equal(blk.config?.fields.capacity_bytes, DEVICES.blk!.given.capacityBytes);
  assert.equal(blk.config?.fields.num_queues, DEVICES.blk!.given.numQueues);
  assert.equal(get("scsi").config?.fields.num_queues, DEVICES.scsi!.given.numQueues);
  assert.equal(get("serial").config?.fields.max_nr_ports, DEVICES.serial!.given.maxPorts);
  // num_queues of the common config: blk's request queues, scsi's 2 + control + event.
  assert.equal(blk.num_queues, DEVICES.blk!.given.numQueues);
  assert.equal(get("scsi").num_queues, Number(DEVICES.scsi!.given.numQueues) + 2);

  // The kernel's view (sysfs) agrees with the device's own config.
  const kv = (d: DeviceReport) => d.kernel_view?.[0]?.fields ?? {};
  assert.equal(kv(net).mac, net.config?.fields.mac);
  assert.equal(kv(net).mtu, net.config?.fields.mtu);
  assert.equal(kv(blk).capacity_bytes, blk.config?.fields.capacity_bytes);
  assert.equal(kv(blk).logical_block_size, blk.config?.fields.blk_size);
  assert.equal(kv(blk).queues, blk.config?.fields.num_queues);

  // The kernel's view is unchanged, and each window's cap.length reads 0 afterwards in the
  // config space the guest dumped (not only in probe's own read-back).
  const kernelLines = (s: string) => s.split("\n").filter((l) => l.includes(" kernel "));
  assert.ok(kernelLines(before!).length > 0, "no kernel-owned virtio device listed");
  assert.deepEqual(kernelLines(afterWindow!), kernelLines(before!));
  const configs = new Map(
    afterWindow!.split("\n").filter((l) => l.includes(" config "))
      .map((l) => l.split(" ")).map(([address, , hex]) => [address!, hex!]),
  );
  for (const d of report.devices) {
    if (!d.pci_cfg) continue;
    const hex = configs.get(d.address)!;
    const o = (d.pci_cfg.cap_offset + PCI_CFG_CAP.length) * 2;
    assert.equal(hex.slice(o, o + 8), "00000000", `${d.address}: window left armed`);
  }

  // diag --pci-cfg: the window works and the kernel agrees with the device, on both.
  const diag = JSON.parse(diagJson!) as {
    devices: { address: string; checks: { name: string; status: string; reason: string }[] }[];
  };
  assert.equal(diag.devices.length, 2);
  for (const dev of diag.devices) {
    for (const name of ["pci.cfg-window", "config.kernel-agrees"]) {
      const c = dev.checks.find((x) => x.name === name);
      assert.equal(c?.status, "pass", `${dev.address} ${name}: ${c?.reason}`);
    }
  }

  // Driverless rng: no negotiated set (FEATURES_OK not set), offered features and queue
  // sizes through the window.
  const driverless: ProbeReport = JSON.parse(driverlessJson!);
  const d = driverless.devices[0]!;
  assert.equal(d.virtio_driver, undefined);
  assert.equal(
    d.features.negotiated,
    undefined,
    "negotiated features shown for a driverless device",
  );
  assert.ok(d.notes.some((n) => /FEATURES_OK not set/.test(n)), d.notes.join("; "));
  assert.ok(
    d.features.offered?.bits.some((b) => b.name === "VERSION_1"),
    JSON.stringify(d.features),
  );
  assert.equal(d.queues?.length, 1);
  assert.ok((d.queues?.[0]?.max_size ?? 0) > 0);
  assert.equal(d.pci_cfg?.disarmed, true);
});
