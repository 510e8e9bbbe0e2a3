/**
 * Kernel-module dependency resolution over a `modules.dep` file, so the lab can load
 * exactly the modules a device set needs, in an order the kernel accepts.
 *
 * @module
 */

/** Parses `modules.dep`: "path.ko: dep1.ko dep2.ko" per line. Keys and values are paths. */
export function parseModulesDep(text: string): Map<string, string[]> {
  const deps = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const deps_ = line.slice(colon + 1).trim();
    deps.set(line.slice(0, colon).trim(), deps_ ? deps_.split(/\s+/) : []);
  }
  return deps;
}

/** The module's name as modprobe spells it: basename without .ko, '-' folded to '_'. */
export function moduleName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1).replace(/\.ko(\.\w+)?$/, "").replaceAll("-", "_");
}

/**
 * Paths of `names` and everything they depend on, dependencies first, each once. Names
 * that are built into the kernel (listed in `builtin`) are skipped; unknown names throw.
 */
export function resolveModules(
  deps: Map<string, string[]>,
  names: readonly string[],
  builtin: ReadonlySet<string> = new Set(),
): string[] {
  const byName = new Map<string, string>();
  for (const path of deps.keys()) byName.set(moduleName(path), path);
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (path: string, depth: number) => {
    if (seen.has(path)) return;
    if (depth > 64) throw new Error(`module dependency loop at ${path}`);
    for (const dep of deps.get(path) ?? []) visit(dep, depth + 1);
    seen.add(path);
    order.push(path);
  };
  for (const name of names) {
    const key = name.replaceAll("-", "_");
    const path = byName.get(key);
    if (path) visit(path, 0);
    else if (!builtin.has(key)) throw new Error(`kernel module '${name}' not found`);
  }
  return order;
}

/**
 * The virtio drivers a kernel has, by device id (§5), from `modules.alias` lines such as
 * `alias virtio:d00000001v* virtio_net`. Aliases with a wildcard device id are skipped.
 */
export function parseVirtioAliases(text: string): Map<number, string[]> {
  const byId = new Map<number, string[]>();
  for (const m of text.matchAll(/^alias virtio:d([0-9A-Fa-f]{8})v\S* (\S+)$/gm)) {
    const id = parseInt(m[1]!, 16);
    byId.set(id, [...(byId.get(id) ?? []), m[2]!]);
  }
  return byId;
}
