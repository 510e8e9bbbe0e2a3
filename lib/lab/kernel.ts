/**
 * The lab's guest kernel: Debian's `linux-image-*-amd64` package, downloaded with
 * `apt-get download` and unpacked into the lab cache — never installed on the host.
 *
 * @module
 */
import { exists, listDir } from "../sys/files.ts";
import { exec } from "./exec.ts";

export interface LabKernel {
  /** e.g. "6.1.0-56-amd64" */
  readonly version: string;
  /** Compressed image (bzImage). */
  readonly vmlinuz: string;
  /** Uncompressed ELF: QEMU boots it through the PVH entry, about twice as fast. */
  readonly vmlinux: string;
  /** `lib/modules/<version>` with a `modules.dep` built by busybox depmod. */
  readonly modulesDir: string;
}

const XZ_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];

/** Offset of the xz stream inside a bzImage, or -1. */
export function findXzPayload(image: Uint8Array): number {
  outer: for (let i = 0; i + XZ_MAGIC.length <= image.length; i++) {
    for (let j = 0; j < XZ_MAGIC.length; j++) if (image[i + j] !== XZ_MAGIC[j]) continue outer;
    return i;
  }
  return -1;
}

/** Which linux-image package `linux-image-amd64` currently points at. */
async function kernelPackage(): Promise<string> {
  const pinned = Deno.env.get("VIRTIO_LAB_KERNEL_PKG");
  if (pinned) return pinned;
  const out = await exec(["apt-cache", "depends", "linux-image-amd64"]);
  const m = out.match(/Depends:\s*(linux-image-[\w.+-]+-amd64)/);
  if (!m) {
    throw new Error("apt-cache knows no linux-image-amd64: run 'apt-get update' (./run setup)");
  }
  return m[1]!;
}

/** Returns the cached kernel, downloading and unpacking it on first use. */
export async function ensureKernel(
  cacheDir: string,
  log: (line: string) => void = () => {},
): Promise<LabKernel> {
  const readyFile = `${cacheDir}/kernel.json`;
  if (exists(readyFile, true)) {
    const k = JSON.parse(await Deno.readTextFile(readyFile)) as LabKernel;
    if (exists(k.vmlinux, true) && exists(k.modulesDir + "/modules.dep", true)) return k;
  }
  const pkg = await kernelPackage();
  const version = pkg.replace(/^linux-image-/, "");
  const dl = `${cacheDir}/download`;
  const root = `${cacheDir}/kernel-${version}`;
  await Deno.mkdir(dl, { recursive: true });
  log(`lab: downloading ${pkg} (Debian package, unpacked into ${root})`);
  await exec(["apt-get", "download", pkg], { cwd: dl });
  const deb = listDir(dl).find((n) => n.startsWith(pkg + "_") && n.endsWith(".deb"));
  if (!deb) throw new Error(`apt-get download ${pkg} left no .deb in ${dl}`);
  await Deno.remove(root, { recursive: true }).catch(() => {});
  await exec(["dpkg-deb", "-x", `${dl}/${deb}`, root]);
  await Deno.remove(`${dl}/${deb}`);
  await exec(["busybox", "depmod", "-b", root, version]);
  const vmlinuz = `${root}/boot/vmlinuz-${version}`;
  const image = await Deno.readFile(vmlinuz);
  const at = findXzPayload(image);
  if (at < 0) throw new Error(`${vmlinuz}: no xz payload found`);
  // xz complains about the bytes after the stream; --single-stream stops at its end.
  const vmlinuxBytes = await execBytes(["xz", "-dc", "--single-stream"], image.subarray(at));
  const vmlinux = `${root}/boot/vmlinux-${version}`;
  await Deno.writeFile(vmlinux, vmlinuxBytes);
  const kernel: LabKernel = {
    version,
    vmlinuz,
    vmlinux,
    modulesDir: `${root}/lib/modules/${version}`,
  };
  await Deno.writeTextFile(readyFile, JSON.stringify(kernel, null, 2) + "\n");
  return kernel;
}

async function execBytes(cmd: string[], stdin: Uint8Array): Promise<Uint8Array> {
  const child = new Deno.Command(cmd[0]!, {
    args: cmd.slice(1),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  const writing = w.write(stdin).then(() => w.close()).catch(() => {});
  const out = await child.output();
  await writing;
  if (out.stdout.length === 0) {
    throw new Error(`${cmd.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return out.stdout;
}
