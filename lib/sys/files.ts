/**
 * The small filesystem reads sysfs and procfs code needs, each answering "absent" instead of
 * throwing: a file's text, a directory's names, a symlink's last component, whether a path
 * exists. Read-only; every caller passes paths under its own (injectable) root.
 *
 * @module
 */

/** A file's whole text (untrimmed); undefined when it cannot be read. */
export function readFile(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}

/** A directory's entry names, sorted; empty when it cannot be read. */
export function listDir(path: string): string[] {
  try {
    return [...Deno.readDirSync(path)].map((e) => e.name).sort();
  } catch {
    return [];
  }
}

/** The last path component a symlink points to (a sysfs `driver` link's driver); undefined if none. */
export function linkName(path: string): string | undefined {
  try {
    return Deno.readLinkSync(path).split("/").pop();
  } catch {
    return undefined;
  }
}

/** True when `path` exists; `follow` also requires a symlink's target to exist. */
export function exists(path: string, follow = false): boolean {
  try {
    if (follow) Deno.statSync(path);
    else Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
