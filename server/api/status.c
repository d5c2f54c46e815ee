/* status: GET /status, what this box is and how it is doing. */
#include "api.h"

#include "../core/version.h"
#include "../gadget/gadget.h"
#include "../storage/storage.h"

json_t *api_status_json(struct app *app)
{
	struct timespec now;
	int64_t free_bytes = 0, total_bytes = 0;

	clock_gettime(CLOCK_MONOTONIC, &now);
	storage_space(app->storage, &free_bytes, &total_bytes);
	return json_pack("{s:s, s:I, s:{s:s, s:I, s:I}, s:o, s:o}",
			 "version", VMEDIA_VERSION,
			 "uptime_s", (json_int_t)(now.tv_sec - app->started.tv_sec),
			 "storage", "dir", storage_dir(app->storage),
			 "free_bytes", (json_int_t)free_bytes,
			 "total_bytes", (json_int_t)total_bytes,
			 "backend", gadget_backend_json(app->gadget),
			 "health", gadget_health_json(app->gadget));
}

void api_status_get(struct http_req *r)
{
	http_reply_json(r, MHD_HTTP_OK, api_status_json(http_req_app(r)));
}
