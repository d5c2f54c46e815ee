/*
 * twrite: write strings to files one after the other and time each write(2).
 *
 * Usage: twrite FILE STRING [FILE STRING ...]
 * For every pair it prints "twrite: FILE result=ok|ERRNAME ms=T", then
 * "twrite: total ms=T" over all of them, measured with CLOCK_MONOTONIC
 * around the write(2) calls themselves (open and close excluded).  Shells'
 * builtin echo hides errno, and the figures must not include process
 * start-up.  It stops at the first failing write.  Exit status: 0 if every
 * write succeeded, else 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double _ms_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) * 1e3 + (now.tv_nsec - start->tv_nsec) / 1e6;
}

int main(int argc, char **argv)
{
	double total = 0;
	int rc = 0;

	if (argc < 3 || argc % 2 == 0) {
		fprintf(stderr, "usage: twrite FILE STRING [FILE STRING ...]\n");
		return 2;
	}
	for (int i = 1; i + 1 < argc && rc == 0; i += 2) {
		const char *path = argv[i], *text = argv[i + 1];
		struct timespec start;
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
		ms = _ms_since(&start);
		total += ms;
		close(fd);
		if (n < 0) {
			printf("twrite: %s result=%s ms=%.3f\n", path, strerrorname_np(err), ms);
			rc = 1;
		} else {
			printf("twrite: %s result=ok ms=%.3f\n", path, ms);
		}
		fflush(stdout);
	}
	printf("twrite: total ms=%.3f\n", total);
	return rc;
}
