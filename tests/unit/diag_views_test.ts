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
