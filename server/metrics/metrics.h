/* metrics: counters and histograms for Prometheus (GET /metrics). The
 * modules record what happened as it happens; api/metrics.c adds the
 * gauges read at scrape time (LUN states, free space) and serves the text.
 * Process-wide, like the registries of Prometheus's own client libraries:
 * one lock, held for a few additions. */
#ifndef VMEDIA_METRICS_H
#define VMEDIA_METRICS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum metrics_transfer { METRICS_UPLOAD = 0, METRICS_DOWNLOAD };

/* A request answered: route is the routing table's pattern ("/luns/ * /eject")
 * or NULL (a file of the web UI, or nothing there). */
void metrics_http(const char *route, const char *method, unsigned status);
/* An upload or download that ended: stored (ok) or not. */
void metrics_transfer(enum metrics_transfer kind, bool ok, int64_t bytes, double seconds);
/* An eject that ended, with gadget's method name ("break_io+forced_eject"). */
void metrics_eject(const char *method, bool forced, bool ok, double ms);

/* A growing text buffer for the exposition. */
struct metrics_text {
	char *data;
	size_t len, cap;
};
void metrics_printf(struct metrics_text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A label value, escaped as the format requires (\\, \", \n). */
void metrics_label(struct metrics_text *t, const char *value);
/* "# HELP name help\n# TYPE name type\n" */
void metrics_family(struct metrics_text *t, const char *name, const char *type,
		    const char *help);
/* Appends every counter and histogram recorded so far. */
void metrics_render(struct metrics_text *t);

#endif
