/**
 * What a driver makes the device do, seen from the host: the lab's QEMU runs on this host,
 * so its threads' CPU time (/proc/PID/task/TID/stat, utime + stime) can be read around each
 * timed window, and — with `trace` — QEMU's own trace events counted over the same window
 * (`virtio_queue_notify`: a doorbell write reached the device; `virtio_notify`: the device
 * raised an interrupt for a used buffer). The guest marks the windows on its console
 * ("bench-window begin|end KEY", bench/guest/rates.ts); {@link WindowRecorder} reacts to them.
 *
 * Under TCG the vCPU threads ("CPU n/TCG") run the guest and, synchronously, every MMIO write
 * it makes (a doorbell is one); the main-loop thread (tid = pid) runs virtio-net's transmit
 * bottom half, the hub and receive delivery. So "main µs per frame" is the device work per
 * frame that the driver's behaviour (batching, kicks, how full it keeps the ring) sets.
 *
 * @module
 */
import type { Qmp } from "../lib/lab/qmp.ts";

/** CPU seconds of QEMU's threads, by kind. */
export interface QemuCpu {
  main: number;
  vcpu: number;
  other: number;
  /**
   * Seconds the main-loop thread was runnable but waiting for a host CPU
   * (/proc/PID/task/TID/schedstat, field 2): with three busy threads (two vCPUs and the main
   * loop) on a two-core host, the thread that delivers every frame is often starved.
   */
  mainWait: number;
}

/** One marked window: host wall time, QEMU CPU spent in it, trace counts when traced. */
export interface QemuWindow {
  key: string;
  wallS: number;
  cpu: QemuCpu;
  /** Per vdev pointer: doorbells per queue index, interrupts (trace; absent when not traced). */
  trace?: Record<string, { notify: Record<string, number>; interrupts: number }>;
}

const TICK_S = 0.01; // USER_HZ: 100 on every Linux we run on (procfs reports clock ticks)

/**
 * The pid of the QEMU process started with `-name NAME[,...]`, or undefined. Give QEMU
 * `debug-threads=on` too, so its vCPU threads are named "CPU n/TCG" (otherwise every thread
 * is "qemu-system-x86" and vCPU time counts as "other").
 */
export function findQemuPid(name: string): number | undefined {
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const argv = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).split("\0");
      const i = argv.indexOf("-name");
      const given = i >= 0 ? argv[i + 1]!.split(",")[0] : undefined;
      if (given === name && argv[0]!.includes("qemu")) return Number(e.name);
    } catch { /* gone or not ours */ }
  }
  return undefined;
}

/** Parses one /proc/.../stat line: the thread's name and utime + stime in seconds. */
export function parseThreadStat(line: string): { comm: string; seconds: number } {
  const open = line.indexOf("("), close = line.lastIndexOf(")");
  const comm = line.slice(open + 1, close);
  const f = line.slice(close + 2).split(" "); // f[0] is field 3 (state)
  return { comm, seconds: (Number(f[11]) + Number(f[12])) * TICK_S };
}

/** schedstat: "run_ns wait_ns timeslices"; the wait (runnable, not running) in seconds. */
export function parseSchedstatWait(line: string): number {
  const wait = Number(line.trim().split(/\s+/)[1]);
  return Number.isFinite(wait) ? wait / 1e9 : 0;
}

/** CPU seconds of every thread of `pid` so far, summed by kind. */
export function qemuCpu(pid: number): QemuCpu {
  const out: QemuCpu = { main: 0, vcpu: 0, other: 0, mainWait: 0 };
  for (const t of Deno.readDirSync(`/proc/${pid}/task`)) {
    const dir = `/proc/${pid}/task/${t.name}`;
    let st;
    try {
      st = parseThreadStat(Deno.readTextFileSync(`${dir}/stat`));
    } catch {
      continue; // a thread that just ended
    }
    if (Number(t.name) === pid) {
      out.main += st.seconds;
      try {
        out.mainWait = parseSchedstatWait(Deno.readTextFileSync(`${dir}/schedstat`));
      } catch { /* a kernel without schedstat: 0 */ }
    } else if (/^CPU \d+\//.test(st.comm)) out.vcpu += st.seconds;
    else out.other += st.seconds;
  }
  return out;
}

/** Counts `virtio_queue_notify` and `virtio_notify` lines of QEMU's log trace backend. */
export function countTrace(text: string): NonNullable<QemuWindow["trace"]> {
  const out: NonNullable<QemuWindow["trace"]> = {};
  const vqOwner = new Map<string, string>();
  const at = (vdev: string) => out[vdev] ??= { notify: {}, interrupts: 0 };
  const pending: string[] = [];
  for (const line of text.split("\n")) {
    let m = /virtio_queue_notify vdev (0x[0-9a-f]+|\(nil\)) n (\d+) vq (0x[0-9a-f]+)/.exec(line);
    if (m) {
      const e = at(m[1]!);
      e.notify[m[2]!] = (e.notify[m[2]!] ?? 0) + 1;
      vqOwner.set(m[3]!, m[1]!);
      continue;
    }
    m = /virtio_notify vdev (0x[0-9a-f]+|\(nil\)) vq/.exec(line);
    if (m) pending.push(m[1]!);
  }
  for (const vdev of pending) at(vdev).interrupts++;
  return out;
}

/**
 * Reacts to the guest's window marks: at "begin" reads QEMU's thread times (and enables the
 * two trace events over QMP when tracing), at "end" reads them again and counts the trace
 * lines QEMU logged in between. QMP calls are chained so marks are handled in order.
 */
export class WindowRecorder {
  readonly windows: QemuWindow[] = [];
  #open = new Map<string, { t: number; cpu: QemuCpu }>();
  #chain: Promise<void> = Promise.resolve();
  #logOffset = 0;
  pid: number | undefined;

  constructor(
    readonly qemuName: string,
    readonly logPath: string | undefined,
    readonly qmp: () => Promise<Qmp>,
  ) {}

  /** Feed every console line; returns true when it was a mark. */
  onConsole(line: string): boolean {
    const m = /^bench-window (begin|end|none) (\S+)/.exec(line);
    if (!m) return false;
    const [, what, key] = m;
    this.pid ??= findQemuPid(this.qemuName);
    if (this.pid === undefined || what === "none") return true;
    const now = performance.now();
    let cpu: QemuCpu;
    try {
      cpu = qemuCpu(this.pid);
    } catch {
      return true; // QEMU gone
    }
    if (what === "begin") {
      this.#open.set(key!, { t: now, cpu });
      this.#queue(() => this.#trace(true));
    } else {
      const b = this.#open.get(key!);
      if (!b) return true;
      this.#open.delete(key!);
      const w: QemuWindow = {
        key: key!,
        wallS: (now - b.t) / 1000,
        cpu: {
          main: cpu.main - b.cpu.main,
          vcpu: cpu.vcpu - b.cpu.vcpu,
          other: cpu.other - b.cpu.other,
          mainWait: cpu.mainWait - b.cpu.mainWait,
        },
      };
      this.windows.push(w);
      this.#queue(async () => {
        await this.#trace(false);
        const t = await this.#readLog();
        if (t !== undefined) w.trace = countTrace(t);
      });
    }
    return true;
  }

  /** Waits for the QMP work queued so far. */
  settle(): Promise<void> {
    return this.#chain;
  }

  #queue(f: () => Promise<void>): void {
    this.#chain = this.#chain.then(f).catch(() => {});
  }

  async #trace(on: boolean): Promise<void> {
    if (!this.logPath) return;
    const q = await this.qmp();
    for (const name of ["virtio_queue_notify", "virtio_notify"]) {
      await q.execute("trace-event-set-state", { name, enable: on });
    }
  }

  async #readLog(): Promise<string | undefined> {
    if (!this.logPath) return undefined;
    const bytes = await Deno.readFile(this.logPath).catch(() => undefined);
    if (!bytes) return undefined;
    const text = new TextDecoder().decode(bytes.subarray(this.#logOffset));
    this.#logOffset = bytes.length;
    return text;
  }
}
