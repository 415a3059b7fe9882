/* Placeholder until the frost subcommand lands; replaced by its implementation. */
#include <stdio.h>

#include "cli/cli.h"

int kq_cli_frost(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "keyquorum frost: not available in this build yet\n");
    return 2;
}
