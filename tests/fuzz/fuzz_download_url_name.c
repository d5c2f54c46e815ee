/* fuzz_download_url_name: download_url_name() (server/download/parse.c),
 * which names a downloaded image after the last path segment of its URL
 * (percent-decoded), on arbitrary URLs.
 *
 * Checks that it writes at most NAMES_MAX + 1 bytes (the output buffer is
 * allocated to exactly that size) and that whenever it returns true the
 * name is one names_valid() accepts, whatever escapes ("%2F", "%2e%2e",
 * "%00") or separators the URL holds. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "download/download.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *url = malloc(size + 1);
	char *out = malloc(NAMES_MAX + 1);

	if (!url || !out)
		abort();
	memcpy(url, data, size);
	url[size] = '\0';
	if (download_url_name(url, out)) {
		size_t n = strnlen(out, NAMES_MAX + 1);
		if (n > NAMES_MAX || !names_valid(out, n, NULL, 0))
			abort();
	}
	free(out);
	free(url);
	return 0;
}
