// Makes API keys with a real better-auth and its api-key plugin on a SQLite file, as a provider moving to keyward
// has them. Usage: node make-keys.mjs <sqlite file> '<json: [{email, name, prefix?, expiresIn?, remaining?,
// permissions?, metadata?}]>'. Prints {keys: [{...asked, raw}]}: the raw keys their customers hold, each checked by
// better-auth itself first.
import { apiKey } from '@better-auth/api-key';
import { betterAuth } from 'better-auth';
import { getMigrations } from 'better-auth/db/migration';
import Database from 'better-sqlite3';

const [file, spec] = process.argv.slice(2);
const db = new Database(file);
const auth = betterAuth({
  database: db,
  secret: 'keyward-import-test-secret-0123456789abcdef',
  baseURL: 'http://127.0.0.1:3000',
  logger: { disabled: true },
  emailAndPassword: { enabled: true },
  plugins: [apiKey({ enableMetadata: true, rateLimit: { enabled: false } })],
});
await (await getMigrations(auth.options)).runMigrations();

const users = new Map();
const keys = [];
for (const want of JSON.parse(spec)) {
  if (!users.has(want.email)) {
    const { user } = await auth.api.signUpEmail({ body: { email: want.email, password: 'a password 1234', name: want.email } });
    users.set(want.email, user.id);
  }
  const { email, ...body } = want;
  const made = await auth.api.createApiKey({ body: { ...body, userId: users.get(email) } });
  if (!(await auth.api.verifyApiKey({ body: { key: made.key } })).valid) throw new Error(`better-auth refuses its own key ${want.name}`);
  keys.push({ ...want, raw: made.key });
}
db.close();
process.stdout.write(JSON.stringify({ keys }));
