/**
 * The kernel's view of a bound virtio device's facts, from sysfs alone (no device access):
 * what virtio_net and virtio_blk made of the device config — MAC, MTU, speed, queue counts,
 * capacity, block sizes, segment and discard limits; what virtio_input, virtio_pmem and
 * virtio_mem made of theirs — input name and ids, the pmem region, hot-added memory blocks.
 * On a real VM this is what a user can always see, and what `--pci-cfg` can compare with
 * the device's own config.
 *
 * @module
 */
import { readText } from "../pci/sysfs.ts";
import { listDir, readFile } from "../sys/files.ts";

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

/** An input device below `<virtioDir>/input/<inputN>`: its name, serial (uniq) and ids. */
function inputView(dir: string, input: string): KernelView {
  const out: KernelFields = {};
  put(out, "name", readText(`${dir}/name`));
  const uniq = readText(`${dir}/uniq`);
  if (uniq) out.serial = uniq;
  // The ids are hex without 0x in sysfs; numbers here, as the device config's ids (§5.8.4).
  for (const id of ["bustype", "vendor", "product", "version"]) {
    const text = readText(`${dir}/id/${id}`);
    if (text !== undefined && /^[0-9a-fA-F]{1,4}$/.test(text)) out[id] = parseInt(text, 16);
  }
  return { source: "sysfs", name: input, fields: out };
}

/**
 * A pmem region below `<virtioDir>/ndbusN/regionM` (libnvdimm): its start (hex, as the
 * device config's), size, read-only flag, and the first namespace with its block device.
 */
function pmemView(dir: string, region: string): KernelView {
  const out: KernelFields = {};
  const start = readText(`${dir}/resource`);
  if (start !== undefined && /^0x[0-9a-fA-F]{1,16}$/.test(start)) {
    out.start = "0x" + BigInt(start).toString(16);
  }
  put(out, "size", int(readText(`${dir}/size`)));
  const ro = int(readText(`${dir}/read_only`));
  if (ro !== undefined) out.read_only = ro !== 0;
  const ns = listDir(dir).find((n) => /^namespace\d+\.\d+$/.test(n));
  if (ns) {
    out.namespace = ns;
    put(out, "namespace_size", int(readText(`${dir}/${ns}/size`)));
    put(out, "namespace_mode", readText(`${dir}/${ns}/mode`));
    const [blockdev] = listDir(`${dir}/${ns}/block`);
    if (blockdev) out.blockdev = blockdev;
  }
  return { source: "sysfs", name: region, fields: out };
}

/**
 * The memory blocks the kernel added inside a virtio-mem device's region (`addr`, `size`
 * from its config): sysfs names no owner for a block, so the region decides. Each block is
 * `block_size_bytes` long; `online` ones are in use. Undefined when sysfs has no memory tree.
 */
export function memoryBlocksView(
  sysfsRoot: string,
  addr: bigint,
  size: bigint,
): KernelView | undefined {
  const dir = `${sysfsRoot}/devices/system/memory`;
  const bsText = readText(`${dir}/block_size_bytes`);
  if (bsText === undefined || !/^[0-9a-fA-F]{1,16}$/.test(bsText)) return undefined;
  const bs = BigInt("0x" + bsText);
  if (bs === 0n) return undefined;
  let blocks = 0, online = 0;
  for (const m of listDir(dir).filter((n) => /^memory\d+$/.test(n))) {
    const index = readText(`${dir}/${m}/phys_index`);
    if (index === undefined || !/^[0-9a-fA-F]{1,16}$/.test(index)) continue;
    const start = BigInt("0x" + index) * bs;
    if (start < addr || start + bs > addr + size) continue;
    blocks++;
    if (readText(`${dir}/${m}/state`) === "online") online++;
  }
  return {
    source: "sysfs",
    name: "memory",
    fields: {
      memory_block_bytes: Number(bs),
      blocks,
      online_blocks: online,
      bytes: Number(BigInt(blocks) * bs),
    },
  };
}

/**
 * The kernel's facts for the virtio device at `virtioDir` (`.../virtioN`): one view per
 * network interface, disk, input device or pmem region, a 9p mount tag, console ports. Empty
 * when the kernel shows none.
 */
export function readKernelView(virtioDir: string): KernelView[] {
  const views: KernelView[] = [];
  for (const ifname of listDir(`${virtioDir}/net`)) {
    views.push(netView(`${virtioDir}/net/${ifname}`, ifname));
  }
  for (const disk of listDir(`${virtioDir}/block`)) {
    views.push(blkView(`${virtioDir}/block/${disk}`, disk));
  }
  for (const input of listDir(`${virtioDir}/input`).filter((n) => /^input\d+$/.test(n))) {
    views.push(inputView(`${virtioDir}/input/${input}`, input));
  }
  for (const bus of listDir(virtioDir).filter((n) => /^ndbus\d+$/.test(n))) {
    for (const region of listDir(`${virtioDir}/${bus}`).filter((n) => /^region\d+$/.test(n))) {
      views.push(pmemView(`${virtioDir}/${bus}/${region}`, region));
    }
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

/** The most feature bits a kernel's debugfs lists (VIRTIO_FEATURES_MAX in newer kernels). */
const DEBUGFS_MAX_FEATURE_BIT = 128;

/**
 * A device's offered features as the kernel lists them in debugfs
 * `virtio/<virtioN>/device_features` (CONFIG_VIRTIO_DEBUG): one decimal bit number per line.
 * `bits` is undefined when the file is absent or unreadable (older kernels, no debugfs, not
 * root); `problem` says why a present file was not trusted (it is then not used at all).
 */
export function readDebugfsFeatures(path: string): { bits?: bigint; problem?: string } {
  const text = readFile(path);
  if (text === undefined) return {};
  let bits = 0n;
  for (const line of text.split("\n").map((l) => l.trim()).filter((l) => l !== "")) {
    const bit = /^\d{1,3}$/.test(line) ? Number(line) : NaN;
    if (!(bit < DEBUGFS_MAX_FEATURE_BIT)) {
      return { problem: `${path}: '${line.slice(0, 40)}' is not a feature bit number: not used` };
    }
    bits |= 1n << BigInt(bit);
  }
  return { bits };
}
