// The real probe, read-only, on this machine's own virtio devices (a non-QEMU hypervisor),
// compared with what other tools say: `ip link`, the kernel's feature string, `lspci -vv`.
import assert from "node:assert/strict";
import { probeAll } from "../../lib/probe/probe.ts";
import { openDeviceBar } from "../../lib/device/bar_access.ts";
import { commandWorks, decide, hostTest, NEEDS, requireAll } from "./host_needs.ts";

async function output(cmd: string, args: string[]): Promise<string | undefined> {
  try {
    const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).output();
    return r.success ? new TextDecoder().decode(r.stdout) : undefined;
  } catch {
    return undefined;
  }
}

hostTest("host: probe opens BARs read-only only, and the NIC's MAC equals ip link", [
  NEEDS.virtio,
], async (t) => {
  const opened: boolean[] = [];
  const report = probeAll({
    openBar: (a, b, o) => {
      opened.push(o.writable);
      return openDeviceBar(a, b, { writable: o.writable });
    },
    allowWrites: false,
  });
  assert.ok(opened.every((w) => w === false), "a BAR was opened writable");
  assert.ok(report.devices.length > 0);
  for (const d of report.devices) {
    assert.equal(d.ids.vendor, "0x1af4");
    if (d.ids.device === "0x1041") assert.equal(d.type.name, "net");
  }
  const nic = report.devices.find((d) => d.type.name === "net" && d.interfaces.net.length);
  const ifname = nic?.interfaces.net[0]?.name;
  const ip = ifname === undefined ? undefined : await output("ip", ["-o", "link", "show", ifname]);
  // A host without a virtio NIC that has an interface, or without `ip`: visibly ignored (under
  // VIRTIO_REQUIRE_ALL=1 a missing `ip`, which ./run setup installs, fails instead).
  const d = decide([
    { what: "a virtio NIC with an interface", ok: nic !== undefined, ci: false },
    { what: "ip (iproute2)", ok: commandWorks("ip", ["-V"]), ci: true },
  ], requireAll());
  if (d.action === "fail") {
    throw new Error(`CI must run 'MAC equals ip link', but lacks ${d.missing}`);
  }
  await t.step({
    name: d.action === "run" ? "MAC equals ip link" : `MAC equals ip link [needs ${d.missing}]`,
    ignore: d.action !== "run",
    fn() {
      const mac = /link\/ether ([0-9a-f:]{17})/.exec(ip!)?.[1];
      assert.equal(nic!.interfaces.net[0]!.mac, mac);
      // When the device config is readable (a kernel with sysfs resourceN), it must agree too.
      if (nic!.config?.fields.mac !== undefined) assert.equal(nic!.config.fields.mac, mac);
    },
  });
});

hostTest("host: named negotiated features equal the kernel's sysfs bit string", [
  NEEDS.virtio,
], () => {
  for (const d of probeAll().devices) {
    if (!d.kernel_name) continue;
    const text = Deno.readTextFileSync(`/sys/bus/virtio/devices/${d.kernel_name}/features`);
    const set = [...text.trim()].flatMap((c, i) => (c === "1" ? [i] : []));
    assert.deepEqual(d.features.negotiated?.bits.map((b) => b.bit), set, d.address);
    assert.equal(d.features.negotiated?.source, "sysfs");
    for (const b of d.features.negotiated!.bits) {
      if (b.bit === 32) assert.equal(b.name, "VERSION_1");
    }
  }
});

hostTest("host: virtio capabilities and MSI-X equal what lspci -vv shows", [
  NEEDS.virtio,
  NEEDS.root,
  NEEDS.lspci,
], async () => {
  const lspci = await output("lspci", ["-vv", "-d", "1af4:"]);
  assert.ok(lspci !== undefined, "lspci -vv -d 1af4: failed");
  for (const d of probeAll().devices) {
    const block: string | undefined = lspci.split("\n\n").find((b) =>
      b.startsWith(d.address.slice(5))
    );
    assert.ok(block, `lspci shows ${d.address}`);
    const theirs: number[][] = [
      ...block.matchAll(/BAR=(\d+) offset=([0-9a-f]+) size=([0-9a-f]+)/g),
    ]
      .map((m) => [Number(m[1]), parseInt(m[2]!, 16), parseInt(m[3]!, 16)]);
    const ours = d.virtio_capabilities.map((c) => [c.bar, Number(c.offset), Number(c.length)]);
    assert.deepEqual(ours, theirs, d.address);
    const count: string | undefined = /MSI-X: Enable[+-] Count=(\d+)/.exec(block)?.[1];
    if (count !== undefined) assert.equal(d.msix?.table_size, Number(count));
  }
});
