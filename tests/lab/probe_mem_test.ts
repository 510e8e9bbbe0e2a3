/**
 * `virtio probe --pci-cfg` on the `probe-mem` set — virtio-iommu (driverless: Debian 12's 6.1
 * has no driver for it), virtio-tablet, virtio-mem and virtio-pmem (kernel-owned) — decodes
 * each device config (§5.13.4, §5.8.4, §5.15.4, §5.19.4) with the values QEMU was given and
 * reports over QMP (`query-memory-devices`, `qom-get`), and the kernel's sysfs view agrees.
 * `diag --pci-cfg` finds the window working and the kernel agreeing on mem and pmem. The
 * tablet's config needs select writes: read once its driver is unbound. One boot.
 */
import assert from "node:assert/strict";
import { startLab } from "../../lib/lab/vm.ts";
import { DEVICES, pciAddress } from "../../lib/lab/devices.ts";
import type { DeviceReport, ProbeReport } from "../../lib/probe/report.ts";

const at = (name: string) => pciAddress(DEVICES[name]!.slot);
const given = (name: string) => DEVICES[name]!.given;

interface DiagCheck {
  name: string;
  status: string;
  reason: string;
}

interface MemoryDevice {
  type: string;
  data: Record<string, number | string | boolean>;
}

Deno.test("lab: probe --pci-cfg decodes iommu, tablet, mem and pmem config as QEMU gave and reports it", async () => {
  const tablet = at("tablet");
  const script = [
    // virtio-mem plugs what was requested from a workqueue after probing: wait (≤ 120 s) for
    // a hot-added block above the guest's RAM (all of it below 4 GiB here).
    "bs=$((0x$(cat /sys/devices/system/memory/block_size_bytes)))",
    "for i in $(seq 120); do",
    "  for m in /sys/devices/system/memory/memory*; do",
    "    [ $((0x$(cat $m/phys_index) * bs)) -ge $((1 << 32)) ] && break 2",
    "  done",
    "  sleep 1",
    "done",
    "printf '{\"bound\":'",
    "virtio probe --json --pci-cfg --allow-writes",
    "printf ',\"diag\":'",
    `virtio diag --json --pci-cfg ${at("mem")} ${at("pmem")}`,
    `echo $(basename /sys/bus/pci/devices/${tablet}/virtio*) > /sys/bus/virtio/drivers/virtio_input/unbind`,
    "printf ',\"unbound\":'",
    `virtio probe --json --pci-cfg --allow-writes ${tablet}`,
    "printf '}'",
    "echo 'probe-mem: probed' > /dev/console",
    "sleep 20",
  ].join("\n");
  await using vm = await startLab({ devices: "probe-mem", command: ["sh", "-c", script] });
  await vm.waitForConsole(/^probe-mem: probed/, 280_000);
  const qmp = await vm.qmp();
  const memDevs = await qmp.execute("query-memory-devices") as unknown as MemoryDevice[];
  const qemuBypass = await qmp.execute("qom-get", {
    path: "/machine/peripheral/lab-iommu",
    property: "boot-bypass",
  });
  const r = await vm.result;
  assert.equal(r.code, 0, r.console.slice(-2000));
  const out = JSON.parse(r.stdout) as {
    bound: ProbeReport;
    unbound: ProbeReport;
    diag: { devices: { address: string; checks: DiagCheck[] }[] };
  };
  const get = (report: ProbeReport, name: string): DeviceReport => {
    const d = report.devices.find((x) => x.address === at(name));
    assert.ok(d, `${name} missing`);
    assert.equal(d.pci_cfg?.works, true, `${name}: ${d.findings.join("; ")}`);
    assert.equal(d.pci_cfg?.disarmed, true, `${name}: window left armed`);
    assert.deepEqual(d.findings, [], name);
    return d;
  };
  const qemuMem = (id: string) => {
    const m = memDevs.find((x) => x.data.id === id);
    assert.ok(m, `QEMU lists no memory device ${id}: ${JSON.stringify(memDevs)}`);
    return m.data;
  };
  const hexOf = (n: number | string | boolean | undefined) =>
    "0x" + BigInt(n as number).toString(16);
  const figures: string[] = [];

  // virtio-iommu (§5.13.4): driverless, so offered features (with --allow-writes) decide.
  const iommu = get(out.bound, "iommu");
  const fi = iommu.config?.fields ?? {};
  assert.equal(iommu.virtio_driver, undefined);
  assert.equal(iommu.features.negotiated, undefined, "no FEATURES_OK, no negotiated set");
  assert.ok(iommu.features.offered, "driverless with --allow-writes: offered features read");
  assert.equal(iommu.config?.features_from, "offered");
  assert.equal(fi.bypass, qemuBypass, "bypass equals QEMU's boot-bypass");
  assert.equal(fi.bypass, given("iommu").bypass);
  assert.equal(fi.page_size_mask, given("iommu").pageSizeMask);
  assert.equal(fi.probe_size, given("iommu").probeSize);
  assert.deepEqual(fi.input_range, { start: "0x0", end: "0xffffffffffffffff" });
  assert.deepEqual(fi.domain_range, { start: 0, end: 0xffffffff });
  figures.push(`iommu ${JSON.stringify(fi)}`);

  // virtio-input (§5.8.4): bound, the config is not read (select writes); sysfs names it.
  const bound = get(out.bound, "tablet");
  assert.ok(bound.virtio_driver, "tablet: no driver bound");
  assert.equal(bound.config, undefined, "a bound input device's config needs writes: not read");
  const kin = bound.kernel_view?.[0]?.fields ?? {};
  assert.equal(kin.name, given("tablet").name);
  assert.equal(kin.serial, given("tablet").serial);
  const unbound = get(out.unbound, "tablet");
  assert.equal(unbound.virtio_driver, undefined, "tablet's virtio driver still bound");
  const ft = unbound.config?.fields ?? {};
  assert.equal(ft.name, given("tablet").name);
  assert.equal(ft.serial, given("tablet").serial);
  assert.deepEqual(
    ft.ids,
    { bustype: kin.bustype, vendor: kin.vendor, product: kin.product, version: kin.version },
    "the device's ids are the ones the kernel took",
  );
  figures.push(`tablet ${JSON.stringify(ft)}`);

  // virtio-mem (§5.15.4): every field against QEMU's own report.
  const mem = get(out.bound, "mem");
  const fm = mem.config?.fields ?? {};
  const qm = qemuMem("lab-mem");
  assert.equal(fm.block_size, given("mem").blockSize);
  assert.equal(fm.block_size, qm["block-size"]);
  assert.equal(fm.region_size, given("mem").regionSize);
  assert.equal(fm.region_size, qm["max-size"]);
  assert.equal(fm.requested_size, given("mem").requestedSize);
  assert.equal(fm.requested_size, qm["requested-size"]);
  assert.equal(fm.plugged_size, qm.size, "plugged_size equals QEMU's plugged size");
  assert.equal(fm.plugged_size, fm.requested_size, "the driver plugged what was requested");
  assert.equal(fm.node_id, qm.node);
  assert.equal(fm.addr, hexOf(qm.memaddr));
  assert.ok(Number(fm.usable_region_size) >= Number(fm.requested_size));
  assert.ok(Number(fm.usable_region_size) <= Number(fm.region_size));
  const blocks = mem.kernel_view?.find((v) => v.name === "memory")?.fields ?? {};
  assert.equal(blocks.bytes, fm.plugged_size, "the kernel added exactly the plugged memory");
  figures.push(`mem ${JSON.stringify(fm)} kernel ${JSON.stringify(blocks)}`);

  // virtio-pmem (§5.19.4): start and size against QEMU's report and the kernel's region.
  const pmem = get(out.bound, "pmem");
  const fp = pmem.config?.fields ?? {};
  const qp = qemuMem("lab-pmem");
  assert.equal(fp.size, given("pmem").sizeBytes);
  assert.equal(fp.size, qp.size);
  assert.equal(fp.start, hexOf(qp.memaddr));
  const region = pmem.kernel_view?.[0]?.fields ?? {};
  assert.equal(region.start, fp.start, "the kernel's region starts where the device says");
  assert.equal(region.size, fp.size);
  assert.equal(region.blockdev, "pmem0");
  figures.push(`pmem ${JSON.stringify(fp)} kernel ${JSON.stringify(region)}`);

  // diag --pci-cfg: the window works and the kernel's view agrees with mem's and pmem's config.
  assert.equal(out.diag.devices.length, 2);
  for (const dev of out.diag.devices) {
    for (const name of ["pci.cfg-window", "config.kernel-agrees"]) {
      const c = dev.checks.find((x) => x.name === name);
      assert.equal(c?.status, "pass", `${dev.address} ${name}: ${c?.reason}`);
      if (name === "config.kernel-agrees") figures.push(`diag ${dev.address}: ${c?.reason}`);
    }
  }
  console.log(figures.join("\n"));
});
