/* restore: at start-up on configfs, the media the kernel still holds from
 * before a restart (a host could be booting from one) become the LUNs'
 * state again: stored images pinned, streams adopted, anything else shown
 * as it is so that an eject can free the LUN. */
#include "api.h"

#include <string.h>

#include "../core/log.h"
#include "../gadget/gadget.h"
#include "../storage/storage.h"
#include "../stream/stream.h"

#define API_MOD "API"

/* After a restart on configfs the kernel may still hold media (a host
 * could be booting from one): take them over, pinned, instead of
 * pretending the LUNs are empty. */
void api_restore_luns(struct app *app, void *be)
{
	const char *dir = storage_dir(app->storage);
	size_t dl = strlen(dir);

	for (unsigned lun = 0; lun < gadget_lun_count(app->gadget); lun++) {
		char file[4096], path[4096];
		bool cdrom = false, ro = false;
		struct err err;

		if (gadget_configfs_current(be, lun, file, sizeof(file), &cdrom, &ro) < 0)
			continue;
		if (!file[0]) {
			gadget_restore(app->gadget, lun, "", cdrom, ro);
			continue;
		}
		char sname[NAMES_MAX + 1];
		struct stream *st = app->streams ?
			stream_adopt(app->streams, file, sname, sizeof(sname)) : NULL;
		if (st) {
			const struct gadget_medium_ops *mops;
			void *m = gadget_streamed_medium(app->gadget, st, cdrom, &mops);
			if (m) {
				gadget_restore_medium(app->gadget, lun, sname, cdrom, ro, mops, m);
				log_info(API_MOD, "LUN %u still streams %s from before the restart",
					 lun, sname);
				continue;
			}
		}
		const char *name = file + dl + 1;
		if (strncmp(file, dir, dl) != 0 || file[dl] != '/' ||
		    storage_pin(app->storage, name, lun, path, sizeof(path), &err) < 0) {
			const char *base = strrchr(file, '/');
			log_warn(API_MOD, "LUN %u holds %s, which is not an image of %s; eject it to "
				 "free the LUN", lun, file, dir);
			gadget_restore(app->gadget, lun, base ? base + 1 : file, cdrom, ro);
			continue;
		}
		gadget_restore(app->gadget, lun, name, cdrom, ro);
		log_info(API_MOD, "LUN %u still holds %s from before the restart (%s, %s)", lun, name,
			 cdrom ? "cdrom" : "disk", ro ? "ro" : "rw");
	}
}
