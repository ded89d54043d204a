/* SPDX-License-Identifier: GPL-2.0 */
/*
 * trace oomkill: one record per process the OOM killer marks as its victim. The header
 * (struct ln_ghdr) is the task that ran out of memory (the trigger: the current task when
 * the killer runs); the rest is the killed process.
 */
#ifndef LNG_TRACE_OOMKILL_H
#define LNG_TRACE_OOMKILL_H

#include "lanner_abi.h"

/* Where lng_oom_kill.pages comes from. */
enum lng_oom_pages {
	LNG_OOM_PAGES_EXACT = 1, /* oom_control.totalpages (function probe on oom_kill_process) */
	LNG_OOM_PAGES_MEMCG = 2, /* the limit of the nearest memory cgroup of the victim at its limit */
	LNG_OOM_PAGES_NODE = 3,  /* no memory cgroup at its limit: the node's RAM and swap (user space) */
};

struct lng_oom_kill {
	struct ln_ghdr h;     /* the triggering task */
	__u64 kcgroup_id;     /* cgroup v2 id of the killed process (selection, container) */
	__u64 pages;          /* pages the killer chose from (0 with LNG_OOM_PAGES_NODE) */
	__u64 rss;            /* resident pages of the killed process: anon + file + shmem */
	__u32 kpid;           /* killed process (tgid, host pid namespace) */
	__u32 kuid;           /* its real uid */
	__u32 pages_how;      /* enum lng_oom_pages */
	__u32 pad;
	char kcomm[16];
	char pcomm[16];       /* the triggering task's parent's name */
};

#endif /* LNG_TRACE_OOMKILL_H */
