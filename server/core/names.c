/* names: the rule for image names (see names.h). */
#include "names.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool _name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || c == '+';
}

#define NAMES_WHY(...) do { if (why) snprintf(why, why_size, __VA_ARGS__); } while (0)

bool names_valid(const char *name, size_t len, char *why, size_t why_size)
{
	if (len == 0) {
		NAMES_WHY("the image name is empty");
		return false;
	}
	if (len > NAMES_MAX) {
		NAMES_WHY("the image name is %zu bytes long; at most %d are allowed", len, NAMES_MAX);
		return false;
	}
	if (name[0] == '.' || name[0] == '-') {
		NAMES_WHY("an image name must not start with '%c'", name[0]);
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!_name_char(c)) {
			if (c == '/')
				NAMES_WHY("an image name must not contain '/'");
			else if (c < 0x20 || c >= 0x7f)
				NAMES_WHY("an image name must not contain byte 0x%02x; "
				     "use letters, digits, '.', '_', '-' and '+'", c);
			else
				NAMES_WHY("an image name must not contain '%c'; "
				     "use letters, digits, '.', '_', '-' and '+'", c);
			return false;
		}
	}
	return true;
}

bool names_is_iso(const char *name)
{
	size_t n = strlen(name);
	return n >= 4 && strcasecmp(name + n - 4, ".iso") == 0;
}

bool names_sanitize(const char *in, char *out)
{
	size_t n = 0;

	while (*in == '.' || *in == '-' || *in == ' ')
		in++;
	for (; *in && n < NAMES_MAX; in++)
		out[n++] = _name_char((unsigned char)*in) ? *in : '_';
	out[n] = '\0';
	return n > 0 && names_valid(out, n, NULL, 0);
}

bool names_number(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;

	if (s[0] < '0' || s[0] > '9' || (s[0] == '0' && s[1]))
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		unsigned long d = (unsigned long)(*s - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}
