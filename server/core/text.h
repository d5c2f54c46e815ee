/* text: the byte-level encodings several modules need: lower-case hex of a
 * digest or key, and percent-decoding in place. */
#ifndef VMEDIA_CORE_TEXT_H
#define VMEDIA_CORE_TEXT_H

#include <stddef.h>

/* n bytes as 2n lower-case hex digits and a NUL; out holds 2n + 1 bytes. */
void text_hex(const unsigned char *in, size_t n, char *out);

/* The value of one hex digit, or -1. */
int text_hex_digit(int c);

/* Decodes "%XX" in s in place; a '%' without two hex digits stays as it
 * is. "%00" stays as it is if nul_as is '\0' (a NUL would cut the string
 * short), else becomes nul_as. Returns the new length. */
size_t text_percent_decode(char *s, char nul_as);

#endif
