// (helper, not a test) Fake BARs for the recorded host fixture: common config at 0, ISR at
// 0x2000 (reads forbidden), device config at 0x4000, like the host's devices (lspci -vv).
import { FakeBarRegion } from "../../testing/fake_config_space.ts";

export const FIXTURE_SYSFS = new URL("../fixtures/host/sys", import.meta.url).pathname;
export const NET_MAC = Deno.readTextFileSync(
  `${FIXTURE_SYSFS}/bus/pci/devices/0000:00:03.0/virtio2/net/eth0/address`,
).trim();
export const BLK_SECTORS = Number(
  Deno.readTextFileSync(`${FIXTURE_SYSFS}/bus/pci/devices/0000:00:02.0/virtio1/block/vda/size`),
);

/** A BAR0 for each fixture device, with plausible device config bytes. */
export function fixtureBar(address: string): FakeBarRegion {
  const bar = new FakeBarRegion(0x80000);
  bar.forbidden.add(0x2000);
  bar.set8(0x14, 0x0f).set8(0x15, 3); // device_status, config_generation
  const cfg = 0x4000;
  switch (address) {
    case "0000:00:03.0": // net: mac, status LINK_UP, 1 pair, mtu 1400
      bar.set16(0x12, 2);
      NET_MAC.split(":").forEach((h, i) => bar.set8(cfg + i, parseInt(h, 16)));
      bar.set16(cfg + 6, 1).set16(cfg + 8, 1).set16(cfg + 10, 1400);
      break;
    case "0000:00:02.0": // blk: capacity, seg_max, blk_size, topology, discard
      bar.set16(0x12, 1);
      bar.set64(cfg, BigInt(BLK_SECTORS)).set32(cfg + 12, 128).set32(cfg + 20, 512);
      bar.set8(cfg + 24, 3).set16(cfg + 26, 8).set32(cfg + 28, 0);
      bar.set32(cfg + 36, 0xffff).set32(cfg + 40, 1).set32(cfg + 44, 8);
      break;
    case "0000:00:01.0": // balloon
      bar.set16(0x12, 3);
      bar.set32(cfg, 256).set32(cfg + 4, 128);
      break;
    case "0000:00:04.0": // vsock
      bar.set16(0x12, 3);
      bar.set64(cfg, 3n);
      break;
    default:
      bar.set16(0x12, 1);
  }
  return bar;
}

/** An opener that hands out fixture BARs and remembers them for later assertions. */
export function fixtureOpener() {
  const opened: { address: string; bar: number; writable: boolean; region: FakeBarRegion }[] = [];
  const open = (address: string, bar: number, opts: { writable: boolean }) => {
    const region = fixtureBar(address);
    opened.push({ address, bar, writable: opts.writable, region });
    return region;
  };
  return { open, opened };
}
