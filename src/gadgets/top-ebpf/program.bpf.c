// SPDX-License-Identifier: GPL-2.0
/*
 * top ebpf: who holds each BPF program. A task_file iterator (iter/task_file) looks at every
 * open file of every process (threads sharing a file table once) and reports the BPF program
 * and link fds, with the program's id. A file is one of those when its anonymous inode is
 * named bpf-prog or bpf_link (what `ls -l /proc/PID/fd` shows): bpf_prog_fops and
 * bpf_link_fops are not in kallsyms everywhere, so the name is the portable test.
 *
 * Every holder is reported, with the selection's verdict on its cgroup: user space shows a
 * program for the first holder the selection keeps, and must know about the others too
 * (a program held only by unselected processes is not the host's).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "ln_gadget.h"
#include "program.h"

char LICENSE[] SEC("license") = "GPL";

/* the record layouts user space decodes (gen-abi reads them from BTF) */
const enum lng_ebpf_via *unused_via __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lng_ebpf_holder);
} lng_ebpf_scratch SEC(".maps");

/* "bpf-prog" -> 1, "bpf_link" -> 2, else 0 */
static __always_inline __u32 bpf_file_kind(struct file *f)
{
	const unsigned char *name = BPF_CORE_READ(f, f_path.dentry, d_name.name);
	char n[10] = {};

	if (bpf_probe_read_kernel_str(n, sizeof(n), name) != 9)
		return 0;
	if (n[0] != 'b' || n[1] != 'p' || n[2] != 'f')
		return 0;
	if (n[3] == '-' && n[4] == 'p' && n[5] == 'r' && n[6] == 'o' && n[7] == 'g')
		return LNG_EBPF_VIA_PROG;
	if (n[3] == '_' && n[4] == 'l' && n[5] == 'i' && n[6] == 'n' && n[7] == 'k')
		return LNG_EBPF_VIA_LINK;
	return 0;
}

SEC("iter/task_file")
int lng_ebpf_holders(struct bpf_iter__task_file *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *t = ctx->task;
	struct file *f = ctx->file;
	struct lng_ebpf_holder *r;
	struct bpf_prog *prog;
	__u32 via, zero = 0;

	if (!t || !f)
		return 0;
	via = bpf_file_kind(f);
	if (!via)
		return 0;
	prog = BPF_CORE_READ(f, private_data);
	if (via == LNG_EBPF_VIA_LINK) {
		struct bpf_link *link = (struct bpf_link *)prog;

		prog = BPF_CORE_READ(link, prog);
	}
	if (!prog)
		return 0;
	r = bpf_map_lookup_elem(&lng_ebpf_scratch, &zero);
	if (!r)
		return 0;
	lng_fill_hdr(&r->h, t, 0);
	r->prog_id = BPF_CORE_READ(prog, aux, id);
	r->fd = ctx->fd;
	r->via = via;
	r->dropped = lng_cgroup_dropped(lng_task_cgroup(t)) ? 1 : 0;
	bpf_seq_write(seq, r, sizeof(*r));
	return 0;
}
