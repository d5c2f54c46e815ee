/* Storage bookkeeping: the writer's crash-safety rules and the catalog's
 * pins, checked on a real directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/storage.h"

#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

static char dir[64];

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

	s = _open();
	assert_int_equal(storage_get(s, "keep.img", &img, &e), 0);
	assert_string_equal(img.sha256, SHA_ABC);
	assert_string_equal(img.source, "upload");	/* from metadata, not rehashed */
	assert_int_equal(_files_in(".tmp"), 0);
	assert_int_equal(_files_in(".meta"), 1);
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
	assert_int_equal(storage_get(s, "f.img", &img, &e), 0);
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
		cmocka_unit_test_setup_teardown(test_second_instance_on_the_same_directory_is_refused, _setup, _teardown),
		cmocka_unit_test(test_image_json_has_the_documented_fields),
	};
	return cmocka_run_group_tests_name("storage", tests, NULL, NULL);
}
