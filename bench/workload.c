// Fixed workloads for the agent benchmark (bench/macro/agent.ts): a fixed amount of work,
// timed from outside. Usage:
//   workload exec N         fork + exec /bin/true N times, one at a time
//   workload connect N      N TCP connects to a loopback listener (a child process accepts
//                           and closes); the client closes with SO_LINGER 0 (RST), so no
//                           TIME_WAIT piles up over repeated runs
//   workload getppid N      N getppid syscalls (a syscall no rule selects)
//   workload sleepers N     N live processes, each an exec of this program sleeping in
//                           pause(); prints "ready N" once all exist, then waits for EOF on
//                           stdin, kills and reaps them, prints "reaped N"
//   workload sleep I        (what each sleeper runs)
// Prints one JSON line for exec/connect/getppid: {"mode":..., "ops":N}. Exits non-zero on
// any failure, saying what failed.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what) {
	fprintf(stderr, "workload: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void run_exec(long n) {
	for (long i = 0; i < n; i++) {
		pid_t p = fork();
		if (p < 0) die("fork");
		if (p == 0) {
			execl("/bin/true", "true", (char *)0);
			_exit(127);
		}
		int st;
		if (waitpid(p, &st, 0) < 0) die("waitpid");
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "workload: /bin/true failed (status %d)\n", st);
			exit(1);
		}
	}
}

static void run_connect(long n) {
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ls < 0) die("socket");
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	if (bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0) die("bind");
	if (listen(ls, 1024) < 0) die("listen");
	if (getsockname(ls, (struct sockaddr *)&a, &alen) < 0) die("getsockname");
	pid_t srv = fork();
	if (srv < 0) die("fork");
	if (srv == 0) {
		for (long i = 0; i < n; i++) {
			int c = accept4(ls, 0, 0, SOCK_CLOEXEC);
			if (c < 0) die("accept4");
			close(c);
		}
		_exit(0);
	}
	close(ls);
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	for (long i = 0; i < n; i++) {
		int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0) die("socket");
		if (setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0) die("setsockopt");
		if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) die("connect");
		close(s);
	}
	int st;
	if (waitpid(srv, &st, 0) < 0) die("waitpid");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "workload: the listener failed (status %d)\n", st);
		exit(1);
	}
}

static void run_getppid(long n) {
	for (long i = 0; i < n; i++) syscall(SYS_getppid);
}

static void run_sleepers(long n) {
	pid_t *kids = calloc(n, sizeof(pid_t));
	if (!kids) die("calloc");
	char self[4096];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len < 0) die("readlink /proc/self/exe");
	self[len] = 0;
	// each child says it is asleep on this pipe, so "ready" means all N exist and have exec'd
	int pfd[2];
	if (pipe(pfd) < 0) die("pipe");
	for (long i = 0; i < n; i++) {
		pid_t p = fork();
		if (p < 0) die("fork");
		if (p == 0) {
			char idx[32];
			snprintf(idx, sizeof(idx), "%ld", i);
			close(pfd[0]);
			if (dup2(pfd[1], 3) < 0) _exit(126);
			execl(self, "workload", "sleep", idx, (char *)0);
			_exit(127);
		}
		kids[i] = p;
	}
	close(pfd[1]);
	long up = 0;
	char b[256];
	ssize_t r;
	while (up < n && (r = read(pfd[0], b, sizeof(b))) > 0) up += r;
	if (up < n) {
		fprintf(stderr, "workload: only %ld of %ld sleepers started\n", up, n);
		for (long i = 0; i < n; i++) kill(kids[i], SIGKILL);
		exit(1);
	}
	printf("ready %ld\n", n);
	fflush(stdout);
	while (read(0, b, sizeof(b)) > 0) {
	}
	for (long i = 0; i < n; i++) kill(kids[i], SIGKILL);
	long reaped = 0;
	for (long i = 0; i < n; i++)
		if (waitpid(kids[i], 0, 0) == kids[i]) reaped++;
	printf("reaped %ld\n", reaped);
	fflush(stdout);
}

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: workload exec|connect|getppid|sleepers N\n");
		return 2;
	}
	const char *mode = argv[1];
	long n = atol(argv[2]);
	if (strcmp(mode, "sleep") == 0) {
		if (write(3, "x", 1) != 1) return 1;
		close(3);
		pause();
		return 0;
	}
	if (n <= 0) {
		fprintf(stderr, "workload: N must be a positive number, got %s\n", argv[2]);
		return 2;
	}
	if (strcmp(mode, "exec") == 0)
		run_exec(n);
	else if (strcmp(mode, "connect") == 0)
		run_connect(n);
	else if (strcmp(mode, "getppid") == 0)
		run_getppid(n);
	else if (strcmp(mode, "sleepers") == 0) {
		run_sleepers(n);
		return 0;
	} else {
		fprintf(stderr, "workload: unknown mode %s\n", mode);
		return 2;
	}
	printf("{\"mode\":\"%s\",\"ops\":%ld}\n", mode, n);
	return 0;
}
