import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN } from './server-process.js';

export const CHROMIUM = '/usr/bin/chromium';
/** Whether this machine has what the Secret Service tests need: Debian's chromium, gnome-keyring and D-Bus. */
export const tools =
  existsSync(CHROMIUM) &&
  ['gnome-keyring-daemon', 'dbus-run-session'].every((t) => {
    try {
      execFileSync('sh', ['-c', `command -v ${t}`]);
      return true;
    } catch {
      return false;
    }
  });
if (!tools) console.warn('[skip] agent sign-in end to end: needs Debian chromium, gnome-keyring and dbus (.ci/run installs them)');

/**
 * Runs a shell script in a private D-Bus session with an unlocked gnome-keyring: a real Secret Service. The home
 * folder is a fresh temp folder, so whatever keyward writes there can be searched afterwards.
 */
export function inKeyring(script: string, home: string, work: string) {
  // --unlock forks the daemon, which claims org.freedesktop.secrets a moment later: wait for it (5 s at most), or the
  // first command may find no Secret Service yet.
  const ready = `for i in $(seq 1 50); do dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q 'boolean true' && break; sleep 0.1; done`;
  const full = `echo -n pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null\n${ready}\n${script}`;
  const proc = spawn('dbus-run-session', ['--', 'sh', '-c', full], {
    env: {
      ...process.env,
      HOME: home,
      XDG_CONFIG_HOME: join(home, '.config'),
      XDG_DATA_HOME: join(home, '.local/share'),
      WORK: work,
      KW: `${process.execPath} ${BIN}`,
    },
    stdio: 'ignore',
  });
  return new Promise<number>((ok) => proc.on('exit', (code) => ok(code ?? 1)));
}

export async function waitFor(file: string, pattern: RegExp, ms = 20_000): Promise<RegExpMatchArray> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const m = existsSync(file) ? readFileSync(file, 'utf8').match(pattern) : null;
    if (m) return m;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${file} never matched ${pattern}: ${existsSync(file) ? readFileSync(file, 'utf8') : '(missing)'}`);
}

export const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8').trim() : '');
