/* Placeholder until the demo subcommand lands; replaced by its implementation. */
#include <stdio.h>

#include "cli/cli.h"

int kq_cli_demo(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "keyquorum demo: not available in this build yet\n");
    return 2;
}
