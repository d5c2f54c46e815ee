/* routes: every path of the HTTP API and the handler that serves it. */
#include "api.h"

#include "../redfish/redfish.h"

void api_redfish(struct http_req *r)
{
	struct app *app = http_req_app(r);

	redfish_serve(app->redfish, r);
}

const struct http_route api_routes[] = {
	{ "GET", "/status", api_status_get, NULL },
	{ "GET", "/metrics", api_metrics_get, NULL },
	{ "GET", "/images", api_images_list, NULL },
	{ "POST", "/images", api_images_create, NULL },
	{ "GET", "/images/*/files", api_files_list, NULL },
	{ "GET", "/images/*/files/**", api_files_get, NULL },
	{ "PUT", "/images/*/files/**", NULL, &api_files_put },
	{ "DELETE", "/images/*/files/**", api_files_delete, NULL },
	{ "GET", "/images/**", api_images_get, NULL },
	{ "PUT", "/images/**", NULL, &api_images_put },
	{ "DELETE", "/images/**", api_images_delete, NULL },
	{ "GET", "/luns", api_luns_list, NULL },
	{ "GET", "/luns/*", api_luns_get, NULL },
	{ "POST", "/luns/*/insert", api_luns_insert, NULL },
	{ "POST", "/luns/*/eject", api_luns_eject, NULL },
	{ "POST", "/gadget/reconnect", api_gadget_reconnect, NULL },
	{ "GET", "/events", api_events_get, NULL },
	{ "GET", "/downloads", api_downloads_list, NULL },
	{ "POST", "/downloads", api_downloads_add, NULL },
	{ "GET", "/downloads/*", api_downloads_get, NULL },
	{ "DELETE", "/downloads/*", api_downloads_cancel, NULL },
	{ "POST", "/sim/luns/*/host", api_sim_host, NULL },
	{ "POST", "/sim/replug", api_sim_replug, NULL },
	{ "GET", "/redfish", api_redfish, NULL },
	{ "GET", "/redfish/**", api_redfish, NULL },
	{ "POST", "/redfish/**", api_redfish, NULL },
	{ "PATCH", "/redfish/**", api_redfish, NULL },
};

const size_t api_nroutes = sizeof(api_routes) / sizeof(api_routes[0]);

/* --metrics-listen: a listener of its own, without authentication. */
const struct http_route api_metrics_routes[] = {
	{ "GET", "/metrics", api_metrics_get, NULL },
};

const size_t api_metrics_nroutes = sizeof(api_metrics_routes) / sizeof(api_metrics_routes[0]);
