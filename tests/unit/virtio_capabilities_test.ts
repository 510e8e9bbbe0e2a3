import assert from "node:assert/strict";
import { walkCapabilities } from "../../lib/pci/capabilities.ts";
import { readSysfsConfigSpace } from "../../lib/pci/sysfs_config.ts";
import { parseVirtioCapabilities } from "../../lib/virtio/capabilities.ts";
import { FakeConfigSpace } from "../../testing/fake_config_space.ts";

const root = new URL("../fixtures/host", import.meta.url).pathname;

/** The virtio caps lspci -vv printed on this host, as [type, bar, offset, size, mult]. */
function lspciVirtioCaps(address: string): [string, number, number, number, number?][] {
  const text = Deno.readTextFileSync(`${root}/lspci-vv.txt`);
  const block = text.split("\n\n").find((b) => b.startsWith(address.slice(5)))!;
  const names: Record<string, string> = {
    CommonCfg: "common",
    ISR: "isr",
    DeviceCfg: "device",
    Notify: "notify",
    "<unknown>": "pci_cfg", // lspci does not name cfg_type 5
  };
  const out: [string, number, number, number, number?][] = [];
  const re =
    /VirtIO: (\S+)\n\s+BAR=(\d+) offset=([0-9a-f]+) size=([0-9a-f]+)(?: multiplier=([0-9a-f]+))?/g;
  for (const m of block.matchAll(re)) {
    const row: [string, number, number, number, number?] = [
      names[m[1]!] ?? m[1]!,
      Number(m[2]),
      parseInt(m[3]!, 16),
      parseInt(m[4]!, 16),
    ];
    if (m[5] !== undefined) row.push(parseInt(m[5], 16));
    out.push(row);
  }
  return out;
}

for (const address of ["0000:00:01.0", "0000:00:02.0", "0000:00:03.0", "0000:00:05.0"]) {
  Deno.test(`virtio caps of recorded ${address} equal what lspci -vv printed`, () => {
    const cs = readSysfsConfigSpace(`${root}/sys/bus/pci/devices/${address}`);
    const { caps, findings } = parseVirtioCapabilities(
      cs,
      walkCapabilities(cs).capabilities,
      new Map([[0, 0x80000]]),
    );
    assert.deepEqual(findings, []);
    const ours = caps.map((c) => {
      const row: [string, number, number, number, number?] = [
        c.typeName,
        c.bar,
        Number(c.offset),
        Number(c.length),
      ];
      if (c.notifyOffMultiplier !== undefined) row.push(c.notifyOffMultiplier);
      return row;
    });
    const expected = lspciVirtioCaps(address);
    assert.equal(expected.length, 5);
    assert.deepEqual(ours, expected);
  });
}

Deno.test("virtio caps outside the BAR, wrapping, or on a missing BAR are findings", () => {
  const cs = new FakeConfigSpace();
  cs.addVirtioCap({ cfgType: 1, bar: 0, offset: 0, length: 0x38 });
  cs.addVirtioCap({ cfgType: 4, bar: 0, offset: 0x3000, length: 0x2000 }); // past 0x4000
  cs.addVirtioCap({ cfgType: 3, bar: 0, offset: 0xffffffff, length: 2 }); // wraps
  cs.addVirtioCap({ cfgType: 2, bar: 2, offset: 0, length: 4, notifyOffMultiplier: 4 });
  cs.addVirtioCap({ cfgType: 1, bar: 7, offset: 0, length: 0x38 });
  const { caps, findings } = parseVirtioCapabilities(
    cs,
    [0x40, 0x50, 0x60, 0x70, 0x84].map((offset) => ({ offset, id: 9, name: "" })),
    new Map([[0, 0x4000]]),
  );
  assert.equal(caps.length, 5);
  assert.equal(caps[3]!.notifyOffMultiplier, 4);
  assert.equal(findings.length, 4);
  assert.match(findings[0]!, /device cap .*outside BAR 0/);
  assert.match(findings[1]!, /isr cap .*wraps around/);
  assert.match(findings[2]!, /BAR 2 is not implemented/);
  assert.match(findings[3]!, /reserved BAR index 7/);
});

Deno.test("shared memory caps carry 64-bit offset and length (§4.1.4.7)", () => {
  const cs = new FakeConfigSpace();
  cs.addVirtioCap({
    cfgType: 8,
    bar: 2,
    id: 1,
    offset: 0x1000,
    length: 0,
    offsetHi: 1,
    lengthHi: 2,
  });
  const { caps, findings } = parseVirtioCapabilities(
    cs,
    [{ offset: 0x40, id: 9, name: "" }],
    new Map([[2, 2 ** 36]]),
  );
  assert.deepEqual(findings, []);
  assert.equal(caps[0]!.typeName, "shared_memory");
  assert.equal(caps[0]!.id, 1);
  assert.equal(caps[0]!.offset, (1n << 32n) + 0x1000n);
  assert.equal(caps[0]!.length, 2n << 32n);
});
