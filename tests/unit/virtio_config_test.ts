import assert from "node:assert/strict";
import type { RawConfig } from "../../lib/virtio/transport.ts";
import { CONFIG_DECODERS } from "../../lib/virtio/config/mod.ts";
import { decodeInputConfig } from "../../lib/virtio/config/input.ts";
import { FakeBarRegion } from "../../testing/fake_config_space.ts";

function raw(bytes: number[]): { cfg: RawConfig; length: number; reads: number[] } {
  const b = new Uint8Array(bytes);
  const v = new DataView(b.buffer);
  const reads: number[] = [];
  const log = (o: number, n: number) => {
    if (o + n > b.length) throw new RangeError(`read ${o}+${n} past ${b.length}`);
    reads.push(o);
  };
  return {
    length: b.length,
    reads,
    cfg: {
      read8: (o) => (log(o, 1), v.getUint8(o)),
      read16: (o) => (log(o, 2), v.getUint16(o, true)),
      read32: (o) => (log(o, 4), v.getUint32(o, true)),
      read64: (o) => (log(o, 8), v.getBigUint64(o, true)),
    },
  };
}
const le = (v: number | bigint, n: number) => {
  const out: number[] = [];
  let x = BigInt(v);
  for (let i = 0; i < n; i++, x >>= 8n) out.push(Number(x & 0xffn));
  return out;
};
const bit = (...bits: number[]) => bits.reduce((a, b) => a | (1n << BigInt(b)), 0n);

Deno.test("net config: every field with its feature (§5.1.4)", () => {
  const { cfg, length } = raw([
    0x52,
    0x54,
    0,
    0x12,
    0x34,
    0x56,
    ...le(3, 2),
    ...le(4, 2),
    ...le(9000, 2),
    ...le(10000, 4),
    1,
    40,
    ...le(128, 2),
    ...le(0x1ff, 4),
  ]);
  const all = CONFIG_DECODERS.get(1)!(cfg, { features: bit(3, 5, 16, 22, 60, 63), length });
  assert.deepEqual(all, {
    mac: "52:54:00:12:34:56",
    status: 3,
    link_up: true,
    announce: true,
    max_virtqueue_pairs: 4,
    mtu: 9000,
    speed_mbps: 10000,
    duplex: "full",
    rss_max_key_size: 40,
    rss_max_indirection_table_length: 128,
    supported_hash_types: 0x1ff,
  });
  const none = raw(new Array(24).fill(0xff));
  assert.deepEqual(CONFIG_DECODERS.get(1)!(none.cfg, { features: 0n, length: 24 }), {});
  assert.deepEqual(none.reads, [], "no feature, no read");
  const unknown = raw([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ...le(0xffffffff, 4), 0xff]);
  assert.deepEqual(CONFIG_DECODERS.get(1)!(unknown.cfg, { features: bit(63), length: 17 }), {
    speed_mbps: "unknown",
    duplex: "unknown",
  });
});

Deno.test("blk config: capacity, limits, geometry, topology, u64 beyond 2^53 (§5.2.4)", () => {
  const bytes = new Array(96).fill(0);
  const put = (o: number, v: number | bigint, n: number) => bytes.splice(o, n, ...le(v, n));
  put(0, 2097152, 8);
  put(8, 65536, 4);
  put(12, 254, 4);
  put(16, 1024, 2);
  put(18, 16, 1);
  put(19, 63, 1);
  put(20, 4096, 4);
  put(24, 0, 1);
  put(26, 1, 2);
  put(28, 128, 4);
  put(34, 4, 2);
  put(48, 1000, 4);
  put(52, 1, 4);
  put(56, 1, 1);
  const { cfg, length } = raw(bytes);
  const out = CONFIG_DECODERS.get(2)!(cfg, { features: bit(1, 2, 4, 6, 10, 12, 14), length });
  assert.deepEqual(out, {
    capacity_sectors: 2097152,
    capacity_bytes: 1073741824,
    size_max: 65536,
    seg_max: 254,
    geometry: { cylinders: 1024, heads: 16, sectors: 63 },
    blk_size: 4096,
    topology: { physical_block_exp: 0, alignment_offset: 0, min_io_size: 1, opt_io_size: 128 },
    num_queues: 4,
    write_zeroes: { max_sectors: 1000, max_seg: 1, may_unmap: true },
  });
  put(0, (1n << 62n) + 1n, 8);
  const big = raw(bytes);
  const huge = CONFIG_DECODERS.get(2)!(big.cfg, { features: 0n, length: 96 });
  assert.equal(huge.capacity_sectors, ((1n << 62n) + 1n).toString());
  assert.equal(huge.capacity_bytes, (((1n << 62n) + 1n) * 512n).toString());
});

Deno.test("fields past the device's config length are not read", () => {
  const { cfg, reads } = raw([1, 2, 3, 4, 5, 6, 0, 0]);
  const out = CONFIG_DECODERS.get(1)!(cfg, { features: bit(3, 5, 16), length: 8 });
  assert.deepEqual(out, { mac: "01:02:03:04:05:06", status: 0, link_up: false, announce: false });
  assert.ok(reads.every((o) => o < 8));
});

Deno.test("9p tag, fs tag, console, vsock, balloon, scsi, gpu, mem, pmem, sound", () => {
  const tag = [...new TextEncoder().encode("hostshare")];
  const p9 = raw([...le(tag.length, 2), ...tag, 0, 0]);
  assert.deepEqual(CONFIG_DECODERS.get(9)!(p9.cfg, { features: bit(0), length: p9.length }), {
    tag_len: 9,
    tag: "hostshare",
  });
  const fsTag = [...new TextEncoder().encode("myfs")];
  const fs = raw([...fsTag, ...new Array(32).fill(0), ...le(2, 4)]);
  assert.deepEqual(CONFIG_DECODERS.get(26)!(fs.cfg, { features: 0n, length: fs.length }), {
    tag: "myfs",
    num_request_queues: 2,
  });
  const con = raw([...le(80, 2), ...le(25, 2), ...le(31, 4), 0, 0, 0, 0]);
  assert.deepEqual(CONFIG_DECODERS.get(3)!(con.cfg, { features: bit(0, 1), length: 12 }), {
    cols: 80,
    rows: 25,
    max_nr_ports: 31,
  });
  const vs = raw(le(1234, 8));
  assert.deepEqual(CONFIG_DECODERS.get(19)!(vs.cfg, { features: 0n, length: 8 }), {
    guest_cid: 1234,
  });
  const bal = raw([...le(10, 4), ...le(5, 4), ...le(7, 4), ...le(0xaa, 4)]);
  assert.deepEqual(CONFIG_DECODERS.get(5)!(bal.cfg, { features: bit(4), length: 16 }), {
    num_pages: 10,
    actual: 5,
    poison_val: 0xaa,
  });
  const scsi = raw([
    ...[1, 126, 0xffff, 128, 4, 96, 32].flatMap((v) => le(v, 4)),
    ...le(0, 2),
    ...le(255, 2),
    ...le(16383, 4),
  ]);
  assert.deepEqual(CONFIG_DECODERS.get(8)!(scsi.cfg, { features: 0n, length: 36 }), {
    num_queues: 1,
    seg_max: 126,
    max_sectors: 0xffff,
    cmd_per_lun: 128,
    event_info_size: 4,
    sense_size: 96,
    cdb_size: 32,
    max_channel: 0,
    max_target: 255,
    max_lun: 16383,
  });
  const gpu = raw([...le(0, 4), ...le(0, 4), ...le(1, 4), ...le(2, 4)]);
  assert.deepEqual(CONFIG_DECODERS.get(16)!(gpu.cfg, { features: 0n, length: 16 }), {
    events_read: 0,
    num_scanouts: 1,
    num_capsets: 2,
  });
  const pmem = raw([...le(0x100000000, 8), ...le(1 << 30, 8)]);
  assert.deepEqual(CONFIG_DECODERS.get(27)!(pmem.cfg, { features: 0n, length: 16 }), {
    start: "0x100000000",
    size: 1 << 30,
  });
  const snd = raw([...le(1, 4), ...le(2, 4), ...le(3, 4)]);
  assert.deepEqual(CONFIG_DECODERS.get(25)!(snd.cfg, { features: 0n, length: 12 }), {
    jacks: 1,
    streams: 2,
    chmaps: 3,
  });
  assert.deepEqual(CONFIG_DECODERS.get(4)!(snd.cfg, { features: 0n, length: 12 }), {});
});

Deno.test("input config selects name, serial and ids, and leaves select at 0 (§5.8.4)", () => {
  const region = new FakeBarRegion(136);
  const answers: Record<number, number[]> = {
    1: [...new TextEncoder().encode("QEMU Virtio Keyboard")],
    2: [],
    3: [...le(6, 2), ...le(0x627, 2), ...le(1, 2), ...le(1, 2)],
  };
  const write8 = region.write8.bind(region);
  region.write8 = (o, v) => {
    write8(o, v);
    if (o === 0) {
      const a = answers[v] ?? [];
      region.set8(2, a.length);
      a.forEach((x, i) => region.set8(8 + i, x));
    }
  };
  const out = decodeInputConfig(region);
  assert.deepEqual(out, {
    name: "QEMU Virtio Keyboard",
    ids: { bustype: 6, vendor: 0x627, product: 1, version: 1 },
  });
  assert.deepEqual(region.writes.at(-1), [0, 1, 0]);
});
