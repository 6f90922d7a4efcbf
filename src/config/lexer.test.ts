import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lexer, type Token } from './lexer.js';
import { MacroTable } from './macros.js';

/** Lexes `text` into compact `line:kind:value` strings, with the errors reported. */
function lex(
  text: string,
  macros: Record<string, string> = {},
): { tokens: string[]; errors: string[] } {
  const table = new MacroTable();
  for (const [name, value] of Object.entries(macros)) table.define(name, value, true);
  const errors: string[] = [];
  const lexer = new Lexer(table, (where, message) => errors.push(`${where.line}: ${message}`));
  lexer.pushFile('t.conf', '/t.conf', text);
  const tokens: string[] = [];
  for (let t: Token = lexer.next(); ; t = lexer.next()) {
    const value =
      t.kind === 'keyword' ? t.keyword : t.kind === 'number' ? t.text : 'value' in t ? t.value : '';
    tokens.push(`${t.line}:${t.kind}${value === '' ? '' : `:${value}`}`);
    if (t.kind === 'eof') break;
  }
  return { tokens, errors };
}

test('numbers end at a blank or )},/=; anything else makes a word (1G, 512M)', () => {
  assert.deepEqual(lex('memory 1G 1048576 -5').tokens, [
    '1:keyword:memory',
    '1:string:1G',
    '1:number:1048576',
    '1:number:-5',
    '1:newline',
    '1:eof',
  ]);
  assert.deepEqual(lex('10/8 -x 00:11:22').tokens.slice(0, 5), [
    '1:number:10',
    '1:string:/8',
    '1:char:-',
    '1:string:x',
    '1:string:00:11:22',
  ]);
});

test('words take punctuation but stop at (){}!=#, and a comment', () => {
  assert.deepEqual(lex('a.b-c;d{e}f=g,h#comment\nx').tokens, [
    '1:string:a.b-c;d',
    '1:char:{',
    '1:string:e',
    '1:char:}',
    '1:string:f',
    '1:char:=',
    '1:string:g',
    '1:char:,',
    '1:string:h',
    '1:newline',
    '2:string:x',
    '2:newline',
    '2:eof',
  ]);
});

test('quotes: keywords are strings, escapes, newlines dropped, no expansion', () => {
  assert.deepEqual(lex(`"vm" 'it\\'s' "a\\ b" "c\\d" "x\ny" "$m"`, { m: 'no' }).tokens, [
    '1:string:vm',
    "1:string:it's",
    '1:string:a b',
    '1:string:c\\d',
    '1:string:xy',
    '2:string:$m',
    '2:newline',
    '2:eof',
  ]);
});

test('a backslash continues the line, and outside quotes drops before anything else', () => {
  assert.deepEqual(lex('disk \\\n  /a a\\b\nvm').tokens, [
    '1:keyword:disk',
    '2:string:/a',
    '2:string:ab',
    '2:newline',
    '3:keyword:vm',
    '3:newline',
    '3:eof',
  ]);
});

test('macros expand at the start of a token into tokens, once (no $ inside)', () => {
  const { tokens, errors } = lex('$opts $name\n$nope x', { opts: 'memory 1G', name: '$opts' });
  assert.deepEqual(tokens, [
    '1:keyword:memory',
    '1:string:1G',
    '1:char:$',
    '1:string:opts',
    '1:newline',
    '2:error',
    '2:string:x',
    '2:newline',
    '2:eof',
  ]);
  assert.deepEqual(errors, ["2: macro 'nope' not defined"]);
});

test('lexical errors are reported with the line where the token starts', () => {
  assert.deepEqual(lex('x\n"open\nstring').errors, [
    '2: reached end of file while parsing quoted string',
  ]);
  assert.deepEqual(lex('99999999999999999999 -99999999999999999999').errors, [
    '1: "99999999999999999999" invalid number: too large',
    '1: "-99999999999999999999" invalid number: too small',
  ]);
  assert.deepEqual(lex(`/${'x'.repeat(8100)} ok`).tokens.slice(0, 2), ['1:error', '1:string:ok']);
});

test('the end of input reads as a newline first, on the last line', () => {
  assert.deepEqual(lex('').tokens, ['1:newline', '1:eof']);
  assert.deepEqual(lex('a\nb\n').tokens, [
    '1:string:a',
    '1:newline',
    '2:string:b',
    '2:newline',
    '3:newline',
    '2:eof',
  ]);
});

test('an included file is read before the rest of the includer, then the includer resumes', () => {
  const lexer = new Lexer(new MacroTable(), () => undefined);
  lexer.pushFile('top.conf', '/top.conf', 'a\nb\n');
  assert.equal(lexer.next().kind, 'string');
  assert.equal(lexer.next().kind, 'newline');
  lexer.pushFile('inc.conf', '/inc.conf', 'x');
  assert.ok(lexer.isOpen('/inc.conf') && lexer.isOpen('/top.conf'));
  const seen: string[] = [];
  for (let t = lexer.next(); t.kind !== 'eof'; t = lexer.next()) {
    if (t.kind === 'string') seen.push(`${t.file}:${t.line}:${t.value}`);
  }
  assert.deepEqual(seen, ['inc.conf:1:x', 'top.conf:2:b']);
  assert.equal(lexer.isOpen('/inc.conf'), false);
});
