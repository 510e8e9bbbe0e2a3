/**
 * The kernel's view of a bound virtio device's facts, from sysfs alone (no device access):
 * what virtio_net and virtio_blk made of the device config — MAC, MTU, speed, queue counts,
 * capacity, block sizes, segment and discard limits. On a real VM this is what a user can
 * always see, and what `--pci-cfg` can compare with the device's own config.
 *
 * @module
 */
import { readText } from "../pci/sysfs.ts";
import { listDir } from "../sys/files.ts";

/** Facts by name, as the kernel reports them. */
export type KernelFields = Record<string, string | number | boolean>;

/** What the kernel made of the device, labelled with its source. */
export interface KernelView {
  /** Always "sysfs". */
  readonly source: "sysfs";
  /** The kernel object the facts belong to (eth0, vda, a 9p tag, ...). */
  readonly name: string;
  /** The facts. */
  readonly fields: KernelFields;
}

const int = (text: string | undefined): number | undefined =>
  text !== undefined && /^-?\d+$/.test(text) ? Number(text) : undefined;

function put(out: KernelFields, key: string, value: string | number | boolean | undefined) {
  if (value !== undefined) out[key] = value;
}

/** Network interface facts below `<virtioDir>/net/<ifname>`. */
function netView(dir: string, ifname: string): KernelView {
  const at = (f: string) => readText(`${dir}/${f}`);
  const out: KernelFields = {};
  put(out, "mac", at("address"));
  put(out, "mtu", int(at("mtu")));
  // speed reads -1 (or fails) when the device offers no SPEED_DUPLEX or the link is down.
  const speed = int(at("speed"));
  if (speed !== undefined && speed >= 0) out.speed_mbps = speed;
  const duplex = at("duplex");
  if (duplex !== undefined && duplex !== "unknown") out.duplex = duplex;
  put(out, "operstate", at("operstate"));
  const queues = listDir(`${dir}/queues`);
  if (queues.length) {
    out.rx_queues = queues.filter((q) => q.startsWith("rx-")).length;
    out.tx_queues = queues.filter((q) => q.startsWith("tx-")).length;
  }
  return { source: "sysfs", name: ifname, fields: out };
}

/** Block device facts below `<virtioDir>/block/<disk>` (queue limits as the kernel set them). */
function blkView(dir: string, disk: string): KernelView {
  const at = (f: string) => int(readText(`${dir}/${f}`));
  const out: KernelFields = {};
  const sectors = at("size");
  if (sectors !== undefined) {
    out.capacity_sectors = sectors; // always 512-byte units in sysfs
    out.capacity_bytes = sectors * 512;
  }
  const ro = at("ro");
  if (ro !== undefined) out.read_only = ro !== 0;
  for (
    const f of [
      "logical_block_size",
      "physical_block_size",
      "minimum_io_size",
      "optimal_io_size",
      "max_segments",
      "max_segment_size",
      "max_hw_sectors_kb",
      "max_discard_segments",
      "discard_granularity",
      "discard_max_hw_bytes",
      "write_zeroes_max_bytes",
    ]
  ) put(out, f, at(`queue/${f}`));
  const wc = readText(`${dir}/queue/write_cache`);
  if (wc !== undefined) out.write_cache = wc;
  const mq = listDir(`${dir}/mq`);
  if (mq.length) out.queues = mq.length;
  return { source: "sysfs", name: disk, fields: out };
}

/**
 * The kernel's facts for the virtio device at `virtioDir` (`.../virtioN`): one view per
 * network interface or disk, a 9p mount tag, console ports. Empty when the kernel shows none.
 */
export function readKernelView(virtioDir: string): KernelView[] {
  const views: KernelView[] = [];
  for (const ifname of listDir(`${virtioDir}/net`)) {
    views.push(netView(`${virtioDir}/net/${ifname}`, ifname));
  }
  for (const disk of listDir(`${virtioDir}/block`)) {
    views.push(blkView(`${virtioDir}/block/${disk}`, disk));
  }
  const tag = readText(`${virtioDir}/mount_tag`)?.replace(/\0+$/, "");
  if (tag !== undefined) views.push({ source: "sysfs", name: tag, fields: { mount_tag: tag } });
  const ports = listDir(`${virtioDir}/virtio-ports`);
  if (ports.length) {
    const names = ports.map((p) => readText(`${virtioDir}/virtio-ports/${p}/name`) ?? "")
      .filter((n) => n !== "");
    views.push({
      source: "sysfs",
      name: "ports",
      fields: { ports: ports.length, ...(names.length ? { port_names: names.join(",") } : {}) },
    });
  }
  return views;
}
