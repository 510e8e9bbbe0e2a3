/**
 * virtio-net checks (VIRTIO 1.2 §5.1): configuration fields in range and stable, read-only
 * for a 1.x driver, and control-queue commands acknowledged.
 *
 * @module
 */
import { type Check, expect, hex } from "../check.ts";
import type { RawConfig } from "../../virtio/transport.ts";
import { type ConformContext, deviceCfg, needsFeature, platformFeatures } from "../context.ts";
import { exchange, startSession } from "../session.ts";
import {
  VIRTIO_NET_F_CTRL_MAC_ADDR,
  VIRTIO_NET_F_CTRL_RX,
  VIRTIO_NET_F_CTRL_RX_EXTRA,
  VIRTIO_NET_F_CTRL_VLAN,
  VIRTIO_NET_F_CTRL_VQ,
  VIRTIO_NET_F_HASH_REPORT,
  VIRTIO_NET_F_MAC,
  VIRTIO_NET_F_MQ,
  VIRTIO_NET_F_MTU,
  VIRTIO_NET_F_RSS,
  VIRTIO_NET_F_SPEED_DUPLEX,
} from "../../virtio/features.ts";
import { STATUS_ACKNOWLEDGE, STATUS_DRIVER, VIRTIO_F_VERSION_1 } from "../../virtio/constants.ts";
import { CTRL } from "../../net/control.ts";

/** virtio_net_config offsets (§5.1.4). */
const CFG = {
  mac: 0,
  status: 6,
  pairs: 8,
  mtu: 10,
  speed: 12,
  duplex: 16,
  keySize: 17,
  tableLen: 18,
};

const isNet = (ctx: ConformContext) => ctx.deviceType === 1 ? true : "not a network device";
const netWith = (...need: [bigint, string][]) => (ctx: ConformContext) => {
  const n = isNet(ctx);
  if (n !== true) return n;
  for (const [bit, name] of need) {
    const a = needsFeature(ctx, bit, name);
    if (a !== true) return a;
  }
  return true;
};
const read = <T>(ctx: ConformContext, f: (c: RawConfig) => T): T =>
  ctx.transport.deviceConfig.consistent(f);
const mac = (ctx: ConformContext) =>
  read(
    ctx,
    (c) =>
      Array.from({ length: 6 }, (_, i) => c.read8(CFG.mac + i)).map((b) =>
        b.toString(16).padStart(2, "0")
      ).join(":"),
  );

/** Sends one control command; returns the ack byte. */
function control(
  ctx: ConformContext,
  want: bigint,
  cls: number,
  cmd: number,
  data: number[],
): number {
  const pairs = (want >> VIRTIO_NET_F_MQ) & 1n ? read(ctx, (c) => c.read16(CFG.pairs)) : 1;
  const ctrl = 2 * pairs;
  const s = startSession(ctx, { queues: [ctrl], want });
  const [u] = exchange(ctx, s.queue(ctrl), [{
    out: [new Uint8Array([cls, cmd, ...data])],
    inLens: [1],
  }]);
  return u!.in[0]![0]!;
}

/** A control command the device MUST support once its feature is negotiated (§5.1.6.5). */
interface CtrlCommand {
  readonly id: string;
  readonly section: string;
  readonly name: string;
  readonly feature: [bigint, string];
  readonly cls: number;
  readonly cmd: number;
  readonly data: (ctx: ConformContext) => number[];
}

const CTRL_COMMANDS: readonly CtrlCommand[] = [
  ...(["ALLMULTI", "ALLUNI", "NOMULTI", "NOUNI", "NOBCAST"] as const).map((name, i) => ({
    id: `net.ctrl.rx-${name.toLowerCase()}`,
    section: "5.1.6.5.1",
    name: `RX_${name}`,
    feature: (i === 0 ? [VIRTIO_NET_F_CTRL_RX, "CTRL_RX"] : [
      VIRTIO_NET_F_CTRL_RX_EXTRA,
      "CTRL_RX_EXTRA",
    ]) as [bigint, string],
    cls: CTRL.RX,
    cmd: i + 1,
    data: () => [1],
  })),
  {
    id: "net.ctrl.mac-table-set",
    section: "5.1.6.5.2",
    name: "MAC_TABLE_SET (two empty tables)",
    feature: [VIRTIO_NET_F_CTRL_RX, "CTRL_RX"],
    cls: CTRL.MAC,
    cmd: CTRL.MAC_TABLE_SET,
    data: () => [0, 0, 0, 0, 0, 0, 0, 0],
  },
  {
    id: "net.ctrl.mac-addr-set",
    section: "5.1.6.5.2",
    name: "MAC_ADDR_SET (to the current mac)",
    feature: [VIRTIO_NET_F_CTRL_MAC_ADDR, "CTRL_MAC_ADDR"],
    cls: CTRL.MAC,
    cmd: CTRL.MAC_ADDR_SET,
    data: (ctx) => mac(ctx).split(":").map((b) => parseInt(b, 16)),
  },
  {
    id: "net.ctrl.vlan-add",
    section: "5.1.6.5.3",
    name: "VLAN_ADD (vid 100)",
    feature: [VIRTIO_NET_F_CTRL_VLAN, "CTRL_VLAN"],
    cls: 2,
    cmd: 0,
    data: () => [100, 0],
  },
  {
    id: "net.ctrl.vlan-del",
    section: "5.1.6.5.3",
    name: "VLAN_DEL (vid 100)",
    feature: [VIRTIO_NET_F_CTRL_VLAN, "CTRL_VLAN"],
    cls: 2,
    cmd: 1,
    data: () => [100, 0],
  },
];

function commandCheck(c: CtrlCommand): Check {
  return {
    id: c.id,
    section: c.section,
    requirement: `with ${c.feature[1]} negotiated, the device supports ${c.name}: acknowledged OK`,
    applies: netWith([VIRTIO_NET_F_CTRL_VQ, "CTRL_VQ"], c.feature),
    run: (ctx) => {
      const want = (1n << VIRTIO_NET_F_CTRL_VQ) | (1n << VIRTIO_NET_F_CTRL_RX) |
        (1n << c.feature[0]);
      const ack = control(ctx, want, c.cls, c.cmd, c.data(ctx));
      return expect(ack === 0, `ack ${ack}`, "0 (VIRTIO_NET_OK)");
    },
  };
}

export const NET_CHECKS: readonly Check[] = [
  {
    id: "net.mac.stable",
    section: "5.1.4",
    requirement: "with MAC offered, mac reads the same address every time, across a reset too",
    applies: netWith([VIRTIO_NET_F_MAC, "MAC"]),
    run: (ctx) => {
      const a = mac(ctx), b = mac(ctx);
      ctx.transport.reset();
      const c = mac(ctx);
      return expect(a === b && b === c, `${a}, ${b}, ${c}`, "one address");
    },
  },
  {
    id: "net.mtu.range",
    section: "5.1.4.1",
    requirement: "with MTU offered, mtu is between 68 and 65535",
    applies: netWith([VIRTIO_NET_F_MTU, "MTU"]),
    run: (ctx) => {
      const m = read(ctx, (c) => c.read16(CFG.mtu));
      return expect(m >= 68, String(m), "68..65535");
    },
  },
  {
    id: "net.mtu.ipv6-minimum",
    section: "5.1.4.1",
    requirement: "with MTU offered, mtu is at least 1280, the IPv6 minimum (a SHOULD)",
    applies: netWith([VIRTIO_NET_F_MTU, "MTU"]),
    run: (ctx) => {
      const m = read(ctx, (c) => c.read16(CFG.mtu));
      return expect(m >= 1280, String(m), ">= 1280");
    },
  },
  {
    id: "net.mq.pairs-range",
    section: "5.1.4.1",
    requirement: "with MQ offered, max_virtqueue_pairs is between 1 and 0x8000",
    applies: netWith([VIRTIO_NET_F_MQ, "MQ"]),
    run: (ctx) => {
      const p = read(ctx, (c) => c.read16(CFG.pairs));
      return expect(p >= 1 && p <= 0x8000, String(p), "1..0x8000");
    },
  },
  {
    id: "net.speed.range",
    section: "5.1.4.1",
    requirement: "with SPEED_DUPLEX, speed is 0..0x7fffffff Mbit/s or 0xffffffff (unknown)",
    applies: netWith([VIRTIO_NET_F_SPEED_DUPLEX, "SPEED_DUPLEX"]),
    run: (ctx) => {
      const s = read(ctx, (c) => c.read32(CFG.speed));
      return expect(s <= 0x7fffffff || s === 0xffffffff, hex(s), "<= 0x7fffffff or 0xffffffff");
    },
  },
  {
    id: "net.duplex.values",
    section: "5.1.4.1",
    requirement: "with SPEED_DUPLEX, duplex is 0x00 (full), 0x01 (half) or 0xff (unknown)",
    applies: netWith([VIRTIO_NET_F_SPEED_DUPLEX, "SPEED_DUPLEX"]),
    run: (ctx) => {
      const d = read(ctx, (c) => c.read8(CFG.duplex));
      return expect(d === 0 || d === 1 || d === 0xff, hex(d), "0x0, 0x1 or 0xff");
    },
  },
  {
    id: "net.rss.key-size",
    section: "5.1.4.1",
    requirement: "with RSS or HASH_REPORT offered, rss_max_key_size is at least 40",
    applies: (ctx) => {
      const n = isNet(ctx);
      if (n !== true) return n;
      const f = ctx.transport.deviceFeatures();
      return ((f >> VIRTIO_NET_F_RSS) | (f >> VIRTIO_NET_F_HASH_REPORT)) & 1n
        ? true
        : "neither RSS nor HASH_REPORT offered";
    },
    run: (ctx) => {
      const k = read(ctx, (c) => c.read8(CFG.keySize));
      return expect(k >= 40, String(k), ">= 40");
    },
  },
  {
    id: "net.rss.table-length",
    section: "5.1.4.1",
    requirement: "with RSS offered, rss_max_indirection_table_length is at least 128",
    applies: netWith([VIRTIO_NET_F_RSS, "RSS"]),
    run: (ctx) => {
      const t = read(ctx, (c) => c.read16(CFG.tableLen));
      return expect(t >= 128, String(t), ">= 128");
    },
  },
  {
    id: "net.config.read-only",
    section: "5.1.4",
    requirement:
      "with VERSION_1 negotiated, a driver write to mac does not change it (only legacy drivers may write mac)",
    applies: (ctx) => {
      const n = netWith([VIRTIO_NET_F_MAC, "MAC"])(ctx);
      if (n !== true) return n;
      return ctx.transport.kind === "modern" && deviceCfg(ctx) ? true : "legacy interface";
    },
    run: (ctx) => {
      const t = ctx.transport;
      t.reset();
      t.setStatus(STATUS_ACKNOWLEDGE);
      t.setStatus(STATUS_ACKNOWLEDGE | STATUS_DRIVER);
      t.setDriverFeatures(
        (1n << VIRTIO_F_VERSION_1) | (1n << VIRTIO_NET_F_MAC) | platformFeatures(ctx),
      );
      t.setStatus(STATUS_ACKNOWLEDGE | STATUS_DRIVER | 8);
      const cfg = deviceCfg(ctx)!;
      const before = cfg.read8(CFG.mac + 5);
      cfg.write8(CFG.mac + 5, before ^ 0xff);
      const after = cfg.read8(CFG.mac + 5);
      if (after !== before) cfg.write8(CFG.mac + 5, before); // put it back
      return expect(after === before, `mac[5] ${hex(before)} -> ${hex(after)}`, "unchanged");
    },
  },
  {
    id: "net.ctrl.rx-promisc",
    section: "5.1.6.5.1",
    requirement: "with CTRL_VQ and CTRL_RX, the RX_PROMISC command is acknowledged VIRTIO_NET_OK",
    applies: netWith([VIRTIO_NET_F_CTRL_VQ, "CTRL_VQ"], [VIRTIO_NET_F_CTRL_RX, "CTRL_RX"]),
    run: (ctx) => {
      const want = (1n << VIRTIO_NET_F_CTRL_VQ) | (1n << VIRTIO_NET_F_CTRL_RX);
      const ack = control(ctx, want, CTRL.RX, CTRL.RX_PROMISC, [1]);
      return expect(ack === 0, `ack ${ack}`, "0 (VIRTIO_NET_OK)");
    },
  },
  {
    id: "net.ctrl.mq-pairs-set",
    section: "5.1.6.5.5",
    requirement: "with CTRL_VQ and MQ, VQ_PAIRS_SET to 1 pair is acknowledged VIRTIO_NET_OK",
    applies: netWith([VIRTIO_NET_F_CTRL_VQ, "CTRL_VQ"], [VIRTIO_NET_F_MQ, "MQ"]),
    run: (ctx) => {
      const want = (1n << VIRTIO_NET_F_CTRL_VQ) | (1n << VIRTIO_NET_F_MQ);
      const ack = control(ctx, want, CTRL.MQ, CTRL.MQ_VQ_PAIRS_SET, [1, 0]);
      return expect(ack === 0, `ack ${ack}`, "0 (VIRTIO_NET_OK)");
    },
  },
  ...CTRL_COMMANDS.map(commandCheck),
];
