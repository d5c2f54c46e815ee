/* redfish: routing of every /redfish path, the replies and errors in
 * Redfish's shape, and the small resources: the version document, the
 * service root, the OData service document, Systems, Managers and the
 * SessionService (which says sessions are off: clients use HTTP Basic). */
#include "redfish.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/version.h"
#include "../gadget/gadget.h"

#define _MAX_SEG 8

void rf_reply(struct http_req *r, unsigned status, json_t *body, const char *allow,
	      const char *etag, const char *location)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : strdup("");
	struct MHD_Response *resp;

	json_decref(body);
	if (!text)
		abort();
	resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (status != MHD_HTTP_NO_CONTENT)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "OData-Version", "4.0");
	if (allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	if (etag)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
	if (location) {
		MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, location);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	}
	http_reply(r, status, resp);
}

static json_t *_vmessage(const char *id, const char *severity, const char *related,
			 const char *resolution, const char *fmt, va_list ap)
{
	char msg[768], full[96];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* Ids without a registry prefix are Base's. */
	snprintf(full, sizeof(full), "%s%s", strchr(id, '.') ? "" : RF_BASE, id);
	json_t *m = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:[]}",
			      "@odata.type", "#Message.v1_1_1.Message", "MessageId", full,
			      "Message", msg, "Severity", severity, "MessageSeverity", severity,
			      "Resolution", resolution ? resolution : "None.", "MessageArgs");
	if (related)
		json_object_set_new(m, "RelatedProperties", json_pack("[s]", related));
	return m;
}

json_t *rf_message(const char *id, const char *severity, const char *related,
		   const char *resolution, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	json_t *m = _vmessage(id, severity, related, resolution, fmt, ap);
	va_end(ap);
	return m;
}

void rf_error_msgs(struct http_req *r, unsigned status, const char *key, json_t *msgs)
{
	char code[96];
	json_t *first = json_array_get(msgs, 0);
	const char *text = first ? json_string_value(json_object_get(first, "Message")) : NULL;

	snprintf(code, sizeof(code), "%s%s", RF_BASE, key);
	rf_reply(r, status, json_pack("{s:{s:s, s:s, s:o}}", "error", "code", code, "message",
				      text ? text : "The request failed.",
				      "@Message.ExtendedInfo", msgs),
		 NULL, NULL, NULL);
}

void rf_error(struct http_req *r, unsigned status, const char *key, const char *related,
	      const char *resolution, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	json_t *m = _vmessage(key, "Critical", related, resolution, fmt, ap);
	va_end(ap);
	rf_error_msgs(r, status, key, json_pack("[o]", m));
}

json_t *rf_link(const char *path)
{
	return json_pack("{s:s}", "@odata.id", path);
}

void rf_time(char *buf, size_t size, time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* True when the method is one of allow ("GET, PATCH"); else replies 405. */
static bool _allowed(struct http_req *r, const char *allow)
{
	const char *m = http_req_method(r);
	char want[16];

	if (!strcmp(m, "HEAD"))
		m = "GET";
	snprintf(want, sizeof(want), "%s", m);
	for (const char *p = allow; (p = strstr(p, want)); p += strlen(want)) {
		size_t l = strlen(want);
		if ((p == allow || p[-1] == ' ') && (p[l] == ',' || p[l] == '\0'))
			return true;
	}
	json_t *msgs = json_pack("[o]", rf_message(
		"OperationNotAllowed", "Critical", NULL, "Use one of the methods in the Allow header.",
		"%s is not allowed on %s; this resource supports %s.", http_req_method(r),
		http_req_path(r), allow));
	char code[96];
	snprintf(code, sizeof(code), "%sOperationNotAllowed", RF_BASE);
	rf_reply(r, MHD_HTTP_METHOD_NOT_ALLOWED,
		 json_pack("{s:{s:s, s:s, s:o}}", "error", "code", code, "message",
			   "The HTTP method is not allowed on this resource.",
			   "@Message.ExtendedInfo", msgs), allow, NULL, NULL);
	return false;
}

/* The GET-only resources: replies body (or 405) and takes it. */
static void _get(struct http_req *r, json_t *body)
{
	if (_allowed(r, "GET, HEAD"))
		rf_reply(r, MHD_HTTP_OK, body, "GET, HEAD", NULL, NULL);
	else
		json_decref(body);
}

void rf_not_found(struct http_req *r)
{
	rf_error(r, MHD_HTTP_NOT_FOUND, "ResourceNotFound", NULL,
		 "Check the URI; the service root /redfish/v1/ links every resource.",
		 "The resource at %s was not found.", http_req_path(r));
}

static json_t *_resource(const char *id_path, const char *type, const char *context,
			 const char *id, const char *name)
{
	char ctx[160];

	snprintf(ctx, sizeof(ctx), "/redfish/v1/$metadata#%s", context);
	json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "@odata.id", id_path, "@odata.type", type,
			      "@odata.context", ctx, "Name", name);
	if (id)
		json_object_set_new(o, "Id", json_string(id));
	return o;
}

static json_t *_collection(const char *path, const char *type, const char *name,
			   const char *member)
{
	char t[96], c[96];

	snprintf(t, sizeof(t), "#%s.%s", type, type);
	snprintf(c, sizeof(c), "%s.%s", type, type);
	json_t *o = _resource(path, t, c, NULL, name);
	json_object_set_new(o, "Members", json_pack("[o]", rf_link(member)));
	json_object_set_new(o, "Members@odata.count", json_integer(1));
	return o;
}

static json_t *_status(void)
{
	return json_pack("{s:s, s:s}", "State", "Enabled", "Health", "OK");
}

static void _root(struct http_req *r)
{
	json_t *o = _resource("/redfish/v1/", "#ServiceRoot.v1_5_0.ServiceRoot",
			      "ServiceRoot.ServiceRoot", "RootService", "vmedia Redfish service");
	json_object_set_new(o, "RedfishVersion", json_string("1.6.0"));
	json_object_set_new(o, "Product", json_string("vmedia"));
	json_object_set_new(o, "Vendor", json_string("vmedia"));
	json_object_set_new(o, "Systems", rf_link("/redfish/v1/Systems"));
	json_object_set_new(o, "Managers", rf_link("/redfish/v1/Managers"));
	json_object_set_new(o, "TaskService", rf_link("/redfish/v1/TaskService"));
	json_object_set_new(o, "SessionService", rf_link("/redfish/v1/SessionService"));
	json_object_set_new(o, "Links", json_pack("{s:o}", "Sessions",
						  rf_link("/redfish/v1/SessionService/Sessions")));
	_get(r, o);
}

static void _odata(struct http_req *r)
{
	static const char *const names[][2] = {
		{ "Service", "/redfish/v1/" }, { "Systems", "/redfish/v1/Systems" },
		{ "Managers", "/redfish/v1/Managers" }, { "TaskService", "/redfish/v1/TaskService" },
		{ "SessionService", "/redfish/v1/SessionService" },
	};
	json_t *v = json_array();

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		json_array_append_new(v, json_pack("{s:s, s:s, s:s}", "name", names[i][0], "kind",
						   "Singleton", "url", names[i][1]));
	_get(r, json_pack("{s:s, s:o}", "@odata.context", "/redfish/v1/$metadata", "value", v));
}

static json_t *_system(struct app *app)
{
	json_t *o = _resource(RF_SYSTEM, "#ComputerSystem.v1_13_0.ComputerSystem",
			      "ComputerSystem.ComputerSystem", "target",
			      "The computer the KVM box is plugged into");
	(void)app;
	json_object_set_new(o, "SystemType", json_string("Physical"));
	json_object_set_new(o, "Description", json_string(
		"vmedia offers this computer virtual media over USB; power and boot order are not "
		"controlled here."));
	json_object_set_new(o, "Status", _status());
	json_object_set_new(o, "VirtualMedia", rf_link(RF_SYSTEM "/VirtualMedia"));
	/* No Reset action and a boot override that is off: vmedia neither
	 * powers nor reconfigures the target (clients such as sushy expect
	 * both properties to be there). */
	json_object_set_new(o, "Actions", json_object());
	json_object_set_new(o, "Boot", json_pack("{s:s, s:s, s:[]}", "BootSourceOverrideEnabled",
						 "Disabled", "BootSourceOverrideTarget", "None",
						 "BootSourceOverrideTarget@Redfish.AllowableValues"));
	json_object_set_new(o, "Links", json_pack("{s:[o]}", "ManagedBy", rf_link(RF_MANAGER)));
	return o;
}

static json_t *_manager(struct app *app)
{
	json_t *o = _resource(RF_MANAGER, "#Manager.v1_10_0.Manager", "Manager.Manager", "vmedia",
			      "vmedia virtual media manager");
	json_object_set_new(o, "ManagerType", json_string("Service"));
	json_object_set_new(o, "Description", json_string(
		"The KVM-over-IP box's virtual media service: USB mass-storage LUNs"));
	json_object_set_new(o, "FirmwareVersion", json_string(VMEDIA_VERSION));
	json_object_set_new(o, "Model", json_string("vmediad"));
	json_object_set_new(o, "Oem", json_pack("{s:{s:i}}", "vmedia", "Luns",
						(int)gadget_lun_count(app->gadget)));
	json_object_set_new(o, "Status", _status());
	json_object_set_new(o, "VirtualMedia", rf_link(RF_MANAGER "/VirtualMedia"));
	json_object_set_new(o, "Links", json_pack("{s:[o]}", "ManagerForServers",
						  rf_link(RF_SYSTEM)));
	return o;
}

static void _sessions(struct http_req *r, const char *const *seg, unsigned n)
{
	if (n == 1) {
		json_t *o = _resource("/redfish/v1/SessionService",
				      "#SessionService.v1_1_8.SessionService",
				      "SessionService.SessionService", "SessionService",
				      "Session Service");
		json_object_set_new(o, "Description", json_string(
			"Sessions are not offered: authenticate every request with HTTP Basic "
			"(or a bearer token)."));
		json_object_set_new(o, "ServiceEnabled", json_false());
		json_object_set_new(o, "Status", json_pack("{s:s}", "State", "Disabled"));
		json_object_set_new(o, "Sessions", rf_link("/redfish/v1/SessionService/Sessions"));
		_get(r, o);
	} else if (n == 2 && !strcmp(seg[1], "Sessions")) {
		json_t *o = _resource("/redfish/v1/SessionService/Sessions",
				      "#SessionCollection.SessionCollection",
				      "SessionCollection.SessionCollection", NULL, "Sessions");
		json_object_set_new(o, "Members", json_array());
		json_object_set_new(o, "Members@odata.count", json_integer(0));
		_get(r, o);
	} else {
		rf_not_found(r);
	}
}

/* /redfish/v1/Systems/... and /redfish/v1/Managers/... */
static void _owner(struct http_req *r, const char *const *seg, unsigned n, bool system)
{
	struct app *app = http_req_app(r);
	const char *coll = system ? "/redfish/v1/Systems" : "/redfish/v1/Managers";
	const char *id = system ? "target" : "vmedia";
	const char *base = system ? RF_SYSTEM : RF_MANAGER;

	if (n == 1) {
		_get(r, _collection(coll, system ? "ComputerSystemCollection" : "ManagerCollection",
				    system ? "Computer Systems" : "Managers", base));
		return;
	}
	if (strcmp(seg[1], id) != 0) {
		rf_not_found(r);
		return;
	}
	if (n == 2)
		_get(r, system ? _system(app) : _manager(app));
	else if (!strcmp(seg[2], "VirtualMedia"))
		rf_media(r, base, n > 3 ? seg + 3 : NULL, n > 3 ? n - 3 : 0);
	else
		rf_not_found(r);
}

bool api_redfish_public(const char *method, const char *path)
{
	static const char *const open[] = { "/redfish", "/redfish/", "/redfish/v1", "/redfish/v1/",
					    "/redfish/v1/odata" };

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return false;
	for (size_t i = 0; i < sizeof(open) / sizeof(open[0]); i++)
		if (!strcmp(path, open[i]))
			return true;
	return false;
}

void api_redfish(struct http_req *r)
{
	const char *path = http_req_path(r);
	char buf[1024];
	const char *seg[_MAX_SEG];
	unsigned n = 0;

	if (!strcmp(path, "/redfish") || !strcmp(path, "/redfish/")) {
		_get(r, json_pack("{s:s}", "v1", "/redfish/v1/"));
		return;
	}
	if (strncmp(path, "/redfish/v1", 11) != 0 || (path[11] && path[11] != '/') ||
	    strlen(path) >= sizeof(buf)) {
		rf_not_found(r);
		return;
	}
	snprintf(buf, sizeof(buf), "%s", path + 11);
	/* "/redfish/v1/Systems/" is "/redfish/v1/Systems". */
	size_t len = strlen(buf);
	if (len > 0 && buf[len - 1] == '/')
		buf[--len] = '\0';
	for (char *p = buf; *p;) {
		if (*p != '/' || n == _MAX_SEG || p[1] == '/' || p[1] == '\0') {
			rf_not_found(r);
			return;
		}
		*p++ = '\0';
		seg[n++] = p;
		p += strcspn(p, "/");
	}
	if (n == 0)
		_root(r);
	else if (n == 1 && !strcmp(seg[0], "odata"))
		_odata(r);
	else if (!strcmp(seg[0], "Systems"))
		_owner(r, seg, n, true);
	else if (!strcmp(seg[0], "Managers"))
		_owner(r, seg, n, false);
	else if (!strcmp(seg[0], "SessionService"))
		_sessions(r, seg, n);
	else if (!strcmp(seg[0], "TaskService"))
		rf_taskservice(r, seg, n);
	else
		rf_not_found(r);
}

bool rf_allowed(struct http_req *r, const char *allow)
{
	return _allowed(r, allow);
}
