/* The offline CLI's subcommands. Each takes the arguments after its name and returns the
 * process exit code: 0 success, 1 a negative answer (an invalid signature), 2 a usage or input
 * error (message on stderr). */
#ifndef KQ_CLI_CLI_H
#define KQ_CLI_CLI_H

int kq_cli_shamir(int argc, char **argv);
int kq_cli_frost(int argc, char **argv);
int kq_cli_demo(int argc, char **argv);
int kq_cli_server(int argc, char **argv);
int kq_cli_dev(int argc, char **argv);
int kq_cli_status(int argc, char **argv);
int kq_cli_ledger(int argc, char **argv);
int kq_cli_client(int argc, char **argv);
int kq_cli_member(int argc, char **argv);
int kq_cli_pki(int argc, char **argv);
int kq_cli_key(int argc, char **argv);
int kq_cli_datakey(int argc, char **argv);
int kq_cli_encrypt(int argc, char **argv);
int kq_cli_decrypt(int argc, char **argv);
int kq_cli_rewrap(int argc, char **argv);
int kq_cli_sign(int argc, char **argv);
int kq_cli_verify(int argc, char **argv);
int kq_cli_derive(int argc, char **argv);

#endif
