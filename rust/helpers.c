// SPDX-License-Identifier: GPL-2.0
/*
 * Out-of-line forwards to kernel static inlines and macros for the vassist
 * Rust crate. No logic lives here.
 */
#include "helpers.h"

unsigned int vassist_skb_len(const struct sk_buff *skb) { return skb->len; }
/* All the packet path reads of every frame, in one call. */
const void *vassist_skb_peek(const struct sk_buff *skb, void *buffer, unsigned int max,
			     struct vassist_skb_meta *meta)
{
	meta->len = skb->len;
	meta->protocol = ntohs(skb->protocol);
	meta->segs = skb_is_gso(skb) ? skb_shinfo(skb)->gso_segs : 1;
	meta->peeked = min(max, skb->len);
	return skb_header_pointer(skb, 0, meta->peeked, buffer);
}

bool vassist_skb_csum_partial(const struct sk_buff *skb)
{
	return skb->ip_summed == CHECKSUM_PARTIAL;
}
/* A header rewrite invalidates a checksum of the whole packet: let the
 * receiver verify the (fixed) TCP checksum itself. */
void vassist_skb_csum_complete_to_none(struct sk_buff *skb)
{
	if (skb->ip_summed == CHECKSUM_COMPLETE)
		skb->ip_summed = CHECKSUM_NONE;
}
/* The first @len bytes from the network header, linear and private. */
void *vassist_skb_writable(struct sk_buff *skb, unsigned int len)
{
	return skb_ensure_writable(skb, len) ? NULL : skb->data;
}
bool vassist_skb_eth_header(const struct sk_buff *skb, u8 *out)
{
	if (!skb_mac_header_was_set(skb) ||
	    skb_network_offset(skb) - skb_mac_offset(skb) < ETH_HLEN)
		return false;
	memcpy(out, skb_mac_header(skb), ETH_HLEN);
	return true;
}
int vassist_skb_iif(const struct sk_buff *skb) { return skb->skb_iif; }
/*
 * Nothing between the bridge's post-routing hooks and the device can
 * drop the frame by policy: no VLAN tag to handle, and br_netfilter will
 * not run it through the IP hooks (bridge-nf-call-ip{,6}tables).
 */
bool vassist_skb_plain_path(const struct sk_buff *skb)
{
	if (skb_vlan_tag_present(skb) || eth_type_vlan(skb->protocol))
		return false;
#if IS_ENABLED(CONFIG_BRIDGE_NETFILTER)
	if (nf_bridge_info_exists(skb))
		return false;
#endif
	return true;
}
/* br_dev_queue_push_xmit() for a plain (untagged, not br_netfilter) frame,
 * with dev_queue_xmit()'s result. */
int vassist_skb_br_xmit(struct sk_buff *skb)
{
	skb_push(skb, ETH_HLEN);
	if (!is_skb_forwardable(skb->dev, skb)) {
		kfree_skb(skb);
		return NET_XMIT_DROP;
	}
	return dev_queue_xmit(skb);
}
int vassist_xmit_frame(struct net_device *dev, const void *frame, unsigned int len)
{
	struct sk_buff *skb = alloc_skb(LL_RESERVED_SPACE(dev) + len, GFP_ATOMIC);

	if (!skb)
		return -ENOMEM;
	skb_reserve(skb, LL_RESERVED_SPACE(dev));
	skb_put_data(skb, frame, len);
	skb->dev = dev;
	skb_reset_mac_header(skb);
	skb->protocol = eth_hdr(skb)->h_proto;
	skb_set_network_header(skb, ETH_HLEN);
	return dev_queue_xmit(skb);
}

/* The running port @ifindex of @port's bridge, when that bridge does not
 * filter VLANs; NULL otherwise. Under RCU. */
struct net_device *vassist_netdev_peer_port(const struct net_device *port, int ifindex)
{
	struct net_device *br = netdev_master_upper_dev_get_rcu((struct net_device *)port);
	struct net_device *dev;

	if (!br || !ifindex || br_vlan_enabled(br))
		return NULL;
	dev = dev_get_by_index_rcu(dev_net(port), ifindex);
	if (!dev || !netif_running(dev) ||
	    netdev_master_upper_dev_get_rcu(dev) != br)
		return NULL;
	return dev;
}
/*
 * A tap (drivers/net/tun.c) whose frames reach the reader's ring as sent:
 * carrier on (a reader is attached) and no qdisc that may drop or hold
 * frames by policy (noqueue, or the FIFOs that only drop when full). Under
 * RCU.
 */
static bool vassist_fifo(const struct Qdisc *q)
{
	static const char *const ok[] = { "noqueue", "pfifo_fast", "pfifo", "fq_codel" };
	int i;

	for (i = 0; i < ARRAY_SIZE(ok); i++)
		if (!strcmp(q->ops->id, ok[i]))
			return true;
	return false;
}
bool vassist_netdev_tap_fifo(struct net_device *dev)
{
	const struct Qdisc *root;
	unsigned int i;

	if (!dev->rtnl_link_ops || strcmp(dev->rtnl_link_ops->kind, "tun") ||
	    !netif_carrier_ok(dev))
		return false;
	root = rcu_dereference(dev->qdisc);
	if (!root)
		return false;
	if (strcmp(root->ops->id, "mq"))
		return vassist_fifo(root);
	for (i = 0; i < dev->real_num_tx_queues; i++) {
		root = rcu_dereference(netdev_get_tx_queue(dev, i)->qdisc_sleeping);
		if (!root || !vassist_fifo(root))
			return false;
	}
	return true;
}
u32 vassist_netdev_tx_queue_len(const struct net_device *dev)
{
	return READ_ONCE(dev->tx_queue_len);
}
/* Frames the device's reader took plus frames it dropped. */
u64 vassist_netdev_ring_out(struct net_device *dev)
{
	struct rtnl_link_stats64 s;

	dev_get_stats(dev, &s);
	return s.tx_packets + s.tx_dropped;
}

void vassist_spin_lock_bh(spinlock_t *lock) { spin_lock_bh(lock); }
void vassist_spin_unlock_bh(spinlock_t *lock) { spin_unlock_bh(lock); }

/* The __percpu address space is the caller's to keep: Rust sees a u64 *. */
u64 *vassist_percpu_alloc(unsigned int n)
{
	return (u64 __force *)__alloc_percpu_gfp(n * sizeof(u64), sizeof(u64), GFP_KERNEL);
}
void vassist_percpu_free(u64 *counters)
{
	free_percpu((u64 __percpu __force *)counters);
}
void vassist_percpu_add(u64 *counters, const u64 *v, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		this_cpu_add(((u64 __percpu __force *)counters)[i], v[i]);
}
u64 vassist_percpu_sum(u64 *counters, unsigned int i)
{
	u64 sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += READ_ONCE(per_cpu_ptr((u64 __percpu __force *)counters, cpu)[i]);
	return sum;
}

u64 vassist_jiffies_ms(void) { return jiffies64_to_msecs(get_jiffies_64()); }
u64 vassist_random_u64(void) { return get_random_u64(); }

int vassist_netdev_ifindex(const struct net_device *dev) { return dev->ifindex; }
const char *vassist_netdev_name(const struct net_device *dev) { return dev->name; }
struct net *vassist_netdev_net(const struct net_device *dev) { return dev_net(dev); }
bool vassist_netdev_is_bridge_port(const struct net_device *dev)
{
	return netif_is_bridge_port(dev);
}
int vassist_netdev_master_ifindex(struct net_device *dev)
{
	struct net_device *master = netdev_master_upper_dev_get(dev);

	return master ? master->ifindex : 0;
}
void vassist_netdev_hold(struct net_device *dev) { dev_hold(dev); }
void vassist_netdev_put(struct net_device *dev) { dev_put(dev); }
struct net_device *vassist_netdev_notifier_dev(void *info)
{
	return netdev_notifier_info_to_dev(info);
}
/* Only meaningful for NETDEV_CHANGEUPPER. */
bool vassist_netdev_notifier_unlinked_master(void *info)
{
	struct netdev_notifier_changeupper_info *cu = info;

	return cu->master && !cu->linking;
}
bool vassist_netdev_unregistering(const struct net_device *dev)
{
	return dev->reg_state >= NETREG_UNREGISTERING;
}

struct net *vassist_genl_info_net(const struct genl_info *info) { return genl_info_net(info); }
/*
 * Looked up in the (policy-validated, strictly: no unknown attributes)
 * message rather than in info->attrs[], which ends at the op's maxattr.
 */
const struct nlattr *vassist_genl_info_attr(const struct genl_info *info, int type)
{
	return nlmsg_find_attr(info->nlhdr, GENL_HDRLEN, type);
}
u32 vassist_nla_get_u32(const struct nlattr *nla) { return nla_get_u32(nla); }
const struct nlattr *vassist_nla_find_nested(const struct nlattr *nest, int type)
{
	return nla_find_nested(nest, type);
}
/* An attribute of a dump's request (validated against the op's policy). */
const struct nlattr *vassist_dump_attr(struct netlink_callback *cb, int type)
{
	return nlmsg_find_attr(cb->nlh, GENL_HDRLEN, type);
}
int vassist_nla_put_u16(struct sk_buff *skb, int type, u16 value)
{
	return nla_put_u16(skb, type, value);
}
int vassist_nla_put_flag(struct sk_buff *skb, int type) { return nla_put_flag(skb, type); }
int vassist_nla_put(struct sk_buff *skb, int type, int len, const void *data)
{
	return nla_put(skb, type, len, data);
}
const char *vassist_nla_data_str(const struct nlattr *nla) { return nla_data(nla); }
/* NL_SET_ERR_MSG{,_ATTR} want a literal; @msg is static in the Rust crate. */
void vassist_genl_set_err(struct genl_info *info, const char *msg, int attr)
{
	struct netlink_ext_ack *extack = info->extack;

	if (!extack)
		return;
	extack->_msg = msg;
	if (attr > 0)
		extack->bad_attr = vassist_genl_info_attr(info, attr);
}
struct sk_buff *vassist_genlmsg_new(void) { return genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL); }
void *vassist_genlmsg_put(struct sk_buff *skb, u32 portid, u32 seq, int flags, u8 cmd)
{
	return genlmsg_put(skb, portid, seq, &vassist_nl_family, flags, cmd);
}
void *vassist_genlmsg_put_reply(struct sk_buff *skb, const struct genl_info *info, u8 cmd)
{
	return genlmsg_put_reply(skb, (struct genl_info *)info, &vassist_nl_family, 0, cmd);
}
void vassist_genlmsg_end(struct sk_buff *skb, void *hdr) { genlmsg_end(skb, hdr); }
void vassist_genlmsg_cancel(struct sk_buff *skb, void *hdr) { genlmsg_cancel(skb, hdr); }
int vassist_genlmsg_reply(struct sk_buff *skb, const struct genl_info *info)
{
	return genlmsg_reply(skb, (struct genl_info *)info);
}
int vassist_genlmsg_multicast(struct sk_buff *skb, struct net *net, unsigned int group)
{
	return genlmsg_multicast_netns(&vassist_nl_family, net, skb, 0, group, GFP_KERNEL);
}
bool vassist_genl_has_listeners(struct net *net, unsigned int group)
{
	return genl_has_listeners(&vassist_nl_family, net, group);
}
void vassist_nlmsg_free(struct sk_buff *skb) { nlmsg_free(skb); }
int vassist_nla_put_u32(struct sk_buff *skb, int type, u32 value)
{
	return nla_put_u32(skb, type, value);
}
int vassist_nla_put_uint(struct sk_buff *skb, int type, u64 value)
{
	return nla_put_uint(skb, type, value);
}
int vassist_nla_put_string(struct sk_buff *skb, int type, const char *s)
{
	return nla_put_string(skb, type, s);
}
struct nlattr *vassist_nla_nest_start(struct sk_buff *skb, int type)
{
	return nla_nest_start(skb, type);
}
void vassist_nla_nest_end(struct sk_buff *skb, struct nlattr *nest) { nla_nest_end(skb, nest); }
void vassist_nla_nest_cancel(struct sk_buff *skb, struct nlattr *nest)
{
	nla_nest_cancel(skb, nest);
}
unsigned int vassist_skb_msg_len(const struct sk_buff *skb) { return skb->len; }
struct net *vassist_dump_net(struct netlink_callback *cb) { return sock_net(cb->skb->sk); }
u32 vassist_dump_portid(struct netlink_callback *cb) { return NETLINK_CB(cb->skb).portid; }
u32 vassist_dump_seq(struct netlink_callback *cb) { return cb->nlh->nlmsg_seq; }
u64 *vassist_dump_ctx(struct netlink_callback *cb)
{
	BUILD_BUG_ON(sizeof(cb->ctx) < sizeof(u64));
	return (u64 *)cb->ctx;
}
/* Flags the message NLM_F_DUMP_INTR if the table changed between rounds. */
void vassist_dump_check_consistent(struct netlink_callback *cb, void *hdr, u32 generation)
{
	cb->seq = generation;
	genl_dump_check_consistent(cb, hdr);
}
