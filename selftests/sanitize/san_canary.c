// SPDX-License-Identifier: GPL-2.0-only
/*
 * san_canary <asan|ubsan|leak|none> - commits one bug of the kind asked (a heap read past the
 * end, a signed overflow, a lost allocation) or none, for selftests/sanitize/reports.t: built
 * like every test program, so with ASan and UBSan in a sanitized build, which must report it.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "";
	volatile int big = INT_MAX;
	char *volatile p;
	volatile char c;
	volatile int n;

	if (!strcmp(what, "asan")) {
		p = strdup(what);
		c = p[strlen(p) + 8];
		(void)c;
		free(p);
	} else if (!strcmp(what, "ubsan")) {
		n = big + argc;
		(void)n;
	} else if (!strcmp(what, "leak")) {
		p = malloc(64);
		memset(p, 1, 64);
		p = NULL;
	} else if (strcmp(what, "none")) {
		fprintf(stderr, "usage: san_canary asan|ubsan|leak|none\n");
		return 2;
	}
	return 0;
}
