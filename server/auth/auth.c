/* auth: credentials file, verification, and per-address failure limits
 * (see auth.h). */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../core/log.h"
#include "../core/text.h"

#define AUTH_MOD "AUTH"
#define AUTH_NAME_MAX 64
#define AUTH_CACHE 32
#define AUTH_PEERS 1024
#define AUTH_ITER_DEFAULT 100000

struct auth_cred {
	char kind;			/* 'u' user, 't' token */
	char name[AUTH_NAME_MAX];
	unsigned iter;
	unsigned char salt[32];
	size_t salt_len;
	unsigned char hash[32];
};

/* Failures are counted per client and claimed name: "ADDR user NAME" or
 * "ADDR token" (see _key). */
struct auth_peer {
	char key[160];
	unsigned fails;
	unsigned inflight;	/* attempts reserved and being verified */
	time_t first;
};

struct auth {
	struct auth_options opts;
	struct auth_cred *creds;
	size_t n;
	pthread_mutex_t lock;		/* guards cache and peers */
	pthread_cond_t done;		/* an attempt in flight has been decided */
	unsigned char key[32];
	struct { bool used; unsigned char mac[32]; char who[AUTH_NAME_MAX]; } cache[AUTH_CACHE];
	unsigned cache_next;
	struct auth_peer peers[AUTH_PEERS];
};

static int _unhex(const char *s, unsigned char *out, size_t max, size_t *len)
{
	size_t n = strlen(s);

	if (n == 0 || n % 2 || n / 2 > max)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (unsigned char)v;
	}
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789abcdefABCDEF", s[i]))
			return -1;
	*len = n / 2;
	return 0;
}


static bool _name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= AUTH_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr("._-@", s[i])))
			return false;
	return true;
}

/* One line of the file into c; blank and comment lines give kind 0. */
static int _parse(const char *line, struct auth_cred *c, struct err *err)
{
	char kind[8], name[128], scheme[32], a[160], b[160], d[160], extra[2];
	size_t len;

	memset(c, 0, sizeof(*c));
	/* Any white space, as sscanf skips it: a file saved with CRLF line
	 * ends has blank lines that are just "\r\n". */
	line += strspn(line, " \t\r\n\v\f");
	if (!*line || *line == '#')
		return 0;
	int k = sscanf(line, "%7s %127s %31s %159s %159s %159s %1s", kind, name, scheme, a, b, d,
		       extra);
	if (k < 4 || !_name_ok(name))
		return err_set(err, ERR_INVALID, "bad_credentials",
			       "expected 'user NAME pbkdf2-sha256 ITER SALT HASH' or "
			       "'token NAME sha256 HASH' (names: letters, digits, . _ - @)");
	snprintf(c->name, sizeof(c->name), "%.63s", name);	/* _name_ok: < 64 */
	if (!strcmp(kind, "user") && !strcmp(scheme, "pbkdf2-sha256") && k == 6) {
		char *end;
		unsigned long it = strtoul(a, &end, 10);
		if (*end || it < 1000 || it > 10000000)
			return err_set(err, ERR_INVALID, "bad_credentials",
				       "user %s: iterations must be 1000..10000000", name);
		c->kind = 'u';
		c->iter = (unsigned)it;
		if (_unhex(b, c->salt, sizeof(c->salt), &c->salt_len) < 0 || c->salt_len < 8 ||
		    _unhex(d, c->hash, sizeof(c->hash), &len) < 0 || len != 32)
			return err_set(err, ERR_INVALID, "bad_credentials",
				       "user %s: salt (8-32 bytes) and hash (32 bytes) must be hex",
				       name);
		return 0;
	}
	if (!strcmp(kind, "token") && !strcmp(scheme, "sha256") && k == 4) {
		c->kind = 't';
		if (_unhex(a, c->hash, sizeof(c->hash), &len) < 0 || len != 32)
			return err_set(err, ERR_INVALID, "bad_credentials",
				       "token %s: the hash must be 64 hex digits", name);
		return 0;
	}
	return err_set(err, ERR_INVALID, "bad_credentials",
		       "'%s %s %s ...': unknown kind or scheme, or wrong number of fields", kind,
		       name, scheme);
}

int auth_parse_line(const char *line, char *kind, char *name, struct err *err)
{
	struct auth_cred c;

	if (_parse(line, &c, err) < 0)
		return -1;
	*kind = c.kind;
	snprintf(name, AUTH_NAME_MAX, "%s", c.name);
	return 0;
}

int auth_load(const char *path, const struct auth_options *opts, struct auth **out,
	      struct err *err)
{
	FILE *f = fopen(path, "re");
	char line[1024];
	unsigned lineno = 0;
	struct auth *a;

	if (!f)
		return err_set(err, ERR_IO, "bad_credentials", "cannot read %s: %s", path,
			       strerror(errno));
	/* Salted PBKDF2 still falls to an offline guess at a weak password:
	 * the hashes are for the owner (the service's user) only. */
	struct stat st;
	if (fstat(fileno(f), &st) < 0) {
		int e = errno;
		fclose(f);
		return err_set(err, ERR_IO, "bad_credentials", "cannot read %s: %s", path,
			       strerror(e));
	}
	if (st.st_mode & 077) {
		int mode = (int)(st.st_mode & 07777);
		fclose(f);
		return err_set(err, ERR_INVALID, "bad_credentials",
			       "%s is open to its group or to others (mode %04o); its hashes "
			       "are for its owner only: run chmod 600 %s", path, mode, path);
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		abort();
	a->opts = *opts;
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->done, NULL);
	if (RAND_bytes(a->key, sizeof(a->key)) != 1)
		abort();
	while (fgets(line, sizeof(line), f)) {
		struct auth_cred c;
		struct err e;
		lineno++;
		if (_parse(line, &c, &e) < 0) {
			err_set(err, ERR_INVALID, "bad_credentials", "%s:%u: %s", path, lineno,
				e.message);
			fclose(f);
			auth_free(a);
			return -1;
		}
		if (!c.kind)
			continue;
		a->creds = realloc(a->creds, (a->n + 1) * sizeof(*a->creds));
		if (!a->creds)
			abort();
		a->creds[a->n++] = c;
	}
	fclose(f);
	if (a->n == 0) {
		auth_free(a);
		return err_set(err, ERR_INVALID, "bad_credentials",
			       "%s holds no user or token; add one with --add-user or --add-token",
			       path);
	}
	*out = a;
	return 0;
}

void auth_free(struct auth *a)
{
	if (!a)
		return;
	OPENSSL_cleanse(a->key, sizeof(a->key));
	free(a->creds);
	pthread_cond_destroy(&a->done);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

unsigned auth_count(const struct auth *a)
{
	return (unsigned)a->n;
}

/* Finds or makes the record of a key. The oldest record is reused, but
 * one still inside its window only when every record is. */
static struct auth_peer *_peer(struct auth *a, const char *key, time_t now)
{
	struct auth_peer *oldest = &a->peers[0], *stale = NULL;

	for (unsigned i = 0; i < AUTH_PEERS; i++) {
		struct auth_peer *p = &a->peers[i];
		if (p->key[0] && !strcmp(p->key, key))
			return p;
		if (p->inflight)
			continue;
		if (!p->key[0] || now - p->first >= (time_t)a->opts.window_s)
			stale = p;
		if (p->first < oldest->first || oldest->inflight)
			oldest = p;
	}
	struct auth_peer *p = stale ? stale : oldest;
	memset(p, 0, sizeof(*p));
	snprintf(p->key, sizeof(p->key), "%s", key);
	p->first = now;
	return p;
}

/* Who is counted: the client's address (an IPv6 one by its /64, which one
 * host may rotate through freely) together with the user name it claims,
 * or "other" for a header that names none. Somebody else's failures, from another
 * address or against another user, never refuse your correct credentials. */
static void _key(const char *peer, const char *user, char *key, size_t size)
{
	struct in6_addr a6;
	char net[INET6_ADDRSTRLEN + 4];

	if (strchr(peer, ':') && inet_pton(AF_INET6, peer, &a6) == 1) {
		memset(a6.s6_addr + 8, 0, 8);
		inet_ntop(AF_INET6, &a6, net, sizeof(net));
		strcat(net, "/64");
	} else {
		snprintf(net, sizeof(net), "%s", peer);
	}
	if (user)
		snprintf(key, size, "%s user %.64s", net, user);
	else
		snprintf(key, size, "%s other", net);
}

static void _mac_of(struct auth *a, const char *user, const char *pass, unsigned char mac[32])
{
	char joined[512];
	unsigned int maclen;

	snprintf(joined, sizeof(joined), "%s:%s", user, pass);
	HMAC(EVP_sha256(), a->key, sizeof(a->key), (unsigned char *)joined, strlen(joined), mac,
	     &maclen);
	OPENSSL_cleanse(joined, sizeof(joined));
}

/* Called with the lock held. */
static bool _cached(struct auth *a, const unsigned char mac[32], char *who, size_t who_size)
{
	for (unsigned i = 0; i < AUTH_CACHE; i++)
		if (a->cache[i].used && CRYPTO_memcmp(a->cache[i].mac, mac, 32) == 0) {
			snprintf(who, who_size, "%s", a->cache[i].who);
			return true;
		}
	return false;
}

static bool _check_user(struct auth *a, const char *user, const char *pass,
			const unsigned char mac[32], char *who, size_t who_size)
{
	unsigned char dk[32];
	const struct auth_cred *c = NULL;
	static const struct auth_cred dummy = { .kind = 'u', .iter = AUTH_ITER_DEFAULT,
						.salt_len = 16 };

	for (size_t i = 0; i < a->n; i++)
		if (a->creds[i].kind == 'u' && !strcmp(a->creds[i].name, user))
			c = &a->creds[i];
	/* An unknown user costs the same PBKDF2 as a known one. */
	const struct auth_cred *k = c ? c : &dummy;
	PKCS5_PBKDF2_HMAC(pass, (int)strlen(pass), k->salt, (int)k->salt_len, (int)k->iter,
			  EVP_sha256(), sizeof(dk), dk);
	bool ok = c && CRYPTO_memcmp(dk, c->hash, 32) == 0;
	OPENSSL_cleanse(dk, sizeof(dk));
	if (!ok)
		return false;
	pthread_mutex_lock(&a->lock);
	unsigned slot = a->cache_next++ % AUTH_CACHE;
	a->cache[slot].used = true;
	memcpy(a->cache[slot].mac, mac, 32);
	snprintf(a->cache[slot].who, sizeof(a->cache[slot].who), "%s", c->name);
	pthread_mutex_unlock(&a->lock);
	snprintf(who, who_size, "%s", c->name);
	return true;
}

static bool _check_token(struct auth *a, const char *token, char *who, size_t who_size)
{
	unsigned char h[32];
	unsigned int hlen;
	bool ok = false;

	EVP_Digest(token, strlen(token), h, &hlen, EVP_sha256(), NULL);
	for (size_t i = 0; i < a->n; i++)
		if (a->creds[i].kind == 't' && CRYPTO_memcmp(h, a->creds[i].hash, 32) == 0) {
			snprintf(who, who_size, "%s", a->creds[i].name);
			ok = true;
		}
	return ok;
}

/* Decodes "Basic base64(user:pass)" into user and pass. */
static bool _b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

bool auth_basic_decode(const char *b64, char *user, size_t usize, char *pass, size_t psize)
{
	unsigned char buf[512];
	size_t n = strlen(b64), pad = 0;

	/* RFC 4648 base64: groups of four, '=' only as the one or two padding
	 * characters of the last group. EVP_DecodeBlock counts padding as
	 * zero bytes, so the padding is taken off its length, which is then
	 * at least 1: a group holds three bytes. */
	if (n == 0 || n > 600 || n % 4)
		return false;
	while (pad < 2 && b64[n - 1 - pad] == '=')
		pad++;
	for (size_t i = 0; i < n - pad; i++)
		if (!_b64_char(b64[i]))
			return false;
	int len = EVP_DecodeBlock(buf, (const unsigned char *)b64, (int)n);
	if (len < 3)
		return false;
	len -= (int)pad;
	buf[len] = '\0';
	bool ok = false;
	char *colon = memchr(buf, ':', (size_t)len);
	if (!memchr(buf, '\0', (size_t)len) && colon &&
	    (size_t)(colon - (char *)buf) < usize && strlen(colon + 1) < psize) {
		*colon = '\0';
		memcpy(user, buf, (size_t)(colon - (char *)buf) + 1);
		memcpy(pass, colon + 1, strlen(colon + 1) + 1);
		ok = true;
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	return ok;
}

/* Reserves one attempt for key, atomically with the limit check, so that
 * parallel guesses cannot all be verified before the first is counted:
 * with a limit of 5, of 16 at once 5 are verified and the rest wait for
 * them, then are refused if they failed. A credential already verified
 * (the HMAC cache) is decided here, under the same lock, and reserves
 * nothing: a browser's parallel requests do not use up the attempts.
 * Returns 1 reserved, 0 accepted from the cache, -1 limited. */
static int _reserve(struct auth *a, const char *key, const unsigned char *mac, time_t now,
		    char *who, size_t who_size, unsigned *retry_after)
{
	for (;;) {
		struct auth_peer *p = _peer(a, key, now);
		if (now - p->first >= (time_t)a->opts.window_s && !p->inflight) {
			p->first = now;
			p->fails = 0;
		}
		if (p->fails >= a->opts.max_failures) {
			unsigned left = (unsigned)(now - p->first);
			*retry_after = left < a->opts.window_s ? a->opts.window_s - left : 1;
			return -1;
		}
		if (mac && _cached(a, mac, who, who_size))
			return 0;
		if (p->fails + p->inflight < a->opts.max_failures) {
			p->inflight++;
			return 1;
		}
		pthread_cond_wait(&a->done, &a->lock);
		now = time(NULL);
	}
}

static unsigned _settle(struct auth *a, const char *key, bool ok, time_t now)
{
	struct auth_peer *p = _peer(a, key, now);

	p->inflight--;
	if (!ok)
		p->fails++;
	pthread_cond_broadcast(&a->done);
	return p->fails;
}

enum auth_result auth_check(struct auth *a, const char *authorization, const char *peer,
			    char *who, size_t who_size, unsigned *retry_after)
{
	time_t now = time(NULL);
	char user[128], pass[384], key[160];
	unsigned char mac[32];
	bool ok = false, basic = false;
	const char *kind = "?";

	if (!authorization || !*authorization)
		return AUTH_MISSING;
	if (!strncasecmp(authorization, "Basic ", 6)) {
		kind = "Basic";
		basic = auth_basic_decode(authorization + 6, user, sizeof(user), pass, sizeof(pass));
		if (basic)
			_mac_of(a, user, pass, mac);
	} else if (!strncasecmp(authorization, "Bearer ", 7)) {
		/* Tokens are 256 random bits: guessing one is hopeless, so they
		 * are not rate-limited, and a correct one is never refused. */
		if (_check_token(a, authorization + 7, who, who_size))
			return AUTH_OK;
		log_warn(AUTH_MOD, "failed Bearer authentication from %s", peer);
		return AUTH_BAD;
	}
	/* A malformed Basic header or another scheme claims no user. */
	_key(peer, basic ? user : NULL, key, sizeof(key));

	pthread_mutex_lock(&a->lock);
	int res = _reserve(a, key, basic ? mac : NULL, now, who, who_size, retry_after);
	pthread_mutex_unlock(&a->lock);
	if (res <= 0) {
		OPENSSL_cleanse(pass, sizeof(pass));
		if (res == 0)
			return AUTH_OK;
		log_warn(AUTH_MOD, "refused %s authentication from %s (%s): too many failures in the "
			 "last %u s", kind, peer, key, a->opts.window_s);
		return AUTH_LIMITED;
	}

	if (basic)
		ok = _check_user(a, user, pass, mac, who, who_size);
	OPENSSL_cleanse(pass, sizeof(pass));

	pthread_mutex_lock(&a->lock);
	unsigned fails = _settle(a, key, ok, time(NULL));
	pthread_mutex_unlock(&a->lock);
	if (ok)
		return AUTH_OK;
	log_warn(AUTH_MOD, "failed %s authentication from %s (%u for %s in the last %u s)", kind,
		 peer, fails, key, a->opts.window_s);
	return AUTH_BAD;
}

/* Rewrites the file without any earlier line of that kind and name, plus
 * the new line: atomically, mode 0600. */
static int _store(const char *path, char kind, const char *name, const char *newline,
		  struct err *err)
{
	char tmp[4096], line[1024];
	FILE *in = fopen(path, "re"), *out;
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || !(out = fdopen(fd, "w"))) {
		if (in)
			fclose(in);
		if (fd >= 0)
			close(fd);
		return err_set(err, ERR_IO, "io_error", "cannot write %s: %s", tmp, strerror(errno));
	}
	if (!in)
		fputs("# vmedia credentials: salted hashes only (see vmediad --help)\n", out);
	while (in && fgets(line, sizeof(line), in)) {
		struct auth_cred c;
		if (_parse(line, &c, NULL) == 0 && c.kind == kind && !strcmp(c.name, name))
			continue;
		fputs(line, out);
	}
	if (in)
		fclose(in);
	fputs(newline, out);
	if (fflush(out) != 0 || fsync(fileno(out)) < 0 || fclose(out) != 0 ||
	    rename(tmp, path) < 0) {
		unlink(tmp);
		return err_set(err, ERR_IO, "io_error", "cannot write %s: %s", path, strerror(errno));
	}
	return 0;
}

int auth_add_user(const char *path, const char *name, const char *password, struct err *err)
{
	unsigned char salt[16], dk[32];
	char saltx[33], dkx[65], line[256];

	if (!_name_ok(name))
		return err_set(err, ERR_INVALID, "bad_credentials",
			       "a user name is 1-63 letters, digits, '.', '_', '-' or '@'");
	if (strlen(password) < 8)
		return err_set(err, ERR_INVALID, "bad_credentials",
			       "the password must have at least 8 characters");
	if (RAND_bytes(salt, sizeof(salt)) != 1)
		abort();
	PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, sizeof(salt), AUTH_ITER_DEFAULT,
			  EVP_sha256(), sizeof(dk), dk);
	text_hex(salt, sizeof(salt), saltx);
	text_hex(dk, sizeof(dk), dkx);
	snprintf(line, sizeof(line), "user %s pbkdf2-sha256 %d %s %s\n", name, AUTH_ITER_DEFAULT,
		 saltx, dkx);
	return _store(path, 'u', name, line, err);
}

int auth_add_token(const char *path, const char *name, char token[65], struct err *err)
{
	unsigned char raw[32], h[32];
	unsigned int hlen;
	char hx[65], line[256];

	if (!_name_ok(name))
		return err_set(err, ERR_INVALID, "bad_credentials",
			       "a token name is 1-63 letters, digits, '.', '_', '-' or '@'");
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		abort();
	text_hex(raw, sizeof(raw), token);
	EVP_Digest(token, 64, h, &hlen, EVP_sha256(), NULL);
	text_hex(h, sizeof(h), hx);
	snprintf(line, sizeof(line), "token %s sha256 %s\n", name, hx);
	return _store(path, 't', name, line, err);
}
