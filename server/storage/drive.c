/* drive: new empty drives. A sparse file of the size asked for, formatted
 * FAT32 (dosfstools' mkfs.fat) or exFAT (exfatprogs' mkfs.exfat), or left
 * blank, then stored through the writer like any upload: hidden temporary
 * file, fsync, SHA-256, rename. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/log.h"
#include "../core/run.h"

#define STORAGE_MOD "STORAGE"

#define STORAGE_FAT32_MIN (64 << 20)


static const char *const _mkfs_fat[] = { "/usr/sbin/mkfs.fat", "/sbin/mkfs.fat", NULL };
static const char *const _mkfs_exfat[] = { "/usr/sbin/mkfs.exfat", "/sbin/mkfs.exfat", NULL };

/* mkfs's own words, newlines as spaces, for the error message. */
static int _mkfs(char *const argv[], char *out, size_t out_size)
{
	static char *const env[] = { "LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	int rc = run_program(argv, env, -1, out, out_size);

	for (char *p = out; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return rc == 0 ? 0 : -1;
}

/* Labels: FAT keeps 11 bytes (stored upper case, as DOS does), exFAT 15
 * characters; letters, digits, space, '-' and '_' only, so no label can be
 * read as an option or mean something else to a host. */
static int _check_label(const char *fs, const char *label, char *out, struct err *err)
{
	size_t max = strcmp(fs, "fat32") == 0 ? 11 : 15, n = strlen(label);

	if (n == 0 || n > max)
		return err_set(err, ERR_INVALID, "bad_label",
			       "a %s label has 1 to %zu characters; \"%s\" has %zu", fs, max, label, n);
	for (size_t i = 0; i < n; i++) {
		char c = label[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == ' ' || c == '-' || c == '_'))
			return err_set(err, ERR_INVALID, "bad_label",
				       "a label may hold letters, digits, space, '-' and '_' only");
		out[i] = max == 11 && c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
	}
	out[n] = '\0';
	if (label[0] == ' ' || label[0] == '-')
		return err_set(err, ERR_INVALID, "bad_label",
			       "a label may not start with a space or '-'");
	return 0;
}

static int _format(struct storage_upload *u, const struct storage_drive_options *o,
		   const char *label, struct err *err)
{
	char path[4200], out[600];
	const char *mkfs;

	if (storage_upload_path(u, path, sizeof(path)) < 0)
		return err_set(err, ERR_IO, "io_error", "the storage path is too long");
	if (strcmp(o->filesystem, "fat32") == 0) {
		if (!(mkfs = run_find(_mkfs_fat)))
			return err_set(err, ERR_UNAVAILABLE, "no_mkfs",
				       "mkfs.fat is not installed; install dosfstools");
		char *argv[] = { (char *)mkfs, "-F", "32", "-n", (char *)label, path, NULL };
		if (_mkfs(argv, out, sizeof(out)) < 0)
			return err_set(err, ERR_INVALID, "bad_size",
				       "mkfs.fat cannot make a FAT32 file system of %lld bytes: %s",
				       (long long)o->size, out);
	} else {
		if (!(mkfs = run_find(_mkfs_exfat)))
			return err_set(err, ERR_UNAVAILABLE, "no_mkfs",
				       "mkfs.exfat is not installed; install exfatprogs");
		char *argv[] = { (char *)mkfs, "-L", (char *)label, path, NULL };
		if (_mkfs(argv, out, sizeof(out)) < 0)
			return err_set(err, ERR_INVALID, "bad_size",
				       "mkfs.exfat cannot make an exFAT file system of %lld bytes: %s",
				       (long long)o->size, out);
	}
	return 0;
}

int storage_create_drive(struct storage *s, const struct storage_drive_options *o,
			 struct storage_image *out, struct err *err)
{
	char label[16] = "", source[64];
	struct storage_upload *u;
	bool blank = strcmp(o->filesystem, "none") == 0;

	if (!blank && strcmp(o->filesystem, "fat32") != 0 && strcmp(o->filesystem, "exfat") != 0)
		return err_set(err, ERR_INVALID, "bad_filesystem",
			       "filesystem is fat32, exfat or none, not \"%s\"", o->filesystem);
	if (o->size <= 0 || o->size % 512)
		return err_set(err, ERR_INVALID, "bad_size",
			       "the size must be a positive multiple of 512 bytes");
	/* FAT32 needs 65525 clusters: below this mkfs.fat would make a volume
	 * hosts read as FAT16, with a warning only. */
	if (strcmp(o->filesystem, "fat32") == 0 && o->size < STORAGE_FAT32_MIN)
		return err_set(err, ERR_INVALID, "bad_size",
			       "a FAT32 drive needs at least %d MiB; use exfat or a larger size",
			       STORAGE_FAT32_MIN >> 20);
	if (!blank && _check_label(o->filesystem, o->label ? o->label : "VMEDIA",
				   label, err) < 0)
		return -1;
	if (o->size > s->max_image_size)
		return err_set(err, ERR_TOO_LARGE, "too_large",
			       "the drive is %lld bytes; this server accepts at most %lld",
			       (long long)o->size, (long long)s->max_image_size);
	/* Sparse, so nothing is used yet; but the host may fill it, and a full
	 * disk under a drive in use fails the host's writes. */
	int64_t room = storage_room(s);
	if (o->size > room)
		return err_set(err, ERR_NO_SPACE, "insufficient_storage",
			       "a drive of %lld bytes could outgrow the %lld bytes free; delete "
			       "images to make room", (long long)o->size, (long long)room);
	snprintf(source, sizeof(source), "new %s drive", blank ? "blank" : o->filesystem);
	struct storage_upload_options uo = { .name = o->name, .expected_size = -1,
					     .source = source };
	if (storage_upload_begin(s, &uo, &u, err) < 0)
		return -1;
	if (ftruncate(storage_upload_fd(u), o->size) < 0) {
		err_set(err, errno == EFBIG ? ERR_TOO_LARGE : ERR_IO, "io_error",
			"cannot size %s to %lld bytes: %s", o->name, (long long)o->size,
			strerror(errno));
		goto out_abort;
	}
	if (!blank && _format(u, o, label, err) < 0)
		goto out_abort;
	if (storage_upload_take_file(u, err) < 0)
		goto out_abort;
	log_info(STORAGE_MOD, "%s: new %s drive of %lld bytes%s%s", o->name, o->filesystem,
		 (long long)o->size, label[0] ? ", label " : "", label);
	return storage_upload_commit(u, out, err);

out_abort:
	storage_upload_abort(u);
	return -1;
}
