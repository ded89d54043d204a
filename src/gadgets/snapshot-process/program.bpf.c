// SPDX-License-Identifier: GPL-2.0
/*
 * snapshot process: a task iterator (iter/task). One record per process (its main thread)
 * or, with lng_threads, per thread, of the tasks the container selection keeps
 * (lng_skip_task: lng_cgsel in the kernel), with the executable's path from the task's own
 * root (a container's /bin/sh, not the host's view of its rootfs). User space reads the
 * iterator once per snapshot.
 *
 * bpf_d_path would need a trusted struct path, and task->mm->exe_file is not one, so the
 * path is walked with probe reads: dentry by dentry, crossing mounts, up to the task's
 * fs->root, leaf first (user space reverses it).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "ln_gadget.h"
#include "ln_path.h"
#include "program.h"

char LICENSE[] SEC("license") = "GPL";

/* the record layouts user space decodes (gen-abi reads them from BTF) */
const enum lng_process_flag *unused_flag __attribute__((unused));

const volatile __u8 lng_threads = 0; /* 1: every thread, else main threads only */

#define PF_KTHREAD 0x00200000
#define LNG_WALK_STEPS 128 /* path components plus mount crossings */

struct process_buf {
	struct lng_process r;
	/* twice the cap: a name read at any offset below the cap fits */
	char exe[2 * LNG_PROCESS_EXE_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct process_buf);
} lng_process_scratch SEC(".maps");

struct walk_state {
	struct ln_path_pos p;
	__u32 pos;  /* bytes written to exe */
	__u32 done; /* reached the root */
};

/* One step up from (dentry, mount): a name written, or a mount crossed. */
static long lng_walk_step(__u32 i, void *ctx)
{
	struct walk_state *w = ctx;
	struct dentry *d, *parent;
	struct process_buf *b;
	__u32 zero = 0, pos = w->pos;
	long n;
	int step = ln_path_step(&w->p);

	if (step == LN_PATH_ROOT)
		goto done;
	if (step == LN_PATH_CROSSED)
		return 0;
	d = (void *)w->p.dentry;
	parent = BPF_CORE_READ(d, d_parent);
	b = bpf_map_lookup_elem(&lng_process_scratch, &zero);
	if (!b || pos >= LNG_PROCESS_EXE_MAX)
		return 1;
	n = bpf_probe_read_kernel_str(&b->exe[pos], LNG_PROCESS_EXE_MAX - pos,
				      BPF_CORE_READ(d, d_name.name));
	if (n <= 0)
		return 1;
	w->pos = pos + (__u32)n;
	if (!parent || parent == d)
		goto done; /* a file system's root that is no mount root: a pseudo file */
	w->p.dentry = (__u64)parent;
	return 0;
done:
	w->done = 1;
	return 1;
}

SEC("iter/task")
int lng_snapshot_process(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *t = ctx->task;
	struct process_buf *b;
	struct walk_state w = {};
	struct file *exe;
	struct pid *tp, *gp;
	unsigned int level;
	__u32 zero = 0, len;

	if (!t)
		return 0;
	if (!lng_threads && t->pid != t->tgid)
		return 0;
	if (lng_skip_task(t))
		return 0;
	b = bpf_map_lookup_elem(&lng_process_scratch, &zero);
	if (!b)
		return 0;
	lng_fill_hdr(&b->r.h, t, 0);
	b->r.start_ns = BPF_CORE_READ(t, group_leader, start_boottime); /* the process's */
	/* numbers in the task's own (innermost) pid namespace */
	tp = t->thread_pid;
	gp = BPF_CORE_READ(t, group_leader, thread_pid);
	level = BPF_CORE_READ(tp, level);
	b->r.vtid = BPF_CORE_READ(tp, numbers[level & 7].nr);
	b->r.vpid = BPF_CORE_READ(gp, numbers[level & 7].nr);
	b->r.euid = BPF_CORE_READ(t, cred, euid.val);
	b->r.egid = BPF_CORE_READ(t, cred, egid.val);
	b->r.nthreads = BPF_CORE_READ(t, signal, nr_threads);
	b->r.flags = (t->flags & PF_KTHREAD) ? LNG_PROCESS_F_KTHREAD : 0;
	b->r.exe_len = 0;
	b->r.pad = 0;
	exe = BPF_CORE_READ(t, mm, exe_file);
	if (exe) {
		ln_path_start(&w.p, (__u64)BPF_CORE_READ(exe, f_path.dentry),
			      (__u64)BPF_CORE_READ(exe, f_path.mnt), t);
		bpf_loop(LNG_WALK_STEPS, lng_walk_step, &w, 0);
		b->r.exe_len = w.pos;
		if (!w.done)
			b->r.flags |= LNG_PROCESS_F_EXE_TRUNC;
	}
	len = b->r.exe_len;
	bpf_seq_write(seq, &b->r, sizeof(b->r));
	barrier_var(len); /* keep the bound check on len itself (not on len - 1) */
	if (len > 0 && len <= LNG_PROCESS_EXE_MAX) {
		barrier_var(len);
		bpf_seq_write(seq, b->exe, len & (2 * LNG_PROCESS_EXE_MAX - 1));
	}
	return 0;
}
