/**
 * evt.category, as libscap classes events: by syscall, and for I/O on an fd (close, dup,
 * fcntl, sendto...) by what the fd is.
 */
const BY_TYPE: Readonly<Record<string, string>> = {};
const IO = new Set([
  "close",
  "dup",
  "dup2",
  "dup3",
  "fcntl",
  "sendto",
  "recvfrom",
  "sendmsg",
  "recvmsg",
  "io_uring_setup",
]);

function put(category: string, names: string): void {
  for (const n of names.split(" ")) (BY_TYPE as Record<string, string>)[n] = category;
}
put(
  "file",
  "open openat openat2 creat unlink unlinkat rename renameat renameat2 mkdir mkdirat rmdir symlink symlinkat link linkat chmod fchmod fchmodat chown fchown fchownat truncate ftruncate chdir fchdir chroot mount umount2 userfaultfd",
);
put("net", "socket connect accept accept4 bind listen");
put("ipc", "pipe pipe2 socketpair");
put("memory", "memfd_create");
put(
  "process",
  "execve execveat clone clone3 fork vfork capset ptrace setns unshare prctl procexec procfork procexit",
);
put("user", "setuid setgid setresuid setresgid setreuid setregid");
put("signal", "kill tkill tgkill");
put("system", "init_module finit_module bpf");
put("wait", "poll ppoll");

/** The category of an event of type `type` whose fd (if any) is of `fdType`. */
export function categoryOf(type: string, fdType: string | null): string {
  if (IO.has(type)) {
    switch (fdType) {
      case "file":
      case "directory":
      case "memfd":
        return "file";
      case "ipv4":
      case "ipv6":
        return "net";
      case "unix":
      case "pipe":
        return "ipc";
      default:
        return "other";
    }
  }
  return BY_TYPE[type] ?? "other";
}
