/* redfish: the DMTF Redfish VirtualMedia service under /redfish, so fleet
 * tools (Ironic through sushy, bmclib, Ansible, redfishtool) drive vmedia
 * like a BMC. Shared between redfish.c (routing, replies, errors, service
 * root, systems, managers), redfish_media.c (VirtualMedia members and
 * their actions) and redfish_task.c (tasks for downloads that end in an
 * insert). */
#ifndef VMEDIA_API_REDFISH_H
#define VMEDIA_API_REDFISH_H

#include <stdbool.h>

#include "api.h"
#include "../core/names.h"

/* The Base message registry the MessageIds name. */
#define RF_BASE "Base.1.15."
#define RF_SYSTEM "/redfish/v1/Systems/target"
#define RF_MANAGER "/redfish/v1/Managers/vmedia"

/* A reply with the headers Redfish clients expect (OData-Version, Allow,
 * and an ETag, a Location or a Retry-After when given). Takes body. */
void rf_reply(struct http_req *r, unsigned status, json_t *body, const char *allow,
	      const char *etag, const char *location);
/* One entry of @Message.ExtendedInfo (Message v1.1). related may be NULL. */
json_t *rf_message(const char *id, const char *severity, const char *related,
		   const char *resolution, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* A Redfish error: {"error": {"code", "message", "@Message.ExtendedInfo"}}.
 * key is the Base registry key ("ResourceNotFound", ...). */
void rf_error(struct http_req *r, unsigned status, const char *key, const char *related,
	      const char *resolution, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
/* The same with a ready message list (takes it). */
void rf_error_msgs(struct http_req *r, unsigned status, const char *key, json_t *msgs);
/* True when the method is in allow ("GET, HEAD, PATCH"); else replies 405. */
bool rf_allowed(struct http_req *r, const char *allow);
void rf_not_found(struct http_req *r);
/* {"@odata.id": path}. */
json_t *rf_link(const char *path);
/* The current UTC time as Redfish wants it ("2026-11-25T16:02:11Z"). */
void rf_time(char *buf, size_t size, time_t t);

/* VirtualMedia, below base (RF_SYSTEM or RF_MANAGER). rest is what
 * follows ".../VirtualMedia" (NULL: the collection), split in segments. */
void rf_media(struct http_req *r, const char *base, const char *const *rest, unsigned n);

/* Tasks. */
struct rf_insert {
	unsigned lun;
	char url[2048];		/* as given, possibly with credentials */
	char name[NAMES_MAX + 1];
	bool inserted, ro, cdrom;
	char target[256];	/* the URI the request went to */
};
/* Starts a download that ends in an insert; replies 200 when it finished
 * within --api-wait-ms, else 202 with a task. */
void rf_task_start(struct http_req *r, const struct rf_insert *ins);
/* The task running for a LUN (0: none), and its cancellation. */
unsigned rf_task_pending(unsigned lun, char *url, size_t url_size);
bool rf_task_cancel_lun(struct app *app, unsigned lun);
/* A medium fetched with Inserted=false waits here for PATCH Inserted=true. */
void rf_staged_get(unsigned lun, char *name, size_t size, bool *ro, bool *cdrom);
void rf_staged_set(unsigned lun, const char *name, bool ro, bool cdrom);
/* Inserts a stored image; 0 done, 1 still running, -1 replied err. */
int rf_do_insert(struct app *app, unsigned lun, const char *name, bool cdrom, bool ro,
		 struct err *err);
void rf_taskservice(struct http_req *r, const char *const *seg, unsigned n);

#endif
