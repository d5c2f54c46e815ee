/* fuzz_names_valid: names_valid() (server/core/names.c) on arbitrary bytes.
 *
 * Checks that its verdict matches the rule written in names.h, restated here
 * independently: 1..NAMES_MAX bytes of [A-Za-z0-9._+-], not starting with '.'
 * or '-'. Also that the reason it gives for a refusal is a non-empty,
 * NUL-terminated string that fits a buffer of any size (the buffer is
 * allocated to the exact size chosen by the input, so ASan sees an overrun),
 * and that why == NULL is accepted. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/names.h"

static bool _allowed(unsigned char c)
{
	static const char set[] = "abcdefghijklmnopqrstuvwxyz"
				  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-";
	return c != '\0' && memchr(set, c, sizeof(set) - 1) != NULL;
}

static bool _expected(const unsigned char *s, size_t n)
{
	if (n < 1 || n > NAMES_MAX || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!_allowed(s[i]))
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t why_size = 0;
	char *name, *why;
	bool ok, ok_null;

	/* The first byte picks the size of the reason buffer (0..255). */
	if (size > 0) {
		why_size = data[0];
		data++;
		size--;
	}
	/* An exact-size copy: names_valid must not read past len. */
	name = malloc(size ? size : 1);
	why = malloc(why_size ? why_size : 1);
	if (!name || !why)
		abort();
	memcpy(name, data, size);

	ok = names_valid(name, size, why_size ? why : NULL, why_size);
	ok_null = names_valid(name, size, NULL, 0);
	if (ok != ok_null || ok != _expected(data, size))
		abort();
	if (!ok && why_size > 0) {
		size_t n = strnlen(why, why_size);
		if (n == why_size || (n == 0 && why_size > 1))
			abort();	/* not terminated, or no reason given */
	}
	free(why);
	free(name);
	return 0;
}
