/**
 * Is a PCI device in use by this machine? The refusal that protects the machine's own disk,
 * NIC and shares from being taken over. The policy is conservative: a device bound to a
 * kernel driver counts as in use unless we can show it idle.
 *
 * - net: a port of a bridge/bond, or an interface that is UP and has an address or a
 *   route. IPv6 link-local addresses (fe80::/10) and the link-local and multicast routes
 *   (fe80::/64, ff00::/8) do not count: the kernel adds them to every interface it brings
 *   up, so counting them would make "up without addresses" impossible. IPv4 link-local
 *   (169.254/16) does count: it is only there when something configured it (autoip, cloud
 *   metadata). A down interface is free.
 * - blk (and disks behind virtio-scsi): a disk or partition mounted, used as swap, or held
 *   by another block device (dm, md).
 * - 9p: its mount tag is mounted.
 * - rng: it is (or may be) the kernel's current hwrng.
 * - everything else bound to a kernel virtio driver (console, balloon, vsock, gpu, input,
 *   fs, scsi, unknown): "cannot tell whether it is idle" — in use.
 * - unbound, or held by vfio-pci / uio / pci-stub: free, unless a process has its VFIO group
 *   or uio node open.
 *
 * Read-only: nothing here writes. Every path is below a root directory so tests run over
 * fake trees.
 *
 * @module
 */
import { linkName, listDir, readFile } from "../sys/files.ts";
import { deviceTypeName } from "../virtio/device_types.ts";

/** Where to look and how to list IPv4 addresses (replaceable for tests). */
export interface InUseOptions {
  /** Root of the tree holding `sys/` and `proc/`. Default "/". */
  root?: string;
  /**
   * IPv4 addresses by interface name, or null when they cannot be listed (then an UP
   * interface counts as in use). Default: `ip -j -4 addr` when root is "/", else null.
   */
  ipv4Addresses?: () => ReadonlyMap<string, readonly string[]> | null;
}

/** What {@link deviceUsage} found out about one PCI function. */
export interface DeviceUsage {
  /** PCI address. */
  readonly address: string;
  /** The PCI driver bound (virtio-pci, vfio-pci ...), null when unbound. */
  readonly driver: string | null;
  /** The kernel's virtio child (`virtioN`), its type name and virtio driver. */
  readonly virtio: { name: string; type: string; driver: string | null } | null;
  /** Network interfaces and disks the kernel made of it. */
  readonly interfaces: string[];
  /** Block devices the kernel made of it. */
  readonly disks: string[];
  /** Why it is in use, one line each; empty: free to take over. */
  readonly reasons: string[];
  /**
   * The reasons no `--force` may override: the device carries this machine's root
   * filesystem, and taking it kills the machine.
   */
  readonly critical: string[];
}

/** PCI drivers that only hold a device for user space: the device itself is idle. */
export const HOLDING_DRIVERS: ReadonlySet<string> = new Set([
  "vfio-pci",
  "uio_pci_generic",
  "igb_uio",
  "pci-stub",
]);

const IFF_UP = 0x1;

/** The host's IPv4 addresses per interface from `ip -j -4 addr`; null when unavailable. */
export function ipv4AddressesFromIp(): Map<string, string[]> | null {
  try {
    const out = new Deno.Command("ip", { args: ["-j", "-4", "addr", "show"], stderr: "null" })
      .outputSync();
    if (!out.success) return null;
    const links = JSON.parse(new TextDecoder().decode(out.stdout)) as {
      ifname?: string;
      addr_info?: { local?: string }[];
    }[];
    const map = new Map<string, string[]>();
    for (const link of links) {
      if (typeof link.ifname !== "string") continue;
      const addrs = (link.addr_info ?? []).map((a) => a.local).filter((a) => a !== undefined);
      map.set(link.ifname, addrs as string[]);
    }
    return map;
  } catch {
    return null;
  }
}

/** Mounted device numbers and sources; `root` holds both for mounts at "/". */
interface Mounts {
  devices: Set<string>;
  sources: Set<string>;
  root: Set<string>;
}

/** What the machine as a whole has mounted, swapped, routed: read once per check. */
class MachineView {
  readonly root: string;
  #mounts?: Mounts;
  #ipv4?: ReadonlyMap<string, readonly string[]> | null;
  constructor(private readonly options: InUseOptions) {
    this.root = (options.root ?? "/").replace(/\/$/, "");
  }
  path(relative: string): string {
    return `${this.root}/${relative}`;
  }
  /** Mounts of our namespace and of init's (a daemon may mount in its own namespace). */
  get mounts(): Mounts {
    if (this.#mounts) return this.#mounts;
    const devices = new Set<string>();
    const sources = new Set<string>();
    const root = new Set<string>();
    for (const file of ["proc/self/mountinfo", "proc/1/mountinfo"]) {
      for (const line of (readFile(this.path(file)) ?? "").split("\n")) {
        const fields = line.split(" ");
        const dash = fields.indexOf("-");
        if (dash < 0) continue;
        devices.add(fields[2]!);
        const source = fields[dash + 2];
        if (source !== undefined) sources.add(source);
        if (fields[4] === "/") {
          root.add(fields[2]!);
          if (source !== undefined) root.add(source);
        }
      }
    }
    return this.#mounts = { devices, sources, root };
  }
  get swaps(): string[] {
    return (readFile(this.path("proc/swaps")) ?? "").split("\n").slice(1)
      .map((l) => l.split(/\s+/)[0] ?? "").filter((n) => n !== "");
  }
  ipv4(): ReadonlyMap<string, readonly string[]> | null {
    if (this.#ipv4 !== undefined) return this.#ipv4;
    const source = this.options.ipv4Addresses ??
      (this.root === "" ? ipv4AddressesFromIp : () => null);
    return this.#ipv4 = source();
  }
}

function netReasons(view: MachineView, ifaceDir: string, iface: string): string[] {
  const reasons: string[] = [];
  const master = linkName(`${ifaceDir}/master`) ?? null;
  if (master !== null) reasons.push(`interface ${iface} is a port of ${master}`);
  const flags = parseInt(readFile(`${ifaceDir}/flags`)?.trim() ?? "", 16);
  // Unknown flags: assume up (the safe side).
  if (Number.isFinite(flags) && (flags & IFF_UP) === 0) return reasons;
  const v6 = (readFile(view.path("proc/net/if_inet6")) ?? "").split("\n")
    .map((l) => l.trim().split(/\s+/))
    // address ifindex prefixlen scope flags name; scope 0x20 = link-local.
    .filter((f) => f[5] === iface && f[3] !== "20").map((f) => f[0]!);
  const ipv4 = view.ipv4();
  const v4 = ipv4?.get(iface) ?? [];
  const addresses = [...v4, ...v6.map(formatIpv6)];
  if (addresses.length > 0) {
    reasons.push(`interface ${iface} is up with address ${addresses.join(", ")}`);
  } else if (ipv4 === null) {
    reasons.push(`interface ${iface} is up and its IPv4 addresses could not be listed`);
  }
  const routes4 = (readFile(view.path("proc/net/route")) ?? "").split("\n").slice(1)
    .map((l) => l.split(/\s+/)).filter((f) => f[0] === iface);
  const routes6 = (readFile(view.path("proc/net/ipv6_route")) ?? "").split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f[9] === iface && !/^fe[89ab]|^ff/.test(f[0] ?? ""));
  const routes = routes4.length + routes6.length;
  if (routes > 0) {
    const def = routes4.some((f) => f[1] === "00000000") ||
      routes6.some((f) => /^0{32}$/.test(f[0] ?? "") && f[1] === "00");
    reasons.push(
      `interface ${iface} carries ${routes} route${routes === 1 ? "" : "s"}${
        def ? " (the default route among them)" : ""
      }`,
    );
  }
  return reasons;
}

function formatIpv6(hex: string): string {
  return (hex.match(/.{4}/g) ?? []).map((g) => g.replace(/^0+(?=.)/, "")).join(":")
    .replace(/(^|:)0(:0)+(:|$)/, "::");
}

/** Mounted, swap or held: the block device `name` whose sysfs directory is `dir`. */
function diskReasons(
  view: MachineView,
  dir: string,
  disk: string,
  critical: string[],
): string[] {
  const reasons: string[] = [];
  const parts = [
    { name: disk, dir },
    ...listDir(dir).filter((p) => p.startsWith(disk)).map(
      (p) => ({ name: p, dir: `${dir}/${p}` }),
    ),
  ];
  const { devices, sources } = view.mounts;
  const swaps = view.swaps;
  for (const part of parts) {
    const number = readFile(`${part.dir}/dev`)?.trim();
    if (
      (number !== undefined && devices.has(number)) ||
      sources.has(`/dev/${part.name}`)
    ) {
      reasons.push(`block device ${part.name}${number ? ` (${number})` : ""} is mounted`);
      const { root } = view.mounts;
      if ((number !== undefined && root.has(number)) || root.has(`/dev/${part.name}`)) {
        critical.push(`block device ${part.name} holds the root filesystem`);
      }
    }
    if (swaps.some((s) => s === `/dev/${part.name}`)) {
      reasons.push(`block device ${part.name} is used as swap`);
    }
    const holders = listDir(`${part.dir}/holders`);
    if (holders.length > 0) {
      reasons.push(`block device ${part.name} is held by ${holders.join(", ")}`);
    }
  }
  return reasons;
}

/** Processes holding `path` open (by /proc/<pid>/fd), for VFIO groups and uio nodes. */
function holders(view: MachineView, devicePath: string): number[] {
  const pids: number[] = [];
  for (const pid of listDir(view.path("proc")).filter((n) => /^\d+$/.test(n))) {
    for (const fd of listDir(view.path(`proc/${pid}/fd`))) {
      let target: string;
      try {
        target = Deno.readLinkSync(view.path(`proc/${pid}/fd/${fd}`));
      } catch {
        continue;
      }
      if (target === devicePath) {
        pids.push(Number(pid));
        break;
      }
    }
  }
  return pids;
}

/** Everything that says whether `address` (canonical form) is in use; see the module doc. */
export function deviceUsage(address: string, options: InUseOptions = {}): DeviceUsage {
  const view = new MachineView(options);
  const dir = view.path(`sys/bus/pci/devices/${address}`);
  const driver = linkName(`${dir}/driver`) ?? null;
  const reasons: string[] = [];
  const interfaces: string[] = [];
  const disks: string[] = [];
  const critical: string[] = [];
  const childName = listDir(dir).find((n) => /^virtio\d+$/.test(n));
  let virtio: DeviceUsage["virtio"] = null;
  if (childName !== undefined) {
    const child = `${dir}/${childName}`;
    const type = parseInt(readFile(`${child}/device`)?.trim() ?? "", 16);
    virtio = {
      name: childName,
      type: Number.isFinite(type) ? deviceTypeName(type) : "unknown",
      driver: linkName(`${child}/driver`) ?? null,
    };
    interfaces.push(...listDir(`${child}/net`));
    disks.push(...listDir(`${child}/block`));
  }
  if (driver === null) return { address, driver, virtio, interfaces, disks, reasons, critical };
  if (HOLDING_DRIVERS.has(driver)) {
    const group = linkName(`${dir}/iommu_group`) ?? null;
    if (driver === "vfio-pci" && group !== null) {
      const pids = holders(view, `/dev/vfio/${group}`);
      if (pids.length) {
        reasons.push(`its VFIO group ${group} is open in process ${pids.join(", ")}`);
      }
    }
    for (const uio of listDir(`${dir}/uio`)) {
      const pids = holders(view, `/dev/${uio}`);
      if (pids.length) reasons.push(`${uio} is open in process ${pids.join(", ")}`);
    }
    return { address, driver, virtio, interfaces, disks, reasons, critical };
  }
  if (virtio === null) {
    reasons.push(`bound to ${driver}; cannot tell whether it is idle`);
    return { address, driver, virtio, interfaces, disks, reasons, critical };
  }
  // virtio-pci with no virtio driver on its child: nothing uses the device.
  if (virtio.driver === null) {
    return { address, driver, virtio, interfaces, disks, reasons, critical };
  }
  const child = `${dir}/${virtio.name}`;
  switch (virtio.type) {
    case "net":
      for (const iface of interfaces) {
        reasons.push(...netReasons(view, `${child}/net/${iface}`, iface));
      }
      break;
    case "blk":
      for (const disk of disks) {
        reasons.push(...diskReasons(view, `${child}/block/${disk}`, disk, critical));
      }
      break;
    case "9p": {
      const tag = readFile(`${child}/mount_tag`)?.replace(/\0/g, "").trim();
      if (tag && view.mounts.sources.has(tag)) reasons.push(`its 9p share "${tag}" is mounted`);
      if (tag && view.mounts.root.has(tag)) {
        critical.push(`its 9p share "${tag}" is the root filesystem`);
      }
      break;
    }
    case "rng": {
      const current = readFile(view.path("sys/class/misc/hw_random/rng_current"))?.trim() ?? "";
      if (current.startsWith("virtio_rng")) {
        // The hwrng name carries the driver's own index, not virtioN: with one virtio rng
        // bound it is this one; with several we cannot tell which, so each counts.
        const bound = listDir(view.path("sys/bus/virtio/drivers/virtio_rng"))
          .filter((n) => /^virtio\d+$/.test(n));
        reasons.push(
          bound.length <= 1
            ? `it is the current hardware RNG (${current})`
            : `it may be the current hardware RNG (${current}; ${bound.length} virtio rngs bound)`,
        );
      }
      break;
    }
    case "scsi": {
      // Disks behind the SCSI host: host*/target*/<h:c:t:l>/block/<sdX>.
      for (const host of listDir(child).filter((n) => n.startsWith("host"))) {
        for (const target of listDir(`${child}/${host}`).filter((n) => n.startsWith("target"))) {
          for (const lun of listDir(`${child}/${host}/${target}`).filter((n) => /:/.test(n))) {
            const blockDir = `${child}/${host}/${target}/${lun}/block`;
            for (const disk of listDir(blockDir)) {
              disks.push(disk);
              reasons.push(...diskReasons(view, `${blockDir}/${disk}`, disk, critical));
            }
          }
        }
      }
      reasons.push(`bound to ${virtio.driver}; cannot tell whether it is idle`);
      break;
    }
    default:
      reasons.push(`bound to ${virtio.driver}; cannot tell whether it is idle`);
  }
  return { address, driver, virtio, interfaces, disks, reasons, critical };
}
