/**
 * The in-use policy over fake sysfs/proc trees, one device kind at a time, and read-only on
 * this machine: every virtio device the host itself runs on must be reported in use.
 */
import assert from "node:assert/strict";
import { deviceUsage, type InUseOptions } from "../../lib/device/in_use.ts";
import { DeviceClaim, refuseInUse } from "../../lib/device/claim.ts";
import { hostTest, NEEDS } from "./host_needs.ts";

const ADDRESS = "0000:00:07.0";

/** A fake tree: one PCI function, its virtio child, and the machine's /proc files. */
class FakeTree implements Disposable {
  readonly root = Deno.makeTempDirSync({ prefix: "virtio-in-use-" });
  ipv4: Map<string, string[]> | null = new Map();

  constructor(pciDriver: string | null, virtioType: number | null, virtioDriver?: string) {
    Deno.mkdirSync(this.dev(), { recursive: true });
    Deno.mkdirSync(`${this.root}/proc/self`, { recursive: true });
    Deno.mkdirSync(`${this.root}/proc/net`, { recursive: true });
    if (pciDriver !== null) this.link(`../../drivers/${pciDriver}`, `${this.dev()}/driver`);
    if (virtioType !== null) {
      Deno.mkdirSync(this.child(), { recursive: true });
      this.write(`${this.child()}/device`, `0x${virtioType.toString(16).padStart(4, "0")}\n`);
      if (virtioDriver) {
        this.link(`../../bus/virtio/drivers/${virtioDriver}`, `${this.child()}/driver`);
      }
    }
  }
  dev(): string {
    return `${this.root}/sys/bus/pci/devices/${ADDRESS}`;
  }
  child(): string {
    return `${this.dev()}/virtio3`;
  }
  write(path: string, text: string): void {
    Deno.mkdirSync(path.split("/").slice(0, -1).join("/"), { recursive: true });
    Deno.writeTextFileSync(path, text);
  }
  link(target: string, path: string): void {
    Deno.mkdirSync(path.split("/").slice(0, -1).join("/"), { recursive: true });
    Deno.symlinkSync(target, path);
  }
  proc(name: string, text: string): void {
    this.write(`${this.root}/proc/${name}`, text);
  }
  get options(): InUseOptions {
    return { root: this.root, ipv4Addresses: () => this.ipv4 };
  }
  reasons(): string[] {
    return deviceUsage(ADDRESS, this.options).reasons;
  }
  [Symbol.dispose](): void {
    Deno.removeSync(this.root, { recursive: true });
  }
}

const ROUTE_HEADER = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n";
/** What the kernel adds to ipv6_route for any interface it brings up. */
const AUTO_V6_ROUTES = [
  "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 " +
  "00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth1",
  "ff000000000000000000000000000000 08 00000000000000000000000000000000 00 " +
  "00000000000000000000000000000000 00000100 00000003 00000000 00000001     eth1",
].join("\n");
const LINK_LOCAL_V6 = "fe80000000000000505400fffe123404 03 40 20 80     eth1\n";

function netTree(flags: string): FakeTree {
  const tree = new FakeTree("virtio-pci", 1, "virtio_net");
  tree.write(`${tree.child()}/net/eth1/flags`, `${flags}\n`);
  return tree;
}

Deno.test("net: down is free, up with only link-local address and routes is free", () => {
  using down = netTree("0x1002");
  down.proc("net/route", `${ROUTE_HEADER}`);
  assert.deepEqual(down.reasons(), []);
  const usage = deviceUsage(ADDRESS, down.options);
  assert.deepEqual(usage.interfaces, ["eth1"]);
  assert.deepEqual(usage.virtio, { name: "virtio3", type: "net", driver: "virtio_net" });

  using up = netTree("0x1003");
  up.proc("net/if_inet6", LINK_LOCAL_V6);
  up.proc("net/ipv6_route", AUTO_V6_ROUTES + "\n");
  up.proc("net/route", ROUTE_HEADER);
  up.ipv4 = new Map([["eth1", []], ["eth0", ["192.0.2.2"]]]);
  assert.deepEqual(up.reasons(), []);
});

Deno.test("net: up with an IPv4 address, a global IPv6 address, or routes is in use", () => {
  using tree = netTree("0x1003");
  tree.proc("net/route", `${ROUTE_HEADER}eth1\t0063000A\t00000000\t0001\n`);
  tree.ipv4 = new Map([["eth1", ["10.99.0.1"]]]);
  assert.deepEqual(tree.reasons(), [
    "interface eth1 is up with address 10.99.0.1",
    "interface eth1 carries 1 route",
  ]);
  tree.ipv4 = new Map();
  tree.proc("net/route", `${ROUTE_HEADER}eth1\t00000000\t010200C0\t0003\n`);
  tree.proc("net/if_inet6", LINK_LOCAL_V6 + "fd000000000000000000000000000002 03 40 00 80 eth1\n");
  assert.deepEqual(tree.reasons(), [
    "interface eth1 is up with address fd00::2",
    "interface eth1 carries 1 route (the default route among them)",
  ]);
  // IPv4 addresses that cannot be listed: an up interface counts as in use.
  tree.proc("net/route", ROUTE_HEADER);
  tree.proc("net/if_inet6", "");
  tree.ipv4 = null;
  assert.deepEqual(tree.reasons(), [
    "interface eth1 is up and its IPv4 addresses could not be listed",
  ]);
});

Deno.test("net: a bridge or bond port is in use even when down", () => {
  using tree = netTree("0x1002");
  tree.link("../br0", `${tree.child()}/net/eth1/master`);
  assert.deepEqual(tree.reasons(), ["interface eth1 is a port of br0"]);
});

Deno.test("blk: every reason at once — mounted by number and by source, swap, holders", () => {
  using tree = new FakeTree("virtio-pci", 2, "virtio_blk");
  const disk = `${tree.child()}/block/vdb`;
  tree.write(`${disk}/dev`, "254:16\n");
  tree.write(`${disk}/vdb1/dev`, "254:17\n");
  tree.write(`${disk}/vdb2/dev`, "254:18\n");
  tree.write(`${disk}/vdb3/dev`, "254:19\n");
  tree.write(`${disk}/vdb4/dev`, "254:20\n");
  assert.deepEqual(tree.reasons(), [], "nothing mounted: free");
  Deno.mkdirSync(`${disk}/vdb4/holders/dm-0`, { recursive: true });
  tree.proc("self/mountinfo", "27 1 254:17 / / rw - ext4 /dev/vdb1 rw\n");
  // btrfs reports a virtual device number: the source names the partition.
  tree.proc("1/mountinfo", "40 1 0:33 / /data rw - btrfs /dev/vdb2 rw\n");
  tree.proc("swaps", "Filename\tType\tSize\tUsed\tPriority\n/dev/vdb3 partition 1024 0 -2\n");
  assert.deepEqual(tree.reasons(), [
    "block device vdb1 (254:17) is mounted",
    "block device vdb2 (254:18) is mounted",
    "block device vdb3 is used as swap",
    "block device vdb4 is held by dm-0",
  ]);
});

Deno.test("9p: in use only while its tag is mounted", () => {
  using tree = new FakeTree("virtio-pci", 9, "9pnet_virtio");
  tree.write(`${tree.child()}/mount_tag`, "share\0");
  tree.proc("self/mountinfo", "30 1 0:30 / / ro - 9p root ro\n");
  assert.deepEqual(tree.reasons(), []);
  tree.proc("self/mountinfo", "30 1 0:30 / / ro - 9p root ro\n31 1 0:31 / /s rw - 9p share rw\n");
  assert.deepEqual(tree.reasons(), ['its 9p share "share" is mounted']);
});

Deno.test("rng: in use while a virtio rng is the current hwrng", () => {
  using tree = new FakeTree("virtio-pci", 4, "virtio_rng");
  const current = `${tree.root}/sys/class/misc/hw_random/rng_current`;
  tree.write(current, "none\n");
  assert.deepEqual(tree.reasons(), []);
  tree.write(current, "virtio_rng.0\n");
  Deno.mkdirSync(`${tree.root}/sys/bus/virtio/drivers/virtio_rng/virtio3`, { recursive: true });
  assert.deepEqual(tree.reasons(), ["it is the current hardware RNG (virtio_rng.0)"]);
  Deno.mkdirSync(`${tree.root}/sys/bus/virtio/drivers/virtio_rng/virtio9`, { recursive: true });
  assert.match(tree.reasons()[0]!, /may be the current hardware RNG .*2 virtio rngs bound/);
});

Deno.test("other kernel-driven types cannot be shown idle: in use", () => {
  for (
    const [type, driver] of [
      [5, "virtio_balloon"],
      [19, "vmw_vsock_virtio_transport"],
      [3, "virtio_console"],
      [16, "virtio_gpu"],
      [18, "virtio_input"],
      [26, "virtiofs"],
      [8, "virtio_scsi"],
      [99, "mystery"],
    ] as const
  ) {
    using tree = new FakeTree("virtio-pci", type, driver);
    assert.deepEqual(tree.reasons(), [`bound to ${driver}; cannot tell whether it is idle`]);
  }
  using other = new FakeTree("some_driver", null);
  assert.deepEqual(other.reasons(), ["bound to some_driver; cannot tell whether it is idle"]);
});

Deno.test("scsi: a mounted disk behind the host is named too", () => {
  using tree = new FakeTree("virtio-pci", 8, "virtio_scsi");
  tree.write(`${tree.child()}/host2/target2:0:0/2:0:0:0/block/sdb/dev`, "8:16\n");
  tree.proc("self/mountinfo", "27 1 8:16 / /mnt rw - ext4 /dev/sdb rw\n");
  const usage = deviceUsage(ADDRESS, tree.options);
  assert.deepEqual(usage.disks, ["sdb"]);
  assert.deepEqual(usage.reasons, [
    "block device sdb (8:16) is mounted",
    "bound to virtio_scsi; cannot tell whether it is idle",
  ]);
});

Deno.test("free: unbound, no virtio driver on the child, held by vfio-pci or uio", () => {
  using unbound = new FakeTree(null, null);
  assert.deepEqual(unbound.reasons(), []);
  using noVirtioDriver = new FakeTree("virtio-pci", 1);
  assert.deepEqual(noVirtioDriver.reasons(), []);
  using uio = new FakeTree("uio_pci_generic", null);
  assert.deepEqual(uio.reasons(), []);
  using vfio = new FakeTree("vfio-pci", null);
  vfio.link("../../../kernel/iommu_groups/7", `${vfio.dev()}/iommu_group`);
  assert.deepEqual(vfio.reasons(), []);
  // A process (say DPDK) has the VFIO group open: in use.
  vfio.link("/dev/null", `${vfio.root}/proc/4242/fd/3`);
  vfio.link("/dev/vfio/7", `${vfio.root}/proc/4242/fd/9`);
  assert.deepEqual(vfio.reasons(), ["its VFIO group 7 is open in process 4242"]);
});

Deno.test("claim refuses with every reason and writes nothing", () => {
  using tree = netTree("0x1003");
  tree.proc("net/route", `${ROUTE_HEADER}eth1\t0063000A\t00000000\t0001\n`);
  const writes: string[] = [];
  assert.throws(
    () =>
      DeviceClaim.claim(ADDRESS, "vfio-pci", {
        root: tree.root,
        write: (p) => writes.push(p),
        ipv4Addresses: () => new Map([["eth1", ["10.99.0.1"]]]),
      }),
    (e: Error & { hint?: string }) => {
      assert.equal(
        e.message,
        `refusing to take over ${ADDRESS}: interface eth1 is up with address 10.99.0.1; ` +
          "interface eth1 carries 1 route",
      );
      assert.match(e.hint ?? "", /--force/);
      return true;
    },
  );
  assert.deepEqual(writes, []);
});

/** This machine's own virtio PCI functions (read-only: vendor files only). */
function hostVirtioFunctions(): string[] {
  const dir = "/sys/bus/pci/devices";
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).filter((a) => {
      try {
        return Deno.readTextFileSync(`${dir}/${a}/vendor`).trim() === "0x1af4";
      } catch {
        return false;
      }
    }).sort();
  } catch {
    return [];
  }
}

hostTest("host (read-only): every virtio device this machine runs on is reported in use", [
  NEEDS.virtio,
], () => {
  let checked = 0;
  for (const address of hostVirtioFunctions()) {
    const usage = deviceUsage(address);
    if (usage.driver === null) continue; // nothing of ours to protect
    checked++;
    assert.ok(usage.reasons.length > 0, `${address} (${usage.virtio?.type}) reported free`);
  }
  assert.ok(checked > 0, "no bound virtio device on this machine to check");
});

Deno.test("the root filesystem's device is critical: refused even with force", () => {
  using p9 = new FakeTree("virtio-pci", 9, "9pnet_virtio");
  p9.write(`${p9.child()}/mount_tag`, "root\0");
  p9.proc("self/mountinfo", "30 1 0:30 / / ro - 9p root ro\n");
  assert.deepEqual(deviceUsage(ADDRESS, p9.options).critical, [
    'its 9p share "root" is the root filesystem',
  ]);
  assert.throws(
    () => refuseInUse(ADDRESS, "bind", true, { root: p9.root }),
    /refusing to bind 0000:00:07.0: its 9p share "root" is the root filesystem/,
  );
  using blk = new FakeTree("virtio-pci", 2, "virtio_blk");
  blk.write(`${blk.child()}/block/vda/dev`, "254:0\n");
  blk.write(`${blk.child()}/block/vda/vda1/dev`, "254:1\n");
  blk.proc("self/mountinfo", "27 1 254:1 / /data rw - ext4 /dev/vda1 rw\n");
  assert.deepEqual(deviceUsage(ADDRESS, blk.options).critical, []);
  assert.deepEqual(refuseInUse(ADDRESS, "bind", true, { root: blk.root }), [
    "block device vda1 (254:1) is mounted",
  ], "a data disk can be forced");
  blk.proc("self/mountinfo", "27 1 254:1 / / rw - ext4 /dev/vda1 rw\n");
  assert.deepEqual(deviceUsage(ADDRESS, blk.options).critical, [
    "block device vda1 holds the root filesystem",
  ]);
});
