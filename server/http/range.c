/* range: parsing the Range request header (see range.h). */
#include "range.h"

#include <stdbool.h>
#include <stddef.h>
#include <strings.h>

/* Reads decimal digits at *p into *out; false on none. A number too large
 * for 64 bits saturates at UINT64_MAX (RFC 9110 14.1.1 asks a recipient to
 * expect large numerals): as a position it lies past the end of any file,
 * which is what it means. */
static bool _number(const char **p, uint64_t *out)
{
	uint64_t v = 0;
	const char *s = *p;

	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		uint64_t d = (uint64_t)(*s - '0');
		v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
	}
	*p = s;
	*out = v;
	return true;
}

static const char *_skip_ows(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

enum range_result range_parse(const char *header, uint64_t size, uint64_t *start, uint64_t *len)
{
	const char *p;
	uint64_t first, last;

	if (!header)
		return RANGE_NONE;
	p = _skip_ows(header);
	if (strncasecmp(p, "bytes", 5) != 0)
		return RANGE_NONE;
	p = _skip_ows(p + 5);
	if (*p != '=')
		return RANGE_NONE;
	p = _skip_ows(p + 1);

	if (*p == '-') {		/* suffix: the last N bytes */
		p++;
		if (!_number(&p, &last))
			return RANGE_NONE;
		p = _skip_ows(p);
		if (*p)
			return RANGE_NONE;
		if (last == 0 || size == 0)
			return RANGE_UNSATISFIABLE;
		if (last > size)
			last = size;
		*start = size - last;
		*len = last;
		return RANGE_OK;
	}
	if (!_number(&p, &first) || *p != '-')
		return RANGE_NONE;
	p++;
	if (*p >= '0' && *p <= '9') {
		if (!_number(&p, &last) || last < first)
			return RANGE_NONE;
	} else {
		last = UINT64_MAX;
	}
	p = _skip_ows(p);
	if (*p)
		return RANGE_NONE;	/* several ranges, or garbage */
	if (first >= size)
		return RANGE_UNSATISFIABLE;
	if (last >= size)
		last = size - 1;
	*start = first;
	*len = last - first + 1;
	return RANGE_OK;
}
