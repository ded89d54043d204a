/* SPDX-License-Identifier: GPL-2.0 */
/*
 * top tcp: bytes sent and received per process and connection, summed in the kernel. Two
 * tables take turns (lng_toptcp_slot): the programs add to one while user space reads and
 * empties the other, so no byte counted between a read and a delete is lost.
 */
#ifndef LNG_TOP_TCP_H
#define LNG_TOP_TCP_H

#include "lanner_abi.h"
#include "ln_gadget_sock.h"

struct lng_toptcp_key {
	struct lng_sock_tuple t;
	__u32 pid;      /* tgid */
};

struct lng_toptcp_val {
	__u64 sent;     /* bytes the process's send calls passed to TCP */
	__u64 received; /* bytes its receive calls returned (MSG_PEEK excluded) */
	__u64 cgroup_id;
	__u32 tid;      /* the thread that first counted in this interval */
	__u32 uid;      /* effective uid (the rules' user.uid) */
	__u32 gid;      /* effective gid */
	__u32 ppid;     /* its real parent's tgid */
	char comm[16];
	char pcomm[16]; /* its real parent's name */
};

#endif /* LNG_TOP_TCP_H */
