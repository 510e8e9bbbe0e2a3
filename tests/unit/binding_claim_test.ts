import assert from "node:assert/strict";
import { VirtioError } from "../../lib/errors.ts";
import {
  bindDriver,
  currentDriver,
  loadModule,
  readCommand,
  type SysfsOptions,
} from "../../lib/pci/binding.ts";
import { type ClaimRecord, DeviceClaim, restoreAbandonedClaims } from "../../lib/device/claim.ts";
import { hostTest } from "./host_needs.ts";

const ADDRESS = "0000:00:07.0";

/** A fake sysfs tree plus a fake kernel that reacts to writes the way Linux does. */
class FakeKernel {
  readonly root = Deno.makeTempDirSync({ prefix: "virtio-binding-" });
  readonly writes: string[] = [];
  /** Drivers that refuse to bind (probe fails). */
  readonly refusing = new Set<string>();
  onWrite: (path: string) => void = () => {};

  constructor(driver: string | null, readonly nativeDriver = "virtio-pci") {
    // The kernel's virtio child with no virtio driver bound: nothing uses the device, so
    // the in-use policy (in_use_test.ts) lets it be taken.
    Deno.mkdirSync(`${this.dev()}/virtio3`, { recursive: true });
    Deno.writeTextFileSync(`${this.dev()}/virtio3/device`, "0x0001\n");
    for (const name of ["virtio-pci", "vfio-pci", "uio_pci_generic"]) {
      Deno.mkdirSync(`${this.root}/sys/bus/pci/drivers/${name}`, { recursive: true });
    }
    Deno.writeTextFileSync(`${this.dev()}/driver_override`, "(null)\n");
    const config = new Uint8Array(256);
    config.set([0xf4, 0x1a, 0x41, 0x10, 0x03, 0x01]); // vendor, device, command 0x0103
    Deno.writeFileSync(`${this.dev()}/config`, config);
    if (driver !== null) this.#link(driver);
    Deno.mkdirSync(`${this.root}/proc/${Deno.pid}`, { recursive: true });
  }

  dev(): string {
    return `${this.root}/sys/bus/pci/devices/${ADDRESS}`;
  }

  get options(): SysfsOptions {
    return { root: this.root, write: (path, text) => this.#write(path, text) };
  }

  #link(driver: string): void {
    Deno.symlinkSync(`../../drivers/${driver}`, `${this.dev()}/driver`);
  }

  #write(path: string, text: string): void {
    const relative = path.slice(this.root.length);
    this.onWrite(relative);
    this.writes.push(`${relative} <- ${text.trim()}`);
    const bound = currentDriver(ADDRESS, { root: this.root });
    if (relative === `/sys/bus/pci/devices/${ADDRESS}/driver_override`) {
      Deno.writeTextFileSync(path, text.trim() === "" ? "(null)\n" : text + "\n");
    } else if (relative === `/sys/bus/pci/devices/${ADDRESS}/driver/unbind`) {
      assert.equal(text, ADDRESS);
      Deno.removeSync(`${this.dev()}/driver`);
    } else if (relative === "/sys/bus/pci/drivers_probe") {
      if (bound !== null) return;
      const override = Deno.readTextFileSync(`${this.dev()}/driver_override`).trim();
      const driver = override === "(null)" ? this.nativeDriver : override;
      if (!this.refusing.has(driver)) this.#link(driver);
    } else if (/^\/sys\/bus\/pci\/drivers\/[^/]+\/bind$/.test(relative)) {
      if (bound !== null) throw new Error("EBUSY");
      this.#link(relative.split("/")[5]!);
    } else {
      throw new Error(`fake kernel: unexpected write to ${relative}`);
    }
  }

  claimPath(): string {
    return `${this.root}/run/virtio-toolkit/claims/${ADDRESS}.json`;
  }

  [Symbol.dispose](): void {
    Deno.removeSync(this.root, { recursive: true });
  }
}

Deno.test("currentDriver reads the driver symlink; null when unbound", () => {
  using kernel = new FakeKernel("virtio-pci");
  assert.equal(currentDriver(ADDRESS, kernel.options), "virtio-pci");
  using unbound = new FakeKernel(null);
  assert.equal(currentDriver(ADDRESS, unbound.options), null);
  assert.throws(() => currentDriver("00:07.0", kernel.options), /bad PCI address/);
});

Deno.test("claim: record on disk before the first write, then override, unbind, probe", () => {
  using kernel = new FakeKernel("virtio-pci");
  let recordBeforeFirstWrite: boolean | undefined;
  kernel.onWrite = () => {
    recordBeforeFirstWrite ??= (() => {
      try {
        Deno.statSync(kernel.claimPath());
        return true;
      } catch {
        return false;
      }
    })();
  };
  using claim = DeviceClaim.claim(ADDRESS, "vfio-pci", kernel.options);
  assert.equal(recordBeforeFirstWrite, true);
  assert.equal(claim.driver, "vfio-pci");
  assert.equal(claim.originalDriver, "virtio-pci");
  assert.equal(currentDriver(ADDRESS, kernel.options), "vfio-pci");
  assert.deepEqual(kernel.writes, [
    `/sys/bus/pci/devices/${ADDRESS}/driver_override <- vfio-pci`,
    `/sys/bus/pci/devices/${ADDRESS}/driver/unbind <- ${ADDRESS}`,
    `/sys/bus/pci/drivers_probe <- ${ADDRESS}`,
  ]);
  const record = JSON.parse(Deno.readTextFileSync(kernel.claimPath())) as ClaimRecord;
  assert.equal(record.pid, Deno.pid);
  assert.equal(record.originalDriver, "virtio-pci");
});

Deno.test("release: command register, unbind, clear override, rebind original, drop record", () => {
  using kernel = new FakeKernel("virtio-pci");
  const claim = DeviceClaim.claim(ADDRESS, "uio_pci_generic", kernel.options);
  claim.enableBusMaster();
  assert.equal(readCommand(ADDRESS, kernel.options), 0x0107);
  const record = JSON.parse(Deno.readTextFileSync(kernel.claimPath())) as ClaimRecord;
  assert.equal(record.originalCommand, 0x0103);
  kernel.writes.length = 0;
  claim[Symbol.dispose]();
  assert.ok(claim.released);
  assert.equal(readCommand(ADDRESS, kernel.options), 0x0103);
  assert.equal(currentDriver(ADDRESS, kernel.options), "virtio-pci");
  assert.deepEqual(kernel.writes, [
    `/sys/bus/pci/devices/${ADDRESS}/driver/unbind <- ${ADDRESS}`,
    `/sys/bus/pci/devices/${ADDRESS}/driver_override <- `,
    `/sys/bus/pci/drivers/virtio-pci/bind <- ${ADDRESS}`,
  ]);
  assert.throws(() => Deno.statSync(kernel.claimPath()), Deno.errors.NotFound);
  claim.release(); // idempotent
  assert.throws(() => claim.driver, /released/);
});

Deno.test("claim of an unbound device leaves it unbound on release", () => {
  using kernel = new FakeKernel(null);
  DeviceClaim.claim(ADDRESS, "vfio-pci", kernel.options).release();
  assert.equal(currentDriver(ADDRESS, kernel.options), null);
  assert.equal(Deno.readTextFileSync(`${kernel.dev()}/driver_override`), "(null)\n");
});

Deno.test("claim with no driver: unbound, override blocks rebinding, given back on release", () => {
  using kernel = new FakeKernel("virtio-pci");
  const claim = DeviceClaim.claim(ADDRESS, null, kernel.options);
  assert.equal(currentDriver(ADDRESS, kernel.options), null);
  assert.equal(Deno.readTextFileSync(`${kernel.dev()}/driver_override`).trim(), "none");
  assert.deepEqual(kernel.writes, [
    `/sys/bus/pci/devices/${ADDRESS}/driver_override <- none`,
    `/sys/bus/pci/devices/${ADDRESS}/driver/unbind <- ${ADDRESS}`,
  ]);
  claim.release();
  assert.equal(currentDriver(ADDRESS, kernel.options), "virtio-pci");
  assert.equal(Deno.readTextFileSync(`${kernel.dev()}/driver_override`), "(null)\n");
});

Deno.test("a driver that refuses the device: clear error, device back with its driver", () => {
  using kernel = new FakeKernel("virtio-pci");
  kernel.refusing.add("vfio-pci");
  assert.throws(
    () => DeviceClaim.claim(ADDRESS, "vfio-pci", kernel.options),
    /binding to vfio-pci failed \(now: no driver\)/,
  );
  assert.equal(currentDriver(ADDRESS, kernel.options), "virtio-pci");
  assert.throws(() => Deno.statSync(kernel.claimPath()), Deno.errors.NotFound);
});

Deno.test("a device claimed by a live process is refused; a dead owner's claim is taken back", () => {
  using kernel = new FakeKernel("virtio-pci");
  DeviceClaim.claim(ADDRESS, "vfio-pci", kernel.options);
  assert.throws(
    () => DeviceClaim.claim(ADDRESS, "vfio-pci", kernel.options),
    /already claimed by process/,
  );
  assert.deepEqual(restoreAbandonedClaims(kernel.options), [], "owner alive: nothing restored");
  assert.equal(currentDriver(ADDRESS, kernel.options), "vfio-pci");
  // The owner dies (SIGKILL): no /proc/<pid> any more.
  Deno.removeSync(`${kernel.root}/proc/${Deno.pid}`, { recursive: true });
  const restored = restoreAbandonedClaims(kernel.options);
  assert.deepEqual(restored, [
    { address: ADDRESS, originalDriver: "virtio-pci", pid: Deno.pid, error: null },
  ]);
  assert.equal(currentDriver(ADDRESS, kernel.options), "virtio-pci");
  assert.throws(() => Deno.statSync(kernel.claimPath()), Deno.errors.NotFound);
});

Deno.test("a reused pid (different start time) does not keep a claim alive", () => {
  using kernel = new FakeKernel("virtio-pci");
  const stat = (start: number) =>
    `${Deno.pid} (deno x) S ${Array.from({ length: 18 }, () => "0").join(" ")} ${start} 0 0\n`;
  Deno.writeTextFileSync(`${kernel.root}/proc/${Deno.pid}/stat`, stat(1000));
  DeviceClaim.claim(ADDRESS, "vfio-pci", kernel.options);
  const record = JSON.parse(Deno.readTextFileSync(kernel.claimPath())) as ClaimRecord;
  assert.equal(record.startTime, "1000");
  Deno.writeTextFileSync(`${kernel.root}/proc/${Deno.pid}/stat`, stat(2000));
  assert.equal(restoreAbandonedClaims(kernel.options).length, 1);
  assert.equal(currentDriver(ADDRESS, kernel.options), "virtio-pci");
});

Deno.test("bindDriver reports a missing driver with a hint", () => {
  using kernel = new FakeKernel(null);
  kernel.refusing.add("vfio-pci");
  assert.throws(() => bindDriver(ADDRESS, "vfio-pci", kernel.options), (error: unknown) => {
    assert.ok(error instanceof VirtioError);
    assert.match(error.hint ?? "", /module loaded/);
    return true;
  });
});

const noModprobe = {
  what: "a host without modprobe",
  ok: !["/sbin/modprobe", "/usr/sbin/modprobe", "/bin/modprobe", "/usr/bin/modprobe"].some(
    (path) => {
      try {
        Deno.statSync(path);
        return true;
      } catch {
        return false;
      }
    },
  ),
  ci: false,
};

hostTest("loadModule without modprobe: a clear error", [noModprobe], () => {
  assert.throws(() => loadModule("vfio-pci"), /no modprobe on this system/);
});
