/* iso: ISO 9660 images (CD and DVD installers) read through libarchive,
 * which takes Rock Ridge or Joliet names where the image has them. */
#include "files.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Opens the image; ERR_INVALID if libarchive cannot read it as ISO 9660. */
static struct archive *_open(const char *image, struct err *err)
{
	struct archive *a = archive_read_new();

	if (!a)
		abort();
	archive_read_support_format_iso9660(a);
	if (archive_read_open_filename(a, image, 64 * 1024) != ARCHIVE_OK) {
		err_set(err, ERR_INVALID, "no_filesystem", "the ISO 9660 image cannot be read: %s",
			archive_error_string(a));
		archive_read_free(a);
		return NULL;
	}
	return a;
}

/* libarchive's paths are relative ("EFI/BOOT/", "README.TXT"): as ours. */
static void _our_path(const char *in, char *out, size_t size)
{
	size_t n = strlen(in);

	while (n && in[n - 1] == '/')
		n--;
	if (n >= 2 && in[0] == '.' && in[1] == '/') {
		in += 2;
		n -= 2;
	}
	if (n == 1 && in[0] == '.')	/* the root itself */
		n = 0;
	snprintf(out, size, "/%.*s", (int)n, in);
}

static int _by_name(const void *a, const void *b)
{
	return strcmp(((const struct files_entry *)a)->name, ((const struct files_entry *)b)->name);
}

int files_iso_list(const char *image, const char *dir, struct files_entry **out, size_t *n,
		    struct err *err)
{
	struct archive *a = _open(image, err);
	struct archive_entry *ae;
	size_t cap = 0, dl = strcmp(dir, "/") == 0 ? 0 : strlen(dir);
	bool found = dl == 0;
	char path[FILES_PATH_MAX + 256];
	int r;

	*out = NULL;
	*n = 0;
	if (!a)
		return -1;
	while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
		_our_path(archive_entry_pathname(ae), path, sizeof(path));
		bool isdir = archive_entry_filetype(ae) == AE_IFDIR;
		if (dl && strcmp(path, dir) == 0 && isdir)
			found = true;
		/* a child of dir: dir's path, '/', then a name without '/' */
		if (strncmp(path, dir, dl) != 0 || path[dl] != '/' || !path[dl + 1] ||
		    strchr(path + dl + 1, '/'))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 32;
			*out = realloc(*out, cap * sizeof(**out));
			if (!*out)
				abort();
		}
		struct files_entry *e = &(*out)[(*n)++];
		memset(e, 0, sizeof(*e));
		snprintf(e->name, sizeof(e->name), "%s", path + dl + 1);
		e->dir = isdir;
		e->size = isdir ? 0 : archive_entry_size(ae);
		e->mtime = archive_entry_mtime(ae);
		found = true;
	}
	if (r != ARCHIVE_EOF) {
		err_set(err, ERR_INVALID, "no_filesystem", "the ISO 9660 image cannot be read: %s",
			archive_error_string(a));
		archive_read_free(a);
		free(*out);
		*out = NULL;
		*n = 0;
		return -1;
	}
	archive_read_free(a);
	if (!found) {
		free(*out);
		*out = NULL;
		return err_set(err, ERR_NOT_FOUND, "not_found", "no directory %s in the image", dir);
	}
	if (*n)	/* qsort wants an array, even of none */
		qsort(*out, *n, sizeof(**out), _by_name);
	return 0;
}

int files_iso_extract(const char *image, const char *path, int fd, struct err *err)
{
	struct archive *a = _open(image, err);
	struct archive_entry *ae;
	char p[FILES_PATH_MAX + 256];
	int rc = -1;

	if (!a)
		return -1;
	while (archive_read_next_header(a, &ae) == ARCHIVE_OK) {
		_our_path(archive_entry_pathname(ae), p, sizeof(p));
		if (strcmp(p, path) != 0 || archive_entry_filetype(ae) != AE_IFREG)
			continue;
		if (archive_read_data_into_fd(a, fd) != ARCHIVE_OK)
			err_set(err, ERR_IO, "io_error", "cannot read %s from the image: %s", path,
				archive_error_string(a));
		else
			rc = 0;
		archive_read_free(a);
		return rc;
	}
	archive_read_free(a);
	return err_set(err, ERR_NOT_FOUND, "not_found", "no file %s in the image", path);
}
