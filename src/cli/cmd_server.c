/* `keyquorum server --config FILE`: runs one node in the foreground (src/node/node.c). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "node/node.h"

int kq_cli_server(int argc, char **argv)
{
    const char *config = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config = argv[++i];
        else {
            fprintf(stderr,
                    "keyquorum server: unexpected argument '%s'\n"
                    "usage: keyquorum server --config FILE\n",
                    argv[i]);
            return 2;
        }
    }
    if (config == NULL) {
        fprintf(stderr, "usage: keyquorum server --config FILE\n");
        return 2;
    }
    return kq_node_main(config);
}
