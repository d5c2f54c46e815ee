/* redfish/internal.h: what the files of the Redfish service share.
 *   service.c  routing of every /redfish path and the small resources
 *              (version document, service root, OData, $metadata,
 *              Systems, Managers, SessionService)
 *   reply.c    replies, messages and errors in Redfish's shape
 *   metadata.c the CSDL documents: $metadata and the OEM schema
 *   media.c    the VirtualMedia members, the routing of their PATCH and
 *              actions, EjectMedia
 *   insert.c   InsertMedia and PATCH
 *   task.c     tasks: an InsertMedia of a URL downloads, then inserts
 *   redfish.c  the struct redfish, staged media and the insert worker
 * Every request reaches the service as (struct redfish *, struct http_req *);
 * its state is behind rf->lock, which is never held while an HTTP reply is
 * built or a LUN is waited for (a task's own messages are made under it). */
#ifndef VMEDIA_REDFISH_INTERNAL_H
#define VMEDIA_REDFISH_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "redfish.h"
#include "../core/names.h"
#include "../gadget/gadget.h"
#include "../http/http.h"

#define REDFISH_LOG "REDFISH"
/* The Base message registry the MessageIds name. */
#define REDFISH_BASE "Base.1.15."
#define REDFISH_SYSTEM "/redfish/v1/Systems/target"
#define REDFISH_MANAGER "/redfish/v1/Managers/vmedia"
#define REDFISH_TASKS "/redfish/v1/TaskService/Tasks"
/* The OEM extension's schema (the Oem.vmedia objects): its namespace, the
 * @odata.type of those objects, and where the service serves it. */
#define REDFISH_OEM_NS "VmediaOem"
#define REDFISH_OEM_TYPE(type) "#" REDFISH_OEM_NS ".v1_0_0." type
#define REDFISH_OEM_SCHEMA "/redfish/v1/Schemas/" REDFISH_OEM_NS "_v1.xml"
#define REDFISH_NTASKS 32

enum redfish_transfer { REDFISH_UPLOAD = 0, REDFISH_STREAM };

/* An InsertMedia of a URL: what to fetch and what to do with it. */
struct redfish_insert {
	unsigned lun;
	char url[2048];		/* as given, possibly with credentials */
	char name[NAMES_MAX + 1];
	bool inserted, ro, cdrom;
	char target[256];	/* the URI the request went to */
};

enum redfish_task_state {
	REDFISH_TASK_FREE = 0,
	REDFISH_TASK_NEW,		/* the download is queued */
	REDFISH_TASK_RUNNING,		/* ... running */
	REDFISH_TASK_DOWNLOADED,	/* the job has ended; the worker has yet to finish it */
	REDFISH_TASK_COMPLETING,	/* the worker inserts */
	REDFISH_TASK_COMPLETED, REDFISH_TASK_EXCEPTION, REDFISH_TASK_CANCELLED
};

struct redfish_task {
	unsigned id;
	enum redfish_task_state state;
	unsigned job;
	struct redfish_insert ins;
	char shown_url[2048];	/* redacted */
	int64_t done, total;
	time_t start, end;
	/* The job's end, for the worker. */
	bool job_ok, job_cancelled;
	char job_error[384];
	/* Once ended: the messages (JSON text), the monitor's status and the
	 * Base key of an exception. */
	char *msgs;
	unsigned status;
	char key[48];
};

struct redfish {
	struct gadget *gadget;
	struct storage *storage;
	struct streams *streams;
	struct downloads *downloads;
	unsigned api_wait_ms;
	enum redfish_transfer transfer_default;

	pthread_mutex_t lock;
	pthread_cond_t changed;		/* a task ended or began completing */
	pthread_cond_t work;		/* a task waits for the worker, or stop */
	struct redfish_task tasks[REDFISH_NTASKS];
	unsigned next_id;
	struct {
		char name[NAMES_MAX + 1];
		bool ro, cdrom;
	} staged[GADGET_MAX_LUNS];
	bool stop;
	pthread_t worker;
};

/* reply.c */
/* A reply with the headers Redfish clients expect (OData-Version, Allow,
 * and an ETag, a Location or a Retry-After when given). Takes body. */
void redfish_reply(struct http_req *r, unsigned status, json_t *body, const char *allow,
		   const char *etag, const char *location);
/* One entry of @Message.ExtendedInfo (Message v1.1). related may be NULL. */
json_t *redfish_message(const char *id, const char *severity, const char *related,
			const char *resolution, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* A Redfish error: {"error": {"code", "message", "@Message.ExtendedInfo"}}.
 * key is the Base registry key ("ResourceNotFound", ...). */
void redfish_error(struct http_req *r, unsigned status, const char *key, const char *related,
		   const char *resolution, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
/* The same with a ready message list (takes it). */
void redfish_error_msgs(struct http_req *r, unsigned status, const char *key, json_t *msgs);
/* A 200 whose body is @Message.ExtendedInfo (takes msgs). */
void redfish_reply_ok(struct http_req *r, json_t *msgs);
/* True when the method is in allow ("GET, HEAD, PATCH"); else replies 405. */
bool redfish_allowed(struct http_req *r, const char *allow);
void redfish_not_found(struct http_req *r);
/* {"@odata.id": path}. */
json_t *redfish_link(const char *path);
/* A resource's common part: @odata.id, .type, .context, Name and Id. */
json_t *redfish_resource(const char *path, const char *type, const char *id, const char *name);
/* UTC as Redfish wants it ("2026-11-25T16:02:11Z"). */
void redfish_time(char *buf, size_t size, time_t t);


/* The error of a service (gadget, storage) as a Redfish error. */
void redfish_reply_err(struct http_req *r, const struct err *e);

/* metadata.c: /redfish/v1/$metadata and REDFISH_OEM_SCHEMA (XML). */
void redfish_metadata(struct http_req *r);
void redfish_oem_schema(struct http_req *r);

/* media.c: VirtualMedia below base (REDFISH_SYSTEM or REDFISH_MANAGER);
 * rest is what follows ".../VirtualMedia" (n == 0: the collection). */
void redfish_media(struct redfish *rf, struct http_req *r, const char *base,
		   const char *const *rest, unsigned n);
/* A member as GET shows it, and its ETag. */
json_t *redfish_member(struct redfish *rf, const char *base, unsigned lun, char *etag,
		       size_t size);
/* EjectMedia (PATCH Image null too): cancels a download for the LUN, and
 * forces the eject if the host has locked the medium. Replies. */
void redfish_eject(struct redfish *rf, struct http_req *r, unsigned lun);

/* insert.c: InsertMedia (body NULL: none) and PATCH of a member. Reply. */
void redfish_insert_action(struct redfish *rf, struct http_req *r, const char *base,
			   unsigned lun, json_t *body);
void redfish_patch(struct redfish *rf, struct http_req *r, const char *base, unsigned lun,
		   json_t *body);
/* An http:// or https:// URL (in any case). */
bool redfish_is_url(const char *s);
/* "Upload" or "Stream". */
const char *redfish_transfer_name(enum redfish_transfer t);

/* task.c */
/* Starts a download that ends in an insert; replies 200 when it finished
 * within --api-wait-ms, else 202 with a task. */
void redfish_task_start(struct redfish *rf, struct http_req *r, const struct redfish_insert *ins);
/* The task running for a LUN (0: none), with its redacted URL. */
unsigned redfish_task_pending(struct redfish *rf, unsigned lun, char *url, size_t url_size);
/* Cancels the task of a LUN; true if there was one. */
bool redfish_task_cancel_lun(struct redfish *rf, unsigned lun);
/* The worker's part: inserts (or stages) a downloaded medium and ends the
 * task. Called without the lock. */
void redfish_task_complete(struct redfish *rf, struct redfish_task *copy);
/* /redfish/v1/TaskService[/Tasks[/{id}[/Monitor]]] */
void redfish_taskservice(struct redfish *rf, struct http_req *r, const char *const *seg,
			 unsigned n);

/* redfish.c */
/* A medium fetched or named with Inserted=false waits here for PATCH
 * Inserted=true. name NULL: nothing staged. */
void redfish_staged_get(struct redfish *rf, unsigned lun, char *name, size_t size, bool *ro,
			bool *cdrom);
void redfish_staged_set(struct redfish *rf, unsigned lun, const char *name, bool ro, bool cdrom);
/* Inserts a stored image: 0 done, 1 still running, -1 failed (err). */
int redfish_do_insert(struct redfish *rf, unsigned lun, const char *name, bool cdrom, bool ro,
		      struct err *err);

#endif
