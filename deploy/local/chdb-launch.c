/*
 * chdb-launch: runs ClickHouse's command line (clickhouse-local) from libchdb.so, the
 * library the chDB npm package ships. clickhouse-current.sh uses it to run a current
 * ClickHouse server for tests: with --listen_host/--tcp_port/--http_port and a query
 * that starts the listeners and then runs for a long time, it serves the native and HTTP
 * protocols until it is killed.
 *
 *   chdb-launch LIBCHDB_SO clickhouse --path=DIR ... --query "..."
 *
 * The library is loaded with dlopen so the launcher builds without chDB's headers; the
 * one entry point it calls is, as chdb.h declares it:
 *   chdb_result * chdb_query_cmdline(int argc, char ** argv);
 */
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>

typedef struct chdb_result chdb_result;
typedef chdb_result *(*query_cmdline_fn)(int argc, char **argv);
typedef const char *(*result_error_fn)(chdb_result *result);

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s LIBCHDB_SO clickhouse [clickhouse-local arguments...]\n", argv[0]);
        return 2;
    }
    /* As clickhouse-server does: a client that went away must not end the server. */
    signal(SIGPIPE, SIG_IGN);
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "chdb-launch: load %s: %s\n", argv[1], dlerror());
        return 1;
    }
    query_cmdline_fn query_cmdline = (query_cmdline_fn)dlsym(lib, "chdb_query_cmdline");
    result_error_fn result_error = (result_error_fn)dlsym(lib, "chdb_result_error");
    if (query_cmdline == NULL) {
        fprintf(stderr, "chdb-launch: %s has no chdb_query_cmdline: %s\n", argv[1], dlerror());
        return 1;
    }
    /* Returns only when the query ends: an error, or the listeners' query finishing. */
    chdb_result *result = query_cmdline(argc - 2, argv + 2);
    const char *err = (result != NULL && result_error != NULL) ? result_error(result) : NULL;
    if (err != NULL && err[0] != '\0') {
        fprintf(stderr, "chdb-launch: %s\n", err);
        return 1;
    }
    if (result == NULL) {
        fprintf(stderr, "chdb-launch: chdb_query_cmdline returned no result\n");
        return 1;
    }
    return 0;
}
