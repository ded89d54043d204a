/* SPDX-License-Identifier: GPL-2.0 */
/*
 * top file: the per-interval table the kernel keeps (user space reads it with the offsets
 * gen-abi writes to layout.generated.ts). One entry per thread and file (device + inode),
 * created on the thread's first successful read or write of the file in the interval.
 */
#ifndef LN_TOP_FILE_H
#define LN_TOP_FILE_H

#define LNG_TF_PATH 512 /* bytes kept of a file's path (a power of two) */

/* file.type: Inspektor Gadget's T column */
enum lng_tf_type {
	LNG_TF_REGULAR = 0, /* R */
	LNG_TF_SOCKET = 1,  /* S */
	LNG_TF_OTHER = 2,   /* O: pipes, character devices, anonymous inodes... */
};

/* lng_tf_val.flags */
enum lng_tf_flag {
	LNG_TF_TRUNCATED = 1, /* the path was longer than LNG_TF_PATH - 1 bytes or deeper than the walk */
};

/* File systems whose files have no path: user space names them as /proc/PID/fd does
 * (pipe:[ino], socket:[ino], anon_inode:[eventfd]). */
enum lng_tf_magic {
	LNG_TF_PIPEFS = 0x50495045,
	LNG_TF_SOCKFS = 0x534F434B,
	LNG_TF_ANON_INODEFS = 0x09041934,
};

struct lng_tf_key {
	__u32 pid;
	__u32 tid;
	__u32 dev; /* the file system's device, kernel encoding (major << 20 | minor) */
	__u32 pad;
	__u64 ino;
};

struct lng_tf_val {
	struct ln_ghdr hdr; /* the thread when the entry was created */
	__u64 reads;
	__u64 writes;
	__u64 rbytes;
	__u64 wbytes;
	__u32 type;  /* enum lng_tf_type */
	__u32 magic; /* the file system's magic (enum lng_tf_magic names the ones that matter) */
	__u32 flags; /* enum lng_tf_flag */
	__u32 path_len;
	char path[LNG_TF_PATH]; /* as the thread sees it (from its root), NUL-terminated */
};

#endif /* LN_TOP_FILE_H */
