/* fuzz_auth_basic_decode: auth_basic_decode() (server/auth/auth.c), the
 * credentials of "Authorization: Basic ...", on arbitrary text.
 *
 * Oracle: a plain decoder written here from RFC 4648 (groups of four, '='
 * only as the last group's one or two padding characters, bits left over by
 * the padding ignored as OpenSSL does). The function must accept exactly
 * what decodes to "user:password" with no NUL byte and parts that fit their
 * buffers, and give back exactly those parts. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"

static int _val(char c)
{
	static const char a[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c ? strchr(a, c) : NULL;

	return p ? (int)(p - a) : -1;
}

/* Decodes s into out; the length, or -1 if s is not strict base64. */
static long _decode(const char *s, unsigned char *out)
{
	size_t n = strlen(s), pad = 0;
	long len = 0;

	if (n == 0 || n % 4)
		return -1;
	if (s[n - 1] == '=')
		pad++;
	if (pad && s[n - 2] == '=')
		pad++;
	for (size_t i = 0; i < n; i += 4) {
		uint32_t v = 0;
		for (size_t k = 0; k < 4; k++) {
			bool padding = i + k >= n - pad;
			int d = padding ? 0 : _val(s[i + k]);
			if (d < 0)
				return -1;
			v = v << 6 | (uint32_t)d;
		}
		out[len++] = (unsigned char)(v >> 16);
		out[len++] = (unsigned char)(v >> 8);
		out[len++] = (unsigned char)v;
	}
	return len - (long)pad;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char user[128], pass[384];
	char *s = malloc(size + 1);
	unsigned char *want = malloc(size + 4);

	if (!s || !want)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	memset(user, 'x', sizeof(user));
	memset(pass, 'x', sizeof(pass));
	bool got = auth_basic_decode(s, user, sizeof(user), pass, sizeof(pass));

	bool expect = false;
	long len = strlen(s) <= 600 ? _decode(s, want) : -1;
	char *colon = NULL;
	if (len > 0 && !memchr(want, '\0', (size_t)len)) {
		want[len] = '\0';
		colon = strchr((char *)want, ':');
		expect = colon && (size_t)(colon - (char *)want) < sizeof(user) &&
			 strlen(colon + 1) < sizeof(pass);
	}
	if (got != expect)
		abort();
	if (got) {
		*colon = '\0';
		if (strcmp(user, (char *)want) != 0 || strcmp(pass, colon + 1) != 0)
			abort();
	}
	free(s);
	free(want);
	return 0;
}
