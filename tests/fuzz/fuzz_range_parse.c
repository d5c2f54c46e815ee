/* fuzz_range_parse: range_parse() (server/http/range.c), the Range header of
 * GET /api/images/{name}/data.
 *
 * The input is an 8-byte resource size (little endian) followed by the header
 * text. Sizes are capped at INT64_MAX, as an image is a file (off_t) no
 * larger than --max-image-size. Checks the contract in range.h: RANGE_OK means 0 < len,
 * start < size and start + len <= size without overflow; RANGE_UNSATISFIABLE
 * and RANGE_NONE leave start and len alone. And a range it accepted, written
 * back as "bytes=START-END", is parsed to the same range (round trip). */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/range.h"

#define FUZZ_POISON UINT64_C(0xdeadbeefcafef00d)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t rsize = 0, start = FUZZ_POISON, len = FUZZ_POISON;
	char *header;

	if (size < 8)
		return 0;
	for (int i = 7; i >= 0; i--)
		rsize = rsize << 8 | data[i];
	/* Small sizes are the interesting ones half of the time. */
	if (rsize & 1)
		rsize = (rsize >> 1) % 4097;
	else
		rsize &= (uint64_t)INT64_MAX;
	data += 8;
	size -= 8;
	header = malloc(size + 1);
	if (!header)
		abort();
	memcpy(header, data, size);
	header[size] = '\0';

	enum range_result r = range_parse(header, rsize, &start, &len);
	switch (r) {
	case RANGE_OK: {
		char again[64];
		uint64_t s2 = FUZZ_POISON, l2 = FUZZ_POISON;

		if (len == 0 || start >= rsize || len > rsize - start)
			abort();
		snprintf(again, sizeof(again), "bytes=%" PRIu64 "-%" PRIu64, start,
			 start + len - 1);
		if (range_parse(again, rsize, &s2, &l2) != RANGE_OK || s2 != start || l2 != len)
			abort();
		break;
	}
	case RANGE_NONE:
	case RANGE_UNSATISFIABLE:
		if (start != FUZZ_POISON || len != FUZZ_POISON)
			abort();
		break;
	default:
		abort();
	}
	if (range_parse(NULL, rsize, &start, &len) != RANGE_NONE)
		abort();
	free(header);
	return 0;
}
