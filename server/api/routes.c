/* routes: every path of the HTTP API and the handler that serves it. */
#include "api.h"

const struct http_route api_routes[] = {
	{ "GET", "/status", api_status_get, NULL },
	{ "GET", "/images", api_images_list, NULL },
	{ "GET", "/images/**", api_images_get, NULL },
	{ "PUT", "/images/**", NULL, &api_images_put },
	{ "DELETE", "/images/**", api_images_delete, NULL },
};

const size_t api_nroutes = sizeof(api_routes) / sizeof(api_routes[0]);
