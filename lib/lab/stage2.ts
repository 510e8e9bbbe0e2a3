/**
 * The second-stage init, written into the results share for each run: loads the modules
 * the devices need, reserves hugepages, installs `deno` and `virtio` into guest tmpfs, runs
 * the command as root and records its exit code, then powers the guest off.
 *
 * @module
 */
import { GUEST_SHARE } from "./initramfs.ts";

export interface Stage2Options {
  /** Absolute host paths of the modules to insmod, dependencies first. */
  modules: readonly string[];
  /** Driver modules (host paths, dependencies first) by virtio device id, loaded for the devices present. */
  drivers?: ReadonlyMap<number, readonly string[]>;
  /** 2 MiB hugepages to reserve. */
  hugepages: number;
  /** The host's deno binary (visible at the same path over 9p). */
  deno: string;
  /** The checkout whose main.ts `virtio` runs. */
  repo: string;
  /** Working directory of the command. */
  cwd: string;
  env: Readonly<Record<string, string>>;
  command: readonly string[];
}

/** Single-quotes `s` for sh. */
export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

export function stage2Script(o: Stage2Options): string {
  const env = Object.entries(o.env).map(([k, v]) => `export ${k}=${shellQuote(v)}`).join("\n");
  return `#!/bin/sh
# virtio lab, stage 2 (generated for one run).
export PATH=/tmp/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/tmp DENO_DIR=/tmp/deno-dir DENO_NO_UPDATE_CHECK=1 TERM=dumb
${env}
up() { cut -d' ' -f1 /proc/uptime; }
echo "lab: root mounted at $(up)s" > /dev/console
for m in ${o.modules.map(shellQuote).join(" ")}; do
  /bin/busybox insmod "$m" 2>/dev/null
done
${driverLoop(o.drivers)}
mkdir -p /dev/pts /dev/hugepages /dev/shm
mount -t devpts devpts /dev/pts
mount -t hugetlbfs nodev /dev/hugepages
mount -t tmpfs tmpfs /dev/shm
echo ${o.hugepages} > /proc/sys/vm/nr_hugepages
ip link set lo up 2>/dev/null
mkdir -p /tmp/bin /tmp/deno-dir
cp ${shellQuote(o.deno)} /tmp/bin/deno
printf '#!/bin/sh\\nexec /tmp/bin/deno run -A --no-check %s "$@"\\n' ${
    shellQuote(o.repo + "/main.ts")
  } > /tmp/bin/virtio
chmod +x /tmp/bin/virtio
echo "lab: ready at $(up)s" > /dev/console
cd ${shellQuote(o.cwd)} 2>/dev/null || cd /
${o.command.map(shellQuote).join(" ")} < /dev/null > ${GUEST_SHARE}/stdout 2> /dev/console
echo $? > ${GUEST_SHARE}/rc
echo "lab: command done at $(up)s" > /dev/console
sync
/bin/busybox poweroff -f
`;
}

/** Shell that loads, for each virtio device present, its driver (sysfs `device` is its id). */
function driverLoop(drivers: ReadonlyMap<number, readonly string[]> | undefined): string {
  if (!drivers || drivers.size === 0) return "";
  const cases = [...drivers].sort(([a], [b]) => a - b).map(([id, paths]) =>
    `    0x${id.toString(16).padStart(4, "0")}) mods=${shellQuote(paths.join(" "))} ;;`
  );
  return [
    "for d in /sys/bus/virtio/devices/*; do",
    '  mods=""',
    '  case "$(cat "$d/device" 2>/dev/null)" in',
    ...cases,
    "  esac",
    '  for m in $mods; do /bin/busybox insmod "$m" 2>/dev/null; done',
    "done",
  ].join("\n");
}
