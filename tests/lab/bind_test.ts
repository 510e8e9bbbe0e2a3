/**
 * Binding management on real devices in the lab: `virtio status` reports use correctly,
 * bind/unbind round-trips restore the original driver and a working interface, a NIC with
 * an address is refused unless forced, the root 9p device is refused even when forced, and
 * bad requests fail with the documented exit code and change nothing.
 */
import assert from "node:assert/strict";
import { runInLab } from "../../lib/lab/vm.ts";
import type { DeviceStatus } from "../../lib/device/devbind.ts";

Deno.test("lab: virtio status, bind and unbind on real devices", async () => {
  const r = await runInLab({
    devices: "vfio,rng,blk",
    command: ["sh", "tests/lab/scripts/bind.sh"],
    timeoutMs: 400_000,
  });
  assert.equal(r.code, 0, r.console.slice(-3000));
  const [before, json, after] = r.stdout.split(/^@@(?:status|end)$/m);
  assert.equal(before, "");
  const status = JSON.parse(json!) as { schema: string; devices: DeviceStatus[] };
  assert.equal(status.schema, "virtio-status/1");
  const dev = (a: string) => status.devices.find((d) => d.address === a)!;
  assert.deepEqual(dev("0000:00:02.0").critical, ['its 9p share "root" is the root filesystem']);
  assert.deepEqual(dev("0000:00:03.0").reasons, ['its 9p share "share" is mounted']);
  assert.deepEqual(dev("0000:00:0b.0").reasons, ["it is the current hardware RNG (virtio_rng.0)"]);
  for (const free of ["0000:00:07.0", "0000:00:09.0", "0000:00:0a.0"]) {
    assert.equal(dev(free).inUse, false, `${free}: ${dev(free).reasons}`);
    assert.equal(dev(free).driver, "virtio-pci");
  }
  assert.equal(dev("0000:00:0a.0").type, "blk");
  assert.deepEqual(dev("0000:00:0a.0").disks, ["vda"]);

  const lines = new Map(
    after!.trim().split("\n").map((line) => {
      const [name, ...pairs] = line.split(" ");
      return [name!, Object.fromEntries(pairs.map((p) => p.split("=", 2) as [string, string]))];
    }),
  );
  const line = (name: string) => {
    const l = lines.get(name);
    assert.ok(l, `no '${name}' line in:\n${after}`);
    return l;
  };
  const refused = (name: string, reason: RegExp) => {
    assert.equal(line(name).rc, "1", name);
    assert.equal(line(name).driver, "virtio-pci", name);
    assert.match(line(name).said!.replaceAll("_", " "), reason, name);
  };
  refused("root9p-unbind", /refusing to unbind 0000:00:02.0: its 9p share "root" is the root/);
  refused("root9p-forced", /refusing to bind 0000:00:02.0: its 9p share "root" is the root/);
  refused("rng-unbind", /current hardware RNG/);

  assert.deepEqual(line("peer-start"), { driver: "virtio-pci", works: "up" });
  assert.deepEqual(line("peer-unbind"), { rc: "0", driver: "none", said: "none" });
  assert.deepEqual(line("peer-unbind-again"), { rc: "0", driver: "none", said: "none" });
  assert.deepEqual(line("peer-bind-back"), { rc: "0", driver: "virtio-pci", said: "none" });
  assert.deepEqual(line("peer-back-works"), { works: "up", override: "(null)" });

  assert.deepEqual(line("vfio-bind"), { rc: "0", driver: "vfio-pci", said: "none" });
  assert.deepEqual(line("vfio-json"), { changed: "1", group: "1" });
  assert.match(after!, /^vfio-status .*driver~vfio-pci .*inUse~false reasons~\[\]/m);
  assert.deepEqual(line("vfio-same"), { rc: "0", driver: "vfio-pci", said: "none" });
  assert.deepEqual(line("vfio-back"), { rc: "0", driver: "virtio-pci", said: "none" });
  assert.deepEqual(line("vfio-back-works"), { works: "up", override: "(null)" });

  refused("busy-refused", /interface eth\d+ is up with address 10\.99\.0\.1; .* carries 1 route/);
  assert.deepEqual(line("busy-reason"), { addr: "1", route: "1" });
  assert.equal(line("busy-forced").rc, "0");
  assert.equal(line("busy-forced").driver, "none");
  assert.equal(line("busy-forced-warning").n, "2", "one warning per overridden reason");
  assert.deepEqual(line("busy-back"), { rc: "0", driver: "virtio-pci", said: "none" });
  assert.deepEqual(line("busy-back-works"), { works: "up" });

  const failed = (name: string, rc: string, said: RegExp) => {
    assert.equal(line(name).rc, rc, name);
    assert.equal(line(name).driver, "virtio-pci", `${name}: nothing changed`);
    assert.match(line(name).said!.replaceAll("_", " "), said, name);
  };
  failed("bad-address", "2", /malformed PCI address 'zz'/);
  failed("not-virtio", "1", /0000:00:00\.0 is not a virtio device \(ids 8086:/);
  failed("no-device", "1", /no PCI device 0000:00:1f\.7/);
  failed("missing-driver-option", "2", /missing --driver NAME/);
  failed("missing-module", "1", /cannot load kernel module nosuch drv/);
  assert.deepEqual(line("end"), { driver: "virtio-pci" });
});
