// SPDX-License-Identifier: GPL-2.0
/*
 * trace oomkill: the OOM killer's victims, from the tracepoint oom:mark_victim (BTF
 * tracepoint, or raw tracepoint where BTF tracepoints are refused). The killer runs in the
 * context of the task whose allocation failed, so the current task is the trigger.
 *
 * pages (the memory the killer chose from, oom_control.totalpages) is only visible to a
 * function probe: where the kernel accepts fentry on oom_kill_process, lng_oom_enter keeps it
 * for the tracepoint; elsewhere it is the limit of the victim's nearest memory cgroup that is
 * at its limit (a memory cgroup OOM), or left to user space (the node's RAM and swap).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "ln_gadget.h"
#include "program.h"

char LICENSE[] SEC("license") = "GPL";

/* A memory cgroup counts as "at its limit" when its usage is this close to it (pages): a
 * failed charge leaves the usage at most one allocation (2^order pages) below the limit. */
#define LNG_OOM_LIMIT_MARGIN 1024
/* Memory cgroup levels walked up from the victim's. */
#define LNG_OOM_MAX_DEPTH 16

/* oom_control.totalpages by triggering thread, between oom_kill_process and mark_victim. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} lng_oom_totalpages SEC(".maps");

static __always_inline __u64 rss_pages(struct task_struct *t)
{
	struct mm_struct *mm = BPF_CORE_READ(t, mm);
	__s64 n, sum = 0;

	if (!mm)
		return 0;
	/* what the kernel's own report reads (get_mm_counter): the counters' shared part */
	n = BPF_CORE_READ(mm, rss_stat[MM_ANONPAGES].count);
	sum += n > 0 ? n : 0;
	n = BPF_CORE_READ(mm, rss_stat[MM_FILEPAGES].count);
	sum += n > 0 ? n : 0;
	n = BPF_CORE_READ(mm, rss_stat[MM_SHMEMPAGES].count);
	sum += n > 0 ? n : 0;
	return sum;
}

/* The limit (pages) of the nearest memory cgroup of `t`, itself or an ancestor, whose usage is
 * at its limit; 0 when none is (a node-wide OOM). */
static __always_inline __u64 memcg_limit_pages(struct task_struct *t)
{
	struct cgroup_subsys_state *css;
	struct page_counter *pc;
	int id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);

	if (id < 0 || id >= 12)
		return 0;
	css = BPF_CORE_READ(t, cgroups, subsys[id]);
	if (!css)
		return 0;
	/* struct mem_cgroup starts with its css */
	pc = (struct page_counter *)((char *)css + bpf_core_field_offset(struct mem_cgroup, memory));
	for (int i = 0; i < LNG_OOM_MAX_DEPTH && pc; i++) {
		__u64 max = BPF_CORE_READ(pc, max);
		__u64 usage = BPF_CORE_READ(pc, usage.counter);

		if (max < ((~0UL) >> 13) && usage + LNG_OOM_LIMIT_MARGIN >= max)
			return max;
		pc = BPF_CORE_READ(pc, parent);
	}
	return 0;
}

static __always_inline int on_mark_victim(struct task_struct *victim)
{
	struct task_struct *cur = (struct task_struct *)bpf_get_current_task();
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct lng_oom_kill *r;
	__u64 *exact;

	if (lng_skip_task(victim))
		return 0;
	r = lng_reserve(struct lng_oom_kill);
	if (!r)
		return 0;
	lng_fill_hdr(&r->h, cur, 0);
	r->kcgroup_id = lng_task_cgroup(victim);
	r->kpid = BPF_CORE_READ(victim, tgid);
	r->kuid = BPF_CORE_READ(victim, cred, uid.val);
	BPF_CORE_READ_STR_INTO(&r->kcomm, victim, comm);
	/* the trigger's parent now: a shell that ran it may be gone when user space reads this */
	BPF_CORE_READ_STR_INTO(&r->pcomm, cur, real_parent, comm);
	r->rss = rss_pages(victim);
	r->pad = 0;
	exact = bpf_map_lookup_elem(&lng_oom_totalpages, &tid);
	if (exact) {
		r->pages = *exact;
		r->pages_how = LNG_OOM_PAGES_EXACT;
		bpf_map_delete_elem(&lng_oom_totalpages, &tid);
	} else {
		r->pages = memcg_limit_pages(victim);
		r->pages_how = r->pages ? LNG_OOM_PAGES_MEMCG : LNG_OOM_PAGES_NODE;
	}
	bpf_ringbuf_submit(r, 0);
	return 0;
}

SEC("tp_btf/mark_victim")
int BPF_PROG(lng_mark_victim_btf, struct task_struct *task, uid_t uid)
{
	return on_mark_victim(task);
}

SEC("raw_tracepoint/mark_victim")
int lng_mark_victim_raw(struct bpf_raw_tracepoint_args *ctx)
{
	return on_mark_victim((struct task_struct *)ctx->args[0]);
}

/* Where the kernel accepts function probes: the exact totalpages for the tracepoint. */
SEC("fentry/oom_kill_process")
int BPF_PROG(lng_oom_enter, struct oom_control *oc, const char *message)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 pages = BPF_CORE_READ(oc, totalpages);

	bpf_map_update_elem(&lng_oom_totalpages, &tid, &pages, BPF_ANY);
	return 0;
}

const struct lng_oom_kill *unused_lng_oom_kill __attribute__((unused));
const enum lng_oom_pages *unused_lng_oom_pages __attribute__((unused));
