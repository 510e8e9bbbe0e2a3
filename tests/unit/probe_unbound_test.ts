import assert from "node:assert/strict";
import { probeDevice } from "../../lib/probe/probe.ts";
import { FakeBarRegion, FakeConfigSpace } from "../../testing/fake_config_space.ts";

/** Writes a one-function sysfs tree; returns its root. No driver link: the device is unbound. */
function fakeSysfs(cs: FakeConfigSpace, resource: string, ids: [number, number]): string {
  const root = Deno.makeTempDirSync();
  const dir = `${root}/bus/pci/devices/0000:00:07.0`;
  Deno.mkdirSync(dir, { recursive: true });
  Deno.writeFileSync(`${dir}/config`, cs.bytes);
  Deno.writeTextFileSync(`${dir}/resource`, resource);
  const w = (name: string, v: string) => Deno.writeTextFileSync(`${dir}/${name}`, v + "\n");
  w("vendor", "0x" + ids[0].toString(16));
  w("device", "0x" + ids[1].toString(16));
  w("subsystem_vendor", "0x1af4");
  w("subsystem_device", "0x0001");
  w("revision", "0x00");
  w("class", "0x020000");
  return root;
}

const zero = "0x0000000000000000 0x0000000000000000 0x0000000000000000\n";

Deno.test("unbound modern device: offered features and queue sizes only with allowWrites", () => {
  const cs = new FakeConfigSpace().header({ vendor: 0x1af4, device: 0x1041 });
  cs.addVirtioCap({ cfgType: 1, bar: 4, offset: 0, length: 0x38 });
  cs.addVirtioCap({ cfgType: 3, bar: 4, offset: 0x1000, length: 4 });
  cs.addVirtioCap({ cfgType: 4, bar: 4, offset: 0x2000, length: 0x20 });
  cs.addVirtioCap({ cfgType: 2, bar: 4, offset: 0x3000, length: 0x1000, notifyOffMultiplier: 4 });
  const resource = zero.repeat(4) +
    "0x00000000fe000000 0x00000000fe003fff 0x0000000000140204\n" + zero.repeat(2);
  const root = fakeSysfs(cs, resource, [0x1af4, 0x1041]);
  try {
    // Device: offers 0x0000010130bf8024 (the lab NIC's word), 3 queues of 256.
    const offered = 0x0000010130bf8024n;
    const make = () => {
      const bar = new FakeBarRegion(0x4000);
      bar.forbidden.add(0x1000);
      bar.set16(0x12, 3);
      let select = 0;
      let queue = 0;
      const write32 = bar.write32.bind(bar);
      bar.write32 = (o, v) => (write32(o, v), o === 0 ? select = v : 0, void 0);
      const write16 = bar.write16.bind(bar);
      bar.write16 = (o, v) => (write16(o, v), o === 0x16 ? queue = v : 0, void 0);
      bar.onRead = (o) => {
        if (o === 0x04) bar.set32(4, Number((offered >> BigInt(32 * select)) & 0xffffffffn));
        if (o === 0x18) bar.set16(0x18, queue < 3 ? 256 : 0);
      };
      [0x52, 0x54, 0, 0x12, 0x34, 0x07].forEach((b, i) => bar.set8(0x2000 + i, b));
      bar.set16(0x2006, 1).set16(0x2008, 1).set16(0x200a, 1500);
      return bar;
    };
    let opened: FakeBarRegion | undefined;
    let writable: boolean | undefined;
    const opener = (_a: string, bar: number, o: { writable: boolean }) => {
      assert.equal(bar, 4);
      writable = o.writable;
      return (opened = make());
    };
    const ro = probeDevice("0000:00:07.0", { sysfsRoot: root, openBar: opener });
    assert.equal(writable, false);
    assert.deepEqual(opened!.writes, []);
    assert.equal(ro.features.offered, undefined);
    assert.equal(ro.config?.features_from, "none");
    assert.deepEqual(ro.config?.fields, {}, "without features no optional field is read");
    assert.ok(ro.notes.some((n) => /--allow-writes/.test(n)));

    const rw = probeDevice("0000:00:07.0", { sysfsRoot: root, openBar: opener, allowWrites: true });
    assert.equal(writable, true);
    assert.equal(rw.features.offered?.source, "device");
    assert.equal(rw.features.offered?.hex, "0x0000010130bf8024");
    assert.ok(rw.features.offered?.bits.some((b) => b.name === "RING_RESET"));
    assert.deepEqual(rw.queues, [
      { index: 0, max_size: 256 },
      { index: 1, max_size: 256 },
      { index: 2, max_size: 256 },
    ]);
    assert.equal(rw.config?.features_from, "offered");
    assert.equal(rw.config?.fields.mac, "52:54:00:12:34:07");
    assert.equal(rw.config?.fields.mtu, undefined, "MTU (bit 3) is not offered: not read");
    assert.equal(rw.config?.fields.max_virtqueue_pairs, undefined, "MQ (bit 22) is not offered");
    assert.equal(rw.config?.fields.link_up, true);
    // The selectors are put back to 0 after use.
    assert.deepEqual(opened!.writes.at(-1), [0x16, 2, 0]);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("legacy device: host features and config through the I/O BAR, offset 20 or 24", () => {
  for (const msix of [false, true]) {
    const cs = new FakeConfigSpace().header({ vendor: 0x1af4, device: 0x1000 });
    if (msix) cs.addMsix(3, { enabled: true, bar: 1 });
    const resource = "0x000000000000c000 0x000000000000c01f 0x0000000000040101\n" + zero.repeat(5);
    const root = fakeSysfs(cs, resource, [0x1af4, 0x1000]);
    try {
      const io = new FakeBarRegion(msix ? 0x24 : 0x20);
      io.forbidden.add(0x13); // ISR
      io.set32(0, (1 << 5) | (1 << 16)).set8(0x12, 0);
      const base = msix ? 24 : 20;
      [2, 0, 0, 0, 0, 9].forEach((b, i) => io.set8(base + i, b));
      io.set16(base + 6, 1);
      const d = probeDevice("0000:00:07.0", { sysfsRoot: root, openBar: () => io });
      assert.equal(d.kind, "legacy");
      assert.equal(d.config?.via, "legacy");
      assert.deepEqual(d.features.offered?.bits.map((b) => b.name), ["MAC", "STATUS"]);
      assert.equal(d.config?.fields.mac, "02:00:00:00:00:09");
      assert.equal(d.config?.fields.link_up, true);
      assert.deepEqual(io.writes, []);
    } finally {
      Deno.removeSync(root, { recursive: true });
    }
  }
});
