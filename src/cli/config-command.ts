/**
 * `checkpoint config keygen|sign|verify`: the tools of signed configs (src/config/signature.ts).
 * The central place makes a key pair once and signs each version of a site's config; the sites
 * hold only the public key. Exit codes: 0 done, 2 a refusal (bad flags, a config that is invalid
 * or may not be signed, a signature that does not verify).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseConfig } from '../config/load';
import { generateKeyPair, parsePublicKey, SIGNATURE_SUFFIX, signContent, verifyContent } from '../config/signature';
import { helpText, UsageError } from './flags';
import { builtInProbers } from './probers';

const USAGE = `Usage: checkpoint config keygen --out=DIR
       checkpoint config sign --key=PRIVATE.pem FILE        (writes FILE${SIGNATURE_SUFFIX})
       checkpoint config verify --public-key=PUBLIC.pem FILE (repeat --public-key during a key rotation)`;

const FLAGS = {
  out: { type: 'string', help: 'keygen: the directory for private.pem and public.pem (made if missing; existing keys are never overwritten)' },
  key: { type: 'string', help: 'sign: the private key (PEM) made by keygen' },
  'public-key': { type: 'string', help: 'verify: a trusted public key (PEM); repeatable' },
  help: { type: 'boolean', short: 'h', help: 'Show this help and exit' },
} as const;

export async function runConfigCommand(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: { ...FLAGS, 'public-key': { type: 'string', multiple: true } }, strict: true, allowPositionals: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help || action === undefined || action === '--help' || action === '-h') {
    process.stdout.write(helpText(USAGE, FLAGS));
    return 0;
  }
  switch (action) {
    case 'keygen':
      return keygen(required(values.out, '--out'));
    case 'sign':
      return signFile(required(values.key, '--key'), onlyFile(positionals));
    case 'verify':
      if (!values['public-key']?.length) throw new UsageError('verify needs at least one --public-key');
      return verifyFile(values['public-key'], onlyFile(positionals));
    default:
      throw new UsageError(`unknown config command "${action}": keygen, sign or verify`);
  }
}

async function keygen(dir: string): Promise<number> {
  const privateFile = path.join(dir, 'private.pem');
  const publicFile = path.join(dir, 'public.pem');
  for (const file of [privateFile, publicFile]) if (existsSync(file)) throw new Error(`${file} exists: keygen never overwrites a key (move it away first)`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const pair = generateKeyPair();
  // wx: fail rather than replace a file that appeared meanwhile.
  await writeFile(privateFile, pair.privatePem, { mode: 0o600, flag: 'wx' });
  await writeFile(publicFile, pair.publicPem, { mode: 0o644, flag: 'wx' });
  process.stdout.write(`key ${pair.id}: ${privateFile} (signs; keep it off the sites) and ${publicFile} (for --config.public-key on the sites)\n`);
  return 0;
}

async function signFile(keyFile: string, file: string): Promise<number> {
  const content = await readFile(file);
  // The whole config, as a site will check it: valid, with a serial, and no secret in it. The
  // secret files it names are on the sites, not here.
  const config = parseConfig(content.toString('utf8'), path.basename(file), builtInProbers, { signed: true, checkSecretSources: false });
  const line = signContent(content, await readFile(keyFile, 'utf8'), keyFile);
  const signatureFile = `${file}${SIGNATURE_SUFFIX}`;
  await writeFile(`${signatureFile}.tmp`, line);
  await rename(`${signatureFile}.tmp`, signatureFile);
  process.stdout.write(`${signatureFile}: serial ${config.serial ?? '?'} signed with key ${line.split(' ')[1] ?? '?'}\n`);
  return 0;
}

async function verifyFile(keyFiles: string[], file: string): Promise<number> {
  const trusted = await Promise.all(keyFiles.map(async (keyFile) => parsePublicKey(await readFile(keyFile, 'utf8'), keyFile)));
  const content = await readFile(file);
  const signatureLine = await readFile(`${file}${SIGNATURE_SUFFIX}`, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  const result = verifyContent(content, signatureLine, trusted);
  if (!result.ok) {
    const by = result.keyId ? ` (key ${result.keyId})` : '';
    process.stderr.write(`checkpoint: ${file}: refused, ${result.problem.replace('_', ' ')}${by}\n`);
    return 2;
  }
  const config = parseConfig(content.toString('utf8'), path.basename(file), builtInProbers, { signed: true, checkSecretSources: false });
  process.stdout.write(`${file}: serial ${config.serial ?? '?'}, signed with key ${result.keyId}: OK\n`);
  return 0;
}

function required(value: string | undefined, flag: string): string {
  if (!value) throw new UsageError(`${flag} is required`);
  return value;
}

function onlyFile(positionals: string[]): string {
  if (positionals.length !== 1) throw new UsageError(`one config file expected, got ${positionals.length}`);
  return positionals[0]!;
}
