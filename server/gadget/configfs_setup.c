/* configfs start-up: finds the gadget a previous vmediad left (taking it
 * over as it is, bound and with its media), adopts one another tool made,
 * or creates it with libusbgx and binds it to a UDC; reads what the LUNs
 * hold for the restore; gadget_configfs_remove() tears a gadget down.
 * Runs before any LUN worker exists. */
#include "configfs.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/log.h"

/* Reads what the kernel has in a LUN now: after a restart this is the
 * medium the host may be using. Reading `file` waits behind a writer that
 * waits behind a stalled host, so call it where blocking is allowed. */
int gadget_configfs_current(void *be, unsigned lun, char *file, size_t n, bool *cdrom, bool *ro)
{
	struct configfs *s = be;
	char path[PATH_MAX + 32], v[16];
	int e;

	if (lun >= s->nluns)
		return -1;
	configfs_lun_attr(s, lun, "file", path, sizeof(path));
	e = configfs_read_path(path, file, n);
	configfs_lun_attr(s, lun, "cdrom", path, sizeof(path));
	e = e ? e : configfs_read_path(path, v, sizeof(v));
	*cdrom = !e && v[0] == '1';
	configfs_lun_attr(s, lun, "ro", path, sizeof(path));
	e = e ? e : configfs_read_path(path, v, sizeof(v));
	*ro = !e && v[0] == '1';
	if (e)
		log_warn(CONFIGFS_MOD, "LUN %u: reading %s: %s", lun, path, strerror(e));
	return e ? -1 : 0;
}

/* --- start-up: finding or making the gadget ---------------------------- */

/* Paths of the gadget and of its function's LUNs, from libusbgx's names. */
static int _set_paths(struct configfs *s, struct err *err)
{
	char fdir[PATH_MAX - 16];
	const char *type = usbg_get_function_type_str(usbg_get_function_type(s->func));
	int n = snprintf(s->gadget_dir, sizeof(s->gadget_dir), "%s/%s/%s",
			 usbg_get_configfs_path(s->state), CONFIGFS_GADGETS_DIR,
			 usbg_get_gadget_name(s->gadget));
	int m = snprintf(fdir, sizeof(fdir), "%s/%s/%s.%s", s->gadget_dir, CONFIGFS_FUNCTIONS_DIR,
			 type ? type : "?", usbg_get_function_instance(s->func));

	if (n < 0 || (size_t)n >= sizeof(s->gadget_dir) || m < 0 || (size_t)m + 8 >= sizeof(fdir))
		return err_set(err, ERR_INVALID, "bad_config", "configfs path too long: %s",
			       s->gadget_dir);
	for (unsigned i = 0; i < GADGET_MAX_LUNS; i++)
		snprintf(s->lun_dir[i], sizeof(s->lun_dir[i]), "%s/lun.%u", fdir, i);
	return 0;
}

/* How many LUNs the function has, counting lun.0, lun.1, ... */
static unsigned _count_luns(struct configfs *s)
{
	struct stat st;
	unsigned n = 0;

	while (n < GADGET_MAX_LUNS && stat(s->lun_dir[n], &st) == 0 && S_ISDIR(st.st_mode))
		n++;
	return n;
}

static bool _func_linked(struct configfs *s)
{
	for (usbg_config *c = usbg_get_first_config(s->gadget); c; c = usbg_get_next_config(c))
		for (usbg_binding *b = usbg_get_first_binding(c); b; b = usbg_get_next_binding(b))
			if (usbg_get_binding_target(b) == s->func)
				return true;
	return false;
}

static int _usbg_fail(struct err *err, enum err_kind kind, const char *what, const char *name,
		      int rc)
{
	return err_set(err, kind, kind == ERR_CONFLICT ? "busy" : "io_error", "%s %s: %s (%s)",
		       what, name, usbg_strerror(rc), usbg_error_name(rc));
}

/* LUNs are made before the function is linked into a configuration: the
 * kernel refuses `mkdir lun.N` (EBUSY) after. lun.0 comes with the function.
 * Each says "vmedia" in its SCSI INQUIRY (vendor 8, product 16 columns). */
static int _make_luns(struct configfs *s, unsigned want, struct err *err)
{
	usbg_f_ms *mf = usbg_to_ms_function(s->func);
	struct err ierr;

	for (unsigned i = 0; i < want; i++) {
		int rc = i < _count_luns(s) ? USBG_SUCCESS : usbg_f_ms_create_lun(mf, (int)i, NULL);
		if (rc != USBG_SUCCESS)
			return _usbg_fail(err, ERR_IO, "creating", s->lun_dir[i], rc);
		if (configfs_lun_write(s, i, "removable", "1\n", err))
			return -1;
		if (configfs_lun_write(s, i, "inquiry_string", "vmedia  Virtual Media\n", &ierr))
			log_warn(CONFIGFS_MOD, "%s", ierr.message);
	}
	return 0;
}

static int _link(struct configfs *s, struct err *err)
{
	usbg_config *c = usbg_get_first_config(s->gadget);
	int rc;

	if (!c) {
		struct usbg_config_strs cs = { .configuration = "vmedia" };
		rc = usbg_create_config(s->gadget, 1, "c", NULL, &cs, &c);
		if (rc != USBG_SUCCESS)
			return _usbg_fail(err, ERR_IO, "creating configuration c.1 of", s->name, rc);
	}
	rc = usbg_add_config_function(c, NULL, s->func);
	if (rc != USBG_SUCCESS)
		return _usbg_fail(err, ERR_IO, "linking the function into", s->name, rc);
	return 0;
}

static int _create(struct configfs *s, unsigned luns, struct err *err)
{
	struct usbg_gadget_attrs ga = {
		.bcdUSB = 0x0200, .bMaxPacketSize0 = 64,
		.idVendor = 0x1d6b, .idProduct = 0x0104, .bcdDevice = 0x0100,
	};
	char serial[80], host[64] = "";
	gethostname(host, sizeof(host) - 1);
	snprintf(serial, sizeof(serial), "vmedia-%s", host[0] ? host : "0");
	struct usbg_gadget_strs gs = {
		.manufacturer = "vmedia", .product = "vmedia virtual media", .serial = serial,
	};
	int rc = usbg_create_gadget(s->state, s->name, &ga, &gs, &s->gadget);

	if (rc != USBG_SUCCESS)
		return _usbg_fail(err, ERR_IO, "creating gadget", s->name, rc);
	rc = usbg_create_function(s->gadget, USBG_F_MASS_STORAGE, CONFIGFS_INSTANCE, NULL, &s->func);
	if (rc != USBG_SUCCESS)
		return _usbg_fail(err, ERR_IO, "creating mass_storage." CONFIGFS_INSTANCE " in", s->name, rc);
	/* configfs functions start with stall=0; with it on, a command cut
	 * short (break_io) ends with a halted endpoint and a CSW as the
	 * Bulk-Only spec says, instead of padding. The kernel still turns it
	 * off for UDCs that cannot halt bulk endpoints. */
	rc = usbg_f_ms_set_stall(usbg_to_ms_function(s->func), true);
	if (rc != USBG_SUCCESS)
		return _usbg_fail(err, ERR_IO, "setting stall on mass_storage." CONFIGFS_INSTANCE " in",
				  s->name, rc);
	if (_set_paths(s, err) < 0 || _make_luns(s, luns, err) < 0 || _link(s, err) < 0)
		return -1;
	log_info(CONFIGFS_MOD, "created gadget %s with %u LUN(s)", s->name, luns);
	return 0;
}

static int _remove(usbg_gadget *g, const char *name, struct err *err)
{
	int rc;

	if (usbg_get_gadget_udc(g) && (rc = usbg_disable_gadget(g)) != USBG_SUCCESS)
		return _usbg_fail(err, ERR_IO, "unbinding gadget", name, rc);
	rc = usbg_rm_gadget(g, USBG_RM_RECURSE);
	if (rc != USBG_SUCCESS)
		return _usbg_fail(err, ERR_IO, "removing gadget", name, rc);
	return 0;
}

/* An existing gadget of our name is ours from an earlier run: with the
 * same LUN count it is taken over untouched (media stay in). With another
 * count it is made anew, but only if no LUN holds a medium; one without
 * our function is made anew only if it has no function at all (a start-up
 * that failed half-way), as it may belong to another tool. */
static int _take_over_or_create(struct configfs *s, unsigned luns, struct err *err)
{
	s->gadget = usbg_get_gadget(s->state, s->name);
	if (!s->gadget)
		return _create(s, luns, err);
	s->func = usbg_get_function(s->gadget, USBG_F_MASS_STORAGE, CONFIGFS_INSTANCE);
	if (!s->func && usbg_get_first_function(s->gadget))
		return err_set(err, ERR_CONFLICT, "busy",
			       "gadget %s exists without mass_storage." CONFIGFS_INSTANCE " (made by another "
			       "tool?): use --adopt --function, or another --gadget", s->name);
	if (s->func) {
		if (_set_paths(s, err) < 0)
			return -1;
		unsigned have = _count_luns(s);
		if (have == luns) {
			log_info(CONFIGFS_MOD, "taking over gadget %s from an earlier run; its media stay in",
				 s->name);
			return _func_linked(s) ? 0 : _link(s, err);
		}
		for (unsigned i = 0; i < have; i++) {
			char f[PATH_MAX] = "", path[PATH_MAX + 32];
			configfs_lun_attr(s, i, "file", path, sizeof(path));
			if (configfs_read_path(path, f, sizeof(f)) == 0 && f[0])
				return err_set(err, ERR_CONFLICT, "busy",
					       "gadget %s exists with %u LUN(s), not %u, and LUN %u "
					       "holds %s: not removing it under the host; eject it "
					       "or start with --luns %u", s->name, have, luns, i, f,
					       have);
		}
	}
	log_warn(CONFIGFS_MOD, "gadget %s has %u LUN(s), %u wanted, and no media: making it anew",
		 s->name, s->func ? _count_luns(s) : 0, luns);
	if (_remove(s->gadget, s->name, err) < 0)
		return -1;
	s->func = NULL;
	return _create(s, luns, err);
}

static int _bind(struct configfs *s, const char *want, struct err *err)
{
	char path[PATH_MAX + 8];

	snprintf(path, sizeof(path), "%s/UDC", s->gadget_dir);
	int e = configfs_read_path(path, s->udc, sizeof(s->udc));
	if (e)
		return err_set(err, ERR_IO, "io_error", "reading %s: %s", path, strerror(e));
	if (s->udc[0]) {
		if (want && want[0] && strcmp(want, s->udc) != 0)
			log_warn(CONFIGFS_MOD, "gadget %s stays bound to %s, not %s: rebinding would "
				 "disconnect the host", s->name, s->udc, want);
		return 0;
	}
	usbg_udc *u = want && want[0] ? usbg_get_udc(s->state, want) :
		      usbg_get_first_udc(s->state);
	if (!u)
		return err_set(err, ERR_UNAVAILABLE, "unavailable",
			       "no UDC %s%sin /sys/class/udc: load the controller's driver "
			       "(e.g. dummy_hcd for tests) or name one with --udc",
			       want && want[0] ? want : "", want && want[0] ? " " : "");
	int rc = usbg_enable_gadget(s->gadget, u);
	if (rc != USBG_SUCCESS)
		return _usbg_fail(err, rc == USBG_ERROR_BUSY ? ERR_CONFLICT : ERR_IO,
				  "binding gadget to", usbg_get_udc_name(u), rc);
	snprintf(s->udc, sizeof(s->udc), "%s", usbg_get_udc_name(u));
	return 0;
}

/* opts->function is "<type>.<instance>", e.g. "mass_storage.usb0". */
static int _adopt(struct configfs *s, const struct gadget_configfs_options *opts, struct err *err)
{
	const char *fn = opts->function && opts->function[0] ? opts->function :
			 "mass_storage." CONFIGFS_INSTANCE;
	const char *dot = strchr(fn, '.');
	char type[64];

	if (!dot || dot == fn || (size_t)(dot - fn) >= sizeof(type) || !dot[1])
		return err_set(err, ERR_INVALID, "bad_config",
			       "function \"%s\" is not <type>.<instance>", fn);
	snprintf(type, sizeof(type), "%.*s", (int)(dot - fn), fn);
	if (usbg_lookup_function_type(type) != USBG_F_MASS_STORAGE)
		return err_set(err, ERR_INVALID, "bad_config",
			       "function \"%s\" is not a mass_storage function", fn);
	s->gadget = usbg_get_gadget(s->state, s->name);
	if (!s->gadget)
		return err_set(err, ERR_UNAVAILABLE, "unavailable", "no gadget %s in %s/%s to adopt",
			       s->name, usbg_get_configfs_path(s->state), CONFIGFS_GADGETS_DIR);
	s->func = usbg_get_function(s->gadget, USBG_F_MASS_STORAGE, dot + 1);
	if (!s->func)
		return err_set(err, ERR_UNAVAILABLE, "unavailable", "gadget %s has no function %s",
			       s->name, fn);
	if (_set_paths(s, err) < 0)
		return -1;
	unsigned have = _count_luns(s);
	if (have < s->nluns)
		return err_set(err, ERR_UNAVAILABLE, "unavailable",
			       "function %s of gadget %s has %u LUN(s), %u asked for; adopting "
			       "creates nothing", fn, s->name, have, s->nluns);
	if (have > s->nluns)
		log_warn(CONFIGFS_MOD, "%s has %u LUN(s); using the first %u", fn, have, s->nluns);
	char path[PATH_MAX + 8];
	snprintf(path, sizeof(path), "%s/UDC", s->gadget_dir);
	configfs_read_path(path, s->udc, sizeof(s->udc));
	log_info(CONFIGFS_MOD, "adopted %s of gadget %s (UDC %s)", fn, s->name,
		 s->udc[0] ? s->udc : "none");
	return 0;
}

static int _open(usbg_state **state, const struct gadget_configfs_options *opts, struct err *err)
{
	const char *root = opts->configfs_root && opts->configfs_root[0] ? opts->configfs_root :
			   CONFIGFS_DEFAULT_ROOT;
	int rc = usbg_init(root, state);

	if (rc != USBG_SUCCESS)
		return err_set(err, ERR_UNAVAILABLE, "unavailable",
			       "cannot open %s/%s: %s (is configfs mounted, libcomposite loaded?)",
			       root, CONFIGFS_GADGETS_DIR, usbg_strerror(rc));
	return 0;
}

void *gadget_configfs_new(const struct gadget_configfs_options *opts, struct err *err)
{
	struct configfs *s;

	if (opts->luns < 1 || opts->luns > GADGET_MAX_LUNS) {
		err_set(err, ERR_INVALID, "bad_config", "between 1 and %d LUNs, not %u",
			GADGET_MAX_LUNS, opts->luns);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		abort();
	pthread_mutex_init(&s->lock, NULL);
	s->state_fd = -1;
	s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->nluns = opts->luns;
	const char *name = opts->gadget && opts->gadget[0] ? opts->gadget : CONFIGFS_DEFAULT_GADGET;
	if (strlen(name) >= sizeof(s->name) || strchr(name, '/') || name[0] == '.') {
		err_set(err, ERR_INVALID, "bad_config", "gadget name \"%s\": want up to %d "
			"characters, no '/', not starting with '.'", name, USBG_MAX_NAME_LENGTH);
		goto out_free;
	}
	snprintf(s->name, sizeof(s->name), "%s", name);
	if (_open(&s->state, opts, err) < 0)
		goto out_free;
	if (opts->adopt) {
		if (_adopt(s, opts, err) < 0)
			goto out_free;
	} else if (_take_over_or_create(s, opts->luns, err) < 0 || _bind(s, opts->udc, err) < 0) {
		goto out_free;
	}
	log_info(CONFIGFS_MOD, "gadget %s: %u LUN(s) from %s, UDC %s", s->name, s->nluns,
		 s->lun_dir[0], s->udc[0] ? s->udc : "none (not bound)");
	return s;

out_free:
	configfs_destroy(s);
	return NULL;
}

/* For --remove-gadget: unbinds the gadget (the host loses its media) and
 * removes it with its configurations, functions and LUNs. */
int gadget_configfs_remove(const struct gadget_configfs_options *opts, struct err *err)
{
	const char *name = opts->gadget && opts->gadget[0] ? opts->gadget : CONFIGFS_DEFAULT_GADGET;
	usbg_state *state;
	int rc;

	if (_open(&state, opts, err) < 0)
		return -1;
	usbg_gadget *g = usbg_get_gadget(state, name);
	if (!g)
		rc = err_set(err, ERR_NOT_FOUND, "not_found", "there is no gadget %s", name);
	else
		rc = _remove(g, name, err);
	if (rc == 0)
		log_info(CONFIGFS_MOD, "removed gadget %s", name);
	usbg_cleanup(state);
	return rc;
}
