/**
 * Disk images: the {@link DiskImage} seam, raw and qcow2 back-ends, opening with vmd's format
 * detection, and `vmctl create`.
 */

export {
  DiskError,
  SECTOR_SIZE,
  checkRange,
  type DiskErrorCode,
  type DiskFormat,
  type DiskImage,
  type OpenOptions,
} from './image.js';
export { RawImage, createRaw } from './raw.js';
export { Qcow2Image, MAX_BACKING_DEPTH } from './qcow2.js';
export { createQcow2, type Qcow2CreateOptions } from './qcow2_create.js';
export {
  detectFormat,
  openImage,
  parseDiskArgument,
  type DiskArgument,
  type OpenImageOptions,
} from './open.js';
export {
  CONVERT_CHUNK,
  ConvertError,
  convertImage,
  createImage,
  type ConvertOptions,
  type ConvertStage,
  type ConvertedImage,
  type CreateOptions,
  type CreatedImage,
} from './create.js';
