/**
 * The PCI configuration access window (§4.1.4.9) against a fake config space that models it,
 * and `probe --pci-cfg` on the recorded host tree with such a window in front of fake BARs.
 */
import assert from "node:assert/strict";
import { PCI_CFG_CAP, PciCfgWindow, WindowError } from "../../lib/pci/cfg_window.ts";
import { FakeBarRegion } from "../../testing/fake_config_space.ts";
import { WindowedConfigSpace } from "../../testing/fake_pci_cfg.ts";
import { probeDevice } from "../../lib/probe/probe.ts";
import { FIXTURE_SYSFS, fixtureBar, NET_MAC } from "./probe_helpers_fakes.ts";

function windowed(bar = new FakeBarRegion(0x1000)) {
  const cs = new WindowedConfigSpace(new Map([[0, bar]]));
  const cap = cs.addPciCfgCap();
  return { cs, cap, bar };
}

Deno.test("pci-cfg window: reads each width through the window and disarms after each", () => {
  const { cs, cap, bar } = windowed();
  bar.set8(0x10, 0xab).set16(0x12, 0x1234).set32(0x14, 0xdeadbeef);
  const w = new PciCfgWindow(cs, cap, 20);
  const r = w.region({ bar: 0, offset: 0x10, length: 0x10 });
  assert.equal(r.read8(0), 0xab);
  assert.equal(r.read16(2), 0x1234);
  assert.equal(r.read32(4), 0xdeadbeef);
  assert.deepEqual(cs.barAccesses, [[0, 0x10, 1, "r"], [0, 0x12, 2, "r"], [0, 0x14, 4, "r"]]);
  assert.equal(w.accesses, 3);
  assert.ok(w.disarmed, "cap.length left non-zero");
  // Only the window fields of that capability were written, and the last write disarmed it.
  const fields = new Set<number>([
    PCI_CFG_CAP.bar,
    PCI_CFG_CAP.offset,
    PCI_CFG_CAP.length,
    PCI_CFG_CAP.data,
  ]);
  for (const [o] of cs.writes) {
    assert.ok(fields.has(o - cap), `config write at 0x${o.toString(16)}`);
  }
  assert.deepEqual(cs.writes.at(-1), [cap + PCI_CFG_CAP.length, 4, 0]);
});

Deno.test("pci-cfg window: writes only through a writable region, and they reach the BAR", () => {
  const { cs, cap, bar } = windowed();
  const w = new PciCfgWindow(cs, cap, 20);
  assert.throws(() => w.region({ bar: 0, offset: 0, length: 8 }).write16(0, 7), /read-only/);
  assert.equal(bar.read16(0), 0);
  w.region({ bar: 0, offset: 0, length: 8 }, true).write16(2, 0x55aa);
  assert.equal(bar.read16(2), 0x55aa);
  assert.ok(w.disarmed);
});

Deno.test("pci-cfg window: unaligned, out-of-range and ISR accesses are refused", () => {
  const { cs, cap } = windowed();
  const isr = { bar: 0, offset: 0x100, length: 4 };
  const w = new PciCfgWindow(cs, cap, 20, [isr]);
  const r = w.region({ bar: 0, offset: 0, length: 0x20 });
  assert.throws(() => r.read16(1), /not 2-aligned/);
  assert.throws(() => r.read32(2), /not 4-aligned/);
  assert.throws(() => r.read32(0x1e), /outside/);
  assert.throws(() => w.region({ bar: 0, offset: 0xf0, length: 0x20 }), WindowError);
  assert.throws(() => w.region(isr), /ISR/);
  assert.equal(cs.barAccesses.length, 0, "a refused access reached the BAR");
});

Deno.test("pci-cfg window: a capability shorter than 20 bytes is not a window", () => {
  const cs = new WindowedConfigSpace(new Map());
  const cap = cs.addPciCfgCap(16);
  assert.throws(
    () => new PciCfgWindow(cs, cap, 16),
    /16 bytes: too short for an access window \(needs 20/,
  );
});

/** The fixture net device's config space, caps pointing into BAR 0, plus a window. */
function fixtureNetConfig(broken = false, window = true) {
  const bar = fixtureBar("0000:00:03.0");
  const cs = new WindowedConfigSpace(new Map([[0, bar]]));
  cs.addVirtioCap({ cfgType: 1, bar: 0, offset: 0, length: 0x1000 });
  cs.addVirtioCap({ cfgType: 3, bar: 0, offset: 0x2000, length: 0x1000 });
  cs.addVirtioCap({ cfgType: 4, bar: 0, offset: 0x4000, length: 0x1000 });
  if (window) cs.addPciCfgCap();
  cs.broken = broken;
  return { cs, bar };
}

Deno.test("probe --pci-cfg: a bound device's config through the window, kernel status checked", () => {
  const { cs, bar } = fixtureNetConfig();
  const d = probeDevice("0000:00:03.0", {
    sysfsRoot: FIXTURE_SYSFS,
    readConfigSpace: () => cs,
    openConfig: () => Object.assign(cs, { [Symbol.dispose]() {} }),
    pciCfg: true,
  });
  assert.equal(d.config?.via, "pci-cfg");
  assert.equal(d.config?.fields.mac, NET_MAC);
  assert.equal(d.num_queues, 2);
  assert.deepEqual(d.pci_cfg, {
    cap_offset: cs.capOffset,
    device_status: 0x0f,
    works: true,
    accesses: d.pci_cfg!.accesses,
    disarmed: true,
  });
  assert.ok(d.pci_cfg!.accesses > 3);
  assert.equal(d.status?.source, "sysfs", "the kernel's status stays the status shown");
  // Bound: no device register was written; ISR never read.
  assert.ok(cs.barAccesses.every(([, , , rw]) => rw === "r"));
  assert.ok(cs.barAccesses.every(([, o]) => o < 0x2000 || o >= 0x3000), "ISR read");
  assert.equal(bar.writes.length, 0);
  assert.deepEqual(d.findings, []);
});

Deno.test("probe --pci-cfg: a window that does not work is a finding and no config is shown", () => {
  const { cs } = fixtureNetConfig(true);
  const d = probeDevice("0000:00:03.0", {
    sysfsRoot: FIXTURE_SYSFS,
    readConfigSpace: () => cs,
    openConfig: () => Object.assign(cs, { [Symbol.dispose]() {} }),
    pciCfg: true,
  });
  assert.equal(d.pci_cfg?.works, false);
  assert.equal(d.config, undefined);
  assert.ok(
    d.findings.some((f) => /access window does not work: device_status reads 0xff/.test(f)),
  );
});

Deno.test("probe --pci-cfg: no pci_cfg capability (as on this host's hypervisor) is a finding, nothing opened", () => {
  const { cs: plain } = fixtureNetConfig(false, false);
  let opened = false;
  const d = probeDevice("0000:00:03.0", {
    sysfsRoot: FIXTURE_SYSFS,
    readConfigSpace: () => plain,
    openConfig: () => {
      opened = true;
      return Object.assign(plain, { [Symbol.dispose]() {} });
    },
    pciCfg: true,
  });
  assert.equal(opened, false);
  assert.ok(
    d.findings.some((f) => /no PCI configuration access capability/.test(f)),
    d.findings.join(),
  );
  assert.equal(plain.writes.length, 0);
});
