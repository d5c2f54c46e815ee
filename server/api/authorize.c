/* authorize: which requests need credentials. With a credentials file,
 * every request does (the web UI's files too, so the browser asks once and
 * then sends them with every call, the event stream included), except
 * GET /status when --public-status says so. */
#include "api.h"

#include <string.h>

#include "../auth/auth.h"
#include "../redfish/redfish.h"

enum http_auth api_authorize(void *ctx, const char *method, const char *path,
			    const char *authorization, const char *peer, char *who,
			    size_t who_size, unsigned *retry_after)
{
	struct app *app = ctx;

	if (!app->auth)
		return HTTP_AUTH_ALLOW;
	if (app->cfg->public_status && !strcmp(path, "/status") &&
	    (!strcmp(method, "GET") || !strcmp(method, "HEAD")))
		return HTTP_AUTH_ALLOW;
	if (redfish_public(method, path))
		return HTTP_AUTH_ALLOW;
	switch (auth_check(app->auth, authorization, peer, who, who_size, retry_after)) {
	case AUTH_OK: return HTTP_AUTH_ALLOW;
	case AUTH_MISSING: return HTTP_AUTH_MISSING;
	case AUTH_LIMITED: return HTTP_AUTH_LIMITED;
	case AUTH_BAD: break;
	}
	return HTTP_AUTH_BAD;
}
