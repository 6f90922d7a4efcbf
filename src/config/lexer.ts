/**
 * The vm.conf lexer, a close transcription of parse.y's yylex/lgetc/igetc so that what OpenBSD
 * accepts as one token is one token here:
 *
 * - `#` comments to the end of the line; `\` before a newline continues the line (and before
 *   any other character outside quotes, is dropped);
 * - single or double quotes; inside, `\` escapes the quote, a blank or a newline, a newline is
 *   dropped, and there is no macro expansion;
 * - bare words start with a letter, digit, `:`, `_` or `/` and go on over letters, digits and
 *   punctuation except `(){}!=#,`; a reserved word is a keyword;
 * - numbers are an optional `-` and digits, ended by a blank, `)`, `,`, `/`, `}` or `=`
 *   (so `1G` and `512M` are words, for scan_scaled);
 * - `$name` at the start of a token expands a macro: its value is pushed back into the input
 *   and lexed again, without expanding `$` inside it;
 * - the end of each file reads as a newline first, so a last line without one still ends.
 *
 * Files are a stack: `include` pushes one, and its end pops back to the includer.
 */

import type { MacroTable } from './macros.js';
import type { SourceLocation } from './types.js';

/**
 * The reserved words (parse.y's keywords table). `add`, `id` and `size` are unused; `cmdline`
 * and `initrd` are this port's, for Linux kernels.
 */
export const KEYWORDS = [
  'add',
  'agentx',
  'allow',
  'boot',
  'cdrom',
  'cmdline',
  'context',
  'delay',
  'device',
  'disable',
  'disk',
  'down',
  'enable',
  'format',
  'group',
  'id',
  'include',
  'inet6',
  'initrd',
  'instance',
  'interface',
  'interfaces',
  'lladdr',
  'local',
  'locked',
  'memory',
  'net',
  'owner',
  'parallel',
  'path',
  'prefix',
  'rdomain',
  'sev',
  'seves',
  'size',
  'socket',
  'staggered',
  'start',
  'switch',
  'up',
  'vm',
] as const;

/** A reserved word. */
export type Keyword = (typeof KEYWORDS)[number];

const KEYWORD_SET: ReadonlySet<string> = new Set(KEYWORDS);

/** One token with the place it starts. */
export type Token = SourceLocation &
  (
    | { kind: 'keyword'; keyword: Keyword }
    | { kind: 'string'; value: string }
    | { kind: 'number'; value: number; text: string }
    /** A single character that is not part of a word: `{`, `}`, `=`, `,`, or a stray one. */
    | { kind: 'char'; value: string }
    | { kind: 'newline' }
    /** The lexer already reported what is wrong here. */
    | { kind: 'error' }
    | { kind: 'eof' }
  );

/** Receives the lexer's errors. */
export type LexReport = (where: SourceLocation, message: string) => void;

// parse.y reads into a buffer of 8096 bytes.
const BUFFER_SIZE = 8096;
const EOF = -1;
const START_EXPAND = -2;
const DONE_EXPAND = -3;

const NL = 0x0a;
const CH = (s: string): number => s.charCodeAt(0);

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isAlnum(c: number): boolean {
  return isDigit(c) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

function isPunct(c: number): boolean {
  return c > 0x20 && c < 0x7f && !isAlnum(c);
}

function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

function allowedToEndNumber(c: number): boolean {
  return isSpace(c) || '),/}='.includes(String.fromCharCode(c));
}

function allowedInString(c: number): boolean {
  return isAlnum(c) || (isPunct(c) && !'(){}!=#,'.includes(String.fromCharCode(c)));
}

interface Source {
  name: string;
  path: string;
  text: string;
  pos: number;
  line: number;
  /** Pushed-back characters, read last first. */
  unget: number[];
  eofReached: boolean;
  /** The number of the file's last line, for the end-of-file token. */
  lastLine: number;
}

/** Turns the files of one parse into tokens. */
export class Lexer {
  private readonly files: Source[] = [];
  private expanding = false;

  constructor(
    private readonly macros: MacroTable,
    private readonly report: LexReport,
  ) {}

  /** Starts reading `text` (file `name`, at absolute `path`) before the rest of the input. */
  pushFile(name: string, path: string, text: string): void {
    const newlines = text.split('\n').length - 1;
    const lastLine = Math.max(1, newlines + (text.endsWith('\n') || text === '' ? 0 : 1));
    this.files.push({ name, path, text, pos: 0, line: 1, unget: [], eofReached: false, lastLine });
  }

  /** Whether `path` is being read: including it again would loop. */
  isOpen(path: string): boolean {
    return this.files.some((f) => f.path === path);
  }

  private get file(): Source {
    const file = this.files[this.files.length - 1];
    if (file === undefined) throw new Error('lexer: no input file');
    return file;
  }

  private igetc(): number {
    for (;;) {
      const f = this.file;
      const c = f.unget.pop() ?? (f.pos < f.text.length ? f.text.charCodeAt(f.pos++) : EOF);
      if (c === START_EXPAND) this.expanding = true;
      else if (c === DONE_EXPAND) this.expanding = false;
      else return c;
    }
  }

  // Pops a finished include; false at the end of the top file.
  private popFile(): boolean {
    if (this.files.length <= 1) return false;
    this.files.pop();
    return true;
  }

  // A character inside quotes: no continuation, and the end of the file is an error.
  private qgetc(where: SourceLocation): number {
    const c = this.igetc();
    if (c === EOF) this.report(where, 'reached end of file while parsing quoted string');
    return c;
  }

  // A character outside quotes, after line continuations.
  private lgetc(): number {
    let c: number;
    while ((c = this.igetc()) === CH('\\')) {
      const next = this.igetc();
      if (next !== NL) {
        c = next;
        break;
      }
      this.file.line++;
    }
    if (c === EOF) {
      // The first end of a file reads as a newline, so its last line always ends.
      if (!this.file.eofReached) {
        this.file.eofReached = true;
        return NL;
      }
      while (c === EOF) {
        if (!this.popFile()) return EOF;
        c = this.igetc();
      }
    }
    return c;
  }

  private lungetc(c: number): void {
    if (c !== EOF) this.file.unget.push(c);
  }

  /** The next token. */
  next(): Token {
    for (;;) {
      let c = this.lgetc();
      while (c === CH(' ') || c === CH('\t') || c === CH('\r')) c = this.lgetc();
      const at = this.here();
      if (c === CH('#')) {
        while ((c = this.lgetc()) !== NL && c !== EOF) {
          // the comment runs to the end of the line
        }
      }
      if (c === CH('$') && !this.expanding) {
        const token = this.expandMacro(at);
        if (token !== null) return token;
        continue;
      }
      if (c === CH('"') || c === CH("'")) return this.quoted(c, at);
      if (c === CH('-') || isDigit(c)) {
        const token = this.number(c, at);
        if (token !== null) return token;
      }
      if (isAlnum(c) || c === CH(':') || c === CH('_') || c === CH('/')) return this.word(c, at);
      if (c === NL) {
        this.file.line++;
        return { ...at, kind: 'newline' };
      }
      if (c === EOF) return { file: at.file, line: this.file.lastLine, kind: 'eof' };
      return { ...at, kind: 'char', value: String.fromCharCode(c) };
    }
  }

  private here(): SourceLocation {
    return { file: this.file.name, line: this.file.line };
  }

  // `$name`: pushes the value back to be lexed; null to go on lexing, or a token to return.
  private expandMacro(at: SourceLocation): Token | null {
    let name = '';
    for (;;) {
      const c = this.lgetc();
      if (c === EOF) return { ...at, kind: 'eof' };
      if (isAlnum(c) || c === CH('_')) {
        name += String.fromCharCode(c);
        continue;
      }
      this.lungetc(c);
      break;
    }
    const value = this.macros.expand(name);
    if (value === undefined) {
      this.report(at, `macro '${name}' not defined`);
      return { ...at, kind: 'error' };
    }
    this.lungetc(DONE_EXPAND);
    for (let i = value.length - 1; i >= 0; i--) this.lungetc(value.charCodeAt(i));
    this.lungetc(START_EXPAND);
    return null;
  }

  private quoted(quote: number, at: SourceLocation): Token {
    let value = '';
    let failed = false;
    for (;;) {
      let c = this.qgetc(at);
      if (c === EOF) return { ...at, kind: 'error' };
      if (c === NL) {
        this.file.line++;
        continue;
      }
      if (c === CH('\\')) {
        const next = this.qgetc(at);
        if (next === EOF) return { ...at, kind: 'error' };
        if (next === quote || next === CH(' ') || next === CH('\t')) {
          c = next;
        } else if (next === NL) {
          this.file.line++;
          continue;
        } else {
          this.lungetc(next);
        }
      } else if (c === quote) {
        break;
      } else if (c === 0 && !failed) {
        this.report(at, 'syntax error: NUL character in a quoted string');
        failed = true;
      }
      if (!failed && value.length + 1 >= BUFFER_SIZE - 1) {
        this.report(at, 'string too long');
        failed = true;
      }
      if (!failed) value += String.fromCharCode(c);
    }
    return failed ? { ...at, kind: 'error' } : { ...at, kind: 'string', value };
  }

  // Digits (with an optional '-') that end where a number may end; null when they turn out to
  // be the start of a word, which is then lexed again from its first character.
  private number(first: number, at: SourceLocation): Token | null {
    const buf: number[] = [];
    let c = first;
    do {
      buf.push(c);
    } while ((c = this.lgetc()) !== EOF && isDigit(c));
    this.lungetc(c);
    const text = String.fromCharCode(...buf);
    if (text !== '-' && (c === EOF || allowedToEndNumber(c))) {
      if (buf.length >= BUFFER_SIZE) {
        this.report(at, 'string too long');
        return { ...at, kind: 'error' };
      }
      const n = BigInt(text);
      if (n > 0x7fffffffffffffffn || n < -0x8000000000000000n) {
        this.report(at, `"${text}" invalid number: ${n > 0n ? 'too large' : 'too small'}`);
        return { ...at, kind: 'error' };
      }
      return { ...at, kind: 'number', value: Number(n), text };
    }
    while (buf.length > 1) this.lungetc(buf.pop() ?? EOF);
    // The caller goes on with the first character, which it still holds.
    return first === CH('-') ? { ...at, kind: 'char', value: '-' } : null;
  }

  private word(first: number, at: SourceLocation): Token {
    let value = '';
    let c = first;
    do {
      value += String.fromCharCode(c);
    } while ((c = this.lgetc()) !== EOF && allowedInString(c));
    this.lungetc(c);
    if (value.length >= BUFFER_SIZE) {
      this.report(at, 'string too long');
      return { ...at, kind: 'error' };
    }
    if (KEYWORD_SET.has(value)) return { ...at, kind: 'keyword', keyword: value as Keyword };
    return { ...at, kind: 'string', value };
  }
}
