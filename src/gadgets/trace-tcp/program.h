/* SPDX-License-Identifier: GPL-2.0 */
/*
 * trace tcp: one record per TCP connection a process closes (connects and accepts come from
 * the capture path's syscall records). The header is the closing process.
 */
#ifndef LNG_TRACE_TCP_H
#define LNG_TRACE_TCP_H

#include "lanner_abi.h"
#include "ln_gadget_sock.h"

struct lng_tcp_close {
	struct ln_ghdr h;
	struct lng_sock_tuple t;
	__u32 euid;     /* the closing task's effective uid and gid (the header has the real ones) */
	__u32 egid;
};

#endif /* LNG_TRACE_TCP_H */
