/**
 * getopt(3) as OpenBSD's libc implements it and vmctl relies on: options are single letters,
 * may be grouped (`-cL`), and take their argument attached (`-m1G`) or as the next word
 * (`-m 1G`); parsing stops at the first word that is not an option, at a lone `-`, or after
 * `--`. No word is reordered, so `vmctl stop foo -f` has two operands. The diagnostics are
 * OpenBSD's: `unknown option -- x` and `option requires an argument -- x`.
 */

/** One option as the command line gave it. */
export interface ParsedOption {
  /** The letter. */
  letter: string;
  /** Its argument, or null for a flag. */
  value: string | null;
}

/** The options in command-line order and the operands after them. */
export interface GetoptResult {
  options: ParsedOption[];
  operands: string[];
}

/** A command line getopt(3) refuses; `message` is its diagnostic, without the program name. */
export class GetoptError extends Error {
  override readonly name = 'GetoptError';
}

/**
 * Parses `words` (the arguments after the command name) against `spec`, getopt's option
 * string: each letter an option, a letter followed by `:` one that takes an argument.
 * Throws a {@link GetoptError} for an unknown option or a missing argument.
 */
export function getopt(words: readonly string[], spec: string): GetoptResult {
  const takesArgument = new Map<string, boolean>();
  for (let i = 0; i < spec.length; i++) {
    const letter = spec.charAt(i);
    if (letter === ':') continue;
    takesArgument.set(letter, spec.charAt(i + 1) === ':');
  }
  const options: ParsedOption[] = [];
  let index = 0;
  while (index < words.length) {
    const word = words[index] ?? '';
    if (word === '--') {
      index++;
      break;
    }
    if (!word.startsWith('-') || word === '-') break;
    index++;
    // Each character after the dash is an option until one takes the rest as its argument.
    for (let at = 1; at < word.length; at++) {
      const letter = word.charAt(at);
      const wantsArgument = takesArgument.get(letter);
      if (wantsArgument === undefined) throw new GetoptError(`unknown option -- ${letter}`);
      if (!wantsArgument) {
        options.push({ letter, value: null });
        continue;
      }
      if (at + 1 < word.length) {
        options.push({ letter, value: word.slice(at + 1) });
      } else {
        const next = words[index];
        if (next === undefined) throw new GetoptError(`option requires an argument -- ${letter}`);
        options.push({ letter, value: next });
        index++;
      }
      break;
    }
  }
  return { options, operands: words.slice(index) };
}
