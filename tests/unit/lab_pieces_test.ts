import assert from "node:assert/strict";
import { writeCpio } from "../../lib/lab/cpio.ts";
import {
  moduleName,
  parseModulesDep,
  parseVirtioAliases,
  resolveModules,
} from "../../lib/lab/modules.ts";
import { DEVICES, missingHostNeeds, pciAddress, resolveDevices } from "../../lib/lab/devices.ts";
import { shellQuote, stage2Script } from "../../lib/lab/stage2.ts";
import { findXzPayload } from "../../lib/lab/kernel.ts";
import { hostTmpPaths, memoryArg } from "../../lib/lab/vm.ts";

Deno.test("cpio: busybox lists and extracts what we wrote", async () => {
  const enc = new TextEncoder();
  const archive = writeCpio([
    { kind: "dir", path: "bin" },
    { kind: "file", path: "bin/hello", data: enc.encode("hi there\n"), mode: 0o755 },
    { kind: "symlink", path: "bin/sh", target: "hello" },
    { kind: "file", path: "odd", data: enc.encode("x") },
  ]);
  assert.equal(archive.length % 4, 0);
  const dir = await Deno.makeTempDir();
  try {
    const child = new Deno.Command("busybox", {
      args: ["cpio", "-i", "-d"],
      cwd: dir,
      stdin: "piped",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const w = child.stdin.getWriter();
    await w.write(archive);
    await w.close();
    assert.ok((await child.output()).success);
    assert.equal(await Deno.readTextFile(`${dir}/bin/hello`), "hi there\n");
    assert.equal((await Deno.stat(`${dir}/bin/hello`)).mode! & 0o777, 0o755);
    assert.equal(await Deno.readLink(`${dir}/bin/sh`), "hello");
    assert.equal(await Deno.readTextFile(`${dir}/odd`), "x");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const DEP =
  `kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko kernel/fs/fscache/fscache.ko kernel/fs/netfs/netfs.ko
kernel/net/9p/9pnet.ko:
kernel/fs/fscache/fscache.ko: kernel/fs/netfs/netfs.ko
kernel/fs/netfs/netfs.ko:
kernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/vfio/pci/vfio-pci.ko: kernel/drivers/vfio/vfio.ko
kernel/drivers/vfio/vfio.ko:
`;

Deno.test("modules: dependencies come first, each once", () => {
  const order = resolveModules(parseModulesDep(DEP), ["9p", "9pnet_virtio", "vfio-pci"]);
  const names = order.map(moduleName);
  assert.equal(new Set(names).size, names.length);
  const before = (a: string, b: string) => assert.ok(names.indexOf(a) < names.indexOf(b), a + b);
  before("netfs", "fscache");
  before("fscache", "9p");
  before("9pnet", "9p");
  before("virtio_ring", "9pnet_virtio");
  before("vfio", "vfio_pci");
  assert.deepEqual(
    new Set(names),
    new Set([
      "9p",
      "9pnet",
      "fscache",
      "netfs",
      "9pnet_virtio",
      "virtio",
      "virtio_ring",
      "vfio_pci",
      "vfio",
    ]),
  );
});

Deno.test("modules: unknown names throw unless built in", () => {
  const deps = parseModulesDep(DEP);
  assert.throws(() => resolveModules(deps, ["nope"]), /not found/);
  assert.deepEqual(resolveModules(deps, ["af_packet"], new Set(["af_packet"])), []);
});

Deno.test("devices: sets resolve to unique devices in slot order with unique slots", () => {
  const all = Object.values(DEVICES);
  assert.equal(new Set(all.map((d) => d.slot)).size, all.length);
  const ds = resolveDevices("net-pair,blk,net-modern");
  assert.deepEqual(ds.map((d) => d.name), ["net-modern", "net-peer", "blk"]);
  assert.equal(pciAddress(0x0a), "0000:00:0a.0");
  assert.throws(() => resolveDevices("net-bogus"), /unknown lab device or set 'net-bogus'/);
});

Deno.test("stage2: shellQuote survives sh for awkward arguments", async () => {
  const args = ["plain", "with space", "it's", "$HOME", 'a"b', "", "*"];
  const out = await new Deno.Command("sh", {
    args: ["-c", `printf '%s\\n' ${args.map(shellQuote).join(" ")}`],
  }).output();
  assert.equal(new TextDecoder().decode(out.stdout), args.map((a) => a + "\n").join(""));
});

Deno.test("kernel: finds the xz stream inside an image", () => {
  const image = new Uint8Array(100);
  image.set([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], 42);
  assert.equal(findXzPayload(image), 42);
  assert.equal(findXzPayload(new Uint8Array(10)), -1);
});

Deno.test("vm: host paths below /tmp are bound into the guest, outermost once", () => {
  assert.deepEqual(
    hostTmpPaths([
      "/tmp/ci/main",
      "/tmp/ci/main/.tools/bin",
      "/work/main",
      "/tmp/ci/main",
      "/tmp/x",
    ]),
    ["/tmp/ci/main", "/tmp/x"],
  );
  assert.deepEqual(hostTmpPaths(["/work/main", "/usr/bin"]), []);
  assert.deepEqual(hostTmpPaths(["/tmp/ab", "/tmp/a"]), ["/tmp/a", "/tmp/ab"]);
});

Deno.test("lab modules: virtio drivers by device id from modules.alias", () => {
  const aliases = parseVirtioAliases(
    [
      "alias virtio:d00000001v* virtio_net",
      "alias virtio:d0000001Bv* virtio_pmem",
      "alias pci:v00001AF4d* virtio_pci",
      "alias virtio:d*v00001AF4 nothing_by_wildcard",
    ].join("\n"),
  );
  assert.deepEqual([...aliases], [[1, ["virtio_net"]], [0x1b, ["virtio_pmem"]]]);
});

Deno.test("lab stage 2: loads each present device's driver by its sysfs device id", () => {
  const script = stage2Script({
    modules: [],
    drivers: new Map([[1, ["/m/net_failover.ko", "/m/virtio_net.ko"]]]),
    hugepages: 0,
    deno: "/deno",
    repo: "/repo",
    cwd: "/",
    env: {},
    command: ["true"],
  });
  assert.match(script, /0x0001\) mods='\/m\/net_failover.ko \/m\/virtio_net.ko' ;;/);
  assert.match(script, /for d in \/sys\/bus\/virtio\/devices\/\*/);
  assert.doesNotMatch(
    stage2Script({
      modules: [],
      hugepages: 0,
      deno: "/d",
      repo: "/r",
      cwd: "/",
      env: {},
      command: ["true"],
    }),
    /sys\/bus\/virtio\/devices/,
  );
});

Deno.test("devices: a device the host cannot give is named, not left to QEMU", () => {
  const ds = resolveDevices("vsock,tablet");
  assert.deepEqual(missingHostNeeds(ds, () => false), ["vsock: /dev/vhost-vsock"]);
  assert.deepEqual(missingHostNeeds(ds, (p) => p === "/dev/vhost-vsock"), []);
});

Deno.test("vm: maxmem room only when a device takes device memory", () => {
  assert.equal(memoryArg(1024, resolveDevices("net-pair")), "1024");
  // mem 512 MiB + pmem 64 MiB, plus the 1 GiB spare for alignment.
  assert.equal(memoryArg(1024, resolveDevices("mem,pmem")), "1024M,maxmem=2624M");
});
