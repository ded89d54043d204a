// Syscall load generator for benchmarks and flood tests.
// Usage: loadgen MODE SECONDS   (MODE: getppid | openclose | openrelclose | forkexec)
// Prints one JSON line: {"mode":..., "ops":N, "syscalls":N, "seconds":S, "per_sec":R, "cpu_seconds":C}
// (C: the process's CPU time in the loop, user + system).
// Between clock checks it runs 1024 operations; clock_gettime is a vDSO call (no syscall).
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* CPU time of this process (user + system, where the BPF programs of its syscalls run): what
 * a loop costs, whatever else the machine is doing. */
static double cpu_now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: loadgen getppid|openclose|openrelclose|forkexec SECONDS\n");
		return 2;
	}
	const char *mode = argv[1];
	double secs = atof(argv[2]);
	unsigned long ops = 0, per_op = 1;
	double start = now(), end = start + secs, t = start, cpu0 = cpu_now();
	if (strcmp(mode, "getppid") == 0) {
		while (t < end) {
			for (int i = 0; i < 1024; i++) syscall(SYS_getppid);
			ops += 1024;
			t = now();
		}
	} else if (strcmp(mode, "openclose") == 0) {
		per_op = 2;
		while (t < end) {
			for (int i = 0; i < 1024; i++) {
				int fd = open("/etc/hostname", O_RDONLY);
				if (fd >= 0) close(fd);
			}
			ops += 1024;
			t = now();
		}
	} else if (strcmp(mode, "openrelclose") == 0) {
		/* the same file by a path relative to the cwd (the kernel resolves the cwd) */
		per_op = 2;
		if (chdir("/etc") != 0)
			return 1;
		while (t < end) {
			for (int i = 0; i < 1024; i++) {
				int fd = open("hostname", O_RDONLY);
				if (fd >= 0) close(fd);
			}
			ops += 1024;
			t = now();
		}
	} else if (strcmp(mode, "forkexec") == 0) {
		per_op = 0;
		while (t < end) {
			pid_t p = fork();
			if (p == 0) {
				execl("/bin/true", "true", (char *)0);
				_exit(127);
			}
			if (p > 0) waitpid(p, 0, 0);
			ops++;
			if ((ops & 15) == 0) t = now();
		}
		t = now();
	} else {
		fprintf(stderr, "loadgen: unknown mode %s\n", mode);
		return 2;
	}
	double el = t - start;
	unsigned long sys = per_op ? ops * per_op : ops;
	printf("{\"mode\":\"%s\",\"ops\":%lu,\"syscalls\":%lu,\"seconds\":%.4f,\"per_sec\":%.0f,\"cpu_seconds\":%.4f}\n",
	       mode, ops, sys, el, sys / el, cpu_now() - cpu0);
	return 0;
}
