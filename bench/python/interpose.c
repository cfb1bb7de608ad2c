/* interpose.c: does LD_PRELOAD symbol interposition catch the interpreter's start-up calls?
 * Defines Py_BytesMain, Py_InitializeFromConfig and Py_RunMain, says when each is reached and
 * forwards to the next definition (RTLD_NEXT). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#define FWD(ret, name, params, args)                                                  \
    ret name params {                                                                 \
        fprintf(stderr, "interpose: %s reached through the preload\n", #name);       \
        ret(*next) params = (ret(*) params)dlsym(RTLD_NEXT, #name);                  \
        return next args;                                                            \
    }
FWD(int, Py_BytesMain, (int argc, char **argv), (argc, argv))
typedef struct { int type; const char *func, *err_msg; int exitcode; } Status; /* PyStatus */
FWD(Status, Py_InitializeFromConfig, (const void *config), (config))
FWD(int, Py_RunMain, (void), ())
