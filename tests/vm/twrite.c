/*
 * twrite: write strings to files one after the other and time each write(2).
 *
 * Usage: twrite [-s PID:MS] FILE STRING [FILE STRING ...]
 * For every pair it prints "twrite: FILE result=ok|ERRNAME ms=T t0=S t1=S",
 * then "twrite: total ms=T" over all of them, measured with CLOCK_MONOTONIC
 * around the write(2) calls themselves (open and close excluded).  t0 and t1
 * are the CLOCK_MONOTONIC times (seconds) at which the write started and
 * returned, so that writes of several processes can be set against each
 * other (the benchmark's "plain eject stuck, then force").  Shells'
 * builtin echo hides errno, and the figures must not include process
 * start-up.  It stops at the first failing write.  Exit status: 0 if every
 * write succeeded, else 1.
 *
 * -s PID:MS plays today's userspace fallback for a stuck forced eject: if
 * the writes have not all returned after MS ms, send SIGUSR1 to PID (the
 * file-storage thread).  A child process does it, since a task blocked in
 * an uninterruptible write cannot run a timer handler of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/wait.h>

static double _ms_between(const struct timespec *start, const struct timespec *end)
{
	return (end->tv_sec - start->tv_sec) * 1e3 + (end->tv_nsec - start->tv_nsec) / 1e6;
}

/* Fork a child that sends SIGUSR1 to pid after ms milliseconds. */
static pid_t _start_fallback(pid_t pid, long ms)
{
	pid_t child = fork();

	if (child == 0) {
		struct timespec delay = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

		nanosleep(&delay, NULL);
		kill(pid, SIGUSR1);
		printf("twrite: fallback SIGUSR1 to %d after %ld ms\n", (int)pid, ms);
		_exit(0);
	}
	return child;
}

int main(int argc, char **argv)
{
	pid_t fallback = -1;
	double total = 0;
	int first = 1, rc = 0;

	if (argc > 2 && strcmp(argv[1], "-s") == 0) {
		long pid, ms;

		if (sscanf(argv[2], "%ld:%ld", &pid, &ms) != 2 || pid <= 0 || ms < 0) {
			fprintf(stderr, "twrite: -s wants PID:MS\n");
			return 2;
		}
		fflush(stdout);
		fallback = _start_fallback(pid, ms);
		first = 3;
	}
	if (argc - first < 2 || (argc - first) % 2 != 0) {
		fprintf(stderr, "usage: twrite [-s PID:MS] FILE STRING [FILE STRING ...]\n");
		return 2;
	}
	for (int i = first; i + 1 < argc && rc == 0; i += 2) {
		const char *path = argv[i], *text = argv[i + 1];
		struct timespec start, end;
		ssize_t n;
		double ms;
		int fd, err;

		if ((fd = open(path, O_WRONLY)) < 0) {
			printf("twrite: %s result=%s open\n", path, strerrorname_np(errno));
			rc = 1;
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &start);
		n = write(fd, text, strlen(text));
		err = errno;
		clock_gettime(CLOCK_MONOTONIC, &end);
		ms = _ms_between(&start, &end);
		total += ms;
		close(fd);
		printf("twrite: %s result=%s ms=%.3f t0=%lld.%09ld t1=%lld.%09ld\n", path,
		       n < 0 ? strerrorname_np(err) : "ok", ms, (long long)start.tv_sec,
		       start.tv_nsec, (long long)end.tv_sec, end.tv_nsec);
		if (n < 0)
			rc = 1;
		fflush(stdout);
	}
	if (fallback > 0) {
		kill(fallback, SIGKILL);
		waitpid(fallback, NULL, 0);
	}
	printf("twrite: total ms=%.3f\n", total);
	return rc;
}
