/* names: the rule for image names, the only user-chosen part of a path.
 *
 * A name is 1..255 bytes of [A-Za-z0-9._+-], does not start with a dot or a
 * dash, and so can never be "..", contain a slash, NUL or a non-ASCII byte,
 * or collide with vmediad's hidden bookkeeping files (which start with a
 * dot). */
#ifndef VMEDIA_CORE_NAMES_H
#define VMEDIA_CORE_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#define NAMES_MAX 255

/* Returns true if name (len bytes, may contain NUL) is a valid image name;
 * otherwise writes a reason for a person into why (if not NULL). */
bool names_valid(const char *name, size_t len, char *why, size_t why_size);

/* True for names ending in ".iso" (any case): such images default to CD-ROM. */
bool names_is_iso(const char *name);

/* Turns an arbitrary string (a URL segment, a Content-Disposition value)
 * into a valid name, replacing bad bytes with '_'. Returns false if nothing
 * usable is left. out must hold NAMES_MAX + 1 bytes. */
bool names_sanitize(const char *in, char *out);

/* A number in a path (a LUN, a download or task id): decimal digits only,
 * no sign, space or leading zero, at most max. */
bool names_number(const char *s, unsigned long max, unsigned long *out);

#endif
