/* redfish_task: InsertMedia with an http(s) URL downloads the image with
 * the download jobs and inserts it when the job is done. The request waits
 * up to --api-wait-ms; a longer download is answered 202 with the Task and
 * Location naming it (Redfish's way for asynchronous work). GET of the Task
 * answers 202 while it runs and 200 once it has ended; its TaskMonitor,
 * .../Monitor, answers 202 while it runs and then the outcome (200, or the
 * error with its status). The insert does not
 * depend on anyone polling: the download listener (events.c) calls
 * api_redfish_download_changed on the download worker's thread at every
 * change of a job, and the finished job is completed there.
 *
 * Tasks live in memory only (a restart of vmediad resumes the download but
 * forgets the insert). The table keeps the last _NTASKS; the oldest
 * finished one is overwritten. */
#include "redfish.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/clock.h"
#include "../download/download.h"
#include "../gadget/gadget.h"
#include "../storage/storage.h"

#define _NTASKS 32

enum _state { T_FREE = 0, T_NEW, T_RUNNING, T_COMPLETING, T_COMPLETED, T_EXCEPTION, T_CANCELLED };

struct _task {
	unsigned id;
	enum _state state;
	unsigned job;
	struct rf_insert ins;
	char shown_url[2048];	/* redacted */
	int64_t done, total;
	time_t start, end;
	json_t *msgs;		/* final messages */
	unsigned status;	/* the final HTTP status for the monitor */
	char key[48];		/* Base key of an exception */
};

static pthread_mutex_t _lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t _cond = PTHREAD_COND_INITIALIZER;
static struct _task _tasks[_NTASKS];
static unsigned _next_id = 1;
static struct {
	char name[NAMES_MAX + 1];
	bool ro, cdrom;
} _staged[GADGET_MAX_LUNS];

static bool _finished(enum _state s)
{
	return s == T_COMPLETED || s == T_EXCEPTION || s == T_CANCELLED;
}

static struct _task *_by_id(unsigned id)
{
	for (int i = 0; i < _NTASKS; i++)
		if (_tasks[i].state != T_FREE && _tasks[i].id == id)
			return &_tasks[i];
	return NULL;
}

void rf_staged_get(unsigned lun, char *name, size_t size, bool *ro, bool *cdrom)
{
	pthread_mutex_lock(&_lock);
	snprintf(name, size, "%s", lun < GADGET_MAX_LUNS ? _staged[lun].name : "");
	/* Nothing attached: what an insert would default to (write-protected). */
	*ro = lun < GADGET_MAX_LUNS && _staged[lun].name[0] ? _staged[lun].ro : true;
	*cdrom = lun < GADGET_MAX_LUNS && _staged[lun].cdrom;
	pthread_mutex_unlock(&_lock);
}

void rf_staged_set(unsigned lun, const char *name, bool ro, bool cdrom)
{
	if (lun >= GADGET_MAX_LUNS)
		return;
	pthread_mutex_lock(&_lock);
	snprintf(_staged[lun].name, sizeof(_staged[lun].name), "%s", name ? name : "");
	_staged[lun].ro = ro;
	_staged[lun].cdrom = cdrom;
	pthread_mutex_unlock(&_lock);
}

static int _pin(void *ctx, const char *image, unsigned lun, char *path, size_t size,
		struct err *err)
{
	return storage_pin(ctx, image, lun, path, size, err);
}

int rf_do_insert(struct app *app, unsigned lun, const char *name, bool cdrom, bool ro,
		 struct err *err)
{
	struct gadget_insert_req req = {
		.image = name, .cdrom = cdrom, .ro = ro || cdrom, .pin = _pin,
		.pin_ctx = app->storage,
	};
	struct gadget_lun out;

	return gadget_insert(app->gadget, lun, &req, &out, err);
}

unsigned rf_task_pending(unsigned lun, char *url, size_t url_size)
{
	unsigned id = 0;

	pthread_mutex_lock(&_lock);
	for (int i = 0; i < _NTASKS && !id; i++)
		if (_tasks[i].state >= T_NEW && _tasks[i].state <= T_COMPLETING &&
		    _tasks[i].ins.lun == lun) {
			id = _tasks[i].id;
			if (url)
				snprintf(url, url_size, "%s", _tasks[i].shown_url);
		}
	pthread_mutex_unlock(&_lock);
	return id;
}

/* Under the lock: the end of a task. */
static void _end(struct _task *t, enum _state st, unsigned status, const char *key, json_t *msgs)
{
	t->state = st;
	t->end = time(NULL);
	t->status = status;
	snprintf(t->key, sizeof(t->key), "%s", key);
	json_decref(t->msgs);
	t->msgs = msgs;
	pthread_cond_broadcast(&_cond);
}

bool rf_task_cancel_lun(struct app *app, unsigned lun)
{
	unsigned job = 0;
	bool found = false;
	struct timespec dl;

	clock_deadline(&dl, 10000);
	pthread_mutex_lock(&_lock);
	for (int i = 0; i < _NTASKS; i++) {
		struct _task *t = &_tasks[i];
		if (t->ins.lun != lun || t->state < T_NEW || t->state > T_COMPLETING)
			continue;
		/* An insert under way finishes first; the eject then removes it. */
		while (t->state == T_COMPLETING)
			if (pthread_cond_timedwait(&_cond, &_lock, &dl) != 0)
				break;
		if (t->state != T_NEW && t->state != T_RUNNING)
			continue;
		found = true;
		job = t->job;
		_end(t, T_CANCELLED, MHD_HTTP_CONFLICT, "GeneralError", json_pack("[o]",
			rf_message("TaskEvent.1.0.TaskCancelled", "Warning", NULL, NULL,
				   "The task with Id '%u' has been cancelled: the medium was "
				   "ejected before the download finished.", t->id)));
	}
	pthread_mutex_unlock(&_lock);
	if (job) {
		struct download_job j;
		downloads_cancel(app->downloads, job, &j, NULL);
	}
	return found;
}

/* A job changed: track progress, and finish the task when the job ends. */
static void _on_job(struct app *app, const struct download_job *job)
{
	struct err err = { 0 };

	pthread_mutex_lock(&_lock);
	struct _task *t = NULL;
	for (int i = 0; i < _NTASKS && !t; i++)
		if ((_tasks[i].state == T_NEW || _tasks[i].state == T_RUNNING) &&
		    _tasks[i].job == job->id)
			t = &_tasks[i];
	if (!t) {
		pthread_mutex_unlock(&_lock);
		return;
	}
	t->done = job->done;
	t->total = job->total;
	if (job->state == DL_QUEUED || job->state == DL_RUNNING) {
		t->state = job->state == DL_RUNNING ? T_RUNNING : T_NEW;
		pthread_mutex_unlock(&_lock);
		return;
	}
	t->state = T_COMPLETING;
	struct rf_insert ins = t->ins;
	unsigned id = t->id;
	pthread_mutex_unlock(&_lock);

	enum _state st = T_COMPLETED;
	unsigned status = MHD_HTTP_OK;
	const char *key = "Success";
	json_t *msgs = json_array();
	if (job->state == DL_DONE && ins.inserted) {
		int rc = rf_do_insert(app, ins.lun, ins.name, ins.cdrom, ins.ro, &err);
		if (rc < 0) {
			st = T_EXCEPTION;
			status = MHD_HTTP_CONFLICT;
			key = "ResourceInUse";
			json_array_append_new(msgs, rf_message(
				"ResourceInUse", "Critical", NULL, "Eject the medium, then insert again.",
				"%s was downloaded but could not be inserted into LUN %u: %s", ins.name,
				ins.lun, err.message));
		} else {
			json_array_append_new(msgs, rf_message(
				"Success", "OK", NULL, NULL, "%s was downloaded and %s LUN %u as %s.",
				ins.name, rc == 1 ? "is being inserted into" : "inserted into", ins.lun,
				ins.cdrom ? "a CD-ROM" : "a USB disk"));
		}
	} else if (job->state == DL_DONE) {
		rf_staged_set(ins.lun, ins.name, ins.ro, ins.cdrom);
		json_array_append_new(msgs, rf_message(
			"Success", "OK", NULL, NULL, "%s was downloaded; it is not inserted "
			"(Inserted was false): PATCH Inserted true to insert it.", ins.name));
	} else {
		st = job->state == DL_CANCELLED ? T_CANCELLED : T_EXCEPTION;
		status = MHD_HTTP_BAD_REQUEST;
		key = job->state == DL_CANCELLED ? "GeneralError" : "ResourceMissingAtURI";
		json_array_append_new(msgs, rf_message(
			key, "Critical", "#/Image", "Check the URI and that the box can reach it.",
			"The image at %s could not be downloaded: %s", job->url,
			job->error[0] ? job->error : "the download was cancelled"));
	}
	json_array_insert_new(msgs, 0, rf_message(
		st == T_COMPLETED ? "TaskEvent.1.0.TaskCompletedOK" : st == T_CANCELLED ?
		"TaskEvent.1.0.TaskCancelled" : "TaskEvent.1.0.TaskAborted",
		st == T_COMPLETED ? "OK" : "Critical", NULL, NULL, "The task with Id '%u' has %s.",
		id, st == T_COMPLETED ? "completed" : st == T_CANCELLED ? "been cancelled" :
		"been aborted"));
	pthread_mutex_lock(&_lock);
	t = _by_id(id);
	if (t && t->state == T_COMPLETING) {
		if (st == T_COMPLETED)
			t->done = t->total > 0 ? t->total : t->done;
		_end(t, st, status, key, msgs);
	} else {
		json_decref(msgs);
	}
	pthread_mutex_unlock(&_lock);
}

void api_redfish_download_changed(struct app *app, const struct download_job *job)
{
	_on_job(app, job);
}

static const char *_state_name(enum _state s)
{
	switch (s) {
	case T_NEW: return "New";
	case T_RUNNING:
	case T_COMPLETING: return "Running";
	case T_COMPLETED: return "Completed";
	case T_EXCEPTION: return "Exception";
	case T_CANCELLED: return "Cancelled";
	case T_FREE: break;
	}
	return "Pending";
}

/* Under the lock. */
static json_t *_task_json(const struct _task *t)
{
	char path[96], mon[128], tm[32];

	snprintf(path, sizeof(path), "/redfish/v1/TaskService/Tasks/%u", t->id);
	snprintf(mon, sizeof(mon), "%s/Monitor", path);
	rf_time(tm, sizeof(tm), t->start);
	int pct = _finished(t->state) ? 100 : t->total > 0 ?
		  (int)(t->done * 100 / t->total) : 0;
	if (pct > 100)
		pct = 100;
	json_t *msgs = t->msgs ? json_deep_copy(t->msgs) : json_pack("[o]", rf_message(
		"TaskEvent.1.0.TaskStarted", "OK", NULL, NULL, "The task with Id '%u' has started; "
		"%lld bytes downloaded so far.", t->id, (long long)t->done));
	json_t *o = json_pack(
		"{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:o, s:{s:s, s:s}}",
		"@odata.id", path, "@odata.type", "#Task.v1_4_3.Task",
		"@odata.context", "/redfish/v1/$metadata#Task.Task", "Id", path + 30,
		"Name", "Download and insert virtual media", "TaskState", _state_name(t->state),
		"TaskStatus", t->state == T_EXCEPTION ? "Critical" :
			      t->state == T_CANCELLED ? "Warning" : "OK",
		"StartTime", tm, "PercentComplete", pct, "TaskMonitor", mon, "Messages", msgs,
		"Payload", "HttpOperation", "POST", "TargetUri", t->ins.target);
	if (_finished(t->state)) {
		rf_time(tm, sizeof(tm), t->end);
		json_object_set_new(o, "EndTime", json_string(tm));
	}
	json_object_set_new(o, "Description", json_sprintf("Fetch %s, then %s LUN %u",
		t->shown_url, t->ins.inserted ? "insert it into" : "keep it for", t->ins.lun));
	return o;
}

/* The outcome of a finished task, as the monitor (and a request that
 * waited) answers it. Under the lock; replies. */
static void _reply_final(struct http_req *r, const struct _task *t)
{
	json_t *msgs = t->msgs ? json_deep_copy(t->msgs) : json_array();

	if (t->state == T_COMPLETED)
		rf_reply(r, MHD_HTTP_OK, json_pack("{s:o}", "@Message.ExtendedInfo", msgs), NULL,
			 NULL, NULL);
	else
		rf_error_msgs(r, t->status, t->key, msgs);
}

void rf_task_start(struct http_req *r, const struct rf_insert *ins)
{
	struct app *app = http_req_app(r);
	struct download_request req = { .url = ins->url, .name = ins->name };
	struct download_job job;
	struct err err;
	struct _task *t = NULL;

	pthread_mutex_lock(&_lock);
	for (int i = 0; i < _NTASKS && !t; i++)
		if (_tasks[i].state == T_FREE)
			t = &_tasks[i];
	if (!t)
		for (int i = 0; i < _NTASKS; i++)
			if (_finished(_tasks[i].state) && (!t || _tasks[i].id < t->id))
				t = &_tasks[i];
	if (!t) {
		pthread_mutex_unlock(&_lock);
		rf_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "ServiceTemporarilyUnavailable", NULL,
			 "Wait for a download to finish.", "Too many downloads are under way.");
		return;
	}
	json_decref(t->msgs);
	memset(t, 0, sizeof(*t));
	t->id = _next_id++;
	t->state = T_NEW;
	t->ins = *ins;
	t->total = -1;
	t->start = time(NULL);
	download_redact_url(ins->url, t->shown_url, sizeof(t->shown_url));
	unsigned id = t->id;
	pthread_mutex_unlock(&_lock);

	if (downloads_add(app->downloads, &req, &job, &err) < 0) {
		pthread_mutex_lock(&_lock);
		t = _by_id(id);
		if (t)
			t->state = T_FREE;
		pthread_mutex_unlock(&_lock);
		if (err.kind == ERR_CONFLICT)
			rf_error(r, MHD_HTTP_CONFLICT, "ResourceInUse", "#/Image", "Try again later.",
				 "%s", err.message);
		else
			rf_error(r, MHD_HTTP_BAD_REQUEST, "ActionParameterValueFormatError",
				 "#/Image", "Give an http:// or https:// URL of an image.",
				 "The value for Image is not usable: %s", err.message);
		return;
	}
	pthread_mutex_lock(&_lock);
	t = _by_id(id);
	if (t)
		t->job = job.id;
	pthread_mutex_unlock(&_lock);
	/* The job may have ended before it had a task to complete. */
	if (downloads_get(app->downloads, job.id, &job, NULL) == 0)
		_on_job(app, &job);

	struct timespec dl;
	clock_deadline(&dl, (unsigned)app->cfg->api_wait_ms);
	pthread_mutex_lock(&_lock);
	while ((t = _by_id(id)) && !_finished(t->state))
		if (pthread_cond_timedwait(&_cond, &_lock, &dl) != 0)
			break;
	if (t && _finished(t->state)) {
		_reply_final(r, t);
	} else if (t) {
		char loc[128];
		snprintf(loc, sizeof(loc), "/redfish/v1/TaskService/Tasks/%u", id);
		rf_reply(r, MHD_HTTP_ACCEPTED, _task_json(t), NULL, NULL, loc);
	} else {
		rf_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "InternalError", NULL, NULL,
			 "The task was lost.");
	}
	pthread_mutex_unlock(&_lock);
}

/* /redfish/v1/TaskService[/Tasks[/{id}[/Monitor]]] */
void rf_taskservice(struct http_req *r, const char *const *seg, unsigned n)
{
	if (!rf_allowed(r, "GET, HEAD"))
		return;
	if (n == 1) {
		rf_reply(r, MHD_HTTP_OK, json_pack(
			"{s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:b, s:{s:s, s:s}, s:{s:s}}",
			"@odata.id", "/redfish/v1/TaskService", "@odata.type",
			"#TaskService.v1_1_4.TaskService", "@odata.context",
			"/redfish/v1/$metadata#TaskService.TaskService", "Id", "TaskService",
			"Name", "Task Service", "ServiceEnabled", 1,
			"CompletedTaskOverWritePolicy", "Oldest", "LifeCycleEventOnTaskStateChange", 0,
			"Status", "State", "Enabled", "Health", "OK",
			"Tasks", "@odata.id", "/redfish/v1/TaskService/Tasks"), "GET, HEAD", NULL, NULL);
		return;
	}
	if (strcmp(seg[1], "Tasks") != 0 || n > 4 || (n == 4 && strcmp(seg[3], "Monitor") != 0)) {
		rf_not_found(r);
		return;
	}
	pthread_mutex_lock(&_lock);
	if (n == 2) {
		json_t *members = json_array();
		char p[64];
		for (int i = 0; i < _NTASKS; i++)
			if (_tasks[i].state != T_FREE) {
				snprintf(p, sizeof(p), "/redfish/v1/TaskService/Tasks/%u", _tasks[i].id);
				json_array_append_new(members, rf_link(p));
			}
		pthread_mutex_unlock(&_lock);
		rf_reply(r, MHD_HTTP_OK, json_pack(
			"{s:s, s:s, s:s, s:s, s:I, s:o}", "@odata.id", "/redfish/v1/TaskService/Tasks",
			"@odata.type", "#TaskCollection.TaskCollection", "@odata.context",
			"/redfish/v1/$metadata#TaskCollection.TaskCollection", "Name", "Tasks",
			"Members@odata.count", (json_int_t)json_array_size(members), "Members",
			members), "GET, HEAD", NULL, NULL);
		return;
	}
	unsigned long id;
	struct _task *t = names_number(seg[2], 0xffffffffUL, &id) && id > 0 ?
			  _by_id((unsigned)id) : NULL;
	if (!t) {
		pthread_mutex_unlock(&_lock);
		rf_not_found(r);
		return;
	}
	/* The Task itself answers 202 while it runs, as early Redfish task
	 * monitors did: clients such as sushy poll the Task's @odata.id. */
	if (n == 3)
		rf_reply(r, _finished(t->state) ? MHD_HTTP_OK : MHD_HTTP_ACCEPTED, _task_json(t),
			 "GET, HEAD", NULL, NULL);
	else if (!_finished(t->state))
		rf_reply(r, MHD_HTTP_ACCEPTED, _task_json(t), NULL, NULL, NULL);
	else
		_reply_final(r, t);
	pthread_mutex_unlock(&_lock);
}
