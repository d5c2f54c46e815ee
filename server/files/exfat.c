/* exfat: exFAT file systems read through The Sleuth Kit (fls, icat), which
 * parses the image itself, in a process of its own, without mounting it.
 * Read-only: no tool in Debian 12 writes exFAT without mounting it
 * (exfatprogs makes, checks and labels it; exfat-fuse and the kernel's
 * driver mount it), so the API refuses writes (files.h). */
#include "files.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* One allocated entry of `fls -r -p -l -u`, with its path from the root. */
struct files_node {
	char *path;		/* "/dir/sub/a.txt" */
	char inode[24];
	struct files_entry e;
};

/* "2026-12-02 00:16:40 (UTC)" (fls -z UTC); 0 for the zero time. */
static int64_t _when(const char *s)
{
	struct tm tm = { 0 };

	if (sscanf(s, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
		   &tm.tm_min, &tm.tm_sec) != 6 || tm.tm_year == 0)
		return 0;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

/* One line: "r/r 643:\tdir/sub/a.txt\tMTIME\tATIME\tCTIME\tCRTIME\tSIZE\tUID\tGID".
 * Only files and directories ("r/r", "d/d"); the Sleuth Kit's own entries
 * for the volume's metadata ($MBR, $FAT1, $OrphanFiles: "v/v", "V/V"; the
 * allocation bitmap, the up-case table and the label, listed as files in
 * the root with no times) are left out. */
static bool _parse(char *line, struct files_node *nd)
{
	char *field[9];
	size_t nf = 0;

	for (char *save = NULL, *f = strtok_r(line, "\t", &save); f && nf < 9;
	     f = strtok_r(NULL, "\t", &save))
		field[nf++] = f;
	if (nf != 9 || (strncmp(field[0], "r/r ", 4) != 0 && strncmp(field[0], "d/d ", 4) != 0))
		return false;
	memset(nd, 0, sizeof(*nd));
	nd->e.dir = field[0][0] == 'd';
	if (sscanf(field[0] + 4, "%23[0-9]:", nd->inode) != 1)
		return false;
	const char *slash = strrchr(field[1], '/');
	const char *base = slash ? slash + 1 : field[1];
	snprintf(nd->e.name, sizeof(nd->e.name), "%s", base);
	nd->e.mtime = _when(field[2]);
	nd->e.size = nd->e.dir ? 0 : strtoll(field[6], NULL, 10);
	if (!slash && !nd->e.mtime && !nd->e.dir &&
	    (strcmp(base, "$ALLOC_BITMAP") == 0 || strcmp(base, "$UPCASE_TABLE") == 0 ||
	     strstr(base, " (Volume Label Entry)")))
		return false;
	if (asprintf(&nd->path, "/%s", field[1]) < 0)
		abort();
	return true;
}

/* Every file and directory of the file system. */
static int _walk(const char *image, int64_t offset, struct files_node **out, size_t *n,
		 struct err *err)
{
	static const size_t outsize = 4 << 20;	/* about 25000 entries */
	char sectors[24];
	char *msg = malloc(outsize);
	size_t cap = 0;

	if (!msg)
		abort();
	*out = NULL;
	*n = 0;
	snprintf(sectors, sizeof(sectors), "%lld", (long long)(offset / 512));
	char *args[] = { "-f", "exfat", "-o", sectors, "-z", "UTC", "-r", "-p", "-l", "-u",
			 (char *)image, NULL };
	int rc = files_run("fls", "sleuthkit", args, -1, msg, outsize, err);
	if (rc < 0)
		goto out_free;
	if (rc != 0) {
		rc = err_set(err, ERR_INVALID, "no_filesystem", "the exFAT file system cannot be read: %s",
			     files_last_line(msg));
		goto out_free;
	}
	for (char *save = NULL, *line = strtok_r(msg, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		struct files_node nd;
		if (!_parse(line, &nd))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			*out = realloc(*out, cap * sizeof(**out));
			if (!*out)
				abort();
		}
		(*out)[(*n)++] = nd;
	}
	rc = 0;
out_free:
	free(msg);
	return rc;
}

static void _free(struct files_node *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].path);
	free(v);
}

static int _by_name(const void *a, const void *b)
{
	return strcasecmp(((const struct files_entry *)a)->name,
			  ((const struct files_entry *)b)->name);
}

/* The node at path (exFAT compares names without case), or NULL. */
static const struct files_node *_find(const struct files_node *v, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(v[i].path, path) == 0)
			return &v[i];
	return NULL;
}

int files_exfat_list(const char *image, int64_t offset, const char *dir,
		      struct files_entry **out, size_t *n, struct err *err)
{
	struct files_node *v;
	size_t nv, cap = 0, dl = strcmp(dir, "/") == 0 ? 0 : strlen(dir);
	const struct files_node *d;

	*out = NULL;
	*n = 0;
	if (_walk(image, offset, &v, &nv, err) < 0)
		return -1;
	if (dl && (!(d = _find(v, nv, dir)) || !d->e.dir)) {
		_free(v, nv);
		return err_set(err, ERR_NOT_FOUND, "not_found", "no directory %s in the image", dir);
	}
	for (size_t i = 0; i < nv; i++) {
		const char *p = v[i].path;
		if (strncasecmp(p, dir, dl) != 0 || p[dl] != '/' || strchr(p + dl + 1, '/'))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 32;
			*out = realloc(*out, cap * sizeof(**out));
			if (!*out)
				abort();
		}
		(*out)[(*n)++] = v[i].e;
	}
	_free(v, nv);
	if (*n)
		qsort(*out, *n, sizeof(**out), _by_name);
	return 0;
}

int files_exfat_extract(const char *image, int64_t offset, const char *path, int fd,
			 struct err *err)
{
	char sectors[24], inode[24], msg[1024];
	struct files_node *v;
	size_t nv;
	const struct files_node *f;

	if (_walk(image, offset, &v, &nv, err) < 0)
		return -1;
	f = _find(v, nv, path);
	bool found = f && !f->e.dir;
	if (found)
		snprintf(inode, sizeof(inode), "%s", f->inode);
	_free(v, nv);
	if (!found)
		return err_set(err, ERR_NOT_FOUND, "not_found", "no file %s in the image", path);
	snprintf(sectors, sizeof(sectors), "%lld", (long long)(offset / 512));
	char *args[] = { "-f", "exfat", "-o", sectors, (char *)image, inode, NULL };
	int rc = files_run("icat", "sleuthkit", args, fd, msg, sizeof(msg), err);
	if (rc < 0)
		return -1;
	if (rc != 0)
		return err_set(err, ERR_IO, "io_error", "cannot read %s from the image: %s", path,
			       files_last_line(msg));
	return 0;
}
