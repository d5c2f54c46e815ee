/* metrics: GET /metrics, Prometheus's text format: what metrics/ counted,
 * and the state of the LUNs and the storage read now. */
#include "api.h"

#include <stdlib.h>

#include "../core/version.h"
#include "../gadget/gadget.h"
#include "../metrics/metrics.h"
#include "../storage/storage.h"

static void _luns(struct metrics_text *t, struct gadget *g)
{
	static const char *const states[] = { "empty", "inserted", "ejecting", "inserting" };
	struct gadget_worker w[GADGET_MAX_LUNS];
	struct gadget_lun luns[GADGET_MAX_LUNS];
	unsigned n = gadget_lun_count(g);
	int nw = gadget_health(g, 1000, w, GADGET_MAX_LUNS);

	for (unsigned i = 0; i < n; i++)
		if (gadget_get(g, i, &luns[i], NULL) < 0)
			luns[i] = (struct gadget_lun){ .id = i, .locked = -1 };
	metrics_family(t, "vmedia_lun_state", "gauge",
		       "1 for the state each LUN is in (empty, inserted, ejecting, inserting).");
	for (unsigned i = 0; i < n; i++)
		for (unsigned s = 0; s < 4; s++)
			metrics_printf(t, "vmedia_lun_state{lun=\"%u\",state=\"%s\"} %d\n", i,
				       states[s], luns[i].state == (enum gadget_lun_state)s);
	metrics_family(t, "vmedia_lun_locked", "gauge",
		       "1 if the host has locked the LUN's medium (absent when unknown).");
	for (unsigned i = 0; i < n; i++)
		if (luns[i].locked >= 0)
			metrics_printf(t, "vmedia_lun_locked{lun=\"%u\"} %d\n", i, luns[i].locked);
	metrics_family(t, "vmedia_lun_kernel_call_seconds", "gauge",
		       "How long the LUN's worker has been inside its current kernel call (0 idle).");
	for (int i = 0; i < nw; i++)
		metrics_printf(t, "vmedia_lun_kernel_call_seconds{lun=\"%u\"} %.3f\n", w[i].lun,
			       w[i].busy_ms / 1000);
	metrics_family(t, "vmedia_lun_stuck", "gauge",
		       "1 if the LUN's worker has been inside one kernel call for 5 s or more.");
	for (int i = 0; i < nw; i++)
		metrics_printf(t, "vmedia_lun_stuck{lun=\"%u\"} %d\n", w[i].lun,
			       w[i].busy_ms >= GADGET_STUCK_MS);
}

void api_metrics_get(struct http_req *r)
{
	struct app *app = http_req_app(r);
	struct metrics_text t = { 0 };
	struct timespec now;
	int64_t free_bytes = 0, total_bytes = 0;

	clock_gettime(CLOCK_MONOTONIC, &now);
	storage_space(app->storage, &free_bytes, &total_bytes);
	metrics_family(&t, "vmedia_build_info", "gauge", "Always 1; the version is a label.");
	metrics_printf(&t, "vmedia_build_info{version=\"");
	metrics_label(&t, VMEDIA_VERSION);
	metrics_printf(&t, "\"} 1\n");
	metrics_family(&t, "vmedia_uptime_seconds", "gauge", "Seconds since vmediad started.");
	metrics_printf(&t, "vmedia_uptime_seconds %lld\n",
		       (long long)(now.tv_sec - app->started.tv_sec));
	metrics_family(&t, "vmedia_storage_free_bytes", "gauge",
		       "Free space for images (as GET /status storage.free_bytes).");
	metrics_printf(&t, "vmedia_storage_free_bytes %lld\n", (long long)free_bytes);
	metrics_family(&t, "vmedia_storage_size_bytes", "gauge",
		       "Size of the images' file system.");
	metrics_printf(&t, "vmedia_storage_size_bytes %lld\n", (long long)total_bytes);
	_luns(&t, app->gadget);
	metrics_render(&t);

	struct MHD_Response *resp = MHD_create_response_from_buffer(t.len, t.data,
								    MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; version=0.0.4; charset=utf-8");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	http_reply(r, MHD_HTTP_OK, resp);
}
