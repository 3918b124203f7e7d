// SPDX-License-Identifier: GPL-2.0-only
/*
 * podlane_main.c - podlane.ko: the "podlane" generic-netlink family that tells the node agent
 * what the kernel knows about node and per-cgroup resource pressure. This file owns the family,
 * the per-command policies and the small doit handlers; podlane_psi.c reads pressure and
 * podlane_cgroup.c walks the cgroup tree for CGROUP_DUMP.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/utsname.h>
#include <net/genetlink.h>

#include "podlane.h"

bool podlane_cgroup_psi_enabled = true;

/*
 * One policy per command. Commands that take no attributes still get a table as long as the
 * attribute space, all NLA_UNSPEC: with maxattr 0 genetlink would skip validation and silently
 * accept anything, while an NLA_UNSPEC entry under strict validation rejects the attribute.
 */
static const struct nla_policy podlane_no_attrs_policy[PODLANE_A_MAX + 1] = {};

static const struct nla_policy podlane_cgroup_dump_policy[PODLANE_A_MAX + 1] = {
	[PODLANE_A_CGROUP_ID]		= NLA_POLICY_MIN(NLA_U64, 1),
	[PODLANE_A_CGROUP_PATH]		= { .type = NLA_NUL_STRING,
					    .len = PODLANE_CGROUP_PATH_MAX - 1 },
};

static const struct nla_policy podlane_set_config_policy[PODLANE_A_MAX + 1] = {
	[PODLANE_A_CONFIG_CGROUP_PSI]	= NLA_POLICY_MAX(NLA_U8, 1),
};

static u64 podlane_features(void)
{
	u64 features = PODLANE_F_CGROUP_DUMP | PODLANE_F_CGROUP_CPU;

	if (podlane_psi_node_available())
		features |= PODLANE_F_NODE_PRESSURE;
	if (podlane_psi_cgroup_available())
		features |= PODLANE_F_CGROUP_PSI;
	if (podlane_cgroup_memory_available())
		features |= PODLANE_F_CGROUP_MEMORY;
	return features;
}

static int podlane_get_version(struct sk_buff *skb, struct genl_info *info)
{
	struct sk_buff *msg;
	void *hdr;

	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &podlane_genl_family, 0, info->genlhdr->cmd);
	if (!hdr)
		goto too_big;
	if (nla_put_u32(msg, PODLANE_A_VERSION, PODLANE_GENL_VERSION) ||
	    nla_put_u64_64bit(msg, PODLANE_A_FEATURES, podlane_features(), PODLANE_A_PAD) ||
	    nla_put_string(msg, PODLANE_A_KERNEL_RELEASE, utsname()->release) ||
	    nla_put_u8(msg, PODLANE_A_CONFIG_CGROUP_PSI, READ_ONCE(podlane_cgroup_psi_enabled)))
		goto too_big;
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

too_big:
	nlmsg_free(msg);
	NL_SET_ERR_MSG(info->extack, "reply does not fit in a message");
	return -EMSGSIZE;
}

static const int podlane_psi_attr_of_res[PODLANE_PSI_NR] = {
	[PODLANE_PSI_CPU]	= PODLANE_A_PSI_CPU,
	[PODLANE_PSI_MEMORY]	= PODLANE_A_PSI_MEMORY,
	[PODLANE_PSI_IO]	= PODLANE_A_PSI_IO,
};

static int podlane_node_pressure(struct sk_buff *skb, struct genl_info *info)
{
	struct podlane_psi psi[PODLANE_PSI_NR];
	struct sk_buff *msg;
	void *hdr;
	int res, err;

	if (!podlane_psi_node_available()) {
		NL_SET_ERR_MSG(info->extack, "node pressure (PSI) is not available on this kernel");
		return -EOPNOTSUPP;
	}
	for (res = 0; res < PODLANE_PSI_NR; res++) {
		err = podlane_psi_read_node(res, &psi[res]);
		if (err) {
			NL_SET_ERR_MSG(info->extack,
				       "failed to read the root cgroup's pressure files");
			return err;
		}
	}

	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &podlane_genl_family, 0, info->genlhdr->cmd);
	if (!hdr)
		goto too_big;
	for (res = 0; res < PODLANE_PSI_NR; res++)
		if (podlane_psi_put(msg, podlane_psi_attr_of_res[res], &psi[res]))
			goto too_big;
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

too_big:
	nlmsg_free(msg);
	NL_SET_ERR_MSG(info->extack, "reply does not fit in a message");
	return -EMSGSIZE;
}

static int podlane_set_config(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *attr = info->attrs[PODLANE_A_CONFIG_CGROUP_PSI];
	bool enable;

	if (!attr) {
		NL_SET_ERR_MSG(info->extack, "SET_CONFIG needs at least one CONFIG_* attribute");
		return -EINVAL;
	}
	enable = nla_get_u8(attr);
	if (enable && !podlane_psi_cgroup_available()) {
		NL_SET_ERR_MSG_ATTR(info->extack, attr,
				    "per-cgroup PSI is not readable on this kernel");
		return -EOPNOTSUPP;
	}
	WRITE_ONCE(podlane_cgroup_psi_enabled, enable);
	return 0;
}

static const struct genl_ops podlane_genl_ops[] = {
	{
		.cmd		= PODLANE_CMD_GET_VERSION,
		.doit		= podlane_get_version,
		.policy		= podlane_no_attrs_policy,
		.maxattr	= PODLANE_A_MAX,
	},
	{
		.cmd		= PODLANE_CMD_NODE_PRESSURE,
		.doit		= podlane_node_pressure,
		.policy		= podlane_no_attrs_policy,
		.maxattr	= PODLANE_A_MAX,
	},
	{
		.cmd		= PODLANE_CMD_CGROUP_DUMP,
		.start		= podlane_cgroup_dump_start,
		.dumpit		= podlane_cgroup_dump,
		.done		= podlane_cgroup_dump_done,
		.policy		= podlane_cgroup_dump_policy,
		.maxattr	= PODLANE_A_MAX,
	},
	{
		.cmd		= PODLANE_CMD_SET_CONFIG,
		.doit		= podlane_set_config,
		.policy		= podlane_set_config_policy,
		.maxattr	= PODLANE_A_MAX,
		.flags		= GENL_ADMIN_PERM,
	},
};

/*
 * resv_start_op stays 0: a new family validates the reserved header bytes and requires a policy
 * on every command from the first one.
 */
struct genl_family podlane_genl_family __ro_after_init = {
	.name		= PODLANE_GENL_NAME,
	.version	= PODLANE_GENL_VERSION,
	.netnsok	= true,
	.parallel_ops	= true,
	.module		= THIS_MODULE,
	.ops		= podlane_genl_ops,
	.n_ops		= ARRAY_SIZE(podlane_genl_ops),
};

static int __init podlane_init(void)
{
	int err;

	err = podlane_psi_init();
	if (err)
		return err;
	err = genl_register_family(&podlane_genl_family);
	if (err) {
		pr_err("failed to register generic netlink family '%s': %d\n",
		       PODLANE_GENL_NAME, err);
		podlane_psi_exit();
		return err;
	}
	pr_info("generic netlink family '%s' v%d ready (features 0x%llx)\n",
		PODLANE_GENL_NAME, PODLANE_GENL_VERSION, podlane_features());
	return 0;
}

static void __exit podlane_exit(void)
{
	/*
	 * Unregistering waits for requests in flight; a dump in progress holds a module
	 * reference, so nothing can reach the readers once this returns.
	 */
	genl_unregister_family(&podlane_genl_family);
	podlane_psi_exit();
}

module_init(podlane_init);
module_exit(podlane_exit);

MODULE_DESCRIPTION("podlane: node and cgroup pressure over generic netlink");
MODULE_AUTHOR("The podlane authors");
MODULE_LICENSE("GPL");
