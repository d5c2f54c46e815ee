/* auth: who may use the API. Users (HTTP Basic, for browsers and `curl -u`)
 * and tokens (`Authorization: Bearer`, for automation) come from a
 * credentials file that holds only salted hashes:
 *
 *   # comment
 *   user NAME pbkdf2-sha256 ITERATIONS SALT_HEX HASH_HEX
 *   token NAME sha256 HASH_HEX
 *
 * Passwords are stretched with PBKDF2-HMAC-SHA256; tokens are 256-bit random
 * strings, so one SHA-256 suffices. Comparisons are constant-time. A
 * verified password is remembered (as an HMAC under a per-process key) so
 * the browser's Basic header on every request costs one HMAC, not PBKDF2.
 * Failed attempts are counted per client address (IPv6: per /64) and
 * claimed user: past the limit that pair gets 429 with Retry-After until
 * the window passes; other users from the same address, and the same user
 * from elsewhere, are not affected. Bearer tokens (256 random bits) are
 * not limited: a correct one is never refused. The
 * limit check reserves the attempt atomically, so parallel guesses are
 * verified at most up to the limit. */
#ifndef VMEDIA_AUTH_H
#define VMEDIA_AUTH_H

#include <stdbool.h>
#include <stdio.h>

#include "../core/err.h"

struct auth;

enum auth_result {
	AUTH_OK = 0,
	AUTH_MISSING,		/* no credentials sent */
	AUTH_BAD,		/* wrong or malformed */
	AUTH_LIMITED,		/* too many failures from this address for this name */
};

struct auth_options {
	unsigned max_failures;	/* per address and user, within window_s */
	unsigned window_s;
};

int auth_load(const char *path, const struct auth_options *opts, struct auth **out,
	      struct err *err);
void auth_free(struct auth *a);
unsigned auth_count(const struct auth *a);

/* Checks an Authorization header (may be NULL) from peer (text address).
 * On AUTH_OK, *who names the user or token; on AUTH_LIMITED, *retry_after
 * is in seconds. */
enum auth_result auth_check(struct auth *a, const char *authorization, const char *peer,
			    char *who, size_t who_size, unsigned *retry_after);

/* Adds a user (password) or a new random token to the file, creating it
 * with mode 0600 if needed; the token is written to *token (65 bytes). */
int auth_add_user(const char *path, const char *name, const char *password, struct err *err);
int auth_add_token(const char *path, const char *name, char token[65], struct err *err);

/* vmediad --add-user NAME (the password from standard input, not echoed on
 * a terminal) and --add-token NAME (printed once) into the file at path
 * (auth/edit.c). Says what it did, or why not, on stderr; returns the exit
 * status: 0, or 2. */
int auth_edit(const char *path, const char *add_user, const char *add_token);

/* The credentials of "Authorization: Basic B64": strict base64 ('=' only as
 * the last group's padding) of "user:password", no NUL byte, each part
 * shorter than its buffer. False for anything else. Exposed for the fuzzer. */
bool auth_basic_decode(const char *b64, char *user, size_t usize, char *pass, size_t psize);

/* The line format, exposed for tests and the fuzzer. */
int auth_parse_line(const char *line, char *kind, char *name, struct err *err);

#endif
