// SPDX-License-Identifier: Apache-2.0
/*
 * Load generator for src/native/ring-throughput.ts: waits for one byte on stdin, then calls
 * getppid(2) in a tight loop for argv[1] seconds (default 3) and prints "<calls> <ns>".
 * Time is checked every 1024 calls with clock_gettime (vDSO: no syscall).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 3.0;
	long long start, end, t;
	unsigned long long calls = 0;
	char c;
	int i;

	if (read(0, &c, 1) != 1)
		return 1;
	start = now_ns();
	end = start + (long long)(secs * 1e9);
	do {
		for (i = 0; i < 1024; i++)
			syscall(SYS_getppid);
		calls += 1024;
		t = now_ns();
	} while (t < end);
	printf("%llu %lld\n", calls, t - start);
	return 0;
}
