/* fat: FAT file systems through mtools (mdir, mcopy, mmd, mdel, mrd), run with a
 * fixed environment (files_run: no mtoolsrc, no home, C locale, UTC) so that
 * nothing of the box's configuration changes what they do. The image is passed as
 * "-i IMAGE@@OFFSET"; paths are checked by files_path, so none starts with
 * '-' or holds a wildcard. */
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


/* Runs an mtools command (see files_run). */
static int _run(const char *tool, char *const args[], int out_fd, char *msg, size_t msg_size,
		struct err *err)
{
	return files_run(tool, "mtools", args, out_fd, msg, msg_size, err);
}

/* "-i" "IMAGE@@OFFSET" */
static void _image_arg(char *buf, size_t size, const char *image, int64_t offset)
{
	if (offset)
		snprintf(buf, size, "%s@@%lld", image, (long long)offset);
	else
		snprintf(buf, size, "%s", image);
}

static int _by_name(const void *a, const void *b)
{
	return strcasecmp(((const struct files_entry *)a)->name,
			  ((const struct files_entry *)b)->name);
}

/* One line of `mdir -a`: "NAME     EXT       SIZE YYYY-MM-DD  HH:MM  long name",
 * SIZE being "<DIR>" for a directory. */
static bool _parse_line(const char *line, struct files_entry *e)
{
	char shortname[16], ext[8], size[32], date[16], hm[8];
	int pos = 0;
	struct tm tm = { 0 };

	if (strlen(line) < 13 || line[0] == ' ' || line[8] != ' ')
		return false;
	snprintf(shortname, sizeof(shortname), "%.8s", line);
	snprintf(ext, sizeof(ext), "%.3s", line + 9);
	for (char *p = shortname + strlen(shortname); p > shortname && p[-1] == ' '; )
		*--p = '\0';
	for (char *p = ext + strlen(ext); p > ext && p[-1] == ' '; )
		*--p = '\0';
	if (sscanf(line + 12, " %31s %15s %7s%n", size, date, hm, &pos) != 3)
		return false;
	memset(e, 0, sizeof(*e));
	e->dir = strcmp(size, "<DIR>") == 0;
	e->size = e->dir ? 0 : strtoll(size, NULL, 10);
	if (sscanf(date, "%d-%d-%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) == 3 &&
	    sscanf(hm, "%d:%d", &tm.tm_hour, &tm.tm_min) == 2) {
		tm.tm_year -= 1900;
		tm.tm_mon -= 1;
		e->mtime = (int64_t)timegm(&tm);
	}
	const char *lfn = line + 12 + pos;
	while (*lfn == ' ')
		lfn++;
	if (*lfn)
		snprintf(e->name, sizeof(e->name), "%s", lfn);
	else
		snprintf(e->name, sizeof(e->name), "%s%s%s", shortname, ext[0] ? "." : "", ext);
	return strcmp(e->name, ".") != 0 && strcmp(e->name, "..") != 0;
}

int files_fat_list(const char *image, int64_t offset, const char *dir,
		    struct files_entry **out, size_t *n, struct err *err)
{
	static const size_t outsize = 4 << 20;	/* about 60000 entries */
	char img[4200], target[FILES_PATH_MAX + 4];
	char *msg = malloc(outsize);
	size_t cap = 0;

	if (!msg)
		abort();
	*out = NULL;
	*n = 0;
	_image_arg(img, sizeof(img), image, offset);
	snprintf(target, sizeof(target), "::%s", dir);
	char *args[] = { "-a", "-i", img, target, NULL };
	int rc = _run("mdir", args, -1, msg, outsize, err);
	if (rc < 0)
		goto out_free;
	/* mdir lists a file as itself under its directory's heading: only
	 * the heading "Directory for ::/dir" says dir is a directory. */
	char *p = NULL;
	for (char *h = strstr(msg, "Directory for "); rc == 0 && h && !p;
	     h = strstr(h + 1, "Directory for ")) {
		size_t tl = strlen(target);
		if (strncasecmp(h + 14, target, tl) == 0 && (h[14 + tl] == '\n' || !h[14 + tl]))
			p = h + 14 + tl;
	}
	if (!p) {
		rc = err_set(err, ERR_NOT_FOUND, "not_found", "no directory %s in the image", dir);
		goto out_free;
	}
	for (char *line = strtok(p, "\n"); line; line = strtok(NULL, "\n")) {
		struct files_entry e;
		if (!_parse_line(line, &e))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 32;
			*out = realloc(*out, cap * sizeof(**out));
			if (!*out)
				abort();
		}
		(*out)[(*n)++] = e;
	}
	if (*n)	/* qsort wants an array, even of none */
		qsort(*out, *n, sizeof(**out), _by_name);
	rc = 0;
out_free:
	free(msg);
	return rc;
}

int files_fat_extract(const char *image, int64_t offset, const char *path, int fd,
		       struct err *err)
{
	char img[4200], src[FILES_PATH_MAX + 4], msg[1024];

	_image_arg(img, sizeof(img), image, offset);
	snprintf(src, sizeof(src), "::%s", path);
	char *args[] = { "-n", "-i", img, src, "-", NULL };
	int rc = _run("mcopy", args, fd, msg, sizeof(msg), err);
	if (rc < 0)
		return -1;
	if (rc != 0)
		return err_set(err, ERR_NOT_FOUND, "not_found", "no file %s in the image (%s)",
			       path, files_last_line(msg));
	return 0;
}

/* The entry path names in its parent directory (FAT compares names without
 * case): 0 and *e, or ERR_NOT_FOUND. */
static int _lookup(const char *image, int64_t offset, const char *path, struct files_entry *e,
		   struct err *err)
{
	char parent[FILES_PATH_MAX];
	const char *base = strrchr(path, '/') + 1;
	struct files_entry *v;
	size_t n;
	int rc = 1;

	snprintf(parent, sizeof(parent), "%.*s", (int)(base - path > 1 ? base - path - 1 : 1), path);
	if (files_fat_list(image, offset, parent, &v, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n && rc; i++)
		if (strcasecmp(v[i].name, base) == 0) {
			*e = v[i];
			rc = 0;
		}
	free(v);
	return rc ? err_set(err, ERR_NOT_FOUND, "not_found", "no file %s in the image", path) : 0;
}

int files_fat_delete(const char *image, int64_t offset, const char *path, struct err *err)
{
	char img[4200], target[FILES_PATH_MAX + 4], msg[1024];
	struct files_entry e, *v;
	size_t n;

	if (_lookup(image, offset, path, &e, err) < 0)
		return -1;
	if (e.dir) {
		if (files_fat_list(image, offset, path, &v, &n, err) < 0)
			return -1;
		free(v);
		if (n)
			return err_set(err, ERR_CONFLICT, "directory_not_empty",
				       "%s is a directory with %zu entries in the image; delete "
				       "them first", path, n);
	}
	_image_arg(img, sizeof(img), image, offset);
	snprintf(target, sizeof(target), "::%s", path);
	char *args[] = { "-i", img, target, NULL };
	int rc = _run(e.dir ? "mrd" : "mdel", args, -1, msg, sizeof(msg), err);
	if (rc < 0)
		return -1;
	if (rc != 0)
		return err_set(err, ERR_IO, "io_error", "cannot delete %s in the image: %s", path,
			       files_last_line(msg));
	return 0;
}

int files_fat_put(const char *image, int64_t offset, const char *path, const char *src,
		   struct err *err)
{
	char img[4200], dst[FILES_PATH_MAX + 4], msg[1024];

	_image_arg(img, sizeof(img), image, offset);
	/* Every directory on the way, made where missing (mmd refuses one that
	 * exists, which is fine). */
	for (const char *s = strchr(path + 1, '/'); s; s = strchr(s + 1, '/')) {
		snprintf(dst, sizeof(dst), "::%.*s", (int)(s - path), path);
		char *args[] = { "-D", "s", "-i", img, dst, NULL };
		if (_run("mmd", args, -1, msg, sizeof(msg), err) < 0)
			return -1;
	}
	/* A directory of that name would receive the file inside it. */
	struct files_entry e;
	int found = _lookup(image, offset, path, &e, err);
	if (found < 0 && err->kind != ERR_NOT_FOUND)
		return -1;
	if (found == 0 && e.dir)
		return err_set(err, ERR_CONFLICT, "is_a_directory",
			       "%s is a directory in the image", path);
	snprintf(dst, sizeof(dst), "::%s", path);
	char *args[] = { "-o", "-D", "o", "-i", img, (char *)src, dst, NULL };
	int rc = _run("mcopy", args, -1, msg, sizeof(msg), err);
	if (rc < 0)
		return -1;
	if (rc != 0) {
		const char *why = files_last_line(msg);
		bool full = strstr(why, "full") || strstr(why, "space");
		return err_set(err, full ? ERR_NO_SPACE : ERR_IO,
			       full ? "image_full" : "io_error",
			       "cannot write %s into the image: %s", path, why);
	}
	return 0;
}
