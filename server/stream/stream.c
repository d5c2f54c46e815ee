/* stream: one nbdkit per streamed image, and a kernel NBD device (see
 * stream.h). */
#include "stream.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libnbd.h>
#include <linux/capability.h>
#include <linux/nbd.h>
#include <sys/ioctl.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../core/clock.h"
#include "../core/log.h"
#include "../core/names.h"
#include "../core/privs.h"
#include "../download/download.h"

#define STREAM_MOD "STREAM"

extern char **environ;

struct stream {
	struct streams *s;
	struct stream *next;
	unsigned id;
	char url[4096];		/* without user:password@ */
	char redacted[1024];	/* for people: no credentials, no query */
	char user[256], password[256];
	bool https, sftp, writable;
	char host[256], path[2048];	/* sftp: where the file is */
	unsigned port;		/* sftp: 0 for ssh's own (22) */
	bool started, adopted, interrupted;
	pid_t pid;		/* nbdkit; 0 when not running */
	bool child;		/* ours to waitpid (not adopted) */
	char dev[32];		/* /dev/nbdN, or "" */
	pthread_t disconnector;	/* stream_interrupt's, joined by stream_close */
	bool disconnecting;
	char sock[sizeof(((struct sockaddr_un *)0)->sun_path)];
	long long size;
	/* Statistics, updated by the monitor (s->lock). */
	long long bytes_read, server_bytes;
	off_t log_seen;
	char log_tail[256];	/* a line cut in two by the last read */
};

struct streams {
	struct stream_options opts;
	char dir[4096];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping;
	pthread_t monitor;
	struct stream *list;
	unsigned next_id;
};

static void _path(const struct stream *st, const char *ext, char *out, size_t size)
{
	snprintf(out, size, "%s/s%u.%s", st->s->dir, st->id, ext);
}

/* Reads counters that only the monitor and stream_json look at. */
static long long _sysfs_bytes_read(const char *dev)
{
	char p[96], buf[512];
	unsigned long long f[4];
	ssize_t n;
	int fd;

	snprintf(p, sizeof(p), "/sys/block/%s/stat", dev + 5);	/* after "/dev/" */
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* reads completed, reads merged, sectors read, ms reading */
	if (sscanf(buf, "%llu %llu %llu %llu", &f[0], &f[1], &f[2], &f[3]) != 4)
		return -1;
	return (long long)(f[2] * 512ULL);
}

/* Adds what nbdkit's log filter wrote since last time: every read the
 * filters above it (the cache) could not serve went to the server. */
static void _scan_log(struct stream *st)
{
	char p[4200], buf[8192];
	int fd;

	_path(st, "log", p, sizeof(p));
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	for (;;) {
		size_t keep = strlen(st->log_tail);
		memcpy(buf, st->log_tail, keep);
		ssize_t n = pread(fd, buf + keep, sizeof(buf) - 1 - keep, st->log_seen);
		if (n <= 0)
			break;
		st->log_seen += n;
		buf[keep + (size_t)n] = '\0';
		char *line = buf, *nl;
		while ((nl = strchr(line, '\n'))) {
			*nl = '\0';
			const char *c;
			/* "... Read id=N offset=0x.. count=0x.. ...": a request;
			 * its reply line has "...Read" */
			if ((strstr(line, " Read id=") || strstr(line, " Cache id=")) &&
			    (c = strstr(line, " count=0x")))
				st->server_bytes += strtoll(c + 9, NULL, 16);
			line = nl + 1;
		}
		snprintf(st->log_tail, sizeof(st->log_tail), "%.*s",
			 (int)sizeof(st->log_tail) - 1, line);
	}
	close(fd);
}

static bool _alive(struct stream *st)
{
	if (st->pid <= 0)
		return false;
	if (st->child) {
		int status;
		pid_t r = waitpid(st->pid, &status, WNOHANG);
		if (r == st->pid) {
			log_warn(STREAM_MOD, "stream %u: nbdkit (pid %d) ended (%s %d) while %s was "
				 "in use; the LUN's reads now fail", st->id, (int)st->pid,
				 WIFSIGNALED(status) ? "signal" : "status",
				 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
				 st->redacted);
			st->pid = 0;
			return false;
		}
		return true;
	}
	if (kill(st->pid, 0) < 0 && errno == ESRCH) {
		st->pid = 0;
		return false;
	}
	return true;
}

static void *_monitor(void *arg)
{
	struct streams *s = arg;
	struct timespec dl;

	pthread_mutex_lock(&s->lock);
	while (!s->stopping) {
		for (struct stream *st = s->list; st; st = st->next) {
			if (!st->started)
				continue;
			_scan_log(st);
			if (st->dev[0]) {
				long long b = _sysfs_bytes_read(st->dev);
				if (b >= 0)
					st->bytes_read = b;
			}
			if (!st->interrupted)
				_alive(st);
		}
		clock_deadline(&dl, 1000);
		pthread_cond_timedwait(&s->cond, &s->lock, &dl);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static int _write_record(struct stream *st)
{
	char p[4200], tmp[4300];
	json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:s, s:I, s:b}", "url", st->url,
			      "redacted", st->redacted, "pid", (int)st->pid, "device", st->dev,
			      "socket", st->sock, "size", (json_int_t)st->size,
			      "writable", st->writable);

	_path(st, "json", p, sizeof(p));
	snprintf(tmp, sizeof(tmp), "%s.new", p);
	int rc = json_dump_file(o, tmp, JSON_COMPACT);
	json_decref(o);
	if (rc < 0 || rename(tmp, p) < 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

static void _unlink_files(struct streams *s, unsigned id)
{
	static const char *const exts[] = { "json", "sock", "pid", "log", "err" };
	char p[4200];

	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		snprintf(p, sizeof(p), "%s/s%u.%s", s->dir, id, exts[i]);
		unlink(p);
	}
}

/* Runs argv and waits up to timeout_ms for it; its exit status, or -1. */
static int _run(char *const argv[], unsigned timeout_ms)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int status, rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	double until = clock_now_ms() + timeout_ms;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		if (clock_now_ms() > until) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			errno = ETIMEDOUT;
			return -1;
		}
		usleep(10000);
	}
}

/* nbd-client opens /dev/nbdN (root's: CAP_DAC_OVERRIDE) and configures it
 * (CAP_SYS_ADMIN), which vmediad under --user keeps for this (main.c). */
static void _nbd_privs(bool on)
{
	privs_ambient(CAP_DAC_OVERRIDE, on);
	privs_ambient(CAP_SYS_ADMIN, on);
}

static void _disconnect(const char *dev)
{
	char *argv[] = { "/usr/sbin/nbd-client", "-d", (char *)dev, NULL };

	_nbd_privs(true);
	int rc = _run(argv, 10000);
	_nbd_privs(false);
	if (rc != 0)
		log_warn(STREAM_MOD, "nbd-client -d %s failed", dev);
}

static void _stop_pid(pid_t pid, bool child)
{
	int status;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < 200; i++) {
		if (child ? waitpid(pid, &status, WNOHANG) == pid :
			    (kill(pid, 0) < 0 && errno == ESRCH))
			return;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	if (child)
		waitpid(pid, &status, 0);
}

int streams_create(const struct stream_options *opts, struct streams **out, struct err *err)
{
	struct streams *s = calloc(1, sizeof(*s));

	if (!s)
		return err_set(err, ERR_IO, "io_error", "out of memory");
	s->opts = *opts;
	if (!s->opts.block)
		s->opts.block = 512 << 10;
	snprintf(s->dir, sizeof(s->dir), "%s", opts->dir);
	if (mkdir(s->dir, 0700) < 0 && errno != EEXIST) {
		int e = errno;
		free(s);
		return err_set(err, ERR_IO, "io_error", "cannot make %s: %s", opts->dir,
			       strerror(e));
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);	/* clock_deadline is CLOCK_REALTIME */
	s->next_id = 1;
	/* Ids go on from the records an earlier run left. */
	DIR *d = opendir(s->dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		unsigned id;
		char ext[8];
		if (sscanf(de->d_name, "s%u.%7s", &id, ext) == 2 && id >= s->next_id)
			s->next_id = id + 1;
	}
	if (d)
		closedir(d);
	if (pthread_create(&s->monitor, NULL, _monitor, s) != 0) {
		free(s);
		return err_set(err, ERR_IO, "io_error", "cannot start the stream monitor");
	}
	pthread_setname_np(s->monitor, "vmedia-stream");
	*out = s;
	return 0;
}

void streams_destroy(struct streams *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->monitor, NULL);
	/* A stream in a LUN goes on serving it; vmediad's next start adopts
	 * it from its record. Only the memory goes. */
	for (struct stream *st = s->list, *n; st; st = n) {
		n = st->next;
		free(st);
	}
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	free(s);
}

static void _link(struct stream *st)
{
	struct streams *s = st->s;

	pthread_mutex_lock(&s->lock);
	st->id = s->next_id++;
	st->next = s->list;
	s->list = st;
	pthread_mutex_unlock(&s->lock);
}

static void _unlink_stream(struct stream *st)
{
	struct streams *s = st->s;

	pthread_mutex_lock(&s->lock);
	for (struct stream **p = &s->list; *p; p = &(*p)->next)
		if (*p == st) {
			*p = st->next;
			break;
		}
	pthread_mutex_unlock(&s->lock);
}

/* sftp://host:port/path: where nbdkit's ssh plugin finds the file; "/~/"
 * at the start of the path means the user's home, as for curl. */
static int _sftp_parts(CURLU *u, const char *host, struct stream *st)
{
	char *path = NULL, *port = NULL;
	int rc = -1;

	if (curl_url_get(u, CURLUPART_PATH, &path, CURLU_URLDECODE) != CURLUE_OK)
		return -1;
	if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK)
		st->port = (unsigned)strtoul(port, NULL, 10);
	const char *p = strncmp(path, "/~/", 3) == 0 ? path + 3 : path;
	if (*p && strcmp(p, "/") != 0 && p[strlen(p) - 1] != '/' && strlen(host) < sizeof(st->host) &&
	    strlen(p) < sizeof(st->path)) {
		snprintf(st->host, sizeof(st->host), "%s", host);
		snprintf(st->path, sizeof(st->path), "%s", p);
		rc = 0;
	}
	curl_free(path);
	curl_free(port);
	return rc;
}

int stream_new(struct streams *s, const char *url, bool writable, char *name, size_t name_size,
	       struct stream **out, struct err *err)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *user = NULL, *pass = NULL, *plain = NULL, *host = NULL;
	int rc = -1;

	if (!u)
		return err_set(err, ERR_IO, "io_error", "out of memory");
	if (strlen(url) >= sizeof(((struct stream *)0)->url) ||
	    curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		err_set(err, ERR_INVALID, "bad_url", "not a URL vmediad can stream: give "
			"http://, https:// or sftp:// with a host and a path");
		goto out;
	}
	if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0 &&
	    strcmp(scheme, "sftp") != 0) {
		err_set(err, ERR_INVALID, "bad_url", "'%s' URLs cannot be streamed: use http://, "
			"https:// or sftp://", scheme);
		goto out;
	}
	struct stream *st = calloc(1, sizeof(*st));
	if (!st) {
		err_set(err, ERR_IO, "io_error", "out of memory");
		goto out;
	}
	st->s = s;
	st->https = strcmp(scheme, "https") == 0;
	st->sftp = strcmp(scheme, "sftp") == 0;
	st->writable = writable;
	if (st->sftp && !st->user[0]) {
		/* ssh's default: the local user's name (nbdkit's, too). */
		struct passwd pwd, *pwp = NULL;
		char pbuf[1024];
		if (getpwuid_r(geteuid(), &pwd, pbuf, sizeof(pbuf), &pwp) == 0 && pwp)
			snprintf(st->user, sizeof(st->user), "%s", pwp->pw_name);
	}
	if (st->sftp && _sftp_parts(u, host, st) < 0) {
		free(st);
		err_set(err, ERR_INVALID, "bad_url", "an sftp:// URL needs a file's path: "
			"sftp://[user@]host[:port]/path (~/ for the user's home)");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, CURLU_URLDECODE) == CURLUE_OK)
		snprintf(st->user, sizeof(st->user), "%s", user);
	if (curl_url_get(u, CURLUPART_PASSWORD, &pass, CURLU_URLDECODE) == CURLUE_OK)
		snprintf(st->password, sizeof(st->password), "%s", pass);
	curl_url_set(u, CURLUPART_USER, NULL, 0);
	curl_url_set(u, CURLUPART_PASSWORD, NULL, 0);
	curl_url_get(u, CURLUPART_URL, &plain, 0);
	snprintf(st->url, sizeof(st->url), "%s", plain);
	download_redact_url(url, st->redacted, sizeof(st->redacted));
	char nm[NAMES_MAX + 1];
	if (!download_url_name(st->url, nm))
		snprintf(nm, sizeof(nm), "%s", host);
	snprintf(name, name_size, "%s", nm);
	*out = st;
	rc = 0;
out:
	curl_free(scheme);
	curl_free(user);
	curl_free(pass);
	curl_free(plain);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

struct stream_probe_state {
	const struct stream *st;
	char refused[160];
};

static curl_socket_t _probe_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct stream_probe_state *p = arg;

	(void)purpose;
	return download_open_socket(p->st->s->opts.allow_local, a, p->refused, sizeof(p->refused));
}

static size_t _discard(char *d, size_t size, size_t n, void *arg)
{
	(void)d;
	(void)arg;
	return size * n;
}

/* Asks for the first byte: a stream needs ranges, and the size. */
static int _probe(struct stream *st, struct err *err)
{
	struct stream_probe_state p = { .st = st };
	char errbuf[CURL_ERROR_SIZE] = "", *eff = NULL;
	long status = 0;
	curl_off_t total = -1;
	CURL *c = curl_easy_init();

	if (!c)
		return err_set(err, ERR_IO, "io_error", "out of memory");
	curl_easy_setopt(c, CURLOPT_URL, st->url);
	if (st->sftp) {
		/* The size, from the server's stat; an sftp file can always be
		 * read at any offset.  The host key must be one we know. */
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
		curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "sftp");
		curl_easy_setopt(c, CURLOPT_SSH_KNOWNHOSTS, st->s->opts.known_hosts);
		curl_easy_setopt(c, CURLOPT_SSH_AUTH_TYPES, (long)(CURLSSH_AUTH_PASSWORD |
				 CURLSSH_AUTH_PUBLICKEY | CURLSSH_AUTH_KEYBOARD));
		if (st->s->opts.identity[0]) {
			curl_easy_setopt(c, CURLOPT_SSH_PRIVATE_KEYFILE, st->s->opts.identity);
			curl_easy_setopt(c, CURLOPT_SSH_PUBLIC_KEYFILE, "");
		}
	} else {
		curl_easy_setopt(c, CURLOPT_RANGE, "0-0");
		curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
		curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	}
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)st->s->opts.open_timeout_s);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, _discard);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, _probe_socket);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &p);
	if (st->user[0] || st->password[0]) {
		curl_easy_setopt(c, CURLOPT_USERNAME, st->user);
		curl_easy_setopt(c, CURLOPT_PASSWORD, st->password);
	}
	CURLcode rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	int ret = -1;
	if (p.refused[0]) {
		err_set(err, ERR_INVALID, "address_refused", "%s: not streaming from %s (vmediad "
			"connects to loopback and link-local addresses only with "
			"--allow-local-downloads)", st->redacted, p.refused);
	} else if (st->sftp && rc == CURLE_PEER_FAILED_VERIFICATION) {
		err_set(err, ERR_UNPROCESSABLE, "unknown_host_key", "%s: the server's host key is "
			"not in %s (add it, e.g. with ssh-keyscan, after checking it)", st->redacted,
			st->s->opts.known_hosts);
	} else if (st->sftp && rc == CURLE_LOGIN_DENIED) {
		err_set(err, ERR_UNPROCESSABLE, "login_denied", "%s: the server refused the "
			"login%s", st->redacted, st->password[0] || st->s->opts.identity[0] ? "" :
			" (give a password in the URL, or a key with --ssh-identity)");
	} else if (st->sftp && rc == CURLE_REMOTE_FILE_NOT_FOUND) {
		err_set(err, ERR_UNPROCESSABLE, "server_error", "%s: no such file on the server",
			st->redacted);
	} else if (st->sftp && rc == CURLE_OK) {
		curl_off_t len = -1;
		curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
		if (len <= 0) {
			err_set(err, ERR_UNPROCESSABLE, "server_error", "%s: the server does not "
				"say how large the file is, or it is empty", st->redacted);
		} else {
			st->size = (long long)len;
			ret = 0;
		}
	} else if (rc != CURLE_OK) {
		err_set(err, ERR_UNAVAILABLE, "server_unreachable", "%s: %s", st->redacted,
			errbuf[0] ? errbuf : curl_easy_strerror(rc));
	} else if (status == 200) {
		err_set(err, ERR_UNPROCESSABLE, "no_range_support", "%s: the server does not answer "
			"Range requests (it sent the whole file), so the image cannot be read "
			"where it lies; download it instead (POST /downloads)", st->redacted);
	} else if (status != 206) {
		err_set(err, ERR_UNPROCESSABLE, "server_error", "%s: the server answered %ld",
			st->redacted, status);
	} else {
		char cr[256] = "";
		struct curl_header *h;
		if (curl_easy_header(c, "Content-Range", 0, CURLH_HEADER, -1, &h) == CURLHE_OK)
			snprintf(cr, sizeof(cr), "%s", h->value);
		const char *slash = strrchr(cr, '/');
		if (slash && slash[1] != '*')
			total = strtoll(slash + 1, NULL, 10);
		if (total <= 0) {
			err_set(err, ERR_UNPROCESSABLE, "no_range_support", "%s: the server does not say "
				"how large the image is (Content-Range '%s')", st->redacted, cr);
		} else {
			st->size = (long long)total;
			curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &eff);
			if (eff && strcmp(eff, st->url) != 0) {
				log_info(STREAM_MOD, "stream %u: %s redirects; streaming from the "
					 "final address", st->id, st->redacted);
				snprintf(st->url, sizeof(st->url), "%s", eff);
			}
			ret = 0;
		}
	}
	curl_easy_cleanup(c);
	return ret;
}

int stream_probe(struct streams *s, const char *url, long long *size, struct err *err)
{
	char name[NAMES_MAX + 1];
	struct stream *st;

	if (stream_new(s, url, false, name, sizeof(name), &st, err) < 0)
		return -1;
	int rc = _probe(st, err);
	*size = st->size;
	stream_close(st);
	return rc;
}

/* The last line nbdkit wrote to its stderr, for an error message. */
static void _last_error(const struct stream *st, char *out, size_t size)
{
	char p[4200], buf[4096];
	int fd;

	out[0] = '\0';
	_path(st, "err", p, sizeof(p));
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	off_t end = lseek(fd, 0, SEEK_END);
	off_t from = end > (off_t)sizeof(buf) - 1 ? end - (off_t)sizeof(buf) + 1 : 0;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, from);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	const char *line = strrchr(buf, '\n');
	snprintf(out, size, "%.*s", (int)size - 1, line ? line + 1 : buf);
}

static int _spawn_nbdkit(struct stream *st, struct err *err)
{
	struct streams *s = st->s;
	char pidf[4200], logf[4200], errf[4200], a_url[4200], a_log[4300], a_pw[16] = "",
	     a_user[300] = "", a_cmax[48], a_retries[32], a_timeout[32], a_block[48], a_delay[48],
	     a_host[300], a_port[32], a_path[2100], a_kh[4200], a_id[4200];
	int pw[2] = { -1, -1 };
	char *argv[40];
	int n = 0;

	_path(st, "pid", pidf, sizeof(pidf));
	_path(st, "log", logf, sizeof(logf));
	_path(st, "err", errf, sizeof(errf));
	unlink(pidf);
	unlink(st->sock);
	snprintf(a_url, sizeof(a_url), "url=%s", st->url);
	snprintf(a_log, sizeof(a_log), "logfile=%s", logf);
	snprintf(a_cmax, sizeof(a_cmax), "cache-max-size=%lld", s->opts.cache_max);
	snprintf(a_block, sizeof(a_block), "cache-min-block-size=%u", s->opts.block);
	snprintf(a_delay, sizeof(a_delay), "delay-read=%ums", s->opts.delay_ms);
	snprintf(a_retries, sizeof(a_retries), "retries=%u", s->opts.retries);
	snprintf(a_timeout, sizeof(a_timeout), "timeout=%u", s->opts.open_timeout_s);
	argv[n++] = "/usr/bin/nbdkit";
	argv[n++] = "--foreground";
	argv[n++] = "--unix";
	argv[n++] = st->sock;
	argv[n++] = "--pidfile";
	argv[n++] = pidf;
	if (!st->writable)
		argv[n++] = "--readonly";
	/* Nearest the client first: the cache keeps what was read, in blocks
	 * (512 KiB by default), so a sequential reader costs one request to
	 * the server per block, not per read (the readahead filter would do nothing here:
	 * the curl plugin serves one request at a time); the log below it sees
	 * only what goes to the server; the retry filter reopens the plugin
	 * after an error, so that a server that drops and comes back costs the
	 * host no I/O error. */
	argv[n++] = "--filter=cache";
	argv[n++] = "--filter=log";
	argv[n++] = "--filter=retry";
	/* --stream-delay-ms: each request to the server waits first, as if
	 * the server were that much further away. */
	if (s->opts.delay_ms)
		argv[n++] = "--filter=delay";
	if (st->sftp) {
		/* The ssh plugin (libssh): the host key checked against our file
		 * only, no ssh_config read. */
		snprintf(a_host, sizeof(a_host), "host=%s", st->host);
		snprintf(a_port, sizeof(a_port), "port=%u", st->port ? st->port : 22);
		snprintf(a_path, sizeof(a_path), "path=%s", st->path);
		snprintf(a_kh, sizeof(a_kh), "known-hosts=%s", s->opts.known_hosts);
		snprintf(a_id, sizeof(a_id), "identity=%s", s->opts.identity);
		argv[n++] = "ssh";
		argv[n++] = a_host;
		argv[n++] = a_port;
		argv[n++] = a_path;
		argv[n++] = a_kh;
		argv[n++] = "verify-remote-host=true";
		argv[n++] = "config=";
		if (s->opts.identity[0])
			argv[n++] = a_id;
	} else {
		argv[n++] = "curl";
		argv[n++] = a_url;
		argv[n++] = "protocols=http,https";
		argv[n++] = "followlocation=false";
	}
	argv[n++] = a_timeout;
	if (st->user[0] || st->password[0]) {
		if (pipe2(pw, O_CLOEXEC) < 0)
			return err_set(err, ERR_IO, "io_error", "pipe: %s", strerror(errno));
		snprintf(a_user, sizeof(a_user), "user=%s", st->user);
		snprintf(a_pw, sizeof(a_pw), "password=-3");
		argv[n++] = a_user;
		argv[n++] = a_pw;
		size_t len = strlen(st->password);
		if (write(pw[1], st->password, len) != (ssize_t)len) {
			close(pw[0]);
			close(pw[1]);
			return err_set(err, ERR_IO, "io_error", "cannot hand nbdkit the password");
		}
		close(pw[1]);
	}
	argv[n++] = "cache-on-read=true";
	argv[n++] = a_block;
	if (s->opts.delay_ms)
		argv[n++] = a_delay;
	argv[n++] = a_cmax;
	argv[n++] = a_log;
	/* One try a second, for the retry window: a server back within it
	 * costs the host nothing (its SCSI timeout is 30 s on Linux). */
	argv[n++] = a_retries;
	argv[n++] = "retry-delay=1";
	argv[n++] = "retry-exponential=no";
	argv[n] = NULL;

	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, errf, O_WRONLY | O_CREAT | O_APPEND, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	if (pw[0] >= 0)
		posix_spawn_file_actions_adddup2(&fa, pw[0], 3);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
	/* A process group of its own: a Ctrl-C meant for vmediad does not end
	 * the media it serves. */
	posix_spawnattr_setpgroup(&at, 0);
	/* nbdkit's cache file lives beside its socket, not in a tmpfs /tmp. */
	char tmpdir[4200];
	snprintf(tmpdir, sizeof(tmpdir), "TMPDIR=%s", s->dir);
	char *envp[] = { tmpdir, "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	int rc = posix_spawn(&st->pid, argv[0], &fa, &at, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (pw[0] >= 0)
		close(pw[0]);
	if (rc != 0) {
		st->pid = 0;
		return err_set(err, ERR_UNAVAILABLE, "nbdkit_missing", "cannot run nbdkit: %s "
			       "(install Debian's nbdkit)", strerror(rc));
	}
	st->child = true;
	return 0;
}

/* Waits until nbdkit listens (its pid file appears) or gives up. */
static int _wait_ready(struct stream *st, struct err *err)
{
	char pidf[4200], why[300];
	struct stat sb;
	double until = clock_now_ms() + st->s->opts.open_timeout_s * 1000.0;

	_path(st, "pid", pidf, sizeof(pidf));
	while (stat(pidf, &sb) < 0) {
		int status;
		if (waitpid(st->pid, &status, WNOHANG) == st->pid) {
			st->pid = 0;
			_last_error(st, why, sizeof(why));
			return err_set(err, ERR_UNAVAILABLE, "stream_failed", "nbdkit could not "
				       "serve %s: %s", st->redacted, why[0] ? why : "it exited");
		}
		if (clock_now_ms() > until)
			return err_set(err, ERR_UNAVAILABLE, "stream_failed", "nbdkit did not "
				       "start serving %s within %u s", st->redacted,
				       st->s->opts.open_timeout_s);
		usleep(10000);
	}
	return 0;
}

/* Reads the first block through the socket: nbdkit's curl plugin opens the
 * URL only when a client connects, so this is where it fails if it does. */
static int _check_read(struct stream *st, struct err *err)
{
	struct nbd_handle *h = nbd_create();
	char buf[512], why[300];
	int rc = -1;

	if (!h)
		return err_set(err, ERR_IO, "io_error", "libnbd: %s", nbd_get_error());
	if (nbd_connect_unix(h, st->sock) < 0) {
		_last_error(st, why, sizeof(why));
		err_set(err, ERR_UNAVAILABLE, "stream_failed", "nbdkit could not open %s: %s",
			st->redacted, why[0] ? why : nbd_get_error());
		goto out;
	}
	int64_t size = nbd_get_size(h);
	if (size != st->size) {
		err_set(err, ERR_UNAVAILABLE, "stream_failed", "nbdkit serves %" PRId64 " bytes "
			"of %s, the server said %lld", size, st->redacted, st->size);
		goto out;
	}
	size_t want = st->size < (long long)sizeof(buf) ? (size_t)st->size : sizeof(buf);
	if (nbd_pread(h, buf, want, 0, 0) < 0) {
		_last_error(st, why, sizeof(why));
		err_set(err, ERR_UNAVAILABLE, "stream_failed", "reading %s through nbdkit: %s",
			st->redacted, why[0] ? why : nbd_get_error());
		goto out;
	}
	if (!st->s->opts.kernel) {
		pthread_mutex_lock(&st->s->lock);
		st->bytes_read += (long long)want;
		pthread_mutex_unlock(&st->s->lock);
	}
	nbd_shutdown(h, 0);
	rc = 0;
out:
	nbd_close(h);
	return rc;
}

/* A /dev/nbdN no one uses: it exists, and has no server (no pid). */
static int _free_device(char *dev, size_t size)
{
	for (int i = 0; i < 64; i++) {
		char p[64];
		struct stat sb;
		snprintf(p, sizeof(p), "/sys/block/nbd%d", i);
		if (stat(p, &sb) < 0)
			break;
		snprintf(p, sizeof(p), "/sys/block/nbd%d/pid", i);
		if (stat(p, &sb) == 0)
			continue;
		snprintf(dev, size, "/dev/nbd%d", i);
		return 0;
	}
	return -1;
}

static int _connect_device(struct stream *st, struct err *err)
{
	char dev[32];

	for (int tries = 0; tries < 3; tries++) {
		if (_free_device(dev, sizeof(dev)) < 0)
			return err_set(err, ERR_UNAVAILABLE, "no_nbd_device", "no free NBD device "
				       "(/dev/nbdN): load the nbd module (modprobe nbd nbds_max=16) "
				       "or eject another streamed image");
		char *argv[] = { "/usr/sbin/nbd-client", "-u", st->sock, dev, "-b", "512",
				 st->writable ? NULL : "-R", NULL };
		_nbd_privs(true);
		int rc = _run(argv, st->s->opts.open_timeout_s * 1000);
		_nbd_privs(false);
		if (rc == 0) {
			snprintf(st->dev, sizeof(st->dev), "%s", dev);
			return 0;
		}
		log_warn(STREAM_MOD, "stream %u: nbd-client on %s failed (%d); trying another",
			 st->id, dev, rc);
	}
	return err_set(err, ERR_UNAVAILABLE, "stream_failed", "nbd-client could not connect "
		       "an NBD device to nbdkit for %s", st->redacted);
}

int stream_open(struct stream *st, char *path, size_t path_size, struct err *err)
{
	struct streams *s = st->s;
	struct sockaddr_un sa;

	_link(st);
	int n = snprintf(st->sock, sizeof(st->sock), "%s/s%u.sock", s->dir, st->id);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		return err_set(err, ERR_UNAVAILABLE, "stream_failed", "the stream directory %s "
			       "is too long a path for a Unix socket", s->dir);
	log_info(STREAM_MOD, "stream %u: opening %s", st->id, st->redacted);
	if (_probe(st, err) < 0 || _spawn_nbdkit(st, err) < 0)
		return -1;
	if (_wait_ready(st, err) < 0 || _check_read(st, err) < 0 ||
	    (s->opts.kernel && _connect_device(st, err) < 0))
		return -1;
	pthread_mutex_lock(&s->lock);
	st->started = true;
	pthread_mutex_unlock(&s->lock);
	if (_write_record(st) < 0)
		log_warn(STREAM_MOD, "stream %u: cannot write its record: a restart of vmediad "
			 "will not find it", st->id);
	snprintf(path, path_size, "%s", s->opts.kernel ? st->dev : st->sock);
	log_info(STREAM_MOD, "stream %u: %s (%lld bytes) served by nbdkit pid %d%s%s", st->id,
		 st->redacted, st->size, (int)st->pid, st->dev[0] ? " on " : "", st->dev);
	return 0;
}

/* Fails every request the device holds, at once: NBD_CLEAR_SOCK, which
 * the kernel allows on a device configured through netlink (nbd-client's
 * way), takes vmediad's own CAP_SYS_ADMIN and needs no process. */
static void *_disconnector(void *arg)
{
	struct stream *st = arg;
	int fd = open(st->dev, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || ioctl(fd, NBD_CLEAR_SOCK) < 0)
		log_warn(STREAM_MOD, "stream %u: NBD_CLEAR_SOCK on %s: %s", st->id, st->dev,
			 strerror(errno));
	else
		log_info(STREAM_MOD, "stream %u: %s let go of its server: the reads waiting on "
			 "it fail", st->id, st->dev);
	if (fd >= 0)
		close(fd);
	return NULL;
}

void stream_interrupt(struct stream *st)
{
	pthread_mutex_lock(&st->s->lock);
	pid_t pid = st->pid;
	bool disc = st->dev[0] && !st->interrupted;
	st->interrupted = true;
	pthread_mutex_unlock(&st->s->lock);
	/* nbdkit first: a hung server's nbdkit may not read the socket, and
	 * the disconnect below is sent through it. */
	if (pid > 0 && kill(pid, SIGKILL) == 0)
		log_warn(STREAM_MOD, "stream %u: stopped nbdkit (pid %d) so that the reads "
			 "waiting for %s fail now", st->id, (int)pid, st->redacted);
	/* Its socket closed is not enough: the kernel keeps the device's
	 * requests queued for a new connection (measured, tests/vm scenario
	 * 15). Clearing the device's socket fails them; on a thread of its
	 * own, so that this call does not block; stream_close waits for it. */
	if (disc && pthread_create(&st->disconnector, NULL, _disconnector, st) == 0)
		st->disconnecting = true;
}

void stream_close(struct stream *st)
{
	if (!st)
		return;
	_unlink_stream(st);
	if (!st->id) {		/* never opened */
		memset(st->password, 0, sizeof(st->password));
		free(st);
		return;
	}
	if (st->disconnecting)
		pthread_join(st->disconnector, NULL);
	if (st->dev[0])
		_disconnect(st->dev);
	_stop_pid(st->pid, st->child);
	_unlink_files(st->s, st->id);
	log_info(STREAM_MOD, "stream %u: closed %s", st->id, st->redacted);
	memset(st->password, 0, sizeof(st->password));
	free(st);
}

long long stream_size(struct stream *st)
{
	return st->size;
}

json_t *stream_json(struct stream *st)
{
	struct streams *s = st->s;

	pthread_mutex_lock(&s->lock);
	long long read = st->bytes_read, server = st->server_bytes;
	bool running = st->pid > 0 && !st->interrupted;
	json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:o, s:b, s:o}",
			      "url", st->redacted, "transfer_protocol",
			      st->sftp ? "SFTP" : st->https ? "HTTPS" : "HTTP",
			      "size", (json_int_t)st->size, "bytes_read", (json_int_t)read,
			      "server_bytes", (json_int_t)server,
			      "cache_hit_rate", read > 0 ?
				json_real(server >= read ? 0.0 : 1.0 - (double)server / (double)read) :
				json_null(),
			      "running", running,
			      "device", st->dev[0] ? json_string(st->dev) : json_null());
	pthread_mutex_unlock(&s->lock);
	return o;
}

static bool _is_nbdkit(pid_t pid)
{
	char p[64], cmd[256] = "";
	int fd;
	ssize_t n;

	snprintf(p, sizeof(p), "/proc/%d/cmdline", (int)pid);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, cmd, sizeof(cmd) - 1);
	close(fd);
	if (n <= 0)
		return false;
	cmd[n] = '\0';
	const char *b = strrchr(cmd, '/');
	return strcmp(b ? b + 1 : cmd, "nbdkit") == 0;
}

struct stream *stream_adopt(struct streams *s, const char *path, char *name, size_t name_size)
{
	DIR *d = opendir(s->dir);
	struct dirent *de;
	struct stream *found = NULL;

	while (d && !found && (de = readdir(d))) {
		unsigned id;
		char rest[16], p[4400];
		if (sscanf(de->d_name, "s%u.%15s", &id, rest) != 2 || strcmp(rest, "json") != 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", s->dir, de->d_name);
		json_t *o = json_load_file(p, 0, NULL);
		const char *url = "", *red = "", *dev = "", *sock = "";
		int pid = 0, writable = 0;
		json_int_t size = 0;
		if (!o || json_unpack(o, "{s:s, s:s, s:i, s:s, s:s, s:I, s:b}", "url", &url,
				      "redacted", &red, "pid", &pid, "device", &dev, "socket",
				      &sock, "size", &size, "writable", &writable) < 0 ||
		    strcmp(s->opts.kernel ? dev : sock, path) != 0 || pid <= 0 ||
		    !_is_nbdkit(pid)) {
			json_decref(o);
			continue;
		}
		struct stream *st = calloc(1, sizeof(*st));
		if (st) {
			st->s = s;
			st->id = id;
			snprintf(st->url, sizeof(st->url), "%s", url);
			snprintf(st->redacted, sizeof(st->redacted), "%s", red);
			snprintf(st->dev, sizeof(st->dev), "%s", dev);
			snprintf(st->sock, sizeof(st->sock), "%s", sock);
			st->https = strncmp(url, "https:", 6) == 0;
			st->sftp = strncmp(url, "sftp:", 5) == 0;
			st->pid = pid;
			st->size = size;
			st->writable = writable;
			st->adopted = true;
			st->started = true;
			char nm[NAMES_MAX + 1];
			if (!download_url_name(st->url, nm))
				snprintf(nm, sizeof(nm), "stream-%u", id);
			snprintf(name, name_size, "%s", nm);
			pthread_mutex_lock(&s->lock);
			st->next = s->list;
			s->list = st;
			pthread_mutex_unlock(&s->lock);
			log_info(STREAM_MOD, "stream %u: adopted %s, still served by nbdkit pid %d",
				 id, red, pid);
			found = st;
		}
		json_decref(o);
	}
	if (d)
		closedir(d);
	return found;
}

void streams_clean(struct streams *s)
{
	DIR *d = opendir(s->dir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		unsigned id;
		char rest[16], p[4400];
		if (sscanf(de->d_name, "s%u.%15s", &id, rest) != 2 || strcmp(rest, "json") != 0)
			continue;
		bool ours = false;
		pthread_mutex_lock(&s->lock);
		for (struct stream *st = s->list; st; st = st->next)
			ours = ours || st->id == id;
		pthread_mutex_unlock(&s->lock);
		if (ours)
			continue;
		snprintf(p, sizeof(p), "%s/%s", s->dir, de->d_name);
		json_t *o = json_load_file(p, 0, NULL);
		const char *dev = "", *red = "";
		int pid = 0;
		if (o && json_unpack(o, "{s:i, s:s, s:s}", "pid", &pid, "device", &dev,
				     "redacted", &red) == 0) {
			if (dev[0])
				_disconnect(dev);
			if (pid > 0 && _is_nbdkit(pid))
				_stop_pid(pid, false);
			log_info(STREAM_MOD, "stream %u: %s was left by an earlier run and no LUN "
				 "holds it; stopped", id, red);
		}
		json_decref(o);
		_unlink_files(s, id);
	}
	if (d)
		closedir(d);
}
