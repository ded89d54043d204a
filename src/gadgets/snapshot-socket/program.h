/* SPDX-License-Identifier: GPL-2.0 */
/* snapshot socket: the record one iteration writes per TCP or UDP socket fd (program.bpf.c). */
#ifndef LNG_SNAPSHOT_SOCKET_H
#define LNG_SNAPSHOT_SOCKET_H

/* One socket file descriptor of one process: the process (common header), the fd, and the
 * socket's addresses, state and network namespace. */
struct lng_socket {
	struct ln_ghdr h;
	__u64 netns;   /* inode of the socket's network namespace */
	__u64 ino;     /* the socket's inode number (socket:[ino]) */
	__u8 laddr[16]; /* IPv4: the first 4 bytes; network order */
	__u8 raddr[16];
	__u32 fd;
	__u16 family;  /* AF_INET, AF_INET6 */
	__u16 proto;   /* IPPROTO_TCP, IPPROTO_UDP */
	__u16 lport;   /* host order */
	__u16 rport;
	__u8 state;    /* the kernel's TCP state numbers (UDP: ESTABLISHED when connected, else CLOSE) */
	__u8 pad[3];
	/* as /proc/net/{tcp,udp} count them: TCP listener: accept queue and its limit; other TCP:
	 * bytes not read yet and bytes not acknowledged yet; UDP: memory of the receive and send
	 * queues (truesize) */
	__u32 rx_queue;
	__u32 tx_queue;
};

/* What to report (const volatile lng_protos). */
enum lng_socket_protos {
	LNG_SOCKET_TCP = 1,
	LNG_SOCKET_UDP = 2,
};

#endif
