/* log: level-gated, one line per event on stderr, with a module prefix.
 *
 * Each event is formatted into one buffer and written with a single write(2),
 * so lines from different threads never interleave and journald sees exactly
 * one record per event. Control characters in messages are replaced, so a
 * hostile name in a request cannot forge extra log lines. */
#include "log.h"
#include "clock.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum log_level log_current_level = LOG_INFO;

static const char *const _names[] = { "error", "warn", "info", "debug" };

int log_parse_level(const char *name)
{
	for (int i = 0; i < (int)(sizeof(_names) / sizeof(_names[0])); i++)
		if (strcmp(name, _names[i]) == 0)
			return i;
	return -1;
}

void log_write(enum log_level level, const char *module, const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	size_t n;
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	clock_iso8601(line, sizeof(line), ts.tv_sec, (int)(ts.tv_nsec / 1000000));
	n = strlen(line);
	n += (size_t)snprintf(line + n, sizeof(line) - n, " %-5s %s: ", _names[level], module);
	if (n >= sizeof(line) - 2)
		n = sizeof(line) - 2;

	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (m > 0) {
		size_t end = n + (size_t)m;
		if (end > sizeof(line) - 2)
			end = sizeof(line) - 2;
		for (size_t i = n; i < end; i++)
			if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] >= 0x7f)
				line[i] = '?';
		n = end;
	}
	line[n++] = '\n';
	/* Nothing sensible to do if stderr is gone. */
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
}
