/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * commands.h - podlanectl's commands, which main.c dispatches to. Each takes its own argv
 * (argv[0] is the command name) and returns the exit status; they share only ctl.h.
 */
#ifndef PODLANECTL_COMMANDS_H
#define PODLANECTL_COMMANDS_H

#include "ctl.h"

/* status.c: what podlaned runs, and the pods it wired */
int cmd_status(struct ctl_opts *o, int argc, char **argv);
int cmd_endpoint(struct ctl_opts *o, int argc, char **argv);

/* pinned.c */
int cmd_drops(struct ctl_opts *o, int argc, char **argv);
int cmd_monitor(struct ctl_opts *o, int argc, char **argv);

/* observe.c: the flow log (network policy verdicts and drops) */
int cmd_observe(struct ctl_opts *o, int argc, char **argv);

/* service.c */
int cmd_service(struct ctl_opts *o, int argc, char **argv);

/* node.c: the other nodes this node routes pod traffic to */
int cmd_node(struct ctl_opts *o, int argc, char **argv);

/* policy.c: network policy, the pods and namespaces it selects */
int cmd_policy(struct ctl_opts *o, int argc, char **argv);
int cmd_pod(struct ctl_opts *o, int argc, char **argv);
int cmd_namespace(struct ctl_opts *o, int argc, char **argv);

/* top.c, hints.c: accounting and pressure hints */
int cmd_top(struct ctl_opts *o, int argc, char **argv);
int cmd_hints(struct ctl_opts *o, int argc, char **argv);
int cmd_recommend(struct ctl_opts *o, int argc, char **argv);

/* store.c: the etcd sync */
int cmd_sync(struct ctl_opts *o, int argc, char **argv);
int cmd_deadletters(struct ctl_opts *o, int argc, char **argv);

#endif /* PODLANECTL_COMMANDS_H */
