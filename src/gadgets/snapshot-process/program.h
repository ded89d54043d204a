/* SPDX-License-Identifier: GPL-2.0 */
/* snapshot process: the record one iteration writes per task (program.bpf.c). */
#ifndef LNG_SNAPSHOT_PROCESS_H
#define LNG_SNAPSHOT_PROCESS_H

/* bytes of the executable's path (its components) a record carries at most */
#define LNG_PROCESS_EXE_MAX 4096

/*
 * One task: the common header (pid, tid, parent, real uid and gid, comm, cgroup) and what
 * the header does not carry, followed by `exe_len` bytes: the components of the
 * executable's path from the task's own root, leaf first, each NUL-terminated
 * ("busybox\0bin\0" is /bin/busybox).
 */
struct lng_process {
	struct ln_ghdr h;
	__u64 start_ns; /* the process's start (group leader's start_boottime), boot ns */
	__u32 vpid;     /* tgid in the task's own pid namespace */
	__u32 vtid;
	__u32 euid;     /* effective ids (the rules' user.uid, group.gid) */
	__u32 egid;
	__u32 nthreads; /* threads of the process */
	__u32 flags;    /* enum lng_process_flag */
	__u32 exe_len;  /* bytes after the record; 0: no executable (kernel thread) */
	__u32 pad;
};

enum lng_process_flag {
	LNG_PROCESS_F_KTHREAD = 1,  /* a kernel thread (no user memory, no executable) */
	LNG_PROCESS_F_EXE_TRUNC = 2, /* the path was longer than the record carries */
};

#endif
