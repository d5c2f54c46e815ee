/* redfish/redfish: the service's one struct, its staged media and its
 * worker. The worker, "vmedia-redfish", finishes the tasks whose download
 * has ended: the insert can wait (up to --api-wait-ms) for a LUN whose
 * worker is stuck behind a stalled host, which must hold up neither a
 * download worker nor a request. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/log.h"
#include "../storage/storage.h"

static void *_worker(void *arg)
{
	struct redfish *rf = arg;
	struct redfish_task copy;

	pthread_mutex_lock(&rf->lock);
	while (!rf->stop) {
		struct redfish_task *t = NULL;
		for (int i = 0; i < REDFISH_NTASKS && !t; i++)
			if (rf->tasks[i].state == REDFISH_TASK_DOWNLOADED)
				t = &rf->tasks[i];
		if (!t) {
			pthread_cond_wait(&rf->work, &rf->lock);
			continue;
		}
		t->state = REDFISH_TASK_COMPLETING;
		copy = *t;
		copy.msgs = NULL;
		pthread_mutex_unlock(&rf->lock);
		redfish_task_complete(rf, &copy);
		pthread_mutex_lock(&rf->lock);
	}
	pthread_mutex_unlock(&rf->lock);
	return NULL;
}

int redfish_create(const struct redfish_options *opts, struct redfish **out, struct err *err)
{
	struct redfish *rf;
	enum redfish_transfer def;

	if (!strcmp(opts->transfer_default, "upload"))
		def = REDFISH_UPLOAD;
	else if (!strcmp(opts->transfer_default, "stream"))
		def = REDFISH_STREAM;
	else
		return err_set(err, ERR_INVALID, "bad_config",
			       "--redfish-transfer-default must be upload or stream, not '%s'",
			       opts->transfer_default);
	rf = calloc(1, sizeof(*rf));
	if (!rf)
		abort();
	rf->gadget = opts->gadget;
	rf->storage = opts->storage;
	rf->streams = opts->streams;
	rf->api_wait_ms = opts->api_wait_ms;
	rf->transfer_default = def;
	rf->next_id = 1;
	pthread_mutex_init(&rf->lock, NULL);
	pthread_cond_init(&rf->changed, NULL);
	pthread_cond_init(&rf->work, NULL);
	if (pthread_create(&rf->worker, NULL, _worker, rf) != 0)
		abort();
	pthread_setname_np(rf->worker, "vmedia-redfish");
	log_info(REDFISH_LOG, "InsertMedia without TransferMethod: %s", opts->transfer_default);
	*out = rf;
	return 0;
}

void redfish_use_downloads(struct redfish *rf, struct downloads *d)
{
	rf->downloads = d;
}

void redfish_destroy(struct redfish *rf)
{
	if (!rf)
		return;
	pthread_mutex_lock(&rf->lock);
	rf->stop = true;
	pthread_cond_signal(&rf->work);
	pthread_mutex_unlock(&rf->lock);
	pthread_join(rf->worker, NULL);
	for (int i = 0; i < REDFISH_NTASKS; i++)
		free(rf->tasks[i].msgs);
	pthread_cond_destroy(&rf->work);
	pthread_cond_destroy(&rf->changed);
	pthread_mutex_destroy(&rf->lock);
	free(rf);
}

void redfish_staged_get(struct redfish *rf, unsigned lun, char *name, size_t size, bool *ro,
			bool *cdrom)
{
	bool have = lun < GADGET_MAX_LUNS;

	pthread_mutex_lock(&rf->lock);
	snprintf(name, size, "%s", have ? rf->staged[lun].name : "");
	/* Nothing attached: what an insert would default to (write-protected). */
	*ro = have && rf->staged[lun].name[0] ? rf->staged[lun].ro : true;
	*cdrom = have && rf->staged[lun].cdrom;
	pthread_mutex_unlock(&rf->lock);
}

void redfish_staged_set(struct redfish *rf, unsigned lun, const char *name, bool ro, bool cdrom)
{
	if (lun >= GADGET_MAX_LUNS)
		return;
	pthread_mutex_lock(&rf->lock);
	snprintf(rf->staged[lun].name, sizeof(rf->staged[lun].name), "%s", name ? name : "");
	rf->staged[lun].ro = ro;
	rf->staged[lun].cdrom = cdrom;
	pthread_mutex_unlock(&rf->lock);
}

int redfish_do_insert(struct redfish *rf, unsigned lun, const char *name, bool cdrom, bool ro,
		      struct err *err)
{
	struct gadget_insert_req req = {
		.image = name, .cdrom = cdrom, .ro = ro || cdrom, .pin = storage_pin_fn,
		.pin_ctx = rf->storage,
	};
	struct gadget_lun out;
	struct storage_image img;

	if (cdrom && storage_get(rf->storage, name, &img, NULL) == 0 &&
	    gadget_cd_fits(rf->gadget, name, (long long)img.size, err) < 0)
		return -1;
	return gadget_insert(rf->gadget, lun, &req, &out, err);
}
