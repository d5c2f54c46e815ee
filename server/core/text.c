/* text: hex and percent-decoding (see text.h). */
#include "text.h"

#include <stdio.h>

void text_hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int text_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

size_t text_percent_decode(char *s, char nul_as)
{
	char *w = s;
	int hi, lo;

	for (char *p = s; *p; p++) {
		if (p[0] == '%' && (hi = text_hex_digit((unsigned char)p[1])) >= 0 &&
		    (lo = text_hex_digit((unsigned char)p[2])) >= 0 && (hi | lo || nul_as)) {
			*w++ = hi | lo ? (char)(hi * 16 + lo) : nul_as;
			p += 2;
		} else {
			*w++ = *p;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}
