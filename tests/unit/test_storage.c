/* Storage bookkeeping: the writer's crash-safety rules and the catalog's
 * pins, checked on a real directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/clock.h"
#include "storage/storage.h"
#include "fsync_gate.h"

#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

static char dir[64];

/* --- a slow or failing disk: fsync of one directory (fsync_gate.h) ------ */

static void _gate(const char *sub, enum gate_mode mode)
{
	char path[128];

	snprintf(path, sizeof(path), "%s%s", dir, sub);
	gate_on(path, mode);
}

static struct storage *_open(void)
{
	struct storage_options o = { .dir = dir, .reserve = 0, .max_image_size = 1 << 20,
				     .max_uploads = 2 };
	struct storage *s = NULL;
	struct err e;

	assert_int_equal(storage_open(&o, &s, &e), 0);
	return s;
}

static int _setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/vmedia-unit-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int _teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static int _put(struct storage *s, const char *name, const char *data, const char *sha,
		bool overwrite, struct err *e)
{
	struct storage_upload_options o = { .name = name, .overwrite = overwrite,
					    .expected_size = (int64_t)strlen(data), .sha256 = sha };
	struct storage_upload *u;

	if (storage_upload_begin(s, &o, &u, e) < 0)
		return -1;
	if (storage_upload_write(u, data, strlen(data), e) < 0) {
		storage_upload_abort(u);
		return -1;
	}
	return storage_upload_commit(u, NULL, e);
}

static size_t _files_in(const char *sub)
{
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "ls -A '%s/%s' | wc -l", dir, sub);
	FILE *p = popen(cmd, "r");
	size_t n = 0;
	assert_int_equal(fscanf(p, "%zu", &n), 1);
	pclose(p);
	return n;
}

static void test_committed_upload_is_listed_with_its_digest(void **state)
{
	struct storage *s = _open();
	struct storage_image img;
	struct err e;

	(void)state;
	assert_int_equal(_put(s, "abc.img", "abc", SHA_ABC, false, &e), 0);
	assert_int_equal(storage_get(s, "abc.img", &img, &e), 0);
	assert_true(img.complete);
	assert_int_equal(img.size, 3);
	assert_string_equal(img.sha256, SHA_ABC);
	assert_int_equal(_files_in(".tmp"), 0);
	storage_close(s);
}

static void test_digest_mismatch_leaves_nothing(void **state)
{
	struct storage *s = _open();
	struct storage_image *v;
	size_t n;
	struct err e;

	(void)state;
	assert_int_equal(_put(s, "x.img", "abd", SHA_ABC, false, &e), -1);
	assert_int_equal(e.kind, ERR_DIGEST);
	storage_list(s, &v, &n);
	free(v);
	assert_int_equal(n, 0);
	assert_int_equal(_files_in(".tmp"), 0);
	assert_int_equal(_files_in(".meta"), 0);
	storage_close(s);
}

static void test_upload_in_progress_is_listed_incomplete_and_blocks_its_name(void **state)
{
	struct storage *s = _open();
	struct storage_upload_options o = { .name = "big.iso", .expected_size = 10 };
	struct storage_upload *u;
	struct storage_image *v;
	size_t n;
	struct err e;

	(void)state;
	assert_int_equal(storage_upload_begin(s, &o, &u, &e), 0);
	assert_int_equal(storage_upload_write(u, "12345", 5, &e), 0);
	storage_list(s, &v, &n);
	assert_int_equal(n, 1);
	assert_false(v[0].complete);
	assert_int_equal(v[0].size, 5);
	free(v);
	assert_int_equal(storage_upload_begin(s, &o, &u, &e), -1);
	assert_string_equal(e.code, "upload_in_progress");
	/* Too short: the commit refuses, and nothing is left. */
	assert_int_equal(storage_upload_commit(u, NULL, &e), -1);
	assert_string_equal(e.code, "incomplete_body");
	assert_int_equal(_files_in(".tmp"), 0);
	storage_close(s);
}

static void test_existing_name_needs_overwrite_and_attached_image_cannot_be_replaced(void **state)
{
	struct storage *s = _open();
	struct storage_image img;
	char path[256];
	struct err e;

	(void)state;
	assert_int_equal(_put(s, "a.img", "one", NULL, false, &e), 0);
	assert_int_equal(_put(s, "a.img", "two", NULL, false, &e), -1);
	assert_string_equal(e.code, "image_exists");
	assert_int_equal(_put(s, "a.img", "two", NULL, true, &e), 0);
	assert_int_equal(storage_pin(s, "a.img", 1, path, sizeof(path), &e), 0);
	assert_non_null(strstr(path, "/a.img"));
	assert_int_equal(_put(s, "a.img", "three", NULL, true, &e), -1);
	assert_string_equal(e.code, "image_attached");
	assert_int_equal(storage_delete(s, "a.img", &e), -1);
	assert_int_equal(e.kind, ERR_CONFLICT);
	assert_int_equal(storage_get(s, "a.img", &img, &e), 0);
	assert_int_equal(img.attached, 1u << 1);
	storage_unpin(s, "a.img", 1);
	assert_int_equal(storage_delete(s, "a.img", &e), 0);
	assert_int_equal(storage_get(s, "a.img", &img, &e), -1);
	assert_int_equal(e.kind, ERR_NOT_FOUND);
	storage_close(s);
}

static void test_limits_refuse_before_any_byte_is_written(void **state)
{
	struct storage *s = _open();
	struct storage_upload_options big = { .name = "big", .expected_size = 2 << 20 };
	struct storage_upload_options huge = { .name = "huge", .expected_size = INT64_MAX / 2 };
	struct storage_upload *u;
	struct err e;

	(void)state;
	assert_int_equal(storage_upload_begin(s, &big, &u, &e), -1);
	assert_int_equal(e.kind, ERR_TOO_LARGE);
	storage_close(s);
	struct storage_options o = { .dir = dir, .max_image_size = INT64_MAX, .max_uploads = 2 };
	assert_int_equal(storage_open(&o, &s, &e), 0);
	assert_int_equal(storage_upload_begin(s, &huge, &u, &e), -1);
	assert_int_equal(e.kind, ERR_NO_SPACE);
	assert_int_equal(_files_in(".tmp"), 0);
	storage_close(s);
}

static void test_restart_keeps_images_and_removes_leftovers(void **state)
{
	struct storage *s = _open();
	struct storage_image img;
	struct err e;
	char path[256];

	(void)state;
	assert_int_equal(_put(s, "keep.img", "abc", NULL, false, &e), 0);
	storage_close(s);
	snprintf(path, sizeof(path), "%s/.tmp/upload-dead", dir);
	close(open(path, O_WRONLY | O_CREAT, 0644));
	snprintf(path, sizeof(path), "%s/.meta/gone.img.json", dir);
	close(open(path, O_WRONLY | O_CREAT, 0644));
	snprintf(path, sizeof(path), "%s/.meta/gone.img", dir);
	close(open(path, O_WRONLY | O_CREAT, 0644));
	snprintf(path, sizeof(path), "%s/.meta/.new-7", dir);	/* a crashed metadata write */
	close(open(path, O_WRONLY | O_CREAT, 0644));

	s = _open();
	assert_int_equal(storage_get(s, "keep.img", &img, &e), 0);
	assert_string_equal(img.sha256, SHA_ABC);
	assert_string_equal(img.source, "upload");	/* from metadata, not rehashed */
	assert_int_equal(_files_in(".tmp"), 0);
	assert_int_equal(_files_in(".meta"), 1);
	storage_close(s);
}

/* 255 bytes is the longest name the rule allows; its metadata file must fit
 * in a directory entry too (NAME.json did not past 250). */
static void test_the_longest_name_is_stored_and_survives_a_restart(void **state)
{
	struct storage *s = _open();
	struct storage_image img;
	struct err e;
	char name[NAMES_MAX + 1];

	(void)state;
	memset(name, 'n', NAMES_MAX);
	name[NAMES_MAX] = '\0';
	assert_int_equal(_put(s, name, "abc", NULL, false, &e), 0);
	storage_close(s);
	s = _open();
	assert_int_equal(storage_get(s, name, &img, &e), 0);
	assert_string_equal(img.sha256, SHA_ABC);
	assert_string_equal(img.source, "upload");	/* its metadata was read back */
	assert_int_equal(storage_delete(s, name, &e), 0);
	assert_int_equal(_files_in(".meta"), 0);
	storage_close(s);
}

/* Metadata of the old layout (NAME.json) is read, rewritten as NAME, and
 * the old file removed; a file that names another image is not trusted. */
static void test_metadata_of_the_old_layout_is_taken_over(void **state)
{
	struct storage *s = _open();
	struct storage_image img;
	struct err e;
	char from[300], to[300];

	(void)state;
	assert_int_equal(_put(s, "old.img", "abc", NULL, false, &e), 0);
	assert_int_equal(_put(s, "other.img", "abc", NULL, false, &e), 0);
	storage_close(s);
	snprintf(from, sizeof(from), "%s/.meta/old.img", dir);
	snprintf(to, sizeof(to), "%s/.meta/old.img.json", dir);
	assert_int_equal(rename(from, to), 0);
	/* other.img's metadata copied under old.img's new name: refused */
	snprintf(from, sizeof(from), "%s/.meta/other.img", dir);
	snprintf(to, sizeof(to), "%s/.meta/old.img", dir);
	assert_int_equal(link(from, to), 0);

	s = _open();
	assert_int_equal(storage_get(s, "old.img", &img, &e), 0);
	assert_string_equal(img.source, "upload");	/* not "found in storage": not rehashed */
	assert_int_equal(_files_in(".meta"), 2);	/* old.img and other.img */
	snprintf(to, sizeof(to), "%s/.meta/old.img.json", dir);
	assert_int_equal(access(to, F_OK), -1);
	storage_close(s);
}

static void test_a_file_changed_behind_our_back_is_rehashed(void **state)
{
	struct storage *s = _open();
	struct storage_image img;
	struct err e;
	char path[256];

	(void)state;
	assert_int_equal(_put(s, "f.img", "xyz", NULL, false, &e), 0);
	storage_close(s);
	snprintf(path, sizeof(path), "%s/f.img", dir);
	FILE *f = fopen(path, "w");
	fputs("abc", f);
	fclose(f);
	struct timespec t[2] = { { 1, 0 }, { 1, 0 } };	/* a different mtime for sure */
	utimensat(AT_FDCWD, path, t, 0);
	s = _open();
	/* Listed at once, verified in the background. */
	for (int i = 0; i < 500; i++) {
		assert_int_equal(storage_get(s, "f.img", &img, &e), 0);
		if (!img.verifying)
			break;
		usleep(10000);
	}
	assert_false(img.verifying);
	assert_string_equal(img.sha256, SHA_ABC);
	storage_close(s);
}

static void test_second_instance_on_the_same_directory_is_refused(void **state)
{
	struct storage *s = _open(), *s2 = NULL;
	struct storage_options o = { .dir = dir, .max_image_size = 1, .max_uploads = 1 };
	struct err e;

	(void)state;
	assert_int_equal(storage_open(&o, &s2, &e), -1);
	assert_non_null(strstr(e.message, "in use"));
	storage_close(s);
}

static void test_image_json_has_the_documented_fields(void **state)
{
	struct storage_image img = { .name = "n.iso", .size = 5, .complete = true,
				     .attached = 5, .sha256 = SHA_ABC, .source = "upload" };
	json_t *j = storage_image_json(&img);

	(void)state;
	assert_string_equal(json_string_value(json_object_get(j, "name")), "n.iso");
	assert_int_equal(json_integer_value(json_object_get(j, "size")), 5);
	assert_true(json_is_true(json_object_get(j, "complete")));
	json_t *luns = json_object_get(j, "attached_to");
	assert_int_equal(json_array_size(luns), 2);
	assert_int_equal(json_integer_value(json_array_get(luns, 1)), 2);
	assert_string_equal(json_string_value(json_object_get(j, "mtime")), "1970-01-01T00:00:00Z");
	json_decref(j);
}


/* --- no lock across a disk wait ------------------------------------------ */

struct bg_task {
	struct storage *s;
	pthread_t t;
	int rc;
	struct err e;
	bool done;		/* under the gate's lock */
	/* what the reader saw while the commit waited for the disk */
	size_t listed;
	bool slow_complete;
	int pin_rc, begin_rc;
};

static void _bg_done(struct bg_task *b)
{
	pthread_mutex_lock(&gate_lock);
	b->done = true;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
}

static int _put(struct storage *s, const char *name, const char *data, const char *sha,
		bool overwrite, struct err *e);

static void *_commit_slow(void *arg)
{
	struct bg_task *b = arg;

	b->rc = _put(b->s, "slow.img", "abc", NULL, false, &b->e);
	_bg_done(b);
	return NULL;
}

/* Lists, pins another image and starts another upload: what the HTTP
 * threads do while one upload is being stored. */
static void *_read_catalog(void *arg)
{
	struct bg_task *b = arg;
	struct storage_image *v;
	struct storage_upload_options o = { .name = "third.img", .expected_size = 1 };
	struct storage_upload *u;
	char path[256];

	storage_list(b->s, &v, &b->listed);
	for (size_t i = 0; i < b->listed; i++)
		if (strcmp(v[i].name, "slow.img") == 0)
			b->slow_complete = v[i].complete;
	free(v);
	b->pin_rc = storage_pin(b->s, "other.img", 0, path, sizeof(path), &b->e);
	b->begin_rc = storage_upload_begin(b->s, &o, &u, &b->e);
	if (b->begin_rc == 0)
		storage_upload_abort(u);
	_bg_done(b);
	return NULL;
}

static void _catalog_stays_usable_while_a_commit_syncs(const char *sub)
{
	struct storage *s = _open();
	struct bg_task commit = { .s = s }, reader = { .s = s };
	struct storage_image img;
	struct err e;

	assert_int_equal(_put(s, "other.img", "xyz", NULL, false, &e), 0);
	_gate(sub, GATE_BLOCK);
	assert_int_equal(pthread_create(&commit.t, NULL, _commit_slow, &commit), 0);
	bool blocked = gate_wait_flag(&gate_entered, 5000);
	if (blocked)
		assert_int_equal(pthread_create(&reader.t, NULL, _read_catalog, &reader), 0);
	bool read = blocked && gate_wait_flag(&reader.done, 2000);
	pthread_mutex_lock(&gate_lock);
	bool early = commit.done;
	pthread_mutex_unlock(&gate_lock);
	gate_off();
	pthread_join(commit.t, NULL);
	if (blocked)
		pthread_join(reader.t, NULL);

	assert_true(blocked);
	assert_true(read);		/* did not wait for the disk */
	assert_false(early);
	assert_int_equal(reader.listed, 2);	/* other.img and slow.img in progress */
	assert_false(reader.slow_complete);	/* not complete before it is synced */
	assert_int_equal(reader.pin_rc, 0);
	assert_int_equal(reader.begin_rc, 0);
	assert_int_equal(commit.rc, 0);
	assert_int_equal(storage_get(s, "slow.img", &img, &e), 0);
	assert_true(img.complete);
	storage_close(s);
}

static void test_listing_pin_and_new_upload_do_not_wait_for_the_directory_fsync(void **state)
{
	(void)state;
	_catalog_stays_usable_while_a_commit_syncs("");
}

static void test_listing_pin_and_new_upload_do_not_wait_for_the_metadata_fsync(void **state)
{
	(void)state;
	_catalog_stays_usable_while_a_commit_syncs("/.meta");
}

static void _assert_nothing_of(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(_files_in(".meta"), 0);
	assert_int_equal(_files_in(".tmp"), 0);
}

/* EIO from the fsync of sub fails the commit: nothing listed, no file. */
static void _eio_fails_the_upload(const char *sub, const char *says)
{
	struct storage *s = _open();
	struct storage_image *v;
	size_t n;
	struct err e;

	_gate(sub, GATE_EIO);
	int rc = _put(s, "x.img", "abc", NULL, false, &e);
	gate_off();
	assert_int_equal(rc, -1);
	assert_int_equal(e.kind, ERR_IO);
	assert_non_null(strstr(e.message, says));
	storage_list(s, &v, &n);
	free(v);
	assert_int_equal(n, 0);
	_assert_nothing_of("x.img");
	storage_close(s);
}

static void test_a_failed_directory_fsync_fails_the_upload_and_lists_nothing(void **state)
{
	(void)state;
	_eio_fails_the_upload("", "into place: Input/output error; nothing was stored");
}

static void test_a_failed_metadata_directory_fsync_fails_the_upload_and_lists_nothing(void **state)
{
	(void)state;
	_eio_fails_the_upload("/.meta", "/.meta after writing the metadata of x.img");
}

/* A delete the disk does not confirm is not durable: the client hears it
 * (ERR_IO, "may be back"), not a plain success; the name is gone. */
static void test_a_failed_directory_fsync_fails_the_delete_and_says_it_may_come_back(void **state)
{
	struct storage *s = _open();
	struct storage_image img;
	struct err e;

	(void)state;
	assert_int_equal(_put(s, "a.img", "one", NULL, false, &e), 0);
	_gate("", GATE_EIO);
	memset(&e, 0, sizeof(e));
	int rc = storage_delete(s, "a.img", &e);
	gate_off();
	assert_int_equal(rc, -1);
	assert_int_equal(e.kind, ERR_IO);
	assert_string_equal(e.code, "io_error");
	assert_non_null(strstr(e.message, "Input/output error"));
	assert_non_null(strstr(e.message, "may be back after a power cut"));
	assert_int_equal(storage_get(s, "a.img", &img, &e), -1);
	assert_int_equal(e.kind, ERR_NOT_FOUND);
	_assert_nothing_of("a.img");
	storage_close(s);
}

/* An overwrite whose directory cannot be synced: the old data was renamed
 * over already, so neither image is listed, and the error says so. */
static void test_a_failed_directory_fsync_of_an_overwrite_lists_neither_image(void **state)
{
	struct storage *s = _open();
	struct storage_image img;
	struct err e;

	(void)state;
	assert_int_equal(_put(s, "a.img", "one", NULL, false, &e), 0);
	_gate("", GATE_EIO);
	int rc = _put(s, "a.img", "two", NULL, true, &e);
	gate_off();
	assert_int_equal(rc, -1);
	assert_non_null(strstr(e.message, "is gone"));
	assert_int_equal(storage_get(s, "a.img", &img, &e), -1);
	assert_int_equal(e.kind, ERR_NOT_FOUND);
	_assert_nothing_of("a.img");
	storage_close(s);
}

/* Opened while an overwrite is put in place: the fd and the size given
 * with it always belong to the same file. */
static void *_overwrite_slow(void *arg)
{
	struct bg_task *b = arg;

	b->rc = _put(b->s, "a.img", "longer", NULL, true, &b->e);
	_bg_done(b);
	return NULL;
}

struct opener {
	struct bg_task bg;
	struct storage_image img;
	ssize_t n;
};

static void *_open_a(void *arg)
{
	struct opener *o = arg;
	char buf[16];
	int fd;

	o->bg.rc = storage_open_image(o->bg.s, "a.img", &fd, &o->img, &o->bg.e);
	if (o->bg.rc == 0) {
		o->n = pread(fd, buf, sizeof(buf), 0);
		close(fd);
	}
	_bg_done(&o->bg);
	return NULL;
}

static void test_an_image_opened_during_an_overwrite_comes_with_its_own_size(void **state)
{
	struct storage *s = _open();
	struct bg_task commit = { .s = s };
	struct opener opener = { .bg.s = s };
	struct err e;

	(void)state;
	assert_int_equal(_put(s, "a.img", "one", NULL, false, &e), 0);
	_gate("", GATE_BLOCK);
	assert_int_equal(pthread_create(&commit.t, NULL, _overwrite_slow, &commit), 0);
	bool blocked = gate_wait_flag(&gate_entered, 5000);
	/* The new file is in place, the old entry still listed: the open
	 * waits for the overwrite to settle rather than mixing the two. */
	assert_int_equal(pthread_create(&opener.bg.t, NULL, _open_a, &opener), 0);
	bool early = gate_wait_flag(&opener.bg.done, 300);
	gate_off();
	pthread_join(commit.t, NULL);
	pthread_join(opener.bg.t, NULL);
	assert_true(blocked);
	assert_int_equal(commit.rc, 0);
	assert_int_equal(opener.bg.rc, 0);
	assert_int_equal(opener.n, opener.img.size);
	if (early)	/* then it must have been the old one, whole */
		assert_int_equal(opener.img.size, 3);
	else
		assert_int_equal(opener.img.size, 6);
	storage_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_committed_upload_is_listed_with_its_digest, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_digest_mismatch_leaves_nothing, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_upload_in_progress_is_listed_incomplete_and_blocks_its_name, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_existing_name_needs_overwrite_and_attached_image_cannot_be_replaced, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_limits_refuse_before_any_byte_is_written, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_restart_keeps_images_and_removes_leftovers, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_a_file_changed_behind_our_back_is_rehashed, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_the_longest_name_is_stored_and_survives_a_restart, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_metadata_of_the_old_layout_is_taken_over, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_second_instance_on_the_same_directory_is_refused, _setup, _teardown),
		cmocka_unit_test(test_image_json_has_the_documented_fields),
		cmocka_unit_test_setup_teardown(test_listing_pin_and_new_upload_do_not_wait_for_the_directory_fsync, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_listing_pin_and_new_upload_do_not_wait_for_the_metadata_fsync, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_a_failed_directory_fsync_fails_the_upload_and_lists_nothing, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_a_failed_metadata_directory_fsync_fails_the_upload_and_lists_nothing, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_a_failed_directory_fsync_of_an_overwrite_lists_neither_image, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_a_failed_directory_fsync_fails_the_delete_and_says_it_may_come_back, _setup, _teardown),
		cmocka_unit_test_setup_teardown(test_an_image_opened_during_an_overwrite_comes_with_its_own_size, _setup, _teardown),
	};
	return cmocka_run_group_tests_name("storage", tests, NULL, NULL);
}
