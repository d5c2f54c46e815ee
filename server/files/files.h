/* files: the files inside an image, read and written without mounting it:
 * FAT12/16/32 (a whole-disk file system, or the first FAT partition of an
 * MBR disk such as a Raspberry Pi image) through mtools; exFAT (the same
 * two layouts) through The Sleuth Kit, read-only; ISO 9660 (with Joliet and
 * Rock Ridge) through libarchive, read-only. The caller makes
 * sure no host writes to the image meanwhile (storage_lease_begin).
 *
 * A path inside an image is "/"-separated names that each follow the
 * image-name rules (no "..", no leading "." or "-", no wildcards), so it
 * can name nothing outside the image and no tool option. */
#ifndef VMEDIA_FILES_H
#define VMEDIA_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/err.h"

#define FILES_PATH_MAX 1024

enum files_fs { FILES_FAT = 1, FILES_EXFAT, FILES_ISO9660 };

struct files_entry {
	char name[256];
	bool dir;
	int64_t size;		/* bytes; 0 for a directory */
	int64_t mtime;		/* seconds since the epoch (FAT: local time taken as UTC) */
};

/* Validates and normalises a path ("a/b", "/a/b/" -> "/a/b"; "" and "/"
 * -> "/"). */
int files_path(const char *in, char out[FILES_PATH_MAX], struct err *err);

/* The file system of the image at path (ERR_INVALID "no_filesystem" if it
 * is none of those above, saying what it is where it can tell). */
int files_probe(const char *image, enum files_fs *fs, int64_t *offset, struct err *err);
const char *files_fs_name(enum files_fs fs);

/* The entries of a directory (without "." and ".."), sorted by name; the
 * caller frees *out. ERR_NOT_FOUND if dir is not a directory there. */
int files_list(const char *image, enum files_fs fs, int64_t offset, const char *dir,
	       struct files_entry **out, size_t *n, struct err *err);
/* Writes the file at path into fd (which the caller rewinds). */
int files_extract(const char *image, enum files_fs fs, int64_t offset, const char *path,
		  int fd, struct err *err);
/* FAT only: puts the file src (a host path vmediad made) at path, creating
 * missing directories and replacing a file there. */
int files_put(const char *image, int64_t offset, const char *path, const char *src,
	      struct err *err);

/* FAT only: deletes the file at path, or the directory there if it is
 * empty (ERR_CONFLICT "directory_not_empty" if not). */
int files_delete(const char *image, int64_t offset, const char *path, struct err *err);

/* fat.c, exfat.c and iso.c */
/* Runs /usr/bin/TOOL with args and a fixed environment (no configuration
 * files, no home, C locale, UTC); its stdout goes to out_fd (or into msg
 * with its stderr). 0 if it succeeded, 1 if it failed (msg says why), -1
 * with err if it could not run (ERR_UNAVAILABLE if PACKAGE is missing). */
int files_run(const char *tool, const char *package, char *const args[], int out_fd, char *msg,
	       size_t msg_size, struct err *err);
/* The message of a failed command: its last line. */
const char *files_last_line(char *msg);
int files_fat_list(const char *image, int64_t offset, const char *dir,
		    struct files_entry **out, size_t *n, struct err *err);
int files_fat_extract(const char *image, int64_t offset, const char *path, int fd,
		       struct err *err);
int files_fat_put(const char *image, int64_t offset, const char *path, const char *src,
		   struct err *err);
int files_fat_delete(const char *image, int64_t offset, const char *path, struct err *err);
int files_exfat_list(const char *image, int64_t offset, const char *dir,
		      struct files_entry **out, size_t *n, struct err *err);
int files_exfat_extract(const char *image, int64_t offset, const char *path, int fd,
			 struct err *err);
int files_iso_list(const char *image, const char *dir, struct files_entry **out, size_t *n,
		    struct err *err);
int files_iso_extract(const char *image, const char *path, int fd, struct err *err);

#endif
