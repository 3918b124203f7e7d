// SPDX-License-Identifier: GPL-2.0-only
/* core/error.c - the error a failed operation hands back to the API (core/agent.h). */
#include <stdarg.h>
#include <stdio.h>

#include "core/agent.h"

int op_fail(struct op_error *e, int code, const char *fmt, ...)
{
	va_list ap;

	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}
