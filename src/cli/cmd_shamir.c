/* Placeholder until the shamir subcommand lands; replaced by its implementation. */
#include <stdio.h>

#include "cli/cli.h"

int kq_cli_shamir(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "keyquorum shamir: not available in this build yet\n");
    return 2;
}
