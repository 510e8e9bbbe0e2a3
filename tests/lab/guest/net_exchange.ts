/**
 * Runs inside the lab guest: our driver on NIC `--dev` exchanges UDP datagrams with the
 * kernel's virtio-net driver on NIC `--peer` (both on QEMU's hub). Our frames must pass the
 * kernel's IP/UDP checks and arrive with byte-exact payloads at a kernel socket; datagrams the
 * kernel sends must reach our rx queue byte-exact. Prints one JSON line with what it saw.
 */
import { parseArgs } from "node:util";
import { VirtioPciDevice } from "../../../lib/driver/virtio_pci_device.ts";
import { VirtioNet } from "../../../lib/net/virtio_net.ts";
import { FrameWriter } from "../../../lib/pktgen/frame.ts";
import { fixedRange, parseIPv4, parseMac } from "../../../lib/pktgen/flows.ts";

const { values: a } = parseArgs({
  options: {
    dev: { type: "string" },
    peer: { type: "string" },
    access: { type: "string", default: "sysfs" },
    format: { type: "string", default: "auto" },
    count: { type: "string", default: "200" },
  },
});
const count = Number(a.count);
const sh = async (cmd: string) => {
  const out = await new Deno.Command("sh", { args: ["-c", cmd] }).output();
  if (!out.success) throw new Error(`${cmd}: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout).trim();
};
const ifname = (addr: string) => sh(`ls /sys/bus/pci/devices/${addr}/virtio*/net`);
const peerIf = await ifname(a.peer!);
const peerMac = await sh(`cat /sys/class/net/${peerIf}/address`);
const OUR_IP = "10.77.0.1", PEER_IP = "10.77.0.2", PORT = 9000;
await sh(`ip addr replace ${PEER_IP}/24 dev ${peerIf} && ip link set ${peerIf} up`);

// Each payload names its index, so a drop or a reordering cannot make others look wrong.
const payload = (i: number) => {
  const p = new Uint8Array(64 + (i % 200));
  for (let j = 4; j < p.length; j++) p[j] = (i + j * 13) & 0xff;
  new DataView(p.buffer).setUint32(0, i);
  return p;
};
const exactCount = (datagrams: Uint8Array[]) => {
  const seen = new Set<number>();
  for (const d of datagrams) {
    if (d.length < 4) continue;
    const i = new DataView(d.buffer, d.byteOffset).getUint32(0);
    const want = payload(i);
    if (i < count && d.length === want.length && d.every((b, j) => b === want[j])) seen.add(i);
  }
  return seen.size;
};
// Room for a burst in the kernel's socket buffers: we measure our driver, not the guest's.
await sh("sysctl -qw net.core.rmem_default=4194304 net.core.rmem_max=4194304");

const result: Record<string, unknown> = { peerIf };
{
  using dev = VirtioPciDevice.open(a.dev!, { access: a.access as "sysfs" | "vfio" });
  const net = VirtioNet.open(dev.transport, dev.dma, {
    format: a.format as "auto",
    requireAccessPlatform: dev.access === "vfio",
  });
  const ourMac = net.mac!;
  result.ourMac = ourMac;
  result.format = net.format;
  result.transport = dev.transport.kind;
  result.access = dev.access;
  await sh(`ip neigh replace ${OUR_IP} lladdr ${ourMac} dev ${peerIf} nud permanent`);
  const { rx, tx } = net.pairs[0]!;

  // 1. Our TX → kernel socket. The kernel drops frames with bad IP or UDP checksums.
  const sock = Deno.listenDatagram({ transport: "udp", hostname: PEER_IP, port: PORT });
  const got: Uint8Array[] = [];
  const receiving = (async () => {
    for (let i = 0; i < count; i++) {
      const [data] = await sock.receive();
      got.push(data);
    }
  })();
  const writer = new FrameWriter({
    ipVersion: 4,
    srcMac: fixedRange("mac", parseMac(ourMac)),
    dstMac: fixedRange("mac", parseMac(peerMac)),
    srcIp: fixedRange("ipv4", parseIPv4(OUR_IP)),
    dstIp: fixedRange("ipv4", parseIPv4(PEER_IP)),
    srcPort: fixedRange("port", 5555),
    dstPort: fixedRange("port", PORT),
    maxWireSize: 1518,
  });
  for (let i = 0; i < count; i++) {
    tx.reclaim();
    let slot = tx.nextSlot();
    while (slot < 0) {
      await new Promise((r) => setTimeout(r, 1));
      tx.reclaim();
      slot = tx.nextSlot();
    }
    const buf = tx.frames[slot]!;
    const p = payload(i);
    const wire = 14 + 20 + 8 + 18 + p.length + 4; // eth+ip+udp+payload header+data+FCS
    const len = writer.writeFull(buf, 0, wire, i, 0);
    buf.set(p, len - p.length); // our bytes after the generator's payload header
    // The UDP checksum covered the generator's fill bytes: clear it (0 = none, RFC 768).
    buf[14 + 20 + 6] = 0;
    buf[14 + 20 + 7] = 0;
    tx.send(slot, len);
    if (i % 16 === 15) tx.flush();
    if (i % 64 === 63) await new Promise((r) => setTimeout(r, 5));
  }
  tx.flush();
  const timeout = setTimeout(() => sock.close(), 5000);
  await receiving.catch(() => {});
  clearTimeout(timeout);
  try {
    sock.close();
  } catch { /* closed by the timeout */ }
  result.txSent = count;
  result.txDelivered = got.length;
  result.txExact = exactCount(got.map((g) => g.subarray(18))); // behind the generator header

  // 2. Kernel socket → our RX.
  const out = Deno.listenDatagram({ transport: "udp", hostname: PEER_IP, port: PORT + 1 });
  for (let i = 0; i < count; i++) {
    await out.send(payload(i), { transport: "udp", hostname: OUR_IP, port: PORT });
    if (i % 32 === 31) await new Promise((r) => setTimeout(r, 2));
  }
  out.close();
  const slots = new Uint32Array(256);
  let received = 0, other = 0;
  const ours: Uint8Array[] = [];
  const deadline = Date.now() + 5000;
  while (received < count && Date.now() < deadline) {
    const n = rx.poll(slots);
    for (let k = 0; k < n; k++) {
      const slot = slots[k]!;
      const f = rx.frames[slot]!.subarray(0, rx.frameLengths[slot]);
      const isOurs = f[12] === 0x08 && f[13] === 0x00 && f[23] === 17 &&
        ((f[36]! << 8) | f[37]!) === PORT;
      if (isOurs) {
        ours.push(f.slice(42, 42 + (((f[38]! << 8) | f[39]!) - 8)));
        received++;
      } else other++;
      rx.recycle(slot);
    }
    rx.flush();
    if (n === 0) await new Promise((r) => setTimeout(r, 1));
  }
  result.rxExpected = count;
  result.rxReceived = received;
  result.rxExact = exactCount(ours);
  result.rxOther = other;
  result.linkUp = net.linkUp();
}
result.driverAfter = await sh(`basename $(readlink /sys/bus/pci/devices/${a.dev}/driver)`);
console.log(JSON.stringify(result));
