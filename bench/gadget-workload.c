// The gadget parity benchmark's workload (bench/macro/gadgets.ts): a fixed amount of each
// kind of event the trace gadgets report, with a key per event so that two tracers' reports
// can be compared as sets. Built static: it runs inside a busybox container.
//
// Usage: gadget-workload N DIR PORT
//   N times: fork + execve("/bin/true", ["true", "gw-exec-I"]) and wait
//            open(DIR/gw-open-I, O_CREAT|O_WRONLY|O_TRUNC) and close
//            a TCP connect to 127.0.0.1:PORT (a child accepts and closes)
//            kill(SIGNAL_CHILD, SIGUSR1) (a child that ignores SIGUSR1)
//            bind a UDP socket to 127.0.0.1:(PORT + 1 + I % 1000) and close it
// Prints one JSON line: {"ops":N,"seconds":S,"listener":PID,"target":PID}, S timed inside.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
	fprintf(stderr, "gadget-workload: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
	if (argc != 4) {
		fprintf(stderr, "usage: gadget-workload N DIR PORT\n");
		return 2;
	}
	long n = atol(argv[1]);
	const char *dir = argv[2];
	int port = atoi(argv[3]);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	a.sin_port = htons((unsigned short)port);

	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ls < 0) die("socket");
	int one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0) die("bind listener");
	if (listen(ls, 1024) < 0) die("listen");
	pid_t listener = fork();
	if (listener < 0) die("fork");
	if (listener == 0) {
		for (long i = 0; i < n; i++) {
			int c = accept4(ls, 0, 0, SOCK_CLOEXEC);
			if (c < 0) die("accept4");
			close(c);
		}
		_exit(0);
	}
	close(ls);
	pid_t target = fork();
	if (target < 0) die("fork");
	if (target == 0) {
		signal(SIGUSR1, SIG_IGN);
		for (;;) pause();
	}

	double t0 = now();
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	char path[4096], arg[64];
	for (long i = 0; i < n; i++) {
		snprintf(arg, sizeof(arg), "gw-exec-%ld", i);
		pid_t p = fork();
		if (p < 0) die("fork");
		if (p == 0) {
			execl("/bin/true", "true", arg, (char *)0);
			_exit(127);
		}
		int st;
		if (waitpid(p, &st, 0) < 0) die("waitpid");
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "gadget-workload: /bin/true failed (status %d)\n", st);
			return 1;
		}

		snprintf(path, sizeof(path), "%s/gw-open-%ld", dir, i);
		int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) die("open");
		close(fd);

		int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0) die("socket");
		if (setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0) die("setsockopt");
		if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) die("connect");
		close(s);

		if (kill(target, SIGUSR1) < 0) die("kill");

		int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (u < 0) die("socket");
		struct sockaddr_in b = a;
		b.sin_port = htons((unsigned short)(port + 1 + (int)(i % 1000)));
		if (bind(u, (struct sockaddr *)&b, sizeof(b)) < 0) die("bind");
		close(u);
	}
	double secs = now() - t0;
	int st;
	if (waitpid(listener, &st, 0) < 0) die("waitpid listener");
	kill(target, SIGKILL);
	waitpid(target, &st, 0);
	printf("{\"ops\":%ld,\"seconds\":%.6f,\"listener\":%d,\"target\":%d}\n", n, secs, listener, target);
	return 0;
}
