/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Lanner user/kernel record ABI. THE one place record layouts are defined.
 *
 * The BPF programs include this file; src/decode/abi.generated.ts is generated from the
 * compiled BTF of this header by scripts/gen-abi.ts (CI fails when the two drift).
 *
 * Every record in the ring buffer starts with struct ln_hdr. Fixed parts are naturally
 * aligned, little-endian. Records may carry a variable tail: `ntails` blobs, each a
 * struct ln_tail followed by `len` bytes (no padding between blobs). Tails carry only the
 * bytes used: strings are NUL-terminated inside `len`, binary blobs are exact.
 *
 * Bump LN_ABI_VERSION on any incompatible change.
 */
#ifndef LANNER_ABI_H
#define LANNER_ABI_H

#define LN_ABI_VERSION 2

/* Record kinds (ln_hdr.kind). */
enum ln_kind {
	LN_K_SYSCALL = 1, /* one syscall, enter and exit combined (struct ln_syscall) */
	LN_K_FORK = 2,    /* sched_process_fork (struct ln_proc) */
	LN_K_EXEC = 3,    /* sched_process_exec (struct ln_proc) */
	LN_K_EXIT = 4,    /* sched_process_exit (struct ln_proc) */
};

/* Tail blob kinds (ln_tail.kind). `arg` names the syscall argument index it belongs to
 * (0..5), or LN_ARG_RET for the return value, or LN_ARG_NONE. */
enum ln_tail_kind {
	LN_T_PATH = 1,     /* user string argument `arg`, NUL-terminated: read at syscall entry
			      (TOCTOU-safe) for open/openat/openat2/creat, at exit otherwise */
	LN_T_DIR = 2,      /* absolute dir a relative LN_T_PATH of the same arg is resolved against
			      (cwd for AT_FDCWD, else the dirfd's path), NUL-terminated */
	LN_T_SOCKADDR = 3, /* raw struct sockaddr bytes copied from user memory */
	LN_T_TUPLE = 4,    /* struct ln_sock_tuple read from the kernel socket of fd `arg`
			      (or of the returned fd when arg == LN_ARG_RET) */
	LN_T_ARGV = 5,     /* argv strings, each NUL-terminated, concatenated (bounded) */
	LN_T_EXE = 6,      /* absolute path of the executable (mm->exe_file), NUL-terminated */
	LN_T_CWD = 7,      /* absolute cwd, NUL-terminated */
	LN_T_OPEN_HOW = 8, /* struct open_how (openat2): flags u64, mode u64, resolve u64 */
	LN_T_FDS = 9,      /* two s32 fds written by pipe/pipe2/socketpair */
	LN_T_DATA = 10,    /* bytes of a user buffer: sendto/recvfrom data (snaplen), clone3's
			      struct clone_args, capset's cap data */
	LN_T_ENV = 11,     /* environment strings of the new image (mm->env_start..env_end),
			      each NUL-terminated, concatenated, bounded by LN_MAX_ENV */
	LN_T_TTY = 12,     /* reserved */
	LN_T_FDPATH = 13,  /* absolute path of the (non-socket) file open at fd `arg` (or the
			      returned fd when arg == LN_ARG_RET), NUL-terminated */
	LN_T_FILE = 14,    /* struct ln_file_info of the file open at fd `arg` (LN_ARG_RET) */
	LN_T_POLLFDS = 15, /* struct ln_pollfd[n] read from user memory at exit (n <= LN_MAX_POLLFDS) */
	LN_T_ENTER_TS = 16,/* __u64: bpf_ktime_get_boot_ns() at syscall entry (stashed syscalls) */
};

#define LN_ARG_RET 6
#define LN_ARG_NONE 7

/* Drop / stats counters: index into the per-CPU array map ln_stats (__u64 values). */
enum ln_stat {
	LN_S_UNUSED0 = 0,     /* unused: records delivered are counted by the consumer (a
			         per-record counter cost ~4 % of the getppid loop) */
	LN_S_DROP_RING = 1,   /* ring full: reserve/output failed */
	LN_S_DROP_SCRATCH = 2,/* per-CPU scratch unavailable */
	LN_S_TRUNC = 3,       /* a tail was truncated at its bound */
	LN_S_READ_FAIL = 4,   /* a user/kernel memory read failed (record still sent) */
	LN_S_ENTER_MISS = 5,  /* exit without stashed enter data (tail omitted) */
	LN_S_FILTERED = 6,    /* events seen but not selected (only counted in "all" mode) */
	LN_S_WAKEUPS = 7,     /* forced wakeups issued */
	LN_S__COUNT = 8,
};

/* 24 bytes; starts every record. */
struct ln_hdr {
	__u64 ts;     /* bpf_ktime_get_boot_ns() */
	__u32 tgid;   /* process id (host pid namespace) */
	__u32 tid;    /* thread id (host pid namespace) */
	__u16 kind;   /* enum ln_kind */
	__u16 size;   /* whole record size in bytes, header and tails included */
	__u16 cpu;    /* bpf_get_smp_processor_id() */
	__u8 ntails;  /* number of tail blobs following the fixed part */
	__u8 flags;   /* LN_F_* */
};

#define LN_F_TRUNC 0x01 /* some tail was truncated */

/* 4 bytes; precedes each tail blob. */
struct ln_tail {
	__u16 len; /* bytes that follow */
	__u8 kind; /* enum ln_tail_kind */
	__u8 arg;  /* argument index, LN_ARG_RET or LN_ARG_NONE */
};

/* Kernel-side socket addresses. Addresses are in network byte order as the kernel keeps
 * them; ports are host byte order. IPv4 uses the first 4 bytes of the address fields. */
struct ln_sock_tuple {
	__u16 family; /* AF_INET, AF_INET6, AF_UNIX, ... (0 when the fd is not a socket) */
	__u16 type;   /* SOCK_STREAM, SOCK_DGRAM, ... */
	__u16 lport;
	__u16 rport;
	__u8 laddr[16];
	__u8 raddr[16];
	__u16 protocol; /* IPPROTO_TCP, ... */
	__u16 pad[3];
};

/* LN_K_SYSCALL: 104 bytes fixed, then tails. */
struct ln_syscall {
	struct ln_hdr h;
	__u32 nr;    /* x86_64 syscall number */
	__u32 euid;
	__u32 egid;
	__u32 pad;
	__s64 ret;   /* return value (negative errno on failure) */
	__u64 args[6]; /* raw argument registers di, si, dx, r10, r8, r9: read at exit (the
			  same values as at entry), or at entry for the syscalls that stash
			  entry data (open, openat, openat2, creat, connect, execve, execveat) */
	__u64 cgroup_id; /* bpf_get_current_cgroup_id() (cgroup v2) */
};

/* LN_K_FORK / LN_K_EXEC / LN_K_EXIT: fixed part, then tails (EXE, ARGV, CWD on EXEC).
 * The header's tgid/tid are the current task: the parent for FORK, the (new) process for
 * EXEC, the exiting thread for EXIT. Every other field describes the task the record is
 * about: the CHILD for FORK, the current task otherwise. */
struct ln_proc {
	struct ln_hdr h;
	__u32 ppid;      /* parent tgid (real_parent) */
	__u32 uid;
	__u32 gid;
	__u32 euid;
	__u32 egid;
	__u32 loginuid;  /* audit loginuid (0xffffffff when unset) */
	__u32 vpid;      /* pid in its own pid namespace */
	__u32 vtid;
	__u32 sid;       /* session id (host ns) */
	__u32 vpgid;
	__u32 tty;       /* controlling tty, kernel dev_t: major << 20 | minor (0 if none) */
	__u32 exit_code; /* LN_K_EXIT: task->exit_code; LN_K_FORK: child tid;
			    LN_K_EXEC: old tid (differs from h.tid when a non-leader thread
			    exec'd and took over the leader's pid) */
	__u64 start_ns;  /* task start_boottime (boot ns) */
	__u64 cgroup_id;
	__u64 mntns;     /* mount namespace inum */
	__u64 pidns;     /* pid namespace inum */
	__u64 netns;     /* net namespace inum */
	__u64 cap_effective;
	__u64 cap_permitted;
	__u32 child_tgid;/* LN_K_FORK: the child's tgid; otherwise 0 */
	__u32 flags;     /* LN_PF_* */
	char comm[16];
	__u32 pgid;      /* process group id (host pid namespace) */
	__u32 pad;
	/* LN_K_EXEC only (0 in FORK and EXIT records): the executable's inode */
	__u64 exe_ino;
	__u64 exe_ctime_ns; /* inode ctime, ns since the epoch */
	__u64 exe_mtime_ns; /* inode mtime, ns since the epoch */
	__u64 pidns_init_start_ns; /* start_boottime of the init (child reaper) of the task's
				      pid namespace (boot ns) */
};

#define LN_PF_THREAD 0x1      /* fork created a thread (CLONE_THREAD) */
#define LN_PF_EXE_MEMFD 0x2   /* exe file lives on a memfd (no link, shmem) */
#define LN_PF_EXE_UPPER 0x4   /* exe file is on an overlayfs upper layer */
#define LN_PF_GROUP_DEAD 0x8  /* LN_K_EXIT: the last thread of the process exited */
#define LN_PF_EXE_DELETED 0x10 /* exe file has no links left (deleted or memfd) */
#define LN_PF_EXE_WRITABLE 0x20 /* LN_K_EXEC: the exe is writable by the process (owner,
				   permission bits against fsuid/fsgid and groups, or
				   CAP_DAC_OVERRIDE/CAP_FOWNER), on a writable, non-immutable inode */
#define LN_PF_EXE_LOWER 0x40  /* exe file is on overlayfs and only in a lower layer */

/* Container selection (a gadget's -n/-p/-c/-l): user space classifies the cgroup of each
 * container and writes one of these, keyed by cgroup v2 id (never reused: kernfs ids carry a
 * generation), into the program's selection map. A cgroup with no entry passes. */
#define LN_SEL_PASS 1
#define LN_SEL_DROP 2

/* Bounds (bytes). */
#define LN_MAX_PATH 4096
#define LN_MAX_ARGV 4096
#define LN_MAX_ENV 4096
#define LN_MAX_POLLFDS 32 /* struct ln_pollfd entries in LN_T_POLLFDS */
#define LN_MAX_SOCKADDR 128
#define LN_MAX_DATA 256
#define LN_SCRATCH 16384 /* max size of a record with tails (the per-CPU build buffer) */
#define LN_MAX_SYSCALL 512 /* ln_interest entries: syscall numbers 0..511 */

/* LN_T_OPEN_HOW payload (the kernel's struct open_how). */
struct ln_open_how {
	__u64 flags;
	__u64 mode;
	__u64 resolve;
};

/* LN_T_FILE payload: the file an open/openat/openat2/creat returned. */
struct ln_file_info {
	__u64 ino;   /* inode number */
	__u32 dev;   /* kernel dev_t of the inode's superblock: major << 20 | minor */
	__u32 flags; /* LN_FI_* */
};

#define LN_FI_UPPER 0x1 /* on overlayfs, in the upper layer */
#define LN_FI_LOWER 0x2 /* on overlayfs, only in a lower layer */

/* LN_T_POLLFDS payload entry: the user's struct pollfd as it is after the call. */
struct ln_pollfd {
	__s32 fd;
	__s16 events;
	__s16 revents;
};

/* The common start of every gadget record (src/gadgets/<name>/program.bpf.c, filled by
 * lng_fill_hdr in bpf/include/ln_gadget.h): who did it, for enrichment in user space. */
struct ln_ghdr {
	__u64 ts;        /* bpf_ktime_get_boot_ns() */
	__u64 mntns;     /* mount namespace inode of the task */
	__u64 cgroup_id; /* cgroup v2 id of the task (container lookup) */
	__u32 pid;       /* tgid, host pid namespace */
	__u32 tid;
	__u32 ppid;      /* real parent's tgid */
	__u32 uid;       /* real uid, host user namespace */
	__u32 gid;
	__u32 kind;      /* the gadget's own record kind (0 when it has one) */
	char comm[16];
};

/* Ring buffer wakeup policy: records are submitted with BPF_RB_NO_WAKEUP; user space drains
 * on a timer. About one record in 64 (chosen by the low bits of its timestamp) checks the
 * pending bytes, and when they are at or over the threshold (const volatile wakeup_bytes) it
 * is submitted with BPF_RB_FORCE_WAKEUP, at most once per millisecond per CPU. */

#endif /* LANNER_ABI_H */
