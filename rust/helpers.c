// SPDX-License-Identifier: GPL-2.0
/*
 * What the vassist Rust crate's wrapper layer (rust/sys/) calls but cannot
 * reach from Rust: out-of-line forms of kernel static inlines and macros,
 * and reads and writes of struct fields. Each is a forward of one kernel
 * operation, with three exceptions that gather a few, named as such:
 * vassist_skb_peek (every read the packet path makes of a frame, in one
 * call), vassist_skb_plain_path (the two tests br_netfilter's and the VLAN
 * code's paths need), vassist_skb_set_eth_frame (the header fields of a
 * frame built to be sent) and vassist_skb_tcp_csum_ok (the TCP checksum
 * check, as the stack makes it). The logic that uses them is in rust/sys/.
 */
#include "helpers.h"

/* sk_buff */
unsigned int vassist_skb_len(const struct sk_buff *skb) { return skb->len; }
/* Every read the packet path makes of a frame, in one call. */
const void *vassist_skb_peek(const struct sk_buff *skb, void *buffer, unsigned int max,
			     struct vassist_skb_meta *meta)
{
	meta->len = skb->len;
	meta->protocol = ntohs(skb->protocol);
	meta->segs = skb_is_gso(skb) ? skb_shinfo(skb)->gso_segs : 1;
	meta->peeked = min(max, skb->len);
	return skb_header_pointer(skb, 0, meta->peeked, buffer);
}
bool vassist_netif_needs_gso(struct sk_buff *skb, netdev_features_t features)
{
	return netif_needs_gso(skb, features);
}
bool vassist_skb_csum_partial(const struct sk_buff *skb)
{
	return skb->ip_summed == CHECKSUM_PARTIAL;
}
/* A header rewrite invalidates a checksum of the whole packet. */
void vassist_skb_csum_complete_to_none(struct sk_buff *skb)
{
	if (skb->ip_summed == CHECKSUM_COMPLETE)
		skb->ip_summed = CHECKSUM_NONE;
}
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
/* No VLAN tag, and br_netfilter will not run the frame through the IP hooks. */
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
struct net_device *vassist_skb_dev(const struct sk_buff *skb) { return skb->dev; }
void vassist_kfree_skb(struct sk_buff *skb) { kfree_skb(skb); }
void vassist_br_drop_fake_rtable(struct sk_buff *skb) { br_drop_fake_rtable(skb); }
int vassist_dev_queue_xmit(struct sk_buff *skb) { return dev_queue_xmit(skb); }
void vassist_skb_set_dev(struct sk_buff *skb, struct net_device *dev) { skb->dev = dev; }
/*
 * Hands a frame that a device received (at its ingress, data at the
 * network header) to the rx_handler of the bridge port @port, with its
 * Ethernet addresses set to @dst and @src, as __netif_receive_skb_core
 * would had @port received it: the bridge forwards it as the port's
 * frame. @port's own ingress hooks and packet taps do not see it. Runs
 * in the receive path (BH off, RCU held); consumes the frame; whether
 * the bridge took it.
 */
bool vassist_skb_inject_rx(struct sk_buff *skb, struct net_device *port, const u8 *dst,
			   const u8 *src)
{
	rx_handler_func_t *rx = rcu_dereference(port->rx_handler);
	struct ethhdr *eth;

	if (!rx || !skb_mac_header_was_set(skb) || skb->mac_len != ETH_HLEN)
		goto drop;
	skb_push(skb, ETH_HLEN);
	if (skb_cow_head(skb, 0))
		goto drop;
	eth = (struct ethhdr *)skb->data;
	ether_addr_copy(eth->h_dest, dst);
	ether_addr_copy(eth->h_source, src);
	skb->skb_iif = port->ifindex;
	skb->protocol = eth_type_trans(skb, port);
	skb_reset_network_header(skb);
	skb_reset_mac_len(skb);
	if (rx(&skb) == RX_HANDLER_CONSUMED)
		return true;
drop:
	kfree_skb(skb);
	return false;
}
unsigned int vassist_ll_reserved_space(const struct net_device *dev)
{
	return LL_RESERVED_SPACE(dev);
}
struct sk_buff *vassist_alloc_skb_atomic(unsigned int size) { return alloc_skb(size, GFP_ATOMIC); }
void vassist_skb_reserve(struct sk_buff *skb, unsigned int len) { skb_reserve(skb, len); }
void vassist_skb_put_data(struct sk_buff *skb, const void *data, unsigned int len)
{
	skb_put_data(skb, data, len);
}
/* The header fields of an Ethernet frame built to be sent out of @dev. */
void vassist_skb_set_eth_frame(struct sk_buff *skb, struct net_device *dev)
{
	skb->dev = dev;
	skb_reset_mac_header(skb);
	skb->protocol = eth_hdr(skb)->h_proto;
	skb_set_network_header(skb, ETH_HLEN);
}
struct sk_buff *vassist_skb_clone_atomic(struct sk_buff *skb) { return skb_clone(skb, GFP_ATOMIC); }
struct sk_buff *vassist_skb_next(const struct sk_buff *skb) { return skb->next; }
void vassist_skb_set_next(struct sk_buff *skb, struct sk_buff *next) { skb->next = next; }
void *vassist_skb_cb(struct sk_buff *skb) { return skb->cb; }
u32 vassist_skb_gso_segs(const struct sk_buff *skb) { return skb_is_gso(skb) ? skb_shinfo(skb)->gso_segs : 1; }
void vassist_consume_skb(struct sk_buff *skb) { consume_skb(skb); }
/* Whether the checksums of the IPv4 header and of the TCP segment at @off
 * (from the network header to the end) hold; the TCP one is trusted when
 * the device or the sending stack vouched for it. */
bool vassist_skb_tcp_csum_ok(struct sk_buff *skb, unsigned int off, bool v6)
{
	unsigned int len = skb->len - off;
	__wsum sum;

	/* The IPv4 header's own checksum, which the stack always checks. */
	if (!v6 && ip_fast_csum(ip_hdr(skb), ip_hdr(skb)->ihl))
		return false;
	if (skb->ip_summed == CHECKSUM_UNNECESSARY || skb->ip_summed == CHECKSUM_PARTIAL)
		return true;
	sum = skb_checksum(skb, off, len, 0);
	if (v6)
		return !csum_ipv6_magic(&ipv6_hdr(skb)->saddr, &ipv6_hdr(skb)->daddr, len,
					IPPROTO_TCP, sum);
	return !csum_tcpudp_magic(ip_hdr(skb)->saddr, ip_hdr(skb)->daddr, len, IPPROTO_TCP, sum);
}

bool vassist_skb_vlan_tag(const struct sk_buff *skb, u16 *proto, u16 *tci)
{
	if (!skb_vlan_tag_present(skb))
		return false;
	*proto = ntohs(skb->vlan_proto);
	*tci = skb_vlan_tag_get(skb);
	return true;
}
/*
 * The virtio-net header a tap's reader would get (little-endian), its
 * checksum start counted from head_len bytes in front of data.
 */
bool vassist_skb_vnet_hdr(const struct sk_buff *skb, u8 *out, int head_len)
{
	struct virtio_net_hdr h;

	if (virtio_net_hdr_from_skb(skb, &h, true, false, head_len))
		return false;
	memcpy(out, &h, sizeof(h));
	return true;
}

/* net_device */
int vassist_netdev_ifindex(const struct net_device *dev) { return READ_ONCE(dev->ifindex); }
const char *vassist_netdev_name(const struct net_device *dev) { return dev->name; }
struct net *vassist_netdev_net(const struct net_device *dev) { return dev_net(dev); }
bool vassist_netdev_is_bridge_port(const struct net_device *dev)
{
	return netif_is_bridge_port(dev);
}
bool vassist_br_vlan_enabled(const struct net_device *br) { return br_vlan_enabled(br); }
bool vassist_netif_running(const struct net_device *dev) { return netif_running(dev); }
bool vassist_netif_carrier_ok(const struct net_device *dev) { return netif_carrier_ok(dev); }
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
const char *vassist_netdev_link_kind(const struct net_device *dev)
{
	return dev->rtnl_link_ops ? dev->rtnl_link_ops->kind : NULL;
}
void vassist_netdev_hold(struct net_device *dev, netdevice_tracker *tracker)
{
	netdev_hold(dev, tracker, GFP_KERNEL);
}
void vassist_netdev_put(struct net_device *dev, netdevice_tracker *tracker)
{
	netdev_put(dev, tracker);
}
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

/* qdiscs */
struct Qdisc *vassist_netdev_qdisc(const struct net_device *dev)
{
	return rcu_dereference(dev->qdisc);
}
unsigned int vassist_netdev_real_num_tx_queues(const struct net_device *dev)
{
	return READ_ONCE(dev->real_num_tx_queues);
}
struct Qdisc *vassist_netdev_txq_qdisc(const struct net_device *dev, unsigned int i)
{
	return rcu_dereference(netdev_get_tx_queue(dev, i)->qdisc_sleeping);
}
bool vassist_qdisc_is_mq_root(const struct Qdisc *q) { return q->flags & TCQ_F_MQROOT; }
const struct Qdisc_ops *vassist_qdisc_ops(const struct Qdisc *q) { return q->ops; }
const char *vassist_qdisc_ops_id(const struct Qdisc_ops *ops) { return ops->id; }
bool vassist_qdisc_ops_get(const struct Qdisc_ops *ops) { return try_module_get(ops->owner); }
void vassist_qdisc_ops_put(const struct Qdisc_ops *ops) { module_put(ops->owner); }

/* files of a misc device, their mappings, eventfds */
void *vassist_file_private(const struct file *file) { return file->private_data; }
void vassist_file_set_private(struct file *file, void *p) { file->private_data = p; }
bool vassist_file_net_admin(const struct file *file, const struct net *net)
{
	return file_ns_capable(file, net->user_ns, CAP_NET_ADMIN);
}
unsigned long vassist_vma_pgoff(const struct vm_area_struct *vma) { return vma->vm_pgoff; }
unsigned long vassist_vma_len(const struct vm_area_struct *vma)
{
	return vma->vm_end - vma->vm_start;
}
bool vassist_vma_shared(const struct vm_area_struct *vma)
{
	return vma->vm_flags & VM_SHARED;
}
void vassist_eventfd_signal(struct eventfd_ctx *ctx) { eventfd_signal(ctx); }
void vassist_init_wait_func(struct wait_queue_entry *wait, wait_queue_func_t fn)
{
	init_waitqueue_func_entry(wait, fn);
}
void vassist_init_poll_funcptr(poll_table *pt, poll_queue_proc fn) { init_poll_funcptr(pt, fn); }
__poll_t vassist_vfs_poll(struct file *file, poll_table *pt) { return vfs_poll(file, pt); }

/* frames received from a consumer's pages */
struct sk_buff *vassist_netdev_alloc_skb(struct net_device *dev, unsigned int len)
{
	return netdev_alloc_skb_ip_align(dev, len);
}
unsigned int vassist_skb_nr_frags(const struct sk_buff *skb) { return skb_shinfo(skb)->nr_frags; }
void vassist_skb_add_page(struct sk_buff *skb, struct page *page, unsigned int off,
			  unsigned int len)
{
	get_page(page);
	skb_add_rx_frag(skb, skb_shinfo(skb)->nr_frags, page, off, len, PAGE_SIZE);
}
/* The pages may change under the stack (SKBFL_SHARED_FRAG): it copies before writing. */
void vassist_ubuf_init(struct ubuf_info *uarg, const struct ubuf_info_ops *ops)
{
	uarg->ops = ops;
	refcount_set(&uarg->refcnt, 1);
	uarg->flags = SKBFL_ZEROCOPY_FRAG | SKBFL_SHARED_FRAG;
}
bool vassist_ubuf_put(struct ubuf_info *uarg) { return refcount_dec_and_test(&uarg->refcnt); }
/*
 * As tun_get_user() hands a frame to the stack: its virtio-net header
 * applied (-EINVAL if it does not fit; the caller still owns @skb), the
 * completion of its pages attached, received on skb->dev.
 */
int vassist_skb_receive(struct sk_buff *skb, const struct virtio_net_hdr *hdr,
			struct ubuf_info *uarg)
{
	if (virtio_net_hdr_to_skb(skb, hdr, true))
		return -EINVAL;
	skb->protocol = eth_type_trans(skb, skb->dev);
	if (uarg)
		skb_zcopy_init(skb, uarg);
	skb_reset_network_header(skb);
	skb_probe_transport_header(skb);
	local_bh_disable();
	netif_receive_skb(skb);
	local_bh_enable();
	return 0;
}

/* workqueues */
struct workqueue_struct *vassist_alloc_workqueue(const char *name, bool bh)
{
	return alloc_workqueue("%s", bh ? WQ_BH : WQ_UNBOUND, 0, name);
}

/* RCU, namespaces */
struct net *vassist_current_net_get(void) { return get_net(current->nsproxy->net_ns); }
void vassist_put_net(struct net *net) { put_net(net); }
void vassist_rcu_read_lock(void) { rcu_read_lock(); }
void vassist_rcu_read_unlock(void) { rcu_read_unlock(); }
void *vassist_net_generic(const struct net *net, unsigned int id) { return net_generic(net, id); }

/* locks, per-CPU counters, time */
void vassist_spin_lock_bh(spinlock_t *lock) { spin_lock_bh(lock); }
void vassist_spin_unlock_bh(spinlock_t *lock) { spin_unlock_bh(lock); }

/* The __percpu address space is the caller's to keep: Rust sees a u64 *. */
u64 *vassist_percpu_alloc(unsigned int n)
{
	return (u64 __force *)__alloc_percpu_gfp(n * sizeof(u64), sizeof(u64), GFP_KERNEL);
}
void vassist_percpu_free(u64 *counters) { free_percpu((u64 __percpu __force *)counters); }
/* Three counters in one call, unrolled: every frame of a port adds to them. */
void vassist_percpu_add3(u64 *counters, u64 a, u64 b, u64 c)
{
	u64 __percpu *p = (u64 __percpu __force *)counters;

	this_cpu_add(p[0], a);
	this_cpu_add(p[1], b);
	this_cpu_add(p[2], c);
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
void vassist_timer_setup(struct timer_list *t, void (*fn)(struct timer_list *)) { timer_setup(t, fn, 0); }
bool vassist_timer_pending(const struct timer_list *t) { return timer_pending(t); }
void vassist_timer_arm(struct timer_list *t, unsigned int ms)
{
	mod_timer(t, jiffies + msecs_to_jiffies(ms));
}
/* hrtimer_setup() of later kernels: init and callback, relative, softirq. */
void vassist_hrtimer_setup(struct hrtimer *t, enum hrtimer_restart (*fn)(struct hrtimer *))
{
	hrtimer_init(t, CLOCK_MONOTONIC, HRTIMER_MODE_REL_SOFT);
	t->function = fn;
}
bool vassist_hrtimer_queued(struct hrtimer *t) { return hrtimer_is_queued(t); }
void vassist_hrtimer_arm(struct hrtimer *t, u64 ns)
{
	hrtimer_start(t, ns_to_ktime(ns), HRTIMER_MODE_REL_SOFT);
}

/* generic netlink */
struct net *vassist_genl_info_net(const struct genl_info *info) { return genl_info_net(info); }
u32 vassist_genl_info_portid(const struct genl_info *info) { return info->snd_portid; }
const struct genl_family *vassist_genl_info_family(const struct genl_info *info)
{
	return info->family;
}
u8 vassist_genl_info_cmd(const struct genl_info *info) { return info->genlhdr->cmd; }
/* NL_SET_ERR_MSG{,_ATTR} want a literal; @msg is static in the Rust crate. */
void vassist_genl_set_err(struct genl_info *info, const char *msg, const struct nlattr *bad)
{
	if (!info->extack)
		return;
	if (msg)
		info->extack->_msg = msg;
	if (bad)
		info->extack->bad_attr = bad;
}
void vassist_genl_set_attr_missing(struct genl_info *info, unsigned int type)
{
	NL_SET_ERR_ATTR_MISS(info->extack, NULL, type);
}
const struct genl_dumpit_info *vassist_genl_dumpit_info(struct netlink_callback *cb)
{
	return genl_dumpit_info(cb);
}
int vassist_nla_len(const struct nlattr *nla) { return nla_len(nla); }
void *vassist_nla_data(const struct nlattr *nla) { return nla_data(nla); }
const struct nlattr *vassist_nla_find_nested(const struct nlattr *nest, int type)
{
	return nla_find_nested(nest, type);
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
struct sk_buff *vassist_genlmsg_new(void) { return genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL); }
void *vassist_genlmsg_put_reply(struct sk_buff *skb, struct genl_info *info, u8 cmd)
{
	return genlmsg_put_reply(skb, info, info->family, 0, cmd);
}
void vassist_genlmsg_end(struct sk_buff *skb, void *hdr) { genlmsg_end(skb, hdr); }
void vassist_genlmsg_cancel(struct sk_buff *skb, void *hdr) { genlmsg_cancel(skb, hdr); }
int vassist_genlmsg_reply(struct sk_buff *skb, struct genl_info *info)
{
	return genlmsg_reply(skb, info);
}
int vassist_genlmsg_multicast_netns(const struct genl_family *family, struct net *net,
				    struct sk_buff *skb, unsigned int group)
{
	return genlmsg_multicast_netns(family, net, skb, 0, group, GFP_KERNEL);
}
bool vassist_genl_has_listeners(const struct genl_family *family, struct net *net,
				unsigned int group)
{
	return genl_has_listeners(family, net, group);
}
void vassist_nlmsg_free(struct sk_buff *skb) { nlmsg_free(skb); }
struct net *vassist_dump_net(struct netlink_callback *cb) { return sock_net(cb->skb->sk); }
u32 vassist_dump_portid(struct netlink_callback *cb) { return NETLINK_CB(cb->skb).portid; }
u32 vassist_dump_seq(struct netlink_callback *cb) { return cb->nlh->nlmsg_seq; }
const struct genl_family *vassist_dump_family(struct netlink_callback *cb)
{
	return genl_dumpit_info(cb)->info.family;
}
void *vassist_dump_ctx(struct netlink_callback *cb)
{
	BUILD_BUG_ON(sizeof(cb->ctx) != 48);
	return cb->ctx;
}
/* Flags the message NLM_F_DUMP_INTR if @generation changed between rounds. */
void vassist_dump_check_consistent(struct netlink_callback *cb, void *hdr, u32 generation)
{
	cb->seq = generation;
	genl_dump_check_consistent(cb, hdr);
}
