/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Records of the packet gadgets (trace dns, trace sni): one struct lng_pkt per packet of
 * interest, followed by `cap_len` bytes of its layer-4 payload. Decoded by
 * src/gadgets/packets/packet-source.ts through layout.generated.ts.
 */
#ifndef LNG_PACKETS_H
#define LNG_PACKETS_H

/* What the skb programs look for (const volatile lng_mode). */
enum lng_pkt_mode {
	LNG_MODE_DNS = 1, /* UDP and TCP to or from one of lng_ports */
	LNG_MODE_SNI = 2, /* TCP segments carrying a TLS ClientHello (and its continuation) */
};

enum lng_pkt_dir {
	LNG_DIR_EGRESS = 0,  /* sent by the socket */
	LNG_DIR_INGRESS = 1, /* received by the socket */
};

enum lng_pkt_flag {
	LNG_PKT_OWNED = 1, /* the header names the socket's process (else only its cgroup) */
	LNG_PKT_CUT = 2,   /* the payload is longer than the bytes copied */
	LNG_PKT_CONT = 4,  /* SNI: a later segment of a ClientHello that did not fit one */
};

enum lng_pkt_limit {
	/* payload bytes copied per record at most (a longer payload is cut: LNG_PKT_CUT) */
	LNG_CAP_MAX = 16384,
	/* ports lng_ports holds at most */
	LNG_PORTS_MAX = 8,
	/* a ClientHello is followed over at most this many bytes (its TLS record's length) */
	LNG_HELLO_MAX = 16389,
};

struct lng_pkt {
	struct ln_ghdr hdr;  /* the socket's process (LNG_PKT_OWNED), its cgroup, the time */
	__u64 cookie;        /* socket cookie */
	__u32 seq;           /* TCP: sequence number of the payload's first byte */
	__u32 payload_len;   /* layer-4 payload bytes in the packet */
	__u16 cap_len;       /* payload bytes that follow this struct */
	__u16 sport;         /* host byte order */
	__u16 dport;
	__u8 family;         /* 4 or 6 */
	__u8 proto;          /* IPPROTO_TCP, IPPROTO_UDP */
	__u8 dir;            /* enum lng_pkt_dir */
	__u8 flags;          /* enum lng_pkt_flag */
	__u8 pad[2];
	__u8 saddr[16];      /* IPv4: the first 4 bytes */
	__u8 daddr[16];
};

/* The process a socket was last seen with (in lng_owners, by socket cookie). */
struct lng_owner {
	__u64 mntns;
	__u32 pid; /* 0: no process seen yet */
	__u32 tid;
	__u32 ppid;
	__u32 uid;
	__u32 gid;
	char comm[16];
};

/* Per-socket state (socket local storage, cloned to accepted sockets). */
struct lng_sock {
	struct lng_owner o;
	/* SNI: a ClientHello longer than its first segment */
	__u32 hello_seq;     /* sequence number of the ClientHello's first byte */
	__u32 hello_next;    /* the next byte expected */
	__u32 hello_left;    /* bytes of the record still to copy */
	__u8 hello_seen;     /* a ClientHello was reported on this socket */
	__u8 pad2[3];
};

#endif /* LNG_PACKETS_H */
