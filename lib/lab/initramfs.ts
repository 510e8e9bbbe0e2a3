/**
 * The lab's initramfs: busybox, the modules that reach the host's root over virtio-9p, and
 * a first-stage init that mounts it and switches into it. Everything else (more modules,
 * the command) is decided per run by the second stage the host writes into the share.
 *
 * @module
 */
import { type CpioEntry, writeCpio } from "./cpio.ts";
import { parseModulesDep, resolveModules } from "./modules.ts";
import type { LabKernel } from "./kernel.ts";

/** Modules needed to mount the host root over 9p (virtio_pci brings virtio + virtio_ring). */
export const ROOT_MODULES = ["virtio_pci", "9pnet_virtio", "9p"] as const;

/** Where, inside the guest, the results share is mounted (on the guest's tmpfs /tmp). */
export const GUEST_SHARE = "/tmp/lab";

const BUSYBOX = "/bin/busybox";

function stage1(): string {
  return `#!/bin/busybox sh
# virtio lab, stage 1: mount the host root read-only over 9p and switch into it.
/bin/busybox --install -s /bin
mkdir -p /proc /sys /dev /newroot
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules.list); do insmod "/modules/$m" || echo "lab: insmod $m failed"; done
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro root /newroot \\
  || { echo "lab: cannot mount the host root over 9p"; poweroff -f; }
# The guest's /tmp is its own tmpfs; host paths below /tmp the run needs (a checkout, deno)
# are bound back into it from the host's /tmp, kept aside first.
mkdir -p /hosttmp
mount --bind /newroot/tmp /hosttmp
mount -t tmpfs -o mode=1777 tmpfs /newroot/tmp
mount -t tmpfs tmpfs /newroot/run
mkdir -p /newroot${GUEST_SHARE}
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=none share /newroot${GUEST_SHARE} \\
  || { echo "lab: cannot mount the results share"; poweroff -f; }
for p in $(cat /newroot${GUEST_SHARE}/host-tmp-paths 2>/dev/null); do
  mkdir -p "/newroot$p" && mount --bind "/hosttmp\${p#/tmp}" "/newroot$p" \\
    || echo "lab: cannot show host $p in the guest"
done
mount --move /proc /newroot/proc
mount --move /sys /newroot/sys
mount --move /dev /newroot/dev
exec switch_root /newroot /bin/sh ${GUEST_SHARE}/stage2.sh
`;
}

/** Builds (or reuses, keyed by kernel version) the initramfs; returns its path. */
export async function ensureInitramfs(cacheDir: string, kernel: LabKernel): Promise<string> {
  const script = stage1();
  const key = await digest(kernel.version + script);
  const path = `${cacheDir}/initramfs-${kernel.version}-${key}.cpio`;
  try {
    await Deno.stat(path);
    return path;
  } catch { /* build it */ }
  const deps = parseModulesDep(await Deno.readTextFile(`${kernel.modulesDir}/modules.dep`));
  const mods = resolveModules(deps, ROOT_MODULES);
  const enc = new TextEncoder();
  const entries: CpioEntry[] = [
    { kind: "dir", path: "bin" },
    { kind: "dir", path: "modules" },
    { kind: "file", path: "bin/busybox", data: await Deno.readFile(BUSYBOX), mode: 0o755 },
    { kind: "file", path: "init", data: enc.encode(script), mode: 0o755 },
    {
      kind: "file",
      path: "modules.list",
      data: enc.encode(mods.map((m) => m.replaceAll("/", "_")).join("\n") + "\n"),
    },
  ];
  for (const m of mods) {
    entries.push({
      kind: "file",
      path: `modules/${m.replaceAll("/", "_")}`,
      data: await Deno.readFile(`${kernel.modulesDir}/${m}`),
    });
  }
  const tmp = `${path}.tmp`;
  await Deno.writeFile(tmp, writeCpio(entries));
  await Deno.rename(tmp, path);
  return path;
}

async function digest(text: string): Promise<string> {
  const hash = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(hash).slice(0, 6)].map((b) => b.toString(16).padStart(2, "0")).join(
    "",
  );
}
