// SPDX-License-Identifier: GPL-2.0
/* Empty programs for the capture benchmark's floor: attached to the same tracepoints as
 * Lanner's selected mode, they measure what enabling those attach points costs by itself. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("tracepoint")
int floor_enter(void *ctx)
{
	return 0;
}

SEC("tracepoint")
int floor_exit(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
