/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause) */
/*
 * vassist zone ports: the consumer interface.
 *
 * A bridge port switched to a zone port (vassistctl port set dev DEV zone on)
 * no longer queues the frames the bridge sends out of it on the device: each
 * is placed once into a shared-memory zone of the port and posted on the
 * port's receive ring. A consumer (a VMM's network backend) opens
 * /dev/vassist-zone, binds the file to the port, maps the rings and the
 * zones, reads frames in place and gives their buffers back on the return
 * ring.
 *
 * A consumer bound with VASSIST_BIND_TX also sends: it writes frames into
 * buffers it holds (received ones, or ones lent by VASSIST_ZONE_ALLOC) and
 * posts them on the transmit ring; the host injects each into the bridge as
 * a frame received on the port, its headers copied and the rest of its
 * bytes referenced in place, and posts each buffer on the completion ring
 * once nothing points at it any more. Until then the buffer is the host's:
 * what the consumer writes into it meanwhile reaches the wire garbled.
 *
 * Memory: mmap offset VASSIST_MMAP_RINGS, rings_size bytes: the ring heads
 * and entries at the offsets vassist_zone_info gives. Zone z (0 <= z <
 * zones, more zones appear as the port needs them, up to zones_max) at
 * VASSIST_MMAP_ZONE(z, zone_size), zone_size bytes. A descriptor names its
 * buffer by zone and offset; map a zone when a descriptor first names it.
 *
 * Rings: single-producer single-consumer, `ring` entries (a power of two),
 * free-running 32-bit indices; entry i is at slot i & (ring - 1). Read the
 * other side's index with acquire, publish your own with release. The
 * receive and completion rings are the host's to produce, the return and
 * transmit rings the consumer's. An index, an address or a frame the
 * consumer writes that does not fit (an index moving backwards or past the
 * other side's, an address that is not the start of a buffer it holds, a
 * frame of bad lengths or with a virtio-net header that does not fit it)
 * is rejected, counted and otherwise ignored; the buffers of a rejected
 * frame that the consumer holds come back on the completion ring.
 *
 * Waiting: before sleeping on the receive eventfd, set
 * VASSIST_RING_WAITING in the receive ring's flags, then (after a full
 * barrier) read the receive and completion producer indices once more.
 * The host signals the eventfd after publishing frames or completions when
 * the flag is set, and clears it: one signal per sleep.
 *
 * Kicking: the host polls the transmit ring while it has frames and sets
 * VASSIST_RING_NEED_KICK in the ring's flags before it stops. After
 * publishing frames (and a full barrier), signal the transmit eventfd if
 * the flag is set. A VMM may bind it as a KVM ioeventfd.
 */
#ifndef _UAPI_LINUX_VASSIST_ZONE_H
#define _UAPI_LINUX_VASSIST_ZONE_H

#include <linux/ioctl.h>
#include <linux/types.h>
#include <linux/virtio_net.h>

#define VASSIST_ZONE_DEVICE	"vassist-zone"

/* The unit of the zones' allocator: a frame longer takes several. */
#define VASSIST_ZONE_BUF_SIZE	4096

/* Each side's index on its own cache line. */
struct vassist_ring_head {
	__u32 producer;
	__u32 status;		/* VASSIST_RING_*, the host's */
	__u32 pad0[14];
	__u32 consumer;
	__u32 flags;		/* VASSIST_RING_*, the consuming side's */
	__u32 pad1[14];
};

/* receive ring flags: the consumer is about to sleep on the receive eventfd. */
#define VASSIST_RING_WAITING	(1U << 0)
/* transmit ring flags (the host's): the host is not polling; kick. */
#define VASSIST_RING_NEED_KICK	(1U << 0)
/*
 * status: the port stopped being a zone port (turned off, detached, its
 * device gone): nothing more comes; the eventfd was signalled.
 */
#define VASSIST_RING_DETACHED	(1U << 0)

/*
 * A receive or transmit ring entry: a buffer of a frame. A frame longer
 * than a buffer is posted as consecutive entries, all but the last with
 * VASSIST_DESC_MORE; the first carries the offloads as a virtio-net header
 * (little-endian fields), as a tap's reader gets them and a tap's writer
 * gives them. A transmitted frame's buffers start at their buffer's start
 * and take at most VASSIST_ZONE_TX_BUFS_MAX entries.
 */
struct vassist_zone_desc {
	__u32 offset;		/* of the buffer in its zone */
	__u16 zone;
	__u16 flags;		/* VASSIST_DESC_* */
	__u32 len;		/* bytes of the frame in this buffer */
	__u32 reserved;
	struct virtio_net_hdr vnet;
	__u8 reserved2[6];
};

#define VASSIST_DESC_MORE	(1U << 0)
#define VASSIST_ZONE_TX_BUFS_MAX	17

/*
 * A return ring entry: a buffer the consumer gives back. A completion ring
 * entry: a buffer the host hands (back) to the consumer.
 */
struct vassist_zone_addr {
	__u32 offset;
	__u16 zone;
	__u16 reserved;
};

/* VASSIST_ZONE_BIND: bind this file to a zone port. */
struct vassist_zone_bind {
	__u32 ifindex;		/* in the network namespace of the opener */
	__s32 rx_eventfd;	/* signalled as the header says */
	__u32 flags;		/* VASSIST_BIND_* */
	__s32 tx_eventfd;	/* with VASSIST_BIND_TX: the kick */
};

/* The consumer sends frames too. */
#define VASSIST_BIND_TX		(1U << 0)

/* VASSIST_ZONE_INFO: the bound port's geometry and the rings' layout. */
struct vassist_zone_info {
	__u32 zone_size;
	__u16 zones;		/* zones present now */
	__u16 zones_max;
	__u32 ring;		/* entries of each ring */
	__u32 rings_size;	/* bytes at VASSIST_MMAP_RINGS */
	__u32 rx_head;		/* offsets in the rings' mapping */
	__u32 rx_descs;
	__u32 ret_head;
	__u32 ret_addrs;
	__u32 tx_head;
	__u32 tx_descs;
	__u32 comp_head;
	__u32 comp_addrs;
};

#define VASSIST_MMAP_RINGS		0ULL
#define VASSIST_MMAP_ZONES		(1ULL << 32)
#define VASSIST_MMAP_ZONE(z, zone_size)	(VASSIST_MMAP_ZONES + (__u64)(z) * (zone_size))

#define VASSIST_ZONE_IOC	0xb9
#define VASSIST_ZONE_BIND	_IOW(VASSIST_ZONE_IOC, 1, struct vassist_zone_bind)
#define VASSIST_ZONE_INFO	_IOR(VASSIST_ZONE_IOC, 2, struct vassist_zone_info)
/*
 * Lends up to `arg` free buffers to a consumer bound with VASSIST_BIND_TX,
 * for frames of its own: posted on the completion ring; returns how many.
 */
#define VASSIST_ZONE_ALLOC	_IO(VASSIST_ZONE_IOC, 3)

#endif /* _UAPI_LINUX_VASSIST_ZONE_H */
