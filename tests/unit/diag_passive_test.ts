import assert from "node:assert/strict";
import {
  checkBlkCapacity,
  checkNetLink,
  checkPciCapabilities,
  checkPciConfig,
  checkVirtioCapabilities,
  checkVirtioFeatures,
  checkVirtioStatus,
  gatherPassiveInput,
  passiveChecks,
  type PassiveInput,
} from "../../lib/diag/passive.ts";
import { featureViolations } from "../../lib/diag/feature_rules.ts";
import { featuresHex, nameFeatures } from "../../lib/virtio/features.ts";
import type { DeviceReport, FeatureSet } from "../../lib/probe/report.ts";
import { FakeConfigSpace } from "../../testing/fake_config_space.ts";
import { FIXTURE_SYSFS, fixtureOpener } from "./probe_helpers_fakes.ts";

const F = (...bits: number[]) => bits.reduce((v, b) => v | (1n << BigInt(b)), 0n);
const featureSet = (type: number, v: bigint): FeatureSet => ({
  source: "sysfs",
  hex: featuresHex(v),
  bits: nameFeatures(type, v),
  unknown: [],
});
const fixture = (address: string) =>
  gatherPassiveInput(address, { sysfsRoot: FIXTURE_SYSFS, openBar: fixtureOpener().open });
const withReport = (input: PassiveInput, patch: Partial<DeviceReport>): PassiveInput => ({
  ...input,
  report: { ...input.report, ...patch },
});

Deno.test("recorded host: every passive check passes on every device, read-only", () => {
  const { open, opened } = fixtureOpener();
  for (const address of ["0000:00:01.0", "0000:00:02.0", "0000:00:03.0", "0000:00:05.0"]) {
    const checks = passiveChecks(
      gatherPassiveInput(address, { sysfsRoot: FIXTURE_SYSFS, openBar: open }),
    );
    for (const c of checks) assert.equal(c.status, "pass", `${address} ${c.name}: ${c.reason}`);
    const names = checks.map((c) => c.name);
    assert.deepEqual(names.slice(0, 5), [
      "pci.config",
      "pci.capabilities",
      "virtio.capabilities",
      "virtio.features",
      "virtio.status",
    ]);
  }
  assert.ok(opened.every((o) => !o.writable && o.region.writes.length === 0));
  const nic = passiveChecks(fixture("0000:00:03.0")).map((c) => c.name);
  assert.ok(nic.includes("net.link") && !nic.includes("blk.capacity"));
  const disk = passiveChecks(fixture("0000:00:02.0"));
  assert.match(disk.find((c) => c.name === "blk.capacity")!.reason, /sectors/);
});

Deno.test("feature rules: §5.1.3.1 dependencies by name", () => {
  assert.deepEqual(featureViolations(1, F(7)), ["GUEST_TSO4 without GUEST_CSUM"]);
  assert.deepEqual(featureViolations(1, F(1, 7)), []);
  assert.deepEqual(featureViolations(1, F(9)), ["GUEST_ECN without GUEST_TSO4 or GUEST_TSO6"]);
  assert.deepEqual(featureViolations(1, F(18, 22, 60)), [
    "CTRL_RX without CTRL_VQ",
    "MQ without CTRL_VQ",
    "RSS without CTRL_VQ",
  ]);
  assert.deepEqual(featureViolations(1, F(17, 18, 22, 60)), []);
  assert.deepEqual(featureViolations(2, F(7, 22)), [], "blk bits are not net bits");
});

Deno.test("virtio.features fails on a NIC whose negotiated set breaks a dependency", () => {
  const base = fixture("0000:00:03.0");
  const bad = withReport(base, {
    features: { negotiated: featureSet(1, F(7, 5, 32)) },
  });
  const r = checkVirtioFeatures(bad);
  assert.equal(r.status, "fail");
  assert.equal(r.name, "virtio.features");
  assert.match(r.reason, /negotiated GUEST_TSO4 without GUEST_CSUM/);
  assert.match(r.reason, /§5\.1\.3\.1/);
  // Offered MQ without CTRL_VQ; negotiated not a subset.
  const offered = withReport(base, {
    features: { offered: featureSet(1, F(22, 32)), negotiated: featureSet(1, F(5, 32)) },
  });
  const r2 = checkVirtioFeatures(offered);
  assert.equal(r2.status, "fail");
  assert.match(r2.reason, /device offers MQ without CTRL_VQ/);
  assert.match(r2.reason, /negotiated bits the device does not offer: 0x20/);
  // A modern-id device that negotiated no VERSION_1.
  const noV1 = checkVirtioFeatures(
    withReport(base, { features: { negotiated: featureSet(1, F(5)) } }),
  );
  assert.match(noV1.reason, /VERSION_1 not negotiated/);
  // Unbound and not probed: nothing to judge.
  const unbound = withReport(base, { features: {}, virtio_driver: undefined });
  assert.equal(checkVirtioFeatures(unbound).status, "skip");
});

Deno.test("virtio.status: FAILED, NEEDS_RESET, gone, bound without DRIVER_OK fail; healthy passes", () => {
  const base = fixture("0000:00:03.0");
  const at = (value: number) =>
    checkVirtioStatus(withReport(base, { status: { value, names: [], source: "sysfs" } }));
  assert.equal(at(0x0f).status, "pass");
  assert.equal(at(0x8f).status, "fail");
  assert.match(at(0x8f).reason, /FAILED/);
  assert.match(at(0x4f).reason, /needs a reset/);
  assert.match(at(0xff).reason, /device gone/);
  assert.match(at(0x0b).reason, /virtio_net bound but not DRIVER_OK/);
  const orphan = withReport(base, {
    status: { value: 0x0f, names: [], source: "device" },
    virtio_driver: undefined,
  });
  assert.equal(checkVirtioStatus(orphan).status, "warn");
  assert.equal(checkVirtioStatus(withReport(base, { status: undefined })).status, "skip");
});

function modernConfig() {
  return new FakeConfigSpace().header({ vendor: 0x1af4, device: 0x1041 });
}

Deno.test("pci.config: wrong vendor, out-of-range id, no capability list, short header", () => {
  const base = fixture("0000:00:03.0");
  const on = (cs: FakeConfigSpace) => checkPciConfig({ ...base, config: cs });
  assert.match(
    on(new FakeConfigSpace().header({ vendor: 0x8086, device: 0x1041 })).reason,
    /vendor 8086/,
  );
  assert.match(
    on(new FakeConfigSpace().header({ vendor: 0x1af4, device: 0x1100 })).reason,
    /outside 1000..107f/,
  );
  assert.match(on(modernConfig()).reason, /without a capability list/);
  assert.equal(on(new FakeConfigSpace(32)).status, "fail");
  const allOnes = new FakeConfigSpace();
  allOnes.bytes.fill(0xff);
  assert.match(on(allOnes).reason, /device gone/);
  const ok = modernConfig();
  ok.addMsix(4);
  assert.equal(on(ok).status, "pass");
  assert.equal(checkPciConfig({ ...base, config: undefined }).status, "skip");
});

Deno.test("pci.capabilities: a looping list fails; a short config space skips", () => {
  const base = fixture("0000:00:03.0");
  const cs = modernConfig();
  const first = cs.addMsix(4);
  const second = cs.addMsix(4);
  cs.bytes[second + 1] = first; // second → first: a loop
  const r = checkPciCapabilities({ ...base, config: cs });
  assert.equal(r.status, "fail");
  assert.match(r.reason, /loops back to 0x40/);
  assert.equal(checkPciCapabilities({ ...base, config: new FakeConfigSpace(64) }).status, "skip");
});

Deno.test("virtio.capabilities: outside the BAR, missing notify, bad multiplier fail", () => {
  const base = fixture("0000:00:03.0");
  const bars = [{
    index: 4,
    kind: "memory" as const,
    size: 0x4000,
    is64: true,
    prefetchable: true,
  }];
  const input = (cs: FakeConfigSpace) => withReport({ ...base, config: cs }, { bars });
  const caps = (multiplier: number, commonLength = 0x1000, notify = true) => {
    const cs = modernConfig();
    cs.addVirtioCap({ cfgType: 1, bar: 4, offset: 0, length: commonLength });
    cs.addVirtioCap({ cfgType: 3, bar: 4, offset: 0x1000, length: 0x1000 });
    cs.addVirtioCap({ cfgType: 4, bar: 4, offset: 0x2000, length: 0x1000 });
    if (notify) {
      cs.addVirtioCap({
        cfgType: 2,
        bar: 4,
        offset: 0x3000,
        length: 0x1000,
        notifyOffMultiplier: multiplier,
      });
    }
    return cs;
  };
  assert.equal(checkVirtioCapabilities(input(caps(4))).status, "pass");
  assert.match(checkVirtioCapabilities(input(caps(3))).reason, /notify_off_multiplier 3/);
  assert.match(checkVirtioCapabilities(input(caps(4, 0x8000))).reason, /outside BAR 4/);
  assert.match(
    checkVirtioCapabilities(input(caps(4, 0x1000, false))).reason,
    /no notify capability/,
  );
  const legacy = withReport(base, { kind: "legacy", bars: [] });
  assert.match(checkVirtioCapabilities(legacy).reason, /without an I\/O BAR 0/);
});

Deno.test("net.link: device status, carrier, admin-down and no-STATUS cases", () => {
  const base = fixture("0000:00:03.0");
  const cfg = (link_up: boolean) =>
    withReport(base, {
      config: { source: "device", via: "modern", features_from: "negotiated", fields: { link_up } },
    });
  assert.equal(checkNetLink(cfg(true))!.status, "pass");
  const down = checkNetLink(cfg(false))!;
  assert.equal(down.status, "fail");
  assert.match(down.reason, /link down/);
  const noConfig = withReport(base, { config: undefined });
  const carrier0 = checkNetLink({
    ...noConfig,
    links: [{ name: "eth0", adminUp: true, carrier: 0, operstate: "down" }],
  })!;
  assert.equal(carrier0.status, "fail");
  assert.match(carrier0.reason, /eth0: no carrier/);
  // Admin-down and STATUS negotiated: unknown.
  const withStatus = withReport(noConfig, {
    features: { negotiated: featureSet(1, F(5, 16, 32)) },
  });
  assert.equal(
    checkNetLink({ ...withStatus, links: [{ name: "eth0", adminUp: false }] })!.status,
    "skip",
  );
  // No STATUS negotiated: always up (§5.1.4).
  assert.match(checkNetLink({ ...noConfig, links: [] })!.reason, /always up/);
  assert.equal(checkNetLink(fixture("0000:00:02.0")), undefined, "not a NIC");
});

Deno.test("blk.capacity: zero fails, from device config or sysfs", () => {
  const base = fixture("0000:00:02.0");
  const zero = withReport(base, {
    config: {
      source: "device",
      via: "modern",
      features_from: "negotiated",
      fields: { capacity_sectors: 0 },
    },
  });
  assert.equal(checkBlkCapacity(zero)!.status, "fail");
  const sysfsOnly = withReport(base, { config: undefined });
  assert.equal(checkBlkCapacity(sysfsOnly)!.status, "pass");
  const nothing = withReport(base, { config: undefined, interfaces: { net: [], block: [] } });
  assert.equal(checkBlkCapacity(nothing)!.status, "skip");
});
