/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_config.c - the configuration loader: defaults, files, environment
 * overrides, and every kind of bad input naming its key.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batchup/config.h"

static char path[64];

static void write_conf(const char *text)
{
    FILE *f;

    snprintf(path, sizeof path, "/tmp/batchup-test-%d.conf", (int)getpid());
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    unsetenv("BATCHUP_CONFIG");
    unsetenv("BATCHUP_WORKERS");
    unsetenv("BATCHUP_AUTH");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    return 0;
}

/* No BATCHUP_<KEY> variable of the caller's may change what is loaded. */
static void unset_key_variables(void)
{
    struct config_doc d;

    for (size_t i = 0; config_doc(i, &d); i++) {
        char var[64] = "BATCHUP_";
        for (size_t j = 0; d.name[j] != '\0' && 8 + j + 1 < sizeof var; j++)
            var[8 + j] = (char)toupper((unsigned char)d.name[j]);
        unsetenv(var);
    }
}

/* config_defaults() is what a server reads from an empty file, and from a
 * file spelling out every key's documented default: the defaults are the
 * table's, the file parser reads them back as the defaults, and nothing
 * is set beside the table.  Loading makes storage_dir absolute and records
 * the path read, the only two differences. */
static void test_defaults_are_the_table(void **state)
{
    static struct bu_config defaults, empty, spelled;
    char cwd[512], absolute[sizeof defaults.storage_dir], text[8192] = "";
    struct config_doc d;
    struct bu_error err;

    (void)state;
    unset_key_variables();
    config_defaults(&defaults);
    write_conf("");
    assert_int_equal(config_load(&empty, path, &err), 0);
    for (size_t i = 0; config_doc(i, &d); i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "%s = \"%s\"\n", d.name, d.def);
    assert_true(strlen(text) < sizeof text - 1);
    write_conf(text);
    assert_int_equal(config_load(&spelled, path, &err), 0);
    assert_non_null(getcwd(cwd, sizeof cwd));
    snprintf(absolute, sizeof absolute, "%s/%s", cwd, defaults.storage_dir);
    assert_string_equal(empty.storage_dir, absolute);
    assert_string_equal(empty.path, path);
    memcpy(empty.storage_dir, defaults.storage_dir, sizeof empty.storage_dir);
    memset(empty.path, 0, sizeof empty.path);
    assert_memory_equal(&empty, &defaults, sizeof defaults);
    memcpy(spelled.storage_dir, defaults.storage_dir, sizeof spelled.storage_dir);
    memset(spelled.path, 0, sizeof spelled.path);
    assert_memory_equal(&spelled, &defaults, sizeof defaults);
}

/* Every key's default passes its own bounds (set alone on an empty
 * configuration), and so does its sample value where it has one; every key
 * has a line of documentation. */
static void test_every_default_is_valid(void **state)
{
    static struct bu_config cfg;
    struct config_doc d;
    struct bu_error err;
    size_t n = 0;

    (void)state;
    for (size_t i = 0; config_doc(i, &d); i++, n++) {
        memset(&cfg, 0, sizeof cfg);
        if (config_set(&cfg, d.name, d.def, &err) != 0)
            fail_msg("the default of %s, '%s', is refused: %s", d.name, d.def, err.message);
        if (d.sample != NULL && config_set(&cfg, d.name, d.sample, &err) != 0)
            fail_msg("the sample value of %s, '%s', is refused: %s", d.name, d.sample, err.message);
        if (strlen(d.doc) < 10)
            fail_msg("%s has no line of documentation", d.name);
    }
    assert_true(n >= 50);
    assert_false(config_doc(n, &d));
}

static void test_defaults(void **state)
{
    struct bu_config cfg;
    struct bu_error err;

    (void)state;
    write_conf("# nothing but a comment\n\n");
    assert_int_equal(config_load(&cfg, path, &err), 0);
    assert_string_equal(cfg.listen, "var/batchup.sock");
    assert_int_equal(cfg.listen_mode, 0660);
    assert_string_equal(cfg.listen_allow, "127.0.0.1 ::1");
    assert_int_equal(cfg.workers, 32);
    assert_int_equal(cfg.pm, CONFIG_PM_DYNAMIC);
    assert_int_equal(cfg.pm_start_servers, 4);
    assert_int_equal(cfg.pm_min_spare_servers, 2);
    assert_int_equal(cfg.pm_max_spare_servers, 8);
    assert_int_equal(cfg.header_timeout, 10);
    assert_int_equal(cfg.body_timeout, 30);
    assert_int_equal(cfg.send_timeout, 30);
    assert_int_equal(cfg.body_min_rate, 500);
    assert_int_equal(cfg.min_rate_window, 30);
    assert_int_equal(cfg.per_user_limit, 5);
    assert_int_equal(cfg.max_active_users, 5);
    assert_int_equal(cfg.slot_lease_seconds, 30);
    assert_int_equal(cfg.queue_retry_seconds, 2);
    assert_int_equal(cfg.max_batch_files, 1000);
    assert_int_equal(cfg.upload_expiry_seconds, 86400);
    assert_int_equal(cfg.link_ttl_seconds, 604800);
    assert_int_equal(cfg.auth, CONFIG_AUTH_TOKEN);
    assert_int_equal(cfg.sendfile, CONFIG_SENDFILE_OFF);
    /* Relative to the working directory, made absolute at load. */
    assert_true(cfg.storage_dir[0] == '/');
    assert_non_null(strstr(cfg.storage_dir, "/var/storage"));
    assert_string_equal(cfg.storage_dir + strlen(cfg.storage_dir) - 12, "/var/storage");
    assert_true(cfg.max_file_size == 16ULL << 30);
    assert_true(cfg.max_user_bytes == 256ULL << 30);
    assert_int_equal(cfg.max_open_batches, 200);
    assert_false(cfg.remote_user_create);
    assert_false(cfg.remote_user_trust_tcp);
    assert_int_equal(cfg.orphan_grace_seconds, 3600);
}

/* auth = remote_user trusts whoever connects: never on a TCP socket that
 * local processes can reach, unless the operator says so. */
static void test_remote_user_needs_a_guarded_listener(void **state)
{
    struct bu_config cfg;
    struct bu_error err;

    (void)state;
    write_conf("auth = remote_user\nlisten = 127.0.0.1:9000\n");
    assert_int_equal(config_load(&cfg, path, &err), -1);
    assert_int_equal(error_exit_status(&err), 2);
    assert_non_null(strstr(err.message, "remote_user_trust_tcp"));
    assert_null(strchr(err.message, '\n'));
    write_conf("auth = remote_user\nlisten = 0.0.0.0:9000\nlisten_allow = 0.0.0.0/0\n");
    assert_int_equal(config_load(&cfg, path, &err), -1);
    write_conf("auth = remote_user\nlisten = 0.0.0.0:9000\nlisten_allow = 127.0.0.2\n");
    assert_int_equal(config_load(&cfg, path, &err), -1);
    write_conf("auth = remote_user\nlisten = 127.0.0.1:9000\nremote_user_trust_tcp = yes\n");
    assert_int_equal(config_load(&cfg, path, &err), 0);
    assert_true(cfg.remote_user_trust_tcp);
    /* The web server on another host (TEST-NET-1: no address of ours). */
    write_conf("auth = remote_user\nlisten = 0.0.0.0:9000\nlisten_allow = 192.0.2.7\n");
    assert_int_equal(config_load(&cfg, path, &err), 0);
    write_conf("auth = remote_user\nlisten = /run/batchup/batchup.sock\n");
    assert_int_equal(config_load(&cfg, path, &err), 0);
    write_conf("auth = remote_user\n");
    assert_int_equal(config_load(&cfg, path, &err), 0);
    write_conf("listen = 127.0.0.1:9000\nremote_user_create = yes\n");
    assert_int_equal(config_load(&cfg, path, &err), 0);
    assert_true(cfg.remote_user_create);
}

static void test_listen_keys(void **state)
{
    struct bu_config cfg;
    struct bu_error err;

    (void)state;
    write_conf("listen = run/b.sock\nlisten_mode = 0600\nlisten_allow = 10.1.2.3, fd00::/8 ::1\n");
    assert_int_equal(config_load(&cfg, path, &err), 0);
    assert_true(config_listen_is_unix(cfg.listen));
    assert_int_equal(cfg.listen_mode, 0600);
    assert_string_equal(cfg.listen_allow, "10.1.2.3, fd00::/8 ::1");
    write_conf("listen = [::1]:9000\n");
    assert_int_equal(config_load(&cfg, path, &err), 0);
    assert_false(config_listen_is_unix(cfg.listen));
}

static void test_file_values(void **state)
{
    struct bu_config cfg;
    struct bu_error err;

    (void)state;
    write_conf("database = \"host=/tmp dbname=x\"\n  workers=7  \nlisten = /run/b.sock\n"
               "auth = remote_user\nsendfile = x-accel-redirect\nmax_file_size = 1099511627776\n"
               "metrics_path =\n");
    assert_int_equal(config_load(&cfg, path, &err), 0);
    assert_string_equal(cfg.database, "host=/tmp dbname=x");
    assert_int_equal(cfg.workers, 7);
    assert_string_equal(cfg.listen, "/run/b.sock");
    assert_int_equal(cfg.auth, CONFIG_AUTH_REMOTE_USER);
    assert_int_equal(cfg.sendfile, CONFIG_SENDFILE_X_ACCEL);
    assert_true(cfg.max_file_size == 1099511627776ULL);
    assert_string_equal(cfg.metrics_path, "");
}

static void test_env_overrides_file(void **state)
{
    struct bu_config cfg;
    struct bu_error err;

    (void)state;
    write_conf("workers = 7\n");
    setenv("BATCHUP_WORKERS", "9", 1);
    assert_int_equal(config_load(&cfg, path, &err), 0);
    assert_int_equal(cfg.workers, 9);
    setenv("BATCHUP_CONFIG", path, 1);
    assert_int_equal(config_load(&cfg, NULL, &err), 0);
    assert_int_equal(cfg.workers, 9);
    unsetenv("BATCHUP_WORKERS");
    assert_int_equal(config_load(&cfg, NULL, &err), 0);
    assert_int_equal(cfg.workers, 7);
}

static void expect_bad(const char *text, const char *needle)
{
    struct bu_config cfg;
    struct bu_error err;

    write_conf(text);
    assert_int_equal(config_load(&cfg, path, &err), -1);
    if (strstr(err.message, needle) == NULL)
        fail_msg("message '%s' does not name '%s'", err.message, needle);
}

static void test_bad_values_name_the_key(void **state)
{
    (void)state;
    expect_bad("wrokers = 3\n", "'wrokers'");
    expect_bad("workers = -3\n", "'workers'");
    expect_bad("workers = 0\n", "'workers'");
    expect_bad("workers = 3x\n", "'3x'");
    expect_bad("workers = \n", "'workers'");
    expect_bad("workers = 99999999999999999999\n", "'workers'");
    expect_bad("auth = basic\n", "'auth'");
    expect_bad("sendfile = yes\n", "'sendfile'");
    expect_bad("listen = nowhere\n", "'listen'");
    expect_bad("listen = 127.0.0.1:70000\n", "'listen'");
    expect_bad("per_user_limit = 0\n", "'per_user_limit'");
    expect_bad("just words\n", "expected 'key = value'");
    expect_bad("log_level = loud\n", "'log_level'");
    expect_bad("listen = var/a:b.sock\n", "'listen'");
    expect_bad("listen_mode = 0999\n", "'listen_mode'");
    expect_bad("listen_mode = rw\n", "'listen_mode'");
    expect_bad("listen_mode = 01777\n", "'listen_mode'");
    expect_bad("listen_allow = localhost\n", "'localhost'");
    expect_bad("listen_allow = 10.0.0.0/33\n", "'10.0.0.0/33'");
    expect_bad("listen_allow = ::1/\n", "'::1/'");
    expect_bad("listen_allow = ,\n", "listen_allow is empty");
    expect_bad("remote_user_create = maybe\n", "'remote_user_create'");
    expect_bad("max_open_batches = -1\n", "'max_open_batches'");
    expect_bad("orphan_grace_seconds = 0\n", "'orphan_grace_seconds'");
}

static void test_bad_env_names_variable(void **state)
{
    struct bu_config cfg;
    struct bu_error err;

    (void)state;
    write_conf("");
    setenv("BATCHUP_WORKERS", "abc", 1);
    assert_int_equal(config_load(&cfg, path, &err), -1);
    assert_non_null(strstr(err.message, "BATCHUP_WORKERS"));
    assert_non_null(strstr(err.message, "'abc'"));
    unsetenv("BATCHUP_WORKERS");
}

static void test_log_and_hook_keys(void **state)
{
    struct bu_config cfg;
    struct bu_error err;

    (void)state;
    write_conf("log_file = /var/log/batchup/batchup.log\nhook_command = /usr/bin/notify --all\n"
               "hook_url = https://example.org/ev?x=1\nhook_events = file_expired, batch_complete,"
               "file_expired\nhook_timeout_seconds = 3\nhook_max_attempts = 1\n");
    assert_int_equal(config_load(&cfg, path, &err), 0);
    assert_string_equal(cfg.log_file, "/var/log/batchup/batchup.log");
    assert_string_equal(cfg.hook_command, "/usr/bin/notify --all");
    assert_string_equal(cfg.hook_url, "https://example.org/ev?x=1");
    assert_string_equal(cfg.hook_events, "file_expired,batch_complete");
    assert_true(config_has_event(cfg.hook_events, "batch_complete"));
    assert_false(config_has_event(cfg.hook_events, "file_aborted"));
    assert_false(config_has_event("file_expired_x", "file_expired"));
    assert_int_equal(cfg.hook_timeout_seconds, 3);
    assert_int_equal(cfg.hook_max_attempts, 1);
    assert_int_equal(cfg.hook_retry_seconds, 10);
    write_conf("");
    assert_int_equal(config_load(&cfg, path, &err), 0);
    assert_string_equal(cfg.log_file, "");
    assert_string_equal(cfg.hook_events, "batch_complete");
    expect_bad("log_file = batchup.log\n", "'log_file'");
    expect_bad("hook_url = ftp://example.org/\n", "'hook_url'");
    expect_bad("hook_url = http://exa mple.org/\n", "'hook_url'");
    expect_bad("hook_events = batch_completed\n", "'hook_events'");
    expect_bad("hook_events = ,\n", "'hook_events'");
    expect_bad("hook_timeout_seconds = 0\n", "'hook_timeout_seconds'");
    expect_bad("hook_max_attempts = 1001\n", "'hook_max_attempts'");
    expect_bad("hook_retry_seconds = x\n", "'hook_retry_seconds'");
}

/* cors_origins: off by default, "*", or exact origins kept as given
 * (space-separated); anything that is not an origin is refused. */
static void test_cors_origins(void **state)
{
    struct bu_config cfg;
    struct bu_error err;

    (void)state;
    write_conf("");
    assert_int_equal(config_load(&cfg, path, &err), 0);
    assert_string_equal(cfg.cors_origins, "");
    write_conf(
        "cors_origins = https://www.example.com, http://127.0.0.1:5173 https://[::1]:8443\n");
    assert_int_equal(config_load(&cfg, path, &err), 0);
    assert_string_equal(cfg.cors_origins,
                        "https://www.example.com http://127.0.0.1:5173 https://[::1]:8443");
    write_conf("cors_origins = *\n");
    assert_int_equal(config_load(&cfg, path, &err), 0);
    assert_string_equal(cfg.cors_origins, "*");
    expect_bad("cors_origins = https://www.example.com/\n", "'cors_origins'");
    expect_bad("cors_origins = https://www.example.com/upload\n", "'cors_origins'");
    expect_bad("cors_origins = www.example.com\n", "'cors_origins'");
    expect_bad("cors_origins = ftp://www.example.com\n", "'cors_origins'");
    expect_bad("cors_origins = https://\n", "'cors_origins'");
    expect_bad("cors_origins = https://a.example:\n", "'cors_origins'");
    expect_bad("cors_origins = https://*.example.com\n", "'cors_origins'");
    expect_bad("cors_origins = * https://www.example.com\n", "'cors_origins'");
}

static void test_missing_file(void **state)
{
    struct bu_config cfg;
    struct bu_error err;

    (void)state;
    assert_int_equal(config_load(&cfg, "/nonexistent/batchup.conf", &err), -1);
    assert_non_null(strstr(err.message, "/nonexistent/batchup.conf"));
}

/* The pool must carry one user's uploads and still serve someone else; the
 * process manager's counts are capped at the pool and kept in order. */
static void test_pool_rules(void **state)
{
    struct bu_config cfg;
    struct bu_error err;

    (void)state;
    write_conf("workers = 5\nper_user_limit = 5\n");
    assert_int_equal(config_load(&cfg, path, &err), 0); /* migrate, users: no pool */
    assert_int_equal(config_check_pool(&cfg, false, &err), -1);
    assert_string_equal(err.code, "bad_config");
    assert_non_null(strstr(err.message, "workers (5)"));
    assert_non_null(strstr(err.message, "at least 6"));
    assert_int_equal(config_check_pool(&cfg, true, &err), -1); /* a manager, 5 each */
    write_conf("workers = 1\nper_user_limit = 5\n");
    assert_int_equal(config_load(&cfg, path, &err), 0);
    assert_int_equal(config_check_pool(&cfg, false, &err), -1);
    assert_int_equal(config_check_pool(&cfg, true, &err), 0); /* mod_fcgid */
    write_conf("workers = 6\nper_user_limit = 5\n");
    assert_int_equal(config_load(&cfg, path, &err), 0);
    assert_int_equal(config_check_pool(&cfg, false, &err), 0);
    assert_int_equal(cfg.pm_max_spare_servers, 6); /* capped at workers */
    assert_int_equal(cfg.pm_start_servers, 4);
    write_conf("workers = 3\nper_user_limit = 2\n");
    assert_int_equal(config_load(&cfg, path, &err), 0);
    assert_int_equal(cfg.pm_start_servers, 3);
    assert_int_equal(cfg.pm_min_spare_servers, 2);
    write_conf("pm_min_spare_servers = 9\npm_max_spare_servers = 3\n");
    assert_int_equal(config_load(&cfg, path, &err), -1);
    assert_non_null(strstr(err.message, "pm_min_spare_servers"));
    write_conf("pm = sometimes\n");
    assert_int_equal(config_load(&cfg, path, &err), -1);
    assert_non_null(strstr(err.message, "static|dynamic|ondemand"));
    write_conf("pm = ondemand\nbody_min_rate = 0\n");
    assert_int_equal(config_load(&cfg, path, &err), 0);
    assert_int_equal(cfg.pm, CONFIG_PM_ONDEMAND);
    assert_int_equal(cfg.body_min_rate, 0);
}

/* The admission caps: the defaults' design (25 + 8 + 8, 28 in all, 4 kept
 * for short requests), small pools (at least one worker each, one kept),
 * mod_fcgid's pool of one, and the shares' bounds. */
static void test_class_caps(void **state)
{
    struct bu_config cfg;
    struct bu_error err;
    struct config_caps caps;

    (void)state;
    write_conf("workers = 32\n");
    assert_int_equal(config_load(&cfg, path, &err), 0);
    config_class_caps(&cfg, &caps);
    assert_int_equal(caps.upload, 25);
    assert_int_equal(caps.upload, cfg.per_user_limit * cfg.max_active_users);
    assert_int_equal(caps.download, 8);
    assert_int_equal(caps.body, 8);
    assert_int_equal(caps.long_total, 28);
    write_conf("workers = 6\nper_user_limit = 1\n");
    assert_int_equal(config_load(&cfg, path, &err), 0);
    config_class_caps(&cfg, &caps);
    assert_int_equal(caps.upload, 5); /* 4.68: up */
    assert_int_equal(caps.download, 2);
    assert_int_equal(caps.long_total, 5);
    write_conf("workers = 4\nper_user_limit = 1\n");
    assert_int_equal(config_load(&cfg, path, &err), 0);
    config_class_caps(&cfg, &caps);
    assert_int_equal(caps.upload, 4);
    assert_int_equal(caps.download, 1);
    assert_int_equal(caps.body, 1);
    assert_int_equal(caps.long_total, 3);
    write_conf("workers = 1\nper_user_limit = 1\n");
    assert_int_equal(config_load(&cfg, path, &err), 0);
    config_class_caps(&cfg, &caps);
    assert_int_equal(caps.long_total, 1);
    assert_int_equal(caps.download, 1);
    write_conf("workers = 100\npool_reserve_share = 0\npool_download_share = 100\n");
    assert_int_equal(config_load(&cfg, path, &err), 0);
    config_class_caps(&cfg, &caps);
    assert_int_equal(caps.long_total, 99); /* one is always kept */
    assert_int_equal(caps.download, 100);
    write_conf("pool_reserve_share = 100\n");
    assert_int_equal(config_load(&cfg, path, &err), -1);
    assert_non_null(strstr(err.message, "pool_reserve_share"));
    write_conf("pool_upload_share = 0\n");
    assert_int_equal(config_load(&cfg, path, &err), -1);
    assert_non_null(strstr(err.message, "pool_upload_share"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defaults_are_the_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_default_is_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_class_caps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remote_user_needs_a_guarded_listener, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listen_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_overrides_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_values_name_the_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_env_names_variable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_and_hook_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cors_origins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
