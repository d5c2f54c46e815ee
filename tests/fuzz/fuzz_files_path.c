/* fuzz_files_path: files_path() (server/files/files.c) on arbitrary bytes,
 * the path a client gives for a file inside an image.
 *
 * The oracle restates the rule independently: split the input on '/',
 * drop empty parts; accepted exactly when every part is a valid image name
 * (names.h: [A-Za-z0-9._+-], not starting with '.' or '-', 1..255 bytes)
 * and "/" + the parts joined by '/' is shorter than FILES_PATH_MAX, and the
 * result is then exactly that ("/" for no part). So nothing accepted holds
 * "..", a NUL, a leading '-' or an empty part. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/names.h"
#include "files/files.h"

static bool _name_ok(const char *s, size_t n)
{
	static const char set[] = "abcdefghijklmnopqrstuvwxyz"
				  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-";
	if (n < 1 || n > NAMES_MAX || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!s[i] || !memchr(set, s[i], sizeof(set) - 1))
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1), *want = malloc(size + 2), out[FILES_PATH_MAX];
	size_t wl = 0;
	bool ok = true;

	if (!in || !want)
		abort();
	memcpy(in, data, size);
	in[size] = '\0';	/* the server sees a C string: up to the first NUL */
	size_t len = strlen(in);
	for (size_t i = 0; i < len; ) {
		size_t j = i;
		while (j < len && in[j] != '/')
			j++;
		if (j > i) {
			ok = ok && _name_ok(in + i, j - i);
			want[wl++] = '/';
			memcpy(want + wl, in + i, j - i);
			wl += j - i;
		}
		i = j + 1;
	}
	if (!wl)
		want[wl++] = '/';
	want[wl] = '\0';
	ok = ok && wl < FILES_PATH_MAX;

	int rc = files_path(in, out, NULL);
	if ((rc == 0) != ok || (rc == 0 && strcmp(out, want) != 0))
		abort();
	free(in);
	free(want);
	return 0;
}
