// SPDX-License-Identifier: Apache-2.0
/*
 * Not a program: compiled only so that .output/abi.bpf.o carries every ABI type in its
 * BTF, with offsets computed by the compiler. scripts/gen-abi.ts reads it with
 * `bpftool btf dump file bpf/.output/abi.bpf.o -j`.
 *
 * #define constants do not reach BTF, so they are mirrored in `enum ln_const` below;
 * the static asserts keep the mirror honest.
 */
typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;

#include "lanner_abi.h"

enum ln_const {
	LN_C_ABI_VERSION = LN_ABI_VERSION,
	LN_C_ARG_RET = LN_ARG_RET,
	LN_C_ARG_NONE = LN_ARG_NONE,
	LN_C_F_TRUNC = LN_F_TRUNC,
	LN_C_PF_THREAD = LN_PF_THREAD,
	LN_C_PF_EXE_MEMFD = LN_PF_EXE_MEMFD,
	LN_C_PF_EXE_UPPER = LN_PF_EXE_UPPER,
	LN_C_PF_GROUP_DEAD = LN_PF_GROUP_DEAD,
	LN_C_PF_EXE_DELETED = LN_PF_EXE_DELETED,
	LN_C_PF_EXE_WRITABLE = LN_PF_EXE_WRITABLE,
	LN_C_PF_EXE_LOWER = LN_PF_EXE_LOWER,
	LN_C_FI_UPPER = LN_FI_UPPER,
	LN_C_FI_LOWER = LN_FI_LOWER,
	LN_C_SEL_PASS = LN_SEL_PASS,
	LN_C_SEL_DROP = LN_SEL_DROP,
	LN_C_MAX_PATH = LN_MAX_PATH,
	LN_C_MAX_ARGV = LN_MAX_ARGV,
	LN_C_MAX_ENV = LN_MAX_ENV,
	LN_C_MAX_POLLFDS = LN_MAX_POLLFDS,
	LN_C_MAX_SOCKADDR = LN_MAX_SOCKADDR,
	LN_C_MAX_DATA = LN_MAX_DATA,
	LN_C_SCRATCH = LN_SCRATCH,
	LN_C_MAX_SYSCALL = LN_MAX_SYSCALL,
	LN_C_HDR_SIZE = sizeof(struct ln_hdr),
	LN_C_TAIL_SIZE = sizeof(struct ln_tail),
	LN_C_SYSCALL_SIZE = sizeof(struct ln_syscall),
	LN_C_PROC_SIZE = sizeof(struct ln_proc),
	LN_C_SOCK_TUPLE_SIZE = sizeof(struct ln_sock_tuple),
	LN_C_OPEN_HOW_SIZE = sizeof(struct ln_open_how),
	LN_C_FILE_INFO_SIZE = sizeof(struct ln_file_info),
	LN_C_POLLFD_SIZE = sizeof(struct ln_pollfd),
	LN_C_GHDR_SIZE = sizeof(struct ln_ghdr),
};

_Static_assert(sizeof(struct ln_hdr) == 24, "ln_hdr");
_Static_assert(sizeof(struct ln_tail) == 4, "ln_tail");
_Static_assert(sizeof(struct ln_syscall) == 104, "ln_syscall");
_Static_assert(sizeof(struct ln_sock_tuple) == 48, "ln_sock_tuple");
_Static_assert(sizeof(struct ln_open_how) == 24, "ln_open_how");
_Static_assert(sizeof(struct ln_proc) == 192, "ln_proc");
_Static_assert(sizeof(struct ln_file_info) == 16, "ln_file_info");
_Static_assert(sizeof(struct ln_pollfd) == 8, "ln_pollfd");
_Static_assert(sizeof(struct ln_ghdr) == 64, "ln_ghdr");

/* One global of every ABI type, so each is emitted into BTF by name. */
struct ln_hdr ln_abi_hdr;
struct ln_tail ln_abi_tail;
struct ln_sock_tuple ln_abi_sock_tuple;
struct ln_syscall ln_abi_syscall;
struct ln_proc ln_abi_proc;
struct ln_open_how ln_abi_open_how;
struct ln_file_info ln_abi_file_info;
struct ln_pollfd ln_abi_pollfd;
struct ln_ghdr ln_abi_ghdr;
enum ln_kind ln_abi_kind;
enum ln_tail_kind ln_abi_tail_kind;
enum ln_stat ln_abi_stat;
enum ln_const ln_abi_const;
