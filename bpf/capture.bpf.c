// SPDX-License-Identifier: GPL-2.0
/*
 * Lanner capture programs: syscalls (one combined record per syscall, emitted at exit) and
 * process lifecycle (fork, exec, exit). Record layouts come only from abi/lanner_abi.h.
 * See README.md in this folder for programs, maps, configuration and the tail table.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "lanner_abi.h"
#include "ln_syscalls.h"
#include "ln_path.h"

char LICENSE[] SEC("license") = "GPL";

/* ---------------------------------------------------------------- configuration */

/* Written by the loader between open and load (.rodata). */
const volatile __u32 self_tgid = 0;    /* the agent: never traced */
const volatile __u32 filter_tgid = 0;  /* 0 = every process; else this tgid and descendants */
const volatile __u64 wakeup_bytes = 0; /* 0 = adaptive wakeups; else wake only on crossing */
const volatile __u32 snaplen = 0;      /* bytes of sendto/recvfrom data (<= LN_MAX_DATA) */
const volatile __u8 filter_cgroup = 0; /* 1 = drop the records of cgroups ln_cgsel marks
					  LN_SEL_DROP (a gadget's container selection) */

/* Open path prefixes (a gadget's `trace open --prefixes`): with open_prefix_count > 0, an
 * open/openat/openat2/creat is recorded only when its absolute path starts with one of the
 * first open_prefix_count prefixes (open_prefix_len[i] bytes of open_prefix_text[i]). See
 * "Open prefix filter" below. 0 (the agent) compiles the check out. */
#define LN_OPEN_PREFIXES 16
#define LN_PREFIX_LEN 128 /* bytes of a prefix at most */
const volatile __u32 open_prefix_count = 0;
const volatile __u32 open_prefix_len[LN_OPEN_PREFIXES] = {};
const volatile __u8 open_prefix_text[LN_OPEN_PREFIXES][LN_PREFIX_LEN] = {};

/* ---------------------------------------------------------------- maps */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* the loader sets the real size before load */
} ln_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LN_S__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} ln_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LN_MAX_SYSCALL);
	__type(key, __u32);
	__type(value, __u8); /* who wants this syscall's records: a mask (see below) */
} ln_interest SEC(".maps");

/* ln_interest's value: bit 0, every process (the agent's rules, state, a standalone
 * session); bits 1..7, gadget slot k (a gadget inside the agent that wants a syscall the
 * rules do not). A record of a syscall only gadgets want is made only if some slot that
 * wants it does not drop the current cgroup (ln_cgslot). */
#define LN_INTEREST_EVERY 0x01
#define LN_INTEREST_SLOTS 0xfe

/* cgroup v2 id -> the gadget slots (bits 1..7) whose container selection drops that cgroup.
 * A cgroup not in the map passes every slot (user space classifies it, then adds it). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u8);
} ln_cgslot SEC(".maps");

/* What a sys_enter program saves for the matching sys_exit (keyed by tid). */
struct ln_stash_val {
	__u64 args[6];
	__u64 ts; /* bpf_ktime_get_boot_ns() at entry (LN_T_ENTER_TS) */
	__u32 nr;
	__u32 len; /* bytes of data[] that are valid (string: including the NUL) */
	struct ln_open_how how;
	__u8 data[LN_MAX_PATH]; /* the path, or the sockaddr for connect */
};

#define LN_STASH_FREE 0xffffffff /* ln_stash_val.nr of a consumed entry */

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 2048);
	__type(key, __u32);
	__type(value, struct ln_stash_val);
} ln_stash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);  /* tgid */
	__type(value, __u8); /* 1 */
} ln_follow SEC(".maps");

/* cgroup v2 id -> LN_SEL_PASS | LN_SEL_DROP (with filter_cgroup). A cgroup not in the map
 * passes: user space classifies its container, then adds it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u8);
} ln_cgsel SEC(".maps");

/* Per-CPU record build buffer. Tails are appended at offsets masked into the first half, so
 * every write is provably inside the value; records themselves stay <= LN_SCRATCH bytes. */
struct ln_buf {
	__u8 b[2 * LN_SCRATCH];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ln_buf);
} ln_scratch SEC(".maps");

/* Per-CPU time of the last forced wakeup (wake_flags). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} ln_wake SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ln_stash_val);
} ln_stash_heap SEC(".maps");

#define LN_WALK_MAX 64 /* path components / mount crossings per path */

struct ln_walk {
	__u64 name[LN_WALK_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ln_walk);
} ln_walk_heap SEC(".maps");

/* ---------------------------------------------------------------- per-syscall descriptors */

/* A path slot byte: 0 = none, else 0x80 | dir << 3 | arg, where dir is 0 (never resolved:
 * a string that is not a path to resolve), 1..6 (dirfd is in arg dir-1) or 7 (cwd). */
#define PA(a) (0x80 | (a))
#define PC(a) (0x80 | (7 << 3) | (a))
#define PD(a, d) (0x80 | (((d) + 1) << 3) | (a))

enum {
	E_ARGS = 0x1,  /* stash the raw args at entry (execve: registers are reset on success) */
	E_PATH = 0x2,  /* stash path slot 0 at entry (TOCTOU) */
	E_SADDR = 0x4, /* stash the sockaddr in arg1 (length arg2) at entry */
	E_HOW = 0x8,   /* stash struct open_how from arg2 at entry */
};

enum {
	X_NONE = 0,
	X_EXEC,     /* execve/execveat */
	X_CONNECT,  /* SOCKADDR (stashed) + TUPLE arg0 */
	X_BIND,     /* SOCKADDR arg1 + TUPLE arg0 */
	X_TUPLE,    /* TUPLE of fd in arg xarg */
	X_ACCEPT,   /* TUPLE of the returned fd */
	X_SENDTO,   /* TUPLE arg0, SOCKADDR arg4, DATA arg1 */
	X_RECVFROM, /* TUPLE arg0, SOCKADDR arg4, DATA arg1 */
	X_FDS,      /* FDS from the int[2] in arg xarg */
	X_FDINFO,   /* FDPATH or TUPLE of fd in arg xarg (LN_ARG_RET: the returned fd) */
	X_CWD,      /* CWD after the call */
	X_CLONE3,   /* DATA: struct clone_args */
	X_CAPSET,   /* DATA: cap_user_data_t[2] */
	X_OPENAT2,  /* OPEN_HOW (stashed), FILE of the returned fd */
	X_OPEN,     /* FILE of the returned fd */
	X_MSG,      /* TUPLE arg0, SOCKADDR arg1 from the user msghdr's msg_name */
	X_POLL,     /* POLLFDS from the user pollfd array in arg0 (arg1 entries) */
};

struct ln_desc {
	__u8 tails; /* nonzero: the record has tails (slow path) */
	__u8 enter; /* E_* */
	__u8 p[3];  /* path slots */
	__u8 x;     /* X_* */
	__u8 xarg;
	__u8 pad;
};

#define D(nr, ...) [LN_NR_##nr] = { .tails = 1, __VA_ARGS__ }

/* Read-only, in its own section so that the loader's writes to .rodata (config) never
 * touch it. */
const struct ln_desc ln_descs[LN_MAX_SYSCALL] SEC(".rodata.ln_desc") = {
	D(execve, .enter = E_ARGS, .p = { PC(0) }, .x = X_EXEC),
	D(execveat, .enter = E_ARGS, .p = { PD(1, 0) }, .x = X_EXEC),
	D(clone3, .x = X_CLONE3),
	D(open, .enter = E_ARGS | E_PATH, .p = { PC(0) }, .x = X_OPEN),
	D(creat, .enter = E_ARGS | E_PATH, .p = { PC(0) }, .x = X_OPEN),
	D(openat, .enter = E_ARGS | E_PATH, .p = { PD(1, 0) }, .x = X_OPEN),
	D(openat2, .enter = E_ARGS | E_PATH | E_HOW, .p = { PD(1, 0) }, .x = X_OPENAT2),
	D(dup, .x = X_FDINFO, .xarg = LN_ARG_RET),
	D(dup2, .x = X_FDINFO, .xarg = LN_ARG_RET),
	D(dup3, .x = X_FDINFO, .xarg = LN_ARG_RET),
	D(socketpair, .x = X_FDS, .xarg = 3),
	D(pipe, .x = X_FDS, .xarg = 0),
	D(pipe2, .x = X_FDS, .xarg = 0),
	D(connect, .enter = E_ARGS | E_SADDR, .x = X_CONNECT),
	D(bind, .x = X_BIND),
	D(listen, .x = X_TUPLE, .xarg = 0),
	D(accept, .x = X_ACCEPT),
	D(accept4, .x = X_ACCEPT),
	D(sendto, .x = X_SENDTO),
	D(recvfrom, .x = X_RECVFROM),
	D(sendmsg, .x = X_MSG),
	D(recvmsg, .x = X_MSG),
	D(poll, .x = X_POLL),
	D(ppoll, .x = X_POLL),
	D(sendmmsg, .x = X_TUPLE, .xarg = 0),
	D(recvmmsg, .x = X_TUPLE, .xarg = 0),
	D(shutdown, .x = X_TUPLE, .xarg = 0),
	D(unlink, .p = { PC(0) }),
	D(unlinkat, .p = { PD(1, 0) }),
	D(rename, .p = { PC(0), PC(1) }),
	D(renameat, .p = { PD(1, 0), PD(3, 2) }),
	D(renameat2, .p = { PD(1, 0), PD(3, 2) }),
	D(mkdir, .p = { PC(0) }),
	D(mkdirat, .p = { PD(1, 0) }),
	D(rmdir, .p = { PC(0) }),
	D(symlink, .p = { PA(0), PC(1) }),
	D(symlinkat, .p = { PA(0), PD(2, 1) }),
	D(link, .p = { PC(0), PC(1) }),
	D(linkat, .p = { PD(1, 0), PD(3, 2) }),
	D(chmod, .p = { PC(0) }),
	D(truncate, .p = { PC(0) }),
	D(ftruncate, .x = X_FDINFO, .xarg = 0),
	D(fchmod, .x = X_FDINFO, .xarg = 0),
	D(fchmodat, .p = { PD(1, 0) }),
	D(fchmodat2, .p = { PD(1, 0) }),
	D(chown, .p = { PC(0) }),
	D(lchown, .p = { PC(0) }),
	D(fchown, .x = X_FDINFO, .xarg = 0),
	D(fchownat, .p = { PD(1, 0) }),
	D(capset, .x = X_CAPSET),
	D(mount, .p = { PA(0), PC(1), PA(2) }),
	D(umount2, .p = { PC(0) }),
	D(chdir, .p = { PA(0) }, .x = X_CWD),
	D(fchdir, .x = X_CWD),
	D(chroot, .p = { PC(0) }),
	D(memfd_create, .p = { PA(0) }),
	D(finit_module, .x = X_FDINFO, .xarg = 0),
};

/* ---------------------------------------------------------------- small helpers */

#define AT_FDCWD -100
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define TMPFS_MAGIC 0x01021994
#define OVERLAYFS_SUPER_MAGIC 0x794c7630

#define SCR_MASK (LN_SCRATCH - 1)

/* v & m, opaque to clang so that it cannot drop the mask it believes redundant (the
 * verifier needs it to bound a size or an offset). m must be a literal. */
#define BOUND(v, m)                                                    \
	({                                                             \
		__u64 __b = (v);                                       \
		asm volatile("%0 &= " #m : "+r"(__b));                 \
		__b;                                                   \
	})
#define TAIL_HDR ((__u32)sizeof(struct ln_tail))

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&ln_stats, &idx);

	if (v)
		*v += 1;
}

/* Process filter: the agent itself never; with filter_tgid, only that process and the
 * processes it forked while we were watching (ln_follow). */
static __always_inline bool skip_tgid(__u32 tgid)
{
	if (tgid == self_tgid)
		return true;
	if (!filter_tgid || tgid == filter_tgid)
		return false;
	return !bpf_map_lookup_elem(&ln_follow, &tgid);
}

/* Container selection: the current task's cgroup is one user space dropped. */
static __always_inline bool cgroup_dropped(void)
{
	__u64 id;
	__u8 *v;

	if (!filter_cgroup)
		return false;
	id = bpf_get_current_cgroup_id();
	v = bpf_map_lookup_elem(&ln_cgsel, &id);
	return v && *v == LN_SEL_DROP;
}

/* A syscall some gadget slot wants (and not every process): does a slot that wants it keep
 * the current cgroup? */
static __always_inline bool slot_wants(__u8 want)
{
	__u64 id = bpf_get_current_cgroup_id();
	__u8 *drop = bpf_map_lookup_elem(&ln_cgslot, &id);

	return (want & LN_INTEREST_SLOTS & ~(drop ? *drop : 0)) != 0;
}

static __always_inline bool followed(__u32 tgid)
{
	if (!filter_tgid || tgid == filter_tgid)
		return true;
	return bpf_map_lookup_elem(&ln_follow, &tgid) != NULL;
}

/* Submission flags for a record stamped `ts`: see the wakeup policy in lanner_abi.h. Reading
 * the fill level is a helper call that cost ~8 % of the getppid loop when every record made it,
 * so about one record in 64 does (the timestamp's low bits choose it), and a CPU forces at
 * most one wakeup per LN_WAKE_GAP_NS while the ring stays over the threshold. */
#define LN_WAKE_SAMPLE_MASK 0x3f
#define LN_WAKE_GAP_NS 1000000

static __always_inline __u64 wake_flags(__u64 ts)
{
	__u32 zero = 0;
	__u64 *last;

	if (!wakeup_bytes)
		return 0;
	if (ts & LN_WAKE_SAMPLE_MASK)
		return BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_query(&ln_events, BPF_RB_AVAIL_DATA) < wakeup_bytes)
		return BPF_RB_NO_WAKEUP;
	last = bpf_map_lookup_elem(&ln_wake, &zero);
	if (!last || ts - *last < LN_WAKE_GAP_NS)
		return BPF_RB_NO_WAKEUP;
	*last = ts;
	stat_inc(LN_S_WAKEUPS);
	return BPF_RB_FORCE_WAKEUP;
}

static __always_inline void fill_hdr(struct ln_hdr *h, __u64 pid_tgid, __u16 kind, __u16 size)
{
	h->ts = bpf_ktime_get_boot_ns();
	h->tgid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
	h->kind = kind;
	h->size = size;
	h->cpu = bpf_get_smp_processor_id();
	h->ntails = 0;
	h->flags = 0;
}

/* Sends the record built in the scratch buffer. */
static __always_inline int send_scratch(struct ln_buf *r)
{
	struct ln_hdr *h = (void *)r->b;
	__u64 size = h->size;
	__u64 flags;

	if (size > LN_SCRATCH || size < sizeof(*h))
		return 0;
	flags = wake_flags(h->ts);
	if (bpf_ringbuf_output(&ln_events, r->b, size & (2 * LN_SCRATCH - 1), flags))
		stat_inc(LN_S_DROP_RING);
	return 0;
}

/* ---------------------------------------------------------------- tail writers
 *
 * Each appends one self-describing tail at the record's current end (ln_hdr.size), or
 * nothing when there is no room (then LN_F_TRUNC is set). Global functions: the verifier
 * checks each once, with `r` a pointer to a whole struct ln_buf. Kernel pointers are passed
 * as u64 (they were read with BPF_CORE_READ, so they are plain scalars).
 */

static __always_inline void mark_trunc(struct ln_buf *r)
{
	struct ln_hdr *h = (void *)r->b;

	h->flags |= LN_F_TRUNC;
	stat_inc(LN_S_TRUNC);
}

/* Room for a payload of at most `max` bytes; *offp = where the tail header goes. */
static __always_inline __u32 tail_room(struct ln_buf *r, __u32 *offp, __u32 max)
{
	struct ln_hdr *h = (void *)r->b;
	__u32 off = h->size;
	__u32 room;

	if (off + TAIL_HDR + 1 > LN_SCRATCH) {
		mark_trunc(r);
		return 0;
	}
	room = LN_SCRATCH - off - TAIL_HDR;
	*offp = off;
	return room < max ? room : max;
}

static __always_inline void tail_commit(struct ln_buf *r, __u32 off, __u32 kind, __u32 arg, __u32 len)
{
	struct ln_hdr *h = (void *)r->b;
	__u32 o = off & SCR_MASK;

	r->b[o] = len & 0xff;
	r->b[o + 1] = (len >> 8) & 0xff;
	r->b[o + 2] = kind;
	r->b[o + 3] = arg;
	h->size = off + TAIL_HDR + len;
	h->ntails += 1;
}

#define PAYLOAD(r, off) (&(r)->b[((off) + TAIL_HDR) & SCR_MASK])

/* NUL-terminated string from user memory. Returns its first byte, or -1 if nothing added. */
__noinline int ln_put_ustr(struct ln_buf *r, __u32 kind, __u32 arg, __u64 uptr, __u32 max)
{
	__u32 off = 0, cap;
	long n;

	if (!r || !uptr)
		return -1;
	if (max > LN_MAX_PATH)
		max = LN_MAX_PATH;
	cap = tail_room(r, &off, max);
	if (cap == 0 || cap > LN_MAX_PATH)
		return -1;
	n = bpf_probe_read_user_str(PAYLOAD(r, off), BOUND(cap, 8191), (const void *)uptr);
	if (n <= 0) {
		stat_inc(LN_S_READ_FAIL);
		return -1;
	}
	if (n >= cap)
		mark_trunc(r);
	tail_commit(r, off, kind, arg, n);
	return *PAYLOAD(r, off);
}

/* NUL-terminated string from kernel memory (the stash; inline: map pointers cannot be
 * passed to global functions as scalars). */
static __always_inline int put_kstr(struct ln_buf *r, __u32 kind, __u32 arg, __u64 kptr, __u32 max)
{
	__u32 off = 0, cap;
	long n;

	if (!r || !kptr)
		return -1;
	if (max > LN_MAX_PATH)
		max = LN_MAX_PATH;
	cap = tail_room(r, &off, max);
	if (cap == 0 || cap > LN_MAX_PATH)
		return -1;
	n = bpf_probe_read_kernel_str(PAYLOAD(r, off), BOUND(cap, 8191), (const void *)kptr);
	if (n <= 0) {
		stat_inc(LN_S_READ_FAIL);
		return -1;
	}
	if (n >= cap)
		mark_trunc(r);
	tail_commit(r, off, kind, arg, n);
	return 0;
}

static __always_inline int put_bytes(struct ln_buf *r, __u32 kind, __u32 arg, __u64 ptr, __u32 len,
				     bool kern)
{
	__u32 off = 0, cap;
	long err;

	if (!r || !ptr || !len)
		return -1;
	if (len > LN_MAX_PATH)
		len = LN_MAX_PATH;
	cap = tail_room(r, &off, len);
	if (cap == 0 || cap > LN_MAX_PATH)
		return -1;
	if (cap < len)
		mark_trunc(r);
	if (kern)
		err = bpf_probe_read_kernel(PAYLOAD(r, off), BOUND(cap, 8191), (const void *)ptr);
	else
		err = bpf_probe_read_user(PAYLOAD(r, off), BOUND(cap, 8191), (const void *)ptr);
	if (err) {
		stat_inc(LN_S_READ_FAIL);
		return -1;
	}
	tail_commit(r, off, kind, arg, cap);
	return 0;
}

/* Exactly `len` bytes (<= LN_MAX_PATH) of user memory; ka = kind | arg << 8. */
__noinline int ln_put_ubytes(struct ln_buf *r, __u32 ka, __u64 uptr, __u32 len)
{
	return put_bytes(r, ka & 0xff, ka >> 8, uptr, len, false);
}

/* Absolute path of (dentry, vfsmount), walked up to the current task's root (like d_path),
 * crossing mount points. The walk collects name pointers leaf first (bpf_loop, so the
 * verifier checks one iteration), then writes them root first. */
struct dp_ctx {
	struct ln_path_pos p;
	__u32 depth;
	__u32 done;
	__u32 base; /* payload offset in the scratch record */
	__u32 cap;  /* payload capacity */
	__u32 pos;  /* payload bytes written */
	__u32 trunc;
};

static long dp_walk_cb(__u32 i, void *ctx)
{
	struct dp_ctx *c = ctx;
	struct dentry *dentry, *parent;
	struct ln_walk *w;
	__u32 zero = 0;
	__u64 name;
	int step = ln_path_step(&c->p);

	if (step == LN_PATH_ROOT)
		goto done;
	if (step == LN_PATH_CROSSED)
		return 0;
	dentry = (void *)c->p.dentry;
	parent = BPF_CORE_READ(dentry, d_parent);
	if (!parent)
		goto done;
	w = bpf_map_lookup_elem(&ln_walk_heap, &zero);
	if (!w)
		goto done;
	/* parent == dentry below a mount root: a pseudo file (memfd, anon inode), which is
	 * named by its own dentry: "/memfd:name" */
	name = (__u64)BPF_CORE_READ(dentry, d_name.name);
	if (BPF_CORE_READ(dentry, d_name.len) > 0) { /* nsfs/pidfs name theirs with d_dname */
		w->name[c->depth & (LN_WALK_MAX - 1)] = name;
		c->depth++;
	}
	if (parent == dentry)
		goto done;
	c->p.dentry = (__u64)parent;
	if (c->depth >= LN_WALK_MAX)
		goto done;
	return 0;
done:
	c->done = 1;
	return 1;
}

static long dp_emit_cb(__u32 i, void *ctx)
{
	struct dp_ctx *c = ctx;
	__u32 zero = 0, pos = c->pos, base = c->base & SCR_MASK;
	struct ln_walk *w;
	struct ln_buf *r;
	__u64 room;
	long n;

	if (i >= c->depth || i >= LN_WALK_MAX)
		return 1;
	r = bpf_map_lookup_elem(&ln_scratch, &zero);
	w = bpf_map_lookup_elem(&ln_walk_heap, &zero);
	if (!r || !w)
		return 1;
	if (pos + 2 > c->cap) {
		c->trunc = 1;
		return 1;
	}
	r->b[base + (pos & (LN_MAX_PATH - 1))] = '/';
	room = (__u64)c->cap - pos - 1;
	if (room > LN_MAX_PATH)
		return 1;
	n = bpf_probe_read_kernel_str(&r->b[base + ((pos + 1) & (LN_MAX_PATH - 1))], BOUND(room, 8191),
				      (const void *)w->name[(c->depth - 1 - i) & (LN_WALK_MAX - 1)]);
	if (n <= 0) {
		stat_inc(LN_S_READ_FAIL);
		return 1;
	}
	c->pos = pos + n; /* '/' + name; the NUL is overwritten by the next '/' */
	if (n >= room) {
		c->trunc = 1;
		return 1;
	}
	return 0;
}

/* `r` must be the ln_scratch value (the callbacks look it up themselves). */
__noinline int ln_put_dpath(struct ln_buf *r, __u32 kind, __u32 arg, __u64 dentry, __u64 vfsmnt)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct dp_ctx c = {};
	__u32 off = 0, cap, pos;
	__u8 *base;

	if (!r || !dentry || !vfsmnt)
		return -1;
	ln_path_start(&c.p, dentry, vfsmnt, task);
	bpf_loop(2 * LN_WALK_MAX, dp_walk_cb, &c, 0);
	if (!c.done)
		mark_trunc(r);

	cap = tail_room(r, &off, LN_MAX_PATH);
	if (cap < 2 || cap > LN_MAX_PATH)
		return -1;
	c.base = (off + TAIL_HDR) & SCR_MASK;
	c.cap = cap;
	c.pos = 0;
	bpf_loop(LN_WALK_MAX, dp_emit_cb, &c, 0);
	if (c.trunc)
		mark_trunc(r);
	base = PAYLOAD(r, off);
	pos = c.pos;
	if (pos == 0) {
		base[0] = '/';
		pos = 1;
	}
	if (pos >= cap)
		pos = cap - 1;
	base[pos & (LN_MAX_PATH - 1)] = 0;
	tail_commit(r, off, kind, arg, pos + 1);
	return 0;
}

static __always_inline __u64 fd_to_file(__s64 fd)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *f = NULL;
	__u32 max;

	if (!fdt || fd < 0 || fd > 0x7fffffff)
		return 0;
	max = BPF_CORE_READ(fdt, max_fds);
	if ((__u32)fd >= max)
		return 0;
	fds = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return (__u64)f;
}

__noinline int ln_put_cwd(struct ln_buf *r, __u32 kind, __u32 arg)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	__u64 d = (__u64)BPF_CORE_READ(task, fs, pwd.dentry);
	__u64 m = (__u64)BPF_CORE_READ(task, fs, pwd.mnt);

	return ln_put_dpath(r, kind, arg, d, m);
}

/* LN_T_DIR for a relative path argument: cwd for AT_FDCWD, else the dirfd's path. */
__noinline int ln_put_dirfd(struct ln_buf *r, __u32 arg, __s64 dirfd)
{
	struct file *f;

	if ((int)dirfd == AT_FDCWD)
		return ln_put_cwd(r, LN_T_DIR, arg);
	f = (void *)fd_to_file((int)dirfd);
	if (!f)
		return -1;
	return ln_put_dpath(r, LN_T_DIR, arg, (__u64)BPF_CORE_READ(f, f_path.dentry),
			    (__u64)BPF_CORE_READ(f, f_path.mnt));
}

static __always_inline bool file_is_socket(struct file *f)
{
	__u16 mode = BPF_CORE_READ(f, f_inode, i_mode);

	return (mode & S_IFMT) == S_IFSOCK;
}

/* LN_T_TUPLE of the socket open at fd (family 0 when it is not a socket). */
__noinline int ln_put_tuple(struct ln_buf *r, __u32 arg, __s64 fd)
{
	struct ln_sock_tuple t = {};
	struct file *f = (void *)fd_to_file(fd);
	struct socket *sock;
	struct sock *sk;
	__u32 off = 0;

	if (!r)
		return -1;
	if (f && file_is_socket(f)) {
		sock = BPF_CORE_READ(f, private_data);
		sk = BPF_CORE_READ(sock, sk);
		t.type = BPF_CORE_READ(sock, type);
		if (sk) {
			t.family = BPF_CORE_READ(sk, __sk_common.skc_family);
			t.protocol = BPF_CORE_READ(sk, sk_protocol);
			t.lport = BPF_CORE_READ(sk, __sk_common.skc_num);
			t.rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
			if (t.family == AF_INET) {
				__u32 la = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
				__u32 ra = BPF_CORE_READ(sk, __sk_common.skc_daddr);

				__builtin_memcpy(t.laddr, &la, 4);
				__builtin_memcpy(t.raddr, &ra, 4);
			} else if (t.family == AF_INET6) {
				BPF_CORE_READ_INTO(&t.laddr, sk, __sk_common.skc_v6_rcv_saddr);
				BPF_CORE_READ_INTO(&t.raddr, sk, __sk_common.skc_v6_daddr);
			}
		}
	}
	if (tail_room(r, &off, sizeof(t)) < sizeof(t))
		return -1;
	__builtin_memcpy(PAYLOAD(r, off), &t, sizeof(t));
	tail_commit(r, off, LN_T_TUPLE, arg, sizeof(t));
	return 0;
}

/* LN_FI_UPPER / LN_FI_LOWER when the inode is an overlayfs inode, else 0. The overlay inode
 * embeds the vfs inode; __upperdentry is set (with a positive dentry) when the file exists
 * in the upper layer (created or copied up in the container). */
static __always_inline __u32 ovl_layer(struct inode *inode, struct super_block *sb)
{
	struct dentry *upper = NULL;
	__u64 oi;

	if (!inode || BPF_CORE_READ(sb, s_magic) != OVERLAYFS_SUPER_MAGIC ||
	    !bpf_core_type_exists(struct ovl_inode))
		return 0;
	oi = (__u64)inode - bpf_core_field_offset(struct ovl_inode, vfs_inode);
	bpf_probe_read_kernel(&upper, sizeof(upper),
			      (void *)(oi + bpf_core_field_offset(struct ovl_inode, __upperdentry)));
	if (upper && BPF_CORE_READ(upper, d_inode, i_ino))
		return LN_FI_UPPER;
	return LN_FI_LOWER;
}

/* LN_T_FILE: device, inode and overlay layer of the file open at fd. */
__noinline int ln_put_file(struct ln_buf *r, __u32 arg, __s64 fd)
{
	struct ln_file_info fi = {};
	struct file *f = (void *)fd_to_file(fd);
	struct super_block *sb;
	struct inode *inode;
	__u32 off = 0;

	if (!r || !f)
		return -1;
	inode = BPF_CORE_READ(f, f_inode);
	sb = BPF_CORE_READ(inode, i_sb);
	fi.ino = BPF_CORE_READ(inode, i_ino);
	fi.dev = BPF_CORE_READ(sb, s_dev);
	fi.flags = ovl_layer(inode, sb);
	if (tail_room(r, &off, sizeof(fi)) < sizeof(fi))
		return -1;
	__builtin_memcpy(PAYLOAD(r, off), &fi, sizeof(fi));
	tail_commit(r, off, LN_T_FILE, arg, sizeof(fi));
	return 0;
}

/* A u64 tail (LN_T_ENTER_TS). */
static __always_inline void put_u64(struct ln_buf *r, __u32 kind, __u32 arg, __u64 v)
{
	__u32 off = 0;

	if (tail_room(r, &off, sizeof(v)) < sizeof(v))
		return;
	__builtin_memcpy(PAYLOAD(r, off), &v, sizeof(v));
	tail_commit(r, off, kind, arg, sizeof(v));
}

/* LN_T_SOCKADDR (arg 1) from msg_name of the user msghdr of sendmsg/recvmsg, read at exit
 * (recvmsg: msg_namelen as the kernel set it). Nothing when msg_name is NULL or empty. */
__noinline int ln_put_msgname(struct ln_buf *r, __u64 umsg)
{
	struct user_msghdr m = {};
	__u32 len;

	if (!r || !umsg)
		return -1;
	if (bpf_probe_read_user(&m, sizeof(m), (const void *)umsg)) {
		stat_inc(LN_S_READ_FAIL);
		return -1;
	}
	if (!m.msg_name || m.msg_namelen <= 0)
		return -1;
	len = m.msg_namelen > LN_MAX_SOCKADDR ? LN_MAX_SOCKADDR : m.msg_namelen;
	return ln_put_ubytes(r, LN_T_SOCKADDR | (1) << 8, (__u64)m.msg_name, len);
}

/* Sockets get a TUPLE, everything else an FDPATH. */
__noinline int ln_put_fdinfo(struct ln_buf *r, __u32 arg, __s64 fd)
{
	struct file *f = (void *)fd_to_file(fd);

	if (!f)
		return -1;
	if (file_is_socket(f))
		return ln_put_tuple(r, arg, fd);
	return ln_put_dpath(r, LN_T_FDPATH, arg, (__u64)BPF_CORE_READ(f, f_path.dentry),
			    (__u64)BPF_CORE_READ(f, f_path.mnt));
}

#define LN_ARGV_MAX_ARGS 64

struct argv_ctx {
	__u64 argv;
	__u32 base;
	__u32 cap;
	__u32 pos;
	__u32 trunc;
};

static long argv_cb(__u32 i, void *ctx)
{
	struct argv_ctx *c = ctx;
	__u32 zero = 0, pos = c->pos, base = c->base & SCR_MASK;
	struct ln_buf *r;
	__u64 p = 0, room;
	long n;

	if (bpf_probe_read_user(&p, sizeof(p), (const void *)(c->argv + i * 8)) || !p)
		return 1;
	r = bpf_map_lookup_elem(&ln_scratch, &zero);
	if (!r)
		return 1;
	if (pos >= c->cap) {
		c->trunc = 1;
		return 1;
	}
	room = (__u64)c->cap - pos;
	if (room > LN_MAX_ARGV)
		return 1;
	n = bpf_probe_read_user_str(&r->b[base + (pos & (LN_MAX_ARGV - 1))], BOUND(room, 8191),
				    (const void *)p);
	if (n <= 0)
		return 1;
	c->pos = pos + n;
	if (n >= room) {
		c->trunc = 1;
		return 1;
	}
	if (i == LN_ARGV_MAX_ARGS - 1)
		c->trunc = 1;
	return 0;
}

/* argv from a user array of string pointers (failed execve), as LN_T_ARGV.
 * `r` must be the ln_scratch value. */
__noinline int ln_put_uargv(struct ln_buf *r, __u32 arg, __u64 argv)
{
	struct argv_ctx c = {};
	__u32 off = 0, cap;

	if (!r || !argv)
		return -1;
	cap = tail_room(r, &off, LN_MAX_ARGV);
	if (cap == 0 || cap > LN_MAX_ARGV)
		return -1;
	c.argv = argv;
	c.base = (off + TAIL_HDR) & SCR_MASK;
	c.cap = cap;
	bpf_loop(LN_ARGV_MAX_ARGS, argv_cb, &c, 0);
	if (c.trunc)
		mark_trunc(r);
	if (c.pos == 0 || c.pos > cap)
		return -1;
	tail_commit(r, off, LN_T_ARGV, arg, c.pos);
	return 0;
}

/* The user range [start, end) of the current mm as a string-list tail (argv, environment),
 * at most LN_MAX_ARGV (== LN_MAX_ENV) bytes; ka = kind | arg << 8. */
__noinline int ln_put_mm_strs(struct ln_buf *r, __u32 ka, __u64 start, __u64 end)
{
	__u64 len;
	__u32 off = 0, cap;
	__u8 *base;

	if (!r || end <= start)
		return -1;
	len = end - start;
	if (len > LN_MAX_ARGV) {
		len = LN_MAX_ARGV;
		mark_trunc(r);
	}
	cap = tail_room(r, &off, len);
	if (cap == 0 || cap > LN_MAX_ARGV)
		return -1;
	if (cap < len)
		mark_trunc(r);
	base = PAYLOAD(r, off);
	if (bpf_probe_read_user(base, BOUND(cap, 8191), (const void *)start)) {
		stat_inc(LN_S_READ_FAIL);
		return -1;
	}
	if (cap < end - start)
		base[(cap - 1) & (LN_MAX_ARGV - 1)] = 0; /* keep the last string terminated */
	tail_commit(r, off, ka & 0xff, ka >> 8, cap);
	return 0;
}

/* argv (LN_T_ARGV: mm->arg_start..arg_end) or environment (LN_T_ENV: env_start..env_end)
 * of the current mm. */
static __always_inline int put_mm_strs(struct ln_buf *r, __u32 kind, __u32 arg)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct mm_struct *mm = BPF_CORE_READ(task, mm);

	if (!mm)
		return -1;
	if (kind == LN_T_ENV)
		return ln_put_mm_strs(r, kind | arg << 8, BPF_CORE_READ(mm, env_start), BPF_CORE_READ(mm, env_end));
	return ln_put_mm_strs(r, kind | arg << 8, BPF_CORE_READ(mm, arg_start), BPF_CORE_READ(mm, arg_end));
}

/* LN_T_EXE of the current mm. */
__noinline int ln_put_exe(struct ln_buf *r, __u32 arg)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct file *f = BPF_CORE_READ(task, mm, exe_file);

	if (!f)
		return -1;
	return ln_put_dpath(r, LN_T_EXE, arg, (__u64)BPF_CORE_READ(f, f_path.dentry),
			    (__u64)BPF_CORE_READ(f, f_path.mnt));
}

/* ---------------------------------------------------------------- open prefix filter
 *
 * With open_prefix_count > 0, an open's record is made only when its absolute path starts
 * with one of the prefixes: the path stashed at entry when it is absolute (checked before
 * anything of the record is written), else the directory it is relative to (cwd or dirfd,
 * from the dentry walk) + '/' + the path (checked once the PATH and DIR tails are built,
 * before the record is sent). The compare is textual, on the first LN_PREFIX_LEN bytes. A path
 * whose text may differ from its normal form (a ".", ".." or empty component) is never dropped
 * here: user space checks its normalised fd.name, so the kernel drops only what it can prove
 * is outside every prefix. Drops are counted in LN_S_FILTERED.
 */

/* The path's first bytes as words (twice LN_PREFIX_LEN: room for unmasked copies). */
struct ln_pfx_head {
	__u64 w[2 * LN_PREFIX_LEN / 8];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ln_pfx_head);
} ln_pfx_heap SEC(".maps");

/* 0x80 in each byte of x that is zero, exactly (no borrow into the next byte). */
static __always_inline __u64 zero_bytes(__u64 x)
{
	const __u64 lo7 = 0x7f7f7f7f7f7f7f7fULL;

	return ~(((x & lo7) + lo7) | x | lo7);
}

/* 0x80 in each byte of x that equals c. */
static __always_inline __u64 eq_bytes(__u64 x, __u8 c)
{
	return zero_bytes(x ^ (0x0101010101010101ULL * c));
}

/* The low n bytes of a word (n < 8). */
#define LOW_BYTES(n) ((1ULL << ((n) * 8)) - 1)

/* Whether the first `len` bytes at h start with one of the prefixes. */
__noinline int ln_pfx_match(struct ln_pfx_head *h, __u32 len)
{
	__u32 k, w, plen, rem;
	__u64 x;
	bool same;

	if (!h)
		return 0;
	for (k = 0; k < LN_OPEN_PREFIXES; k++) {
		if (k >= open_prefix_count)
			break;
		plen = open_prefix_len[k];
		if (plen == 0 || plen > len || plen > LN_PREFIX_LEN)
			continue;
		same = true;
		for (w = 0; w < LN_PREFIX_LEN / 8; w++) {
			if (w * 8 >= plen)
				break;
			x = h->w[w] ^ *(const volatile __u64 *)&open_prefix_text[k][w * 8];
			rem = plen - w * 8;
			if (rem < 8)
				x &= LOW_BYTES(rem);
			if (x) {
				same = false;
				break;
			}
		}
		if (same)
			return 1;
	}
	return 0;
}

/* Whether the stashed path is plain: no ".", ".." or empty component, so its text is its
 * normal form (a relative one: once appended to the directory it is relative to). */
__noinline int ln_path_plain(struct ln_stash_val *s)
{
	__u64 w0, w1, sl, n1, n2, n3, bad;
	__u32 i, len, rem;
	__u8 c1, c2;

	if (!s || s->len < 2 || s->len > LN_MAX_PATH)
		return 0;
	len = s->len - 1; /* without the NUL */
	if (s->data[0] == '.') {
		c1 = s->data[1];
		c2 = s->data[2];
		if (c1 == 0 || c1 == '/' || (c1 == '.' && (c2 == 0 || c2 == '/')))
			return 0;
	}
	for (i = 0; i < LN_MAX_PATH / 8; i++) {
		if (i * 8 >= len)
			break;
		w0 = *(__u64 *)&s->data[i * 8];
		w1 = i + 1 < LN_MAX_PATH / 8 ? *(__u64 *)&s->data[(i + 1) * 8] : 0;
		sl = eq_bytes(w0, '/');
		rem = len - i * 8;
		if (rem < 8)
			sl &= LOW_BYTES(rem);
		if (!sl)
			continue;
		/* the 1st, 2nd and 3rd byte after each byte (the NUL ends the string: beyond
		 * it only bytes after a '.' are looked at, and the NUL is not one) */
		n1 = w0 >> 8 | w1 << 56;
		n2 = w0 >> 16 | w1 << 48;
		n3 = w0 >> 24 | w1 << 40;
		bad = eq_bytes(n1, '/') |
		      (eq_bytes(n1, '.') &
		       (eq_bytes(n2, '/') | zero_bytes(n2) | (eq_bytes(n2, '.') & (eq_bytes(n3, '/') | zero_bytes(n3)))));
		if (sl & bad)
			return 0;
	}
	return 1;
}

/* An absolute stashed path: keep its record? */
static __always_inline bool pfx_keep_abs(struct ln_stash_val *st)
{
	__u32 len = st->len - 1;

	if (ln_pfx_match((struct ln_pfx_head *)st->data, len < LN_PREFIX_LEN ? len : LN_PREFIX_LEN))
		return true;
	return !ln_path_plain(st);
}

/* A relative stashed path whose DIR tail starts at doff (when the record has more than
 * `ntails` tails): keep its record? */
__noinline int ln_pfx_keep_rel(struct ln_buf *r, __u32 doff, __u32 ntails, struct ln_stash_val *st)
{
	struct ln_hdr *hdr;
	struct ln_pfx_head *h;
	__u32 zero = 0, dlen, plen, pos, n;
	__u8 *b;

	if (!r || !st)
		return 1;
	hdr = (void *)r->b;
	/* no directory, or a cut one: user space decides */
	if (hdr->ntails <= ntails || (hdr->flags & LN_F_TRUNC) || st->len < 2)
		return 1;
	doff &= SCR_MASK;
	dlen = r->b[doff] | (__u32)r->b[doff + 1] << 8;
	if (dlen < 2 || r->b[doff + 2] != LN_T_DIR)
		return 1;
	h = bpf_map_lookup_elem(&ln_pfx_heap, &zero);
	if (!h)
		return 1;
	b = (__u8 *)h->w;
	dlen -= 1; /* without the NUL */
	n = dlen < LN_PREFIX_LEN ? dlen : LN_PREFIX_LEN;
	if (bpf_probe_read_kernel(b, BOUND(n, 255), &r->b[(doff + TAIL_HDR) & SCR_MASK]))
		return 1;
	pos = n;
	/* dir + '/' + path ("/" + path at the root) */
	if (dlen > 1 && pos < LN_PREFIX_LEN) {
		b[BOUND(pos, 127)] = '/';
		pos++;
	}
	plen = st->len - 1;
	if (pos < LN_PREFIX_LEN && plen) {
		n = LN_PREFIX_LEN - pos;
		if (plen < n)
			n = plen;
		if (bpf_probe_read_kernel(&b[BOUND(pos, 127)], BOUND(n, 127), st->data))
			return 1;
		pos += n;
	}
	if (ln_pfx_match(h, pos > LN_PREFIX_LEN ? LN_PREFIX_LEN : pos))
		return 1;
	return !ln_path_plain(st);
}

/* ---------------------------------------------------------------- syscalls */

#define TS_COMPAT 0x0002 /* x86 thread_info.status: in an ia32 syscall */

/* ia32 syscalls use other numbers; raw_syscalls reports them too (the per-syscall
 * tracepoints ignore them). They are not traced: counted as filtered. */
static __always_inline bool in_ia32_syscall(struct task_struct *task)
{
	return task->thread_info.status & TS_COMPAT;
}

static __always_inline void fill_syscall(struct ln_syscall *e, struct task_struct *task,
					 struct pt_regs *regs, __u32 nr, long ret, __u64 pid_tgid)
{
	const struct cred *cred = task->cred;

	fill_hdr(&e->h, pid_tgid, LN_K_SYSCALL, sizeof(*e));
	e->nr = nr;
	e->euid = cred->euid.val;
	e->egid = cred->egid.val;
	e->pad = 0;
	e->ret = ret;
	e->args[0] = regs->di;
	e->args[1] = regs->si;
	e->args[2] = regs->dx;
	e->args[3] = regs->r10;
	e->args[4] = regs->r8;
	e->args[5] = regs->r9;
	/* == bpf_get_current_cgroup_id(), but direct loads are ~45 ns cheaper here */
	e->cgroup_id = task->cgroups->dfl_cgrp->kn->id;
}

/* sys_enter: stash what must be read before the kernel does (TOCTOU), keyed by tid. */
static __noinline int stash_enter(struct pt_regs *regs, __u32 nr, __u32 ef)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid, zero = 0;
	struct ln_stash_val *s;
	__u8 *want;
	long n;

	if (skip_tgid(pid_tgid >> 32) || in_ia32_syscall(bpf_get_current_task_btf()) || cgroup_dropped())
		return 0;
	want = bpf_map_lookup_elem(&ln_interest, &nr);
	if (!want || !*want)
		return 0;
	if (!(*want & LN_INTEREST_EVERY) && !slot_wants(*want))
		return 0;
	/* A thread keeps its stash entry (consumed entries are marked LN_STASH_FREE rather
	 * than deleted), so the common case writes in place: no 4 KiB value copy, no LRU
	 * insert/delete. Only a thread's first stashed syscall inserts (from the zeroed heap). */
	s = bpf_map_lookup_elem(&ln_stash, &tid);
	if (!s) {
		s = bpf_map_lookup_elem(&ln_stash_heap, &zero);
		if (!s)
			return 0;
		s->nr = LN_STASH_FREE;
		bpf_map_update_elem(&ln_stash, &tid, s, BPF_ANY);
		s = bpf_map_lookup_elem(&ln_stash, &tid);
		if (!s)
			return 0;
	}
	s->nr = nr;
	s->ts = bpf_ktime_get_boot_ns();
	s->len = 0;
	s->args[0] = regs->di;
	s->args[1] = regs->si;
	s->args[2] = regs->dx;
	s->args[3] = regs->r10;
	s->args[4] = regs->r8;
	s->args[5] = regs->r9;
	if (ef & E_PATH) {
		/* path slot 0 of open/creat is arg0, of openat/openat2 arg1 */
		__u64 p = (nr == LN_NR_open || nr == LN_NR_creat) ? s->args[0] : s->args[1];

		n = bpf_probe_read_user_str(s->data, sizeof(s->data), (const void *)p);
		if (n > 0)
			s->len = n;
		else
			stat_inc(LN_S_READ_FAIL);
	}
	if (ef & E_SADDR) {
		__u64 len = s->args[2];

		if (len > LN_MAX_SOCKADDR)
			len = LN_MAX_SOCKADDR;
		if (len && !bpf_probe_read_user(s->data, len & (LN_MAX_SOCKADDR * 2 - 1),
						(const void *)s->args[1]))
			s->len = len;
	}
	if (ef & E_HOW) {
		__builtin_memset(&s->how, 0, sizeof(s->how));
		if (s->args[3] >= sizeof(s->how))
			bpf_probe_read_user(&s->how, sizeof(s->how), (const void *)s->args[2]);
	}
	return 0;
}

static __always_inline int do_enter(struct pt_regs *regs, long id)
{
	__u32 nr, ef;

	if ((unsigned long)id >= LN_MAX_SYSCALL)
		return 0;
	nr = id;
	ef = ln_descs[nr].enter;
	if (!ef)
		return 0;
	return stash_enter(regs, nr, ef);
}

/* Path slot: LN_T_PATH (+ LN_T_DIR when relative). */
static __always_inline void put_path_slot(struct ln_buf *r, __u8 slot, __u64 *args)
{
	__u32 ai = slot & 7, dir = (slot >> 3) & 7;
	int c;

	if (!(slot & 0x80) || ai > 5)
		return;
	c = ln_put_ustr(r, LN_T_PATH, ai, args[ai], LN_MAX_PATH);
	if (c < 0 || c == '/' || dir == 0)
		return;
	if (dir == 7)
		ln_put_dirfd(r, ai, AT_FDCWD);
	else
		ln_put_dirfd(r, ai, args[(dir - 1) & 7]);
}

/* Slow path: a record with tails, built in the per-CPU scratch buffer. */
static __noinline int emit_full(struct pt_regs *regs, __u32 nr, long ret, __u64 pid_tgid)
{
	__u32 zero = 0, tid = (__u32)pid_tgid;
	struct ln_stash_val *st = NULL;
	struct ln_syscall *e;
	struct ln_desc d;
	struct ln_buf *r;
	__u64 args[6];
	int i;

	r = bpf_map_lookup_elem(&ln_scratch, &zero);
	if (!r) {
		stat_inc(LN_S_DROP_SCRATCH);
		return 0;
	}
	e = (void *)r->b;
	d = ln_descs[BOUND(nr, 511)];
	if (d.enter)
		st = bpf_map_lookup_elem(&ln_stash, &tid);
	/* open prefix filter, absolute paths: before anything is written */
	if (open_prefix_count && (d.enter & E_PATH) && st && st->nr == nr && st->len &&
	    st->data[0] == '/' && !pfx_keep_abs(st)) {
		st->nr = LN_STASH_FREE;
		stat_inc(LN_S_FILTERED);
		return 0;
	}
	fill_syscall(e, bpf_get_current_task_btf(), regs, nr, ret, pid_tgid);

	if (d.enter) {
		/* after a successful execveat, orig_ax reads as execve at sys_exit (seen on
		 * 6.18 with fexecve): trust the number stashed at entry */
		if (st && st->nr != nr && d.x == X_EXEC && ret == 0 &&
		    (st->nr == LN_NR_execve || st->nr == LN_NR_execveat)) {
			nr = st->nr;
			e->nr = nr;
		}
		if (st && st->nr == nr) {
			for (i = 0; i < 6; i++)
				e->args[i] = st->args[i];
			put_u64(r, LN_T_ENTER_TS, LN_ARG_NONE, st->ts);
		} else {
			st = NULL;
			stat_inc(LN_S_ENTER_MISS);
		}
	}
	for (i = 0; i < 6; i++)
		args[i] = e->args[i];

	if (d.x == X_EXEC) {
		if (ret == 0) {
			/* the new image: its exe, argv and cwd */
			ln_put_exe(r, LN_ARG_NONE);
			put_mm_strs(r, LN_T_ARGV, nr == LN_NR_execve ? 1 : 2);
			ln_put_cwd(r, LN_T_CWD, LN_ARG_NONE);
			put_mm_strs(r, LN_T_ENV, LN_ARG_NONE);
		} else {
			/* failed: the caller's memory is intact, read it now */
			put_path_slot(r, d.p[0], args);
			ln_put_uargv(r, nr == LN_NR_execve ? 1 : 2, args[nr == LN_NR_execve ? 1 : 2]);
		}
		goto out;
	}

	if (d.enter & E_PATH) {
		/* TOCTOU-safe path read at entry */
		__u32 ai = d.p[0] & 7, dir = (d.p[0] >> 3) & 7;

		if (st && st->len) {
			put_kstr(r, LN_T_PATH, ai, (__u64)st->data, LN_MAX_PATH);
			if (st->data[0] != '/') {
				__u32 doff = e->h.size, nt = e->h.ntails;

				ln_put_dirfd(r, ai, dir == 7 ? AT_FDCWD : args[(dir - 1) & 7]);
				/* open prefix filter, relative paths: before the record is sent */
				if (open_prefix_count && !ln_pfx_keep_rel(r, doff, nt, st)) {
					st->nr = LN_STASH_FREE;
					stat_inc(LN_S_FILTERED);
					return 0;
				}
			}
		}
	} else {
		put_path_slot(r, d.p[0], args);
	}
	put_path_slot(r, d.p[1], args);
	put_path_slot(r, d.p[2], args);

	switch (d.x) {
	case X_OPENAT2:
		if (st)
			put_bytes(r, LN_T_OPEN_HOW, 2, (__u64)&st->how, sizeof(st->how), true);
		if (ret >= 0)
			ln_put_file(r, LN_ARG_RET, ret);
		break;
	case X_OPEN:
		if (ret >= 0)
			ln_put_file(r, LN_ARG_RET, ret);
		break;
	case X_MSG:
		ln_put_tuple(r, 0, args[0]);
		if (ret >= 0)
			ln_put_msgname(r, args[1]);
		break;
	case X_POLL:
		if (ret >= 0 && args[1]) {
			__u64 n = args[1];

			if (n > LN_MAX_POLLFDS) {
				n = LN_MAX_POLLFDS;
				mark_trunc(r);
			}
			ln_put_ubytes(r, LN_T_POLLFDS | (0) << 8, args[0], n * sizeof(struct ln_pollfd));
		}
		break;
	case X_CONNECT:
		if (st && st->len)
			put_bytes(r, LN_T_SOCKADDR, 1, (__u64)st->data, st->len & (LN_MAX_SOCKADDR * 2 - 1), true);
		ln_put_tuple(r, 0, args[0]);
		break;
	case X_BIND:
		ln_put_ubytes(r, LN_T_SOCKADDR | (1) << 8, args[1], args[2] > LN_MAX_SOCKADDR ? LN_MAX_SOCKADDR : args[2]);
		ln_put_tuple(r, 0, args[0]);
		break;
	case X_TUPLE:
		ln_put_tuple(r, d.xarg, args[d.xarg & 7]);
		break;
	case X_ACCEPT:
		if (ret >= 0)
			ln_put_tuple(r, LN_ARG_RET, ret);
		break;
	case X_SENDTO:
	case X_RECVFROM:
		ln_put_tuple(r, 0, args[0]);
		if (args[4] && args[5] && ret >= 0) {
			__u32 alen = 0;

			if (d.x == X_SENDTO)
				alen = args[5];
			else
				bpf_probe_read_user(&alen, sizeof(alen), (const void *)args[5]);
			if (alen > LN_MAX_SOCKADDR)
				alen = LN_MAX_SOCKADDR;
			ln_put_ubytes(r, LN_T_SOCKADDR | (4) << 8, args[4], alen);
		}
		if (snaplen && ret > 0) {
			__u32 n = snaplen < LN_MAX_DATA ? snaplen : LN_MAX_DATA;

			if (ret < n)
				n = ret;
			ln_put_ubytes(r, LN_T_DATA | (1) << 8, args[1], n);
		}
		break;
	case X_FDS:
		if (ret == 0)
			ln_put_ubytes(r, LN_T_FDS | (d.xarg) << 8, args[d.xarg & 7], 8);
		break;
	case X_FDINFO:
		if (d.xarg == LN_ARG_RET) {
			if (ret >= 0)
				ln_put_fdinfo(r, LN_ARG_RET, ret);
		} else {
			ln_put_fdinfo(r, d.xarg, args[d.xarg & 7]);
		}
		break;
	case X_CWD:
		if (ret == 0)
			ln_put_cwd(r, LN_T_CWD, LN_ARG_NONE);
		break;
	case X_CLONE3:
		ln_put_ubytes(r, LN_T_DATA | (0) << 8, args[0], args[1] > 64 ? 64 : args[1]);
		break;
	case X_CAPSET:
		ln_put_ubytes(r, LN_T_DATA | (1) << 8, args[1], 24);
		break;
	}
out:
	if (st)
		st->nr = LN_STASH_FREE;
	return send_scratch(r);
}

static __always_inline int do_exit(struct pt_regs *regs, long id, long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct task_struct *task;
	struct ln_syscall *e;
	__u8 *want;
	__u32 nr;

	if ((unsigned long)id >= LN_MAX_SYSCALL)
		return 0;
	nr = id;
	if ((pid_tgid >> 32) == self_tgid)
		return 0;
	want = bpf_map_lookup_elem(&ln_interest, &nr);
	task = bpf_get_current_task_btf();
	if (!want || !*want || in_ia32_syscall(task)) {
		stat_inc(LN_S_FILTERED);
		return 0;
	}
	if (filter_tgid && skip_tgid(pid_tgid >> 32))
		return 0;
	if (cgroup_dropped())
		return 0;
	if (!(*want & LN_INTEREST_EVERY) && !slot_wants(*want))
		return 0;
	nr = BOUND(nr, 511); /* the stack spill of the map key dropped the bounds */
	if (ln_descs[nr].tails)
		return emit_full(regs, nr, ret, pid_tgid);

	/* fast path: fixed record reserved directly in the ring; no per-record counter (the
	 * consumer counts what it reads; the kernel counts what it loses) */
	e = bpf_ringbuf_reserve(&ln_events, sizeof(*e), 0);
	if (!e) {
		stat_inc(LN_S_DROP_RING);
		return 0;
	}
	fill_syscall(e, task, regs, nr, ret, pid_tgid);
	bpf_ringbuf_submit(e, wake_flags(e->h.ts));
	return 0;
}

static __always_inline struct pt_regs *current_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

/* "all" mode: every syscall, filtered by ln_interest. */
SEC("tp_btf/sys_enter")
int BPF_PROG(ln_enter_btf, struct pt_regs *regs, long id)
{
	return do_enter(regs, id);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(ln_exit_btf, struct pt_regs *regs, long ret)
{
	return do_exit(regs, regs->orig_ax, ret);
}

/* "all" mode fallback when tp_btf is refused. */
SEC("raw_tracepoint/sys_enter")
int ln_enter_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return do_enter(current_regs(), ctx->args[1]);
}

SEC("raw_tracepoint/sys_exit")
int ln_exit_raw(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = current_regs();

	return do_exit(regs, regs->orig_ax, ctx->args[1]);
}

/* "selected" mode: attached by the loader to syscalls/sys_enter_<name> and
 * syscalls/sys_exit_<name>. Only the common prefix of the per-syscall tracepoint formats is
 * read from the context (nr at 8, ret at 16): the arguments come from pt_regs, so that the
 * program's context access fits the smallest per-syscall record. */
struct ln_tp_sys_enter {
	__u64 common;
	__s32 nr;
};

struct ln_tp_sys_exit {
	__u64 common;
	__s32 nr;
	__s32 pad;
	__s64 ret;
};

SEC("tracepoint")
int ln_enter_tp(struct ln_tp_sys_enter *ctx)
{
	return do_enter(current_regs(), ctx->nr);
}

SEC("tracepoint")
int ln_exit_tp(struct ln_tp_sys_exit *ctx)
{
	return do_exit(current_regs(), ctx->nr, ctx->ret);
}

/* ---------------------------------------------------------------- process lifecycle */

static __always_inline __u32 pid_nr_at(struct pid *pid, __u32 level)
{
	struct upid up = {};

	if (!pid || level > BPF_CORE_READ(pid, level))
		return 0;
	bpf_probe_read_kernel(&up, sizeof(up),
			      (void *)pid + bpf_core_field_offset(struct pid, numbers) +
				      (level & 63) * sizeof(struct upid));
	return up.nr;
}

static __always_inline __u32 exe_flags(struct task_struct *t)
{
	struct file *exe = BPF_CORE_READ(t, mm, exe_file);
	struct inode *inode;
	__u32 flags = 0, layer;
	char name[8] = {};

	if (!exe)
		return 0;
	inode = BPF_CORE_READ(exe, f_inode);
	if (BPF_CORE_READ(inode, i_nlink) == 0) {
		flags |= LN_PF_EXE_DELETED;
		bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(exe, f_path.dentry, d_name.name));
		if (name[0] == 'm' && name[1] == 'e' && name[2] == 'm' && name[3] == 'f' && name[4] == 'd' &&
		    name[5] == ':')
			flags |= LN_PF_EXE_MEMFD;
	}
	layer = ovl_layer(inode, BPF_CORE_READ(inode, i_sb));
	if (layer == LN_FI_UPPER)
		flags |= LN_PF_EXE_UPPER;
	else if (layer == LN_FI_LOWER)
		flags |= LN_PF_EXE_LOWER;
	return flags;
}

/* ---- exe details for LN_K_EXEC: inode times and Falco's EXE_WRITABLE */

#define SB_RDONLY 1
#define S_IMMUTABLE 8
#define S_IFREG 0100000
#define S_IFDIR 0040000
#define S_IFLNK 0120000
#define LN_CAP_DAC_OVERRIDE 1
#define LN_CAP_FOWNER 3
#define LN_MAY_WRITE 2

/* inode timestamps before 6.11 (i_*time_sec/nsec): 6.6 moved ctime to __i_ctime, 6.7 mtime
 * to __i_mtime; before that both were struct timespec64 i_ctime / i_mtime. */
struct inode___v6_7 {
	struct timespec64 __i_ctime;
	struct timespec64 __i_mtime;
} __attribute__((preserve_access_index));

struct inode___v6_6 {
	struct timespec64 __i_ctime;
	struct timespec64 i_mtime;
} __attribute__((preserve_access_index));

struct inode___old {
	struct timespec64 i_ctime;
	struct timespec64 i_mtime;
} __attribute__((preserve_access_index));

static __always_inline __u64 epoch_ns(__s64 sec, __u64 nsec)
{
	return sec < 0 ? 0 : (__u64)sec * 1000000000ULL + nsec;
}

static __always_inline __u64 inode_ctime_ns(struct inode *i)
{
	struct timespec64 t = {};

	if (bpf_core_field_exists(i->i_ctime_sec))
		/* bit 31 of i_ctime_nsec is I_CTIME_QUERIED (multigrain timestamps, 6.13+) */
		return epoch_ns(BPF_CORE_READ(i, i_ctime_sec), BPF_CORE_READ(i, i_ctime_nsec) & 0x7fffffff);
	if (bpf_core_field_exists(((struct inode___v6_7 *)i)->__i_ctime))
		BPF_CORE_READ_INTO(&t, (struct inode___v6_7 *)i, __i_ctime);
	else
		BPF_CORE_READ_INTO(&t, (struct inode___old *)i, i_ctime);
	return epoch_ns(t.tv_sec, t.tv_nsec);
}

static __always_inline __u64 inode_mtime_ns(struct inode *i)
{
	struct timespec64 t = {};

	if (bpf_core_field_exists(i->i_mtime_sec))
		return epoch_ns(BPF_CORE_READ(i, i_mtime_sec), BPF_CORE_READ(i, i_mtime_nsec));
	if (bpf_core_field_exists(((struct inode___v6_7 *)i)->__i_mtime))
		BPF_CORE_READ_INTO(&t, (struct inode___v6_7 *)i, __i_mtime);
	else
		BPF_CORE_READ_INTO(&t, (struct inode___old *)i, i_mtime);
	return epoch_ns(t.tv_sec, t.tv_nsec);
}

/* Whether id has a mapping in a user namespace's uid_gid_map (the kernel's map_id_up):
 * up to 5 extents inline, more through `forward`. */
struct idmap_ctx {
	__u64 ext;
	__u32 id;
	__u32 n;
	__u32 found;
};

static long idmap_cb(__u32 i, void *ctx)
{
	struct idmap_ctx *c = ctx;
	struct uid_gid_extent e = {};

	if (i >= c->n)
		return 1;
	if (bpf_probe_read_kernel(&e, sizeof(e), (void *)(c->ext + (__u64)i * sizeof(e))))
		return 1;
	if (c->id >= e.lower_first && c->id - e.lower_first < e.count) {
		c->found = 1;
		return 1;
	}
	return 0;
}

static __always_inline bool id_mapped(__u64 map, __u32 id)
{
	struct idmap_ctx c = { .id = id };
	struct uid_gid_map *m = (void *)map;

	c.n = BPF_CORE_READ(m, nr_extents);
	if (c.n <= 5)
		c.ext = map + bpf_core_field_offset(struct uid_gid_map, extent);
	else
		bpf_probe_read_kernel(&c.ext, sizeof(c.ext),
				      (void *)(map + bpf_core_field_offset(struct uid_gid_map, forward)));
	bpf_loop(340, idmap_cb, &c, 0); /* UID_GID_MAP_MAX_EXTENTS */
	return c.found;
}

/* Binary search of gid in the sorted supplementary groups (the kernel's groups_search). */
struct groups_ctx {
	__u64 gid_arr;
	__u32 gid;
	__u32 left;
	__u32 right;
	__u32 found;
};

static long groups_cb(__u32 i, void *ctx)
{
	struct groups_ctx *c = ctx;
	__u32 mid, g = 0;

	if (c->left >= c->right)
		return 1;
	mid = c->left + (c->right - c->left) / 2;
	bpf_probe_read_kernel(&g, sizeof(g), (void *)(c->gid_arr + (__u64)mid * sizeof(g)));
	if (c->gid > g) {
		c->left = mid + 1;
	} else if (c->gid < g) {
		c->right = mid;
	} else {
		c->found = 1;
		return 1;
	}
	return 0;
}

/*
 * Falco's EXE_WRITABLE for the exe `inode` of the current task: false on a read-only superblock (for
 * regular files, directories, links) or an immutable inode, and when the inode's uid/gid have
 * no mapping; true when the fsuid owns it (it may chmod it), when the permission bits of its
 * class (owner, group incl. supplementary groups, other) allow writing, or with
 * CAP_DAC_OVERRIDE (uid and gid mapped in the task's user namespace) or CAP_FOWNER (uid
 * mapped). POSIX ACLs are not consulted. Global: verified once, with scalars.
 */
__noinline int ln_exe_writable(__u64 inode)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	struct inode *ino = (void *)inode;
	const struct cred *cred;
	struct groups_ctx g = {};
	__u32 mode, iuid, igid, fsuid, fsgid;
	__u64 caps, ns, gi;

	if (!t || !ino)
		return 0;
	mode = BPF_CORE_READ(ino, i_mode);
	if ((BPF_CORE_READ(ino, i_sb, s_flags) & SB_RDONLY) &&
	    ((mode & S_IFMT) == S_IFREG || (mode & S_IFMT) == S_IFDIR || (mode & S_IFMT) == S_IFLNK))
		return 0;
	if (BPF_CORE_READ(ino, i_flags) & S_IMMUTABLE)
		return 0;
	iuid = BPF_CORE_READ(ino, i_uid.val);
	igid = BPF_CORE_READ(ino, i_gid.val);
	if (iuid == 0xffffffff || igid == 0xffffffff)
		return 0;
	cred = BPF_CORE_READ(t, cred);
	fsuid = BPF_CORE_READ(cred, fsuid.val);
	fsgid = BPF_CORE_READ(cred, fsgid.val);
	if (fsuid == iuid)
		return 1;
	if (igid == fsgid) {
		mode >>= 3;
	} else {
		gi = (__u64)BPF_CORE_READ(cred, group_info);
		if (gi) {
			g.gid = igid;
			g.right = BPF_CORE_READ((struct group_info *)gi, ngroups);
			g.gid_arr = gi + bpf_core_field_offset(struct group_info, gid);
			bpf_loop(32, groups_cb, &g, 0);
			if (g.found)
				mode >>= 3;
		}
	}
	if (mode & LN_MAY_WRITE)
		return 1;
	caps = BPF_CORE_READ(cred, cap_effective.val);
	if (!(caps & (1ULL << LN_CAP_DAC_OVERRIDE | 1ULL << LN_CAP_FOWNER)))
		return 0;
	ns = (__u64)BPF_CORE_READ(cred, user_ns);
	if (!ns || !id_mapped(ns + bpf_core_field_offset(struct user_namespace, uid_map), iuid))
		return 0;
	if (caps & (1ULL << LN_CAP_FOWNER))
		return 1;
	return id_mapped(ns + bpf_core_field_offset(struct user_namespace, gid_map), igid);
}

/* The LN_K_EXEC-only fields of struct ln_proc: the exe's inode number and times, and
 * LN_PF_EXE_WRITABLE. t is the current task (the one that exec'd). */
static __noinline void fill_exe(struct ln_proc *p, struct task_struct *t)
{
	struct inode *inode = BPF_CORE_READ(t, mm, exe_file, f_inode);

	if (!inode)
		return;
	p->exe_ino = BPF_CORE_READ(inode, i_ino);
	p->exe_ctime_ns = inode_ctime_ns(inode);
	p->exe_mtime_ns = inode_mtime_ns(inode);
	if (ln_exe_writable((__u64)inode))
		p->flags |= LN_PF_EXE_WRITABLE;
}

static __always_inline __u64 task_cgroup_id(struct task_struct *t)
{
	return BPF_CORE_READ(t, cgroups, dfl_cgrp, kn, id);
}

/* Every field of struct ln_proc about task t (the header is filled by the caller). */
static __noinline void fill_proc(struct ln_proc *p, struct task_struct *t)
{
	const struct cred *cred = BPF_CORE_READ(t, cred);
	struct signal_struct *sig = BPF_CORE_READ(t, signal);
	struct pid *tpid = BPF_CORE_READ(t, thread_pid);
	struct pid *lpid = BPF_CORE_READ(t, group_leader, thread_pid);
	struct tty_struct *tty = BPF_CORE_READ(sig, tty);
	struct upid up = {};
	__u32 level = 0;

	p->ppid = BPF_CORE_READ(t, real_parent, tgid);
	p->uid = BPF_CORE_READ(cred, uid.val);
	p->gid = BPF_CORE_READ(cred, gid.val);
	p->euid = BPF_CORE_READ(cred, euid.val);
	p->egid = BPF_CORE_READ(cred, egid.val);
	p->loginuid = 0xffffffff;
	if (bpf_core_field_exists(t->loginuid))
		p->loginuid = BPF_CORE_READ(t, loginuid.val);
	if (tpid)
		level = BPF_CORE_READ(tpid, level);
	p->vtid = pid_nr_at(tpid, level);
	p->vpid = pid_nr_at(lpid, level);
	p->sid = pid_nr_at(BPF_CORE_READ(sig, pids[PIDTYPE_SID]), 0);
	p->vpgid = pid_nr_at(BPF_CORE_READ(sig, pids[PIDTYPE_PGID]), level);
	p->pgid = pid_nr_at(BPF_CORE_READ(sig, pids[PIDTYPE_PGID]), 0);
	p->tty = 0;
	if (tty) {
		__u32 major = BPF_CORE_READ(tty, driver, major);
		__u32 minor = BPF_CORE_READ(tty, driver, minor_start) + BPF_CORE_READ(tty, index);

		p->tty = major << 20 | (minor & 0xfffff);
	}
	p->start_ns = BPF_CORE_READ(t, start_boottime);
	p->cgroup_id = task_cgroup_id(t);
	p->mntns = BPF_CORE_READ(t, nsproxy, mnt_ns, ns.inum);
	p->netns = BPF_CORE_READ(t, nsproxy, net_ns, ns.inum);
	p->pidns = 0;
	p->pidns_init_start_ns = 0;
	if (tpid) {
		bpf_probe_read_kernel(&up, sizeof(up),
				      (void *)tpid + bpf_core_field_offset(struct pid, numbers) +
					      (level & 63) * sizeof(struct upid));
		p->pidns = BPF_CORE_READ(up.ns, ns.inum);
		p->pidns_init_start_ns = BPF_CORE_READ(up.ns, child_reaper, start_boottime);
	}
	p->pad = 0;
	p->exe_ino = 0;
	p->exe_ctime_ns = 0;
	p->exe_mtime_ns = 0;
	p->cap_effective = BPF_CORE_READ(cred, cap_effective.val);
	p->cap_permitted = BPF_CORE_READ(cred, cap_permitted.val);
	p->child_tgid = 0;
	p->exit_code = 0;
	p->flags = exe_flags(t);
	bpf_probe_read_kernel_str(p->comm, sizeof(p->comm), t->comm);
}

static __always_inline struct ln_buf *proc_begin(__u64 pid_tgid, __u16 kind)
{
	__u32 zero = 0;
	struct ln_buf *r = bpf_map_lookup_elem(&ln_scratch, &zero);

	if (!r) {
		stat_inc(LN_S_DROP_SCRATCH);
		return NULL;
	}
	fill_hdr((struct ln_hdr *)r->b, pid_tgid, kind, sizeof(struct ln_proc));
	return r;
}

static __noinline int on_fork(struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	__u32 cpid = BPF_CORE_READ(child, pid);
	struct ln_proc *p;
	struct ln_buf *r;
	__u8 one = 1;

	if (ptgid == self_tgid || !followed(ptgid) || cgroup_dropped())
		return 0;
	if (filter_tgid && ctgid != ptgid)
		bpf_map_update_elem(&ln_follow, &ctgid, &one, BPF_ANY);
	r = proc_begin(bpf_get_current_pid_tgid(), LN_K_FORK);
	if (!r)
		return 0;
	p = (void *)r->b;
	fill_proc(p, child);
	p->child_tgid = ctgid;
	p->exit_code = cpid;
	if (ctgid != cpid)
		p->flags |= LN_PF_THREAD;
	return send_scratch(r);
}

static __noinline int on_exec(struct task_struct *task, __u32 old_pid)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct ln_proc *p;
	struct ln_buf *r;

	if (skip_tgid(pid_tgid >> 32) || cgroup_dropped())
		return 0;
	r = proc_begin(pid_tgid, LN_K_EXEC);
	if (!r)
		return 0;
	p = (void *)r->b;
	fill_proc(p, task);
	fill_exe(p, task);
	p->exit_code = old_pid;
	ln_put_exe(r, LN_ARG_NONE);
	put_mm_strs(r, LN_T_ARGV, LN_ARG_NONE);
	ln_put_cwd(r, LN_T_CWD, LN_ARG_NONE);
	put_mm_strs(r, LN_T_ENV, LN_ARG_NONE);
	return send_scratch(r);
}

static __noinline int on_exit(struct task_struct *task)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32, tid;
	struct ln_proc *p;
	struct ln_buf *r;
	bool group_dead;

	if (skip_tgid(tgid))
		return 0;
	group_dead = BPF_CORE_READ(task, signal, live.counter) == 0;
	r = cgroup_dropped() ? NULL : proc_begin(pid_tgid, LN_K_EXIT);
	if (r) {
		p = (void *)r->b;
		fill_proc(p, task);
		p->exit_code = BPF_CORE_READ(task, exit_code);
		if (group_dead)
			p->flags |= LN_PF_GROUP_DEAD;
		if ((__u32)pid_tgid != tgid)
			p->flags |= LN_PF_THREAD;
		send_scratch(r);
	}
	if (filter_tgid && group_dead)
		bpf_map_delete_elem(&ln_follow, &tgid);
	tid = (__u32)pid_tgid;
	bpf_map_delete_elem(&ln_stash, &tid); /* the thread's entry, if it ever stashed */
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(ln_fork_btf, struct task_struct *parent, struct task_struct *child)
{
	return on_fork(parent, child);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(ln_exec_btf, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return on_exec(p, old_pid);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(ln_exit_proc_btf, struct task_struct *p)
{
	return on_exit(p);
}

SEC("raw_tracepoint/sched_process_fork")
int ln_fork_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return on_fork((struct task_struct *)ctx->args[0], (struct task_struct *)ctx->args[1]);
}

SEC("raw_tracepoint/sched_process_exec")
int ln_exec_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return on_exec((struct task_struct *)ctx->args[0], (__u32)ctx->args[1]);
}

SEC("raw_tracepoint/sched_process_exit")
int ln_exit_proc_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return on_exit((struct task_struct *)ctx->args[0]);
}
