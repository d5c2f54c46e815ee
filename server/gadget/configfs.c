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
#include "configfs.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>

#include "../core/log.h"

/* Writes val to path with one write(2). Returns 0 or an errno value. */
int configfs_write_path(const char *path, const char *val)
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
int configfs_read_path(const char *path, char *buf, size_t n)
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

void configfs_lun_attr(struct configfs *s, unsigned lun, const char *attr, char *out, size_t n)
{
	snprintf(out, n, "%s/%s", s->lun_dir[lun], attr);
}

/* Writes a LUN attribute; on failure fills err as ERR_IO and returns the
 * errno value, so the caller can refine the kind for the errnos it knows. */
int configfs_lun_write(struct configfs *s, unsigned lun, const char *attr, const char *val,
		      struct err *err)
{
	char path[PATH_MAX + 32];

	configfs_lun_attr(s, lun, attr, path, sizeof(path));
	int e = configfs_write_path(path, val);
	if (e)
		err_set(err, ERR_IO, "io_error", "LUN %u: writing %s: %s", lun, path,
			strerror(e));
	return e;
}

/* Turns err (filled by configfs_lun_write) into another kind, keeping the text. */
static int _recast(struct err *err, enum err_kind kind, const char *code)
{
	if (err) {
		err->kind = kind;
		snprintf(err->code, sizeof(err->code), "%s", code);
	}
	return -1;
}

/* --- the backend operations ------------------------------------------ */

static bool _lun0_has(struct configfs *s, const char *attr)
{
	char path[PATH_MAX + 32];

	configfs_lun_attr(s, 0, attr, path, sizeof(path));
	return access(path, F_OK) == 0;
}

static void _features(void *be, struct gadget_features *out)
{
	struct configfs *s = be;

	char path[PATH_MAX + 32], val[32];

	out->break_io = _lun0_has(s, "break_io");
	out->forced_eject = _lun0_has(s, "forced_eject");
	/* vmedia's DVD-ROM patch: the largest image a cdrom LUN serves whole
	 * (a larger one is refused with EFBIG); without it, the CD limit. */
	out->cdrom_max_bytes = GADGET_CD_MAX_BYTES;
	configfs_lun_attr(s, 0, "cdrom_max_size", path, sizeof(path));
	if (configfs_read_path(path, val, sizeof(val)) == 0) {
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
	struct configfs *s = be;
	int e = configfs_lun_write(s, lun, "cdrom", cdrom ? "1\n" : "0\n", err);

	if (!e)
		e = configfs_lun_write(s, lun, "ro", ro ? "1\n" : "0\n", err);
	if (e == EBUSY)
		return _recast(err, ERR_CONFLICT, "busy");
	return e ? -1 : 0;
}

/* "" ejects. A zero-byte write to configfs fails with EFAULT, so the eject
 * is written as "\n" (the kernel strips one trailing newline). */
static int _set_file(void *be, unsigned lun, const char *path, struct err *err)
{
	struct configfs *s = be;
	int e = configfs_lun_write(s, lun, "file", path[0] ? path : "\n", err);

	if (e == EBUSY)
		return _recast(err, ERR_CONFLICT, "medium_locked");
	return e ? -1 : 0;
}

static int _forced_eject(void *be, unsigned lun, struct err *err)
{
	int e = configfs_lun_write(be, lun, "forced_eject", "1\n", err);

	if (e == ETIMEDOUT)
		return _recast(err, ERR_TIMEOUT, "timeout");
	if (e == ENOENT)
		return _recast(err, ERR_UNAVAILABLE, "unavailable");
	return e ? -1 : 0;
}

static int _break_io(void *be, unsigned lun, struct err *err)
{
	int e = configfs_lun_write(be, lun, "break_io", "1\n", err);

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
	if (configfs_read_path(path, buf, sizeof(buf)) || strcmp(buf, "file-storage") != 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	if (configfs_read_path(path, buf, sizeof(buf)))
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
	struct configfs *s = be;
	char path[PATH_MAX + 8], bound[USBG_MAX_STR_LENGTH];
	int rc = 0;

	pthread_mutex_lock(&s->lock);
	usbg_udc *u = s->udc[0] ? usbg_get_udc(s->state, s->udc) : NULL;
	snprintf(path, sizeof(path), "%s/UDC", s->gadget_dir);
	if (!u) {
		rc = err_set(err, ERR_UNAVAILABLE, "unavailable",
			     "gadget %s is not bound to a UDC known in /sys/class/udc; "
			     "cannot reconnect it", s->name);
	} else if (configfs_read_path(path, bound, sizeof(bound)) == 0 && bound[0] &&
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
	return ((struct configfs *)be)->name;
}

static const char *_udc_name(void *be)
{
	struct configfs *s = be;

	return s->udc[0] ? s->udc : NULL;
}

/* The UDC core calls sysfs_notify() on "state" at every state it is
 * given, and the composite layer gives "configured" at every
 * SET_CONFIGURATION: so a notification that ends in "configured" means
 * the host has (re)configured the device, even when it went through
 * "default" too fast for anyone to read it. */
static int _usb_state(void *be, unsigned timeout_ms, char *buf, size_t size, bool *changed)
{
	struct configfs *s = be;
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
	struct configfs *s = be;
	uint64_t one = 1;

	if (s->wake_fd >= 0 && write(s->wake_fd, &one, sizeof(one)) < 0)
		log_warn(CONFIGFS_MOD, "cannot wake the USB state watcher: %s", strerror(errno));
}

/* Leaves the gadget bound and its media in: see the top of the file. */
void configfs_destroy(void *be)
{
	struct configfs *s = be;

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
	.destroy = configfs_destroy,
};
