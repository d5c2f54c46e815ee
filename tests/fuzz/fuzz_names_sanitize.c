/* fuzz_names_sanitize: names_sanitize() (server/core/names.c) on arbitrary
 * NUL-terminated strings.
 *
 * Checks that it writes at most NAMES_MAX + 1 bytes (the output buffer is
 * allocated to exactly that size), that a true result is a name that
 * names_valid() accepts and is no longer than the input, that a false
 * result only happens when the input holds no allowed byte after its
 * leading dots, dashes and spaces, and that sanitizing a sanitized name
 * gives it back unchanged. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1);
	char *out = malloc(NAMES_MAX + 1);
	char *again = malloc(NAMES_MAX + 1);
	size_t len, skip = 0;

	if (!in || !out || !again)
		abort();
	memcpy(in, data, size);
	in[size] = '\0';
	len = strlen(in);

	bool ok = names_sanitize(in, out);
	while (in[skip] == '.' || in[skip] == '-' || in[skip] == ' ')
		skip++;
	if (ok) {
		size_t n = strnlen(out, NAMES_MAX + 1);
		if (n == 0 || n > NAMES_MAX || n > len || !names_valid(out, n, NULL, 0))
			abort();
		if (!names_sanitize(out, again) || strcmp(out, again) != 0)
			abort();	/* not idempotent */
	} else if (skip < len) {
		/* Something is left; bad bytes become '_', which is valid. */
		abort();
	}
	free(again);
	free(out);
	free(in);
	return 0;
}
