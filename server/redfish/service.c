/* redfish/service: routing of every /redfish path and the small
 * resources: the version document, the service root, the OData service
 * document, Systems, Managers and the SessionService (which says sessions
 * are off: clients use HTTP Basic). */
#include "internal.h"

#include <stdio.h>
#include <string.h>

#include "../core/version.h"

#define REDFISH_SEG_MAX 8

/* The GET-only resources: replies body (or 405) and takes it. */
static void _get(struct http_req *r, json_t *body)
{
	if (redfish_allowed(r, "GET, HEAD"))
		redfish_reply(r, MHD_HTTP_OK, body, "GET, HEAD", NULL, NULL);
	else
		json_decref(body);
}

static json_t *_collection(const char *path, const char *type, const char *name,
			   const char *member)
{
	char t[96];

	snprintf(t, sizeof(t), "#%s.%s", type, type);
	json_t *o = redfish_resource(path, t, NULL, name);
	json_object_set_new(o, "Members", json_pack("[o]", redfish_link(member)));
	json_object_set_new(o, "Members@odata.count", json_integer(1));
	return o;
}

static json_t *_status(void)
{
	return json_pack("{s:s, s:s}", "State", "Enabled", "Health", "OK");
}

static void _root(struct http_req *r)
{
	json_t *o = redfish_resource("/redfish/v1/", "#ServiceRoot.v1_5_0.ServiceRoot",
				     "RootService", "vmedia Redfish service");
	json_object_set_new(o, "RedfishVersion", json_string("1.6.0"));
	json_object_set_new(o, "Product", json_string("vmedia"));
	json_object_set_new(o, "Vendor", json_string("vmedia"));
	json_object_set_new(o, "Systems", redfish_link("/redfish/v1/Systems"));
	json_object_set_new(o, "Managers", redfish_link("/redfish/v1/Managers"));
	/* The property is Tasks; only the URI segment is TaskService. */
	json_object_set_new(o, "Tasks", redfish_link("/redfish/v1/TaskService"));
	json_object_set_new(o, "SessionService", redfish_link("/redfish/v1/SessionService"));
	json_object_set_new(o, "Links", json_pack(
		"{s:o}", "Sessions", redfish_link("/redfish/v1/SessionService/Sessions")));
	_get(r, o);
}

static void _odata(struct http_req *r)
{
	static const char *const names[][2] = {
		{ "Service", "/redfish/v1/" }, { "Systems", "/redfish/v1/Systems" },
		{ "Managers", "/redfish/v1/Managers" },
		{ "TaskService", "/redfish/v1/TaskService" },
		{ "SessionService", "/redfish/v1/SessionService" },
	};
	json_t *v = json_array();

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		json_array_append_new(v, json_pack("{s:s, s:s, s:s}", "name", names[i][0], "kind",
						   "Singleton", "url", names[i][1]));
	_get(r, json_pack("{s:s, s:o}", "@odata.context", "/redfish/v1/$metadata", "value", v));
}

static json_t *_system(void)
{
	json_t *o = redfish_resource(REDFISH_SYSTEM, "#ComputerSystem.v1_13_0.ComputerSystem",
				     "target", "The computer the KVM box is plugged into");
	json_object_set_new(o, "SystemType", json_string("Physical"));
	json_object_set_new(o, "Description", json_string(
		"vmedia offers this computer virtual media over USB; power and boot order are not "
		"controlled here."));
	json_object_set_new(o, "Status", _status());
	json_object_set_new(o, "VirtualMedia", redfish_link(REDFISH_SYSTEM "/VirtualMedia"));
	/* No Reset action and a boot override that is off: vmedia neither
	 * powers nor reconfigures the target (clients such as sushy expect
	 * both properties to be there). */
	json_object_set_new(o, "Actions", json_object());
	json_object_set_new(o, "Boot", json_pack(
		"{s:s, s:s, s:[]}", "BootSourceOverrideEnabled", "Disabled",
		"BootSourceOverrideTarget", "None",
		"BootSourceOverrideTarget@Redfish.AllowableValues"));
	json_object_set_new(o, "Links", json_pack("{s:[o]}", "ManagedBy",
						  redfish_link(REDFISH_MANAGER)));
	return o;
}

static json_t *_manager(struct redfish *rf)
{
	json_t *o = redfish_resource(REDFISH_MANAGER, "#Manager.v1_10_0.Manager", "vmedia",
				     "vmedia virtual media manager");
	json_object_set_new(o, "ManagerType", json_string("Service"));
	json_object_set_new(o, "Description", json_string(
		"The KVM-over-IP box's virtual media service: USB mass-storage LUNs"));
	json_object_set_new(o, "FirmwareVersion", json_string(VMEDIA_VERSION));
	json_object_set_new(o, "Model", json_string("vmediad"));
	json_object_set_new(o, "Oem", json_pack("{s:{s:s, s:i}}", "vmedia", "@odata.type",
						REDFISH_OEM_TYPE("Manager"), "Luns",
						(int)gadget_lun_count(rf->gadget)));
	json_object_set_new(o, "Status", _status());
	json_object_set_new(o, "VirtualMedia", redfish_link(REDFISH_MANAGER "/VirtualMedia"));
	json_object_set_new(o, "Links", json_pack("{s:[o]}", "ManagerForServers",
						  redfish_link(REDFISH_SYSTEM)));
	return o;
}

static void _sessions(struct http_req *r, const char *const *seg, unsigned n)
{
	if (n == 1) {
		json_t *o = redfish_resource("/redfish/v1/SessionService",
					     "#SessionService.v1_1_8.SessionService",
					     "SessionService", "Session Service");
		json_object_set_new(o, "Description", json_string(
			"Sessions are not offered: authenticate every request with HTTP Basic "
			"(or a bearer token)."));
		json_object_set_new(o, "ServiceEnabled", json_false());
		json_object_set_new(o, "Status", json_pack("{s:s}", "State", "Disabled"));
		json_object_set_new(o, "Sessions",
				    redfish_link("/redfish/v1/SessionService/Sessions"));
		_get(r, o);
	} else if (n == 2 && !strcmp(seg[1], "Sessions")) {
		json_t *o = redfish_resource("/redfish/v1/SessionService/Sessions",
					     "#SessionCollection.SessionCollection", NULL,
					     "Sessions");
		json_object_set_new(o, "Members", json_array());
		json_object_set_new(o, "Members@odata.count", json_integer(0));
		_get(r, o);
	} else {
		redfish_not_found(r);
	}
}

/* /redfish/v1/Systems/... and /redfish/v1/Managers/... */
static void _owner(struct redfish *rf, struct http_req *r, const char *const *seg, unsigned n,
		   bool system)
{
	const char *coll = system ? "/redfish/v1/Systems" : "/redfish/v1/Managers";
	const char *id = system ? "target" : "vmedia";
	const char *base = system ? REDFISH_SYSTEM : REDFISH_MANAGER;

	if (n == 1) {
		_get(r, _collection(coll, system ? "ComputerSystemCollection" : "ManagerCollection",
				    system ? "Computer Systems" : "Managers", base));
		return;
	}
	if (strcmp(seg[1], id) != 0) {
		redfish_not_found(r);
		return;
	}
	if (n == 2)
		_get(r, system ? _system() : _manager(rf));
	else if (!strcmp(seg[2], "VirtualMedia"))
		redfish_media(rf, r, base, n > 3 ? seg + 3 : NULL, n > 3 ? n - 3 : 0);
	else
		redfish_not_found(r);
}

bool redfish_public(const char *method, const char *path)
{
	static const char *const open[] = { "/redfish", "/redfish/", "/redfish/v1", "/redfish/v1/",
					    "/redfish/v1/odata", "/redfish/v1/$metadata" };

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return false;
	for (size_t i = 0; i < sizeof(open) / sizeof(open[0]); i++)
		if (!strcmp(path, open[i]))
			return true;
	return false;
}

void redfish_serve(struct redfish *rf, struct http_req *r)
{
	const char *path = http_req_path(r);
	char buf[1024];
	const char *seg[REDFISH_SEG_MAX];
	unsigned n = 0;

	if (!strcmp(path, "/redfish") || !strcmp(path, "/redfish/")) {
		_get(r, json_pack("{s:s}", "v1", "/redfish/v1/"));
		return;
	}
	if (strncmp(path, "/redfish/v1", 11) != 0 || (path[11] && path[11] != '/') ||
	    strlen(path) >= sizeof(buf)) {
		redfish_not_found(r);
		return;
	}
	snprintf(buf, sizeof(buf), "%s", path + 11);
	/* "/redfish/v1/Systems/" is "/redfish/v1/Systems". */
	size_t len = strlen(buf);
	if (len > 0 && buf[len - 1] == '/')
		buf[--len] = '\0';
	for (char *p = buf; *p;) {
		if (*p != '/' || n == REDFISH_SEG_MAX || p[1] == '/' || p[1] == '\0') {
			redfish_not_found(r);
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
	else if (n == 1 && !strcmp(seg[0], "$metadata"))
		redfish_metadata(r);
	else if (n == 2 && !strcmp(seg[0], "Schemas") &&
		 !strcmp(seg[1], REDFISH_OEM_SCHEMA + strlen("/redfish/v1/Schemas/")))
		redfish_oem_schema(r);
	else if (!strcmp(seg[0], "Systems"))
		_owner(rf, r, seg, n, true);
	else if (!strcmp(seg[0], "Managers"))
		_owner(rf, r, seg, n, false);
	else if (!strcmp(seg[0], "SessionService"))
		_sessions(r, seg, n);
	else if (!strcmp(seg[0], "TaskService"))
		redfish_taskservice(rf, r, seg, n);
	else
		redfish_not_found(r);
}
