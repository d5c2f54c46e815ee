/* err: the error a service hands back to its caller: a kind (what went
 * wrong, which the HTTP layer maps to a status), a stable machine-readable
 * code, and a sentence for a person. */
#ifndef VMEDIA_CORE_ERR_H
#define VMEDIA_CORE_ERR_H

#include <stdbool.h>

enum err_kind {
	ERR_NONE = 0,
	ERR_INVALID,		/* the request itself is wrong */
	ERR_NOT_FOUND,
	ERR_CONFLICT,		/* state forbids it now: exists, attached, locked */
	ERR_TOO_LARGE,
	ERR_NO_SPACE,
	ERR_DIGEST,		/* content does not match the expected digest */
	ERR_IO,			/* the machine failed: disk, kernel */
	ERR_UNAVAILABLE,	/* not possible with this configuration */
	ERR_TIMEOUT,		/* the kernel gave up waiting (ETIMEDOUT) */
	ERR_UNPROCESSABLE,	/* understood, but this input cannot be served */
};

struct err {
	enum err_kind kind;
	char code[32];
	char message[384];
};

/* Fills e (if not NULL) and returns -1, so callers can `return err_set(...)`. */
int err_set(struct err *e, enum err_kind kind, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* For the calls that fail only on a broken machine (allocation, pthread
 * calls): aborts unless ok. Nothing sensible can follow such a failure. */
void err_must(bool ok);

#endif
