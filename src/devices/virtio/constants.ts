/**
 * Constants of the Virtual I/O Device (VIRTIO) specification, version 1.x, under the spec's
 * own names. Sections are cited as "virtio 1.x §n".
 */

/** PCI vendor ID of virtio devices (Red Hat / Qumranet). */
export const VIRTIO_PCI_VENDOR_ID = 0x1af4;
/** PCI subsystem vendor ID the legacy devices carry. */
export const VIRTIO_PCI_SUBSYSTEM_VENDOR_ID = 0x1af4;
/** Revision ID of a transitional (legacy-capable) device (virtio 1.x §4.1.2.1). */
export const VIRTIO_PCI_ABI_VERSION = 0;

/** Device types (virtio 1.x §5). */
export const VIRTIO_ID_NET = 1;
/** Block device. */ export const VIRTIO_ID_BLOCK = 2;
/** Console. */ export const VIRTIO_ID_CONSOLE = 3;
/** Entropy source. */ export const VIRTIO_ID_RNG = 4;

/**
 * Transitional PCI device IDs by device type (virtio 1.x §4.1.2.1): what a legacy driver
 * matches on; the subsystem device ID carries the device type.
 */
export const VIRTIO_TRANSITIONAL_DEVICE_ID: Readonly<Record<number, number>> = {
  [VIRTIO_ID_NET]: 0x1000,
  [VIRTIO_ID_BLOCK]: 0x1001,
  [VIRTIO_ID_CONSOLE]: 0x1003,
  [VIRTIO_ID_RNG]: 0x1005,
};

/** Device status bits (virtio 1.x §2.1). */
export const VIRTIO_CONFIG_S_ACKNOWLEDGE = 1;
/** The guest has a driver for the device. */ export const VIRTIO_CONFIG_S_DRIVER = 2;
/** The driver is set up and ready to drive the device. */
export const VIRTIO_CONFIG_S_DRIVER_OK = 4;
/** Feature negotiation is complete (not used by legacy drivers). */
export const VIRTIO_CONFIG_S_FEATURES_OK = 8;
/** The device hit an error it cannot recover from without a reset. */
export const VIRTIO_CONFIG_S_NEEDS_RESET = 0x40;
/** The driver gave up on the device. */ export const VIRTIO_CONFIG_S_FAILED = 0x80;

/** Reserved feature bits (virtio 1.x §6). */
export const VIRTIO_F_NOTIFY_ON_EMPTY = 24;
/** Legacy: the device accepts any framing of requests over descriptors. */
export const VIRTIO_F_ANY_LAYOUT = 27;
/** Indirect descriptor tables (VIRTIO_F_INDIRECT_DESC). */
export const VIRTIO_RING_F_INDIRECT_DESC = 28;
/** Used/avail event index suppression (VIRTIO_F_EVENT_IDX). */
export const VIRTIO_RING_F_EVENT_IDX = 29;
/** Virtio 1.0 compliance; a legacy transport never offers it. */
export const VIRTIO_F_VERSION_1 = 32;

/** Legacy PCI register offsets in BAR 0 (virtio 1.x §4.1.4.8). */
export const VIRTIO_PCI_HOST_FEATURES = 0;
/** Driver (guest) features, bits 0-31. */ export const VIRTIO_PCI_GUEST_FEATURES = 4;
/** Page frame number of the selected queue (address >> 12). */
export const VIRTIO_PCI_QUEUE_PFN = 8;
/** Size of the selected queue (16 bits, read only). */ export const VIRTIO_PCI_QUEUE_NUM = 12;
/** Queue select (16 bits). */ export const VIRTIO_PCI_QUEUE_SEL = 14;
/** Queue notify (16 bits): the index of the queue with new buffers. */
export const VIRTIO_PCI_QUEUE_NOTIFY = 16;
/** Device status (8 bits). */ export const VIRTIO_PCI_STATUS = 18;
/** ISR status (8 bits): reading returns and clears it. */ export const VIRTIO_PCI_ISR = 19;
/** Device-specific configuration when MSI-X is disabled. */ export const VIRTIO_PCI_CONFIG = 20;
/** ISR bit 0: a queue has used buffers. */ export const VIRTIO_PCI_ISR_QUEUE = 0x1;
/** ISR bit 1: the device configuration changed. */ export const VIRTIO_PCI_ISR_CONFIG = 0x2;
/** Legacy queue PFN shift: queue addresses are in 4096-byte pages. */
export const VIRTIO_PCI_QUEUE_ADDR_SHIFT = 12;
/** Legacy split ring alignment of the used ring (virtio 1.x §2.7, legacy interfaces). */
export const VIRTIO_PCI_VRING_ALIGN = 4096;

/** Descriptor flags (virtio 1.x §2.7.5). */
export const VIRTQ_DESC_F_NEXT = 1;
/** The buffer is device write-only (else device read-only). */
export const VIRTQ_DESC_F_WRITE = 2;
/** The buffer holds a table of indirect descriptors. */
export const VIRTQ_DESC_F_INDIRECT = 4;
/** Avail ring flag: the driver asks not to be interrupted (virtio 1.x §2.7.7). */
export const VIRTQ_AVAIL_F_NO_INTERRUPT = 1;
/** Used ring flag: the device asks not to be notified. */
export const VIRTQ_USED_F_NO_NOTIFY = 1;

/** Block device feature bits (virtio 1.x §5.2.3). */
export const VIRTIO_BLK_F_SIZE_MAX = 1;
/** The maximum number of data segments in a request is in `seg_max`. */
export const VIRTIO_BLK_F_SEG_MAX = 2;
/** Legacy disk geometry in `geometry`. */ export const VIRTIO_BLK_F_GEOMETRY = 4;
/** The device is read-only. */ export const VIRTIO_BLK_F_RO = 5;
/** The block size is in `blk_size`. */ export const VIRTIO_BLK_F_BLK_SIZE = 6;
/** Cache flush command support (legacy name VIRTIO_BLK_F_WCE). */
export const VIRTIO_BLK_F_FLUSH = 9;

/** Block device configuration field offsets (virtio 1.x §5.2.4). */
export const VIRTIO_BLK_CFG_CAPACITY = 0;
/** `size_max`, le32. */ export const VIRTIO_BLK_CFG_SIZE_MAX = 8;
/** `seg_max`, le32. */ export const VIRTIO_BLK_CFG_SEG_MAX = 12;
/** `geometry`: cylinders le16, heads u8, sectors u8. */ export const VIRTIO_BLK_CFG_GEOMETRY = 16;
/** `blk_size`, le32. */ export const VIRTIO_BLK_CFG_BLK_SIZE = 20;
/** Bytes of the configuration this device presents (up to and including `blk_size`). */
export const VIRTIO_BLK_CFG_SIZE = 24;

/** Request types (virtio 1.x §5.2.6). */
export const VIRTIO_BLK_T_IN = 0;
/** Write. */ export const VIRTIO_BLK_T_OUT = 1;
/** Flush the device's write cache. */ export const VIRTIO_BLK_T_FLUSH = 4;
/** Read the device ID string (VIRTIO_BLK_ID_BYTES). */ export const VIRTIO_BLK_T_GET_ID = 8;
/** Legacy: the barrier flag some drivers OR into the type. */
export const VIRTIO_BLK_T_BARRIER = 0x80000000;
/** Bytes of the device ID string. */ export const VIRTIO_BLK_ID_BYTES = 20;
/** Bytes of the request header: type le32, reserved le32, sector le64. */
export const VIRTIO_BLK_OUTHDR_SIZE = 16;

/** Request status bytes (virtio 1.x §5.2.6). */
export const VIRTIO_BLK_S_OK = 0;
/** The request failed. */ export const VIRTIO_BLK_S_IOERR = 1;
/** The request type is not supported. */ export const VIRTIO_BLK_S_UNSUPP = 2;
