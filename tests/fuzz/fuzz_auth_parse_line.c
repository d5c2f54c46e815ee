/* fuzz_auth_parse_line: auth_parse_line() (server/auth/auth.c), one line of
 * the credentials file, on arbitrary text.
 *
 * Checks, against the format restated from auth.h: the result is 0 or -1;
 * a refusal carries a non-empty message; an accepted line is either blank
 * or a comment (kind 0: nothing but white space before '#' or the end;
 * "\r\n" is blank) or a user ('u') or token ('t') line whose first word is "user"
 * or "token" and whose name is 1..63 bytes of [A-Za-z0-9._-@]. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"

#define FUZZ_WS " \t\r\n\v\f"

static int _blank(const char *s)
{
	s += strspn(s, FUZZ_WS);
	return *s == '\0' || *s == '#';
}

static int _name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 63)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@",
			    s[i]) || s[i] == '\0')
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = malloc(size + 1);
	char kind = 'x', name[64];
	struct err e;

	if (!line)
		abort();
	memcpy(line, data, size);
	line[size] = '\0';
	memset(name, 0, sizeof(name));
	memset(&e, 0, sizeof(e));
	int rc = auth_parse_line(line, &kind, name, &e);
	if (rc != 0 && rc != -1)
		abort();
	if (rc == -1) {
		if (e.message[0] == '\0' || _blank(line))
			abort();
	} else if (kind == 0) {
		if (!_blank(line))
			abort();
	} else {
		const char *w = line + strspn(line, FUZZ_WS);
		if ((kind == 'u' && strncmp(w, "user", 4) != 0) ||
		    (kind == 't' && strncmp(w, "token", 5) != 0) ||
		    (kind != 'u' && kind != 't') || !_name_ok(name) || !strstr(line, name))
			abort();
	}
	free(line);
	return 0;
}
