// SPDX-License-Identifier: GPL-2.0
/*
 * top file: reads and writes per thread and file, counted in the kernel. The read/write
 * syscalls' tracepoints (this kernel may have no kprobes for vfs_read/vfs_write): at entry the
 * fd is resolved to its struct file (task->files->fdt) and, when the file is wanted, kept per
 * thread with its device and inode; at exit a successful call is added to the current
 * interval's table, keyed by pid, tid, device and inode. A new entry gets the thread's header and the file's path
 * (a bounded dentry walk up to the thread's root, crossing mounts).
 *
 * Two tables, chosen by lng_tf_gen: user space flips it each interval, then reads and
 * empties the table it left, while the programs fill the other one.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "ln_gadget.h"
#include "ln_path.h"
#include "program.h"

char LICENSE[] SEC("license") = "GPL";

/* 1: every file; 0: regular files only (--all-files) */
const volatile __u8 lng_tf_all_files = 0;

/* the layouts user space decodes, in BTF */
const struct lng_tf_val *lng_unused_val __attribute__((unused));
const struct lng_tf_key *lng_unused_key __attribute__((unused));
const enum lng_tf_type *lng_unused_type __attribute__((unused));
const enum lng_tf_flag *lng_unused_flag __attribute__((unused));
const enum lng_tf_magic *lng_unused_magic __attribute__((unused));

#define TF_ENTRIES 10240 /* files per interval and table */
#define TF_DEPTH 64      /* path components walked (a power of two) */
#define TF_EEXIST 17

#define TF_S_IFMT 0170000
#define TF_S_IFREG 0100000
#define TF_S_IFSOCK 0140000

/* One end of a call: the file and its identity, read at entry. */
struct tf_end {
	__u64 file; /* 0: none wanted */
	__u64 ino;
	__u32 dev;
	__s32 fd;
};

/* What a thread's read/write syscall is about, from entry to exit. */
struct tf_args {
	struct tf_end in;  /* the file read */
	struct tf_end out; /* the file written */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* tid */
	__type(value, struct tf_args);
} lng_tf_args SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TF_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lng_tf_key);
	__type(value, struct lng_tf_val);
} lng_tf_stats0 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TF_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lng_tf_key);
	__type(value, struct lng_tf_val);
} lng_tf_stats1 SEC(".maps");

/* which table the programs fill: 0 or 1 (user space flips it) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} lng_tf_gen SEC(".maps");

/* new entries refused because the table was full (the interval's counts for them are lost) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lng_tf_full SEC(".maps");

/* a new entry is built here; spill lets a name be read at any offset below LNG_TF_PATH */
struct tf_scratch {
	struct lng_tf_val v;
	char spill[LNG_TF_PATH];
	__u64 names[TF_DEPTH];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tf_scratch);
} lng_tf_scratch SEC(".maps");

/* ---------------------------------------------------------------- the file behind an fd */

static __always_inline struct file *tf_fd_file(__s32 fd)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *f = NULL;

	if (!fdt || fd < 0)
		return NULL;
	if ((__u32)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/* The file behind `fd` when it is wanted (regular, or any with --all-files), with its
 * device and inode: the key's part that the exit program then needs no reads for. */
static __always_inline void tf_wanted(struct tf_end *e, __s32 fd)
{
	struct file *f = tf_fd_file(fd);
	struct inode *inode;
	__u32 mode;

	e->fd = fd;
	if (!f)
		return;
	inode = BPF_CORE_READ(f, f_inode);
	mode = BPF_CORE_READ(inode, i_mode);
	if (!lng_tf_all_files && (mode & TF_S_IFMT) != TF_S_IFREG)
		return;
	e->file = (__u64)f;
	e->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	e->ino = BPF_CORE_READ(inode, i_ino);
}

/* ---------------------------------------------------------------- path walk */

struct tf_walk {
	struct ln_path_pos p;
	__u32 depth;
	__u32 done;
	__u32 pos;
	__u32 trunc;
};

/* One step up: a dentry's name is kept (leaf first), or a mount point is crossed. */
static long tf_walk_cb(__u32 i, void *ctx)
{
	struct tf_walk *c = ctx;
	struct dentry *dentry, *parent;
	struct tf_scratch *s;
	__u32 zero = 0;
	int step = ln_path_step(&c->p);

	if (step == LN_PATH_ROOT)
		goto done;
	if (step == LN_PATH_CROSSED)
		return 0;
	dentry = (void *)c->p.dentry;
	parent = BPF_CORE_READ(dentry, d_parent);
	if (!parent)
		goto done;
	s = bpf_map_lookup_elem(&lng_tf_scratch, &zero);
	if (!s)
		goto done;
	/* a dentry that is its own parent below a mount root is a pseudo file (memfd:x, an
	 * anonymous inode's [eventfd]): named by itself */
	if (BPF_CORE_READ(dentry, d_name.len) > 0) {
		if (c->depth >= TF_DEPTH) {
			c->trunc = 1;
			goto done;
		}
		s->names[c->depth & (TF_DEPTH - 1)] = (__u64)BPF_CORE_READ(dentry, d_name.name);
		c->depth++;
	}
	if (parent == dentry)
		goto done;
	c->p.dentry = (__u64)parent;
	return 0;
done:
	c->done = 1;
	return 1;
}

/* One component, root first: "/" + name. */
static long tf_emit_cb(__u32 i, void *ctx)
{
	struct tf_walk *c = ctx;
	struct tf_scratch *s;
	__u32 zero = 0, pos = c->pos;
	__u64 room;
	long n;

	if (i >= c->depth || i >= TF_DEPTH)
		return 1;
	s = bpf_map_lookup_elem(&lng_tf_scratch, &zero);
	if (!s)
		return 1;
	if (pos + 2 > LNG_TF_PATH) {
		c->trunc = 1;
		return 1;
	}
	s->v.path[pos & (LNG_TF_PATH - 1)] = '/';
	room = (LNG_TF_PATH - 1 - pos) & (LNG_TF_PATH - 1); /* < LNG_TF_PATH, and >= 1 here */
	n = bpf_probe_read_kernel_str(&s->v.path[(pos + 1) & (LNG_TF_PATH - 1)], room,
				      (const void *)s->names[(c->depth - 1 - i) & (TF_DEPTH - 1)]);
	if (n <= 0) {
		c->trunc = 1;
		return 1;
	}
	c->pos = pos + n; /* '/' + the name; its NUL is overwritten by the next '/' */
	if (n >= room) {
		c->trunc = 1;
		return 1;
	}
	return 0;
}

/* The value of a new entry for `file`, in the scratch map. */
static __noinline int tf_build(__u64 file)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct file *f = (void *)file;
	struct tf_walk c = {};
	struct tf_scratch *s;
	struct inode *inode;
	__u32 zero = 0, mode, pos;

	s = bpf_map_lookup_elem(&lng_tf_scratch, &zero);
	if (!s || !f)
		return -1;
	lng_fill_hdr(&s->v.hdr, task, 0);
	s->v.reads = 0;
	s->v.writes = 0;
	s->v.rbytes = 0;
	s->v.wbytes = 0;
	inode = BPF_CORE_READ(f, f_inode);
	mode = BPF_CORE_READ(inode, i_mode) & TF_S_IFMT;
	s->v.type = mode == TF_S_IFREG ? LNG_TF_REGULAR : mode == TF_S_IFSOCK ? LNG_TF_SOCKET : LNG_TF_OTHER;
	s->v.magic = (__u32)BPF_CORE_READ(inode, i_sb, s_magic);
	s->v.flags = 0;
	s->v.path_len = 0;
	s->v.path[0] = 0;
	if (s->v.magic == LNG_TF_PIPEFS || s->v.magic == LNG_TF_SOCKFS)
		return 0; /* named by user space from the inode */

	ln_path_start(&c.p, (__u64)BPF_CORE_READ(f, f_path.dentry), (__u64)BPF_CORE_READ(f, f_path.mnt),
		      task);
	bpf_loop(2 * TF_DEPTH, tf_walk_cb, &c, 0);
	if (!c.done)
		c.trunc = 1;
	bpf_loop(TF_DEPTH, tf_emit_cb, &c, 0);

	/* the callbacks wrote through their own lookup of the same per-CPU value */
	s = bpf_map_lookup_elem(&lng_tf_scratch, &zero);
	if (!s)
		return -1;
	pos = c.pos;
	if (pos == 0) {
		s->v.path[0] = '/';
		pos = 1;
	}
	if (pos > LNG_TF_PATH - 1)
		pos = LNG_TF_PATH - 1;
	s->v.path[pos & (LNG_TF_PATH - 1)] = 0;
	s->v.path_len = pos;
	if (c.trunc)
		s->v.flags |= LNG_TF_TRUNCATED;
	return 0;
}

/* ---------------------------------------------------------------- counting */

static __always_inline void tf_add(void *table, struct lng_tf_key *k, struct tf_end *e, bool write, __u64 bytes)
{
	struct tf_scratch *s;
	struct lng_tf_val *v;
	__u32 zero = 0;
	__u64 *full;
	long err;

	v = bpf_map_lookup_elem(table, k);
	if (!v) {
		/* a new entry reads the file's path: the fd must still name the file seen at
		 * entry (another thread may have closed it, and the file be gone, meanwhile) */
		if ((__u64)tf_fd_file(e->fd) != e->file || tf_build(e->file))
			return;
		s = bpf_map_lookup_elem(&lng_tf_scratch, &zero);
		if (!s)
			return;
		err = bpf_map_update_elem(table, k, &s->v, BPF_NOEXIST);
		if (err && err != -TF_EEXIST) {
			full = bpf_map_lookup_elem(&lng_tf_full, &zero);
			if (full)
				*full += 1;
			return;
		}
		v = bpf_map_lookup_elem(table, k);
		if (!v)
			return;
	}
	if (write) {
		__sync_fetch_and_add(&v->writes, 1);
		__sync_fetch_and_add(&v->wbytes, bytes);
	} else {
		__sync_fetch_and_add(&v->reads, 1);
		__sync_fetch_and_add(&v->rbytes, bytes);
	}
}

static __always_inline void tf_account(struct tf_end *e, bool write, __u64 bytes)
{
	struct lng_tf_key k = {};
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 zero = 0, *gen;

	k.pid = pid_tgid >> 32;
	k.tid = (__u32)pid_tgid;
	k.dev = e->dev;
	k.ino = e->ino;
	gen = bpf_map_lookup_elem(&lng_tf_gen, &zero);
	if (gen && (*gen & 1))
		tf_add(&lng_tf_stats1, &k, e, write, bytes);
	else
		tf_add(&lng_tf_stats0, &k, e, write, bytes);
}

/* ---------------------------------------------------------------- programs */

/* The per-syscall tracepoints' records: the arguments as 8-byte slots after the number;
 * only the slots a program reads are accessed (each fits its smallest tracepoint). */
struct tf_tp_enter {
	__u64 common;
	__s32 nr;
	__s32 pad;
	__u64 args[6];
};

struct tf_tp_exit {
	__u64 common;
	__s32 nr;
	__s32 pad;
	__s64 ret;
};

static __always_inline int tf_enter(__s32 fd_in, __s32 fd_out)
{
	struct tf_args a = {};
	__u32 tid;

	if (lng_skip_current())
		return 0;
	if (fd_in >= 0)
		tf_wanted(&a.in, fd_in);
	if (fd_out >= 0)
		tf_wanted(&a.out, fd_out);
	if (!a.in.file && !a.out.file)
		return 0;
	tid = (__u32)bpf_get_current_pid_tgid();
	bpf_map_update_elem(&lng_tf_args, &tid, &a, BPF_ANY);
	return 0;
}

/* read, pread64, readv, preadv, preadv2: fd first */
SEC("tracepoint")
int lng_tf_enter_read(struct tf_tp_enter *ctx)
{
	return tf_enter((__s32)ctx->args[0], -1);
}

/* write, pwrite64, writev, pwritev, pwritev2: fd first */
SEC("tracepoint")
int lng_tf_enter_write(struct tf_tp_enter *ctx)
{
	return tf_enter(-1, (__s32)ctx->args[0]);
}

/* sendfile64(out_fd, in_fd, offset, count) */
SEC("tracepoint")
int lng_tf_enter_sendfile(struct tf_tp_enter *ctx)
{
	return tf_enter((__s32)ctx->args[1], (__s32)ctx->args[0]);
}

/* splice(fd_in, off_in, fd_out, ...), copy_file_range(fd_in, off_in, fd_out, ...) */
SEC("tracepoint")
int lng_tf_enter_splice(struct tf_tp_enter *ctx)
{
	return tf_enter((__s32)ctx->args[0], (__s32)ctx->args[2]);
}

/* Every one of them: a successful call (ret >= 0) is counted, its bytes are ret. */
SEC("tracepoint")
int lng_tf_exit(struct tf_tp_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct tf_args *p = bpf_map_lookup_elem(&lng_tf_args, &tid);
	struct tf_args a;
	__s64 ret = ctx->ret;

	if (!p)
		return 0;
	a = *p;
	bpf_map_delete_elem(&lng_tf_args, &tid);
	if (ret < 0)
		return 0;
	if (a.in.file)
		tf_account(&a.in, false, ret);
	if (a.out.file)
		tf_account(&a.out, true, ret);
	return 0;
}
