/**
 * The parent's answers to vmctl's requests (vmd.c vmd_dispatch_control and the vmm side of
 * each): every request about a VM is answered by its own response type whose `result` is 0
 * or vmd's code (codes.ts), as vmd answers with `vmop_result`; `vmctl wait` is answered by
 * `terminate-vm-event` when the VM stops (the control process keeps the waiter) or `fail` at
 * once; status by one `get-info-vm-data` per VM and `get-info-vm-end-data`; load, reload,
 * reset and log by `ok` or `fail`.
 */

import { log } from '../common/log.js';
import type { Accounts } from './accounts.js';
import { ERRNO, VM_STATE, VMD_ERRORS } from './codes.js';
import type { StartOutcome, VmLifecycle } from './lifecycle.js';
import type { Message, MessageOf, ResetScope, VmResult } from './messages.js';
import { checkFileAccess, mayControl, type Requester } from './permissions.js';
import { configuredOwner, isRunning, vmStatus, type Registry, type VmEntry } from './registry.js';
import type { StaggeredStarter } from './staggered.js';
import {
  checkNewConfig,
  configFromRequest,
  instanceFromRequest,
  onlyBootOptions,
  StartError,
} from './vm_spec.js';

/** How long a guest asked to stop by `vmctl stop` has before it is stopped forcibly. */
export const STOP_TIMEOUT_MS = 125_000;

/** What the requests need from the parent. */
export interface RequestContext {
  readonly registry: Registry;
  readonly accounts: Accounts;
  readonly lifecycle: VmLifecycle;
  readonly staggered: StaggeredStarter;
  /** True once vmd is shutting down: nothing new is started. */
  readonly shuttingDown: boolean;
  /** Root, or the user of a private vmd. */
  isPrivileged(uid: number): boolean;
  /** `vmctl load`: an error message, or null. */
  load(path: string): string | null;
  /** `vmctl reload`: an error message, or null. */
  reload(): string | null;
  /** `vmctl reset`. */
  reset(scope: ResetScope): void;
  /** `vmctl log`. */
  setVerbosity(level: number): void;
}

/** Sends one reply to the request being answered. */
export type Reply = (message: Message) => void;

// A uid no account has: a request the control process did not stamp is nobody's.
const NOBODY = 0xfffffffe;

function requesterOf(ctx: RequestContext, uid: number | null): Requester {
  const id = uid ?? NOBODY;
  return { uid: id, privileged: uid !== null && ctx.isPrivileged(id) };
}

function vmResult(result: number, entry?: VmEntry): VmResult {
  return {
    result,
    vmId: entry?.id ?? null,
    pid: entry?.runner?.pid ?? null,
    tty: entry?.console?.path ?? null,
  };
}

/** Answers one request from the control process. */
export async function handleRequest(
  ctx: RequestContext,
  message: Message,
  reply: Reply,
): Promise<void> {
  switch (message.type) {
    case 'get-info-vm-request':
      for (const entry of ctx.registry.all())
        reply({ type: 'get-info-vm-data', info: vmStatus(entry) });
      reply({ type: 'get-info-vm-end-data' });
      return;
    case 'start-vm-request': {
      // A refusal vmd can explain (a corrupt disk image, say) goes back as `fail` with the
      // reason, which vmctl prints after its own words.
      const outcome = await startVm(ctx, message);
      const { result, vmId, pid, tty } = outcome;
      const detail = 'detail' in outcome ? outcome.detail : null;
      reply(
        result !== 0 && detail !== null
          ? { type: 'fail', error: result, detail }
          : { type: 'start-vm-response', result, vmId, pid, tty },
      );
      return;
    }
    case 'terminate-vm-request':
      reply({ type: 'terminate-vm-response', ...stopVm(ctx, message) });
      return;
    case 'wait-vm-request': {
      const result = waitVm(ctx, message);
      reply(
        result.result === 0 ? { type: 'terminate-vm-response', ...result } : failure(result.result),
      );
      return;
    }
    case 'pause-vm':
    case 'unpause-vm': {
      const result = await pauseVm(ctx, message);
      reply({
        type: message.type === 'pause-vm' ? 'pause-vm-response' : 'unpause-vm-response',
        ...result,
      });
      return;
    }
    case 'console-request':
      reply({ type: 'console-response', ...consoleOf(ctx, message) });
      return;
    case 'load':
      reply(outcome(ctx.load(message.path)));
      return;
    case 'reload':
      reply(outcome(ctx.reload()));
      return;
    case 'reset':
      ctx.reset(message.scope);
      reply({ type: 'ok' });
      return;
    case 'verbose':
      ctx.setVerbosity(message.level);
      reply({ type: 'ok' });
      return;
    case 'create-disk-request':
      // vmctl makes images itself, as the user who runs it (vmctl(8) create).
      reply({ type: 'fail', error: ERRNO.EOPNOTSUPP, detail: 'vmctl create makes images itself' });
      return;
    default:
      reply({ type: 'fail', error: ERRNO.EPROTO, detail: `unexpected request ${message.type}` });
  }
}

function failure(error: number, detail: string | null = null): Message {
  return { type: 'fail', error, detail };
}

/** The longest `fail` detail (codec.ts). */
const MAX_DETAIL = 4096;

/** A detail the codec accepts, whatever a config file held: newlines between errors stay. */
function detailOf(text: string): string {
  const clean = text.replace(/\0|\p{Cs}/gu, '?');
  if (clean.length <= MAX_DETAIL) return clean;
  // A cut may split a surrogate pair, whose first half alone is not valid Unicode.
  return `${clean.slice(0, MAX_DETAIL - 3).replace(/\p{Cs}$/u, '')}...`;
}

function outcome(error: string | null): Message {
  return error === null ? { type: 'ok' } : failure(ERRNO.EINVAL, detailOf(error));
}

/**
 * `vmctl start`: a known VM by id or name (only a kernel may be given, for this boot), a new
 * instance of a template (`-t`), or a new VM from the options (privileged users only).
 */
async function startVm(
  ctx: RequestContext,
  request: MessageOf<'start-vm-request'>,
): Promise<VmResult | StartOutcome> {
  const requester = requesterOf(ctx, request.uid);
  if (ctx.shuttingDown) return vmResult(ERRNO.EBUSY);
  const name = 'name' in request.vm ? request.vm.name : null;
  try {
    if (request.template !== null) {
      const parent = ctx.registry.byName(request.template);
      if (parent === undefined) return vmResult(VMD_ERRORS.VMD_PARENT_INVALID);
      if (name === null) return vmResult(ERRNO.EINVAL);
      // OpenBSD answers EPROCLIM, which Linux lacks (codes.ts).
      if (ctx.registry.byName(name) !== undefined) return vmResult(ERRNO.EEXIST);
      const config = instanceFromRequest({ ...request, name }, parent, requester, ctx.accounts);
      checkNewConfig(config);
      const entry = ctx.registry.add(config, false);
      entry.runUid = config.owner?.uid ?? requester.uid;
      if (!requester.privileged) {
        const named = [
          request.boot,
          request.initrd,
          request.cdrom,
          ...request.disks.map((d) => d.path),
        ];
        entry.namedFiles = { uid: requester.uid, paths: named.filter((p) => p !== null) };
      }
      log.info(
        'vm "%s" (id %d): instance of "%s" created by uid %d',
        name,
        entry.id,
        parent.config.name,
        requester.uid,
      );
      return await ctx.lifecycle.start(entry);
    }
    const existing = ctx.registry.find(request.vm);
    if (existing !== undefined) return await startExisting(ctx, existing, request, requester);
    if (name === null) return vmResult(ERRNO.ENOENT);
    if (!requester.privileged) return vmResult(ERRNO.EPERM);
    const config = configFromRequest({ ...request, name }, requester.uid);
    checkNewConfig(config);
    const entry = ctx.registry.add(config, false);
    log.info('vm "%s" (id %d) created by uid %d', name, entry.id, requester.uid);
    return await ctx.lifecycle.start(entry);
  } catch (error) {
    if (!(error instanceof StartError)) throw error;
    log.warn('start of vm "%s" refused: %s', name ?? JSON.stringify(request.vm), error.message);
    return vmResult(error.code);
  }
}

async function startExisting(
  ctx: RequestContext,
  entry: VmEntry,
  request: MessageOf<'start-vm-request'>,
  requester: Requester,
): Promise<VmResult | StartOutcome> {
  if (isRunning(entry)) return vmResult(ERRNO.EALREADY, entry);
  // A known VM is started as configured: only its kernel may change, for this boot.
  if (!onlyBootOptions(request)) return vmResult(ERRNO.EALREADY, entry);
  if (!mayControl(ctx.accounts, entry, requester)) return vmResult(ERRNO.EPERM, entry);
  for (const path of [request.boot, request.initrd]) {
    if (
      path !== null &&
      !requester.privileged &&
      checkFileAccess(ctx.accounts, path, requester, 'read') !== 0
    ) {
      return vmResult(ERRNO.EPERM, entry);
    }
  }
  const overridden = request.boot !== null || request.initrd !== null || request.cmdline !== null;
  entry.bootOverride = overridden
    ? {
        boot: request.boot,
        initrd: request.initrd,
        cmdline: request.cmdline,
        bootDevice: null,
        namedBy: requester.privileged ? null : requester.uid,
      }
    : null;
  entry.runUid = requester.privileged ? configuredOwner(entry.config).uid : requester.uid;
  ctx.staggered.cancel(entry);
  return ctx.lifecycle.start(entry);
}

/** The VM a request names, checked against the requester: the entry or the result code. */
function permittedVm(
  ctx: RequestContext,
  request: { vm: MessageOf<'pause-vm'>['vm']; uid: number | null },
): VmEntry | number {
  const entry = ctx.registry.find(request.vm);
  if (entry === undefined) return ERRNO.ENOENT;
  return mayControl(ctx.accounts, entry, requesterOf(ctx, request.uid)) ? entry : ERRNO.EPERM;
}

/** `vmctl stop [-f] [-w]`. */
function stopVm(ctx: RequestContext, request: MessageOf<'terminate-vm-request'>): VmResult {
  const entry = permittedVm(ctx, request);
  if (typeof entry === 'number') return vmResult(entry);
  const result = ctx.lifecycle.stop(entry, request.force, STOP_TIMEOUT_MS);
  if (result === 0)
    log.info(
      'vm "%s" (id %d): stop requested%s',
      entry.config.name,
      entry.id,
      request.force ? ' (forced)' : '',
    );
  return vmResult(result, entry);
}

/** `vmctl wait`: the VM must be running; the control process waits for its end. */
function waitVm(ctx: RequestContext, request: MessageOf<'wait-vm-request'>): VmResult {
  const entry = permittedVm(ctx, request);
  if (typeof entry === 'number') return vmResult(entry);
  return vmResult(isRunning(entry) ? 0 : VMD_ERRORS.VMD_VM_STOP_INVALID, entry);
}

/** `vmctl pause` and `unpause`, relayed to the VM process. */
async function pauseVm(
  ctx: RequestContext,
  request: MessageOf<'pause-vm' | 'unpause-vm'>,
): Promise<VmResult> {
  const entry = permittedVm(ctx, request);
  if (typeof entry === 'number') return vmResult(entry);
  const runner = entry.runner;
  // vmm knows running VMs only: for it a stopped VM does not exist.
  if (runner === null || !isRunning(entry)) return vmResult(ERRNO.ENOENT, entry);
  const pause = request.type === 'pause-vm';
  const result = await runner.pauseOrUnpause(pause);
  if (result === 0 && entry.runner === runner) {
    entry.state = pause ? entry.state | VM_STATE.PAUSED : entry.state & ~VM_STATE.PAUSED;
    log.info('vm "%s" (id %d) %s', entry.config.name, entry.id, pause ? 'paused' : 'unpaused');
  }
  return vmResult(result, entry);
}

/** `vmctl console`: the VM's console, once the requester may use it. */
function consoleOf(ctx: RequestContext, request: MessageOf<'console-request'>): VmResult {
  const entry = permittedVm(ctx, request);
  if (typeof entry === 'number') return vmResult(entry);
  // The console outlives each process of a guest that reboots.
  if (!isRunning(entry) || entry.console === null) {
    return vmResult(ERRNO.ENOENT, entry);
  }
  return vmResult(0, entry);
}
