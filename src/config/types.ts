/**
 * The typed result of parsing vm.conf(5), the options of the parser and its diagnostics.
 *
 * The shapes follow OpenBSD vmd's `struct vmd_config`, `struct vmd_switch` and
 * `struct vmop_create_params` as parse.y fills them, with C sentinels (gid -1, empty strings,
 * flag bits) turned into `null` and booleans. Sizes are bytes, paths are as resolved at parse
 * time (disks and boot images are canonicalised, as parse.y's realpath(3) does).
 */

/** A disk image format (vmd's VMDF_RAW, VMDF_QCOW2). */
export type DiskFormat = 'raw' | 'qcow2';

/** A forced boot device (`boot device`, vmctl's `-B`; vmd's VMBOOTDEV_*). */
export type BootDevice = 'disk' | 'cdrom' | 'net';

/** Where a statement was written. */
export interface SourceLocation {
  /** The file name as given to the parser or written in `include`. */
  file: string;
  /** 1-based line number. */
  line: number;
}

/** A user and group as `owner user[:group]` resolves them (vmd's `struct vmop_owner`). */
export interface Owner {
  /** User id; 0 when only `:group` was given. */
  uid: number;
  /** Group id, or `null` when no group was given (vmd's -1). */
  gid: number | null;
}

/** An address prefix: `local prefix` (IPv4) or `local inet6 prefix` (IPv6). */
export interface LocalPrefix {
  /** The network address in canonical text form. */
  address: string;
  /** The prefix length in bits. */
  length: number;
}

/** `agentx [context name] [path socket]`: the SNMP AgentX sub-agent (accepted and stored). */
export interface AgentxConfig {
  /** The SNMP context, or `null` for the default context. */
  context: string | null;
  /** The AgentX master socket; `/var/agentx/master` by default. */
  path: string;
}

/** `staggered start parallel N delay S`. */
export interface StaggeredStart {
  /** How many VMs start at once. */
  parallel: number;
  /** Seconds between two batches. */
  delay: number;
}

/** The global settings of vm.conf (vmd's `struct vmd_config` and the control socket's owner). */
export interface GlobalConfig {
  /** IPv4 pool for local interfaces; 100.64.0.0/10 by default. */
  localPrefix: LocalPrefix;
  /** Whether local interfaces get IPv6 (`local inet6`). */
  localInet6: boolean;
  /** The IPv6 prefix for local interfaces, or `null` for a random ULA chosen at startup. */
  localPrefix6: LocalPrefix | null;
  /** Owner of the control socket (`socket owner`); root:0 by default (OpenBSD's root:wheel). */
  socketOwner: Owner;
  /** The AgentX settings, or `null` when `agentx` is absent. */
  agentx: AgentxConfig | null;
  /** The staggered start, or `null` for vmd's default (one VM per CPU every 30 s). */
  staggeredStart: StaggeredStart | null;
}

/** A `switch "name" { ... }` block: a pre-existing host bridge that VM taps join. */
export interface SwitchConfig {
  /** The switch's name, as VM interfaces refer to it. */
  name: string;
  /** False after `disable`: vmd does not configure the switch. */
  enabled: boolean;
  /** The host bridge interface (`interface bridge0`). */
  interface: string;
  /** Interface group for every VM tap on this switch (`group`). */
  group: string | null;
  /** `locked lladdr`: inherited by the VM interfaces on this switch. */
  lockedLladdr: boolean;
  /** Routing domain of the switch and the default for its taps. */
  rdomain: number | null;
  /** `up` (default) or `down`. */
  up: boolean;
  /** Where the block starts. */
  location: SourceLocation;
}

/** One `[local] interface [name] { ... }` of a VM. */
export interface VmInterfaceConfig {
  /** `local interface`: vmd gives it an address and answers DHCP. */
  local: boolean;
  /** `tap` or `tapN` for the host side; `null` means the next free tap. */
  name: string | null;
  /** The switch to join, by name; `null` for none. */
  switch: string | null;
  /** Interface group, at most 15 characters, not ending in a digit. */
  group: string | null;
  /** Guest MAC address as lowercase `xx:xx:xx:xx:xx:xx`; `null` means random. */
  lladdr: string | null;
  /** `locked lladdr`: drop frames with a forged source address. */
  locked: boolean;
  /** Routing domain, 0..255; takes precedence over the switch's. */
  rdomain: number | null;
  /** `up` (default) or `down`. */
  up: boolean;
}

/** One `disk path [format raw|qcow2]`. */
export interface DiskConfig {
  /** The canonical path of the image. */
  path: string;
  /** The format given, else detected from the image's magic, else raw. */
  format: DiskFormat;
}

/** What `allow instance { ... }` permits users to override in instances of a VM. */
export interface InstancePermissions {
  boot: boolean;
  cdrom: boolean;
  disk: boolean;
  instance: boolean;
  interface: boolean;
  memory: boolean;
  /** Who may create instances (`owner user[:group]`), or `null` for root only. */
  owner: Owner | null;
}

/** A `vm "name" { ... }` or `vm "parent" instance "name" { ... }` block. */
export interface VmConfig {
  /** The VM's name. */
  name: string;
  /** For an instance, the VM it is made from; `null` otherwise. */
  parent: string | null;
  /** False after `disable`: not started with vmd. */
  enabled: boolean;
  /** RAM in bytes, rounded down to a MiB; `null` for the default (512 MiB) or the parent's. */
  memory: number | null;
  /** The canonical path of the kernel or BIOS image (`boot path`); `null` for the BIOS. */
  boot: string | null;
  /** `boot device`, or `null` for the default order. */
  bootDevice: BootDevice | null;
  /** Linux: the canonical path of the initrd loaded with the kernel (`initrd path`), or `null`. */
  initrd: string | null;
  /** Linux: the kernel command line (`cmdline "string"`), or `null`. */
  cmdline: string | null;
  /** The ISO image (`cdrom path`), as written. */
  cdrom: string | null;
  /** Disk images, at most four. */
  disks: DiskConfig[];
  /** Interfaces in order, at most four. */
  interfaces: VmInterfaceConfig[];
  /**
   * `interfaces N`: the minimum number of NICs; the VM gets
   * max(N, `interfaces.length`), the extra ones plain taps. `null` when not given.
   */
  interfaceCount: number | null;
  /** `owner user[:group]`, or `null` for root only. */
  owner: Owner | null;
  /** The instance permissions this VM grants. */
  allowInstance: InstancePermissions;
  /** `sev`: an AMD SEV guest (stored; not supported on Linux hosts yet). */
  sev: boolean;
  /** `seves`: an AMD SEV-ES guest (implies `sev`). */
  sevEs: boolean;
  /** Where the block starts. */
  location: SourceLocation;
}

/** A parsed vm.conf. */
export interface VmdConfig {
  global: GlobalConfig;
  /** Switches in file order, disabled ones included (`enabled: false`). */
  switches: SwitchConfig[];
  /** VMs and instances in file order. */
  vms: VmConfig[];
}

/** An error or warning, reported as `file:line: message`. */
export interface Diagnostic {
  /** The file, or `null` for something without a place (an unused `-D` macro). */
  file: string | null;
  /** 1-based line, 0 when `file` is `null`. */
  line: number;
  message: string;
  severity: 'error' | 'warning';
}

/** The result of {@link parseConfig}: the config is only meaningful when `errors` is empty. */
export interface ParseResult {
  config: VmdConfig;
  errors: Diagnostic[];
  warnings: Diagnostic[];
}

/**
 * Options of {@link parseConfig}. Every hook that touches the system can be replaced, so that
 * tests are hermetic; hooks receive absolute paths (relative ones are resolved against `cwd`,
 * as vmd's fopen(3) and realpath(3) resolve them against its working directory).
 */
export interface ParseOptions {
  /** `vmd -D name=value` macros: they win over the file's own definitions. */
  macros?: Readonly<Record<string, string>>;
  /** The directory relative paths are resolved against; `process.cwd()` by default. */
  cwd?: string;
  /** Reads a config file (the top one and includes); throws an errno error on failure. */
  readFile?: (path: string) => string;
  /** Canonicalises an existing disk or boot image path; throws an errno error on failure. */
  realpath?: (path: string) => string;
  /** Detects an image's format from its first bytes; `raw` when unknown or unreadable. */
  probeDiskFormat?: (path: string) => DiskFormat;
  /** Looks up a user name (`owner joe`); `undefined` when there is no such user. */
  resolveUser?: (name: string) => number | undefined;
  /** Looks up a group name (`owner :wheel`); `undefined` when there is no such group. */
  resolveGroup?: (name: string) => number | undefined;
}

/** vmd's limits and defaults, as vmd.h and the Linux host define them. */
export const LIMITS = {
  /** VM_MAX_DISKS_PER_VM. */
  maxDisks: 4,
  /** VM_MAX_NICS_PER_VM. */
  maxInterfaces: 4,
  /** VMM_MAX_NAME_LEN: names are shorter than this. */
  maxNameLength: 64,
  /** VM_NAME_MAX: switch names referenced by interfaces are shorter than this. */
  maxSwitchNameLength: 64,
  /** IF_NAMESIZE: interface and group names are shorter than this. */
  ifNameSize: 16,
  /** PATH_MAX on Linux: paths are shorter than this. */
  pathMax: 4096,
  /** sizeof(sun_path) on Linux: the AgentX socket path is shorter than this. */
  sunPathLength: 108,
  /** vacmContextName: the AgentX context is at most this long. */
  maxAgentxContext: 32,
  /** RT_TABLEID_MAX. */
  maxRdomain: 255,
  /** Linux's COMMAND_LINE_SIZE on x86: a `cmdline` is shorter than this. */
  cmdlineSize: 2048,
  /** 1 MiB, the smallest memory size. */
  minMemory: 1024 * 1024,
  /** VMM_MAX_VM_MEM_SIZE, 128 GiB. */
  maxMemory: 128 * 1024 ** 3,
  /** VM_DEFAULT_MEMORY, 512 MiB. */
  defaultMemory: 512 * 1024 * 1024,
} as const;

/** The default local prefix, RFC 6598's shared address space (VMD_DHCP_PREFIX). */
export const DEFAULT_LOCAL_PREFIX: LocalPrefix = { address: '100.64.0.0', length: 10 };

/** The default AgentX master socket (AGENTX_MASTER_PATH). */
export const DEFAULT_AGENTX_PATH = '/var/agentx/master';

/**
 * A VM with nothing configured: enabled, every setting left to its default, no owner, no
 * instance permissions. A `vm` block starts from it, as does a VM that `vmctl start` creates.
 * Every call returns new objects, so the caller may change them.
 */
export function newVmConfig(name: string, location: SourceLocation): VmConfig {
  return {
    name,
    parent: null,
    enabled: true,
    memory: null,
    boot: null,
    bootDevice: null,
    initrd: null,
    cmdline: null,
    cdrom: null,
    disks: [],
    interfaces: [],
    interfaceCount: null,
    owner: null,
    allowInstance: {
      boot: false,
      cdrom: false,
      disk: false,
      instance: false,
      interface: false,
      memory: false,
      owner: null,
    },
    sev: false,
    sevEs: false,
    location,
  };
}
