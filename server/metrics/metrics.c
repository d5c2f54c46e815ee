/* metrics: the recorded counters and histograms, and their text form
 * (Prometheus exposition format 0.0.4). */
#include "metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METRICS_MAX_HTTP 256		/* route x method x status combinations kept */
#define METRICS_MAX_EJECT 32		/* method x forced x outcome */
#define METRICS_MAX_BUCKETS 16

struct metrics_hist {
	const double *le;	/* upper bounds, ascending; +Inf is implied */
	unsigned n;
	uint64_t counts[METRICS_MAX_BUCKETS];	/* per bucket, not cumulative */
	uint64_t count;
	double sum;
};

struct metrics_http_count {
	const char *route;	/* static: the routing table's pattern */
	const char *method;
	unsigned status;
	uint64_t n;
};

struct metrics_eject_count {
	char method[40];
	bool forced, ok;
	uint64_t n;
};

static const double _transfer_le[] = { 1, 5, 15, 60, 300, 900, 3600 };
static const double _eject_le[] = { 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };

static pthread_mutex_t _lock = PTHREAD_MUTEX_INITIALIZER;
static struct metrics_http_count _http[METRICS_MAX_HTTP];
static unsigned _nhttp;
static uint64_t _http_dropped;
static struct metrics_eject_count _ejects[METRICS_MAX_EJECT];
static unsigned _nejects;
static struct {
	uint64_t ok, failed, bytes;
	struct metrics_hist seconds;
} _xfer[2] = {
	{ .seconds = { .le = _transfer_le, .n = sizeof(_transfer_le) / sizeof(double) } },
	{ .seconds = { .le = _transfer_le, .n = sizeof(_transfer_le) / sizeof(double) } },
};
static struct metrics_hist _forced_seconds = { .le = _eject_le,
					       .n = sizeof(_eject_le) / sizeof(double) };

static void _observe(struct metrics_hist *h, double v)
{
	unsigned i = 0;

	while (i < h->n && v > h->le[i])
		i++;
	h->counts[i]++;	/* i == n: only +Inf */
	h->count++;
	h->sum += v;
}

static const char *_method(const char *m)
{
	static const char *const known[] = { "GET", "HEAD", "PUT", "POST", "DELETE", "PATCH",
					     "OPTIONS" };
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (m && strcmp(m, known[i]) == 0)
			return known[i];
	return "other";
}

void metrics_http(const char *route, const char *method, unsigned status)
{
	const char *m = _method(method);
	unsigned i;

	if (!route)
		route = status < 400 ? "web" : "none";
	pthread_mutex_lock(&_lock);
	for (i = 0; i < _nhttp; i++)
		if (_http[i].route == route && _http[i].method == m && _http[i].status == status)
			break;
	if (i == _nhttp && _nhttp < METRICS_MAX_HTTP)
		_http[_nhttp++] = (struct metrics_http_count){ route, m, status, 0 };
	if (i < _nhttp)
		_http[i].n++;
	else
		_http_dropped++;
	pthread_mutex_unlock(&_lock);
}

void metrics_transfer(enum metrics_transfer kind, bool ok, int64_t bytes, double seconds)
{
	pthread_mutex_lock(&_lock);
	if (ok) {
		_xfer[kind].ok++;
		_xfer[kind].bytes += bytes > 0 ? (uint64_t)bytes : 0;
		_observe(&_xfer[kind].seconds, seconds);
	} else {
		_xfer[kind].failed++;
	}
	pthread_mutex_unlock(&_lock);
}

void metrics_eject(const char *method, bool forced, bool ok, double ms)
{
	unsigned i;

	pthread_mutex_lock(&_lock);
	for (i = 0; i < _nejects; i++)
		if (!strcmp(_ejects[i].method, method) && _ejects[i].forced == forced &&
		    _ejects[i].ok == ok)
			break;
	if (i == _nejects && _nejects < METRICS_MAX_EJECT) {
		_ejects[i] = (struct metrics_eject_count){ .forced = forced, .ok = ok };
		snprintf(_ejects[i].method, sizeof(_ejects[i].method), "%s", method);
		_nejects++;
	}
	if (i < _nejects)
		_ejects[i].n++;
	if (forced && ok)	/* the promise: how soon a forced eject wins */
		_observe(&_forced_seconds, ms / 1000);
	pthread_mutex_unlock(&_lock);
}

void metrics_printf(struct metrics_text *t, const char *fmt, ...)
{
	va_list ap;

	for (;;) {
		size_t room = t->cap - t->len;
		va_start(ap, fmt);
		int n = vsnprintf(t->data ? t->data + t->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0)
			abort();
		if ((size_t)n < room) {
			t->len += (size_t)n;
			return;
		}
		t->cap = t->cap * 2 + (size_t)n + 256;
		t->data = realloc(t->data, t->cap);
		if (!t->data)
			abort();
	}
}

void metrics_label(struct metrics_text *t, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			metrics_printf(t, "\\%c", *v);
		else if (*v == '\n')
			metrics_printf(t, "\\n");
		else
			metrics_printf(t, "%c", *v);
	}
}

void metrics_family(struct metrics_text *t, const char *name, const char *type,
		    const char *help)
{
	metrics_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* labels: "" or `kind="upload",` style text put before le. */
static void _hist(struct metrics_text *t, const char *name, const char *labels,
		  const struct metrics_hist *h)
{
	uint64_t cum = 0;

	for (unsigned i = 0; i < h->n; i++) {
		cum += h->counts[i];
		metrics_printf(t, "%s_bucket{%sle=\"%g\"} %llu\n", name, labels, h->le[i],
			       (unsigned long long)cum);
	}
	metrics_printf(t, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, labels,
		       (unsigned long long)h->count);
	size_t l = strlen(labels);
	char plain[64];
	snprintf(plain, sizeof(plain), "%.*s", l ? (int)l - 1 : 0, labels);	/* no comma */
	metrics_printf(t, "%s_sum%s%s%s %.6f\n", name, l ? "{" : "", plain, l ? "}" : "", h->sum);
	metrics_printf(t, "%s_count%s%s%s %llu\n", name, l ? "{" : "", plain, l ? "}" : "",
		       (unsigned long long)h->count);
}

void metrics_render(struct metrics_text *t)
{
	static const char *const kinds[] = { "upload", "download" };

	pthread_mutex_lock(&_lock);
	metrics_family(t, "vmedia_http_requests_total", "counter",
		       "HTTP requests answered, by route (the API's path pattern; web: the UI's "
		       "files; none: nothing there), method and status.");
	for (unsigned i = 0; i < _nhttp; i++) {
		metrics_printf(t, "vmedia_http_requests_total{route=\"");
		metrics_label(t, _http[i].route);
		metrics_printf(t, "\",method=\"%s\",code=\"%u\"} %llu\n", _http[i].method,
			       _http[i].status, (unsigned long long)_http[i].n);
	}
	metrics_family(t, "vmedia_http_requests_unrecorded_total", "counter",
		       "HTTP requests not in vmedia_http_requests_total (too many label sets).");
	metrics_printf(t, "vmedia_http_requests_unrecorded_total %llu\n",
		       (unsigned long long)_http_dropped);

	metrics_family(t, "vmedia_transfers_total", "counter",
		       "Uploads and downloads that ended, by outcome (ok: the image is stored).");
	for (int k = 0; k < 2; k++)
		metrics_printf(t, "vmedia_transfers_total{kind=\"%s\",outcome=\"ok\"} %llu\n"
			       "vmedia_transfers_total{kind=\"%s\",outcome=\"failed\"} %llu\n",
			       kinds[k], (unsigned long long)_xfer[k].ok, kinds[k],
			       (unsigned long long)_xfer[k].failed);
	metrics_family(t, "vmedia_transfer_bytes_total", "counter",
		       "Bytes of the images stored by uploads and downloads.");
	for (int k = 0; k < 2; k++)
		metrics_printf(t, "vmedia_transfer_bytes_total{kind=\"%s\"} %llu\n", kinds[k],
			       (unsigned long long)_xfer[k].bytes);
	metrics_family(t, "vmedia_transfer_duration_seconds", "histogram",
		       "How long the stored uploads and downloads took, start to stored.");
	for (int k = 0; k < 2; k++) {
		char labels[32];
		snprintf(labels, sizeof(labels), "kind=\"%s\",", kinds[k]);
		_hist(t, "vmedia_transfer_duration_seconds", labels, &_xfer[k].seconds);
	}

	metrics_family(t, "vmedia_ejects_total", "counter",
		       "Ejects that ended, by method (how the medium came out), forced and outcome.");
	for (unsigned i = 0; i < _nejects; i++) {
		metrics_printf(t, "vmedia_ejects_total{method=\"");
		metrics_label(t, _ejects[i].method);
		metrics_printf(t, "\",forced=\"%s\",outcome=\"%s\"} %llu\n",
			       _ejects[i].forced ? "true" : "false", _ejects[i].ok ? "ok" : "failed",
			       (unsigned long long)_ejects[i].n);
	}
	metrics_family(t, "vmedia_forced_eject_duration_seconds", "histogram",
		       "How long forced ejects that succeeded took, from the request to the medium out.");
	_hist(t, "vmedia_forced_eject_duration_seconds", "", &_forced_seconds);
	pthread_mutex_unlock(&_lock);
}
