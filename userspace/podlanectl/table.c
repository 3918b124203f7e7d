// SPDX-License-Identifier: GPL-2.0-only
/* table.c - column-aligned output for podlanectl's listings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static void table_push(struct table *t, const char *const *row)
{
	size_t i;

	t->cells = realloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(*t->cells));
	if (!t->cells) {
		fprintf(stderr, "podlanectl: out of memory\n");
		exit(1);
	}
	for (i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] = strdup(row[i] ? row[i] : "-");
	t->nrows++;
}

void table_init(struct table *t, size_t ncols, const char *const *header)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	table_push(t, header);
}

void table_add(struct table *t, const char *const *row)
{
	table_push(t, row);
}

void table_print(const struct table *t)
{
	size_t width[32] = { 0 }, r, c, n;

	for (r = 0; r < t->nrows; r++)
		for (c = 0; c < t->ncols && c < 32; c++) {
			n = strlen(t->cells[r * t->ncols + c]);
			if (n > width[c])
				width[c] = n;
		}
	for (r = 0; r < t->nrows; r++) {
		for (c = 0; c < t->ncols; c++) {
			const char *cell = t->cells[r * t->ncols + c];

			/* No trailing blanks: the last column is not padded. */
			if (c + 1 == t->ncols)
				printf("%s\n", cell);
			else
				printf("%-*s  ", (int)width[c], cell);
		}
	}
}

void table_free(struct table *t)
{
	size_t i;

	for (i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}
