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
 * Memory: mmap offset VASSIST_MMAP_RINGS, rings_size bytes: the ring heads
 * and entries at the offsets vassist_zone_info gives. Zone z (0 <= z <
 * zones, more zones appear as the port needs them, up to zones_max) at
 * VASSIST_MMAP_ZONE(z, zone_size), zone_size bytes. A descriptor names its
 * buffer by zone and offset; map a zone when a descriptor first names it.
 *
 * Rings: single-producer single-consumer, `ring` entries (a power of two),
 * free-running 32-bit indices; entry i is at slot i & (ring - 1). Read the
 * other side's index with acquire, publish your own with release. The
 * receive ring is the host's to produce, the return ring the consumer's.
 * An index or an address the consumer writes that does not fit (an index
 * moving backwards or past the other side's, an address that is not the
 * start of a buffer it holds) is rejected, counted and otherwise ignored.
 *
 * Waiting: before sleeping on the receive eventfd, set
 * VASSIST_RING_WAITING in the receive ring's flags, then (after a full
 * barrier) read its producer index once more. The host signals the eventfd
 * after publishing frames when the flag is set.
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
	__u32 flags;		/* VASSIST_RING_*, the consumer's */
	__u32 pad1[14];
};

/* flags: the consumer is about to sleep on the receive eventfd. */
#define VASSIST_RING_WAITING	(1U << 0)
/*
 * status: the port stopped being a zone port (turned off, detached, its
 * device gone): nothing more comes; the eventfd was signalled.
 */
#define VASSIST_RING_DETACHED	(1U << 0)

/*
 * A receive ring entry: a buffer of a frame. A frame longer than a buffer
 * is posted as consecutive entries, all but the last with
 * VASSIST_DESC_MORE; the first carries the offloads a tap's reader would
 * get as a virtio-net header (little-endian fields).
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

/* A return ring entry: a buffer the consumer gives back. */
struct vassist_zone_addr {
	__u32 offset;
	__u16 zone;
	__u16 reserved;
};

/* VASSIST_ZONE_BIND: bind this file to a zone port. */
struct vassist_zone_bind {
	__u32 ifindex;		/* in the network namespace of the opener */
	__s32 rx_eventfd;	/* signalled as the header says */
	__u32 flags;		/* none yet: 0 */
	__u32 reserved;		/* 0 */
};

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
};

#define VASSIST_MMAP_RINGS		0ULL
#define VASSIST_MMAP_ZONES		(1ULL << 32)
#define VASSIST_MMAP_ZONE(z, zone_size)	(VASSIST_MMAP_ZONES + (__u64)(z) * (zone_size))

#define VASSIST_ZONE_IOC	0xb9
#define VASSIST_ZONE_BIND	_IOW(VASSIST_ZONE_IOC, 1, struct vassist_zone_bind)
#define VASSIST_ZONE_INFO	_IOR(VASSIST_ZONE_IOC, 2, struct vassist_zone_info)

#endif /* _UAPI_LINUX_VASSIST_ZONE_H */
