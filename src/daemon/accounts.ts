/**
 * The user and group facts vmd's permission checks need (getpwuid(3), getgrgid(3),
 * getgrnam(3)): a user's name and primary group, a group's members. Read from /etc/passwd and
 * /etc/group, as the vm.conf parser resolves names (vm.conf(5) COMPATIBILITY), and read again
 * when the files change, so that a user added to a group counts without restarting vmd.
 */

import { readFileSync, statSync } from 'node:fs';

/** A user as passwd(5) describes it. */
export interface UserEntry {
  name: string;
  uid: number;
  /** The primary group. */
  gid: number;
}

/** A group as group(5) describes it. */
export interface GroupEntry {
  name: string;
  gid: number;
  /** The user names listed as members (not those whose primary group it is). */
  members: readonly string[];
}

/** Lookups over the account databases. */
export interface Accounts {
  /** The user with `uid`, or undefined. */
  user(uid: number): UserEntry | undefined;
  /** The group with `gid`, or undefined. */
  group(gid: number): GroupEntry | undefined;
  /** The group named `name`, or undefined. */
  groupNamed(name: string): GroupEntry | undefined;
}

function isId(text: string | undefined): text is string {
  return text !== undefined && /^[0-9]+$/.test(text) && Number(text) <= 0xfffffffe;
}

/** The lines of passwd(5) or group(5) text that are entries (no comments, no NIS lines). */
function entryLines(text: string): string[][] {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#') && !/^[+-]/.test(line))
    .map((line) => line.split(':'));
}

/** Parses passwd(5) text; the first entry of a uid wins, as for getpwuid(3). */
export function parsePasswd(text: string): Map<number, UserEntry> {
  const users = new Map<number, UserEntry>();
  for (const [name, , uid, gid] of entryLines(text)) {
    if (name === undefined || name === '' || !isId(uid) || !isId(gid)) continue;
    if (!users.has(Number(uid)))
      users.set(Number(uid), { name, uid: Number(uid), gid: Number(gid) });
  }
  return users;
}

/** Parses group(5) text; the first entry of a gid or a name wins. */
export function parseGroups(text: string): GroupEntry[] {
  const groups: GroupEntry[] = [];
  for (const [name, , gid, members = ''] of entryLines(text)) {
    if (name === undefined || name === '' || !isId(gid)) continue;
    const list = members.split(',').filter((member) => member !== '');
    groups.push({ name, gid: Number(gid), members: list });
  }
  return groups;
}

/** A file's text with its change time, read again only when it changed. */
class CachedFile<T> {
  private stamp = '';
  private value: T;

  constructor(
    private readonly path: string,
    private readonly parse: (text: string) => T,
    empty: T,
  ) {
    this.value = empty;
  }

  /** The parsed file, read again if it changed since the last call. */
  get(): T {
    let stamp: string;
    try {
      const st = statSync(this.path, { bigint: true });
      stamp = `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    } catch {
      // An unreadable database knows nobody: every check that needs it fails closed.
      stamp = 'missing';
    }
    if (stamp !== this.stamp) {
      this.stamp = stamp;
      try {
        this.value = this.parse(readFileSync(this.path, 'utf8'));
      } catch {
        this.value = this.parse('');
      }
    }
    return this.value;
  }
}

/** The host's accounts from `passwd` and `group` (/etc/passwd and /etc/group by default). */
export function hostAccounts(passwd = '/etc/passwd', group = '/etc/group'): Accounts {
  const users = new CachedFile(passwd, parsePasswd, new Map<number, UserEntry>());
  const groups = new CachedFile(group, parseGroups, [] as GroupEntry[]);
  return {
    user: (uid) => users.get().get(uid),
    group: (gid) => groups.get().find((g) => g.gid === gid),
    groupNamed: (name) => groups.get().find((g) => g.name === name),
  };
}

/** Accounts from passwd(5) and group(5) text held in memory (for tests and tools). */
export function accountsFromText(passwd: string, group: string): Accounts {
  const users = parsePasswd(passwd);
  const groups = parseGroups(group);
  return {
    user: (uid) => users.get(uid),
    group: (gid) => groups.find((g) => g.gid === gid),
    groupNamed: (name) => groups.find((g) => g.name === name),
  };
}

/** True when user `uid` is in group `gid`: as its primary group, or listed as a member. */
export function isInGroup(accounts: Accounts, uid: number, gid: number): boolean {
  const user = accounts.user(uid);
  if (user === undefined) return false;
  if (user.gid === gid) return true;
  return accounts.group(gid)?.members.includes(user.name) ?? false;
}
