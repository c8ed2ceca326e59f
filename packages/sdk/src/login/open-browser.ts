import { spawn } from 'node:child_process';

/**
 * Opens a URL in the person's browser without a shell (the URL is one argument, never parsed as a command). Returns
 * false when there is nothing to open it with; the URL has been printed anyway.
 */
export function openBrowser(url: string): boolean {
  const [cmd, args] =
    process.platform === 'darwin'
      ? ['open', [url]]
      : process.platform === 'win32'
        ? ['rundll32', ['url.dll,FileProtocolHandler', url]]
        : ['xdg-open', [url]];
  try {
    const child = spawn(cmd, args, { stdio: 'ignore', detached: true, shell: false });
    child.on('error', () => {});
    child.unref();
    return true;
  } catch {
    return false;
  }
}
