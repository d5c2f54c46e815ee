/* files: paths inside an image, what file system an image holds, and the
 * dispatch to mtools (fat.c), The Sleuth Kit (exfat.c) or libarchive
 * (iso.c). */
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/names.h"
#include "../core/run.h"

static char *const _env[] = { "MTOOLSRC=/dev/null", "MTOOLS_SKIP_CHECK=1", "HOME=/nonexistent",
			      "LC_ALL=C", "TZ=UTC", "PATH=/usr/bin:/bin", NULL };

int files_run(const char *tool, const char *package, char *const args[], int out_fd, char *msg,
	       size_t msg_size, struct err *err)
{
	char path[64], *argv[20];
	const char *const where[] = { path, NULL };
	size_t argc = 0;

	snprintf(path, sizeof(path), "/usr/bin/%s", tool);
	if (!run_find(where))
		return err_set(err, ERR_UNAVAILABLE, "missing_tool",
			       "%s is not installed; install %s", path, package);
	argv[argc++] = path;
	for (size_t i = 0; args[i] && argc < 19; i++)
		argv[argc++] = args[i];
	argv[argc] = NULL;
	int rc = run_program(argv, _env, out_fd, msg, msg_size);
	if (rc < 0)
		return err_set(err, ERR_IO, "io_error", "%s", msg);
	return rc;
}

const char *files_last_line(char *msg)
{
	size_t n = strlen(msg);

	while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	char *nl = strrchr(msg, '\n');
	return nl ? nl + 1 : msg;
}

int files_path(const char *in, char out[FILES_PATH_MAX], struct err *err)
{
	char why[160];
	size_t len = 0;
	const char *p = in;

	out[0] = '\0';
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		size_t n = strcspn(p, "/");
		if (!names_valid(p, n, why, sizeof(why)))
			return err_set(err, ERR_INVALID, "bad_path",
				       "the path %.200s has a bad part: %s", in, why);
		if (len + 1 + n >= FILES_PATH_MAX)
			return err_set(err, ERR_INVALID, "bad_path", "the path is too long");
		out[len++] = '/';
		memcpy(out + len, p, n);
		len += n;
		out[len] = '\0';
		p += n;
	}
	if (!len)
		snprintf(out, FILES_PATH_MAX, "/");
	return 0;
}

const char *files_fs_name(enum files_fs fs)
{
	return fs == FILES_FAT ? "fat" : fs == FILES_EXFAT ? "exfat" : "iso9660";
}

static bool _fat_boot_sector(const unsigned char *b)
{
	unsigned bps = b[11] | b[12] << 8;

	return b[510] == 0x55 && b[511] == 0xAA && (bps == 512 || bps == 1024 || bps == 2048 ||
						    bps == 4096) && b[13] != 0 &&
	       (memcmp(b + 0x36, "FAT", 3) == 0 || memcmp(b + 0x52, "FAT32", 5) == 0);
}

static bool _exfat_boot_sector(const unsigned char *b)
{
	return memcmp(b + 3, "EXFAT   ", 8) == 0 && b[510] == 0x55 && b[511] == 0xAA;
}

int files_probe(const char *image, enum files_fs *fs, int64_t *offset, struct err *err)
{
	unsigned char b[0x8006];
	int fd = open(image, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return err_set(err, ERR_IO, "io_error", "cannot open the image: %s", strerror(errno));
	memset(b, 0, sizeof(b));
	n = pread(fd, b, sizeof(b), 0);
	*offset = 0;
	if (n >= 0x8006 && memcmp(b + 0x8001, "CD001", 5) == 0) {
		close(fd);
		*fs = FILES_ISO9660;
		return 0;
	}
	if (n >= 512 && _fat_boot_sector(b)) {
		close(fd);
		*fs = FILES_FAT;
		return 0;
	}
	if (n >= 512 && _exfat_boot_sector(b)) {
		close(fd);
		*fs = FILES_EXFAT;
		return 0;
	}
	/* An MBR: the first partition of a FAT type (01, 04, 06, 0b, 0c, 0e)
	 * or of exFAT's (07, which NTFS shares: the boot sector tells). */
	for (int i = 0; n >= 512 && b[510] == 0x55 && b[511] == 0xAA && i < 4; i++) {
		const unsigned char *pe = b + 0x1BE + 16 * i;
		unsigned type = pe[4];
		uint32_t lba = pe[8] | pe[9] << 8 | pe[10] << 16 | (uint32_t)pe[11] << 24;
		unsigned char bs[512];
		if (!(type == 0x01 || type == 0x04 || type == 0x06 || type == 0x07 ||
		      type == 0x0b || type == 0x0c || type == 0x0e) || lba == 0 ||
		    pread(fd, bs, sizeof(bs), (off_t)lba * 512) != 512)
			continue;
		if (type != 0x07 && _fat_boot_sector(bs))
			*fs = FILES_FAT;
		else if (type == 0x07 && _exfat_boot_sector(bs))
			*fs = FILES_EXFAT;
		else
			continue;
		close(fd);
		*offset = (int64_t)lba * 512;
		return 0;
	}
	close(fd);
	return err_set(err, ERR_INVALID, "no_filesystem",
		       "the image holds no FAT or exFAT file system (whole disk or first MBR "
		       "partition) and no ISO 9660 one, so its files cannot be read");
}

int files_list(const char *image, enum files_fs fs, int64_t offset, const char *dir,
	       struct files_entry **out, size_t *n, struct err *err)
{
	switch (fs) {
	case FILES_FAT: return files_fat_list(image, offset, dir, out, n, err);
	case FILES_EXFAT: return files_exfat_list(image, offset, dir, out, n, err);
	default: return files_iso_list(image, dir, out, n, err);
	}
}

int files_extract(const char *image, enum files_fs fs, int64_t offset, const char *path,
		  int fd, struct err *err)
{
	switch (fs) {
	case FILES_FAT: return files_fat_extract(image, offset, path, fd, err);
	case FILES_EXFAT: return files_exfat_extract(image, offset, path, fd, err);
	default: return files_iso_extract(image, path, fd, err);
	}
}

int files_put(const char *image, int64_t offset, const char *path, const char *src,
	      struct err *err)
{
	return files_fat_put(image, offset, path, src, err);
}

int files_delete(const char *image, int64_t offset, const char *path, struct err *err)
{
	return files_fat_delete(image, offset, path, err);
}
