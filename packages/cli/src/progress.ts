import yoctoSpinner from 'yocto-spinner';

/**
 * How the CLI shows a long wait (the browser sign-in, a device approval): on a terminal, a spinner with the seconds
 * waited so far, cleared when the wait ends; anywhere else (a pipe, a log, CI), the words once as a line, so that
 * logs carry no animation frames.
 */
export function progressOn(stream: NodeJS.WriteStream): (what: string) => () => void {
  return (what) => {
    if (!stream.isTTY) {
      stream.write(`${what}\n`);
      return () => {};
    }
    const spinner = yoctoSpinner({ text: what, stream }).start();
    const started = Date.now();
    const tick = setInterval(() => {
      spinner.text = `${what} ${Math.round((Date.now() - started) / 1000)} s`;
    }, 1000);
    tick.unref();
    return () => {
      clearInterval(tick);
      spinner.stop();
    };
  };
}
