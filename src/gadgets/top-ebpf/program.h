/* SPDX-License-Identifier: GPL-2.0 */
/* top ebpf: the record one iteration writes per BPF program or link fd (program.bpf.c). */
#ifndef LNG_TOP_EBPF_H
#define LNG_TOP_EBPF_H

/* One process holding one BPF program: through a program fd, or a link fd to it. */
struct lng_ebpf_holder {
	struct ln_ghdr h;
	__u32 prog_id;
	__u32 fd;
	__u32 via;     /* enum lng_ebpf_via */
	__u32 dropped; /* 1: the container selection drops this process (lng_cgsel) */
};

enum lng_ebpf_via {
	LNG_EBPF_VIA_PROG = 1, /* anon_inode:bpf-prog */
	LNG_EBPF_VIA_LINK = 2, /* anon_inode:bpf_link */
};

#endif
