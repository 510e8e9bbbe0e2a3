import assert from "node:assert/strict";
import { readMsix, walkCapabilities } from "../../lib/pci/capabilities.ts";
import { readSysfsConfigSpace } from "../../lib/pci/sysfs_config.ts";
import { FakeConfigSpace } from "../../testing/fake_config_space.ts";

const root = new URL("../fixtures/host/sys/bus/pci/devices", import.meta.url).pathname;

Deno.test("walkCapabilities on the recorded NIC matches lspci: 5 vendor caps then MSI-X", () => {
  const cs = readSysfsConfigSpace(`${root}/0000:00:03.0`);
  const { capabilities, findings } = walkCapabilities(cs);
  assert.deepEqual(findings, []);
  assert.deepEqual(
    capabilities.map((c) => [c.offset, c.id]),
    [[0x40, 9], [0x50, 9], [0x60, 9], [0x70, 9], [0x84, 9], [0x98, 0x11]],
  );
  const msix = readMsix(cs, 0x98);
  assert.deepEqual(
    [msix.tableSize, msix.enabled, msix.tableBar, msix.tableOffset, msix.pbaOffset],
    [3, true, 0, 0x8000, 0x48000],
  );
});

Deno.test("walkCapabilities stops on a loop and reports it", () => {
  const cs = new FakeConfigSpace().header({ vendor: 0x1af4, device: 0x1041 });
  const first = cs.addCapability(0x09, [16, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  cs.addCapability(0x11, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  cs.bytes[0x50 + 1] = first; // second cap points back to the first
  const { capabilities, findings } = walkCapabilities(cs);
  assert.equal(capabilities.length, 2);
  assert.match(findings[0]!, /loops back to 0x40/);
});

Deno.test("walkCapabilities rejects pointers into the header and notes a short config", () => {
  const cs = new FakeConfigSpace().header({ vendor: 0x1af4, device: 0x1041 });
  cs.addCapability(0x09, [16]);
  cs.bytes[0x41] = 0x20;
  assert.match(walkCapabilities(cs).findings[0]!, /outside 0x40..0xff/);
  const short = FakeConfigSpace.from(cs.bytes.slice(0, 64));
  assert.match(walkCapabilities(short).findings[0]!, /only 64 bytes/);
});

Deno.test("readMsix decodes table size, enable bit and a high table offset", () => {
  const cs = new FakeConfigSpace();
  const at = cs.addMsix(2048, { enabled: true, bar: 2, tableOffset: 0xfffff000 });
  const msix = readMsix(cs, at);
  assert.deepEqual([msix.tableSize, msix.enabled, msix.tableBar], [2048, true, 2]);
  assert.equal(msix.tableOffset, 0xfffff000);
});
