/*
 * Copyright (C) The omni gateway authors
 *
 * Unit tests of the cores that keep customer data encrypted at rest: the
 * keyring file (omni_keyring.c), envelope encryption (omni_seal.c) and
 * blind indexes (omni_blind.c).
 */


#define _GNU_SOURCE   /* memmem() */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "omni_blind.h"
#include "omni_keyring.h"
#include "omni_seal.h"


static char  test_dir[] = "/tmp/omni-crypt-XXXXXX";


static int
test_setup(void **state)
{
    (void) state;

    return mkdtemp(test_dir) ? 0 : -1;
}


static int
test_teardown(void **state)
{
    char  cmd[128];

    (void) state;

    snprintf(cmd, sizeof(cmd), "rm -rf %s", test_dir);

    return system(cmd);
}


static const char *
test_path(const char *name)
{
    static char  path[256];

    snprintf(path, sizeof(path), "%s/%s", test_dir, name);

    return path;
}


static void
test_write(const char *name, const char *text, mode_t mode)
{
    FILE  *f;

    f = fopen(test_path(name), "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(test_path(name), mode), 0);
}


static void
test_load_fails(const char *name, const char *text, mode_t mode,
    const char *expect)
{
    char             err[OMNI_ERRLEN];
    omni_keyring_t  *kr;

    test_write(name, text, mode);

    assert_int_equal(omni_keyring_load(test_path(name), &kr, err), -1);
    assert_null(kr);

    if (strstr(err, expect) == NULL) {
        fprintf(stderr, "got: %s\nwant: ...%s...\n", err, expect);
    }

    assert_non_null(strstr(err, expect));
}


static void
test_keyring_round_trip(void **state)
{
    char             err[OMNI_ERRLEN], id1[33], id2[33];
    struct stat      st;
    omni_keyring_t  *kr, *back;

    (void) state;

    assert_int_equal(omni_keyring_generate(&kr, err), 0);
    assert_int_equal(kr->nkek, 1);
    assert_int_equal(kr->nindex, 1);
    assert_int_equal(omni_keyring_kek(kr)->version, 1);

    assert_int_equal(omni_keyring_add_kek(kr, err), 0);
    assert_int_equal(omni_keyring_add_kek(kr, err), 0);
    assert_int_equal(omni_keyring_add_index(kr, err), 0);
    assert_int_equal(omni_keyring_kek(kr)->version, 3);

    /* the newest is never dropped; an older one is */
    assert_int_equal(omni_keyring_drop_kek(kr, 3), -1);
    assert_int_equal(omni_keyring_drop_kek(kr, 1), 0);
    assert_null(omni_keyring_kek_version(kr, 1));
    assert_non_null(omni_keyring_kek_version(kr, 2));

    assert_int_equal(omni_keyring_save(kr, test_path("kr.json"), 0, err), 0);
    assert_int_equal(stat(test_path("kr.json"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    assert_int_equal(omni_keyring_load(test_path("kr.json"), &back, err), 0);
    assert_int_equal(back->nkek, 2);
    assert_int_equal(back->kek[0].version, 2);
    assert_int_equal(back->kek[1].version, 3);
    assert_memory_equal(back->kek[1].key, kr->kek[1].key,
                        OMNI_KEYRING_KEY_LEN);
    assert_int_equal(omni_keyring_index(back)->version, 2);
    assert_memory_equal(omni_keyring_index(back)->key,
                        omni_keyring_index(kr)->key, OMNI_KEYRING_KEY_LEN);

    omni_keyring_id_hex(kr, id1);
    omni_keyring_id_hex(back, id2);
    assert_string_equal(id1, id2);
    assert_int_equal(strlen(id1), 32);

    /* saved again over itself, for a group */
    assert_int_equal(omni_keyring_save(back, test_path("kr.json"), 1, err),
                     0);
    assert_int_equal(stat(test_path("kr.json"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);

    omni_keyring_free(kr);
    omni_keyring_free(back);
}


static void
test_keyring_refusals(void **state)
{
    char  good[512], link[256];

    (void) state;

    snprintf(good, sizeof(good), "{\"format\":\"omni-keyring/1\","
             "\"id\":\"000102030405060708090a0b0c0d0e0f\","
             "\"kek\":[{\"version\":1,\"key\":\"%s\"}],"
             "\"index\":[{\"version\":1,\"key\":\"%s\"}]}",
             "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
             "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8");

    test_load_fails("world.json", good, 0644, "has mode 0644: others may use");
    test_load_fails("gw.json", good, 0620, "others may write");
    test_load_fails("junk.json", "{\"format\":", 0600, "is not JSON");
    test_load_fails("fmt.json", "{\"format\":\"x\"}", 0600,
                    "is not in the format");
    test_load_fails("dup.json", "{\"format\":\"omni-keyring/1\","
                    "\"format\":\"omni-keyring/1\"}", 0600, "is not JSON");
    test_load_fails("id.json", "{\"format\":\"omni-keyring/1\",\"id\":"
                    "\"000102030405060708090A0B0C0D0E0F\"}", 0600,
                    "is not lowercase hex");
    test_load_fails("nokek.json", "{\"format\":\"omni-keyring/1\",\"id\":"
                    "\"000102030405060708090a0b0c0d0e0f\",\"kek\":[],"
                    "\"index\":[]}", 0600, "\"kek\" must list 1 to 64 keys");
    test_load_fails("short.json", "{\"format\":\"omni-keyring/1\",\"id\":"
                    "\"000102030405060708090a0b0c0d0e0f\",\"kek\":"
                    "[{\"version\":1,\"key\":\"AAEC\"}],\"index\":[]}", 0600,
                    "kek version 1 is not 32 bytes");
    test_load_fails("order.json", "{\"format\":\"omni-keyring/1\",\"id\":"
                    "\"000102030405060708090a0b0c0d0e0f\",\"kek\":"
                    "[{\"version\":2,\"key\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFR"
                    "YXGBkaGxwdHh8\"},{\"version\":2,\"key\":\"AAECAwQFBgcIC"
                    "QoLDA0ODxAREhMUFRYXGBkaGxwdHh8\"}],\"index\":[]}", 0600,
                    "versions start at 1 and grow");

    /* a link, even to a good file, is not followed */
    test_write("good.json", good, 0600);
    snprintf(link, sizeof(link), "%s", test_path("link.json"));
    assert_int_equal(symlink(test_path("good.json"), link), 0);

    {
        char             err[OMNI_ERRLEN];
        omni_keyring_t  *kr;

        assert_int_equal(omni_keyring_load(link, &kr, err), -1);
        assert_non_null(strstr(err, "a symbolic link"));

        assert_int_equal(omni_keyring_load(test_path("good.json"), &kr, err),
                         0);
        assert_int_equal(kr->id[15], 0x0f);
        assert_int_equal(kr->kek[0].key[31], 0x1f);
        omni_keyring_free(kr);
    }
}


static void
test_seal_keys(void **state)
{
    char                       err[OMNI_ERRLEN];
    uint32_t                   version;
    omni_seal_t               *s;
    unsigned char              dk[OMNI_SEAL_KEY_LEN], back[OMNI_SEAL_KEY_LEN];
    unsigned char              wrapped[OMNI_SEAL_WRAPPED_LEN];
    omni_keyring_t            *kr;

    (void) state;

    assert_int_equal(omni_keyring_generate(&kr, err), 0);
    s = omni_seal_new(err);
    assert_non_null(s);

    assert_int_equal(omni_seal_data_key(s, dk), OMNI_SEAL_OK);
    assert_int_equal(omni_seal_wrap(s, omni_keyring_kek(kr), "cus_1", 5, dk,
                                    wrapped),
                     OMNI_SEAL_OK);
    assert_int_equal(omni_seal_wrapped_version(wrapped, sizeof(wrapped)), 1);

    assert_int_equal(omni_seal_unwrap(s, kr, "cus_1", 5, wrapped,
                                      sizeof(wrapped), back, &version),
                     OMNI_SEAL_OK);
    assert_int_equal(version, 1);
    assert_memory_equal(dk, back, OMNI_SEAL_KEY_LEN);

    /* another customer's, a flipped byte, a cut one, a forged version */
    assert_int_equal(omni_seal_unwrap(s, kr, "cus_2", 5, wrapped,
                                      sizeof(wrapped), back, &version),
                     OMNI_SEAL_BAD);

    wrapped[20] ^= 1;
    assert_int_equal(omni_seal_unwrap(s, kr, "cus_1", 5, wrapped,
                                      sizeof(wrapped), back, &version),
                     OMNI_SEAL_BAD);
    wrapped[20] ^= 1;

    assert_int_equal(omni_seal_unwrap(s, kr, "cus_1", 5, wrapped,
                                      sizeof(wrapped) - 1, back, &version),
                     OMNI_SEAL_BAD);

    wrapped[4] = 9;
    assert_int_equal(omni_seal_unwrap(s, kr, "cus_1", 5, wrapped,
                                      sizeof(wrapped), back, &version),
                     OMNI_SEAL_NO_KEY);

    /* after a rotation the old version still opens, and rewraps */
    wrapped[4] = 1;
    assert_int_equal(omni_keyring_add_kek(kr, err), 0);
    assert_int_equal(omni_seal_unwrap(s, kr, "cus_1", 5, wrapped,
                                      sizeof(wrapped), back, &version),
                     OMNI_SEAL_OK);
    assert_int_equal(version, 1);
    assert_int_equal(omni_seal_wrap(s, omni_keyring_kek(kr), "cus_1", 5,
                                    back, wrapped),
                     OMNI_SEAL_OK);
    assert_int_equal(omni_seal_wrapped_version(wrapped, sizeof(wrapped)), 2);

    wrapped[4] = 1;      /* a wrapped key claiming the version it was not */
    assert_int_equal(omni_seal_unwrap(s, kr, "cus_1", 5, wrapped,
                                      sizeof(wrapped), back, &version),
                     OMNI_SEAL_BAD);

    omni_seal_free(s);
    omni_keyring_free(kr);
}


static void
test_seal_values(void **state)
{
    char              err[OMNI_ERRLEN];
    size_t            n;
    omni_seal_t      *s;
    unsigned char     dk[OMNI_SEAL_KEY_LEN], other[OMNI_SEAL_KEY_LEN];
    unsigned char     sealed[64 + OMNI_SEAL_OVERHEAD],
                      again[64 + OMNI_SEAL_OVERHEAD], out[64];
    omni_seal_aad_t   aad, wrong;

    (void) state;

    s = omni_seal_new(err);
    assert_non_null(s);
    assert_int_equal(omni_seal_data_key(s, dk), OMNI_SEAL_OK);
    assert_int_equal(omni_seal_data_key(s, other), OMNI_SEAL_OK);
    assert_memory_not_equal(dk, other, OMNI_SEAL_KEY_LEN);

    aad.customer = "cus_1";
    aad.customer_len = 5;
    aad.record = "identity";
    aad.field = "phone";
    aad.field_len = 5;

    assert_int_equal(omni_seal_value(s, dk, &aad, "+8613800138000", 14,
                                     sealed),
                     OMNI_SEAL_OK);
    assert_null(memmem(sealed, 14 + OMNI_SEAL_OVERHEAD, "138001", 6));

    /* a fresh nonce each time: the same value never seals the same */
    assert_int_equal(omni_seal_value(s, dk, &aad, "+8613800138000", 14,
                                     again),
                     OMNI_SEAL_OK);
    assert_memory_not_equal(sealed, again, 14 + OMNI_SEAL_OVERHEAD);

    assert_int_equal(omni_seal_open(s, dk, &aad, sealed,
                                    14 + OMNI_SEAL_OVERHEAD, out, &n),
                     OMNI_SEAL_OK);
    assert_int_equal(n, 14);
    assert_memory_equal(out, "+8613800138000", 14);

    /* bound to its customer, record and field, and to its key */
    wrong = aad;
    wrong.customer = "cus_2";
    assert_int_equal(omni_seal_open(s, dk, &wrong, sealed,
                                    14 + OMNI_SEAL_OVERHEAD, out, &n),
                     OMNI_SEAL_BAD);
    wrong = aad;
    wrong.record = "session";
    assert_int_equal(omni_seal_open(s, dk, &wrong, sealed,
                                    14 + OMNI_SEAL_OVERHEAD, out, &n),
                     OMNI_SEAL_BAD);
    wrong = aad;
    wrong.field = "email";
    assert_int_equal(omni_seal_open(s, dk, &wrong, sealed,
                                    14 + OMNI_SEAL_OVERHEAD, out, &n),
                     OMNI_SEAL_BAD);
    assert_int_equal(omni_seal_open(s, other, &aad, sealed,
                                    14 + OMNI_SEAL_OVERHEAD, out, &n),
                     OMNI_SEAL_BAD);

    /* tampered, cut short, not a sealed value */
    sealed[20] ^= 0x80;
    assert_int_equal(omni_seal_open(s, dk, &aad, sealed,
                                    14 + OMNI_SEAL_OVERHEAD, out, &n),
                     OMNI_SEAL_BAD);
    sealed[20] ^= 0x80;
    assert_int_equal(omni_seal_open(s, dk, &aad, sealed,
                                    14 + OMNI_SEAL_OVERHEAD - 1, out, &n),
                     OMNI_SEAL_BAD);
    assert_int_equal(omni_seal_open(s, dk, &aad, sealed, 3, out, &n),
                     OMNI_SEAL_BAD);
    sealed[0] = 'K';
    assert_int_equal(omni_seal_open(s, dk, &aad, sealed,
                                    14 + OMNI_SEAL_OVERHEAD, out, &n),
                     OMNI_SEAL_BAD);

    /* an empty value seals and opens */
    assert_int_equal(omni_seal_value(s, dk, &aad, "", 0, sealed),
                     OMNI_SEAL_OK);
    assert_int_equal(omni_seal_open(s, dk, &aad, sealed, OMNI_SEAL_OVERHEAD,
                                    out, &n),
                     OMNI_SEAL_OK);
    assert_int_equal(n, 0);

    omni_seal_free(s);
}


/* a child after fork() draws other nonces than its parent */
static void
test_seal_fork(void **state)
{
    int              fds[2], status;
    char             err[OMNI_ERRLEN];
    pid_t            pid;
    omni_seal_t     *s;
    unsigned char    dk[OMNI_SEAL_KEY_LEN], mine[OMNI_SEAL_OVERHEAD],
                     child[OMNI_SEAL_OVERHEAD];
    omni_seal_aad_t  aad = { "c", 1, "r", "", 0 };

    (void) state;

    s = omni_seal_new(err);
    assert_non_null(s);
    assert_int_equal(omni_seal_data_key(s, dk), OMNI_SEAL_OK);
    assert_int_equal(pipe(fds), 0);

    pid = fork();
    assert_true(pid >= 0);

    if (pid == 0) {
        omni_seal_value(s, dk, &aad, "", 0, child);
        _exit(write(fds[1], child, sizeof(child)) == sizeof(child) ? 0 : 1);
    }

    assert_int_equal(omni_seal_value(s, dk, &aad, "", 0, mine), OMNI_SEAL_OK);
    assert_int_equal(read(fds[0], child, sizeof(child)), sizeof(child));
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    assert_memory_not_equal(mine + 1, child + 1, OMNI_SEAL_NONCE_LEN);

    close(fds[0]);
    close(fds[1]);
    omni_seal_free(s);
}


static void
test_normalize(const char *type, const char *value, const char *expect)
{
    char    out[OMNI_BLIND_VALUE_MAX];
    size_t  n;
    int     rc;

    rc = omni_blind_normalize(type, strlen(type), value, strlen(value), out,
                              &n);

    if (expect == NULL) {
        assert_int_equal(rc, -1);
        return;
    }

    assert_int_equal(rc, 0);
    assert_int_equal(n, strlen(expect));
    assert_memory_equal(out, expect, n);
}


static void
test_blind_normalize(void **state)
{
    (void) state;

    test_normalize("phone", "+86 138-0013-8000", "+8613800138000");
    test_normalize("mobile", "0086 (138) 0013.8000", "+8613800138000");
    test_normalize("work_phone", "+1 415 555 0123", "+14155550123");
    test_normalize("phone", "13800138000", NULL);
    test_normalize("phone", "+0123456789", NULL);
    test_normalize("phone", "+1234567", NULL);
    test_normalize("phone", "+1234567890123456", NULL);
    test_normalize("phone", "+86 138x", NULL);

    test_normalize("email", " Alice@Example.COM ", "alice@example.com");
    test_normalize("billing_email", "B@X.cn", "b@x.cn");
    test_normalize("email", "alice", NULL);
    test_normalize("email", "@example.com", NULL);
    test_normalize("email", "a@b@c", NULL);
    test_normalize("email", "a b@c", NULL);

    test_normalize("card", "4111 1111 1111 1111", "4111111111111111");
    test_normalize("bank_card", "5555-5555-5555-4444", "5555555555554444");
    test_normalize("card", "4111 1111 1111 1112", NULL);
    test_normalize("card", "4111", NULL);

    test_normalize("national_id", "11010519491231002x", "11010519491231002X");
    test_normalize("passport", " e 1234 5678 ", "E12345678");
    test_normalize("passport", "   ", NULL);

    /* other types keep the value as it is */
    test_normalize("wechat_openid", "o6_bmjrPTlm6_2sgVt7hMZOPfL2M",
                   "o6_bmjrPTlm6_2sgVt7hMZOPfL2M");
    test_normalize("jwt_sub", "Customer 42", "Customer 42");
    test_normalize("jwt_sub", "", NULL);
}


static void
test_blind_index(void **state)
{
    char             err[OMNI_ERRLEN];
    omni_blind_t    *b, *b2;
    unsigned char    i1[OMNI_BLIND_LEN], i2[OMNI_BLIND_LEN],
                     i3[OMNI_BLIND_LEN];
    omni_keyring_t  *kr;

    (void) state;

    assert_int_equal(omni_keyring_generate(&kr, err), 0);
    b = omni_blind_new(kr, err);
    assert_non_null(b);

    assert_int_equal(omni_blind_index(b, 0, "phone", 5, "+8613800138000", 14,
                                      i1), 0);
    assert_int_equal(omni_blind_index(b, 1, "phone", 5, "+8613800138000", 14,
                                      i2), 0);
    assert_memory_equal(i1, i2, OMNI_BLIND_LEN);

    /* the type is part of it: the same text under another type differs */
    assert_int_equal(omni_blind_index(b, 0, "mobile", 6, "+8613800138000",
                                      14, i3), 0);
    assert_memory_not_equal(i1, i3, OMNI_BLIND_LEN);
    assert_int_equal(omni_blind_index(b, 0, "phon", 4, "e+8613800138000",
                                      15, i3), 0);
    assert_memory_not_equal(i1, i3, OMNI_BLIND_LEN);

    assert_int_equal(omni_blind_index(b, 7, "phone", 5, "x", 1, i3), -1);

    /* a new index key: the old version still computes, the new differs */
    assert_int_equal(omni_keyring_add_index(kr, err), 0);
    b2 = omni_blind_new(kr, err);
    assert_non_null(b2);
    assert_int_equal(omni_blind_index(b2, 1, "phone", 5, "+8613800138000", 14,
                                      i2), 0);
    assert_memory_equal(i1, i2, OMNI_BLIND_LEN);
    assert_int_equal(omni_blind_index(b2, 0, "phone", 5, "+8613800138000", 14,
                                      i3), 0);
    assert_memory_not_equal(i1, i3, OMNI_BLIND_LEN);

    omni_blind_free(b);
    omni_blind_free(b2);
    omni_keyring_free(kr);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_keyring_round_trip),
        cmocka_unit_test(test_keyring_refusals),
        cmocka_unit_test(test_seal_keys),
        cmocka_unit_test(test_seal_values),
        cmocka_unit_test(test_seal_fork),
        cmocka_unit_test(test_blind_normalize),
        cmocka_unit_test(test_blind_index),
    };

    return cmocka_run_group_tests(tests, test_setup, test_teardown);
}
