/* Configuration: sizes, JSON file, command line precedence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

static void test_sizes_take_binary_suffixes(void **state)
{
	int64_t v;

	(void)state;
	assert_int_equal(config_parse_size("512", &v), 0);
	assert_int_equal(v, 512);
	assert_int_equal(config_parse_size("4K", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(config_parse_size("16M", &v), 0);
	assert_int_equal(v, 16 << 20);
	assert_int_equal(config_parse_size("2GiB", &v), 0);
	assert_int_equal(v, (int64_t)2 << 30);
	assert_int_equal(config_parse_size("-1", &v), -1);
	assert_int_equal(config_parse_size("12X", &v), -1);
	assert_int_equal(config_parse_size("", &v), -1);
	assert_int_equal(config_parse_size("99999999999T", &v), -1);
}

static void test_json_settings_apply_and_unknown_keys_fail(void **state)
{
	struct config c;
	struct err e;

	(void)state;
	config_defaults(&c);
	assert_int_equal(config_load_json(&c, "{\"listen\":\"0.0.0.0:9\",\"luns\":4,"
					  "\"max-image-size\":\"1G\"}", &e), 0);
	assert_string_equal(c.listen, "0.0.0.0:9");
	assert_int_equal(c.luns, 4);
	assert_int_equal(c.max_image_size, (int64_t)1 << 30);
	assert_int_equal(config_load_json(&c, "{\"lisen\":\"x\"}", &e), -1);
	assert_non_null(strstr(e.message, "lisen"));
	assert_int_equal(config_load_json(&c, "{\"luns\":99}", &e), -1);
	assert_non_null(strstr(e.message, "between"));
	assert_int_equal(config_load_json(&c, "[1]", &e), -1);
	assert_int_equal(config_load_json(&c, "{bad", &e), -1);
	config_free(&c);
}

static void test_command_line_overrides_the_file(void **state)
{
	struct config c;
	char path[] = "/tmp/vmedia-config-XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");

	(void)state;
	fputs("{\"storage\":\"/from/file\",\"luns\":3}", f);
	fclose(f);
	char *argv[] = { "vmediad", "--luns", "5", "--config", path, "--web=/w", NULL };
	config_defaults(&c);
	assert_int_equal(config_parse_args(&c, 6, argv, stdout), CONFIG_RUN);
	assert_string_equal(c.storage, "/from/file");
	assert_int_equal(c.luns, 5);
	assert_string_equal(c.web, "/w");
	config_free(&c);
	remove(path);
}

static void test_bad_arguments_are_errors(void **state)
{
	struct config c;
	char *a1[] = { "vmediad", "--nope", NULL };
	char *a2[] = { "vmediad", "--luns", NULL };
	char *a3[] = { "vmediad", "--adopt=1", NULL };

	(void)state;
	config_defaults(&c);
	assert_int_equal(config_parse_args(&c, 2, a1, stdout), CONFIG_EXIT_ERROR);
	assert_int_equal(config_parse_args(&c, 2, a2, stdout), CONFIG_EXIT_ERROR);
	assert_int_equal(config_parse_args(&c, 2, a3, stdout), CONFIG_EXIT_ERROR);
	config_free(&c);
}

static void test_unknown_backend_kernel_and_log_level_names_are_errors(void **state)
{
	struct config c;
	char *ok[] = { "vmediad", "--backend", "configfs", "--sim-kernel", "old", "--log-level",
		       "debug", NULL };
	char *backend[] = { "vmediad", "--backend", "usb", NULL };
	char *kernel[] = { "vmediad", "--sim-kernel", "new", NULL };
	char *level[] = { "vmediad", "--log-level", "loud", NULL };
	struct err e;

	(void)state;
	config_defaults(&c);
	assert_int_equal(config_validate(&c, &e), 0);
	assert_int_equal(config_parse_args(&c, 7, ok, stdout), CONFIG_RUN);
	assert_int_equal(config_parse_args(&c, 3, backend, stdout), CONFIG_EXIT_ERROR);
	assert_int_equal(config_validate(&c, &e), -1);
	assert_non_null(strstr(e.message, "--backend must be sim or configfs, not 'usb'"));
	config_free(&c);
	config_defaults(&c);
	assert_int_equal(config_parse_args(&c, 3, kernel, stdout), CONFIG_EXIT_ERROR);
	config_free(&c);
	config_defaults(&c);
	assert_int_equal(config_parse_args(&c, 3, level, stdout), CONFIG_EXIT_ERROR);
	config_free(&c);
}

static void test_help_documents_every_option(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	config_print_help(f, "vmediad");
	fclose(f);
	const char *must[] = { "--listen", "--storage", "--config", "--backend", "--luns",
			       "--max-image-size", "--log-level", "--help", "--version" };
	for (size_t i = 0; i < sizeof(must) / sizeof(must[0]); i++)
		assert_non_null(strstr(buf, must[i]));
	free(buf);
}

static void test_server_name_repeats_from_both_sources(void **state)
{
	struct config c;
	struct err e;
	char *argv[] = { "vmediad", "--server-name", "kvm", "--server-name=kvm.example.org", NULL };

	(void)state;
	config_defaults(&c);
	assert_string_equal(c.server_names, "");
	assert_int_equal(config_load_json(&c, "{\"server-name\":[\"a.example\",\"b\"]}", &e), 0);
	assert_string_equal(c.server_names, "a.example,b");
	assert_int_equal(config_parse_args(&c, 4, argv, stdout), CONFIG_RUN);
	assert_string_equal(c.server_names, "a.example,b,kvm,kvm.example.org");
	assert_int_equal(config_load_json(&c, "{\"server-name\":\"x,y\"}", &e), -1);
	assert_int_equal(config_load_json(&c, "{\"server-name\":[1]}", &e), -1);
	config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes_take_binary_suffixes),
		cmocka_unit_test(test_json_settings_apply_and_unknown_keys_fail),
		cmocka_unit_test(test_command_line_overrides_the_file),
		cmocka_unit_test(test_bad_arguments_are_errors),
		cmocka_unit_test(test_unknown_backend_kernel_and_log_level_names_are_errors),
		cmocka_unit_test(test_help_documents_every_option),
		cmocka_unit_test(test_server_name_repeats_from_both_sources),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
