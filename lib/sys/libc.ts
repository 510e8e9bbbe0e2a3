/**
 * The one FFI symbol table for libc. Opened lazily on first use, so importing the library
 * costs nothing and needs no `--allow-ffi` until a device is really touched.
 *
 * Raw pointers returned here stay in `lib/sys/`, `lib/pci/bar.ts`, `lib/pci/vfio.ts` and
 * `lib/dma/`; everything above sees regions, config spaces and DMA regions.
 *
 * 64-bit arguments (`size_t`, `off_t`, `unsigned long`) are passed as BigInt: passing a
 * Number there costs about 20× more per call.
 *
 * @module
 */

const SYMBOLS = {
  /** int open(const char *pathname, int flags, mode_t mode); */
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  /** int close(int fd); */
  close: { parameters: ["i32"], result: "i32" },
  /** ssize_t pread(int fd, void *buf, size_t count, off_t offset); */
  pread: { parameters: ["i32", "buffer", "usize", "i64"], result: "isize" },
  /** ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset); */
  pwrite: { parameters: ["i32", "buffer", "usize", "i64"], result: "isize" },
  /** void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset); */
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
  /** int munmap(void *addr, size_t length); */
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
  /** int ioctl(int fd, unsigned long request, void *argp);  (variadic: pointer form) */
  ioctlPointer: { name: "ioctl", parameters: ["i32", "u64", "buffer"], result: "i32" },
  /** int ioctl(int fd, unsigned long request, unsigned long arg);  (variadic: integer form) */
  ioctlInteger: { name: "ioctl", parameters: ["i32", "u64", "u64"], result: "i32" },
  /** int mlock(const void *addr, size_t len); */
  mlock: { parameters: ["pointer", "usize"], result: "i32" },
  /** int munlock(const void *addr, size_t len); */
  munlock: { parameters: ["pointer", "usize"], result: "i32" },
  /** int *__errno_location(void);  (glibc: the calling thread's errno) */
  __errno_location: { parameters: [], result: "pointer" },
  /** char *strerror(int errnum); */
  strerror: { parameters: ["i32"], result: "pointer" },
  /** int eventfd(unsigned int initval, int flags); */
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  /** int sched_getaffinity(pid_t pid, size_t cpusetsize, cpu_set_t *mask); pid 0 = this thread */
  sched_getaffinity: { parameters: ["i32", "usize", "buffer"], result: "i32" },
  /** int sched_setaffinity(pid_t pid, size_t cpusetsize, const cpu_set_t *mask); */
  sched_setaffinity: { parameters: ["i32", "usize", "buffer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The libc functions, typed from {@link SYMBOLS}. */
export type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let library: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;

/** The libc symbols, opening `libc.so.6` on the first call. */
export function libc(): Libc {
  library ??= Deno.dlopen("libc.so.6", SYMBOLS);
  return library.symbols;
}

/** The calling thread's current errno. Read it right after the failing call. */
export function lastErrno(): number {
  const location = libc().__errno_location();
  if (location === null) return 0;
  return new Deno.UnsafePointerView(location).getInt32();
}

/** libc's description of an errno value ("Permission denied"). */
export function describeErrno(errno: number): string {
  const text = libc().strerror(errno);
  return text === null ? `errno ${errno}` : Deno.UnsafePointerView.getCString(text);
}

/** A NUL-terminated copy of `text` for `const char *` arguments. */
export function cString(text: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(text + "\0");
}
