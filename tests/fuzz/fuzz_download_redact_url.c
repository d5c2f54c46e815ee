/* fuzz_download_redact_url: download_redact_url() (server/download/parse.c),
 * which hides the credentials of a download URL before the URL is logged,
 * listed by GET /api/downloads or shown in the web UI.
 *
 * libcurl, which performs the download, is the oracle: for every input that
 * vmediad accepts (curl_url() parses it, as _url_ok() in jobs.c does, and
 * its scheme is http or https) and in which curl finds a user name or a
 * password, checks that
 *   - curl finds no password in the redacted URL, and no user name other
 *     than the "***" placeholder;
 *   - if curl cannot read the redacted URL at all, that text, apart from
 *     its "***" placeholder, does not contain the user[:password] of the
 *     input (when that occurs only once in the input, ignoring case, so that
 *     it cannot legitimately remain in the host or path). A URL that curl
 *     reads is not compared as text: the redaction may normalise it.
 * For every input, checks that the output is NUL-terminated within the
 * buffer, which is allocated to its exact size (that of
 * struct download_job.url). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "download/download.h"

#define FUZZ_OUT_SIZE sizeof(((struct download_job *)0)->url)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return 0;
}

/* What curl makes of url: false if vmediad would refuse it. */
static bool _curl_creds(const char *url, char **user, char **password)
{
	CURLU *u = curl_url();
	char *scheme = NULL;
	bool ok;

	*user = *password = NULL;
	if (!u)
		abort();
	ok = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	     curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	     (strcasecmp(scheme, "http") == 0 || strcasecmp(scheme, "https") == 0);
	if (ok) {
		if (curl_url_get(u, CURLUPART_USER, user, 0) != CURLUE_OK)
			*user = NULL;
		if (curl_url_get(u, CURLUPART_PASSWORD, password, 0) != CURLUE_OK)
			*password = NULL;
	}
	curl_free(scheme);
	curl_url_cleanup(u);
	return ok;
}

/* True if needle occurs in hay exactly once, ignoring case. */
static bool _once(const char *hay, const char *needle)
{
	const char *p = strcasestr(hay, needle);
	return p && !strcasestr(p + 1, needle);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *url, *out, *user, *password;

	if (size >= FUZZ_OUT_SIZE)	/* downloads_add() refuses longer URLs */
		return 0;
	url = malloc(size + 1);
	out = malloc(FUZZ_OUT_SIZE);
	if (!url || !out)
		abort();
	memcpy(url, data, size);
	url[size] = '\0';

	download_redact_url(url, out, FUZZ_OUT_SIZE);
	if (strnlen(out, FUZZ_OUT_SIZE) == FUZZ_OUT_SIZE)
		abort();

	if (_curl_creds(url, &user, &password) && (user || password)) {
		char *u2 = NULL, *p2 = NULL;
		char creds[2 * FUZZ_OUT_SIZE + 2], shown[FUZZ_OUT_SIZE];

		/* The redacted URL, read by curl, carries no credentials. */
		if (_curl_creds(out, &u2, &p2)) {
			if (p2 || (u2 && strcmp(u2, "***") != 0)) {
				fprintf(stderr, "redact_url: credentials survive: user '%s' "
					"password '%s'\n", u2 ? u2 : "", p2 ? p2 : "");
				abort();
			}
		} else {
			/* Not a URL curl reads: as text, it must not show them. */
			snprintf(creds, sizeof(creds), "%s%s%s", user ? user : "",
				 password ? ":" : "", password ? password : "");
			strcpy(shown, out);
			char *stars = strstr(shown, "***@");
			if (stars)
				memset(stars, '\x01', 3);
			if (creds[0] && _once(url, creds) && strcasestr(shown, creds)) {
				fprintf(stderr, "redact_url: '%s' shown in '%s'\n", creds, out);
				abort();
			}
		}
		curl_free(u2);
		curl_free(p2);
	}
	curl_free(user);
	curl_free(password);
	free(out);
	free(url);
	return 0;
}
