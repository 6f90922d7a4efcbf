/**
 * The state of one parse shared by the statement parsers: diagnostics, the token stream with
 * its lookahead and error recovery, the system hooks and the config being built.
 *
 * Errors come in two kinds, as in parse.y. A *semantic* error (a bad size, an unknown user)
 * is reported and parsing goes on. A *syntax* error throws {@link Abort}; the statement or
 * block option being parsed is abandoned and {@link TokenStream.recover} skips to the next
 * line (over whole `{ ... }` blocks), as yacc's `error '\n'` rule does, so one mistake gives
 * one message and every later statement is still checked.
 */

import type { Keyword, Lexer, Token } from './lexer.js';
import type { MacroTable } from './macros.js';
import type { Diagnostic, DiskFormat, Owner, SourceLocation, VmdConfig } from './types.js';

/** Collects errors and warnings in the order they are found. */
export class Diagnostics {
  readonly errors: Diagnostic[] = [];
  readonly warnings: Diagnostic[] = [];

  error(where: SourceLocation, message: string): void {
    this.errors.push({ file: where.file, line: where.line, message, severity: 'error' });
  }

  warning(where: SourceLocation | null, message: string): void {
    this.warnings.push({
      file: where?.file ?? null,
      line: where?.line ?? 0,
      message,
      severity: 'warning',
    });
  }
}

/** Thrown on a syntax error, once it is reported; caught where parsing can resume. */
export class Abort extends Error {
  constructor() {
    super('vm.conf syntax error');
  }
}

/** The system hooks of {@link ParseOptions}, with defaults filled in. */
export interface Hooks {
  readFile: (path: string) => string;
  realpath: (path: string) => string;
  probeDiskFormat: (path: string) => DiskFormat;
  resolveUser: (name: string) => number | undefined;
  resolveGroup: (name: string) => number | undefined;
}

/** Everything a statement parser needs. */
export interface Context {
  readonly tokens: TokenStream;
  readonly diag: Diagnostics;
  readonly hooks: Hooks;
  readonly lexer: Lexer;
  readonly macros: MacroTable;
  /** The directory relative paths are resolved against. */
  readonly cwd: string;
  readonly config: VmdConfig;
}

/** A string value and where it was written. */
export interface Located<T> {
  value: T;
  where: SourceLocation;
}

function describe(token: Token): string {
  switch (token.kind) {
    case 'newline':
      return 'end of line';
    case 'eof':
      return 'end of file';
    case 'error':
      return 'error';
    case 'keyword':
      return `"${token.keyword}"`;
    case 'number':
      return `"${token.text}"`;
    case 'string':
    case 'char':
      return `"${token.value}"`;
  }
}

/** Tokens with lookahead, typed expectations and recovery. */
export class TokenStream {
  private readonly queue: Token[] = [];
  private lastConsumed: Token | null = null;
  private lastReported: Token | null = null;

  constructor(
    private readonly lexer: Lexer,
    private readonly diag: Diagnostics,
  ) {}

  /** The token `n` places ahead, without consuming it. */
  peek(n = 0): Token {
    while (this.queue.length <= n) {
      const last = this.queue[this.queue.length - 1];
      this.queue.push(last?.kind === 'eof' ? last : this.lexer.next());
    }
    return this.queue[n] as Token;
  }

  /** Consumes a token; the end of the input is never consumed. */
  next(): Token {
    const token = this.peek();
    if (token.kind !== 'eof') this.queue.shift();
    this.lastConsumed = token;
    return token;
  }

  /** Whether nothing is read ahead: the lexer may switch files. */
  get drained(): boolean {
    return this.queue.length === 0;
  }

  isKeyword(token: Token, ...keywords: Keyword[]): boolean {
    return token.kind === 'keyword' && keywords.includes(token.keyword);
  }

  isChar(token: Token, char: string): boolean {
    return token.kind === 'char' && token.value === char;
  }

  /**
   * Reports `token` as unexpected (unless the lexer already reported it, or it was reported
   * before) and abandons the statement. A bare word where a keyword should start a statement
   * or option is an unknown keyword. `token` is the next token or the one just consumed,
   * which is put back, so that recovery sees the brace or newline it may be.
   */
  fail(token: Token, atStatementStart = false): never {
    if (token === this.lastConsumed && token !== this.queue[0] && token.kind !== 'eof') {
      this.queue.unshift(token);
      this.lastConsumed = null;
    }
    if (token.kind !== 'error' && token !== this.lastReported) {
      const what =
        atStatementStart && token.kind === 'string'
          ? `unknown keyword ${describe(token)}`
          : `unexpected ${describe(token)}`;
      this.diag.error(token, `syntax error: ${what}`);
    }
    this.lastReported = token;
    throw new Abort();
  }

  /** Consumes keyword `keyword` or fails. */
  keyword(keyword: Keyword): Token {
    const token = this.next();
    if (!this.isKeyword(token, keyword)) this.fail(token);
    return token;
  }

  /** Consumes the character token `char` or fails. */
  char(char: string): Token {
    const token = this.next();
    if (!this.isChar(token, char)) this.fail(token);
    return token;
  }

  /** Consumes a number or fails. */
  number(): Located<number> {
    const token = this.next();
    if (token.kind !== 'number') this.fail(token);
    return { value: token.value, where: token };
  }

  /** Consumes one string token or fails (parse.y's STRING). */
  string(): Located<string> {
    const token = this.next();
    if (token.kind !== 'string') this.fail(token);
    return { value: token.value, where: token };
  }

  /** Consumes one or more adjacent strings, concatenated (parse.y's `string` rule). */
  strings(): Located<string> {
    const first = this.string();
    let value = first.value;
    for (let t = this.peek(); t.kind === 'string'; t = this.peek()) {
      value += t.value;
      this.next();
    }
    return { value, where: first.where };
  }

  /** Consumes the newline that ends a statement or fails. */
  endOfLine(): void {
    const token = this.next();
    if (token.kind !== 'newline') this.fail(token);
  }

  /** Consumes any newlines. */
  skipNewlines(): void {
    while (this.peek().kind === 'newline') this.next();
  }

  /**
   * After a syntax error: skips to the end of the line, over nested `{ ... }`. Inside a block
   * it stops before the `}` that closes the block; at the top level a stray `}` is skipped, and
   * so is a block that opens on the next line (a `{` put on a line of its own).
   */
  recover(inBlock: boolean): void {
    let depth = 0;
    for (;;) {
      const token = this.peek();
      if (token.kind === 'eof') return;
      if (token.kind === 'newline' && depth === 0) {
        this.next();
        if (inBlock || !this.isChar(this.peek(), '{')) return;
        continue;
      }
      if (this.isChar(token, '{')) {
        depth++;
      } else if (this.isChar(token, '}')) {
        if (depth > 0) depth--;
        else if (inBlock) return;
      }
      this.next();
    }
  }
}

/** Runs `body`; on a syntax error, recovers (see {@link TokenStream.recover}) instead. */
export function guarded(tokens: TokenStream, inBlock: boolean, body: () => void): void {
  try {
    body();
  } catch (error) {
    if (!(error instanceof Abort)) throw error;
    tokens.recover(inBlock);
  }
}

/**
 * The body of a `switch` or `vm` block, after its `{`: one or more options, each on its own
 * line (parse.y's `optnl opts_l '}'`), then the `}`. `option` parses one option from its
 * first token; a broken option is skipped to its line's end and the next one is parsed.
 */
export function parseBlock(tokens: TokenStream, option: (first: Token) => void): void {
  tokens.skipNewlines();
  if (tokens.isChar(tokens.peek(), '}')) tokens.fail(tokens.peek());
  for (;;) {
    guarded(tokens, true, () => {
      option(tokens.peek());
      if (!tokens.isChar(tokens.peek(), '}')) tokens.endOfLine();
    });
    tokens.skipNewlines();
    const token = tokens.peek();
    if (tokens.isChar(token, '}')) {
      tokens.next();
      return;
    }
    if (token.kind === 'eof') tokens.fail(token);
  }
}

/**
 * parse.y's owner_id: a number is a uid; `user`, `user:group` or `:group` are looked up.
 * Returns `null` after reporting an unknown user or group.
 */
export function parseOwner(ctx: Context): Owner | null {
  const token = ctx.tokens.next();
  if (token.kind === 'number') {
    if (token.value < 0 || token.value > 0xfffffffe) {
      ctx.diag.error(token, `failed to get user: ${token.text}`);
      return null;
    }
    return { uid: token.value, gid: null };
  }
  if (token.kind !== 'string') ctx.tokens.fail(token);
  const colon = token.value.indexOf(':');
  const user = colon < 0 ? token.value : token.value.slice(0, colon);
  const group = colon < 0 ? '' : token.value.slice(colon + 1);
  const owner: Owner = { uid: 0, gid: null };
  if (user !== '') {
    const uid = ctx.hooks.resolveUser(user);
    if (uid === undefined) {
      ctx.diag.error(token, `failed to get user: ${user}`);
      return null;
    }
    owner.uid = uid;
  }
  if (group !== '') {
    const gid = ctx.hooks.resolveGroup(group);
    if (gid === undefined) {
      ctx.diag.error(token, `failed to get group: ${group}`);
      return null;
    }
    owner.gid = gid;
  }
  return owner;
}
