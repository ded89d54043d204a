/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Walking a path up from (dentry, mount) to a task's root, as the kernel's d_path does,
 * crossing mount points: the step every path walker shares (the capture path's fd and
 * directory names, top file's file names, snapshot process's executables). Each walker
 * keeps its own names and buffer; ln_path_step only says where it stands and moves across
 * mounts. Needs vmlinux.h and bpf_core_read.h.
 */
#ifndef LN_PATH_H
#define LN_PATH_H

/* Where a walk stands: a dentry on a mount, and the root it stops at. */
struct ln_path_pos {
	__u64 dentry;
	__u64 vfsmnt;
	__u64 mnt; /* the struct mount holding vfsmnt */
	__u64 root_dentry;
	__u64 root_mnt;
};

enum {
	LN_PATH_ROOT = 0,    /* at the walk's root, or at the top of the mount tree: stop */
	LN_PATH_CROSSED = 1, /* moved from a mount's root to its mount point: nothing to name */
	LN_PATH_NAME = 2,    /* pos->dentry is a component: name it, then move to its parent */
};

/* A walk of (dentry, vfsmnt) up to `task`'s root. */
static __always_inline void ln_path_start(struct ln_path_pos *p, __u64 dentry, __u64 vfsmnt,
					  struct task_struct *task)
{
	p->dentry = dentry;
	p->vfsmnt = vfsmnt;
	p->mnt = vfsmnt - bpf_core_field_offset(struct mount, mnt);
	p->root_dentry = (__u64)BPF_CORE_READ(task, fs, root.dentry);
	p->root_mnt = (__u64)BPF_CORE_READ(task, fs, root.mnt);
}

/* One step of the walk (see the enum). */
static __always_inline int ln_path_step(struct ln_path_pos *p)
{
	struct vfsmount *vm = (void *)p->vfsmnt;
	struct mount *m = (void *)p->mnt, *mp;

	if (p->dentry == p->root_dentry && p->vfsmnt == p->root_mnt)
		return LN_PATH_ROOT;
	if ((void *)p->dentry != (void *)BPF_CORE_READ(vm, mnt_root))
		return LN_PATH_NAME;
	mp = BPF_CORE_READ(m, mnt_parent);
	if (!mp || mp == m)
		return LN_PATH_ROOT;
	p->dentry = (__u64)BPF_CORE_READ(m, mnt_mountpoint);
	p->mnt = (__u64)mp;
	p->vfsmnt = (__u64)mp + bpf_core_field_offset(struct mount, mnt);
	return LN_PATH_CROSSED;
}

#endif /* LN_PATH_H */
