/* range: parsing the Range request header (RFC 9110, single byte range). */
#ifndef VMEDIA_HTTP_RANGE_H
#define VMEDIA_HTTP_RANGE_H

#include <stdint.h>

enum range_result {
	RANGE_NONE = 0,		/* absent, malformed or multi-range: send it all (200) */
	RANGE_OK,		/* send [*start, *start + *len) as 206 */
	RANGE_UNSATISFIABLE,	/* 416 with Content-Range: bytes * / size */
};

/* Parses header (may be NULL) for a resource of size bytes. A syntactically
 * bad header is ignored, as RFC 9110 allows; several ranges are answered
 * with the whole resource, which is also allowed and keeps the server free
 * of multipart bodies. */
enum range_result range_parse(const char *header, uint64_t size, uint64_t *start, uint64_t *len);

#endif
