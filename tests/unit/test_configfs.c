/* The configfs backend against a fake configfs in a temp directory.
 *
 * libusbgx takes any configfs root, but a plain directory is not configfs:
 * the kernel fills a new gadget/function/LUN directory with its attributes
 * and refuses some writes. This file stands in for the kernel by
 * interposing mkdir/rmdir/write/fwrite (and scandir of /sys/class/udc),
 * with the rules from shared/reference/kernel-facts.md that the backend has
 * to respect:
 * - mkdir lun.N fails with EBUSY once the function is linked into a config;
 * - a zero-byte write to an attribute fails with EFAULT;
 * - cdrom and ro fail with EBUSY while a file is open;
 * - `file` drops one trailing newline; forced_eject empties `file`;
 * - removing a gadget/function item takes its default entries with it.
 * Any write can also be made to fail with a chosen errno, as the kernel's
 * would (EBUSY for a locked medium, ETIMEDOUT from the patched forced_eject). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "gadget/gadget.h"

#define FUNC "usb_gadget/vmedia/functions/mass_storage.usb0"
#define UDC "fake_udc.0"

/* --- the fake kernel ---------------------------------------------------- */

static char root[64];		/* the fake configfs */
static char udc_dir[96];	/* stands in for /sys/class/udc */
static bool fake_break_io;	/* the patched kernel's lun.N/break_io */
static char fail_suffix[64];	/* a write to a path ending so fails... */
static int fail_errno;		/* ...with this errno */
static struct { char path[256]; char data[256]; } wlog[256];
static int nwlog, nmkdir;

static ssize_t _raw_write(int fd, const void *buf, size_t n)
{
	return syscall(SYS_write, fd, buf, n);
}

static const char *_rel(const char *path)
{
	size_t n = strlen(root);

	if (!root[0] || strncmp(path, root, n) != 0 || (path[n] != '/' && path[n]))
		return NULL;
	return path[n] ? path + n + 1 : path + n;
}

/* Collapses "//" and drops a trailing "/", as libusbgx's paths have both. */
static void _norm(const char *in, char *out, size_t n)
{
	size_t j = 0;

	for (size_t i = 0; in[i] && j + 1 < n; i++)
		if (!(in[i] == '/' && j > 0 && out[j - 1] == '/'))
			out[j++] = in[i];
	while (j > 1 && out[j - 1] == '/')
		j--;
	out[j] = '\0';
}

static void _touch(const char *dir, const char *name, const char *content)
{
	char p[1024];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	_raw_write(fd, content, strlen(content));
	close(fd);
}

static void _subdir(const char *dir, const char *name)
{
	char p[1024];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	mkdirat(AT_FDCWD, p, 0755);
}

/* Splits "usb_gadget/g/functions/f/lun.0" into at most 8 components. */
static int _split(const char *rel, char comp[8][64])
{
	int n = 0;

	for (const char *p = rel; *p && n < 8; n++) {
		size_t len = strcspn(p, "/");
		snprintf(comp[n], 64, "%.*s", (int)len, p);
		p += len;
		p += *p == '/';
	}
	return n;
}

/* True if a config of the gadget that owns function dir fdir links it. */
static bool _linked(const char *fdir)
{
	char cdir[600], p[1300], target[512];
	const char *fname = strrchr(fdir, '/') + 1;

	snprintf(cdir, sizeof(cdir), "%.*s/configs", (int)(fname - fdir - 11), fdir);
	DIR *d = opendir(cdir);
	struct dirent *de;
	bool found = false;
	while (d && (de = readdir(d)) != NULL && !found) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s/%s", cdir, de->d_name, fname);
		ssize_t n = readlink(p, target, sizeof(target) - 1);
		found = n > 0;
	}
	if (d)
		closedir(d);
	return found;
}

static void _populate(const char *dir, const char *rel)
{
	char c[8][64];
	int n = _split(rel, c);

	if (n == 2 && !strcmp(c[0], "usb_gadget")) {
		const char *attrs[] = { "idVendor", "idProduct", "bcdDevice", "bDeviceClass",
					"bDeviceSubClass", "bDeviceProtocol" };
		for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
			_touch(dir, attrs[i], "0x0000\n");
		_touch(dir, "bcdUSB", "0x0200\n");
		_touch(dir, "bMaxPacketSize0", "0x40\n");
		_touch(dir, "UDC", "\n");
		_subdir(dir, "functions");
		_subdir(dir, "configs");
		_subdir(dir, "strings");
		_subdir(dir, "os_desc");
	} else if (n == 4 && !strcmp(c[2], "functions") && !strncmp(c[3], "mass_storage.", 13)) {
		char lun0[1024];
		_touch(dir, "stall", "1\n");
		snprintf(lun0, sizeof(lun0), "%s/lun.0", dir);
		assert_int_equal(mkdir(lun0, 0755), 0);
	} else if (n == 5 && !strcmp(c[2], "functions") && !strncmp(c[4], "lun.", 4)) {
		_touch(dir, "file", "\n");
		_touch(dir, "ro", "0\n");
		_touch(dir, "cdrom", "0\n");
		_touch(dir, "nofua", "0\n");
		_touch(dir, "removable", "1\n");
		_touch(dir, "inquiry_string", "\n");
		_touch(dir, "forced_eject", "");
		if (fake_break_io)
			_touch(dir, "break_io", "");
	} else if (n == 4 && !strcmp(c[2], "configs")) {
		_touch(dir, "MaxPower", "2\n");
		_touch(dir, "bmAttributes", "0x80\n");
		_subdir(dir, "strings");
	} else if (n == 4 && !strcmp(c[2], "strings")) {
		_touch(dir, "manufacturer", "\n");
		_touch(dir, "product", "\n");
		_touch(dir, "serialnumber", "\n");
	} else if (n == 6 && !strcmp(c[2], "configs") && !strcmp(c[4], "strings")) {
		_touch(dir, "configuration", "\n");
	}
}

int mkdir(const char *path, mode_t mode)
{
	char p[512];
	const char *rel;

	_norm(path, p, sizeof(p));
	rel = _rel(p);
	if (rel && strstr(rel, "/functions/") && strstr(rel, "/lun.")) {
		char fdir[512];
		snprintf(fdir, sizeof(fdir), "%.*s", (int)(strrchr(p, '/') - p), p);
		if (_linked(fdir)) {
			errno = EBUSY;
			return -1;
		}
	}
	if (mkdirat(AT_FDCWD, p, mode) < 0)
		return -1;
	if (rel) {
		nmkdir++;
		_populate(p, rel);
	}
	return 0;
}

/* Removes the entries the kernel made with an item, as the kernel does. */
static void _clear_defaults(const char *dir)
{
	static const char *defaults[] = { "functions", "configs", "strings", "os_desc", "lun.0" };
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[600];

	while (d && (de = readdir(d)) != NULL) {
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (de->d_type == DT_REG) {
			unlink(p);
			continue;
		}
		for (size_t i = 0; de->d_type == DT_DIR && i < 5; i++) {
			if (!strcmp(de->d_name, defaults[i])) {
				_clear_defaults(p);
				unlinkat(AT_FDCWD, p, AT_REMOVEDIR);
			}
		}
	}
	if (d)
		closedir(d);
}

int rmdir(const char *path)
{
	char p[512];

	_norm(path, p, sizeof(p));
	if (_rel(p))
		_clear_defaults(p);
	return unlinkat(AT_FDCWD, p, AT_REMOVEDIR);
}

static bool _fd_path(int fd, char *out, size_t n)
{
	char link[64];

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t len = readlink(link, out, n - 1);
	if (len < 0)
		return false;
	out[len] = '\0';
	return true;
}

static void _log_write(const char *rel, const void *buf, size_t n)
{
	if (nwlog >= (int)(sizeof(wlog) / sizeof(wlog[0])))
		return;
	snprintf(wlog[nwlog].path, sizeof(wlog[nwlog].path), "%s", rel);
	snprintf(wlog[nwlog].data, sizeof(wlog[nwlog].data), "%.*s", (int)n, (const char *)buf);
	nwlog++;
}

static bool _ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void _sibling(const char *path, const char *name, char *out, size_t n)
{
	snprintf(out, n, "%.*s/%s", (int)(strrchr(path, '/') - path), path, name);
}

static bool _has_file(const char *attr_path)
{
	char p[600];
	struct stat st;

	_sibling(attr_path, "file", p, sizeof(p));
	return stat(p, &st) == 0 && st.st_size > 1;	/* "\n" is empty */
}

/* A configfs attribute write: the whole value replaces the old one. */
ssize_t write(int fd, const void *buf, size_t n)
{
	char path[512], sib[600];
	const char *rel;

	if (!_fd_path(fd, path, sizeof(path)) || !(rel = _rel(path)))
		return _raw_write(fd, buf, n);
	_log_write(rel, buf, n);
	if (fail_suffix[0] && _ends_with(path, fail_suffix)) {
		errno = fail_errno;
		return -1;
	}
	if (n == 0) {
		errno = EFAULT;
		return -1;
	}
	const char *attr = strrchr(path, '/') + 1;
	bool lun = strstr(rel, "/lun.") != NULL;
	size_t len = n;
	if (lun && (!strcmp(attr, "ro") || !strcmp(attr, "cdrom")) && _has_file(path)) {
		errno = EBUSY;
		return -1;
	}
	if (lun && !strcmp(attr, "forced_eject")) {
		_sibling(path, "file", sib, sizeof(sib));
		truncate(sib, 0);
		return (ssize_t)n;
	}
	if (lun && !strcmp(attr, "break_io"))
		return (ssize_t)n;
	if (lun && !strcmp(attr, "file") && ((const char *)buf)[n - 1] == '\n')
		len--;
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, len, 0) != (ssize_t)len)
		return -1;
	return (ssize_t)n;
}

/* libusbgx writes with stdio (gadget strings, UDC): logged, not checked. */
size_t fwrite(const void *restrict buf, size_t size, size_t nmemb, FILE *restrict fp)
{
	static size_t (*real)(const void *, size_t, size_t, FILE *);
	char path[512];
	const char *rel;

	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "fwrite");
	if (_fd_path(fileno(fp), path, sizeof(path)) && (rel = _rel(path)))
		_log_write(rel, buf, size * nmemb);
	return real(buf, size, nmemb, fp);
}

int scandir(const char *restrict dir, struct dirent ***restrict list,
	    int (*filter)(const struct dirent *),
	    int (*compar)(const struct dirent **, const struct dirent **))
{
	static int (*real)(const char *, struct dirent ***, int (*)(const struct dirent *),
			   int (*)(const struct dirent **, const struct dirent **));

	/* With a 64-bit off_t the headers name this definition scandir64,
	 * and that is the one to pass on to (on 64-bit machines another name
	 * of scandir). */
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "scandir64");
	return real(strcmp(dir, "/sys/class/udc") == 0 ? udc_dir : dir, list, filter, compar);
}

#ifdef __USE_FILE_OFFSET64
/* With -D_FILE_OFFSET_BITS=64 the definition above is scandir64, but
 * libusbgx, built without it, calls scandir: on armhf the 32-bit one, on
 * 64-bit machines another name of the same. Its entries are passed on, not
 * read, so their type does not matter here. */
int scandir_32(const char *dir, void *list, void *filter, void *compar) __asm__("scandir");
int scandir_32(const char *dir, void *list, void *filter, void *compar)
{
	static int (*real)(const char *, void *, void *, void *);

	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "scandir");
	return real(strcmp(dir, "/sys/class/udc") == 0 ? udc_dir : dir, list, filter, compar);
}
#endif

/* libusbgx 0.2.0 leaks the label it splits off each existing config
 * directory ("c" of c.1) in usbg_init(): 2 bytes per config per init, not
 * ours to free; only that strndup is suppressed, a leak of ours still
 * fails the ASan build. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:strndup\n";
}

/* --- helpers ------------------------------------------------------------ */

static int _setup(void **state)
{
	char p[128];

	(void)state;
	const char *tmp = getenv("TMPDIR");	/* tools/test.sh: tmpfs for armhf */
	if (!tmp || !*tmp || strlen(tmp) > sizeof(root) - sizeof("/vmedia-cfs-XXXXXX"))
		tmp = "/tmp";
	snprintf(root, sizeof(root), "%s/vmedia-cfs-XXXXXX", tmp);
	assert_non_null(mkdtemp(root));
	snprintf(p, sizeof(p), "%s/usb_gadget", root);
	assert_int_equal(mkdirat(AT_FDCWD, p, 0755), 0);
	snprintf(udc_dir, sizeof(udc_dir), "%s/class-udc", root);
	assert_int_equal(mkdirat(AT_FDCWD, udc_dir, 0755), 0);
	snprintf(p, sizeof(p), "%s/" UDC, udc_dir);
	assert_int_equal(mkdirat(AT_FDCWD, p, 0755), 0);
	fake_break_io = false;
	fail_suffix[0] = '\0';
	nwlog = nmkdir = 0;
	return 0;
}

static int _teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	root[0] = '\0';
	return system(cmd);
}

static struct gadget_configfs_options _opts(unsigned luns)
{
	return (struct gadget_configfs_options){ .configfs_root = root, .gadget = "vmedia",
						 .luns = luns };
}

static void *_new(unsigned luns)
{
	struct gadget_configfs_options o = _opts(luns);
	struct err e = { 0 };
	void *be = gadget_configfs_new(&o, &e);

	if (!be)
		fail_msg("gadget_configfs_new: %s", e.message);
	return be;
}

/* The content of an attribute under the fake root, newline dropped. */
static const char *_attr(const char *rel)
{
	static char buf[512];
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	int fd = open(p, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return n < 0 ? NULL : buf;
}

/* The index of the first logged write to rel at or after from, or -1. */
static int _wfind(const char *rel, int from)
{
	for (int i = from; i < nwlog; i++)
		if (!strcmp(wlog[i].path, rel))
			return i;
	return -1;
}

static void _fail_writes(const char *suffix, int e)
{
	snprintf(fail_suffix, sizeof(fail_suffix), "%s", suffix);
	fail_errno = e;
}

/* --- the fake itself ---------------------------------------------------- */

static void test_fake_kernel_refuses_a_lun_after_the_link(void **state)
{
	void *be = _new(1);
	char p[256];

	(void)state;
	snprintf(p, sizeof(p), "%s/" FUNC "/lun.5", root);
	assert_int_equal(mkdir(p, 0755), -1);
	assert_int_equal(errno, EBUSY);
	gadget_configfs_ops.destroy(be);
}

/* --- creating ------------------------------------------------------------ */

static void test_new_gadget_has_its_luns_linked_and_bound_to_the_first_udc(void **state)
{
	void *be = _new(3);

	(void)state;
	assert_string_equal(_attr("usb_gadget/vmedia/idVendor"), "0x1d6b");
	assert_string_equal(_attr("usb_gadget/vmedia/idProduct"), "0x0104");
	assert_string_equal(_attr("usb_gadget/vmedia/strings/0x409/manufacturer"), "vmedia");
	assert_string_equal(_attr("usb_gadget/vmedia/strings/0x409/product"),
			    "vmedia virtual media");
	for (unsigned i = 0; i < 3; i++) {
		char rel[128];
		snprintf(rel, sizeof(rel), FUNC "/lun.%u/removable", i);
		assert_non_null(_attr(rel));
		assert_string_equal(_attr(rel), "1");
		snprintf(rel, sizeof(rel), FUNC "/lun.%u/inquiry_string", i);
		assert_string_equal(_attr(rel), "vmedia  Virtual Media");
	}
	assert_null(_attr(FUNC "/lun.3/file"));
	char link[256], target[256];
	snprintf(link, sizeof(link), "%s/usb_gadget/vmedia/configs/c.1/mass_storage.usb0", root);
	assert_true(readlink(link, target, sizeof(target)) > 0);
	assert_string_equal(_attr("usb_gadget/vmedia/UDC"), UDC);
	assert_string_equal(gadget_configfs_ops.udc_name(be), UDC);
	assert_string_equal(gadget_configfs_ops.gadget_name(be), "vmedia");
	gadget_configfs_ops.destroy(be);
	/* destroy leaves the gadget bound */
	assert_string_equal(_attr("usb_gadget/vmedia/UDC"), UDC);
}

static void test_new_without_a_udc_says_so(void **state)
{
	struct gadget_configfs_options o = _opts(1);
	struct err e = { 0 };
	char p[160];

	(void)state;
	snprintf(p, sizeof(p), "%s/" UDC, udc_dir);
	rmdir(p);
	assert_null(gadget_configfs_new(&o, &e));
	assert_int_equal(e.kind, ERR_UNAVAILABLE);
	assert_non_null(strstr(e.message, "/sys/class/udc"));
}

static void test_a_gadget_name_that_is_not_one_directory_is_refused(void **state)
{
	struct gadget_configfs_options o = _opts(1);
	struct err e = { 0 };

	(void)state;
	o.gadget = "../vmedia";
	assert_null(gadget_configfs_new(&o, &e));
	assert_int_equal(e.kind, ERR_INVALID);
	o.gadget = "a-name-longer-than-forty-characters-xxxxxxx";
	assert_null(gadget_configfs_new(&o, &e));
	assert_int_equal(e.kind, ERR_INVALID);
	assert_int_equal(nmkdir, 0);
}

/* --- the LUN attributes -------------------------------------------------- */

static void test_insert_writes_cdrom_then_ro_then_file_of_that_lun(void **state)
{
	void *be = _new(2);
	struct err e = { 0 };

	(void)state;
	nwlog = 0;
	assert_int_equal(gadget_configfs_ops.set_flags(be, 1, true, true, &e), 0);
	assert_int_equal(gadget_configfs_ops.set_file(be, 1, "/srv/images/x.iso", &e), 0);
	int cd = _wfind(FUNC "/lun.1/cdrom", 0), ro = _wfind(FUNC "/lun.1/ro", 0);
	int file = _wfind(FUNC "/lun.1/file", 0);
	assert_true(cd >= 0 && cd < ro && ro < file);
	assert_string_equal(wlog[cd].data, "1\n");
	assert_string_equal(wlog[ro].data, "1\n");
	assert_int_equal(_wfind(FUNC "/lun.0/file", 0), -1);
	assert_string_equal(_attr(FUNC "/lun.1/file"), "/srv/images/x.iso");
	assert_string_equal(_attr(FUNC "/lun.1/cdrom"), "1");
	gadget_configfs_ops.destroy(be);
}

static void test_eject_writes_a_newline_not_zero_bytes(void **state)
{
	void *be = _new(1);
	struct err e = { 0 };

	(void)state;
	assert_int_equal(gadget_configfs_ops.set_file(be, 0, "/srv/images/a.img", &e), 0);
	nwlog = 0;
	assert_int_equal(gadget_configfs_ops.set_file(be, 0, "", &e), 0);
	assert_int_equal(nwlog, 1);
	assert_string_equal(wlog[0].path, FUNC "/lun.0/file");
	assert_string_equal(wlog[0].data, "\n");
	assert_string_equal(_attr(FUNC "/lun.0/file"), "");
	gadget_configfs_ops.destroy(be);
}

static void test_flags_while_a_medium_is_in_are_busy(void **state)
{
	void *be = _new(1);
	struct err e = { 0 };

	(void)state;
	assert_int_equal(gadget_configfs_ops.set_file(be, 0, "/srv/images/a.img", &e), 0);
	assert_int_equal(gadget_configfs_ops.set_flags(be, 0, false, true, &e), -1);
	assert_int_equal(e.kind, ERR_CONFLICT);
	assert_string_equal(e.code, "busy");
	gadget_configfs_ops.destroy(be);
}

static void test_eject_of_a_locked_medium_is_a_conflict_naming_lun_path_and_errno(void **state)
{
	void *be = _new(1);
	struct err e = { 0 };
	char want[384];

	(void)state;
	_fail_writes("/lun.0/file", EBUSY);
	assert_int_equal(gadget_configfs_ops.set_file(be, 0, "", &e), -1);
	assert_int_equal(e.kind, ERR_CONFLICT);
	assert_string_equal(e.code, "medium_locked");
	snprintf(want, sizeof(want), "LUN 0: writing %s/" FUNC "/lun.0/file: %s", root,
		 strerror(EBUSY));
	assert_string_equal(e.message, want);
	gadget_configfs_ops.destroy(be);
}

static void test_other_write_errors_are_io_errors_with_the_errno_text(void **state)
{
	void *be = _new(1);
	struct err e = { 0 };

	(void)state;
	_fail_writes("/lun.0/file", ENOENT);	/* the kernel cannot open the image */
	assert_int_equal(gadget_configfs_ops.set_file(be, 0, "/gone.img", &e), -1);
	assert_int_equal(e.kind, ERR_IO);
	assert_non_null(strstr(e.message, strerror(ENOENT)));
	gadget_configfs_ops.destroy(be);
}

static void test_stock_kernel_has_forced_eject_but_no_break_io(void **state)
{
	void *be = _new(1);
	struct gadget_features f;
	struct err e = { 0 };

	(void)state;
	gadget_configfs_ops.features(be, &f);
	assert_true(f.forced_eject);
	assert_false(f.break_io);
	assert_int_equal(gadget_configfs_ops.break_io(be, 0, &e), -1);
	assert_int_equal(e.kind, ERR_UNAVAILABLE);
	gadget_configfs_ops.destroy(be);
}

static void test_patched_kernel_break_io_and_forced_eject_write_to_their_lun(void **state)
{
	void *be;
	struct gadget_features f;
	struct err e = { 0 };

	(void)state;
	fake_break_io = true;
	be = _new(2);
	gadget_configfs_ops.features(be, &f);
	assert_true(f.break_io);
	assert_int_equal(gadget_configfs_ops.set_file(be, 1, "/srv/images/a.img", &e), 0);
	nwlog = 0;
	assert_int_equal(gadget_configfs_ops.break_io(be, 1, &e), 0);
	assert_int_equal(gadget_configfs_ops.forced_eject(be, 1, &e), 0);
	assert_int_equal(nwlog, 2);
	assert_string_equal(wlog[0].path, FUNC "/lun.1/break_io");
	assert_string_equal(wlog[1].path, FUNC "/lun.1/forced_eject");
	assert_string_equal(wlog[1].data, "1\n");
	assert_string_equal(_attr(FUNC "/lun.1/file"), "");
	gadget_configfs_ops.destroy(be);
}

static void test_forced_eject_timeout_is_err_timeout(void **state)
{
	void *be = _new(1);
	struct err e = { 0 };

	(void)state;
	_fail_writes("/lun.0/forced_eject", ETIMEDOUT);
	assert_int_equal(gadget_configfs_ops.forced_eject(be, 0, &e), -1);
	assert_int_equal(e.kind, ERR_TIMEOUT);
	assert_string_equal(e.code, "timeout");
	gadget_configfs_ops.destroy(be);
}

/* --- restarts, adopting, removing ---------------------------------------- */

static void test_restart_takes_the_gadget_over_and_keeps_its_media(void **state)
{
	void *be = _new(2);
	struct err e = { 0 };
	char file[256];
	bool cdrom, ro;

	(void)state;
	assert_int_equal(gadget_configfs_ops.set_flags(be, 1, true, true, &e), 0);
	assert_int_equal(gadget_configfs_ops.set_file(be, 1, "/srv/images/boot.iso", &e), 0);
	gadget_configfs_ops.destroy(be);
	nwlog = nmkdir = 0;
	be = _new(2);
	assert_int_equal(nmkdir, 0);
	for (int i = 0; i < nwlog; i++)
		assert_false(_ends_with(wlog[i].path, "/file") || _ends_with(wlog[i].path, "/UDC"));
	assert_int_equal(gadget_configfs_current(be, 1, file, sizeof(file), &cdrom, &ro), 0);
	assert_string_equal(file, "/srv/images/boot.iso");
	assert_true(cdrom && ro);
	assert_int_equal(gadget_configfs_current(be, 0, file, sizeof(file), &cdrom, &ro), 0);
	assert_string_equal(file, "");
	assert_string_equal(gadget_configfs_ops.udc_name(be), UDC);
	gadget_configfs_ops.destroy(be);
}

static void test_other_lun_count_with_a_medium_in_is_refused(void **state)
{
	void *be = _new(2);
	struct gadget_configfs_options o = _opts(3);
	struct err e = { 0 };

	(void)state;
	assert_int_equal(gadget_configfs_ops.set_file(be, 0, "/srv/images/a.img", &e), 0);
	gadget_configfs_ops.destroy(be);
	assert_null(gadget_configfs_new(&o, &e));
	assert_int_equal(e.kind, ERR_CONFLICT);
	assert_string_equal(_attr(FUNC "/lun.0/file"), "/srv/images/a.img");
}

static void test_other_lun_count_without_media_is_rebuilt(void **state)
{
	void *be = _new(2);

	(void)state;
	gadget_configfs_ops.destroy(be);
	be = _new(3);
	assert_non_null(_attr(FUNC "/lun.2/file"));
	assert_string_equal(_attr("usb_gadget/vmedia/UDC"), UDC);
	gadget_configfs_ops.destroy(be);
}

static void test_a_gadget_of_our_name_with_another_function_is_left_alone(void **state)
{
	struct gadget_configfs_options o = _opts(1);
	struct err e = { 0 };
	char p[160];

	(void)state;
	snprintf(p, sizeof(p), "%s/usb_gadget/vmedia", root);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/usb_gadget/vmedia/functions/mass_storage.0", root);
	assert_int_equal(mkdir(p, 0755), 0);
	assert_null(gadget_configfs_new(&o, &e));
	assert_int_equal(e.kind, ERR_CONFLICT);
	assert_non_null(_attr("usb_gadget/vmedia/functions/mass_storage.0/lun.0/file"));
}

static void test_a_gadget_left_without_functions_is_made_anew(void **state)
{
	char p[160];

	(void)state;
	snprintf(p, sizeof(p), "%s/usb_gadget/vmedia", root);
	assert_int_equal(mkdir(p, 0755), 0);
	void *be = _new(2);
	assert_non_null(_attr(FUNC "/lun.1/file"));
	assert_string_equal(_attr("usb_gadget/vmedia/strings/0x409/manufacturer"), "vmedia");
	gadget_configfs_ops.destroy(be);
}

static void test_adopt_uses_an_existing_function_and_creates_nothing(void **state)
{
	struct gadget_configfs_options o = _opts(2);
	struct err e = { 0 };
	void *be = _new(3);

	(void)state;
	gadget_configfs_ops.destroy(be);
	nmkdir = nwlog = 0;
	o.adopt = true;
	o.function = "mass_storage.usb0";
	be = gadget_configfs_new(&o, &e);
	assert_non_null(be);
	assert_int_equal(nmkdir, 0);
	assert_int_equal(nwlog, 0);
	assert_int_equal(gadget_configfs_ops.set_file(be, 1, "/srv/images/a.img", &e), 0);
	assert_string_equal(_attr(FUNC "/lun.1/file"), "/srv/images/a.img");
	gadget_configfs_ops.destroy(be);

	o.luns = 4;
	assert_null(gadget_configfs_new(&o, &e));
	assert_int_equal(e.kind, ERR_UNAVAILABLE);
	o.luns = 1;
	o.function = "mass_storage.other";
	assert_null(gadget_configfs_new(&o, &e));
	assert_int_equal(e.kind, ERR_UNAVAILABLE);
	o.function = "storage";
	assert_null(gadget_configfs_new(&o, &e));
	assert_int_equal(e.kind, ERR_INVALID);
	assert_int_equal(nmkdir, 0);
}

static void test_reconnect_unbinds_then_binds_the_same_udc(void **state)
{
	void *be = _new(1);
	struct err e = { 0 };

	(void)state;
	nwlog = 0;
	assert_int_equal(gadget_configfs_ops.reconnect(be, &e), 0);
	int off = _wfind("usb_gadget/vmedia/UDC", 0);
	int on = _wfind("usb_gadget/vmedia/UDC", off + 1);
	assert_true(off >= 0 && on > off);
	assert_string_equal(wlog[off].data, "\n");
	assert_string_equal(wlog[on].data, UDC);
	assert_string_equal(_attr("usb_gadget/vmedia/UDC"), UDC);
	gadget_configfs_ops.destroy(be);
}

static void test_reconnect_of_a_gadget_left_unbound_only_binds(void **state)
{
	void *be = _new(1);
	struct err e = { 0 };
	char p[160];

	(void)state;
	snprintf(p, sizeof(p), "%s/usb_gadget/vmedia", root);
	_touch(p, "UDC", "\n");	/* as an earlier rebind that failed left it */
	nwlog = 0;
	assert_int_equal(gadget_configfs_ops.reconnect(be, &e), 0);
	assert_int_equal(nwlog, 1);
	assert_string_equal(wlog[0].path, "usb_gadget/vmedia/UDC");
	assert_string_equal(wlog[0].data, UDC);
	gadget_configfs_ops.destroy(be);
}

static void test_remove_deletes_the_gadget(void **state)
{
	struct gadget_configfs_options o = _opts(2);
	struct err e = { 0 };
	void *be = _new(2);
	char p[128];
	struct stat st;

	(void)state;
	gadget_configfs_ops.destroy(be);
	assert_int_equal(gadget_configfs_remove(&o, &e), 0);
	snprintf(p, sizeof(p), "%s/usb_gadget/vmedia", root);
	assert_int_equal(stat(p, &st), -1);
	assert_int_equal(gadget_configfs_remove(&o, &e), -1);
	assert_int_equal(e.kind, ERR_NOT_FOUND);
}

/* SIGUSR1 kills a process that does not expect it: only kernel threads of
 * that name are signalled. (This machine has no gadget, so none exist.) */
static void test_signal_io_spares_a_user_process_named_file_storage(void **state)
{
	void *be = _new(1);
	struct err e = { 0 };
	int count = -1, status;
	char p[64], comm[32] = "";

	(void)state;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_NAME, "file-storage");
		for (;;)
			pause();
	}
	snprintf(p, sizeof(p), "/proc/%d/comm", (int)pid);
	for (int i = 0; i < 200 && strcmp(comm, "file-storage\n") != 0; i++) {
		FILE *f = fopen(p, "r");
		if (f) {
			if (!fgets(comm, sizeof(comm), f))
				comm[0] = '\0';
			fclose(f);
		}
		usleep(10000);
	}
	assert_string_equal(comm, "file-storage\n");
	assert_int_equal(gadget_configfs_ops.signal_io(be, &count, &e), -1);
	assert_int_equal(count, 0);
	assert_int_equal(e.kind, ERR_UNAVAILABLE);
	usleep(50000);
	assert_int_equal(waitpid(pid, &status, WNOHANG), 0);	/* still alive */
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	gadget_configfs_ops.destroy(be);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fake_kernel_refuses_a_lun_after_the_link, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_new_gadget_has_its_luns_linked_and_bound_to_the_first_udc, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_new_without_a_udc_says_so, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_a_gadget_name_that_is_not_one_directory_is_refused, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_insert_writes_cdrom_then_ro_then_file_of_that_lun, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_eject_writes_a_newline_not_zero_bytes, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_flags_while_a_medium_is_in_are_busy, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_eject_of_a_locked_medium_is_a_conflict_naming_lun_path_and_errno, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_other_write_errors_are_io_errors_with_the_errno_text, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_stock_kernel_has_forced_eject_but_no_break_io, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_patched_kernel_break_io_and_forced_eject_write_to_their_lun, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_forced_eject_timeout_is_err_timeout, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_restart_takes_the_gadget_over_and_keeps_its_media, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_other_lun_count_with_a_medium_in_is_refused, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_other_lun_count_without_media_is_rebuilt, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_a_gadget_of_our_name_with_another_function_is_left_alone, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_a_gadget_left_without_functions_is_made_anew, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_adopt_uses_an_existing_function_and_creates_nothing, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_reconnect_unbinds_then_binds_the_same_udc, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_reconnect_of_a_gadget_left_unbound_only_binds, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_remove_deletes_the_gadget, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_signal_io_spares_a_user_process_named_file_storage, _setup, _teardown),
	};

	log_current_level = LOG_ERROR;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
