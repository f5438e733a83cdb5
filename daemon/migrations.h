#pragma once
struct migration {
        const char *name; /* "0001_initial": the number orders them */
        const char *sql;
};
/* Terminated by {NULL, NULL}; generated from etc/migrations/ at build. */
extern const struct migration migrations[];
