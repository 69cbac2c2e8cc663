/* Subcommands of the lamina CLI that live in their own modules. */
#ifndef LAMINA_CLI_H
#define LAMINA_CLI_H

/* `lamina bench ...`: argv[0] is "bench". Returns the exit status. */
int cli_bench(int argc, char **argv);

#endif
