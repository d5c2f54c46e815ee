/* fuzz_unescape: _unescape() in server/http/server.c, the percent-decoding
 * libmicrohttpd applies to every request path and query value. The function
 * is static, so server.c is compiled into this file.
 *
 * Checks, on arbitrary strings, against the rule in its comment: the result
 * is NUL-terminated at the returned length (no byte of the result is NUL, so
 * "a%00b" cannot name image "a"), it is never longer than the input, "%00"
 * stays literal, each "%XX" with two hex digits and a non-zero value becomes
 * that byte, and every other byte is copied unchanged. The expected result
 * is computed independently here and compared byte for byte. */
#include "../../server/http/server.c"

#include <stdint.h>

static int _hexval(unsigned char c)
{
	static const char digits[] = "0123456789abcdef0123456789ABCDEF";
	const char *p = c ? strchr(digits, c) : NULL;

	return p ? (int)((p - digits) % 16) : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	char *want = malloc(size + 1);
	size_t len, n = 0;

	if (!s || !want)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	len = strlen(s);

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		int hi = c == '%' ? _hexval((unsigned char)s[i + 1]) : -1;
		int lo = hi >= 0 ? _hexval((unsigned char)s[i + 2]) : -1;

		if (lo >= 0 && hi * 16 + lo != 0) {
			want[n++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			want[n++] = (char)c;
		}
	}
	want[n] = '\0';

	size_t got = _unescape(NULL, NULL, s);
	if (got > len || strlen(s) != got || got != n || memcmp(s, want, n) != 0)
		abort();
	free(want);
	free(s);
	return 0;
}
