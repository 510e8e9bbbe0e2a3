/**
 * Boots a throwaway QEMU VM with a chosen set of real virtio devices, runs one command in
 * it as root, and returns its output and exit code. A wall-clock limit kills a hung guest.
 *
 * Over 400 lines because {@link startLab} is one boot sequence (run directory, QEMU command
 * line, network namespace, capture, console, QMP, clean-up on every exit path) whose steps
 * share the run's state and its clean-up list; the pieces that stand alone are in their own
 * files (devices, kernel, initramfs, netns, qmp, accel).
 *
 * @module
 */
import { TimeoutError, VirtioError } from "../errors.ts";
import {
  LAB_ROOT_SLOT,
  LAB_SHARE_SLOT,
  type LabDevice,
  missingHostNeeds,
  resolveDevices,
} from "./devices.ts";
import { exists } from "../sys/files.ts";
import { ensureInitramfs, ROOT_MODULES } from "./initramfs.ts";
import { ensureKernel, type LabKernel } from "./kernel.ts";
import { parseModulesDep, parseVirtioAliases, resolveModules } from "./modules.ts";
import { Qmp } from "./qmp.ts";
import { type Accel, chooseAccel } from "./accel.ts";
import { stage2Script } from "./stage2.ts";
import { createTapNamespace, type TapCapture, type TapNamespace } from "./netns.ts";

/** How to run a lab VM: devices, the guest command, QEMU extras, limits and sizes. */
export interface LabOptions {
  /** Device sets and/or device names, comma-separated (see DEVICE_SETS). Default "default". */
  devices?: string;
  /** The command run as root in the guest (argv; `virtio` and `deno` are on PATH). */
  command: readonly string[];
  /** Extra QEMU arguments, e.g. a user's own device under test. */
  qemuArgs?: readonly string[];
  /** Devices whose traffic QEMU dumps to pcap (`filter-dump` on their hub port). */
  capture?: readonly string[];
  /**
   * Dump only the frames a captured device sends, not everything the hub delivers to it
   * (`queue=rx` on its hub port: the port receives what the NIC transmits). Default false.
   */
  captureSentOnly?: boolean;
  /** Wall-clock limit for the whole run, boot included. Default 300 s. */
  timeoutMs?: number;
  /** Guest memory in MiB. Default 1024. */
  memoryMiB?: number;
  /** Guest vCPUs. Default 2. */
  cpus?: number;
  /** 2 MiB hugepages the guest reserves. Default 64. */
  hugepages?: number;
  /** Environment variables exported for the guest command. */
  env?: Readonly<Record<string, string>>;
  /** Every console line (kernel, stage messages, the command's stderr). */
  onConsole?: (line: string) => void;
  /** Lab cache (kernel, initramfs). Default `<repo>/.cache/lab` or $VIRTIO_LAB_CACHE. */
  cacheDir?: string;
  /**
   * Load no virtio device drivers (only the lab's own 9p and transport modules), so every
   * device is driverless. By default the guest loads the driver of every virtio device
   * present, `qemuArgs` ones included (matched by modalias), as a real VM does.
   */
  noDrivers?: boolean;
}

/** What a lab run produced: exit code, output, console, timings, captures. */
export interface LabResult {
  /** The command's exit code in the guest. */
  code: number;
  /** What the command wrote to stdout. */
  stdout: string;
  /** Console output (kernel messages, stage messages, the command's stderr). */
  console: string;
  /** From starting QEMU to the guest being ready to run the command. */
  bootMs: number;
  /** The whole run. */
  totalMs: number;
  /** pcap bytes per captured device name. */
  captures: Record<string, Uint8Array>;
  /** The QEMU accelerator used ("kvm" or "tcg"); rates from the two do not compare. */
  accel: string;
}

/** A running lab VM: QMP for faults, console matching for timing, and the result. */
export interface LabVm extends AsyncDisposable {
  /** The devices the VM was given. */
  readonly devices: readonly LabDevice[];
  /** Resolves on the first console line matching `pattern`; rejects if the VM ends first. */
  waitForConsole(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** A connected QMP client (one per VM, created on first use). */
  qmp(): Promise<Qmp>;
  /** Settles when the VM has ended, with its result. */
  readonly result: Promise<LabResult>;
  /** Kills QEMU (SIGKILL). */
  kill(): void;
}

/** The checkout this module lives in. */
export const REPO_ROOT: string = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

export function defaultCacheDir(): string {
  return Deno.env.get("VIRTIO_LAB_CACHE") ?? `${REPO_ROOT}/.cache/lab`;
}

function qemuCommandLine(
  kernel: LabKernel,
  initrd: string,
  runDir: string,
  devices: readonly LabDevice[],
  o: LabOptions,
  accel: Accel,
): string[] {
  const iommu = devices.some((d) => d.needsIommu);
  const append = [
    "console=ttyS0",
    "quiet",
    "loglevel=3",
    "panic=-1",
    "rdinit=/init",
    "tsc=reliable",
    "no_timer_check",
    iommu ? "intel_iommu=on iommu=pt" : "",
  ].filter(Boolean).join(" ");
  const args = [
    "-machine",
    `q35,accel=${accel}${iommu ? ",kernel-irqchip=split" : ""}`,
    "-cpu",
    accel === "kvm" ? "host" : "max",
    "-smp",
    String(o.cpus ?? 2),
    "-m",
    memoryArg(o.memoryMiB ?? 1024, devices),
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    "-vga",
    "none",
    "-no-reboot",
    "-kernel",
    kernel.vmlinux,
    "-initrd",
    initrd,
    "-append",
    append,
    "-chardev",
    "stdio,id=con,signal=off",
    "-serial",
    "chardev:con",
    "-qmp",
    `unix:${runDir}/qmp.sock,server=on,wait=off`,
  ];
  // The vIOMMU must be created before the devices behind it.
  if (iommu) args.push("-device", "intel-iommu,intremap=on,caching-mode=on,device-iotlb=on");
  args.push(
    "-fsdev",
    "local,id=fsroot,path=/,security_model=none,readonly=on,multidevs=remap",
    "-device",
    `virtio-9p-pci,fsdev=fsroot,mount_tag=root,addr=${LAB_ROOT_SLOT.toString(16)}`,
    "-fsdev",
    `local,id=fsshare,path=${runDir}/share,security_model=none`,
    "-device",
    `virtio-9p-pci,fsdev=fsshare,mount_tag=share,addr=${LAB_SHARE_SLOT.toString(16)}`,
  );
  for (const d of devices) {
    args.push(...d.args.map((a) => a.replaceAll("{disk}", diskImage(runDir, d))));
  }
  // A hub port with no peer device: frames sent to it are dropped, so a NIC transmitting
  // alone is never back-pressured after one ring (QEMU stops taking a NIC's frames when
  // nothing on the hub can receive: in this lab transmit stalled after 256 frames).
  if (devices.some((d) => d.virtioType === 1 && !d.tap)) {
    args.push("-netdev", "hubport,id=sink,hubid=0");
  }
  for (const name of o.capture ?? []) {
    const d = captured(devices, name);
    if (d.tap) continue; // dumpcap on the tap (startLab): filter-dump takes no multiqueue netdev
    args.push(
      "-object",
      `filter-dump,id=dump${d.slot},netdev=hp${d.slot},file=${runDir}/${name}.pcap` +
        (o.captureSentOnly ? ",queue=rx" : ""),
    );
  }
  args.push(...(o.qemuArgs ?? []));
  return args;
}

/**
 * `-m`: the guest's RAM, plus `maxmem` room for the devices that take device memory
 * (virtio-pmem, virtio-mem), with 1 GiB to spare for the alignment QEMU places them at.
 */
export function memoryArg(ramMiB: number, devices: readonly LabDevice[]): string {
  const device = devices.reduce((sum, d) => sum + (d.deviceMemoryMiB ?? 0), 0);
  return device === 0 ? String(ramMiB) : `${ramMiB}M,maxmem=${ramMiB + device + 1024}M`;
}

/** Where a device's raw disk image lives for the run. */
function diskImage(runDir: string, d: LabDevice): string {
  return `${runDir}/${d.name}.img`;
}

function captured(devices: readonly LabDevice[], name: string): LabDevice {
  const d = devices.find((x) => x.name === name);
  if (!d) throw new VirtioError(`cannot capture '${name}': not among the lab devices`);
  return d;
}

/** Starts a lab VM. Prefer {@link runInLab} unless the test acts during the run. */
export async function startLab(o: LabOptions): Promise<LabVm> {
  const started = performance.now();
  const cacheDir = o.cacheDir ?? defaultCacheDir();
  await Deno.mkdir(cacheDir, { recursive: true });
  const devices = resolveDevices(o.devices ?? "default");
  const missing = missingHostNeeds(devices, exists);
  if (missing.length) {
    throw new VirtioError(
      `this host cannot give the lab device(s): ${missing.join(", ")} missing`,
      {
        hint: "load the host module that provides it (e.g. vhost_vsock for /dev/vhost-vsock), " +
          "or leave the device out",
      },
    );
  }
  const kernel = await ensureKernel(cacheDir, (l) => o.onConsole?.(l));
  const initrd = await ensureInitramfs(cacheDir, kernel);
  const accel = await chooseAccel(cacheDir, kernel.vmlinux);
  const deps = parseModulesDep(await Deno.readTextFile(`${kernel.modulesDir}/modules.dep`));
  const preloaded = new Set(resolveModules(deps, ROOT_MODULES));
  const wanted = o.noDrivers ? [] : [...new Set(devices.flatMap((d) => d.modules))];
  if (devices.some((d) => d.needsIommu)) wanted.push("vfio_pci", "vfio_iommu_type1");
  wanted.push("pktgen", "af_packet", "uio_pci_generic");
  const modules = resolveModules(deps, wanted, new Set(["af_packet"]))
    .filter((m) => !preloaded.has(m))
    .map((m) => `${kernel.modulesDir}/${m}`);

  // Every virtio driver the kernel has, by device id, dependencies first: stage 2 loads those
  // of the devices it finds (QEMU arguments' devices included), unless noDrivers.
  const drivers = new Map<number, string[]>();
  if (!o.noDrivers) {
    const aliases = parseVirtioAliases(
      await Deno.readTextFile(`${kernel.modulesDir}/modules.alias`),
    );
    for (const [id, names] of aliases) {
      const paths = resolveModules(deps, names).filter((m) => !preloaded.has(m));
      if (paths.length) drivers.set(id, paths.map((m) => `${kernel.modulesDir}/${m}`));
    }
  }

  const runDir = await Deno.makeTempDir({ prefix: "virtio-lab-" });
  await Deno.mkdir(`${runDir}/share`);
  await Deno.writeTextFile(
    `${runDir}/share/stage2.sh`,
    stage2Script({
      modules,
      drivers,
      hugepages: o.hugepages ?? 64,
      deno: Deno.execPath(),
      repo: REPO_ROOT,
      cwd: Deno.cwd(),
      env: o.env ?? {},
      command: o.command,
    }),
  );
  await Deno.writeTextFile(
    `${runDir}/share/host-tmp-paths`,
    hostTmpPaths([REPO_ROOT, Deno.execPath().replace(/\/[^/]*$/, ""), cacheDir, Deno.cwd()])
      .join("\n") + "\n",
  );
  for (const d of devices) {
    if (!d.disk) continue;
    // Sparse: the image costs disk space only for what the guest writes.
    using f = await Deno.open(diskImage(runDir, d), { write: true, createNew: true });
    await f.truncate(d.disk.bytes);
  }
  const args = qemuCommandLine(kernel, initrd, runDir, devices, o, accel);
  let child: Deno.ChildProcess;
  let netns: TapNamespace | undefined;
  const tapCaptures: TapCapture[] = [];
  const stopTapCaptures = () => Promise.all(tapCaptures.splice(0).map((c) => c.stop()));
  try {
    const taps = devices.flatMap((d) => d.tap ? [d.tap.ifname] : []);
    if (taps.length > 0) netns = await createTapNamespace(taps);
    for (const name of o.capture ?? []) {
      const d = captured(devices, name);
      if (!d.tap || !netns) continue;
      const from = o.captureSentOnly ? String(d.given.mac) : undefined;
      tapCaptures.push(await netns.capture(d.tap.ifname, `${runDir}/${name}.pcap`, from));
    }
    const argv = netns
      ? netns.wrap(["qemu-system-x86_64", ...args])
      : ["qemu-system-x86_64", ...args];
    child = new Deno.Command(argv[0]!, {
      args: argv.slice(1),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    await stopTapCaptures();
    await Deno.remove(runDir, { recursive: true });
    await netns?.[Symbol.asyncDispose]();
    if (e instanceof Deno.errors.NotFound) {
      throw new VirtioError("qemu-system-x86_64 is not installed", {
        hint: "run the project's setup (./run setup) or apt-get install qemu-system-x86",
      });
    }
    throw e;
  }
  const spawnedAt = performance.now();
  let readyAt = 0;
  let timedOut = false;
  const consoleLines: string[] = [];
  const waiters: { pattern: RegExp; resolve: (l: string) => void }[] = [];
  const timeoutMs = o.timeoutMs ?? 300_000;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, timeoutMs);

  const pump = async (stream: ReadableStream<Uint8Array>, isConsole: boolean) => {
    let partial = "";
    const dec = new TextDecoder();
    for await (const chunk of stream) {
      partial += dec.decode(chunk, { stream: true });
      const lines = partial.split(/\r?\n/);
      partial = lines.pop()!;
      for (const raw of lines) {
        const line = raw.replace(/\r/g, "");
        consoleLines.push(line);
        if (isConsole && !readyAt && line.startsWith("lab: ready")) readyAt = performance.now();
        o.onConsole?.(line);
        for (let i = waiters.length - 1; i >= 0; i--) {
          if (waiters[i]!.pattern.test(line)) waiters.splice(i, 1)[0]!.resolve(line);
        }
      }
    }
    if (partial) consoleLines.push(partial);
  };
  const pumping = Promise.all([pump(child.stdout, true), pump(child.stderr, false)]);

  let qmpClient: Promise<Qmp> | undefined;
  const result = (async (): Promise<LabResult> => {
    try {
      const status = await child.status;
      await pumping;
      await stopTapCaptures();
      clearTimeout(timer);
      const share = `${runDir}/share`;
      if (timedOut) {
        throw new TimeoutError(
          `lab guest did not finish within ${Math.round(timeoutMs / 1000)} s and was killed`,
          { hint: "last console lines:\n" + consoleLines.slice(-15).join("\n") },
        );
      }
      const rcText = await Deno.readTextFile(`${share}/rc`).catch(() => "");
      if (!rcText.trim()) {
        throw new VirtioError(
          `lab guest stopped (QEMU exit ${status.code}) without running the command to its end`,
          { hint: "console:\n" + consoleLines.slice(-25).join("\n") },
        );
      }
      const captures: Record<string, Uint8Array> = {};
      for (const name of o.capture ?? []) {
        captures[name] = await Deno.readFile(`${runDir}/${name}.pcap`).catch(() =>
          new Uint8Array()
        );
      }
      return {
        code: Number(rcText.trim()),
        stdout: await Deno.readTextFile(`${share}/stdout`).catch(() => ""),
        console: consoleLines.join("\n"),
        bootMs: readyAt ? readyAt - spawnedAt : NaN,
        totalMs: performance.now() - started,
        captures,
        accel,
      };
    } finally {
      clearTimeout(timer);
      if (qmpClient) await (await qmpClient.catch(() => undefined))?.[Symbol.asyncDispose]();
      await stopTapCaptures();
      await Deno.remove(runDir, { recursive: true }).catch(() => {});
      await netns?.[Symbol.asyncDispose]();
    }
  })();
  result.catch(() => {}); // handled by whoever awaits it
  const ended = result.then(() => {}, () => {});

  const vm: LabVm = {
    devices,
    result,
    waitForConsole(pattern, waitMs = timeoutMs) {
      const seen = consoleLines.find((l) => pattern.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new TimeoutError(`no console line ${pattern}`)), waitMs);
        waiters.push({
          pattern,
          resolve: (l) => {
            clearTimeout(t);
            resolve(l);
          },
        });
        ended.then(() => {
          clearTimeout(t);
          reject(new VirtioError(`lab VM ended before a console line matched ${pattern}`));
        });
      });
    },
    qmp() {
      qmpClient ??= Qmp.connect(`${runDir}/qmp.sock`);
      return qmpClient;
    },
    kill() {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    },
    async [Symbol.asyncDispose]() {
      vm.kill();
      await ended;
    },
  };
  return vm;
}

/**
 * The guest mounts its own tmpfs on /tmp, which hides the host's /tmp: of `paths`, those below
 * /tmp (a checkout or a Deno there, as CI may use) are bound back in. Outermost first, each
 * once, nested ones dropped.
 */
export function hostTmpPaths(paths: readonly string[]): string[] {
  const under = [...new Set(paths.filter((p) => p.startsWith("/tmp/")))].sort();
  return under.filter((p, i) => !under.slice(0, i).some((q) => p.startsWith(q + "/")));
}

/** Boots the lab, runs `o.command` in it, and returns the result. */
export async function runInLab(o: LabOptions): Promise<LabResult> {
  const vm = await startLab(o);
  return await vm.result;
}
