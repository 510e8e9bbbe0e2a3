/**
 * Which QEMU accelerator the lab uses. KVM only when it really works: on some hosts
 * `/dev/kvm` exists but a guest hangs before its first line, so we boot the lab kernel once
 * under KVM with a short limit and look for its banner. The answer is cached per host kernel
 * and QEMU binary; `VIRTIO_LAB_ACCEL=tcg|kvm` overrides.
 *
 * @module
 */

export type Accel = "kvm" | "tcg";

/** Boots `vmlinux` under KVM until its console shows the kernel banner; false on a hang. */
export async function kvmWorks(vmlinux: string, timeoutMs = 8000): Promise<boolean> {
  try {
    await Deno.stat("/dev/kvm");
  } catch {
    return false;
  }
  const child = new Deno.Command("qemu-system-x86_64", {
    args: [
      "-machine",
      "q35,accel=kvm",
      "-cpu",
      "host",
      "-m",
      "256",
      "-nodefaults",
      "-display",
      "none",
      "-no-reboot",
      "-serial",
      "stdio",
      "-kernel",
      vmlinux,
      // No initramfs and no root: the kernel prints its banner, panics and QEMU exits.
      "-append",
      "console=ttyS0 panic=-1",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, timeoutMs);
  let seen = "";
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout) {
    seen += decoder.decode(chunk, { stream: true });
    if (/Linux version/.test(seen)) {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      break;
    }
  }
  clearTimeout(timer);
  await child.status;
  return /Linux version/.test(seen);
}

/** The accelerator to use, probing KVM once per host kernel and QEMU build. */
export async function chooseAccel(cacheDir: string, vmlinux: string): Promise<Accel> {
  const forced = Deno.env.get("VIRTIO_LAB_ACCEL");
  if (forced === "tcg" || forced === "kvm") return forced;
  const qemu = await Deno.stat("/usr/bin/qemu-system-x86_64").catch(() => undefined);
  const key = `${Deno.osRelease()} ${qemu?.mtime?.toISOString() ?? "?"}`;
  const file = `${cacheDir}/accel.json`;
  try {
    const cached = JSON.parse(await Deno.readTextFile(file));
    if (cached.key === key && (cached.accel === "kvm" || cached.accel === "tcg")) {
      return cached.accel;
    }
  } catch { /* probe */ }
  const accel: Accel = (await kvmWorks(vmlinux)) ? "kvm" : "tcg";
  await Deno.writeTextFile(file, JSON.stringify({ key, accel }) + "\n");
  return accel;
}
