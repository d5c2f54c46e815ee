/* files: paths inside an image, what file system an image holds, and the
 * dispatch to mtools (fat.c) or libarchive (iso.c). */
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/names.h"

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
	return fs == FILES_FAT ? "fat" : "iso9660";
}

static bool _fat_boot_sector(const unsigned char *b)
{
	unsigned bps = b[11] | b[12] << 8;

	return b[510] == 0x55 && b[511] == 0xAA && (bps == 512 || bps == 1024 || bps == 2048 ||
						    bps == 4096) && b[13] != 0 &&
	       (memcmp(b + 0x36, "FAT", 3) == 0 || memcmp(b + 0x52, "FAT32", 5) == 0);
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
	if (n >= 512 && memcmp(b + 3, "EXFAT   ", 8) == 0) {
		close(fd);
		return err_set(err, ERR_INVALID, "unsupported_filesystem",
			       "the image holds exFAT, whose files vmediad cannot read or write "
			       "(mtools knows FAT only); use a FAT32 drive to exchange files");
	}
	/* An MBR: the first partition of a FAT type (01, 04, 06, 0b, 0c, 0e). */
	for (int i = 0; n >= 512 && b[510] == 0x55 && b[511] == 0xAA && i < 4; i++) {
		const unsigned char *pe = b + 0x1BE + 16 * i;
		unsigned type = pe[4];
		uint32_t lba = pe[8] | pe[9] << 8 | pe[10] << 16 | (uint32_t)pe[11] << 24;
		unsigned char bs[512];
		if (!(type == 0x01 || type == 0x04 || type == 0x06 || type == 0x0b ||
		      type == 0x0c || type == 0x0e) || lba == 0)
			continue;
		if (pread(fd, bs, sizeof(bs), (off_t)lba * 512) == 512 && _fat_boot_sector(bs)) {
			close(fd);
			*fs = FILES_FAT;
			*offset = (int64_t)lba * 512;
			return 0;
		}
	}
	close(fd);
	return err_set(err, ERR_INVALID, "no_filesystem",
		       "the image holds no FAT file system (whole disk or first MBR partition) "
		       "and no ISO 9660 one, so its files cannot be read");
}

int files_list(const char *image, enum files_fs fs, int64_t offset, const char *dir,
	       struct files_entry **out, size_t *n, struct err *err)
{
	return fs == FILES_FAT ? files_fat_list(image, offset, dir, out, n, err) :
				 files_iso_list(image, dir, out, n, err);
}

int files_extract(const char *image, enum files_fs fs, int64_t offset, const char *path,
		  int fd, struct err *err)
{
	return fs == FILES_FAT ? files_fat_extract(image, offset, path, fd, err) :
				 files_iso_extract(image, path, fd, err);
}

int files_put(const char *image, int64_t offset, const char *path, const char *src,
	      struct err *err)
{
	return files_fat_put(image, offset, path, src, err);
}

int files_delete(const char *image, int64_t offset, const char *path, struct err *err)
{
	return _files_fat_delete(image, offset, path, err);
}
