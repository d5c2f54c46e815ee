/* Paths inside an image and compressed-name suffixes: what is accepted,
 * how it is normalised, what is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "files/files.h"
#include "storage/storage.h"

static const char *_norm(const char *in)
{
	static char out[FILES_PATH_MAX];

	return files_path(in, out, NULL) == 0 ? out : NULL;
}

static void test_paths_are_normalised(void **state)
{
	(void)state;
	assert_string_equal(_norm(""), "/");
	assert_string_equal(_norm("/"), "/");
	assert_string_equal(_norm("a"), "/a");
	assert_string_equal(_norm("//EFI///BOOT/"), "/EFI/BOOT");
	assert_string_equal(_norm("/EFI/BOOT/BOOTX64.EFI"), "/EFI/BOOT/BOOTX64.EFI");
}

static void test_paths_that_leave_or_inject_are_refused(void **state)
{
	struct err err;
	char out[FILES_PATH_MAX];

	(void)state;
	const char *bad[] = { "..", "a/..", "../etc", "a/./b", ".x", "-o", "a b", "*.txt", "a?",
			      "a\\b", "@@1", "a:b", "\xc3\xa9" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(files_path(bad[i], out, &err), -1);
		assert_string_equal(err.code, "bad_path");
	}
}

static void test_overlong_paths_are_refused(void **state)
{
	char in[FILES_PATH_MAX + 10], out[FILES_PATH_MAX];

	(void)state;
	for (size_t i = 0; i + 2 < sizeof(in); i += 2)
		memcpy(in + i, "a/", 2);
	in[sizeof(in) - 2] = 'a';
	in[sizeof(in) - 1] = '\0';
	assert_int_equal(files_path(in, out, NULL), -1);
}

static void test_compressed_suffixes_and_their_stems(void **state)
{
	size_t stem;

	(void)state;
	assert_int_equal(storage_compression_of("pi.img.xz", &stem), STORAGE_XZ);
	assert_int_equal(stem, 6);
	assert_int_equal(storage_compression_of("a.gz", &stem), STORAGE_GZIP);
	assert_int_equal(stem, 1);
	assert_int_equal(storage_compression_of("a.img.zst", &stem), STORAGE_ZSTD);
	assert_int_equal(storage_compression_of("a.img.bz2", &stem), STORAGE_BZIP2);
	assert_int_equal(storage_compression_of("a.iso", &stem), STORAGE_RAW);
	assert_int_equal(stem, 5);
	assert_int_equal(storage_compression_of(".xz", &stem), STORAGE_RAW);	/* no stem */
	assert_int_equal(storage_compression_of("a.XZ", &stem), STORAGE_RAW);
	assert_string_equal(storage_compression_name(STORAGE_GZIP), "gzip");
	assert_null(storage_compression_name(STORAGE_RAW));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths_are_normalised),
		cmocka_unit_test(test_paths_that_leave_or_inject_are_refused),
		cmocka_unit_test(test_overlong_paths_are_refused),
		cmocka_unit_test(test_compressed_suffixes_and_their_stems),
	};
	return cmocka_run_group_tests_name("files_path", tests, NULL, NULL);
}
