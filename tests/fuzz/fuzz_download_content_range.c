/* fuzz_download_content_range: download_content_range()
 * (server/download/parse.c), the Content-Range header of a download
 * server's 206, which sizes the image and places the data kept.
 *
 * The input is an 8-byte Content-Length (little endian; odd values map to
 * -1, "none", or a small length, so that consistent ranges are common)
 * followed by the header value. The oracle is a second parser written here
 * in another way (split at '-' and '/', numbers compared in 128 bits): the
 * verdict and the three numbers must be the same; a refusal leaves the
 * output alone. Whatever is accepted satisfies the contract in download.h
 * with 128-bit arithmetic: 0 <= start <= end < total (or total -1) <=
 * INT64_MAX, and end - start + 1 equals the length given. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "download/download.h"

#define FUZZ_POISON INT64_C(0x5eadbeefcafef00d)

/* A run of decimal digits [s, e) as a number; false if empty, if another
 * character is in it, or if it does not fit in int64. */
static bool _number(const char *s, const char *e, __int128 *out)
{
	__int128 v = 0;

	if (s == e)
		return false;
	for (const char *p = s; p < e; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (*p - '0');
		if (v > INT64_MAX)
			return false;
	}
	*out = v;
	return true;
}

static bool _oracle(const char *v, int64_t length, __int128 *start, __int128 *end,
		    __int128 *total)
{
	while (*v == ' ' || *v == '\t')
		v++;
	if (strlen(v) < 6 || strncasecmp(v, "bytes", 5) != 0 || v[5] != ' ')
		return false;
	v += 6;
	const char *dash = strchr(v, '-');
	const char *slash = strchr(v, '/');
	if (!dash || !slash || slash < dash)
		return false;
	if (!_number(v, dash, start) || !_number(dash + 1, slash, end))
		return false;
	if (strcmp(slash + 1, "*") == 0)
		*total = -1;
	else if (!_number(slash + 1, slash + 1 + strlen(slash + 1), total))
		return false;
	if (*start > *end || (*total != -1 && *end >= *total))
		return false;
	return length == -1 || (__int128)*end - *start + 1 == (__int128)length;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t raw = 0;
	int64_t length;
	__int128 os = 0, oe = 0, ot = 0;

	if (size < 8)
		return 0;
	for (int i = 7; i >= 0; i--)
		raw = raw << 8 | data[i];
	if (raw & 1)
		length = (raw >> 1) % 3 == 0 ? -1 : (int64_t)((raw >> 1) % 4097);
	else
		length = (int64_t)raw;
	char *value = malloc(size - 8 + 1);
	if (!value)
		abort();
	memcpy(value, data + 8, size - 8);
	value[size - 8] = '\0';

	struct download_content_range r = { FUZZ_POISON, FUZZ_POISON, FUZZ_POISON };
	bool got = download_content_range(value, length, &r);
	bool want = _oracle(value, length, &os, &oe, &ot);
	if (got != want)
		abort();
	if (!got && (r.start != FUZZ_POISON || r.end != FUZZ_POISON || r.total != FUZZ_POISON))
		abort();
	if (got) {
		if (r.start != os || r.end != oe || r.total != ot)
			abort();
		if (r.start < 0 || r.start > r.end || r.total < -1 ||
		    (r.total != -1 && r.end >= r.total))
			abort();
		if (length != -1 && (__int128)r.end - r.start + 1 != length)
			abort();
	}
	free(value);
	return 0;
}
