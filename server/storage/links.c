/* storage/links: named links, remote images kept in the library by their
 * URL and streamed when inserted, never copied. Each is .links/NAME.json
 * (mode 0600: the URL may carry user:password@), written to a temporary
 * name, synced and linked into place, so a crash leaves the link whole or
 * absent. The catalog lock guards the list in memory only; the files are
 * written and removed without it. A link and an image never share a name. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../core/clock.h"
#include "../core/log.h"

#define STORAGE_MOD "STORAGE"

static struct storage_link *_find(struct storage *s, const char *name)
{
	for (size_t i = 0; i < s->nlinks; i++)
		if (!strcmp(s->links[i].name, name))
			return &s->links[i];
	return NULL;
}

bool storage_link_exists(struct storage *s, const char *name)
{
	return _find(s, name) != NULL;
}

static void _append(struct storage *s, const struct storage_link *l)
{
	struct storage_link *v = realloc(s->links, (s->nlinks + 1) * sizeof(*v));

	if (!v)
		abort();
	s->links = v;
	s->links[s->nlinks++] = *l;
}

static void _remove(struct storage *s, const char *name)
{
	struct storage_link *l = _find(s, name);

	if (!l)
		return;
	memset(l->url, 0, sizeof(l->url));
	*l = s->links[--s->nlinks];
}

static bool _parse(const char *text, const char *name, struct storage_link *l)
{
	json_t *o = json_loads(text, 0, NULL);
	const char *url = NULL, *shown = NULL;
	json_int_t size = -1, mtime = 0;
	bool ok = o && json_unpack(o, "{s:s, s:s, s:I, s:I}", "url", &url, "shown", &shown,
				   "size", &size, "mtime", &mtime) == 0 &&
		  strlen(url) < sizeof(l->url) && strlen(shown) < sizeof(l->shown) && size > 0;

	if (ok) {
		*l = (struct storage_link){ .size = size, .mtime = mtime };
		snprintf(l->name, sizeof(l->name), "%s", name);
		snprintf(l->url, sizeof(l->url), "%s", url);
		snprintf(l->shown, sizeof(l->shown), "%s", shown);
	}
	json_decref(o);
	return ok;
}

void storage_links_load(struct storage *s)
{
	DIR *d;
	struct dirent *de;
	char why[160];

	s->links_fd = openat(s->dir_fd, ".links", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->links_fd < 0 && errno == ENOENT && mkdirat(s->dir_fd, ".links", 0700) == 0)
		s->links_fd = openat(s->dir_fd, ".links", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->links_fd < 0) {
		log_warn(STORAGE_MOD, "%s/.links: %s; named links are unavailable", s->dir,
			 strerror(errno));
		return;
	}
	int fd = dup(s->links_fd);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		if (de->d_name[0] == '.') {
			if (strncmp(de->d_name, ".new-", 5) == 0)
				unlinkat(s->links_fd, de->d_name, 0);	/* a crash's leftover */
			continue;
		}
		if (n <= 5 || strcmp(de->d_name + n - 5, ".json") != 0)
			continue;
		char name[NAMES_MAX + 1], text[8192];
		snprintf(name, sizeof(name), "%.*s", (int)(n - 5), de->d_name);
		struct storage_link l;
		int lfd = openat(s->links_fd, de->d_name, O_RDONLY | O_CLOEXEC);
		ssize_t got = lfd >= 0 ? read(lfd, text, sizeof(text) - 1) : -1;
		if (lfd >= 0)
			close(lfd);
		if (got >= 0)
			text[got] = '\0';
		if (got < 0 || !names_valid(name, strlen(name), why, sizeof(why)) ||
		    !_parse(text, name, &l) || storage_find(s, name)) {
			log_warn(STORAGE_MOD, "%s/.links/%s is not a link vmediad can use; ignored", s->dir,
				 de->d_name);
			continue;
		}
		_append(s, &l);
		memset(l.url, 0, sizeof(l.url));
	}
	closedir(d);
}

void storage_links_free(struct storage *s)
{
	if (s->links)
		memset(s->links, 0, s->nlinks * sizeof(*s->links));
	free(s->links);
	if (s->links_fd >= 0)
		close(s->links_fd);
}

static int _write(struct storage *s, const struct storage_link *l, struct err *err)
{
	char tmp[NAMES_MAX + 16], final[NAMES_MAX + 8];
	json_t *o = json_pack("{s:s, s:s, s:I, s:I}", "url", l->url, "shown", l->shown,
			      "size", (json_int_t)l->size, "mtime", (json_int_t)l->mtime);
	char *text = json_dumps(o, JSON_COMPACT);
	int rc = -1;

	json_decref(o);
	if (!text)
		abort();
	snprintf(tmp, sizeof(tmp), ".new-%s", l->name);
	snprintf(final, sizeof(final), "%s.json", l->name);
	int fd = openat(s->links_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t len = strlen(text);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) < 0) {
		err_set(err, errno == ENOSPC ? ERR_NO_SPACE : ERR_IO, errno == ENOSPC ?
			"insufficient_storage" : "io_error", "cannot write the link %s in "
			"%s/.links: %s", l->name, s->dir, strerror(errno));
		goto out_unlink;
	}
	if (renameat(s->links_fd, tmp, s->links_fd, final) < 0 || fsync(s->links_fd) < 0) {
		err_set(err, ERR_IO, "io_error", "cannot put the link %s in place in %s/.links: %s",
			l->name, s->dir, strerror(errno));
		unlinkat(s->links_fd, final, 0);
		goto out_unlink;
	}
	rc = 0;
out_unlink:
	if (fd >= 0)
		close(fd);
	unlinkat(s->links_fd, tmp, 0);
	memset(text, 0, len);
	free(text);
	return rc;
}

int storage_link_add(struct storage *s, const struct storage_link *l, struct err *err)
{
	char why[160];

	if (!names_valid(l->name, strlen(l->name), why, sizeof(why)))
		return err_set(err, ERR_INVALID, "bad_name", "%s", why);
	if (s->links_fd < 0)
		return err_set(err, ERR_UNAVAILABLE, "unavailable", "named links are unavailable "
			       "(%s/.links cannot be opened; see the log)", s->dir);
	pthread_mutex_lock(&s->lock);
	bool taken = storage_find(s, l->name) || storage_upload_in_progress(s, l->name) ||
		     _find(s, l->name);
	if (!taken) {		/* held while its file is written */
		struct storage_link pending = *l;
		pending.pending = true;
		_append(s, &pending);
		memset(pending.url, 0, sizeof(pending.url));
	}
	pthread_mutex_unlock(&s->lock);
	if (taken)
		return err_set(err, ERR_CONFLICT, "image_exists", "an image or link named %s "
			       "exists; delete it first or choose another name", l->name);
	int rc = _write(s, l, err);
	pthread_mutex_lock(&s->lock);
	if (rc < 0)
		_remove(s, l->name);
	else
		_find(s, l->name)->pending = false;
	pthread_mutex_unlock(&s->lock);
	if (rc == 0)
		log_info(STORAGE_MOD, "link %s added: %s (%lld bytes)", l->name, l->shown,
			 (long long)l->size);
	return rc;
}

int storage_link_get(struct storage *s, const char *name, struct storage_link *out)
{
	pthread_mutex_lock(&s->lock);
	struct storage_link *l = _find(s, name);
	bool ok = l && !l->pending;
	if (ok)
		*out = *l;
	pthread_mutex_unlock(&s->lock);
	return ok ? 0 : -1;
}

int storage_link_list(struct storage *s, struct storage_link **out, size_t *count)
{
	pthread_mutex_lock(&s->lock);
	struct storage_link *v = calloc(s->nlinks + 1, sizeof(*v));
	size_t n = 0;
	if (!v)
		abort();
	for (size_t i = 0; i < s->nlinks; i++)
		if (!s->links[i].pending) {
			v[n] = s->links[i];
			memset(v[n++].url, 0, sizeof(v->url));	/* a listing needs no URL */
		}
	pthread_mutex_unlock(&s->lock);
	*out = v;
	*count = n;
	return 0;
}

int storage_link_delete(struct storage *s, const char *name, struct err *err)
{
	char final[NAMES_MAX + 8];

	pthread_mutex_lock(&s->lock);
	struct storage_link *l = _find(s, name);
	bool ok = l && !l->pending;
	if (ok)
		_remove(s, name);
	pthread_mutex_unlock(&s->lock);
	if (!ok)
		return err_set(err, ERR_NOT_FOUND, "not_found", "no link named %s", name);
	snprintf(final, sizeof(final), "%s.json", name);
	if (unlinkat(s->links_fd, final, 0) < 0 && errno != ENOENT)
		log_warn(STORAGE_MOD, "cannot remove %s/.links/%s: %s; it comes back after a restart",
			 s->dir, final, strerror(errno));
	fsync(s->links_fd);
	log_info(STORAGE_MOD, "link %s removed", name);
	return 0;
}

json_t *storage_link_json(const struct storage_link *l, uint32_t attached)
{
	char when[CLOCK_ISO8601_SIZE];
	json_t *luns = json_array();

	clock_iso8601(when, sizeof(when), (time_t)l->mtime, -1);
	for (unsigned i = 0; i < STORAGE_MAX_LUNS; i++)
		if (attached & (1u << i))
			json_array_append_new(luns, json_integer(i));
	return json_pack("{s:s, s:s, s:I, s:b, s:n, s:s, s:s, s:o}", "name", l->name,
			 "kind", "link", "size", (json_int_t)l->size, "complete", 1,
			 "sha256", "mtime", when, "source", l->shown, "attached_to", luns);
}
