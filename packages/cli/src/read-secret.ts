/**
 * Reads a pasted secret: from a terminal without echoing it, or all of standard input when it is a pipe. Never from
 * an argument, where it would land in shell history and the process list.
 */
export function readSecret(input: NodeJS.ReadStream = process.stdin, prompt: NodeJS.WriteStream = process.stderr): Promise<string> {
  if (!input.isTTY) {
    return new Promise((ok, fail) => {
      let data = '';
      input.setEncoding('utf8');
      input.on('data', (chunk) => {
        data += chunk;
      });
      input.on('end', () => ok(data.trim()));
      input.on('error', fail);
    });
  }
  return new Promise((ok, fail) => {
    let value = '';
    input.setRawMode(true);
    input.resume();
    input.setEncoding('utf8');
    const done = (error?: Error) => {
      input.setRawMode(false);
      input.pause();
      input.removeListener('data', onData);
      prompt.write('\n');
      error ? fail(error) : ok(value.trim());
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return done();
        if (ch === '\u0003') return done(new Error('cancelled'));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else if (ch >= ' ') value += ch;
      }
    };
    input.on('data', onData);
  });
}
