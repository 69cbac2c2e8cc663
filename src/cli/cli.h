/* Subcommands of the lamina CLI that live in their own modules and parse
 * their own arguments: `lamina NAME ARGS...` runs NAME's entry point with
 * argv[0] == "NAME". Each returns the process exit status (0 success, 1 a
 * file or runtime error, 2 a usage error). */
#ifndef LAMINA_CLI_H
#define LAMINA_CLI_H

int cli_bench(int argc, char **argv);      /* lamina bench (src/cli/bench.h) */
int cli_batch(int argc, char **argv);      /* lamina batch (src/batch/) */
int cli_serve(int argc, char **argv);      /* lamina serve (src/serve/) */
int cli_perplexity(int argc, char **argv); /* lamina perplexity (perplexity.c) */

/* lamina convert (convert.c) */
int cli_convert(int argc, char **argv);

typedef struct cli_subcommand {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary; /* one line for lamina --help */
} cli_subcommand;

/* commands.c: the table, ended by a NULL name; one line per subcommand. */
extern const cli_subcommand cli_subcommands[];

#endif
