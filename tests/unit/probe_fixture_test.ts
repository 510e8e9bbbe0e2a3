import assert from "node:assert/strict";
import { probeAll, probeDevice } from "../../lib/probe/probe.ts";
import { VirtioError } from "../../lib/errors.ts";
import { UsageError } from "../../lib/errors.ts";
import { featureBits, parseSysfsFeatureString } from "../../lib/virtio/features.ts";
import { BLK_SECTORS, FIXTURE_SYSFS, fixtureOpener, NET_MAC } from "./probe_helpers_fakes.ts";

Deno.test("probeAll over the recorded host lists the five virtio devices, not the bridge", () => {
  const report = probeAll({ sysfsRoot: FIXTURE_SYSFS });
  assert.deepEqual(
    report.devices.map((d) => [d.address, d.type.name, d.kind]),
    [
      ["0000:00:01.0", "balloon", "modern"],
      ["0000:00:02.0", "blk", "modern"],
      ["0000:00:03.0", "net", "modern"],
      ["0000:00:04.0", "vsock", "modern"],
      ["0000:00:05.0", "rng", "modern"],
    ],
  );
  assert.deepEqual(report.non_pci, []);
  assert.ok(
    report.devices.every((d) => d.notes.includes("device registers not read (no BAR access)")),
  );
});

Deno.test("negotiated features are the kernel's sysfs bits, named, source sysfs", () => {
  const nic = probeDevice("00:03.0", { sysfsRoot: FIXTURE_SYSFS });
  const bits = parseSysfsFeatureString(
    Deno.readTextFileSync(`${FIXTURE_SYSFS}/bus/pci/devices/0000:00:03.0/virtio2/features`),
  );
  const negotiated = nic.features.negotiated!;
  assert.equal(negotiated.source, "sysfs");
  assert.deepEqual(negotiated.bits.map((b) => b.bit), featureBits(bits));
  assert.deepEqual(
    negotiated.bits.map((b) => b.name),
    [
      "CSUM",
      "GUEST_CSUM",
      "MAC",
      "GUEST_TSO4",
      "GUEST_TSO6",
      "GUEST_UFO",
      "HOST_TSO4",
      "HOST_TSO6",
      "HOST_UFO",
      "MRG_RXBUF",
      "EVENT_IDX",
      "VERSION_1",
    ],
  );
  assert.deepEqual(negotiated.unknown, []);
  assert.equal(nic.interfaces.net[0]?.mac, NET_MAC);
  assert.equal(
    nic.features.offered,
    undefined,
    "offered needs a select write: not on a bound device",
  );
});

Deno.test("bound devices: device config decoded through read-only BARs, nothing written", () => {
  const { open, opened } = fixtureOpener();
  const report = probeAll({ sysfsRoot: FIXTURE_SYSFS, openBar: open, allowWrites: true });
  assert.ok(opened.length >= 5);
  for (const o of opened) {
    assert.equal(o.writable, false, `${o.address} opened writable`);
    assert.deepEqual(o.region.writes, [], `${o.address} was written`);
    assert.equal(o.region.disposed, true, `${o.address} BAR not released`);
  }
  const net = report.devices.find((d) => d.type.name === "net")!;
  assert.equal(net.config?.source, "device");
  assert.equal(net.config?.features_from, "negotiated");
  assert.equal(net.config?.generation, 3);
  // MAC (feature 5) is negotiated, MTU (3), STATUS (16) and MQ (22) are not: only mac shows.
  assert.deepEqual(net.config?.fields, { mac: NET_MAC });
  assert.equal(net.num_queues, 2);
  assert.deepEqual(net.status, {
    value: 15,
    names: ["ACKNOWLEDGE", "DRIVER", "DRIVER_OK", "FEATURES_OK"],
    source: "device",
  });
  assert.equal(net.queues, undefined);
  const blk = report.devices.find((d) => d.type.name === "blk")!;
  assert.equal(blk.config?.fields.capacity_sectors, BLK_SECTORS);
  assert.equal(blk.config?.fields.capacity_bytes, BLK_SECTORS * 512);
  assert.equal(blk.config?.fields.seg_max, 128);
  assert.equal(blk.config?.fields.blk_size, 512);
  assert.deepEqual(blk.config?.fields.topology, {
    physical_block_exp: 3,
    alignment_offset: 0,
    min_io_size: 8,
    opt_io_size: 0,
  });
  assert.deepEqual(blk.config?.fields.discard, {
    max_sectors: 0xffff,
    max_seg: 1,
    sector_alignment: 8,
  });
  assert.equal(blk.config?.fields.size_max, undefined, "SIZE_MAX not negotiated");
  const vsock = report.devices.find((d) => d.type.name === "vsock")!;
  assert.deepEqual(vsock.config?.fields, { guest_cid: 3 });
  const balloon = report.devices.find((d) => d.type.name === "balloon")!;
  assert.deepEqual(balloon.config?.fields, { num_pages: 256, actual: 128 });
});

Deno.test("config is re-read while config_generation changes (§2.5.1)", () => {
  let flips = 2;
  const { open } = fixtureOpener();
  const nic = probeDevice("0000:00:03.0", {
    sysfsRoot: FIXTURE_SYSFS,
    openBar: (a, b, o) => {
      const region = open(a, b, o);
      region.onRead = (offset) => {
        // The device changes its MAC (and generation) while the MAC is being read, twice.
        if (offset === 0x4002 && flips > 0) {
          flips--;
          region.set8(0x15, region.bytes[0x15]! + 1);
          region.set8(0x4005, 0x42 + flips);
        }
      };
      return region;
    },
  });
  assert.equal(flips, 0);
  assert.equal(nic.config?.generation, 5);
  assert.match(String(nic.config?.fields.mac), /:42$/);
  assert.deepEqual(nic.findings, []);
});

Deno.test("probeDevice errors: missing address, non-virtio function, malformed address", () => {
  assert.throws(
    () => probeDevice("0000:00:09.0", { sysfsRoot: FIXTURE_SYSFS }),
    (e) => e instanceof VirtioError && /no PCI device 0000:00:09.0/.test(e.message),
  );
  assert.throws(
    () => probeDevice("0000:00:00.0", { sysfsRoot: FIXTURE_SYSFS }),
    (e) => e instanceof VirtioError && /not a virtio device \(vendor 0x8086/.test(e.message),
  );
  assert.throws(() => probeDevice("00:3.0", { sysfsRoot: FIXTURE_SYSFS }), UsageError);
});

Deno.test("--type filtering keeps only the requested device types", () => {
  const report = probeAll({ sysfsRoot: FIXTURE_SYSFS, types: [1, 2] });
  assert.deepEqual(report.devices.map((d) => d.type.name), ["blk", "net"]);
});
