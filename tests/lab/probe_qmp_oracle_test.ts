/**
 * An oracle nobody here wrote: what `virtio probe` reports of each device — negotiated and
 * offered features, status, queue counts and sizes — compared with QEMU's own view of the
 * same device over QMP (`x-query-virtio-status`, `x-query-virtio-queue-status`), in one boot,
 * for every device of the `probe` set: kernel-owned (rng's virtio driver unbound first, so
 * one is driverless) and, in a second boot with `--no-drivers`, every one driverless; the
 * same two ways for the probe-extra + probe-mem devices, where the driverless boot also
 * checks every decoded config value against what QEMU was given.
 */
import assert from "node:assert/strict";
import { startLab } from "../../lib/lab/vm.ts";
import { DEVICES, pciAddress } from "../../lib/lab/devices.ts";
import type { ProbeReport } from "../../lib/probe/report.ts";
import { TRANSPORT_FEATURES } from "../../lib/virtio/constants.ts";
import { DEVICE_FEATURES } from "../../lib/virtio/features.ts";

interface QmpFeatures {
  transports: string[];
  "dev-features": string[];
  "unknown-dev-features"?: number;
}
interface QmpStatus {
  name: string;
  "device-id": number;
  "num-vqs": number;
  status: { statuses: string[] };
  "guest-features": QmpFeatures;
  "host-features": QmpFeatures;
}

const STATUS_BITS: Record<string, number> = {
  ACKNOWLEDGE: 1,
  DRIVER: 2,
  DRIVER_OK: 4,
  FEATURES_OK: 8,
  NEEDS_RESET: 64,
  FAILED: 128,
};

/** QEMU's feature names ("VIRTIO_NET_F_MAC: ...") as bits, through our own name tables. */
function qemuBits(type: number, f: QmpFeatures, unmatched: string[]): bigint {
  const byName = new Map<string, number>();
  for (const [bit, name] of TRANSPORT_FEATURES) byName.set(name, bit);
  for (const [bit, name] of DEVICE_FEATURES.get(type) ?? []) byName.set(name, bit);
  byName.set("PROTOCOL_FEATURES", 30); // VHOST_USER_F_PROTOCOL_FEATURES shares bit 30
  let bits = BigInt(f["unknown-dev-features"] ?? 0);
  for (const full of [...f.transports, ...f["dev-features"]]) {
    const name = full.split(":")[0]!.replace(/^[A-Z0-9]+_(?:[A-Z0-9]+_)?F_/, "");
    const bit = byName.get(name);
    if (bit === undefined) unmatched.push(full.split(":")[0]!);
    else bits |= 1n << BigInt(bit);
  }
  return bits;
}

// VIRTIO 1.2 §6.3: bits 24 (NOTIFY_ON_EMPTY), 27 (ANY_LAYOUT), 30 are legacy-only; QEMU keeps
// them (and net's legacy GSO, bit 6) in host-features but never offers them to a 1.x driver.
const LEGACY_ONLY = (1n << 24n) | (1n << 27n) | (1n << 30n);
const NET_LEGACY_ONLY = 1n << 6n;

/**
 * Probes `devices` (default the `probe` set) in one boot and compares with QMP; returns the
 * report. With rng among them and drivers loaded, rng's virtio driver is unbound first.
 */
async function oracle(
  noDrivers: boolean,
  devices = "probe",
  minChecked = 10,
): Promise<ProbeReport> {
  const rng = pciAddress(DEVICES.rng!.slot);
  const script = [
    noDrivers || !devices.split(",").includes("probe")
      ? "true"
      : `echo $(basename /sys/bus/pci/devices/${rng}/virtio*) > /sys/bus/virtio/drivers/virtio_rng/unbind`,
    "virtio probe --json --pci-cfg --allow-writes",
    "echo 'oracle: probed' > /dev/console",
    "sleep 30",
  ].join("\n");
  await using vm = await startLab({ devices, noDrivers, command: ["sh", "-c", script] });
  await vm.waitForConsole(/^oracle: probed/, 240_000);
  const qmp = await vm.qmp();
  const list = await qmp.execute("x-query-virtio") as { path: string; name: string }[];
  const qemu = new Map<string, { status: QmpStatus; queues: number[] }>();
  for (const { path } of list) {
    const parent = path.replace(/\/virtio-backend$/, "");
    const devfn = await qmp.execute("qom-get", { path: parent, property: "addr" }) as number;
    const address = pciAddress(devfn >> 3);
    const status = await qmp.execute("x-query-virtio-status", { path }) as QmpStatus;
    const queues: number[] = [];
    for (let q = 0; q < status["num-vqs"]; q++) {
      const qs = await qmp.execute("x-query-virtio-queue-status", { path, queue: q }) as {
        "vring-num": number;
      };
      queues.push(qs["vring-num"]);
    }
    qemu.set(address, { status, queues });
  }
  const r = await vm.result;
  const report: ProbeReport = JSON.parse(r.stdout);

  const checked: string[] = [];
  const unmatched: string[] = [];
  for (const d of report.devices) {
    const q = qemu.get(d.address);
    if (!q) continue; // the lab's own 9p shares are virtio too, and QEMU lists them as well
    const s = q.status;
    const where = `${d.address} (${d.type.name})`;
    assert.equal(s["device-id"], d.type.id, where);
    // Status: the device's byte equals QEMU's.
    const qemuStatus = s.status.statuses.reduce(
      (v, n) => v | (STATUS_BITS[n.split(":")[0]!.replace("VIRTIO_CONFIG_S_", "")] ?? 0),
      0,
    );
    assert.equal(d.status?.value, qemuStatus, `${where}: status`);
    // Negotiated: only for a device whose driver set FEATURES_OK (or, legacy, §3.1.2: DRIVER_OK
    // without VERSION_1), and then equal to QEMU's.
    const guest = qemuBits(d.type.id, s["guest-features"], unmatched);
    if ((qemuStatus & 8) || ((qemuStatus & 4) && (guest & (1n << 32n)) === 0n)) {
      assert.equal(d.features.negotiated?.hex, hex(guest), `${where}: negotiated`);
    } else {
      assert.equal(d.features.negotiated, undefined, `${where}: negotiated without FEATURES_OK`);
    }
    // Offered (driverless devices, read with selector writes; and legacy host_features).
    if (!d.virtio_driver && d.kind !== "legacy") {
      assert.ok(d.features.offered && d.queues, `${where}: driverless, yet no offered/queues`);
    }
    if (d.features.offered) {
      let want = qemuBits(d.type.id, s["host-features"], unmatched);
      if (d.kind !== "legacy") want &= ~(LEGACY_ONLY | (d.type.id === 1 ? NET_LEGACY_ONLY : 0n));
      else want &= 0xffffffffn;
      assert.equal(d.features.offered.hex, hex(want), `${where}: offered`);
    }
    // Queue counts and sizes.
    if (d.num_queues !== undefined && d.kind !== "legacy") {
      assert.equal(d.num_queues, s["num-vqs"], `${where}: num_queues`);
    }
    if (d.queues) {
      assert.deepEqual(d.queues.map((x) => x.max_size), q.queues, `${where}: queue sizes`);
    }
    checked.push(`${d.type.name}${d.virtio_driver ? "" : " (driverless)"}`);
  }
  assert.deepEqual(unmatched, [], "QEMU names a feature our tables do not know");
  assert.ok(checked.length >= minChecked, `only ${checked.join(", ")}`);
  assert.ok(checked.some((c) => c.includes("driverless")), "no driverless device checked");
  console.log(`agreed with QEMU on: ${checked.join(", ")}`);
  return report;
}

Deno.test("lab: probe agrees with QEMU's own QMP view of every device, kernel-owned (rng unbound)", async () => {
  await oracle(false);
});

Deno.test("lab --no-drivers: every device driverless, agrees with QMP, config equals what QEMU was given", async () => {
  const report = await oracle(true);
  const by = new Map(report.devices.map((d) => [d.address, d]));
  const fields = (name: string) => by.get(pciAddress(DEVICES[name]!.slot))?.config?.fields ?? {};
  for (const d of report.devices) {
    if (d.type.name === "9p") continue; // the lab's own root and results shares
    assert.equal(d.virtio_driver, undefined, `${d.address} has a driver under --no-drivers`);
  }
  assert.equal(fields("net-modern").mac, DEVICES["net-modern"]!.given.mac);
  assert.equal(fields("net-modern").mtu, DEVICES["net-modern"]!.given.mtu);
  assert.equal(fields("net-legacy").mac, DEVICES["net-legacy"]!.given.mac);
  assert.equal(fields("blk").capacity_bytes, DEVICES.blk!.given.capacityBytes);
  assert.equal(fields("blk").num_queues, DEVICES.blk!.given.numQueues);
  assert.equal(fields("scsi").num_queues, DEVICES.scsi!.given.numQueues);
  assert.equal(fields("serial").max_nr_ports, DEVICES.serial!.given.maxPorts);
  assert.equal(fields("gpu").num_scanouts, DEVICES.gpu!.given.maxOutputs);
});

Deno.test("lab: probe agrees with QMP on the probe-extra and probe-mem devices (crypto, iommu, tablet, mem, pmem ...)", async () => {
  const report = await oracle(false, "probe-extra,probe-mem", 7);
  const types = new Set(report.devices.map((d) => d.type.name));
  for (const t of ["crypto", "iommu", "input", "mem", "pmem"]) assert.ok(types.has(t), t);
});

Deno.test("lab --no-drivers: probe-extra + probe-mem driverless, agree with QMP, config equals what QEMU was given", async () => {
  const report = await oracle(true, "probe-extra,probe-mem", 7);
  const by = new Map(report.devices.map((d) => [d.address, d]));
  const device = (name: string) => {
    const d = by.get(pciAddress(DEVICES[name]!.slot));
    assert.ok(d, `${name} missing`);
    assert.equal(d.virtio_driver, undefined, `${name} has a driver under --no-drivers`);
    assert.equal(d.config?.features_from, "offered", `${name}: config decided by offered bits`);
    return d.config?.fields ?? {};
  };
  const given = (name: string) => DEVICES[name]!.given;
  const speed = device("net-speed");
  assert.equal(speed.speed_mbps, given("net-speed").speedMbps);
  assert.equal(speed.duplex, given("net-speed").duplex);
  assert.equal(speed.mtu, given("net-speed").mtu);
  assert.equal(speed.mac, given("net-speed").mac);
  const blk = device("blk-4k");
  assert.equal(blk.blk_size, given("blk-4k").blockSize);
  assert.equal(blk.capacity_bytes, given("blk-4k").capacityBytes);
  assert.equal(blk.num_queues, given("blk-4k").numQueues);
  assert.ok(blk.discard, "discard=on, yet no discard limits decoded");
  assert.equal(device("crypto").max_dataqueues, given("crypto").maxDataQueues);
  const iommu = device("iommu");
  assert.equal(iommu.bypass, given("iommu").bypass);
  assert.equal(iommu.page_size_mask, given("iommu").pageSizeMask);
  assert.equal(iommu.probe_size, given("iommu").probeSize);
  const tablet = device("tablet");
  assert.equal(tablet.name, given("tablet").name);
  assert.equal(tablet.serial, given("tablet").serial);
  const mem = device("mem");
  assert.equal(mem.block_size, given("mem").blockSize);
  assert.equal(mem.region_size, given("mem").regionSize);
  assert.equal(mem.requested_size, given("mem").requestedSize);
  assert.equal(mem.node_id, given("mem").node);
  assert.equal(mem.plugged_size, 0, "no driver, nothing plugged");
  assert.equal(device("pmem").size, given("pmem").sizeBytes);
});

function hex(v: bigint): string {
  return "0x" + v.toString(16).padStart(16, "0");
}
