/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What every gadget program shares (src/gadgets/<name>/program.bpf.c): the container
 * selection by cgroup, the tool's own pid left out, the event ring, lost-record
 * counting, and the common record header (struct ln_ghdr in abi/lanner_abi.h).
 *
 * User space (src/gadgets/kernel-object.ts) writes the configuration between open and load,
 * keeps lng_cgsel current as containers are classified, drains lng_events and reports the
 * sum of lng_lost.
 */
#ifndef LN_GADGET_H
#define LN_GADGET_H

#include "lanner_abi.h"

/* ---------------------------------------------------------------- configuration */

const volatile __u32 lng_self_tgid = 0;   /* the tool itself: never reported */
const volatile __u8 lng_filter_cgroup = 0; /* 1: drop tasks whose cgroup lng_cgsel marks DROP */

/* ---------------------------------------------------------------- maps */

/* cgroup v2 id -> LN_SEL_PASS | LN_SEL_DROP. Unknown cgroups pass: user space classifies
 * the container behind them and adds an entry. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u8);
} lng_cgsel SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20); /* the loader sets the real size before load */
} lng_events SEC(".maps");

/* Records that did not fit in the ring, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lng_lost SEC(".maps");

/* ---------------------------------------------------------------- helpers */

static __always_inline __u64 lng_task_mntns(struct task_struct *t)
{
	return BPF_CORE_READ(t, nsproxy, mnt_ns, ns.inum);
}

static __always_inline __u64 lng_task_cgroup(struct task_struct *t)
{
	return BPF_CORE_READ(t, cgroups, dfl_cgrp, kn, id);
}

static __always_inline bool lng_cgroup_dropped(__u64 id)
{
	__u8 *v;

	if (!lng_filter_cgroup)
		return false;
	v = bpf_map_lookup_elem(&lng_cgsel, &id);
	return v && *v == LN_SEL_DROP;
}

/* True when the records of task `t` are not wanted: the tool itself, or a cgroup the
 * selection drops. */
static __always_inline bool lng_skip_task(struct task_struct *t)
{
	if (BPF_CORE_READ(t, tgid) == lng_self_tgid)
		return true;
	return lng_cgroup_dropped(lng_task_cgroup(t));
}

static __always_inline bool lng_skip_current(void)
{
	if ((bpf_get_current_pid_tgid() >> 32) == lng_self_tgid)
		return true;
	return lng_cgroup_dropped(bpf_get_current_cgroup_id());
}

static __always_inline void lng_count_lost(void)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&lng_lost, &k);

	if (v)
		*v += 1;
}

/* A record of type T in the ring, or NULL (counted as lost). */
#define lng_reserve(T)                                                          \
	({                                                                      \
		T *__r = bpf_ringbuf_reserve(&lng_events, sizeof(T), 0);       \
		if (!__r)                                                       \
			lng_count_lost();                                       \
		__r;                                                            \
	})

/* Fills the common header from task `t` (usually the current task). */
static __always_inline void lng_fill_hdr(struct ln_ghdr *h, struct task_struct *t, __u32 kind)
{
	h->ts = bpf_ktime_get_boot_ns();
	h->mntns = lng_task_mntns(t);
	h->cgroup_id = lng_task_cgroup(t);
	h->pid = BPF_CORE_READ(t, tgid);
	h->tid = BPF_CORE_READ(t, pid);
	h->ppid = BPF_CORE_READ(t, real_parent, tgid);
	h->uid = BPF_CORE_READ(t, cred, uid.val);
	h->gid = BPF_CORE_READ(t, cred, gid.val);
	h->kind = kind;
	BPF_CORE_READ_STR_INTO(&h->comm, t, comm);
}

#endif /* LN_GADGET_H */
