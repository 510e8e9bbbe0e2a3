/**
 * The lab's devices. Every device has a fixed PCI slot on q35's root bus, so a test or a
 * user knows its address (`0000:00:SS.0`) whatever set it came in. Sets are named lists of
 * devices; several sets can be combined.
 *
 * Over 400 lines because most of it is the device table itself: one entry per device, data
 * rather than logic.
 *
 * @module
 */

/** A device QEMU is given, and what the guest should see of it. */
export interface LabDevice {
  /** Short name, e.g. "net-modern". */
  readonly name: string;
  /** PCI slot on bus 0 (address 0000:00:<slot>.0). */
  readonly slot: number;
  /** QEMU arguments that create it (and its backend). `{addr}` is filled in. */
  readonly args: readonly string[];
  /** PCI device id the guest should see (vendor 0x1af4). */
  readonly pciDeviceId: number;
  /** Virtio device type (§5). */
  readonly virtioType: number;
  /** Kernel modules the guest loads so the kernel driver binds it. */
  readonly modules: readonly string[];
  /** Facts QEMU was given, for tests to compare with what the guest reports. */
  readonly given: Readonly<Record<string, string | number | boolean>>;
  /** Needs the vIOMMU (q35 intel-iommu) present. */
  readonly needsIommu?: boolean;
  /**
   * The backend is a multiqueue tap (`ifname`, `queues` queue pairs) that the lab creates in
   * a network namespace of its own, as a port of one bridge there: every tap NIC receives
   * what the others send, through the host kernel's bridge.
   */
  readonly tap?: { readonly ifname: string; readonly queues: number };
  /**
   * A raw disk image the lab creates (sparse, zero-filled, `bytes` long) in the run's
   * directory for this device, removed with it; `{disk}` in `args` is its path. For
   * block tests that write and read back (QEMU's null-co backend discards writes), or a
   * pmem device's backing file.
   */
  readonly disk?: { readonly bytes: number };
  /**
   * Guest-physical device memory the device takes, in MiB (virtio-pmem, virtio-mem): the lab
   * then gives QEMU `maxmem` room for it above the guest's RAM.
   */
  readonly deviceMemoryMiB?: number;
  /**
   * Host files QEMU needs for the device (e.g. `/dev/vhost-vsock`): the lab refuses to boot
   * without them, naming what is missing, instead of leaving it to a QEMU error.
   */
  readonly hostNeeds?: readonly string[];
}

/** "0000:00:SS.0" for a slot. */
export function pciAddress(slot: number): string {
  return `0000:00:${slot.toString(16).padStart(2, "0")}.0`;
}

function mac(slot: number): string {
  return `52:54:00:12:34:${slot.toString(16).padStart(2, "0")}`;
}

/** A NIC on hub 0: every NIC on the hub receives what the others send (QEMU `hubport`). */
function nic(
  name: string,
  slot: number,
  options: string,
  pciDeviceId: number,
  extra: Record<string, string | number | boolean> = {},
): LabDevice {
  const id = `hp${slot}`;
  return {
    name,
    slot,
    args: [
      "-netdev",
      `hubport,id=${id},hubid=0`,
      "-device",
      `virtio-net-pci,netdev=${id},mac=${mac(slot)},addr=${slot.toString(16)}${options}`,
    ],
    pciDeviceId,
    virtioType: 1,
    modules: ["virtio_net"],
    given: { mac: mac(slot), ...extra },
  };
}

/** How many queue pairs a lab multiqueue NIC has. */
export const MQ_QUEUE_PAIRS = 4;

/**
 * A modern NIC with {@link MQ_QUEUE_PAIRS} queue pairs on a multiqueue tap (QEMU's hub ports
 * have one queue, so MQ needs a real backend). QEMU's own virtio-net serves the queues
 * (`vhost=off`: our hosts have no vhost-net); the tap spreads what it delivers over its
 * queues by flow hash.
 */
function mqNic(name: string, slot: number): LabDevice {
  const id = `hp${slot}`;
  const ifname = `vlt${slot.toString(16)}`;
  const q = MQ_QUEUE_PAIRS;
  return {
    name,
    slot,
    args: [
      "-netdev",
      `tap,id=${id},ifname=${ifname},script=no,downscript=no,queues=${q},vhost=off`,
      "-device",
      `virtio-net-pci,netdev=${id},mac=${mac(slot)},addr=${slot.toString(16)}` +
      `,disable-legacy=on,mq=on,vectors=${2 * q + 2}`,
    ],
    pciDeviceId: 0x1041,
    virtioType: 1,
    modules: ["virtio_net"],
    given: { mac: mac(slot), maxQueuePairs: q },
    tap: { ifname, queues: q },
  };
}

/** Slots 0x02 and 0x03 carry the lab's own 9p shares (the guest's root and results). */
export const LAB_ROOT_SLOT = 0x02;
export const LAB_SHARE_SLOT = 0x03;

/** Every device the lab knows, by name. */
/** A virtio-blk device on a file-backed raw image (`{disk}`); writes persist for the run. */
function dataDisk(
  name: string,
  slot: number,
  options: string,
  pciDeviceId: number,
  given: Record<string, string | number | boolean>,
  drive = "",
): LabDevice {
  const id = `disk${slot.toString(16)}`;
  const bytes = 96 * 1024 * 1024;
  return {
    name,
    slot,
    args: [
      "-drive",
      `file={disk},format=raw,if=none,id=${id},cache=unsafe,discard=unmap${drive}`,
      "-device",
      `virtio-blk-pci,drive=${id},addr=${slot.toString(16)},serial=${name}${options}`,
    ],
    pciDeviceId,
    virtioType: 2,
    // ext4 (and the crc32c it checksums with) so a test can mount a filesystem on it.
    modules: ["virtio_blk", "ext4", "crc32c_generic"],
    given: { capacityBytes: bytes, serial: name, ...given },
    disk: { bytes },
  };
}

export const DEVICES: Readonly<Record<string, LabDevice>> = Object.fromEntries(
  [
    nic("net-modern", 0x04, ",disable-legacy=on,mq=on,vectors=6,host_mtu=1500", 0x1041, {
      mtu: 1500,
      // mq=on makes the device offer MQ, but a hub port is a single-queue backend: QEMU
      // sizes max_virtqueue_pairs by the backend, so the guest sees 1.
      maxQueuePairs: 1,
    }),
    nic("net-legacy", 0x05, ",disable-modern=on", 0x1000),
    nic("net-packed", 0x06, ",disable-legacy=on,packed=on", 0x1041, { packed: true }),
    nic("net-peer", 0x07, ",disable-legacy=on", 0x1041),
    nic("net-noevent", 0x08, ",disable-legacy=on,event_idx=off", 0x1041, { eventIdx: false }),
    {
      ...nic(
        "net-vfio",
        0x09,
        ",disable-legacy=on,iommu_platform=on,ats=on",
        0x1041,
        { accessPlatform: true },
      ),
      needsIommu: true,
    },
    {
      ...nic(
        "net-vfio-packed",
        0x11,
        ",disable-legacy=on,iommu_platform=on,ats=on,packed=on",
        0x1041,
        { accessPlatform: true, packed: true },
      ),
      needsIommu: true,
    },
    mqNic("net-mq-a", 0x12),
    mqNic("net-mq-b", 0x13),
    nic("net-speed", 0x14, ",disable-legacy=on,speed=10000,duplex=full,host_mtu=9000", 0x1041, {
      speedMbps: 10000,
      duplex: "full",
      mtu: 9000,
    }),
    {
      name: "blk-4k",
      slot: 0x15,
      args: [
        "-blockdev",
        "driver=null-co,node-name=null4k,size=16777216,read-zeroes=on",
        "-device",
        "virtio-blk-pci,drive=null4k,addr=15,disable-legacy=on,logical_block_size=4096," +
        "physical_block_size=4096,discard=on,num-queues=2",
      ],
      pciDeviceId: 0x1042,
      virtioType: 2,
      modules: ["virtio_blk"],
      given: { capacityBytes: 16777216, blockSize: 4096, numQueues: 2 },
    },
    {
      name: "crypto",
      slot: 0x16,
      args: [
        "-object",
        "cryptodev-backend-builtin,id=crypto0",
        "-device",
        "virtio-crypto-pci,cryptodev=crypto0,addr=16,disable-legacy=on",
      ],
      pciDeviceId: 0x1054,
      virtioType: 20,
      modules: ["virtio_crypto"],
      given: { maxDataQueues: 1 },
    },
    {
      name: "blk",
      slot: 0x0a,
      args: [
        "-blockdev",
        "driver=null-co,node-name=nullblk,size=67108864,read-zeroes=on",
        "-device",
        "virtio-blk-pci,drive=nullblk,addr=a,disable-legacy=on,serial=labdisk0,num-queues=2",
      ],
      pciDeviceId: 0x1042,
      virtioType: 2,
      modules: ["virtio_blk"],
      given: { capacityBytes: 67108864, serial: "labdisk0", numQueues: 2 },
    },
    {
      name: "rng",
      slot: 0x0b,
      args: ["-device", "virtio-rng-pci,addr=b"],
      pciDeviceId: 0x1005,
      virtioType: 4,
      modules: ["virtio_rng"],
      given: {},
    },
    {
      name: "scsi",
      slot: 0x0c,
      args: ["-device", "virtio-scsi-pci,addr=c,disable-legacy=on,num_queues=2"],
      pciDeviceId: 0x1048,
      virtioType: 8,
      modules: ["virtio_scsi"],
      given: { numQueues: 2 },
    },
    {
      name: "serial",
      slot: 0x0d,
      args: ["-device", "virtio-serial-pci,addr=d,disable-legacy=on,max_ports=4"],
      pciDeviceId: 0x1043,
      virtioType: 3,
      modules: ["virtio_console"],
      given: { maxPorts: 4 },
    },
    {
      name: "balloon",
      slot: 0x0e,
      args: ["-device", "virtio-balloon-pci,addr=e,disable-legacy=on"],
      pciDeviceId: 0x1045,
      virtioType: 5,
      modules: ["virtio_balloon"],
      given: {},
    },
    {
      name: "gpu",
      slot: 0x0f,
      args: ["-device", "virtio-gpu-pci,addr=f,max_outputs=1"],
      pciDeviceId: 0x1050,
      virtioType: 16,
      modules: [],
      given: { maxOutputs: 1 },
    },
    {
      name: "input",
      slot: 0x10,
      args: ["-device", "virtio-keyboard-pci,addr=10"],
      pciDeviceId: 0x1052,
      virtioType: 18,
      modules: ["virtio_input"],
      given: {},
    },
    dataDisk("blk-data", 0x17, ",disable-legacy=on,num-queues=4", 0x1042, { numQueues: 4 }),
    dataDisk("blk-data-legacy", 0x18, ",disable-modern=on", 0x1001, { legacy: true }),
    dataDisk("blk-data-packed", 0x19, ",disable-legacy=on,packed=on", 0x1042, { packed: true }),
    dataDisk("blk-ro", 0x1a, ",disable-legacy=on", 0x1042, { readOnly: true }, ",readonly=on"),
    {
      name: "iommu",
      slot: 0x1b,
      args: ["-device", "virtio-iommu-pci,addr=1b,id=lab-iommu,boot-bypass=on"],
      pciDeviceId: 0x1057,
      virtioType: 23,
      // Debian 12's 6.1 kernel has no CONFIG_VIRTIO_IOMMU: the device stays driverless, and
      // boot-bypass keeps the other devices' DMA untranslated. Not for use with needsIommu.
      modules: [],
      // bypass is what we asked; the others are QEMU 7.2's fixed x86 values: the target page
      // mask (4 KiB pages), the whole 64-bit input range, 32-bit domain ids, 512-byte probe.
      given: { bypass: true, pageSizeMask: "0xfffffffffffff000", probeSize: 512 },
    },
    {
      name: "tablet",
      slot: 0x1c,
      args: ["-device", "virtio-tablet-pci,addr=1c,serial=labtablet0"],
      pciDeviceId: 0x1052,
      virtioType: 18,
      modules: ["virtio_input"],
      given: { name: "QEMU Virtio Tablet", serial: "labtablet0" },
    },
    {
      // Before pmem in slot order, so QEMU places it first, at the 1 GiB-aligned start of
      // device memory: the kernel adds it in 128 MiB memory blocks, which want that alignment.
      name: "mem",
      slot: 0x1d,
      args: [
        "-object",
        "memory-backend-ram,id=lab-mem-ram,size=512M",
        "-device",
        "virtio-mem-pci,memdev=lab-mem-ram,id=lab-mem,addr=1d,block-size=2M,requested-size=128M",
      ],
      pciDeviceId: 0x1058,
      virtioType: 24,
      modules: ["virtio_mem"],
      given: {
        regionSize: 512 * 1024 * 1024,
        blockSize: 2 * 1024 * 1024,
        requestedSize: 128 * 1024 * 1024,
        node: 0,
      },
      deviceMemoryMiB: 512,
    },
    {
      name: "pmem",
      slot: 0x1e,
      args: [
        "-object",
        "memory-backend-file,id=lab-pmem-file,share=on,mem-path={disk},size=64M",
        "-device",
        "virtio-pmem-pci,memdev=lab-pmem-file,id=lab-pmem,addr=1e",
      ],
      pciDeviceId: 0x105b,
      virtioType: 27,
      // nd_pmem turns the region's namespace into /dev/pmem0.
      modules: ["virtio_pmem", "nd_pmem"],
      given: { sizeBytes: 64 * 1024 * 1024 },
      disk: { bytes: 64 * 1024 * 1024 },
      deviceMemoryMiB: 64,
    },
    {
      // vhost-vsock: QEMU needs the host kernel's vhost_vsock (/dev/vhost-vsock).
      name: "vsock",
      slot: 0x01,
      args: ["-device", "vhost-vsock-pci,addr=1,guest-cid=3,id=lab-vsock"],
      pciDeviceId: 0x1053,
      virtioType: 19,
      modules: ["vmw_vsock_virtio_transport"],
      given: { guestCid: 3 },
      hostNeeds: ["/dev/vhost-vsock"],
    },
  ].map((d) => [d.name, d]),
);

/** Named sets. A set name can also be a single device name. */
export const DEVICE_SETS: Readonly<Record<string, readonly string[]>> = {
  default: ["net-modern", "net-legacy", "net-packed", "net-peer", "blk", "rng"],
  net: ["net-modern", "net-legacy", "net-packed", "net-peer"],
  "net-pair": ["net-modern", "net-peer"],
  probe: [
    "net-modern",
    "net-legacy",
    "net-packed",
    "blk",
    "rng",
    "scsi",
    "serial",
    "balloon",
    "gpu",
    "input",
  ],
  "probe-extra": ["net-speed", "blk-4k", "crypto"],
  "probe-mem": ["iommu", "tablet", "mem", "pmem"],
  vfio: ["net-vfio", "net-vfio-packed", "net-peer"],
  mq: ["net-mq-a", "net-mq-b"],
  "blk-data": ["blk-data", "blk-data-legacy", "blk-data-packed", "blk-ro"],
  none: [],
};

/** Resolves "probe,net-vfio" style specs into a list of devices, each once, in slot order. */
export function resolveDevices(spec: string): LabDevice[] {
  const names = new Set<string>();
  for (const part of spec.split(",").map((s) => s.trim()).filter(Boolean)) {
    const set = DEVICE_SETS[part];
    if (set) set.forEach((n) => names.add(n));
    else if (DEVICES[part]) names.add(part);
    else {
      const known = [...Object.keys(DEVICE_SETS), ...Object.keys(DEVICES)].join(", ");
      throw new Error(`unknown lab device or set '${part}' (known: ${known})`);
    }
  }
  return [...names].map((n) => DEVICES[n]!).sort((a, b) => a.slot - b.slot);
}

/** What `devices` need of the host that it lacks, as "device: file" (empty: nothing missing). */
export function missingHostNeeds(
  devices: readonly LabDevice[],
  exists: (path: string) => boolean,
): string[] {
  return devices.flatMap((d) =>
    (d.hostNeeds ?? []).filter((p) => !exists(p)).map((p) => `${d.name}: ${p}`)
  );
}
