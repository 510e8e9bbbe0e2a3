import assert from "node:assert/strict";
import { probeDevice } from "../../lib/probe/probe.ts";
import {
  memoryBlocksView,
  readDebugfsFeatures,
  readKernelView,
} from "../../lib/probe/kernel_view.ts";
import { FIXTURE_SYSFS } from "./probe_helpers_fakes.ts";

/** Writes `files` (path → text) below a fresh temporary directory; returns it. */
function tree(files: Record<string, string>): string {
  const root = Deno.makeTempDirSync({ prefix: "virtio-kv-" });
  for (const [path, text] of Object.entries(files)) {
    const dir = path.includes("/") ? path.replace(/\/[^/]*$/, "") : "";
    Deno.mkdirSync(`${root}/${dir}`, { recursive: true });
    Deno.writeTextFileSync(`${root}/${path}`, text);
  }
  return root;
}

const NIC = "0000:00:03.0"; // the recorded host's virtio_net, kernel name virtio2

Deno.test("offered features of a bound device: from debugfs when the kernel lists them", () => {
  // VIRTIO_NET_F_MAC (5), STATUS (16), VERSION_1 (32), one bit above 64 (newer kernels).
  const debugfs = tree({ "virtio/virtio2/device_features": "5\n16\n32\n70\n" });
  try {
    const r = probeDevice(NIC, { sysfsRoot: FIXTURE_SYSFS, debugfsRoot: debugfs });
    assert.equal(r.features.offered?.source, "debugfs");
    assert.deepEqual(r.features.offered?.bits.map((b) => b.bit), [5, 16, 32, 70]);
    assert.equal(r.features.offered?.bits.find((b) => b.bit === 5)?.name, "MAC");
    assert.ok(!r.notes.some((n) => n.startsWith("offered features unknown")), r.notes.join("; "));
    assert.equal(r.features.negotiated?.source, "sysfs", "negotiated still from sysfs");
  } finally {
    Deno.removeSync(debugfs, { recursive: true });
  }
});

Deno.test("offered features of a bound device: unknown, never guessed, without debugfs", () => {
  const empty = tree({ "virtio/.keep": "" });
  try {
    for (const debugfsRoot of [empty, undefined]) { // an empty debugfs, and none at all
      const r = probeDevice(NIC, { sysfsRoot: FIXTURE_SYSFS, debugfsRoot });
      assert.equal(r.features.offered, undefined);
      assert.ok(r.notes.some((n) => n.startsWith("offered features unknown")), r.notes.join("; "));
    }
  } finally {
    Deno.removeSync(empty, { recursive: true });
  }
});

Deno.test("debugfs device_features: a malformed list is a finding and is not used", () => {
  const debugfs = tree({ "virtio/virtio2/device_features": "5\n0x20\n" });
  try {
    const r = probeDevice(NIC, { sysfsRoot: FIXTURE_SYSFS, debugfsRoot: debugfs });
    assert.equal(r.features.offered, undefined);
    assert.ok(r.findings.some((f) => f.includes("'0x20' is not a feature bit")), r.findings.join());
    assert.ok(r.notes.some((n) => n.startsWith("offered features unknown")));
  } finally {
    Deno.removeSync(debugfs, { recursive: true });
  }
  const file = tree({ f: "200\n" });
  try {
    assert.match(readDebugfsFeatures(`${file}/f`).problem ?? "", /'200' is not a feature bit/);
    assert.deepEqual(readDebugfsFeatures(`${file}/absent`), {});
  } finally {
    Deno.removeSync(file, { recursive: true });
  }
  const none = tree({ f: "" }); // a device offering nothing: an empty list, not unknown
  try {
    assert.deepEqual(readDebugfsFeatures(`${none}/f`), { bits: 0n });
  } finally {
    Deno.removeSync(none, { recursive: true });
  }
});

Deno.test("kernel view: an input device's name, serial and ids; a pmem region and namespace", () => {
  const root = tree({
    "virtio3/input/input2/name": "QEMU Virtio Tablet\n",
    "virtio3/input/input2/uniq": "tab0\n",
    "virtio3/input/input2/id/bustype": "0006\n",
    "virtio3/input/input2/id/vendor": "0627\n",
    "virtio3/input/input2/id/product": "0003\n",
    "virtio3/input/input2/id/version": "zz\n", // not hex: left out
    "virtio4/ndbus0/region0/resource": "0x120000000\n",
    "virtio4/ndbus0/region0/size": "67108864\n",
    "virtio4/ndbus0/region0/read_only": "0\n",
    "virtio4/ndbus0/region0/namespace0.0/size": "67108864\n",
    "virtio4/ndbus0/region0/namespace0.0/mode": "raw\n",
    "virtio4/ndbus0/region0/namespace0.0/block/pmem0/size": "131072\n",
  });
  try {
    assert.deepEqual(readKernelView(`${root}/virtio3`), [{
      source: "sysfs",
      name: "input2",
      fields: { name: "QEMU Virtio Tablet", serial: "tab0", bustype: 6, vendor: 0x627, product: 3 },
    }]);
    assert.deepEqual(readKernelView(`${root}/virtio4`), [{
      source: "sysfs",
      name: "region0",
      fields: {
        start: "0x120000000",
        size: 67108864,
        read_only: false,
        namespace: "namespace0.0",
        namespace_size: 67108864,
        namespace_mode: "raw",
        blockdev: "pmem0",
      },
    }]);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("kernel view: memory blocks counted inside a virtio-mem region only", () => {
  const mem = "devices/system/memory";
  const root = tree({
    [`${mem}/block_size_bytes`]: "8000000\n", // 128 MiB
    [`${mem}/memory7/phys_index`]: "00000007\n", // boot RAM, below the region
    [`${mem}/memory7/state`]: "online\n",
    [`${mem}/memory32/phys_index`]: "00000020\n", // 0x100000000: inside
    [`${mem}/memory32/state`]: "offline\n",
    [`${mem}/memory33/phys_index`]: "00000021\n",
    [`${mem}/memory33/state`]: "online\n",
    [`${mem}/memory36/phys_index`]: "00000024\n", // 0x120000000: just past a 512 MiB region
    [`${mem}/memory36/state`]: "online\n",
  });
  try {
    const v = memoryBlocksView(root, 0x100000000n, 512n << 20n);
    assert.deepEqual(v?.fields, {
      memory_block_bytes: 128 << 20,
      blocks: 2,
      online_blocks: 1,
      bytes: 256 << 20,
    });
    assert.equal(memoryBlocksView(`${root}/nowhere`, 0n, 1n), undefined);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
