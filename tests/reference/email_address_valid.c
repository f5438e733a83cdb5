/* The sender's address check as a filter, for test_email_rules.sh to
 * compare with rapport.email_ok(): reads NUL-terminated strings on standard
 * input and prints a line for each, "t" if email_address_valid() accepts
 * it, "f" if not. */
#include <stdio.h>
#include <stdlib.h>
#include "mime.h"

int main(void) {
        char *s = NULL;
        size_t cap = 0;
        while (getdelim(&s, &cap, '\0', stdin) > 0)
                puts(email_address_valid(s) ? "t" : "f");
        free(s);
        return ferror(stdin) || fflush(stdout) ? 1 : 0;
}
