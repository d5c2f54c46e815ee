/* configfs: the real backend. libusbgx creates (or finds) the gadget, its
 * configuration and its mass_storage function, and binds it to a UDC; the
 * LUN attributes changed at run time (cdrom, ro, file, forced_eject,
 * break_io) are written here with write(2), so that every error keeps its
 * errno and names the path it happened on.
 *
 * A restart of vmediad must not eject a medium from a host that is booting
 * from it: an existing gadget of the same name and layout is taken over as
 * it is (bound, media in), and destroy leaves it so. Only
 * gadget_configfs_remove() tears a gadget down.
 *
 * Threads: the ops run on the LUN workers, several at once. The per-LUN
 * writes touch only paths computed at start-up; libusbgx (not thread-safe)
 * is used after start-up only by reconnect, under a mutex. */
#include "gadget.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <usbg/usbg.h>
#include <usbg/function/ms.h>

#include "../core/log.h"

#define CONFIGFS_MOD "CONFIGFS"
/* Directory names of the kernel's gadget configfs ABI; libusbgx keeps its
 * own copies private, so the function directory is rebuilt from these and
 * libusbgx's getters. */
#define CONFIGFS_GADGETS_DIR "usb_gadget"
#define CONFIGFS_FUNCTIONS_DIR "functions"
#define CONFIGFS_DEFAULT_ROOT "/sys/kernel/config"
#define CONFIGFS_DEFAULT_GADGET "vmedia"
#define CONFIGFS_INSTANCE "usb0"
#define CONFIGFS_PF_KTHREAD 0x00200000u	/* include/linux/sched.h */

struct _cfs {
	usbg_state *state;
	usbg_gadget *gadget;
	usbg_function *func;
	pthread_mutex_t lock;		/* libusbgx calls after start-up */
	unsigned nluns;
	char name[USBG_MAX_NAME_LENGTH + 1];
	char udc[USBG_MAX_STR_LENGTH];	/* "" when unbound */
	int state_fd;			/* /sys/class/udc/UDC/state, watched */
	int wake_fd;			/* eventfd: ends the watcher's poll */
	char gadget_dir[PATH_MAX];
	char lun_dir[GADGET_MAX_LUNS][PATH_MAX];
};

/* Writes val to path with one write(2). Returns 0 or an errno value. */
static int _write_path(const char *path, const char *val)
{
	size_t len = strlen(val);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int e = 0;

	if (fd < 0)
		return errno;
	ssize_t n = write(fd, val, len);
	if (n < 0)
		e = errno;
	else if ((size_t)n != len)
		e = EIO;	/* configfs takes all or nothing; never seen */
	close(fd);
	return e;
}

/* Reads path into buf without the trailing newline. 0 or an errno value. */
static int _read_path(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got;

	buf[0] = '\0';
	if (fd < 0)
		return errno;
	got = read(fd, buf, n - 1);
	int e = got < 0 ? errno : 0;
	close(fd);
	if (got < 0)
		return e;
	buf[got] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static void _lun_attr(struct _cfs *s, unsigned lun, const char *attr, char *out, size_t n)
{
	snprintf(out, n, "%s/%s", s->lun_dir[lun], attr);
}

/* Writes a LUN attribute; on failure fills err as ERR_IO and returns the
 * errno value, so the caller can refine the kind for the errnos it knows. */
static int _lun_write(struct _cfs *s, unsigned lun, const char *attr, const char *val,
		      struct err *err)
{
	char path[PATH_MAX + 32];

	_lun_attr(s, lun, attr, path, sizeof(path));
	int e = _write_path(path, val);
	if (e)
		err_set(err, ERR_IO, "io_error", "LUN %u: writing %s: %s", lun, path,
			strerror(e));
	return e;
}

/* Turns err (filled by _lun_write) into another kind, keeping the text. */
static int _recast(struct err *err, enum err_kind kind, const char *code)
{
	if (err) {
		err->kind = kind;
		snprintf(err->code, sizeof(err->code), "%s", code);
	}
	return -1;
}

/* --- the backend operations ------------------------------------------ */

static bool _lun0_has(struct _cfs *s, const char *attr)
{
	char path[PATH_MAX + 32];

	_lun_attr(s, 0, attr, path, sizeof(path));
	return access(path, F_OK) == 0;
}

static void _features(void *be, struct gadget_features *out)
{
	struct _cfs *s = be;

	char path[PATH_MAX + 32], val[32];

	out->break_io = _lun0_has(s, "break_io");
	out->forced_eject = _lun0_has(s, "forced_eject");
	/* vmedia's DVD-ROM patch: the largest image a cdrom LUN serves whole
	 * (a larger one is refused with EFBIG); without it, the CD limit. */
	out->cdrom_max_bytes = GADGET_CD_MAX_BYTES;
	_lun_attr(s, 0, "cdrom_max_size", path, sizeof(path));
	if (_read_path(path, val, sizeof(val)) == 0) {
		char *end;
		long long v = strtoll(val, &end, 10);
		if (end != val && *end == '\0' && v > GADGET_CD_MAX_BYTES) {
			out->large_cdrom = true;
			out->cdrom_max_bytes = v;
		}
	}
}

/* The kernel refuses both while a file is open (EBUSY), so they are set
 * before `file`; cdrom first, as a CD-ROM LUN is always read-only. */
static int _set_flags(void *be, unsigned lun, bool cdrom, bool ro, struct err *err)
{
	struct _cfs *s = be;
	int e = _lun_write(s, lun, "cdrom", cdrom ? "1\n" : "0\n", err);

	if (!e)
		e = _lun_write(s, lun, "ro", ro ? "1\n" : "0\n", err);
	if (e == EBUSY)
		return _recast(err, ERR_CONFLICT, "busy");
	return e ? -1 : 0;
}

/* "" ejects. A zero-byte write to configfs fails with EFAULT, so the eject
 * is written as "\n" (the kernel strips one trailing newline). */
static int _set_file(void *be, unsigned lun, const char *path, struct err *err)
{
	struct _cfs *s = be;
	int e = _lun_write(s, lun, "file", path[0] ? path : "\n", err);

	if (e == EBUSY)
		return _recast(err, ERR_CONFLICT, "medium_locked");
	return e ? -1 : 0;
}

static int _forced_eject(void *be, unsigned lun, struct err *err)
{
	int e = _lun_write(be, lun, "forced_eject", "1\n", err);

	if (e == ETIMEDOUT)
		return _recast(err, ERR_TIMEOUT, "timeout");
	if (e == ENOENT)
		return _recast(err, ERR_UNAVAILABLE, "unavailable");
	return e ? -1 : 0;
}

static int _break_io(void *be, unsigned lun, struct err *err)
{
	int e = _lun_write(be, lun, "break_io", "1\n", err);

	if (e == ENOENT)
		return _recast(err, ERR_UNAVAILABLE, "unavailable");
	/* v2 of the patch: the LUN had no command in progress to end. */
	if (e == ENODATA)
		return _recast(err, ERR_NOT_FOUND, "nothing_to_break");
	return e ? -1 : 0;
}

/* True if /proc/<pid> is a kernel thread named "file-storage": a user
 * process may take that name too, and SIGUSR1 would kill it. */
static bool _is_fsg_thread(const char *pid)
{
	char path[64], buf[512];
	unsigned flags = 0;

	snprintf(path, sizeof(path), "/proc/%s/comm", pid);
	if (_read_path(path, buf, sizeof(buf)) || strcmp(buf, "file-storage") != 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	if (_read_path(path, buf, sizeof(buf)))
		return false;
	const char *p = strrchr(buf, ')');	/* comm may hold spaces */
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %u", &flags) != 1)
		return false;
	return flags & CONFIGFS_PF_KTHREAD;
}

static int _signal_io(void *be, int *count, struct err *err)
{
	DIR *d = opendir("/proc");
	struct dirent *de;

	(void)be;
	*count = 0;
	if (!d)
		return err_set(err, ERR_IO, "io_error", "opening /proc: %s", strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9' || !_is_fsg_thread(de->d_name))
			continue;
		if (kill((pid_t)atoi(de->d_name), SIGUSR1) == 0)
			(*count)++;
		else
			log_warn(CONFIGFS_MOD, "SIGUSR1 to file-storage thread %s: %s", de->d_name,
				 strerror(errno));
	}
	closedir(d);
	if (*count == 0)
		return err_set(err, ERR_UNAVAILABLE, "unavailable",
			       "no file-storage kernel thread to signal (is the gadget bound?)");
	return 0;
}

/* Unbinds (unless a failed rebind left the gadget unbound already) and
 * binds again to the same UDC: the host sees a new device. */
static int _reconnect(void *be, struct err *err)
{
	struct _cfs *s = be;
	char path[PATH_MAX + 8], bound[USBG_MAX_STR_LENGTH];
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	usbg_udc *u = s->udc[0] ? usbg_get_udc(s->state, s->udc) : NULL;
	snprintf(path, sizeof(path), "%s/UDC", s->gadget_dir);
	if (!u) {
		rc = err_set(err, ERR_UNAVAILABLE, "unavailable",
			     "gadget %s is not bound to a UDC known in /sys/class/udc; "
			     "cannot reconnect it", s->name);
	} else if (_read_path(path, bound, sizeof(bound)) == 0 && bound[0] &&
		   (rc = usbg_disable_gadget(s->gadget)) != USBG_SUCCESS) {
		rc = err_set(err, ERR_IO, "io_error", "unbinding gadget %s from %s: %s", s->name,
			     s->udc, usbg_strerror(rc));
	} else if ((rc = usbg_enable_gadget(s->gadget, u)) != USBG_SUCCESS) {
		rc = err_set(err, ERR_IO, "io_error",
			     "binding gadget %s to %s again: %s; the host sees no device now",
			     s->name, s->udc, usbg_strerror(rc));
		log_warn(CONFIGFS_MOD, "%s", err ? err->message : "rebind failed");
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static const char *_gadget_name(void *be)
{
	return ((struct _cfs *)be)->name;
}

static const char *_udc_name(void *be)
{
	struct _cfs *s = be;

	return s->udc[0] ? s->udc : NULL;
}

/* The UDC core calls sysfs_notify() on "state" at every state it is
 * given, and the composite layer gives "configured" at every
 * SET_CONFIGURATION: so a notification that ends in "configured" means
 * the host has (re)configured the device, even when it went through
 * "default" too fast for anyone to read it. */
static int _usb_state(void *be, unsigned timeout_ms, char *buf, size_t size, bool *changed)
{
	struct _cfs *s = be;
	char path[PATH_MAX];
	ssize_t n;

	*changed = false;
	if (s->state_fd < 0 && s->udc[0]) {
		snprintf(path, sizeof(path), "/sys/class/udc/%s/state", s->udc);
		s->state_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (s->state_fd >= 0 && pread(s->state_fd, buf, size - 1, 0) < 0) {
			close(s->state_fd);	/* a read arms the notification */
			s->state_fd = -1;
		}
	}
	if (s->state_fd < 0)
		return -1;
	struct pollfd p[2] = { { .fd = s->state_fd, .events = POLLPRI | POLLERR },
			       { .fd = s->wake_fd, .events = POLLIN } };
	if (poll(p, s->wake_fd >= 0 ? 2 : 1, (int)timeout_ms) > 0 &&
	    (p[0].revents & (POLLPRI | POLLERR)))
		*changed = true;
	n = pread(s->state_fd, buf, size - 1, 0);
	if (n <= 0) {
		close(s->state_fd);	/* the UDC went away: open it again next time */
		s->state_fd = -1;
		return -1;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static void _usb_state_wake(void *be)
{
	struct _cfs *s = be;
	uint64_t one = 1;

	if (s->wake_fd >= 0 && write(s->wake_fd, &one, sizeof(one)) < 0)
		log_warn(CONFIGFS_MOD, "cannot wake the USB state watcher: %s", strerror(errno));
}

/* Leaves the gadget bound and its media in: see the top of the file. */
static void _destroy(void *be)
{
	struct _cfs *s = be;

	if (!s)
		return;
	if (s->state)
		usbg_cleanup(s->state);
	if (s->state_fd >= 0)
		close(s->state_fd);
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

const struct gadget_backend gadget_configfs_ops = {
	.name = "configfs",
	.simulated = false,
	.features = _features,
	.set_flags = _set_flags,
	.set_file = _set_file,
	.forced_eject = _forced_eject,
	.break_io = _break_io,
	.signal_io = _signal_io,
	.locked = NULL,		/* the kernel does not tell */
	.reconnect = _reconnect,
	.gadget_name = _gadget_name,
	.udc_name = _udc_name,
	.usb_state = _usb_state,
	.usb_state_wake = _usb_state_wake,
	.destroy = _destroy,
};

/* Reads what the kernel has in a LUN now: after a restart this is the
 * medium the host may be using. Reading `file` waits behind a writer that
 * waits behind a stalled host, so call it where blocking is allowed. */
int gadget_configfs_current(void *be, unsigned lun, char *file, size_t n, bool *cdrom, bool *ro)
{
	struct _cfs *s = be;
	char path[PATH_MAX + 32], v[16];
	int e;

	if (lun >= s->nluns)
		return -1;
	_lun_attr(s, lun, "file", path, sizeof(path));
	e = _read_path(path, file, n);
	_lun_attr(s, lun, "cdrom", path, sizeof(path));
	e = e ? e : _read_path(path, v, sizeof(v));
	*cdrom = !e && v[0] == '1';
	_lun_attr(s, lun, "ro", path, sizeof(path));
	e = e ? e : _read_path(path, v, sizeof(v));
	*ro = !e && v[0] == '1';
	if (e)
		log_warn(CONFIGFS_MOD, "LUN %u: reading %s: %s", lun, path, strerror(e));
	return e ? -1 : 0;
}

/* --- start-up: finding or making the gadget ---------------------------- */

/* Paths of the gadget and of its function's LUNs, from libusbgx's names. */
static int _set_paths(struct _cfs *s, struct err *err)
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
static unsigned _count_luns(struct _cfs *s)
{
	struct stat st;
	unsigned n = 0;

	while (n < GADGET_MAX_LUNS && stat(s->lun_dir[n], &st) == 0 && S_ISDIR(st.st_mode))
		n++;
	return n;
}

static bool _func_linked(struct _cfs *s)
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
static int _make_luns(struct _cfs *s, unsigned want, struct err *err)
{
	usbg_f_ms *mf = usbg_to_ms_function(s->func);
	struct err ierr;

	for (unsigned i = 0; i < want; i++) {
		int rc = i < _count_luns(s) ? USBG_SUCCESS : usbg_f_ms_create_lun(mf, (int)i, NULL);
		if (rc != USBG_SUCCESS)
			return _usbg_fail(err, ERR_IO, "creating", s->lun_dir[i], rc);
		if (_lun_write(s, i, "removable", "1\n", err))
			return -1;
		if (_lun_write(s, i, "inquiry_string", "vmedia  Virtual Media\n", &ierr))
			log_warn(CONFIGFS_MOD, "%s", ierr.message);
	}
	return 0;
}

static int _link(struct _cfs *s, struct err *err)
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

static int _create(struct _cfs *s, unsigned luns, struct err *err)
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
static int _take_over_or_create(struct _cfs *s, unsigned luns, struct err *err)
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
			_lun_attr(s, i, "file", path, sizeof(path));
			if (_read_path(path, f, sizeof(f)) == 0 && f[0])
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

static int _bind(struct _cfs *s, const char *want, struct err *err)
{
	char path[PATH_MAX + 8];

	snprintf(path, sizeof(path), "%s/UDC", s->gadget_dir);
	int e = _read_path(path, s->udc, sizeof(s->udc));
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
static int _adopt(struct _cfs *s, const struct gadget_configfs_options *opts, struct err *err)
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
	_read_path(path, s->udc, sizeof(s->udc));
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
	struct _cfs *s;

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
	_destroy(s);
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
