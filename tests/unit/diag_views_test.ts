import assert from "node:assert/strict";
import { checkCfgWindow, checkKernelAgrees } from "../../lib/diag/views.ts";
import { probeDevice } from "../../lib/probe/probe.ts";
import type { DeviceReport } from "../../lib/probe/report.ts";
import { FIXTURE_SYSFS, fixtureOpener } from "./probe_helpers_fakes.ts";

/** The recorded host's disk or NIC, device config through fake BARs, kernel view from sysfs. */
function probed(address: string): DeviceReport {
  return probeDevice(address, { sysfsRoot: FIXTURE_SYSFS, openBar: fixtureOpener().open });
}

/** A copy of `r` with one device-config field changed. */
function withField(r: DeviceReport, key: string, value: string | number): DeviceReport {
  return { ...r, config: { ...r.config!, fields: { ...r.config!.fields, [key]: value } } };
}

Deno.test("config.kernel-agrees: the recorded disk agrees; a capacity or block size the kernel did not take fails", () => {
  const blk = probed("0000:00:02.0");
  assert.equal(checkKernelAgrees(blk)?.status, "pass", checkKernelAgrees(blk)?.reason);
  const cap = checkKernelAgrees(withField(blk, "capacity_bytes", 4096));
  assert.equal(cap?.status, "fail");
  assert.match(cap!.reason, /capacity: kernel \d+ bytes, device 4096/);
  assert.equal(checkKernelAgrees(withField(blk, "blk_size", 4096))?.status, "fail");
});

Deno.test("config.kernel-agrees: NIC — an MTU above the device's maximum fails, another MAC warns", () => {
  const net = probed("0000:00:03.0");
  assert.equal(checkKernelAgrees(net)?.status, "pass", checkKernelAgrees(net)?.reason);
  assert.equal(checkKernelAgrees(withField(net, "mtu", 1000))?.status, "fail");
  assert.equal(checkKernelAgrees(withField(net, "mtu", 9000))?.status, "pass");
  assert.equal(checkKernelAgrees(withField(net, "mac", "02:00:00:00:00:99"))?.status, "warn");
  const noConfig = { ...net, config: undefined } as DeviceReport;
  assert.equal(checkKernelAgrees(noConfig), undefined, "one view alone is no check");
});

/** The recorded NIC's report recast as another type, with the given device config and kernel views. */
function recast(
  id: number,
  name: string,
  fields: Record<string, string | number>,
  views: { name: string; fields: Record<string, string | number> }[],
): DeviceReport {
  const base = probed("0000:00:03.0");
  return {
    ...base,
    type: { id, name },
    config: { ...base.config!, fields },
    kernel_view: views.map((v) => ({ source: "sysfs" as const, ...v })),
  };
}

Deno.test("config.kernel-agrees: pmem — the kernel's region must be the device's start and size", () => {
  const device = { start: "0x140000000", size: 268435456 };
  const region = (start: string, size: number) => [{ name: "region0", fields: { start, size } }];
  const ok = checkKernelAgrees(recast(27, "pmem", device, region("0x140000000", 268435456)));
  assert.equal(ok?.status, "pass", ok?.reason);
  assert.match(ok!.reason, /start, size/);
  const moved = checkKernelAgrees(recast(27, "pmem", device, region("0x180000000", 268435456)));
  assert.equal(moved?.status, "fail");
  assert.match(moved!.reason, /start: kernel's region 0x180000000, device 0x140000000/);
  const small = checkKernelAgrees(recast(27, "pmem", device, region("0x140000000", 4096)));
  assert.equal(small?.status, "fail");
});

Deno.test("config.kernel-agrees: mem — added memory within the usable region; less than plugged warns", () => {
  const MiB = 1 << 20;
  const device = { plugged_size: 256 * MiB, usable_region_size: 1024 * MiB };
  const added = (bytes: number) => [{ name: "memory", fields: { bytes, blocks: bytes / MiB } }];
  assert.equal(checkKernelAgrees(recast(24, "mem", device, added(256 * MiB)))?.status, "pass");
  assert.equal(checkKernelAgrees(recast(24, "mem", device, added(384 * MiB)))?.status, "pass");
  const over = checkKernelAgrees(recast(24, "mem", device, added(2048 * MiB)));
  assert.equal(over?.status, "fail");
  assert.match(over!.reason, /above the usable region/);
  assert.equal(checkKernelAgrees(recast(24, "mem", device, added(128 * MiB)))?.status, "warn");
  const noBlocks = recast(24, "mem", device, [{ name: "other", fields: { bytes: 1 } }]);
  assert.equal(checkKernelAgrees(noBlocks), undefined, "no memory view, no check");
});

Deno.test("pci.cfg-window: works and disarmed passes; broken, armed or missing fails; not asked, no check", () => {
  const base = probed("0000:00:03.0");
  const w = { cap_offset: 0x84, device_status: 15, works: true, accesses: 40, disarmed: true };
  assert.equal(checkCfgWindow({ ...base, pci_cfg: w }, true)?.status, "pass");
  assert.equal(checkCfgWindow({ ...base, pci_cfg: w }, false), undefined);
  assert.equal(checkCfgWindow({ ...base, pci_cfg: { ...w, works: false } }, true)?.status, "fail");
  assert.equal(
    checkCfgWindow({ ...base, pci_cfg: { ...w, disarmed: false } }, true)?.status,
    "fail",
  );
  const missing = {
    ...base,
    findings: ["no PCI configuration access capability (§4.1.4.9: the device MUST present one)"],
  };
  assert.equal(checkCfgWindow(missing, true)?.status, "fail");
});
