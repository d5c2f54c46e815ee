/* fuzz_download_disposition_name: download_disposition_name()
 * (server/download/parse.c), which picks an image name from the
 * Content-Disposition header of a download's response, on arbitrary header
 * values.
 *
 * Checks that it writes at most NAMES_MAX + 1 bytes (the output buffer is
 * allocated to exactly that size) and that whenever it returns true the
 * name is one names_valid() accepts: a hostile server must not be able to
 * name an image "..", ".hidden", "a/b" or anything with control bytes. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "download/download.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *value = malloc(size + 1);
	char *out = malloc(NAMES_MAX + 1);

	if (!value || !out)
		abort();
	memcpy(value, data, size);
	value[size] = '\0';
	if (download_disposition_name(value, out)) {
		size_t n = strnlen(out, NAMES_MAX + 1);
		if (n > NAMES_MAX || !names_valid(out, n, NULL, 0))
			abort();
	}
	if (download_disposition_name(NULL, out))
		abort();
	free(out);
	free(value);
	return 0;
}
