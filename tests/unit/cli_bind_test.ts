/**
 * `virtio status`, `bind`, `unbind` and `restore` over a fake sysfs tree and a fake kernel
 * that reacts to writes the way Linux does. Nothing here touches this machine's devices.
 */
import assert from "node:assert/strict";
import { runBind, runUnbind } from "../../commands/bind.ts";
import { runRestore } from "../../commands/restore.ts";
import { runStatus } from "../../commands/status.ts";
import { run } from "../../main.ts";
import { UsageError, VirtioError } from "../../lib/errors.ts";
import type { DevbindOptions } from "../../lib/device/devbind.ts";
import { type RecordingIO, recordingIO } from "../../testing/recording_io.ts";
import { writeClaim } from "./claim_fixture.ts";

const NIC = "0000:00:07.0";
const BRIDGE = "0000:00:00.0";

class FakeKernel implements Disposable {
  readonly root = Deno.makeTempDirSync({ prefix: "virtio-cli-bind-" });
  readonly writes: string[] = [];
  uid = 0;
  constructor() {
    for (const d of ["virtio-pci", "vfio-pci"]) {
      Deno.mkdirSync(`${this.root}/sys/bus/pci/drivers/${d}`, { recursive: true });
    }
    this.#device(BRIDGE, "0x8086", "0x29c0", "0x1100");
    this.#device(NIC, "0x1af4", "0x1041", "0x1100");
    Deno.writeFileSync(`${this.dev(NIC)}/config`, new Uint8Array(64));
    this.#link(NIC, "virtio-pci");
    const child = `${this.dev(NIC)}/virtio3`;
    Deno.mkdirSync(`${child}/net/eth1`, { recursive: true });
    Deno.writeTextFileSync(`${child}/device`, "0x0001\n");
    Deno.writeTextFileSync(`${child}/net/eth1/flags`, "0x1002\n"); // down
    Deno.symlinkSync("../../bus/virtio/drivers/virtio_net", `${child}/driver`);
    Deno.mkdirSync(`${this.root}/proc/${Deno.pid}`, { recursive: true });
  }
  dev(a: string): string {
    return `${this.root}/sys/bus/pci/devices/${a}`;
  }
  #device(a: string, vendor: string, device: string, subsystem: string): void {
    Deno.mkdirSync(this.dev(a), { recursive: true });
    for (
      const [f, v] of [["vendor", vendor], ["device", device], ["subsystem_device", subsystem]]
    ) {
      Deno.writeTextFileSync(`${this.dev(a)}/${f}`, `${v}\n`);
    }
    Deno.writeTextFileSync(`${this.dev(a)}/driver_override`, "(null)\n");
  }
  #link(a: string, driver: string): void {
    Deno.symlinkSync(`../../drivers/${driver}`, `${this.dev(a)}/driver`);
  }
  driver(a = NIC): string | null {
    try {
      return Deno.readLinkSync(`${this.dev(a)}/driver`).split("/").pop()!;
    } catch {
      return null;
    }
  }
  get deps(): DevbindOptions {
    return {
      root: this.root,
      uid: this.uid,
      ipv4Addresses: () => new Map(),
      write: (path, text) => this.#write(path.slice(this.root.length), text),
    };
  }
  #write(rel: string, text: string): void {
    this.writes.push(`${rel} <- ${text.trim()}`);
    const dev = `/sys/bus/pci/devices/${NIC}`;
    if (rel === `${dev}/driver_override`) {
      Deno.writeTextFileSync(`${this.root}${rel}`, text.trim() === "" ? "(null)\n" : `${text}\n`);
    } else if (rel === `${dev}/driver/unbind`) {
      Deno.removeSync(`${this.dev(NIC)}/driver`);
    } else if (rel === "/sys/bus/pci/drivers_probe") {
      if (this.driver() !== null) return;
      const o = Deno.readTextFileSync(`${this.dev(NIC)}/driver_override`).trim();
      this.#link(NIC, o === "(null)" ? "virtio-pci" : o);
    } else if (/^\/sys\/bus\/pci\/drivers\/[^/]+\/bind$/.test(rel)) {
      this.#link(NIC, rel.split("/")[5]!);
    } else if (rel !== `${dev}/config`) {
      throw new Error(`fake kernel: unexpected write to ${rel}`);
    }
  }
  setUp(): void {
    Deno.writeTextFileSync(`${this.dev(NIC)}/virtio3/net/eth1/flags`, "0x1003\n");
    Deno.mkdirSync(`${this.root}/proc/net`, { recursive: true });
    Deno.writeTextFileSync(
      `${this.root}/proc/net/route`,
      "Iface\tDestination\tGateway\neth1\t0063000A\t00000000\n",
    );
  }
  claim(pid: number, driver: string | null): void {
    writeClaim(this.root, NIC, pid, driver);
  }
  [Symbol.dispose](): void {
    Deno.removeSync(this.root, { recursive: true });
  }
}

const capture = (): RecordingIO => recordingIO();

Deno.test("status: every virtio device with driver, names, use and claim; text and JSON", () => {
  using k = new FakeKernel();
  const io = capture();
  assert.equal(runStatus(["--json"], io, k.deps), 0);
  const { schema, devices } = JSON.parse(io.stdout);
  assert.equal(schema, "virtio-status/1");
  assert.equal(devices.length, 1, "the Intel bridge is not listed");
  assert.deepEqual(devices[0], {
    address: NIC,
    type: "net",
    ids: "1af4:1041",
    transport: "modern",
    driver: "virtio-pci",
    virtioDriver: "virtio_net",
    interfaces: ["eth1"],
    disks: [],
    inUse: false,
    reasons: [],
    critical: [],
    claim: null,
  });
  k.setUp();
  k.claim(999_999_999, null);
  const text = capture();
  runStatus([], text, k.deps);
  assert.match(
    text.stdout,
    /^0000:00:07\.0 +net +1af4:1041 +modern +virtio-pci\/virtio_net +eth1 +IN USE$/m,
  );
  assert.match(text.stdout, /^ {4}interface eth1 carries 1 route$/m);
  assert.match(text.stdout, /claim: pid 999999999 \(gone: run 'virtio restore'\), from virtio-pci/);
  assert.throws(() => runStatus(["extra"], capture(), k.deps), UsageError);
});

Deno.test("bind to vfio-pci and back to virtio-pci; unbind; no-ops change nothing", () => {
  using k = new FakeKernel();
  const io = capture();
  assert.equal(runBind(["00:07.0", "--driver", "vfio-pci"], io, k.deps), 0);
  assert.equal(io.stdout, `${NIC} (net): virtio-pci -> vfio-pci\n`);
  assert.equal(k.driver(), "vfio-pci");
  assert.equal(
    Deno.readTextFileSync(`${k.dev(NIC)}/driver_override`).trim(),
    "vfio-pci",
    "the override keeps the kernel driver from taking it back",
  );
  assert.throws(() => Deno.statSync(`${k.root}/run/virtio-toolkit/claims/${NIC}.json`));
  k.writes.length = 0;
  const same = capture();
  runBind([NIC, "--driver=vfio-pci"], same, k.deps);
  assert.match(same.stdout, /already bound to vfio-pci, nothing changed/);
  assert.deepEqual(k.writes, []);
  const back = capture();
  runBind([NIC, "--driver", "virtio-pci", "--json"], back, k.deps);
  assert.deepEqual(JSON.parse(back.stdout), {
    address: NIC,
    type: "net",
    before: "vfio-pci",
    after: "virtio-pci",
    changed: true,
    forced: [],
  });
  assert.equal(k.driver(), "virtio-pci");
  assert.equal(Deno.readTextFileSync(`${k.dev(NIC)}/driver_override`), "(null)\n");
  const unbind = capture();
  runUnbind([NIC], unbind, k.deps);
  assert.equal(unbind.stdout, `${NIC} (net): virtio-pci -> no driver\n`);
  assert.equal(k.driver(), null);
  const again = capture();
  runUnbind([NIC], again, k.deps);
  assert.match(again.stdout, /already unbound, nothing changed/);
});

Deno.test("in use: refused with the reason and nothing written; --force warns and acts", () => {
  using k = new FakeKernel();
  k.setUp();
  assert.throws(
    () => runUnbind([NIC], capture(), k.deps),
    (e: VirtioError) => {
      assert.equal(e.message, `refusing to unbind ${NIC}: interface eth1 carries 1 route`);
      assert.match(e.hint ?? "", /--force/);
      return true;
    },
  );
  assert.deepEqual(k.writes, []);
  const io = capture();
  assert.equal(runUnbind([NIC, "--force"], io, k.deps), 0);
  assert.equal(io.stderr, "virtio: warning: forced although interface eth1 carries 1 route\n");
  assert.equal(k.driver(), null);
});

Deno.test("bad requests: clear errors, the right kind, nothing written", () => {
  using k = new FakeKernel();
  const cases: [string[], typeof UsageError | typeof VirtioError, RegExp][] = [
    [["zz", "--driver", "vfio-pci"], UsageError, /malformed PCI address 'zz'/],
    [[NIC], UsageError, /missing --driver NAME/],
    [["--driver", "vfio-pci"], UsageError, /missing DEVICE/],
    [[NIC, NIC, "--driver", "vfio-pci"], UsageError, /unexpected argument/],
    [[NIC, "--driver", "vfio-pci", "--bogus"], UsageError, /bogus/],
    [[BRIDGE, "--driver", "vfio-pci"], VirtioError, /0000:00:00\.0 is not a virtio device/],
    [["0000:00:09.0", "--driver", "vfio-pci"], VirtioError, /no PCI device 0000:00:09\.0/],
    [[NIC, "--driver", "../x"], VirtioError, /bad driver name/],
  ];
  for (const [args, kind, message] of cases) {
    assert.throws(() => runBind(args, capture(), k.deps), (e: Error) => {
      assert.ok(e instanceof kind, `${args.join(" ")}: ${e.name}`);
      assert.match(e.message, message);
      return true;
    });
  }
  k.uid = 1000;
  assert.throws(() => runBind([NIC, "--driver", "vfio-pci"], capture(), k.deps), /needs root/);
  assert.throws(() => runUnbind([NIC], capture(), k.deps), /unbind 0000:00:07\.0 needs root/);
  assert.deepEqual(k.writes, []);
  assert.equal(k.driver(), "virtio-pci");
});

Deno.test("exit codes through main: malformed address 2, unknown option 2", async () => {
  // Only inputs rejected before any device is looked at: this runs on the real machine.
  const io = capture();
  assert.equal(await run(["bind", "0000:00:zz.0", "--driver", "vfio-pci"], io), 2);
  assert.match(
    io.stderr,
    /^virtio: malformed PCI address '0000:00:zz\.0'.*\nTry 'virtio bind --help'/,
  );
  assert.equal(await run(["unbind", "--nope"], capture()), 2);
  assert.equal(await run(["restore", "extra"], capture()), 2);
  assert.equal(await run(["status", "extra"], capture()), 2);
});

Deno.test("a live claim blocks bind even with --force; a dead one is given back first", () => {
  using k = new FakeKernel();
  k.claim(Deno.pid, "vfio-pci");
  assert.throws(
    () => runBind([NIC, "--driver", "vfio-pci", "--force"], capture(), k.deps),
    new RegExp(`in use by virtio process ${Deno.pid}`),
  );
  assert.deepEqual(k.writes, []);
  k.claim(999_999_999, null);
  Deno.removeSync(`${k.dev(NIC)}/driver`); // the dead process had unbound it
  const io = capture();
  runBind([NIC, "--driver", "vfio-pci"], io, k.deps);
  assert.equal(io.stdout, `${NIC} (net): virtio-pci -> vfio-pci\n`, "restored, then bound");
  assert.throws(() => Deno.statSync(`${k.root}/run/virtio-toolkit/claims/${NIC}.json`));
});

Deno.test("restore: gives back a dead process's device, text and JSON; nothing otherwise", () => {
  using k = new FakeKernel();
  const none = capture();
  assert.equal(runRestore([], none, k.deps), 0);
  assert.equal(none.stdout, "nothing to restore\n");
  k.claim(999_999_999, null);
  Deno.removeSync(`${k.dev(NIC)}/driver`);
  const io = capture();
  assert.equal(runRestore([], io, k.deps), 0);
  assert.equal(io.stdout, `${NIC}: given back to virtio-pci (process 999999999 is gone)\n`);
  assert.equal(k.driver(), "virtio-pci");
  // A device someone already put back on its driver is left alone; the record goes.
  k.claim(999_999_999, "vfio-pci");
  k.writes.length = 0;
  const json = capture();
  runRestore(["--json"], json, k.deps);
  assert.deepEqual(JSON.parse(json.stdout), {
    schema: "virtio-restore/1",
    restored: [{ address: NIC, originalDriver: "virtio-pci", pid: 999_999_999, error: null }],
  });
  assert.deepEqual(k.writes, []);
  assert.throws(() => Deno.statSync(`${k.root}/run/virtio-toolkit/claims/${NIC}.json`));
  k.claim(Deno.pid, "vfio-pci");
  const alive = capture();
  runRestore([], alive, k.deps);
  assert.equal(alive.stdout, "nothing to restore\n", "a live owner keeps its device");
});
