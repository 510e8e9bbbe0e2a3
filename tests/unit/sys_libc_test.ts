import assert from "node:assert/strict";
import { SystemError } from "../../lib/errors.ts";
import { checked, errnoName, systemError } from "../../lib/sys/errno.ts";
import { O_RDONLY, O_RDWR, openFd } from "../../lib/sys/fd.ts";
import { describeErrno, lastErrno } from "../../lib/sys/libc.ts";
import { mapAnonymous, mapFile, PAGE_SIZE, roundUp } from "../../lib/sys/mmap.ts";

Deno.test("errno names: the common values are pinned", () => {
  assert.equal(errnoName(1), "EPERM");
  assert.equal(errnoName(2), "ENOENT");
  assert.equal(errnoName(13), "EACCES");
  assert.equal(errnoName(16), "EBUSY");
  assert.equal(errnoName(19), "ENODEV");
  assert.equal(errnoName(22), "EINVAL");
  assert.equal(errnoName(12), "ENOMEM");
  assert.equal(errnoName(4242), "E4242");
});

Deno.test("systemError carries the operation, errno, name, and a root hint for EACCES", () => {
  const error = systemError("open(/x)", 13);
  assert.ok(error instanceof SystemError);
  assert.equal(error.operation, "open(/x)");
  assert.equal(error.errno, 13);
  assert.equal(error.code, "EACCES");
  assert.match(error.message, /open\(\/x\): EACCES \(errno 13\)/);
  assert.match(error.hint ?? "", /root/);
  assert.equal(systemError("x", 22).hint, undefined);
  assert.equal(describeErrno(2), "No such file or directory");
});

Deno.test("openFd of a missing file throws ENOENT naming the path", () => {
  assert.throws(() => openFd("/nonexistent/virtio-test", O_RDONLY), (error: unknown) => {
    assert.ok(error instanceof SystemError);
    assert.equal(error.code, "ENOENT");
    assert.match(error.message, /\/nonexistent\/virtio-test/);
    return true;
  });
  assert.equal(lastErrno(), 2);
});

Deno.test("pread/pwrite at offsets on an ordinary file, and close is idempotent", () => {
  const path = Deno.makeTempFileSync();
  try {
    Deno.writeFileSync(path, new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7]));
    const file = openFd(path, O_RDWR);
    const four = new Uint8Array(4);
    file.preadExact(four, 2);
    assert.deepEqual([...four], [2, 3, 4, 5]);
    file.pwriteExact(new Uint8Array([0xaa, 0xbb]), 6);
    assert.equal(file.pread(new Uint8Array(16), 0), 8);
    assert.throws(() => file.preadExact(new Uint8Array(4), 6), /short read, 2 of 4/);
    file.close();
    file.close();
    assert.ok(file.closed);
    assert.throws(() => file.fd, /closed/);
    assert.deepEqual([...Deno.readFileSync(path)], [0, 1, 2, 3, 4, 5, 0xaa, 0xbb]);
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("using closes the descriptor at scope end", () => {
  let saved;
  {
    using file = openFd("/proc/self/stat", O_RDONLY);
    saved = file;
    assert.ok(file.fd >= 0);
  }
  assert.ok(saved.closed);
});

Deno.test("anonymous mmap: zeroed, read/write through the buffer, detached after unmap", () => {
  const memory = mapAnonymous(3 * PAGE_SIZE, { locked: true });
  const words = new Uint32Array(memory.buffer);
  assert.equal(words.length, 3 * PAGE_SIZE / 4);
  assert.ok(words.every((w) => w === 0));
  words[100] = 0xdeadbeef;
  assert.equal(new DataView(memory.buffer).getUint32(400, true), 0xdeadbeef);
  assert.ok(memory.address % BigInt(PAGE_SIZE) === 0n);
  memory.unmap();
  assert.ok(memory.unmapped);
  assert.equal(words.length, 0, "old views must not reach unmapped memory");
  assert.throws(() => memory.pointer, /unmapped/);
  memory.unmap();
});

Deno.test("file mmap shares bytes with the file; read-only mapping is PROT_READ", () => {
  const path = Deno.makeTempFileSync();
  try {
    Deno.writeFileSync(path, new Uint8Array(PAGE_SIZE).fill(7));
    {
      using file = openFd(path, O_RDWR);
      using map = mapFile(file, PAGE_SIZE, { writable: true });
      new Uint8Array(map.buffer)[10] = 99;
    }
    assert.equal(Deno.readFileSync(path)[10], 99);
    using file = openFd(path, O_RDONLY);
    assert.throws(() => mapFile(file, PAGE_SIZE, { writable: true }), /EACCES/);
    using map = mapFile(file, PAGE_SIZE, { writable: false });
    assert.equal(new Uint8Array(map.buffer)[11], 7);
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("checked passes non-negative results through and throws on -1", () => {
  assert.equal(checked(5, "op"), 5);
  assert.equal(checked(0n, "op"), 0n);
  assert.throws(() => checked(-1, "the-op"), /the-op/);
  assert.equal(roundUp(4097, 4096), 8192);
  assert.equal(roundUp(4096, 4096), 4096);
});
