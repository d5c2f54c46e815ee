/* redfish/task: InsertMedia with an http(s) URL downloads the image with
 * the download jobs and inserts it when the job is done. The request waits
 * up to --api-wait-ms; a longer download is answered 202 with the Task and
 * Location naming it (Redfish's way for asynchronous work). GET of the Task
 * answers 202 while it runs and 200 once it has ended; its TaskMonitor,
 * .../Monitor, answers 202 while it runs and then the outcome (200, or the
 * error with its status).
 *
 * The insert does not depend on anyone polling, nor does it run on the
 * download's thread: the download listener only records the job's end
 * (REDFISH_TASK_DOWNLOADED) and wakes the service's worker (redfish.c), which
 * inserts and ends the task. The insert waits for the LUN up to
 * --api-wait-ms, as a request does; one still under way then ends the
 * task Completed with "is being inserted", and how it ends shows in the
 * VirtualMedia member (and GET /luns), not in the task.
 *
 * Tasks live in memory only (a restart of vmediad resumes the download but
 * forgets the insert). The table keeps the last REDFISH_NTASKS; the oldest
 * finished one is overwritten. Replies are built from a copy taken under
 * the lock, never under it. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/clock.h"
#include "../core/log.h"
#include "../download/download.h"

static bool _finished(enum redfish_task_state s)
{
	return s == REDFISH_TASK_COMPLETED || s == REDFISH_TASK_EXCEPTION || s == REDFISH_TASK_CANCELLED;
}

static bool _pending(enum redfish_task_state s)
{
	return s >= REDFISH_TASK_NEW && s <= REDFISH_TASK_COMPLETING;
}

/* Under the lock. */
static struct redfish_task *_by_id(struct redfish *rf, unsigned id)
{
	for (int i = 0; i < REDFISH_NTASKS; i++)
		if (rf->tasks[i].state != REDFISH_TASK_FREE && rf->tasks[i].id == id)
			return &rf->tasks[i];
	return NULL;
}

/* Under the lock: a copy the caller may read after unlocking (its msgs is
 * its own; free it with _drop). false if there is no such task. */
static bool _copy(struct redfish *rf, unsigned id, struct redfish_task *out)
{
	struct redfish_task *t = _by_id(rf, id);

	if (!t)
		return false;
	*out = *t;
	if (t->msgs && !(out->msgs = strdup(t->msgs)))
		abort();
	return true;
}

static void _drop(struct redfish_task *copy)
{
	free(copy->msgs);
	copy->msgs = NULL;
}

/* Under the lock: the end of a task (takes msgs). */
static void _end(struct redfish *rf, struct redfish_task *t, enum redfish_task_state st,
		 unsigned status, const char *key, json_t *msgs)
{
	t->state = st;
	t->end = time(NULL);
	t->status = status;
	snprintf(t->key, sizeof(t->key), "%s", key);
	free(t->msgs);
	t->msgs = json_dumps(msgs, JSON_COMPACT);
	json_decref(msgs);
	if (!t->msgs)
		abort();
	pthread_cond_broadcast(&rf->changed);
}

unsigned redfish_task_pending(struct redfish *rf, unsigned lun, char *url, size_t url_size)
{
	unsigned id = 0;

	pthread_mutex_lock(&rf->lock);
	for (int i = 0; i < REDFISH_NTASKS && !id; i++)
		if (_pending(rf->tasks[i].state) && rf->tasks[i].ins.lun == lun) {
			id = rf->tasks[i].id;
			if (url)
				snprintf(url, url_size, "%s", rf->tasks[i].shown_url);
		}
	pthread_mutex_unlock(&rf->lock);
	return id;
}

bool redfish_task_cancel_lun(struct redfish *rf, unsigned lun)
{
	unsigned job = 0;
	bool found = false;
	struct timespec dl;
	json_t *msgs = json_array();

	/* The insert under way is bounded by --api-wait-ms (gadget_insert). */
	clock_deadline(&dl, rf->api_wait_ms + 1000);
	pthread_mutex_lock(&rf->lock);
	for (int i = 0; i < REDFISH_NTASKS; i++) {
		struct redfish_task *t = &rf->tasks[i];
		if (t->ins.lun != lun || !_pending(t->state))
			continue;
		/* An insert under way finishes first; the eject then removes it. */
		while (t->state == REDFISH_TASK_COMPLETING)
			if (pthread_cond_timedwait(&rf->changed, &rf->lock, &dl) != 0)
				break;
		if (!_pending(t->state) || t->state == REDFISH_TASK_COMPLETING)
			continue;
		found = true;
		/* A job that has ended is left alone: only its insert is off. */
		if (t->state != REDFISH_TASK_DOWNLOADED)
			job = t->job;
		json_array_append_new(msgs, redfish_message(
			"TaskEvent.1.0.TaskCancelled", "Warning", NULL, NULL,
			"The task with Id '%u' has been cancelled: the medium was ejected before "
			"the download finished.", t->id));
		_end(rf, t, REDFISH_TASK_CANCELLED, MHD_HTTP_CONFLICT, "GeneralError", msgs);
		msgs = json_array();
	}
	pthread_mutex_unlock(&rf->lock);
	json_decref(msgs);
	if (job) {
		struct download_job j;
		downloads_cancel(rf->downloads, job, &j, NULL);
	}
	return found;
}

void redfish_download_changed(struct redfish *rf, const struct download_job *job)
{
	if (!rf)
		return;
	pthread_mutex_lock(&rf->lock);
	struct redfish_task *t = NULL;
	for (int i = 0; i < REDFISH_NTASKS && !t; i++)
		if ((rf->tasks[i].state == REDFISH_TASK_NEW || rf->tasks[i].state == REDFISH_TASK_RUNNING) &&
		    rf->tasks[i].job == job->id)
			t = &rf->tasks[i];
	if (t) {
		t->done = job->done;
		t->total = job->total;
		if (job->state == DOWNLOAD_QUEUED || job->state == DOWNLOAD_RUNNING) {
			t->state = job->state == DOWNLOAD_RUNNING ? REDFISH_TASK_RUNNING : REDFISH_TASK_NEW;
		} else {
			t->state = REDFISH_TASK_DOWNLOADED;
			t->job_ok = job->state == DOWNLOAD_DONE;
			t->job_cancelled = job->state == DOWNLOAD_CANCELLED;
			snprintf(t->job_error, sizeof(t->job_error), "%s",
				 job->error[0] ? job->error : "the download was cancelled");
			pthread_cond_signal(&rf->work);
		}
	}
	pthread_mutex_unlock(&rf->lock);
}

void redfish_task_complete(struct redfish *rf, struct redfish_task *c)
{
	const struct redfish_insert *ins = &c->ins;
	enum redfish_task_state st = REDFISH_TASK_COMPLETED;
	unsigned status = MHD_HTTP_OK;
	const char *key = "Success";
	json_t *msgs = json_array();
	struct err err = { 0 };

	if (c->job_ok && ins->inserted) {
		int rc = redfish_do_insert(rf, ins->lun, ins->name, ins->cdrom, ins->ro, &err);
		if (rc < 0) {
			bool busy = err.kind == ERR_CONFLICT;
			st = REDFISH_TASK_EXCEPTION;
			/* Not 404 for an image deleted meanwhile: from the task
			 * monitor that reads as "no such task". */
			status = err.kind == ERR_NOT_FOUND ? MHD_HTTP_CONFLICT : http_status_of(err.kind);
			key = busy ? "ResourceInUse" : "GeneralError";
			json_array_append_new(msgs, redfish_message(
				key, "Critical", NULL,
				busy ? "Eject the medium, then insert again." : NULL,
				"%s was downloaded but could not be inserted into LUN %u: %s",
				ins->name, ins->lun, err.message));
		} else {
			json_array_append_new(msgs, redfish_message(
				"Success", "OK", NULL, NULL,
				"%s was downloaded and %s LUN %u as %s.", ins->name,
				rc == 1 ? "is being inserted into" : "inserted into", ins->lun,
				ins->cdrom ? "a CD-ROM" : "a USB disk"));
		}
	} else if (c->job_ok) {
		redfish_staged_set(rf, ins->lun, ins->name, ins->ro, ins->cdrom);
		json_array_append_new(msgs, redfish_message(
			"Success", "OK", NULL, NULL, "%s was downloaded; it is not inserted "
			"(Inserted was false): PATCH Inserted true to insert it.", ins->name));
	} else {
		st = c->job_cancelled ? REDFISH_TASK_CANCELLED : REDFISH_TASK_EXCEPTION;
		status = MHD_HTTP_BAD_REQUEST;
		key = c->job_cancelled ? "GeneralError" : "ResourceMissingAtURI";
		json_array_append_new(msgs, redfish_message(
			key, "Critical", "#/Image", "Check the URI and that the box can reach it.",
			"The image at %s could not be downloaded: %s", c->shown_url, c->job_error));
	}
	bool ok = st == REDFISH_TASK_COMPLETED, cancelled = st == REDFISH_TASK_CANCELLED;
	json_array_insert_new(msgs, 0, redfish_message(
		ok ? "TaskEvent.1.0.TaskCompletedOK" : cancelled ? "TaskEvent.1.0.TaskCancelled" :
		"TaskEvent.1.0.TaskAborted", ok ? "OK" : "Critical", NULL, NULL,
		"The task with Id '%u' has %s.", c->id,
		ok ? "completed" : cancelled ? "been cancelled" : "been aborted"));
	if (st != REDFISH_TASK_COMPLETED)
		log_info(REDFISH_LOG, "task %u for LUN %u: %s", c->id, ins->lun,
			 c->job_ok ? err.message : c->job_error);

	pthread_mutex_lock(&rf->lock);
	struct redfish_task *t = _by_id(rf, c->id);
	if (t && t->state == REDFISH_TASK_COMPLETING) {
		if (st == REDFISH_TASK_COMPLETED)
			t->done = t->total > 0 ? t->total : t->done;
		_end(rf, t, st, status, key, msgs);
	} else {
		json_decref(msgs);
	}
	pthread_mutex_unlock(&rf->lock);
}

static const char *_state_name(enum redfish_task_state s)
{
	switch (s) {
	case REDFISH_TASK_NEW: return "New";
	case REDFISH_TASK_RUNNING:
	case REDFISH_TASK_DOWNLOADED:
	case REDFISH_TASK_COMPLETING: return "Running";
	case REDFISH_TASK_COMPLETED: return "Completed";
	case REDFISH_TASK_EXCEPTION: return "Exception";
	case REDFISH_TASK_CANCELLED: return "Cancelled";
	case REDFISH_TASK_FREE: break;
	}
	return "Pending";
}

/* The messages of a copy, as JSON (an empty list if none). */
static json_t *_msgs(const struct redfish_task *t)
{
	json_t *m = t->msgs ? json_loads(t->msgs, 0, NULL) : NULL;

	return m ? m : json_array();
}

static json_t *_task_json(const struct redfish_task *t)
{
	char path[96], mon[128], tm[32];

	snprintf(path, sizeof(path), REDFISH_TASKS "/%u", t->id);
	snprintf(mon, sizeof(mon), "%s/Monitor", path);
	redfish_time(tm, sizeof(tm), t->start);
	int pct = _finished(t->state) ? 100 : t->total > 0 ?
		  (int)(t->done * 100 / t->total) : 0;
	if (pct > 100)
		pct = 100;
	json_t *msgs = t->msgs ? _msgs(t) : json_pack("[o]", redfish_message(
		"TaskEvent.1.0.TaskStarted", "OK", NULL, NULL, "The task with Id '%u' has started; "
		"%lld bytes downloaded so far.", t->id, (long long)t->done));
	json_t *o = json_pack(
		"{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:o, s:{s:s, s:s}}",
		"@odata.id", path, "@odata.type", "#Task.v1_4_3.Task",
		"@odata.context", "/redfish/v1/$metadata#Task.Task",
		"Id", path + strlen(REDFISH_TASKS "/"),
		"Name", "Download and insert virtual media", "TaskState", _state_name(t->state),
		"TaskStatus", t->state == REDFISH_TASK_EXCEPTION ? "Critical" :
			      t->state == REDFISH_TASK_CANCELLED ? "Warning" : "OK",
		"StartTime", tm, "PercentComplete", pct, "TaskMonitor", mon, "Messages", msgs,
		"Payload", "HttpOperation", "POST", "TargetUri", t->ins.target);
	if (_finished(t->state)) {
		redfish_time(tm, sizeof(tm), t->end);
		json_object_set_new(o, "EndTime", json_string(tm));
	}
	json_object_set_new(o, "Description", json_sprintf("Fetch %s, then %s LUN %u",
		t->shown_url, t->ins.inserted ? "insert it into" : "keep it for", t->ins.lun));
	return o;
}

/* The outcome of a finished task, as the monitor (and a request that
 * waited) answers it. */
static void _reply_final(struct http_req *r, const struct redfish_task *t)
{
	if (t->state == REDFISH_TASK_COMPLETED)
		redfish_reply_ok(r, _msgs(t));
	else
		redfish_error_msgs(r, t->status, t->key, _msgs(t));
}

/* Under the lock: a slot for a new task, or NULL when all run. */
static struct redfish_task *_slot(struct redfish *rf)
{
	struct redfish_task *t = NULL;

	for (int i = 0; i < REDFISH_NTASKS && !t; i++)
		if (rf->tasks[i].state == REDFISH_TASK_FREE)
			t = &rf->tasks[i];
	if (!t)
		for (int i = 0; i < REDFISH_NTASKS; i++)
			if (_finished(rf->tasks[i].state) && (!t || rf->tasks[i].id < t->id))
				t = &rf->tasks[i];
	return t;
}

void redfish_task_start(struct redfish *rf, struct http_req *r, const struct redfish_insert *ins)
{
	struct download_request req = { .url = ins->url, .name = ins->name };
	struct download_job job;
	struct redfish_task *t, copy;
	struct err err;

	pthread_mutex_lock(&rf->lock);
	t = _slot(rf);
	if (!t) {
		pthread_mutex_unlock(&rf->lock);
		redfish_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "ServiceTemporarilyUnavailable",
			      NULL, "Wait for a download to finish.",
			      "Too many downloads are under way.");
		return;
	}
	free(t->msgs);
	memset(t, 0, sizeof(*t));
	t->id = rf->next_id++;
	t->state = REDFISH_TASK_NEW;
	t->ins = *ins;
	t->total = -1;
	t->start = time(NULL);
	download_redact_url(ins->url, t->shown_url, sizeof(t->shown_url));
	unsigned id = t->id;
	pthread_mutex_unlock(&rf->lock);

	if (downloads_add(rf->downloads, &req, &job, &err) < 0) {
		pthread_mutex_lock(&rf->lock);
		t = _by_id(rf, id);
		if (t)
			t->state = REDFISH_TASK_FREE;
		pthread_mutex_unlock(&rf->lock);
		if (err.kind == ERR_CONFLICT)
			redfish_error(r, MHD_HTTP_CONFLICT, "ResourceInUse", "#/Image",
				      "Try again later.", "%s", err.message);
		else if (err.kind == ERR_INVALID)
			redfish_error(r, MHD_HTTP_BAD_REQUEST, "ActionParameterValueFormatError",
				      "#/Image", "Give an http:// or https:// URL of an image.",
				      "The value for Image is not usable: %s", err.message);
		else	/* the box's fault, not the URL's: a full or failing disk */
			redfish_error(r, http_status_of(err.kind), "GeneralError", NULL,
				      err.kind == ERR_NO_SPACE ? "Delete images to make room." : NULL,
				      "%s", err.message);
		return;
	}
	pthread_mutex_lock(&rf->lock);
	t = _by_id(rf, id);
	if (t)
		t->job = job.id;
	pthread_mutex_unlock(&rf->lock);
	log_info(REDFISH_LOG, "task %u: download %u of %s for LUN %u", id, job.id, job.url,
		 ins->lun);
	/* The job may have ended before it had a task to complete. */
	if (downloads_get(rf->downloads, job.id, &job, NULL) == 0)
		redfish_download_changed(rf, &job);

	struct timespec dl;
	clock_deadline(&dl, rf->api_wait_ms);
	pthread_mutex_lock(&rf->lock);
	while ((t = _by_id(rf, id)) && !_finished(t->state))
		if (pthread_cond_timedwait(&rf->changed, &rf->lock, &dl) != 0)
			break;
	bool found = _copy(rf, id, &copy);
	pthread_mutex_unlock(&rf->lock);
	if (!found) {
		redfish_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "InternalError", NULL, NULL,
			      "The task was lost.");
		return;
	}
	if (_finished(copy.state)) {
		_reply_final(r, &copy);
	} else {
		char loc[128];
		snprintf(loc, sizeof(loc), REDFISH_TASKS "/%u", id);
		redfish_reply(r, MHD_HTTP_ACCEPTED, _task_json(&copy), NULL, NULL, loc);
	}
	_drop(&copy);
}

static void _service(struct http_req *r)
{
	json_t *o = redfish_resource("/redfish/v1/TaskService", "#TaskService.v1_1_4.TaskService",
				     "TaskService", "Task Service");

	json_object_set_new(o, "ServiceEnabled", json_true());
	json_object_set_new(o, "CompletedTaskOverWritePolicy", json_string("Oldest"));
	json_object_set_new(o, "LifeCycleEventOnTaskStateChange", json_false());
	json_object_set_new(o, "Status", json_pack("{s:s, s:s}", "State", "Enabled", "Health",
						   "OK"));
	json_object_set_new(o, "Tasks", redfish_link(REDFISH_TASKS));
	redfish_reply(r, MHD_HTTP_OK, o, "GET, HEAD", NULL, NULL);
}

static void _collection(struct redfish *rf, struct http_req *r)
{
	unsigned ids[REDFISH_NTASKS];
	size_t n = 0;
	char p[64];

	pthread_mutex_lock(&rf->lock);
	for (int i = 0; i < REDFISH_NTASKS; i++)
		if (rf->tasks[i].state != REDFISH_TASK_FREE)
			ids[n++] = rf->tasks[i].id;
	pthread_mutex_unlock(&rf->lock);
	json_t *members = json_array();
	for (size_t i = 0; i < n; i++) {
		snprintf(p, sizeof(p), REDFISH_TASKS "/%u", ids[i]);
		json_array_append_new(members, redfish_link(p));
	}
	json_t *o = redfish_resource(REDFISH_TASKS, "#TaskCollection.TaskCollection", NULL,
				     "Tasks");
	json_object_set_new(o, "Members@odata.count", json_integer((json_int_t)n));
	json_object_set_new(o, "Members", members);
	redfish_reply(r, MHD_HTTP_OK, o, "GET, HEAD", NULL, NULL);
}

void redfish_taskservice(struct redfish *rf, struct http_req *r, const char *const *seg,
			 unsigned n)
{
	struct redfish_task copy;
	unsigned long id;

	if (!redfish_allowed(r, "GET, HEAD"))
		return;
	if (n == 1) {
		_service(r);
		return;
	}
	if (strcmp(seg[1], "Tasks") != 0 || n > 4 || (n == 4 && strcmp(seg[3], "Monitor") != 0)) {
		redfish_not_found(r);
		return;
	}
	if (n == 2) {
		_collection(rf, r);
		return;
	}
	bool found = false;
	if (names_number(seg[2], 0xffffffffUL, &id) && id > 0) {
		pthread_mutex_lock(&rf->lock);
		found = _copy(rf, (unsigned)id, &copy);
		pthread_mutex_unlock(&rf->lock);
	}
	if (!found) {
		redfish_not_found(r);
		return;
	}
	/* The Task itself answers 202 while it runs, as early Redfish task
	 * monitors did: clients such as sushy poll the Task's @odata.id. */
	if (n == 3)
		redfish_reply(r, _finished(copy.state) ? MHD_HTTP_OK : MHD_HTTP_ACCEPTED,
			      _task_json(&copy), "GET, HEAD", NULL, NULL);
	else if (!_finished(copy.state))
		redfish_reply(r, MHD_HTTP_ACCEPTED, _task_json(&copy), NULL, NULL, NULL);
	else
		_reply_final(r, &copy);
	_drop(&copy);
}
