/**
 * A minimal writer for the "newc" cpio format the kernel unpacks as an initramfs
 * (Documentation/driver-api/early-userspace/buffer-format.rst).
 *
 * @module
 */

/** One archive member. Directories must come before what they contain. */
export type CpioEntry =
  | { kind: "dir"; path: string; mode?: number }
  | { kind: "file"; path: string; data: Uint8Array; mode?: number }
  | { kind: "symlink"; path: string; target: string };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

function hex8(n: number): string {
  return n.toString(16).padStart(8, "0");
}

/** Serialises `entries` (plus the TRAILER!!! record) into one newc archive. */
export function writeCpio(entries: readonly CpioEntry[]): Uint8Array {
  const enc = new TextEncoder();
  const chunks: Uint8Array[] = [];
  let length = 0;
  const push = (bytes: Uint8Array) => {
    chunks.push(bytes);
    length += bytes.length;
    const pad = (4 - (length % 4)) % 4;
    if (pad) {
      chunks.push(new Uint8Array(pad));
      length += pad;
    }
  };
  let ino = 1;
  const record = (path: string, mode: number, data: Uint8Array) => {
    const name = enc.encode(path + "\0");
    const header = "070701" + [
      ino++, // c_ino
      mode,
      0, // uid
      0, // gid
      1, // nlink
      0, // mtime
      data.length,
      0, // devmajor
      0, // devminor
      0, // rdevmajor
      0, // rdevminor
      name.length,
      0, // check
    ].map(hex8).join("");
    const head = new Uint8Array(header.length + name.length);
    head.set(enc.encode(header));
    head.set(name, header.length);
    push(head);
    if (data.length) push(data);
  };
  for (const e of entries) {
    const path = e.path.replace(/^\/+/, "");
    if (e.kind === "dir") record(path, S_IFDIR | (e.mode ?? 0o755), new Uint8Array());
    else if (e.kind === "file") record(path, S_IFREG | (e.mode ?? 0o644), e.data);
    else record(path, S_IFLNK | 0o777, enc.encode(e.target));
  }
  record("TRAILER!!!", 0, new Uint8Array());
  const out = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
