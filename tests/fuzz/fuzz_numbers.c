/* Fuzz target: the number grammar of the CLI's options (src/cli/args.c).
 *
 * The input, up to its first NUL, is one option value. cli_parse_uint and
 * cli_parse_real must agree with a reference written differently (POSIX
 * regular expressions for the syntax, strtoull / strtod for the value), and
 * cli_parse must accept "-n VALUE", "-s VALUE", "-p VALUE" exactly when the
 * grammar and the option's range do. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <float.h>
#include <math.h>
#include <regex.h>
#include <string.h>

#include "args.h"
#include "fuzz_common.h"

static regex_t int_re, real_re;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    FUZZ_CHECK(regcomp(&int_re, "^[+-]?[0-9]+$", REG_EXTENDED | REG_NOSUB) == 0, "int regex");
    FUZZ_CHECK(regcomp(&real_re, "^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$",
                       REG_EXTENDED | REG_NOSUB) == 0,
               "real regex");
    return 0;
}

/* What the grammar says about s as an integer in 0..max. */
static int reference_uint(const char *s, uint64_t max, uint64_t *v) {
    if (regexec(&int_re, s, 0, NULL, 0)) return CLI_NUM_SYNTAX;
    const char *d = s + (*s == '+' || *s == '-');
    int zero = strspn(d, "0") == strlen(d);
    if (*s == '-') return zero ? (*v = 0, CLI_NUM_OK) : CLI_NUM_RANGE;
    errno = 0;
    unsigned long long x = strtoull(d, NULL, 10);
    if (errno || x > max) return CLI_NUM_RANGE;
    *v = x;
    return CLI_NUM_OK;
}

static int reference_real(const char *s, double min, double max, double *v) {
    if (regexec(&real_re, s, 0, NULL, 0)) return CLI_NUM_SYNTAX;
    double x = strtod(s, NULL);
    if (!isfinite(x) || x < min || x > max) return CLI_NUM_RANGE;
    *v = x;
    return CLI_NUM_OK;
}

static int parse_one(const char *opt, const char *value) {
    char *argv[] = {"lamina", (char *)opt, (char *)value, NULL};
    cli_args a;
    char err[256] = "";
    int rc = cli_parse(3, argv, &a, err, sizeof err);
    FUZZ_CHECK(rc == 0 || (rc == 2 && err[0]), "%s '%s': rc %d", opt, value, rc);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t n = size > 256 ? 256 : size; /* a copy, not strndup: the input has no NUL */
    const uint8_t *nul = memchr(data, 0, n);
    if (nul) n = (size_t)(nul - data);
    char *s = malloc(n + 1);
    if (!s) return 0;
    memcpy(s, data, n);
    s[n] = '\0';
    uint64_t u = 0, ru = 0;
    int ur = cli_parse_uint(s, UINT64_MAX, &u), rur = reference_uint(s, UINT64_MAX, &ru);
    FUZZ_CHECK(ur == rur, "'%s': integer %d, reference %d", s, ur, rur);
    FUZZ_CHECK(ur != CLI_NUM_OK || u == ru, "'%s': %llu, reference %llu", s, (unsigned long long)u,
               (unsigned long long)ru);

    double d = 0, rd = 0;
    int tiny = 0;
    int dr = cli_parse_real(s, 0, 1, &d, &tiny), rdr = reference_real(s, 0, 1, &rd);
    FUZZ_CHECK(dr == rdr, "'%s': real %d, reference %d", s, dr, rdr);
    FUZZ_CHECK(dr != CLI_NUM_OK || d == rd, "'%s': %g, reference %g", s, d, rd);
    FUZZ_CHECK(!tiny || (dr == CLI_NUM_OK && (float)d == 0.0f), "'%s': tiny but %g", s, d);

    /* the options take exactly what the grammar and their ranges allow */
    int steps_ok = ur == CLI_NUM_OK && u <= (1u << 30);
    FUZZ_CHECK((parse_one("-n", s) == 0) == steps_ok, "-n '%s'", s);
    FUZZ_CHECK((parse_one("-s", s) == 0) == (ur == CLI_NUM_OK), "-s '%s'", s);
    FUZZ_CHECK((parse_one("-p", s) == 0) == (dr == CLI_NUM_OK), "-p '%s'", s);
    int t_ok = rdr != CLI_NUM_SYNTAX && reference_real(s, 0, FLT_MAX, &rd) == CLI_NUM_OK;
    FUZZ_CHECK((parse_one("-t", s) == 0) == t_ok, "-t '%s'", s);
    free(s);
    return 0;
}
